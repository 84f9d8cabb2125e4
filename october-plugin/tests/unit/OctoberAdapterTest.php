<?php

declare(strict_types=1);

namespace Octogate\Sso\Tests\Unit;

use Backend\Classes\BackendController;
use Backend\Models\AccessLog;
use Backend\Models\User;
use Backend\Models\UserRole;
use BackendAuth;
use Config;
use Db;
use Illuminate\Http\RedirectResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Response;
use Illuminate\Session\Store;
use Log;
use Octogate\Sso\Classes\BackendMiddleware;
use Octogate\Sso\Classes\Core\IdentityProvisioner;
use Octogate\Sso\Classes\Core\Identity;
use Octogate\Sso\Classes\Core\ProvisioningException;
use Octogate\Sso\Classes\Core\SessionState;
use Octogate\Sso\Classes\DbSubLinkStore;
use Octogate\Sso\Classes\FrontendMiddleware;
use Octogate\Sso\Classes\OctoberUserDirectory;
use Octogate\Sso\Updates\MakeSubCaseSensitive;
use October\Rain\Database\StubQuery;
use Octogate\Sso\Models\Settings;
use Octogate\Sso\Plugin;
use Octogate\Sso\Tests\Support\ArraySubLinkStore;
use Octogate\Sso\Tests\Support\TestBackendMiddleware;
use Octogate\Sso\Tests\Support\TokenFactory;
use OctoberStubs;
use PHPUnit\Framework\TestCase;

/**
 * The October adapter (directory, middleware, plugin hook) against the
 * stand-ins in tests/stubs/october.php. The middleware uses the real clock,
 * so tokens here are issued "now".
 */
final class OctoberAdapterTest extends TestCase
{
    /** @var TokenFactory */
    private $tokens;
    /** @var Store */
    private $session;
    /** @var TestBackendMiddleware */
    private $middleware;
    /** @var int */
    private $nextCalls = 0;

    protected function setUp(): void
    {
        OctoberStubs::reset();
        UserRole::seed(['code' => 'developer', 'name' => 'Developer']);
        UserRole::seed(['code' => 'publisher', 'name' => 'Publisher']);
        $this->tokens = new TokenFactory();
        $this->session = new Store();
        BackendAuth::$session = $this->session;
        $this->middleware = new TestBackendMiddleware([
            'public_keys' => $this->tokens->publicKeyBase64(),
            'issuer' => TokenFactory::ISSUER,
            'audience' => TokenFactory::AUDIENCE,
            'trusted_proxies' => '10.0.0.2',
        ], new ArraySubLinkStore());
    }

    /**
     * @param array<string, mixed> $claims
     */
    private function token(array $claims = []): string
    {
        $now = time();
        return $this->tokens->token($claims + ['iat' => $now, 'exp' => $now + 300]);
    }

    /**
     * @return mixed
     */
    private function send(string $method, string $uri, ?string $assertion, string $ip = '10.0.0.2', string $baseUrl = '')
    {
        $headers = $assertion === null ? [] : ['X-Octogate-Assertion' => $assertion];
        $request = new Request($method, $uri, ['REMOTE_ADDR' => $ip], $headers, $this->session, $baseUrl);
        return $this->middleware->handle($request, function () {
            $this->nextCalls++;
            return new Response('controller ran', 200);
        });
    }

    public function testFirstRequestCreatesUserLogsInOnceAndRedirectsToItself(): void
    {
        $token = $this->token();
        $r = $this->send('GET', '/backend/cms?x=1', $token);
        $this->assertInstanceOf(RedirectResponse::class, $r);
        $this->assertSame(302, $r->getStatusCode());
        $this->assertSame('/backend/cms?x=1', $r->getTargetUrl());
        $this->assertSame(0, $this->nextCalls);
        $user = BackendAuth::getUser();
        $this->assertNotNull($user);
        $this->assertSame('ada', $user->login);
        $this->assertSame(1, $user->role_id);
        $this->assertTrue($user->is_activated);
        $this->assertSame([(int) $user->id], AccessLog::$added);
        $this->assertSame('sid-one', $this->session->get('octogate_sso.sid'));

        // Follow the redirect and browse: no new login, no new access-log entry.
        $this->assertSame('controller ran', $this->send('GET', '/backend/cms?x=1', $token)->getContent());
        $this->send('GET', '/backend/cms/pages', $this->token());
        $this->assertSame(2, $this->nextCalls);
        $this->assertCount(1, BackendAuth::$logins);
        $this->assertCount(1, AccessLog::$added);
        $this->assertSame(1, User::$passwordWrites, 'password set once, on create');
    }

    /**
     * A request outside the backend through FrontendMiddleware; returns
     * whether the next handler ran.
     */
    private function frontend(string $uri, string $baseUrl = '', ?string $action = null): bool
    {
        $ran = false;
        $request = new Request('GET', $uri, ['REMOTE_ADDR' => '10.0.0.2'], [], $this->session, $baseUrl);
        $request->actionName = $action;
        $links = $this->middleware->links;
        $middleware = new class($links) extends FrontendMiddleware {
            /** @var ArraySubLinkStore */
            private $links;

            public function __construct(ArraySubLinkStore $links)
            {
                $this->links = $links;
            }

            protected function linkStore(): \Octogate\Sso\Classes\SubLinkStore
            {
                return $this->links;
            }
        };
        $middleware->handle($request, function () use (&$ran) {
            $ran = true;
            return 'page';
        });
        return $ran;
    }

