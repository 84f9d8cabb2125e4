<?php

declare(strict_types=1);

namespace Octogate\Standin\Tests;

use Octogate\Sso\Tests\Support\TokenFactory;
use Octogate\Standin\App;
use Octogate\Standin\Response;
use Octogate\Standin\SqliteUserDirectory;
use PDO;
use PHPUnit\Framework\TestCase;

require_once dirname(__DIR__) . '/bootstrap.php';

/**
 * Smoke test of the stand-in front controller: calls App::handle() directly
 * on a fresh SQLite file, no web server.
 */
final class StandinTest extends TestCase
{
    /** @var string */
    private $db;
    /** @var PDO */
    private $pdo;
    /** @var TokenFactory */
    private $tokens;
    /** @var array<string, mixed> */
    private $session = [];
    /** @var list<string> */
    private $logged = [];

    protected function setUp(): void
    {
        $this->db = tempnam(sys_get_temp_dir(), 'standin-test-');
        unlink($this->db);
        $this->pdo = SqliteUserDirectory::open($this->db);
        $this->tokens = new TokenFactory();
    }

    protected function tearDown(): void
    {
        if (is_file($this->db)) {
            unlink($this->db);
        }
    }

    private function app(array $env = []): App
    {
        return new App($this->pdo, $env + [
            'OCTOGATE_PUBLIC_KEYS' => $this->tokens->publicKeyBase64(),
            'OCTOGATE_ISSUER' => TokenFactory::ISSUER,
            'OCTOGATE_AUDIENCE' => TokenFactory::AUDIENCE,
            'OCTOGATE_TRUSTED_PROXIES' => '127.0.0.1',
        ], static function (): int {
            return TokenFactory::NOW;
        }, function (string $line): void {
            $this->logged[] = $line;
        });
    }

    private function get(string $uri, ?string $assertion, string $method = 'GET', array $env = []): Response
    {
        return $this->app($env)->handle($method, $uri, '127.0.0.1', $assertion, $this->session);
    }

    public function testPublicHomeShowsWhetherAnAssertionArrived(): void
    {
        $this->assertStringContainsString('<p id="identity">anonymous</p>', $this->get('/', null)->body);
        $this->assertStringContainsString('<p id="identity">assertion-present</p>', $this->get('/', 'x.y.z')->body);
        $this->assertSame(200, $this->get('/about', null)->status);
    }

    public function testBackendWithoutAssertionIsDenied(): void
    {
        $r = $this->get('/backend', null);
        $this->assertSame(403, $r->status);
        $this->assertStringContainsString('<p id="shim-denied">no_assertion</p>', $r->body);
        $this->assertSame(['standin: backend request denied: reason=no_assertion ip=127.0.0.1'], $this->logged);
    }

    public function testLoginRedirectThenBackendPageThenSignOut(): void
    {
        $token = $this->tokens->token(['role' => 'publisher', 'superuser' => true]);
        $r = $this->get('/backend/cms', $token);
        $this->assertSame(302, $r->status);
        $this->assertSame('/backend/cms', $r->headers['Location']);

        $r = $this->get('/backend/cms', $token);
        $this->assertSame(200, $r->status);
        $this->assertStringContainsString('<h1>October backend (stand-in)</h1>', $r->body);
        $this->assertStringContainsString('<dd id="user-login">ada</dd>', $r->body);
        $this->assertStringContainsString('<dd id="user-email">ada@example.com</dd>', $r->body);
        $this->assertStringContainsString('<dd id="user-role">publisher</dd>', $r->body);
        $this->assertStringContainsString('<dd id="user-superuser">yes</dd>', $r->body);
        $this->assertMatchesRegularExpression('#<dd id="user-id">\d+</dd>#', $r->body);
        $this->assertStringContainsString('<a id="sign-out" href="/backend/backend/auth/signout">Sign out</a>', $r->body);

        $r = $this->get('/backend/backend/auth/signout', $token);
        $this->assertSame(302, $r->status);
        $this->assertSame('/oauth2/sign_out', $r->headers['Location']);
        $this->assertSame([], $this->session);
    }

    public function testEveryLoginRegeneratesTheSessionId(): void
    {
        $regenerated = 0;
        $app = new App($this->pdo, [
            'OCTOGATE_PUBLIC_KEYS' => $this->tokens->publicKeyBase64(),
            'OCTOGATE_ISSUER' => TokenFactory::ISSUER,
            'OCTOGATE_AUDIENCE' => TokenFactory::AUDIENCE,
            'OCTOGATE_TRUSTED_PROXIES' => '127.0.0.1',
        ], static function (): int {
            return TokenFactory::NOW;
        }, static function (string $line): void {
        }, static function () use (&$regenerated): void {
            $regenerated++;
        });
        $token = $this->tokens->token();
        $app->handle('GET', '/backend', '127.0.0.1', $token, $this->session);
        $this->assertSame(1, $regenerated);
        $app->handle('GET', '/backend', '127.0.0.1', $token, $this->session);
        $this->assertSame(1, $regenerated, 'not while browsing');
        // Same user, new octogate session: logged in again, new id again.
        $app->handle('GET', '/backend', '127.0.0.1', $this->tokens->token(['sid' => 'sid-two']), $this->session);
        $this->assertSame(2, $regenerated);
    }

