<?php

declare(strict_types=1);

namespace Octogate\Sso\Tests\Unit;

use Octogate\Sso\Classes\Core\AddressList;
use Octogate\Sso\Classes\Core\Gate;
use Octogate\Sso\Classes\Core\GateDecision;
use Octogate\Sso\Classes\Core\GateRequest;
use Octogate\Sso\Classes\Core\IdentityProvisioner;
use Octogate\Sso\Classes\Core\InMemoryUserDirectory;
use Octogate\Sso\Classes\Core\SessionState;
use Octogate\Sso\Classes\Core\ShimConfig;
use Octogate\Sso\Classes\Core\UserAttributes;
use Octogate\Sso\Tests\Support\TokenFactory;
use PHPUnit\Framework\TestCase;

final class GateTest extends TestCase
{
    /** @var TokenFactory */
    private $tokens;
    /** @var InMemoryUserDirectory */
    private $dir;

    protected function setUp(): void
    {
        $this->tokens = new TokenFactory();
        $this->dir = new InMemoryUserDirectory(['developer' => 1, 'publisher' => 2]);
    }

    /**
     * @param array<string, string> $settings
     */
    private function gate(array $settings = []): Gate
    {
        $config = ShimConfig::load($settings + [
            'public_keys' => $this->tokens->publicKeyBase64(),
            'issuer' => TokenFactory::ISSUER,
            'audience' => TokenFactory::AUDIENCE,
            'trusted_proxies' => '10.0.0.2',
        ], []);
        return new Gate($config, new IdentityProvisioner($this->dir), '/backend', static function (): int {
            return TokenFactory::NOW;
        });
    }

    private static function anonymous(): SessionState
    {
        return new SessionState(null, null, null, null, null);
    }

    /**
     * @param string|null $slug what October routes below the backend URI; by
     *        default the decoded path after "/backend/" (what Laravel's route
     *        slug would be for these test URIs)
     */
    private function decide(string $method, string $uri, ?string $assertion, ?SessionState $state = null, array $settings = [], ?string $ip = '10.0.0.2', ?string $slug = null): GateDecision
    {
        if ($slug === null) {
            $path = rawurldecode(trim(explode('?', $uri, 2)[0], '/'));
            $slug = (string) preg_replace('#\Abackend(/|\z)#', '', $path);
        }
        return $this->gate($settings)->decide(new GateRequest($method, $uri, $slug, $ip, $assertion), $state ?? self::anonymous());
    }

    private static function loggedIn(): SessionState
    {
        return new SessionState(7, 'sid-one', 'okta-sub-ada', 7, 'f');
    }

    public function testBackendWithoutAssertionIsDenied(): void
    {
        foreach (['/backend', '/backend/', '/backend/cms', '/backend/cms?x=1', '//backend//cms', '/backend/backend/users'] as $uri) {
            $d = $this->decide('GET', $uri, null);
            $this->assertSame(GateDecision::DENY, $d->action, $uri);
            $this->assertSame(403, $d->status);
            $this->assertSame('no_assertion', $d->reason);
        }
        $this->assertSame(GateDecision::DENY, $this->decide('GET', '/backend', '')->action, 'empty header = none');
    }

    /**
     * The Gate is only asked about requests October routed to its
     * BackendController, so it never answers "not a backend request",
     * whatever the URI looks like (subdirectory installs, front controller
     * in the path, odd spellings).
     */
    public function testThereIsNoNotBackendPass(): void
    {
        $cases = [
            ['/cms/backend', ''],
            ['/cms/backend/backend/auth/signin', 'backend/auth/signin'],
            ['/index.php/backend/cms', 'cms'],
            ['/', ''],
            ['/blog?x=/backend', 'cms'],
            ['/BACKEND/cms', 'cms'],
        ];
        foreach ($cases as [$uri, $slug]) {
            $d = $this->decide('GET', $uri, null, null, [], '10.0.0.2', $slug);
            $this->assertSame(GateDecision::DENY, $d->action, $uri);
            $this->assertSame('no_assertion', $d->reason, $uri);
        }
    }