    public function testBackendLoginOutsideTheBackendLastsOnlyWhileOctogateVouchesForIt(): void
    {
        $this->send('GET', '/backend', $this->token());
        $this->assertNotNull(BackendAuth::getUser());
        $seen = $this->session->get(SessionState::KEY_SEEN);
        $this->assertIsInt($seen);
        $this->assertEqualsWithDelta(time(), $seen, 5);
        // Every backend request with a valid assertion vouches again.
        $this->session->put(SessionState::KEY_SEEN, time() - 200);
        $this->send('GET', '/backend/cms', $this->token());
        $this->assertEqualsWithDelta(time(), $this->session->get(SessionState::KEY_SEEN), 5);

        // Recently vouched for: the public site sees the backend user (editor previews).
        $this->assertTrue($this->frontend('/blog/post'));
        $this->assertNotNull(BackendAuth::getUser());
        $this->assertSame(0, BackendAuth::$logouts);

        // Not for five minutes (octogate signed the user out, or dropped them): ended.
        $this->session->put(SessionState::KEY_SEEN, time() - SessionState::OUTSIDE_BACKEND_MAX_AGE - 1);
        $this->assertTrue($this->frontend('/blog/post'), 'the page itself is still served');
        $this->assertNull(BackendAuth::getUser());
        $this->assertNull($this->session->get(SessionState::KEY_SID));
        $this->assertGreaterThan(0, $this->session->invalidations, "the session gets a new id");
        $this->assertStringContainsString('ended outside the backend', Log::$infos[0][0] ?? '');
    }

    public function testFrontendMiddlewareLeavesBackendRequestsAndOtherLoginsAlone(): void
    {
        $this->send('GET', '/backend', $this->token());
        $stale = time() - SessionState::OUTSIDE_BACKEND_MAX_AGE - 1;
        // Backend requests are BackendMiddleware's (it checks every one).
        foreach (['/backend', '/backend/cms/pages', '/b%61ckend/cms'] as $uri) {
            $this->session->put(SessionState::KEY_SEEN, $stale);
            $this->assertTrue($this->frontend($uri));
            $this->assertNotNull(BackendAuth::getUser(), $uri);
        }
        // A subdirectory install: the backend is below the base URL.
        $this->assertTrue($this->frontend('/cms/backend/x', '/cms'));
        $this->assertNotNull(BackendAuth::getUser());
        // Not the backend: a path that merely starts with its name.
        $this->assertTrue($this->frontend('/backend-news'));
        $this->assertNull(BackendAuth::getUser());
        // A plugin's own route under the backend URI is not BackendController's: checked here.
        $this->send('GET', '/backend', $this->token(['sid' => 'sid-plugin']));
        $this->session->put(SessionState::KEY_SEEN, $stale);
        $this->assertTrue($this->frontend('/backend/acme/upload', '', 'Acme\\Uploads\\Controllers\\Upload@store'));
        $this->assertNull(BackendAuth::getUser());

        // A seen time in the future, or none at all: ended too.
        $this->send('GET', '/backend', $this->token(['sid' => 'sid-two']));
        $this->session->put(SessionState::KEY_SEEN, time() + 3600);
        $this->frontend('/');
        $this->assertNull(BackendAuth::getUser());

        // A login the shim did not make (break-glass: no octogate session id) is left alone.
        $user = User::find(User::seed(['login' => 'root', 'email' => 'root@example.com', 'is_activated' => true]));
        BackendAuth::login($user, false);
        $this->assertTrue($this->frontend('/'));
        $this->assertSame($user, BackendAuth::getUser());
    }

    public function testADatabaseErrorWhileProvisioningClosesTheBackendAndWritesNothing(): void
    {
        // An account from before SSO, linked by email: claimed, linked, then
        // updated. The update fails (the database is gone, a column is
        // missing): the claim and the link are undone.
        // The link table in the database, as in October (one transaction).
        $this->middleware = new class($this->middleware->settings, new ArraySubLinkStore()) extends TestBackendMiddleware {
            protected function directory(): \Octogate\Sso\Classes\Core\UserDirectory
            {
                return new OctoberUserDirectory(new DbSubLinkStore());
            }
        };
        $id = User::seed(['login' => 'ada', 'email' => 'ada@example.com', 'password' => 'known', 'persist_code' => 'p']);
        $before = User::$tables[User::class][$id];
        Db::$saves = 0;
        Db::$failAtSave = 2;
        Db::$failWith = new \RuntimeException("SQLSTATE[HY000]: update backend_users set email = 'ada@example.com'");
        $r = $this->send('GET', '/backend', $this->token());
        $this->assertSame(403, $r->getStatusCode());
        $this->assertStringContainsString('provisioning_failed', $r->getContent());
        $this->assertSame($before, User::$tables[User::class][$id], 'the claim is rolled back');
        $this->assertSame([], Db::$tables[DbSubLinkStore::TABLE] ?? [], 'the link is rolled back');
        $this->assertNull(BackendAuth::getUser());
        $this->assertSame(1, Db::$rollbacks);
        $this->assertSame(['error' => 'RuntimeException', 'path' => 'backend'], Log::$warnings[0][1]);
        $this->assertStringNotContainsString('ada@', json_encode(Log::$warnings) ?: '', 'no query text in the log');
        // The next request (database back) goes through.
        $this->assertSame(302, $this->send('GET', '/backend', $this->token())->getStatusCode());
        $this->assertSame($id, (int) BackendAuth::getUser()->id);
        // A sync that fails ends the login it would have changed (a demotion, say).
        Db::$saves = 0;
        Db::$failAtSave = 1;
        $r = $this->send('GET', '/backend', $this->token(['superuser' => true]));
        $this->assertStringContainsString('provisioning_failed', $r->getContent());
        $this->assertNull(BackendAuth::getUser());
    }