    public function testExistingUserIsLinkedAndItsPasswordReplaced(): void
    {
        $before = $this->pdo->query("SELECT password FROM backend_users WHERE login = 'existing'")->fetchColumn();
        $token = $this->tokens->token(['sub' => 'sub-existing', 'email' => 'existing@example.com', 'preferred_username' => 'someone']);
        $this->get('/backend', $token);
        $r = $this->get('/backend', $token);
        $this->assertStringContainsString('<dd id="user-login">existing</dd>', $r->body);
        $this->assertStringContainsString('<dd id="user-role">developer</dd>', $r->body);
        $after = $this->pdo->query("SELECT password FROM backend_users WHERE login = 'existing'")->fetchColumn();
        $this->assertNotSame($before, $after);
        $this->assertFalse(password_verify('existing-password', (string) $after), 'whoever set the old password could still use it');
    }

    public function testSoftDeletedUserIsRefused(): void
    {
        $r = $this->get('/backend', $this->tokens->token(['sub' => 'sub-gone', 'email' => 'gone@example.com']));
        $this->assertSame(403, $r->status);
        $this->assertStringContainsString('<p id="shim-denied">user_deleted</p>', $r->body);
    }

    public function testSignInScreenIsBlockedAndExpiredAssertionDenied(): void
    {
        foreach (['/backend/backend/auth/signin', '/backend/backend/auth/restore', '/backend/backend/auth/reset/1/x', '/backend/backend/auth/setup', '/backend/backend/auth'] as $uri) {
            $this->assertSame(403, $this->get($uri, null)->status, $uri);
        }
        $r = $this->get('/backend/backend/auth/signin', $this->tokens->token());
        $this->assertSame(302, $r->status);
        $this->assertSame('/backend', $r->headers['Location']);
        $r = $this->get('/backend', $this->tokens->token(['iat' => TokenFactory::NOW - 900, 'exp' => TokenFactory::NOW - 600]));
        $this->assertStringContainsString('<p id="shim-denied">expired</p>', $r->body);
    }

    /**
     * @return array<string, array{0: string}>
     */
    public function exploitUris(): array
    {
        return [
            'signin via ..' => ['/backend/backend/auth/signin/../../../..'],
            'signin via %2e%2e' => ['/backend/backend/auth/signin/%2e%2e/%2e%2e/%2e%2e/%2e%2e'],
            'signin via %2E%2e mixed' => ['/backend/backend/auth/signin/%2E%2e/.%2E/%2e./..'],
            'themes via ..' => ['/backend/cms/themes/index/../../../..'],
            'themes via %2e%2e' => ['/backend/cms/themes/index/%2e%2e/%2e%2e/%2e%2e/%2e%2e'],
            'encoded slash' => ['/backend/backend%2fauth%2fsignin'],
            'front controller' => ['/index.php/backend/backend/auth/signin/../../../..'],
        ];
    }

    /**
     * @dataProvider exploitUris
     */
    public function testDotSegmentExploitIsRefusedWithAndWithoutSession(string $uri): void
    {
        $r = $this->get($uri, null);
        $this->assertSame(403, $r->status);
        $this->assertStringContainsString('<p id="shim-denied">ambiguous_path</p>', $r->body);

        $token = $this->tokens->token();
        $this->get('/backend', $token);
        $this->assertSame(200, $this->get('/backend', $token)->status, 'signed in');
        $r = $this->get($uri, null);
        $this->assertSame(403, $r->status);
        $this->assertStringContainsString('<p id="shim-denied">ambiguous_path</p>', $r->body);
        $this->assertSame([], $this->session, 'the session is logged out');
        $this->assertSame(403, $this->get($uri, $token)->status, 'not even with a valid assertion');
    }

    public function testBackendRouteIsReadLikeOctober(): void
    {
        $this->assertSame('', App::backendRoute('/backend', '/backend'));
        $this->assertSame('', App::backendRoute('/backend/?x=1', '/backend'));
        $this->assertSame('backend/auth/signin', App::backendRoute('/backend/backend/auth/signin', '/backend'));
        $this->assertSame('backend/auth/signin/../..', App::backendRoute('/backend/backend/auth/signin/%2e%2e/%2E%2E', '/backend'));
        $this->assertSame('/cms', App::backendRoute('//backend//cms', '/backend'));
        $this->assertSame('cms', App::backendRoute('/index.php/backend/cms', '/backend'));
        $this->assertSame('cms', App::backendRoute('/cms/backend/cms', '/cms/backend'));
        $this->assertNull(App::backendRoute('/backendish', '/backend'));
        $this->assertNull(App::backendRoute('/x/../backend/cms', '/backend'), 'Laravel does not resolve ".." before matching routes');
        $this->assertNull(App::backendRoute('/', '/backend'));
    }