    /**
     * @return array<string, array{0: string, 1: string}> uri, slug as Laravel would route it
     */
    public function ambiguousPaths(): array
    {
        return [
            'signin via ..' => ['/backend/backend/auth/signin/../../../..', 'backend/auth/signin/../../../..'],
            'signin via %2e%2e' => ['/backend/backend/auth/signin/%2e%2e/%2e%2e/%2e%2e/%2e%2e', 'backend/auth/signin/../../../..'],
            'signin via %2E%2E' => ['/backend/backend/auth/signin/%2E%2E/%2E%2E/%2E%2E/%2E%2E', 'backend/auth/signin/../../../..'],
            'signin via mixed .%2E' => ['/backend/backend/auth/signin/.%2E/%2e./..', 'backend/auth/signin/../../..'],
            'themes via ..' => ['/backend/cms/themes/index/../../../..', 'cms/themes/index/../../../..'],
            'themes via %2e%2e' => ['/backend/cms/themes/index/%2e%2e/%2e%2e/%2e%2e/%2e%2e', 'cms/themes/index/../../../..'],
            'single dot' => ['/backend/./cms', './cms'],
            'encoded single dot' => ['/backend/%2e/cms', './cms'],
            'trailing ..' => ['/backend/cms/..', 'cms/..'],
            'with query' => ['/backend/cms/../x?a=b', 'cms/../x'],
            'encoded slash' => ['/backend/backend%2fauth%2fsignin', 'backend/auth/signin'],
            'encoded slash upper' => ['/backend/backend%2Fauth%2Fsignin', 'backend/auth/signin'],
            'encoded backslash' => ['/backend/cms%5c..%5cx', 'cms\\..\\x'],
            'raw backslash' => ['/backend/cms\\..\\x', 'cms\\..\\x'],
        ];
    }

    /**
     * @dataProvider ambiguousPaths
     */
    public function testAmbiguousPathsAreDeniedWithAndWithoutSessionAndAssertion(string $uri, string $slug): void
    {
        $breakGlass = ['break_glass' => '1', 'break_glass_addresses' => '10.0.0.9'];
        foreach ([self::anonymous(), self::loggedIn()] as $state) {
            foreach ([null, $this->tokens->token()] as $assertion) {
                foreach ([[], $breakGlass] as $settings) {
                    foreach (['GET', 'POST'] as $method) {
                        $ip = $settings === [] ? '10.0.0.2' : '10.0.0.9';
                        $d = $this->decide($method, $uri, $assertion, $state, $settings, $ip, $slug);
                        $this->assertSame(GateDecision::DENY, $d->action);
                        $this->assertSame(403, $d->status);
                        $this->assertSame('ambiguous_path', $d->reason);
                        $this->assertSame($state->loggedInUserId !== null, $d->logoutFirst);
                    }
                }
            }
        }
        $this->assertTrue(Gate::isAmbiguousPath($uri));
    }

    public function testUnambiguousPathsWithDotsAreFine(): void
    {
        foreach (['/backend', '/backend/cms/a.b', '/backend/.../x', '/backend/..x/.y', '/backend/cms?x=../../..', '/backend/cms?p=%2e%2e%2f', '/backend/%2e%2e%2e'] as $uri) {
            $this->assertFalse(Gate::isAmbiguousPath($uri), $uri);
        }
    }

    public function testInvalidAssertionIsDeniedWithVerdictAndLogsOutSession(): void
    {
        $expired = $this->tokens->token(['iat' => TokenFactory::NOW - 1000, 'exp' => TokenFactory::NOW - 700]);
        $d = $this->decide('GET', '/backend', $expired, new SessionState(7, 'sid-one', 'okta-sub-ada', 7, 'f'));
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame('expired', $d->reason);
        $this->assertTrue($d->logoutFirst);
        $this->assertSame('wrong_audience', $this->decide('GET', '/backend', $this->tokens->token(['aud' => 'site2']))->reason);
        $other = new TokenFactory('someone else');
        $this->assertSame('unknown_kid', $this->decide('GET', '/backend', $other->token())->reason);
    }