    public function testColumnsOnlyOctoberV3HasAreWrittenOnlyWhereTheyExist(): void
    {
        // October v2 / Winter: no is_password_expired, no password_changed_at.
        \Schema::$missing['backend_users'] = ['is_password_expired', 'password_changed_at'];
        $this->assertSame(302, $this->send('GET', '/backend', $this->token())->getStatusCode());
        $row = User::$tables[User::class][(int) BackendAuth::getUser()->id];
        $this->assertArrayNotHasKey('is_password_expired', $row);
        $this->assertArrayNotHasKey('password_changed_at', $row);
        $asked = \Schema::$asked;
        $this->send('GET', '/backend', $this->token(['sid' => 'sid-two']));
        $this->assertSame($asked, \Schema::$asked, 'asked once per process');

        // October v3: both written, so an age-based password expiry never
        // sends an SSO user (who has no usable password) to its screen.
        OctoberUserDirectory::forgetColumns();
        \Schema::$missing = [];
        $this->send('GET', '/backend', $this->token(['sid' => 'sid-three', 'name' => 'Ada L']));
        $row = User::$tables[User::class][(int) BackendAuth::getUser()->id];
        $this->assertFalse($row['is_password_expired']);
        $this->assertEqualsWithDelta(time(), strtotime($row['password_changed_at']), 5);
    }

    public function testBannedOrSuspendedAccountsGetAnAnswerNotALoginLoop(): void
    {
        BackendAuth::$throttled[1] = 'banned';
        $r = $this->send('GET', '/backend', $this->token());
        $this->assertSame(403, $r->getStatusCode());
        $this->assertStringContainsString('user_banned', $r->getContent());
        $this->assertSame([], BackendAuth::$logins);
        BackendAuth::$throttled[1] = 'suspended';
        $this->assertStringContainsString('user_suspended', $this->send('GET', '/backend', $this->token())->getContent());
        unset(BackendAuth::$throttled[1]);
        $this->assertSame(302, $this->send('GET', '/backend', $this->token())->getStatusCode());
        $this->assertSame([1], BackendAuth::$logins);
    }

    public function testASyncedRoleChangeAppliesToTheSameRequest(): void
    {
        $this->send('GET', '/backend', $this->token(['role' => 'developer']));
        $before = BackendAuth::getUser();
        $this->assertSame(1, $before->role_id);
        $this->assertSame('controller ran', $this->send('GET', '/backend', $this->token(['role' => 'publisher']))->getContent());
        $now = BackendAuth::getUser();
        $this->assertNotSame($before, $now, 'a fresh copy, not the one loaded before the sync');
        $this->assertSame(2, $now->role_id);
        $this->assertCount(1, BackendAuth::$logins, 'synced, not logged in again');
    }

    public function testAnImpersonationOutsideTheBackendEnds(): void
    {
        $this->send('GET', '/backend', $this->token());
        $other = User::find(User::seed(['login' => 'bob', 'email' => 'bob@example.com', 'is_activated' => true]));
        BackendAuth::impersonate($other);
        // Vouched for just now, but for Ada, not for Bob.
        $this->assertTrue($this->frontend('/blog'));
        $this->assertNull(BackendAuth::getUser());
    }

    public function testRememberMeLoginOfAnSsoAccountEndsOutsideTheBackend(): void
    {
        $this->send('GET', '/backend', $this->token());
        $ada = BackendAuth::getUser();
        $this->assertNotNull($ada);
        // The Laravel session expired; October logs Ada in again from its
        // remember-me cookie into a new session the shim never touched.
        $this->session->data = [];
        BackendAuth::login($ada, true);
        $logouts = BackendAuth::$logouts;
        $this->assertTrue($this->frontend('/blog'), 'the page itself is still served');
        $this->assertNull(BackendAuth::getUser(), 'an SSO account needs octogate to vouch for it');
        $this->assertSame($logouts + 1, BackendAuth::$logouts);
        $this->assertStringContainsString('did not vouch', Log::$infos[0][0] ?? '');
        // Within the backend the Gate decides, as for any request.
        BackendAuth::login($ada, true);
        $this->assertTrue($this->frontend('/backend/cms', '', 'Backend\\Classes\\BackendController@run'));
        $this->assertSame($ada, BackendAuth::getUser());
    }