    public function testUnverifiedEmailDoesNotLinkTheExistingUser(): void
    {
        foreach ([['email_verified' => false], ['email_verified' => null]] as $override) {
            $token = $this->tokens->token(['sub' => 'sub-existing', 'email' => 'existing@example.com'] + $override);
            $r = $this->get('/backend', $token);
            $this->assertSame(403, $r->status);
            $this->assertStringContainsString('<p id="shim-denied">email_link_refused</p>', $r->body);
        }
        $this->assertSame(0, (int) $this->pdo->query('SELECT COUNT(*) FROM octogate_sso_identities')->fetchColumn());
    }

    /**
     * /tmp/shimreview/poc/standin_preaccount.php: the attacker (unverified
     * newhire@) signs in first, then the real newhire (verified, superuser);
     * then the attacker's old session comes back.
     */
    public function testPreAccountTakeoverIsRefused(): void
    {
        $att = $this->tokens->token(['sub' => 'attacker-sub', 'email' => 'newhire@example.com', 'email_verified' => false,
            'preferred_username' => 'mallory', 'role' => 'editor', 'superuser' => false, 'sid' => 'sid-att']);
        $vic = $this->tokens->token(['sub' => 'victim-sub', 'email' => 'newhire@example.com', 'email_verified' => true,
            'preferred_username' => 'newhire', 'role' => 'developer', 'superuser' => true, 'sid' => 'sid-vic']);
        $attSession = [];
        $vicSession = [];
        $app = $this->app();
        $r = $app->handle('GET', '/backend', '127.0.0.1', $att, $attSession);
        $this->assertSame(403, $r->status);
        $this->assertStringContainsString('<p id="shim-denied">email_unverified</p>', $r->body);
        $app->handle('GET', '/backend', '127.0.0.1', $vic, $vicSession);
        $r = $app->handle('GET', '/backend', '127.0.0.1', $vic, $vicSession);
        $this->assertStringContainsString('<dd id="user-login">newhire</dd>', $r->body);
        $this->assertStringContainsString('<dd id="user-superuser">yes</dd>', $r->body);
        $r = $app->handle('GET', '/backend', '127.0.0.1', $att, $attSession);
        $this->assertSame(403, $r->status);
        $this->assertArrayNotHasKey(App::KEY_USER, $attSession);
    }

    public function testEmailLinkOnlyToAnAccountWithoutASub(): void
    {
        $this->pdo->exec("INSERT INTO octogate_sso_identities (sub, user_id) SELECT 'attacker-sub', id FROM backend_users WHERE login = 'existing'");
        $r = $this->get('/backend', $this->tokens->token(['sub' => 'victim-sub', 'email' => 'existing@example.com']));
        $this->assertSame(403, $r->status);
        $this->assertStringContainsString('<p id="shim-denied">email_link_refused</p>', $r->body);
        $this->assertSame(1, (int) $this->pdo->query('SELECT COUNT(*) FROM octogate_sso_identities')->fetchColumn());
    }

    public function testSuperuserIsNotLinkedByEmail(): void
    {
        $this->pdo->exec("UPDATE backend_users SET is_superuser = 1 WHERE login = 'existing'");
        $r = $this->get('/backend', $this->tokens->token(['sub' => 'sub-existing', 'email' => 'existing@example.com']));
        $this->assertSame(403, $r->status);
        $this->assertStringContainsString('<p id="shim-denied">email_link_refused</p>', $r->body);
    }

    public function testSubdirectoryBackendUri(): void
    {
        $env = ['STANDIN_BACKEND_URI' => '/cms/backend'];
        $this->assertSame(403, $this->get('/cms/backend', null, 'GET', $env)->status);
        $this->assertSame(403, $this->get('/cms/backend/backend/auth/signin/%2e%2e/%2e%2e/%2e%2e/%2e%2e', null, 'GET', $env)->status);
        $r = $this->get('/cms/backend/backend/auth/signin', $this->tokens->token(), 'GET', $env);
        $this->assertSame('/cms/backend', $r->headers['Location']);
    }

    public function testCustomBackendUriAndDatabaseReopen(): void
    {
        $r = $this->get('/admin', $this->tokens->token(), 'GET', ['STANDIN_BACKEND_URI' => '/admin']);
        $this->assertSame(302, $r->status);
        $this->assertStringContainsString('anonymous', $this->get('/backend', null, 'GET', ['STANDIN_BACKEND_URI' => '/admin'])->body);
        // Re-opening an existing database neither fails nor re-seeds.
        $again = SqliteUserDirectory::open($this->db);
        $this->assertSame(3, (int) $again->query('SELECT COUNT(*) FROM backend_user_roles')->fetchColumn());
        $this->assertSame(3, (int) $again->query('SELECT COUNT(*) FROM backend_users')->fetchColumn());
    }
}