    /**
     * October's real auth URLs: module "backend", controller "auth" (the
     * Backend\\Controllers\\Auth class) below the backend URI.
     *
     * @return array<string, array{0: string, 1: string}>
     */
    public function authScreens(): array
    {
        return [
            'signin' => ['GET', '/backend/backend/auth/signin'],
            'signin POST' => ['POST', '/backend/backend/auth/signin'],
            'auth index' => ['GET', '/backend/backend/auth'],
            'auth index explicit' => ['GET', '/backend/backend/auth/index'],
            'restore' => ['GET', '/backend/backend/auth/restore'],
            'restore POST' => ['POST', '/backend/backend/auth/restore'],
            'reset' => ['GET', '/backend/backend/auth/reset/1/abc'],
            'setup' => ['GET', '/backend/backend/auth/setup'],
            'setup mixed case' => ['POST', '/backend/Backend/Auth/SetUp'],
            'hyphenated action' => ['GET', '/backend/backend/auth/sign-in'],
            'encoded' => ['GET', '/backend/backend/auth/sign%69n'],
            'empty segments' => ['GET', '/backend//backend//auth//signin'],
        ];
    }

    /**
     * @dataProvider authScreens
     */
    public function testAuthScreensAreBlockedWithoutAssertion(string $method, string $uri): void
    {
        foreach ([self::anonymous(), self::loggedIn()] as $state) {
            $d = $this->decide($method, $uri, null, $state);
            $this->assertSame(GateDecision::DENY, $d->action);
            $this->assertSame('no_assertion', $d->reason);
            $this->assertSame(403, $d->status);
        }
    }

    /**
     * @dataProvider authScreens
     */
    public function testAuthScreensWithValidAssertionLogInAndRedirectToBackendHome(string $method, string $uri): void
    {
        $d = $this->decide($method, $uri, $this->tokens->token());
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertSame('/backend', $d->redirectTo, 'never the password form');
        $again = $this->decide($method, $uri, $this->tokens->token(), $d->state);
        $this->assertSame(GateDecision::REDIRECT, $again->action, 'logged in: still never the password form');
        $this->assertSame('/backend', $again->redirectTo);
    }

    public function testSignOutRedirectsToConfiguredUrl(): void
    {
        $d = $this->decide('GET', '/backend/backend/auth/signout', null, new SessionState(3, 's', 'u', 3, 'f'));
        $this->assertSame(GateDecision::SIGN_OUT, $d->action);
        $this->assertSame('/oauth2/sign_out', $d->redirectTo);
        $d = $this->decide('GET', '/backend/backend/auth/signout', $this->tokens->token(), null, ['sign_out_url' => 'https://sso.example.com/out']);
        $this->assertSame('https://sso.example.com/out', $d->redirectTo);
        $this->assertSame(GateDecision::SIGN_OUT, $this->decide('POST', '/backend/Backend/Auth/Sign-Out', null)->action);
    }

    public function testOldShortAuthUrlsAreNotSpecial(): void
    {
        // "/backend/auth/..." is module "auth", which October 404s: neither
        // sign-out nor an auth screen, just a backend request.
        $this->assertSame('no_assertion', $this->decide('GET', '/backend/auth/signout', null)->reason);
        $d = $this->decide('GET', '/backend/auth/signin', $this->tokens->token());
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertSame('/backend/auth/signin', $d->redirectTo);
    }

    public function testRouteReadsTheSlugLikeOctober(): void
    {
        $this->assertSame(['backend', 'index', 'index'], Gate::route(''));
        $this->assertSame(['backend', 'index', 'index'], Gate::route('/'));
        $this->assertSame(['cms', 'index', 'index'], Gate::route('cms'));
        $this->assertSame(['backend', 'auth', 'index'], Gate::route('backend/auth'));
        $this->assertSame(['backend', 'auth', 'signout'], Gate::route('Backend//AUTH/sign-out/'));
        $this->assertSame(['acme', 'blog', 'posts'], Gate::route('acme/blog/posts/update/1'));
    }

    /**
     * Laravel's camel_case (Str::studly) also drops spaces: October runs
     * "sign out-" (from "/sign%20out-") as the signOut action.
     */
    public function testRouteStripsSpacesLikeCamelCase(): void
    {
        $this->assertSame(['backend', 'auth', 'signout'], Gate::route('backend/auth/sign out-'));
        $this->assertSame(['backend', 'auth', 'signout'], Gate::route('backend/auth/sign_out -'));
        $this->assertSame(['backend', 'auth', 'sign out'], Gate::route('backend/auth/sign out'), 'no hyphen: October does not camel-case');
        $d = $this->decide('GET', '/backend/backend/auth/sign%20out-', null);
        $this->assertSame(GateDecision::SIGN_OUT, $d->action);
    }