    public function testNewSidLogsOutThenInAgainAndRecordsAccess(): void
    {
        $this->send('GET', '/backend', $this->token());
        $this->send('GET', '/backend', $this->token(['sid' => 'sid-two']));
        $this->assertSame(1, BackendAuth::$logouts);
        $this->assertCount(2, BackendAuth::$logins);
        $this->assertCount(2, AccessLog::$added);
        $this->assertSame('sid-two', $this->session->get('octogate_sso.sid'));
        $this->assertSame(1, User::$passwordWrites, 'existing user: password untouched');
    }

    /**
     * Session fixation: a session id (and CSRF token) planted before the
     * login must not be the one that carries the logged-in user.
     */
    public function testLoginMigratesTheSessionIdAndRegeneratesTheCsrfToken(): void
    {
        $this->session->put('planted', 'by-attacker');
        $idBefore = $this->session->getId();
        $tokenBefore = $this->session->token();
        $this->send('GET', '/backend', $this->token());
        $this->assertNotNull(BackendAuth::getUser());
        $this->assertSame([true], $this->session->migrations, 'migrate(true): the old session is destroyed');
        $this->assertNotSame($idBefore, $this->session->getId());
        $this->assertNotSame($tokenBefore, $this->session->token());
        $this->assertSame('sid-one', $this->session->get('octogate_sso.sid'), 'state stored in the new session');
        // A re-login for a new sid (same user) migrates again.
        $idBefore = $this->session->getId();
        $this->send('GET', '/backend', $this->token(['sid' => 'sid-two']));
        $this->assertNotSame($idBefore, $this->session->getId());
        // Browsing within the same octogate session does not.
        $idBefore = $this->session->getId();
        $this->send('GET', '/backend', $this->token(['sid' => 'sid-two']));
        $this->assertSame($idBefore, $this->session->getId());
    }

    public function testNoAssertionIs403AndLogsReasonWithoutToken(): void
    {
        $this->send('GET', '/backend', $this->token());
        $r = $this->send('GET', '/backend/cms', null);
        $this->assertSame(403, $r->getStatusCode());
        $this->assertStringContainsString('<p id="shim-denied">no_assertion</p>', $r->getContent());
        $this->assertStringContainsString('octogate', $r->getContent());
        $this->assertStringNotContainsString('password', strtolower($r->getContent()));
        $this->assertNull(BackendAuth::getUser(), 'a session without an assertion is logged out');
        $this->assertSame('no_assertion', Log::$warnings[0][1]['reason']);
    }

    public function testInvalidTokenNeverLogged(): void
    {
        $bad = $this->token(['aud' => 'other']);
        $r = $this->send('GET', '/backend', $bad);
        $this->assertSame(403, $r->getStatusCode());
        $this->assertStringContainsString('wrong_audience', $r->getContent());
        $this->assertStringNotContainsString($bad, serialize(Log::$warnings));
        $this->assertStringNotContainsString($bad, $r->getContent());
    }

    public function testSignInPageIsNeverShown(): void
    {
        foreach (['/backend/backend/auth/signin', '/backend/backend/auth', '/backend/backend/auth/restore', '/backend/backend/auth/reset/1/code', '/backend/backend/auth/setup'] as $uri) {
            $this->assertSame(403, $this->send('GET', $uri, null)->getStatusCode(), $uri);
            $this->assertSame(403, $this->send('POST', $uri, null)->getStatusCode(), $uri);
        }
        $r = $this->send('POST', '/backend/backend/auth/signin', $this->token());
        $this->assertSame('/backend', $r->getTargetUrl());
        $r = $this->send('GET', '/backend/backend/auth/signin', $this->token());
        $this->assertSame('/backend', $r->getTargetUrl(), 'logged in: still redirected, never the form');
        $this->assertSame(0, $this->nextCalls);
    }

    public function testSignOutLogsOutAndRedirects(): void
    {
        $this->send('GET', '/backend', $this->token());
        $r = $this->send('GET', '/backend/backend/auth/signout', $this->token());
        $this->assertSame('/oauth2/sign_out', $r->getTargetUrl());
        $this->assertNull(BackendAuth::getUser());
        $this->assertNull($this->session->get('octogate_sso.sid'));
        $this->assertSame(0, $this->nextCalls);
    }

    /**
     * October's logout() while impersonating only ends the impersonation and
     * leaves the impersonator logged in: sign-out must log out all the way
     * and invalidate the session.
     */
    public function testSignOutDuringImpersonationLogsOutEveryone(): void
    {
        $this->send('GET', '/backend', $this->token());
        $ada = BackendAuth::getUser();
        $bob = User::hydrateRow(['id' => User::seed(['login' => 'bob', 'email' => 'bob@example.com', 'password' => 'h']), 'login' => 'bob']);
        BackendAuth::impersonate($bob);
        BackendAuth::$session = null; // count invalidations made by the middleware only
        $this->session->put('other', 'data');
        $r = $this->send('GET', '/backend/backend/auth/signout', $this->token());
        $this->assertSame('/oauth2/sign_out', $r->getTargetUrl());
        $this->assertNull(BackendAuth::getUser(), 'neither the impersonated user nor ' . $ada->login);
        $this->assertSame(2, BackendAuth::$logouts);
        $this->assertGreaterThan(0, $this->session->invalidations, "the session gets a new id");
        $this->assertSame([], $this->session->data);
    }

    /**
     * @return array<string, array{0: string}>
     */
    public function exploitUris(): array
    {
        return [
            'signin via ..' => ['/backend/backend/auth/signin/../../../..'],
            'signin via %2e%2e' => ['/backend/backend/auth/signin/%2e%2e/%2e%2e/%2e%2e/%2e%2e'],
            'signin via %2E%2E' => ['/backend/backend/auth/signin/%2E%2E/%2E%2E/%2E%2E/%2E%2E'],
            'signin via mixed' => ['/backend/backend/auth/signin/%2e./.%2E/../%2E%2e'],
            'themes via ..' => ['/backend/cms/themes/index/../../../..'],
            'themes via %2e%2e' => ['/backend/cms/themes/index/%2e%2e/%2e%2e/%2e%2e/%2e%2e'],
            'encoded slashes' => ['/backend/backend%2Fauth%2Fsignin'],
        ];
    }

    /**
     * The review's exploit: October routes these to its Auth / Themes
     * controllers (".." kept in the slug) while a URI normaliser sees "/".
     *
     * @dataProvider exploitUris
     */
    public function testDotSegmentExploitIs403WithoutSession(string $uri): void
    {
        foreach (['GET', 'POST'] as $method) {
            $r = $this->send($method, $uri, null);
            $this->assertSame(403, $r->getStatusCode());
            $this->assertStringContainsString('<p id="shim-denied">ambiguous_path</p>', $r->getContent());
        }
        $r = $this->send('GET', $uri, $this->token());
        $this->assertSame(403, $r->getStatusCode(), 'not even with a valid assertion');
        $this->assertSame(0, $this->nextCalls, 'October never ran');
        $this->assertNull(BackendAuth::getUser());
    }

    /**
     * @dataProvider exploitUris
     */
    public function testDotSegmentExploitIs403WithAnExistingSession(string $uri): void
    {
        $this->send('GET', '/backend', $this->token());
        $this->assertNotNull(BackendAuth::getUser());
        $r = $this->send('GET', $uri, null);
        $this->assertSame(403, $r->getStatusCode());
        $this->assertStringContainsString('ambiguous_path', $r->getContent());
        $this->assertSame(0, $this->nextCalls, 'October never ran');
        $this->assertNull(BackendAuth::getUser(), 'the session is logged out');
        $this->assertSame('ambiguous_path', Log::$warnings[0][1]['reason']);
    }

    public function testSubdirectoryInstallIsEnforced(): void
    {
        $r = $this->send('GET', '/cms/backend/cms', null, '10.0.0.2', '/cms');
        $this->assertSame(403, $r->getStatusCode());
        $this->assertSame(403, $this->send('GET', '/cms/backend', null, '10.0.0.2', '/cms')->getStatusCode());
        $this->assertSame(403, $this->send('GET', '/cms/backend/backend/auth/signin', null, '10.0.0.2', '/cms')->getStatusCode());
        $this->assertSame(403, $this->send('GET', '/cms/backend/backend/auth/signin/../../../..', null, '10.0.0.2', '/cms')->getStatusCode());
        $r = $this->send('GET', '/cms/backend/cms?x=1', $this->token(), '10.0.0.2', '/cms');
        $this->assertSame('/cms/backend/cms?x=1', $r->getTargetUrl());
        $r = $this->send('GET', '/cms/backend/backend/auth/signin', $this->token(), '10.0.0.2', '/cms');
        $this->assertSame('/cms/backend', $r->getTargetUrl());
        $r = $this->send('GET', '/cms/backend/backend/auth/signout', $this->token(), '10.0.0.2', '/cms');
        $this->assertSame('/oauth2/sign_out', $r->getTargetUrl());
        $this->assertNull(BackendAuth::getUser());
        $this->assertSame(0, $this->nextCalls);
    }

    public function testCustomBackendUri(): void
    {
        Config::$values['backend.uri'] = '/admin/';
        $this->assertSame(403, $this->send('GET', '/admin/backend/auth/signin', null)->getStatusCode());
        $r = $this->send('GET', '/admin/backend/auth/signin', $this->token());
        $this->assertSame('/admin', $r->getTargetUrl());
    }

    public function testDeniedUserWithValidAssertionIsLoggedOut(): void
    {
        $this->send('GET', '/backend', $this->token());
        $this->assertNotNull(BackendAuth::getUser());
        $r = $this->send('GET', '/backend/cms', $this->token(['role' => 'ghost']));
        $this->assertSame(403, $r->getStatusCode());
        $this->assertNull(BackendAuth::getUser());
        $this->assertNull($this->session->get('octogate_sso.sid'));
        $this->assertSame(0, $this->nextCalls);
    }

    public function testEmailLinkToSuperuserOrUnverifiedIsRefused(): void
    {
        User::seed(['login' => 'root', 'email' => 'ada@example.com', 'is_superuser' => true, 'is_activated' => true, 'password' => 'h']);
        $r = $this->send('GET', '/backend', $this->token());
        $this->assertSame(403, $r->getStatusCode());
        $this->assertStringContainsString('<p id="shim-denied">email_link_refused</p>', $r->getContent());
        $r = $this->send('GET', '/backend', $this->token(['email_verified' => null]));
        $this->assertStringContainsString('<p id="shim-denied">email_link_refused</p>', $r->getContent());
        $this->assertSame([], $this->middleware->links->links);
        $this->assertNull(BackendAuth::getUser());
    }