    public function testValidAssertionLogsInAndRedirectsGetToItself(): void
    {
        $d = $this->decide('GET', '/backend/cms/themes?page=2', $this->tokens->token());
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertSame('/backend/cms/themes?page=2', $d->redirectTo);
        $this->assertSame(302, $d->status);
        $this->assertFalse($d->logoutFirst);
        $this->assertNotNull($d->userId);
        $this->assertSame('sid-one', $d->state->sid);
        $this->assertSame($d->userId, $d->state->userId);
        $this->assertSame('ada', $this->dir->users[$d->userId]['login']);
    }

    public function testValidAssertionOnPostLogsInWithoutRedirect(): void
    {
        $d = $this->decide('POST', '/backend/cms', $this->tokens->token());
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertNull($d->redirectTo);
    }

    public function testAlreadyLoggedInSameSidPassesWithoutProvisioning(): void
    {
        $first = $this->decide('GET', '/backend', $this->tokens->token());
        $state = $first->state;
        $this->dir->users[$first->userId]['role_id'] = 2; // would be re-synced if provisioning ran
        $d = $this->decide('GET', '/backend/cms', $this->tokens->token(), $state);
        $this->assertSame(GateDecision::PASS, $d->action);
        $this->assertSame('logged_in', $d->reason);
        $this->assertSame(2, $this->dir->users[$first->userId]['role_id']);
    }

    public function testChangedClaimsWithinSidAreSyncedWithoutNewLogin(): void
    {
        $first = $this->decide('GET', '/backend', $this->tokens->token());
        $d = $this->decide('GET', '/backend/cms', $this->tokens->token(['role' => 'publisher']), $first->state);
        $this->assertSame(GateDecision::PASS, $d->action);
        $this->assertSame('synced', $d->reason);
        $this->assertSame(2, $this->dir->users[$first->userId]['role_id']);
        $this->assertNotSame($first->state->fingerprint, $d->state->fingerprint);
    }

    public function testNewSidLogsOutAndLogsInAgain(): void
    {
        $first = $this->decide('GET', '/backend', $this->tokens->token());
        $d = $this->decide('GET', '/backend', $this->tokens->token(['sid' => 'sid-two']), $first->state);
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertTrue($d->logoutFirst);
        $this->assertSame($first->userId, $d->userId);
        $this->assertSame('sid-two', $d->state->sid);
    }

    public function testDifferentUserSwitchesUser(): void
    {
        $first = $this->decide('GET', '/backend', $this->tokens->token());
        $d = $this->decide('GET', '/backend', $this->tokens->token([
            'sub' => 'okta-sub-bob', 'email' => 'bob@example.com', 'preferred_username' => 'bob', 'name' => 'Bob',
        ]), $first->state);
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertTrue($d->logoutFirst);
        $this->assertNotSame($first->userId, $d->userId);
        $this->assertSame('bob', $this->dir->users[$d->userId]['login']);
    }

    /**
     * /tmp/shimreview/poc/preaccount.php: an attacker whose IdP profile
     * carries the victim's address, unverified, signs in first; the victim
     * (verified, superuser) must not end up on the attacker's account, nor
     * the attacker's session on the victim's.
     */
    public function testPreAccountTakeoverWithAnUnverifiedEmailIsRefused(): void
    {
        $att = $this->tokens->token(['sub' => 'attacker-sub', 'email' => 'victim@example.com', 'email_verified' => false,
            'preferred_username' => 'mallory', 'role' => 'publisher', 'superuser' => false, 'sid' => 'sid-att']);
        $vic = $this->tokens->token(['sub' => 'victim-sub', 'email' => 'victim@example.com', 'email_verified' => true,
            'preferred_username' => 'victim', 'role' => 'developer', 'superuser' => true, 'sid' => 'sid-vic']);
        $d = $this->decide('GET', '/backend', $att);
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame('email_unverified', $d->reason);
        $this->assertSame([], $this->dir->users);

        $d2 = $this->decide('GET', '/backend', $vic);
        $this->assertSame(GateDecision::LOGIN, $d2->action);
        $this->assertSame('victim', $this->dir->users[$d2->userId]['login']);
        $this->assertSame(['victim-sub' => $d2->userId], $this->dir->links);
    }