    public function testUnverifiedEmailChangeIsNotWrittenAndIsLogged(): void
    {
        $this->send('GET', '/backend', $this->token());
        $id = (int) BackendAuth::getUser()->id;
        $this->send('GET', '/backend', $this->token(['email' => 'victim@example.com', 'email_verified' => false]));
        $this->assertSame('ada@example.com', User::$tables[User::class][$id]['email']);
        $this->assertSame(['octogate-sso: unverified email change ignored; the backend account keeps its email', ['user_id' => $id]], Log::$warnings[0]);
    }

    public function testMissingRoleShowsClearErrorPage(): void
    {
        $r = $this->send('GET', '/backend', $this->token(['role' => 'ghost']));
        $this->assertSame(403, $r->getStatusCode());
        $this->assertStringContainsString('unknown_role', $r->getContent());
        $this->assertStringContainsString('&quot;ghost&quot;', $r->getContent());
    }

    public function testBrokenConfigClosesTheBackend(): void
    {
        $this->middleware->settings['public_keys'] = 'not base64!';
        $r = $this->send('GET', '/backend', $this->token());
        $this->assertSame(403, $r->getStatusCode());
        $this->assertStringContainsString('config_error', $r->getContent());
    }

    public function testOverlappingBreakGlassAndProxyListsCloseTheBackendAndAreLogged(): void
    {
        $this->middleware->settings += ['trusted_proxies' => '10.0.0.0/24', 'break_glass' => true, 'break_glass_addresses' => '10.0.0.2'];
        $r = $this->send('GET', '/backend/backend/auth/signin', null, '10.0.0.2');
        $this->assertSame(403, $r->getStatusCode());
        $this->assertStringContainsString('config_error', $r->getContent());
        $this->assertStringContainsString('overlap', Log::$warnings[0][1]['message']);
        $this->assertSame(0, $this->nextCalls);
    }

    public function testBreakGlassPassesToOctoberUnchanged(): void
    {
        $this->middleware->settings += ['break_glass' => true, 'break_glass_addresses' => '127.0.0.1'];
        $this->assertSame('controller ran', $this->send('GET', '/backend/backend/auth/signin', null, '127.0.0.1')->getContent());
        $this->assertSame(403, $this->send('GET', '/backend/backend/auth/signin', null, '127.0.0.2')->getStatusCode());
        $this->assertSame(403, $this->send('GET', '/backend/backend/auth/signin/../../../..', null, '127.0.0.1')->getStatusCode(), 'break-glass: no dot segments either');
    }

    public function testDirectoryRefusesTrashedUserAndLinksByEmail(): void
    {
        $links = new ArraySubLinkStore();
        $provisioner = new IdentityProvisioner(new OctoberUserDirectory($links));
        User::seed(['login' => 'gone', 'email' => 'gone@example.com', 'deleted_at' => '2025-01-01 00:00:00', 'password' => 'h']);
        $existing = User::seed(['login' => 'Ada', 'email' => 'Ada@Example.com', 'password' => 'set-by-someone', 'persist_code' => 'remember-me', 'reset_password_code' => 'pending-reset', 'activation_code' => 'act', 'is_activated' => false, 'permissions' => ['backend.manage_users' => 1]]);
        try {
            $provisioner->provision(Identity::fromClaims(['email' => 'gone@example.com', 'sub' => 'g'] + TokenFactory::claims()));
            $this->fail('trashed user must be refused');
        } catch (ProvisioningException $e) {
            $this->assertSame('user_deleted', $e->reason());
        }
        $id = $provisioner->provision(Identity::fromClaims(TokenFactory::claims()));
        $this->assertSame($existing, $id);
        $this->assertSame($existing, $links->links['okta-sub-ada']);
        $row = User::$tables[User::class][$existing];
        $this->assertNotSame('set-by-someone', $row['password']);
        $this->assertFalse(password_verify('set-by-someone', $row['password']), 'claimed: the old password is gone');
        $this->assertNull($row['persist_code'], 'claimed: remember-me cookies end');
        $this->assertNull($row['reset_password_code'], 'claimed: a pending reset link is void');
        $this->assertNull($row['activation_code']);
        $this->assertSame([], $row['permissions'], 'per-user grants would outlive the role');
        $this->assertTrue($row['is_activated']);
        $this->assertFalse($row['is_superuser']);
        $this->assertSame(1, User::$passwordWrites, 'the claim only');
        // A new user whose login is taken (case-insensitively, trashed included).
        $new = $provisioner->provision(Identity::fromClaims(['sub' => 'x', 'email' => 'g2@example.com', 'preferred_username' => 'GONE'] + TokenFactory::claims()));
        $this->assertSame('GONE-2', User::$tables[User::class][$new]['login']);
    }

    /** The user id a sub is linked to in `$store`, or null. */
    private static function linkedId(DbSubLinkStore $store, string $sub): ?int
    {
        $link = $store->linkForSub($sub);
        return $link === null ? null : $link[0];
    }

    public function testALinkOlderThanItsAccountIsStaleAndReLinked(): void
    {
        $links = new ArraySubLinkStore();
        $directory = new OctoberUserDirectory($links);
        $provisioner = new IdentityProvisioner($directory);
        $id = User::seed(['login' => 'ada', 'email' => 'ada@example.com', 'password' => 'h', 'created_at' => '2020-01-01 00:00:00']);
        $links->links['okta-sub-ada'] = $id;
        $links->linkedAt['okta-sub-ada'] = (int) strtotime('2021-01-01 00:00:00');
        $this->assertSame($id, $directory->findBySub('okta-sub-ada')->id, 'an account older than its link is the linked one');
        // Ada's account is deleted for good and its id handed to a new local account.
        User::$tables[User::class][$id] = ['id' => $id, 'login' => 'mallory', 'email' => 'mallory@example.com', 'password' => 'm', 'created_at' => '2022-06-01 00:00:00'];
        $this->assertNull($directory->findBySub('okta-sub-ada'), 'a link older than its account is stale');
        $this->assertNull($provisioner->linkedUserId('okta-sub-ada'));
        $new = $provisioner->provision(Identity::fromClaims(TokenFactory::claims()));
        $this->assertNotSame($id, $new, 'Ada was signed in to the account that reused her old id');
        $this->assertSame($new, $links->links['okta-sub-ada'], 'the sub is linked to her new account');
        $this->assertSame('mallory@example.com', User::$tables[User::class][$id]['email'], 'the other account was rewritten');
    }

    /**
     * MySQL's *_ci / accent-insensitive collations compare "exämple" equal to
     * "example" and "SubA" to "suba": the adapter must not take the
     * database's word for it.
     */
    public function testEmailMatchIsExactAfterAsciiLowerCasingWhateverTheCollation(): void
    {
        StubQuery::$accentInsensitive = true;
        $links = new ArraySubLinkStore();
        $provisioner = new IdentityProvisioner(new OctoberUserDirectory($links));
        $victim = User::seed(['login' => 'victim', 'email' => 'victim@example.com', 'password' => 'h', 'role_id' => 2]);
        $id = $provisioner->provision(Identity::fromClaims(['sub' => 'attacker-sub', 'email' => 'victim@exämple.com', 'preferred_username' => 'mallory'] + TokenFactory::claims()));
        $this->assertNotSame($victim, $id, 'not linked to victim@example.com');
        $this->assertSame(['attacker-sub' => $id], $links->links);
        // ASCII case still does not matter.
        $dir = new OctoberUserDirectory($links);
        $this->assertSame([$victim], self::ids($dir->usersWithEmail('VICTIM@Example.COM')));
        $this->assertSame([], $dir->usersWithEmail('victim@EXÄMPLE.com'), 'non-ASCII must match byte for byte');
    }

    /**
     * SQLite's LOWER() (and PostgreSQL's under the C collation) lower-cases
     * ASCII only: a stored "ÉLODIE@…" must still be found for "Élodie@…"
     * (which the shim considers the same address), and two such users are a
     * conflict rather than the first one found.
     */
    public function testEmailLookupFindsNonAsciiAddressesWithAsciiOnlyLower(): void
    {
        StubQuery::$asciiLower = true;
        $dir = new OctoberUserDirectory(new ArraySubLinkStore());
        $elodie = User::seed(['login' => 'elodie', 'email' => 'ÉLODIE@corp.example', 'password' => 'h']);
        $this->assertSame([$elodie], self::ids($dir->usersWithEmail('Élodie@corp.example')));
        $this->assertSame([], $dir->usersWithEmail('élodie@corp.example'), 'non-ASCII letters still match byte for byte');
        $other = User::seed(['login' => 'elodie2', 'email' => 'Élodie@Corp.example', 'password' => 'h']);
        $this->assertSame([$elodie, $other], self::ids($dir->usersWithEmail('Élodie@corp.example')));
        // Two users with one address: the sign-in is a conflict, never a pick.
        try {
            (new IdentityProvisioner($dir))->provision(Identity::fromClaims(['sub' => 'new-sub', 'email' => 'Élodie@corp.example'] + TokenFactory::claims()));
            $this->fail('two users with the same address must be a conflict');
        } catch (ProvisioningException $e) {
            $this->assertSame('email_conflict', $e->reason());
        }
    }

    /**
     * @param list<\Octogate\Sso\Classes\Core\UserRecord> $records
     * @return list<int>
     */
    private static function ids(array $records): array
    {
        return array_map(static function ($r): int {
            return $r->id;
        }, $records);
    }

    public function testSubLookupIsByteExactWhateverTheCollation(): void
    {
        StubQuery::$accentInsensitive = true;
        $store = new DbSubLinkStore();
        $store->link('00uAbC', 1);
        $this->assertSame(1, self::linkedId($store, '00uAbC'));
        $this->assertNull(self::linkedId($store, '00uabc'));
        $this->assertNull(self::linkedId($store, '00uÄbC'));
        $this->assertTrue($store->isLinked(1));
        $this->assertFalse($store->isLinked(2));
        // Linking a case variant never re-points the existing sub's row
        // (with a case-insensitive unique index the insert fails instead).
        try {
            $store->link('00uabc', 2);
        } catch (\RuntimeException $e) {
            // fail closed
        }
        $this->assertSame(1, self::linkedId($store, '00uAbC'));
        $store->link('00uAbC', 3);
        $this->assertSame(3, self::linkedId($store, '00uAbC'));
    }