    /**
     * The same, with an attacker account that already carries the victim's
     * email (created before this fix, or with an address the provider later
     * lets the attacker change): the victim is not linked to it by email,
     * and the attacker's session never gets the victim's role.
     */
    public function testVictimIsNeverLinkedByEmailToAnAccountThatHasASub(): void
    {
        $mallory = $this->dir->seedUser(['login' => 'mallory', 'email' => 'victim@example.com', 'role_id' => 2, 'is_activated' => true]);
        $this->dir->link('attacker-sub', $mallory);
        $att = $this->tokens->token(['sub' => 'attacker-sub', 'email' => 'victim@example.com', 'email_verified' => false,
            'preferred_username' => 'mallory', 'role' => 'publisher', 'superuser' => false, 'sid' => 'sid-att']);
        $vic = $this->tokens->token(['sub' => 'victim-sub', 'email' => 'victim@example.com', 'email_verified' => true,
            'preferred_username' => 'victim', 'role' => 'developer', 'superuser' => true, 'sid' => 'sid-vic']);
        $d = $this->decide('GET', '/backend', $att);
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertSame($mallory, $d->userId);

        $d2 = $this->decide('GET', '/backend', $vic);
        $this->assertSame(GateDecision::DENY, $d2->action);
        $this->assertSame('email_link_refused', $d2->reason);
        $this->assertSame(['attacker-sub' => $mallory], $this->dir->links);

        $d3 = $this->decide('GET', '/backend', $att, $d->state);
        $this->assertSame(GateDecision::PASS, $d3->action);
        $this->assertSame(2, $this->dir->users[$mallory]['role_id']);
        $this->assertFalse($this->dir->users[$mallory]['is_superuser']);
    }

    /**
     * Same sid, sub and fingerprint are not enough: when the sub is linked
     * to another account (an administrator re-linked it), the old session is
     * not passed on; the sub's current account is logged in instead.
     */
    public function testLoggedInSessionIsRecheckedAgainstTheSubLinkOnEveryRequest(): void
    {
        $first = $this->decide('GET', '/backend', $this->tokens->token());
        $this->dir->users[$first->userId]['email'] = 'old-ada@example.com';
        $other = $this->dir->seedUser(['login' => 'ada2', 'email' => 'ada2@example.com']);
        $this->dir->link('okta-sub-ada', $other);
        $d = $this->decide('GET', '/backend/cms', $this->tokens->token(), $first->state);
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertTrue($d->logoutFirst);
        $this->assertSame($other, $d->userId);

        // The linked account is deleted: the session is logged out and denied.
        $this->dir->users[$other]['deleted_at'] = '2026-01-01 00:00:00';
        $d2 = $this->decide('GET', '/backend/cms', $this->tokens->token(), $d->state);
        $this->assertSame(GateDecision::DENY, $d2->action);
        $this->assertSame('user_deleted', $d2->reason);
        $this->assertTrue($d2->logoutFirst);
    }

    public function testSessionLoggedInAsSomeoneElseIsReplaced(): void
    {
        // Someone logged in through break-glass (no stored state), then comes through octogate.
        $d = $this->decide('GET', '/backend', $this->tokens->token(), new SessionState(99, null, null, null, null));
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertTrue($d->logoutFirst);
    }

    public function testProvisioningErrorsAreDenied(): void
    {
        $d = $this->decide('GET', '/backend', $this->tokens->token(['role' => 'owner']));
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame('unknown_role', $d->reason);
        $this->assertStringContainsString('owner', $d->message);
    }

    public function testBreakGlassAllowsListedAddressWithoutAssertion(): void
    {
        $settings = ['break_glass' => '1', 'break_glass_addresses' => '192.0.2.10, 198.51.100.0/24'];
        $this->assertSame('break_glass', $this->decide('GET', '/backend/backend/auth/signin', null, null, $settings, '192.0.2.10')->reason);
        $this->assertSame('break_glass', $this->decide('POST', '/backend/backend/auth/signin', null, null, $settings, '198.51.100.77')->reason);
        $this->assertSame(GateDecision::PASS, $this->decide('GET', '/backend/backend/auth/signout', null, null, $settings, '192.0.2.10')->action);
    }

    public function testBreakGlassIsOnlyTheEmergencyAdminsPasswordSignIn(): void
    {
        $settings = ['break_glass' => '1', 'break_glass_addresses' => '192.0.2.10'];
        foreach (['restore', 'reset', 'setup', 'Reset'] as $action) {
            foreach (['GET', 'POST'] as $method) {
                $d = $this->decide($method, "/backend/backend/auth/$action", null, null, $settings, '192.0.2.10');
                $this->assertSame(GateDecision::DENY, $d->action, "$method $action");
                $this->assertSame('break_glass_limited', $d->reason);
            }
        }
        // A session of an account linked to an Okta subject does not continue without an assertion.
        $id = $this->dir->create('ada', new UserAttributes('ada@example.com', 'Ada', null, 1, false), 'x');
        $this->dir->link('okta-sub-ada', $id);
        $sso = new SessionState($id, 'sid-one', 'okta-sub-ada', $id, 'f');
        $d = $this->decide('GET', '/backend/cms', null, $sso, $settings, '192.0.2.10');
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame('break_glass_sso_user', $d->reason);
        $this->assertTrue($d->logoutFirst);
        // The local emergency account's session does.
        $local = $this->dir->create('emergency', new UserAttributes('root@example.com', 'Root', null, 1, true), 'x');
        $d = $this->decide('GET', '/backend/cms', null, new SessionState($local, null, null, null, null), $settings, '192.0.2.10');
        $this->assertSame('break_glass', $d->reason);
    }

    public function testBreakGlassDeniesOtherAddressesAndWhenDisabled(): void
    {
        $settings = ['break_glass' => '1', 'break_glass_addresses' => '192.0.2.10'];
        $this->assertSame(GateDecision::DENY, $this->decide('GET', '/backend/backend/auth/signin', null, null, $settings, '192.0.2.11')->action);
        $this->assertSame(GateDecision::DENY, $this->decide('GET', '/backend/backend/auth/signin', null, null, $settings, null)->action);
        $off = ['break_glass' => '0', 'break_glass_addresses' => '192.0.2.10'];
        $this->assertSame(GateDecision::DENY, $this->decide('GET', '/backend/backend/auth/signin', null, null, $off, '192.0.2.10')->action);
    }

    /**
     * Even if a configuration with overlapping lists were built (load()
     * refuses it), a request from a trusted proxy never gets break-glass:
     * octogate's own traffic without an assertion is denied.
     */
    public function testBreakGlassNeverAppliesToTrustedProxyAddresses(): void
    {
        $config = new ShimConfig([$this->tokens->publicKey], TokenFactory::ISSUER, TokenFactory::AUDIENCE,
            AddressList::fromString('10.0.0.0/24'), true, AddressList::fromString('10.0.0.2, 192.0.2.10'), '/oauth2/sign_out');
        $gate = new Gate($config, new IdentityProvisioner($this->dir), '/backend');
        $d = $gate->decide(new GateRequest('GET', '/backend/backend/auth/signin', 'backend/auth/signin', '10.0.0.2', null), self::anonymous());
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame('no_assertion', $d->reason);
        $d = $gate->decide(new GateRequest('GET', '/backend/backend/auth/signin', 'backend/auth/signin', '192.0.2.10', null), self::anonymous());
        $this->assertSame('break_glass', $d->reason);
    }

    public function testBreakGlassDoesNotBypassAnInvalidAssertion(): void
    {
        $settings = ['break_glass' => '1', 'break_glass_addresses' => '192.0.2.10'];
        $d = $this->decide('GET', '/backend', 'garbage', null, $settings, '192.0.2.10');
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame('untrusted_proxy', $d->reason);
        $d = $this->decide('GET', '/backend', 'garbage', null, $settings, '10.0.0.2');
        $this->assertSame('malformed', $d->reason);
    }