    public function testSubMigrationMakesTheColumnBinaryOnMysqlOnly(): void
    {
        require_once dirname(__DIR__, 2) . '/updates/make_sub_case_sensitive.php';
        (new MakeSubCaseSensitive())->up();
        $this->assertSame([], Db::$statements, 'sqlite/pgsql compare bytes already');
        foreach (['mysql', 'mariadb'] as $driver) {
            Db::$statements = [];
            Db::$driver = $driver;
            (new MakeSubCaseSensitive())->up();
            $this->assertCount(1, Db::$statements);
            $this->assertStringContainsString('octogate_sso_identities', Db::$statements[0]);
            $this->assertStringContainsString('COLLATE utf8mb4_bin', Db::$statements[0]);
        }
        $this->assertStringContainsString('make_sub_case_sensitive.php', (string) file_get_contents(dirname(__DIR__, 2) . '/updates/version.yaml'));
    }

    /**
     * The public keys decide who can sign in as anyone: the settings page
     * is for superusers only, whatever permissions a role has.
     */
    public function testSettingsAreForSuperusersOnly(): void
    {
        $plugin = new Plugin();
        $this->assertSame([], $plugin->registerSettings(), 'nobody logged in');
        BackendAuth::$user = User::hydrateRow(['id' => 5, 'is_superuser' => false, 'permissions' => ['octogate.sso.manage' => 1]]);
        $this->assertSame([], $plugin->registerSettings(), 'a role permission is not enough');
        try {
            (new Settings())->beforeSave();
            $this->fail('a non-superuser must not save the settings');
        } catch (\ApplicationException $e) {
            $this->assertStringContainsString('superuser', $e->getMessage());
        }
        $this->assertArrayNotHasKey('octogate.sso.manage', method_exists($plugin, 'registerPermissions') ? (array) $plugin->registerPermissions() : []);

        BackendAuth::$user = User::hydrateRow(['id' => 6, 'is_superuser' => true]);
        $this->assertSame(Settings::class, $plugin->registerSettings()['settings']['class']);
        (new Settings())->beforeSave();
    }

    public function testPublicKeysFieldIsReadOnlyWhenSetByEnv(): void
    {
        $fields = (object) ['public_keys' => (object) ['comment' => 'x'], 'issuer' => (object) []];
        (new Settings())->filterFields($fields);
        $this->assertFalse(isset($fields->public_keys->readOnly));
        putenv('OCTOGATE_PUBLIC_KEYS=' . $this->tokens->publicKeyBase64());
        try {
            (new Settings())->filterFields($fields);
        } finally {
            putenv('OCTOGATE_PUBLIC_KEYS');
        }
        $this->assertTrue($fields->public_keys->readOnly);
        $this->assertTrue($fields->public_keys->disabled);
        $this->assertStringContainsString('OCTOGATE_PUBLIC_KEYS', $fields->public_keys->comment);
        $this->assertFalse(isset($fields->issuer->readOnly));
    }

    public function testPluginBootAttachesMiddlewareToBackendControllerAndWebGroup(): void
    {
        $router = new \Illuminate\Routing\Router();
        (new Plugin(['router' => $router]))->boot();
        $this->assertSame(['web' => [FrontendMiddleware::class]], $router->middlewareGroups);
        // October v3 may put the CMS's routes in another group: that one too.
        Config::$values['cms.middleware_group'] = 'cms';
        $router = new \Illuminate\Routing\Router();
        $router->middlewareGroups = ['web' => ['session'], 'cms' => ['session']];
        (new Plugin(['router' => $router]))->boot();
        $this->assertSame(['web' => ['session', FrontendMiddleware::class], 'cms' => ['session', FrontendMiddleware::class]], $router->middlewareGroups);
        // Laravel also takes a list, which may name a middleware alias: a
        // list must not break boot ("Array to string conversion" is fatal
        // there), and an alias must not become a group that hides it.
        Config::$values['cms.middleware_group'] = ['cms', 'csp', 'throttle'];
        Config::$values['backend.middleware_group'] = 'admin';
        $router = new \Illuminate\Routing\Router();
        $router->middlewareGroups = ['web' => [], 'cms' => [], 'admin' => []];
        $router->middleware = ['throttle' => 'ThrottleRequests'];
        (new Plugin(['router' => $router]))->boot();
        $this->assertSame(['web' => [FrontendMiddleware::class], 'cms' => [FrontendMiddleware::class], 'admin' => [FrontendMiddleware::class]], $router->middlewareGroups);
        $this->assertSame(['web', 'cms', 'csp', 'throttle', 'admin'], Plugin::middlewareGroups());
        $this->assertCount(1, Log::$warnings, 'an alias is expected in the list: no warning');
        $this->assertStringContainsString('group not found', Log::$warnings[0][0]);
        $this->assertSame(['group' => 'csp'], Log::$warnings[0][1]);
        BackendController::$extensions = array_slice(BackendController::$extensions, 0, 1);
        $this->assertCount(1, BackendController::$extensions);
        $controller = new BackendController();
        (BackendController::$extensions[0])($controller);
        $this->assertSame([BackendMiddleware::class], $controller->middleware);
        $details = (new Plugin())->pluginDetails();
        $this->assertSame('Octogate SSO', $details['name']);
    }
}