    /**
     * No trusted proxy list is no trust: an assertion is accepted from no
     * address at all (a captured one replayed by anyone who can reach
     * October would otherwise work until it expires).
     */
    public function testWithoutTrustedProxiesEveryAssertionIsRefused(): void
    {
        foreach (['', ' , '] as $none) {
            foreach (['10.0.0.2', '127.0.0.1', '203.0.113.66'] as $ip) {
                $d = $this->decide('GET', '/backend', $this->tokens->token(), null, ['trusted_proxies' => $none], $ip);
                $this->assertSame(GateDecision::DENY, $d->action);
                $this->assertSame('not_configured', $d->reason, "$ip, list '$none'");
            }
        }
    }

    public function testTrustedProxyRestriction(): void
    {
        $settings = ['trusted_proxies' => '10.1.0.0/16, fd00::1'];
        $token = $this->tokens->token();
        $d = $this->decide('GET', '/backend', $token, null, $settings, '10.2.0.1');
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame('untrusted_proxy', $d->reason);
        $this->assertSame(GateDecision::LOGIN, $this->decide('GET', '/backend', $token, null, $settings, '10.1.200.3')->action);
        $this->assertSame(GateDecision::LOGIN, $this->decide('GET', '/backend', $token, null, $settings, 'fd00::1')->action);
    }

    public function testUnconfiguredShimDenies(): void
    {
        $config = ShimConfig::load([], []);
        $gate = new Gate($config, new IdentityProvisioner($this->dir), '/backend');
        $d = $gate->decide(new GateRequest('GET', '/backend', '', '10.0.0.1', $this->tokens->token()), self::anonymous());
        $this->assertSame('not_configured', $d->reason);
    }

    public function testBackendHomeWithCustomPrefixAndSubdirectory(): void
    {
        $config = ShimConfig::load([], []);
        $gate = new Gate($config, new IdentityProvisioner($this->dir), 'admin/');
        $this->assertSame('/admin', $gate->backendPrefix());
        $sub = new Gate($config, new IdentityProvisioner($this->dir), '/cms//backend/');
        $this->assertSame('/cms/backend', $sub->backendPrefix());
    }

    public function testSubdirectoryInstallIsEnforcedAndRedirectsStayInside(): void
    {
        $config = ShimConfig::load([
            'public_keys' => $this->tokens->publicKeyBase64(),
            'issuer' => TokenFactory::ISSUER,
            'audience' => TokenFactory::AUDIENCE,
            'trusted_proxies' => '10.0.0.2',
        ], []);
        $gate = new Gate($config, new IdentityProvisioner($this->dir), '/cms/backend', static function (): int {
            return TokenFactory::NOW;
        });
        $d = $gate->decide(new GateRequest('GET', '/cms/backend/cms', 'cms', '10.0.0.2', null), self::anonymous());
        $this->assertSame('no_assertion', $d->reason);
        $d = $gate->decide(new GateRequest('GET', '/cms/backend/cms/themes/index/../../../..', 'cms/themes/index/../../../..', '10.0.0.2', null), self::anonymous());
        $this->assertSame('ambiguous_path', $d->reason);
        $d = $gate->decide(new GateRequest('GET', '/cms/backend/backend/auth/signin', 'backend/auth/signin', '10.0.0.2', $this->tokens->token()), self::anonymous());
        $this->assertSame('/cms/backend', $d->redirectTo);
        $d = $gate->decide(new GateRequest('GET', '/cms/backend/cms?x=1', 'cms', '10.0.0.2', $this->tokens->token()), self::anonymous());
        $this->assertSame('/cms/backend/cms?x=1', $d->redirectTo);
    }

    public function testSelfRedirectIsNeverProtocolRelative(): void
    {
        $d = $this->decide('GET', '//backend//cms', $this->tokens->token());
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertSame('/backend//cms', $d->redirectTo);
    }

    public function testValidAssertionButDeniedUserLogsOutTheExistingSession(): void
    {
        $d = $this->decide('GET', '/backend/cms', $this->tokens->token(['role' => 'owner']), self::loggedIn());
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame('unknown_role', $d->reason);
        $this->assertTrue($d->logoutFirst);
        $this->dir->seedUser(['login' => 'root', 'email' => 'bob@example.com', 'is_superuser' => true]);
        $d = $this->decide('GET', '/backend/cms', $this->tokens->token(['sub' => 'okta-sub-bob', 'email' => 'bob@example.com']), self::loggedIn());
        $this->assertSame('email_link_refused', $d->reason);
        $this->assertTrue($d->logoutFirst);
    }
}
