<?php

declare(strict_types=1);

namespace Octogate\Sso\Tests\Unit;

use Octogate\Sso\Classes\Core\Gate;
use Octogate\Sso\Classes\Core\GateDecision;
use Octogate\Sso\Classes\Core\GateRequest;
use Octogate\Sso\Classes\Core\IdentityProvisioner;
use Octogate\Sso\Classes\Core\InMemoryUserDirectory;
use Octogate\Sso\Classes\Core\SessionState;
use Octogate\Sso\Classes\Core\ShimConfig;
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
        ], []);
        return new Gate($config, new IdentityProvisioner($this->dir), '/backend', static function (): int {
            return TokenFactory::NOW;
        });
    }

    private static function anonymous(): SessionState
    {
        return new SessionState(null, null, null, null, null);
    }

    private function decide(string $method, string $uri, ?string $assertion, ?SessionState $state = null, array $settings = [], ?string $ip = '10.0.0.2'): GateDecision
    {
        return $this->gate($settings)->decide(new GateRequest($method, $uri, $ip, $assertion), $state ?? self::anonymous());
    }

    public function testPublicPathsPass(): void
    {
        $this->assertSame(GateDecision::PASS, $this->decide('GET', '/', null)->action);
        $this->assertSame(GateDecision::PASS, $this->decide('GET', '/backendish/page', null)->action);
        $this->assertSame(GateDecision::PASS, $this->decide('GET', '/blog?x=/backend', null)->action);
    }

    public function testBackendWithoutAssertionIsDenied(): void
    {
        foreach (['/backend', '/backend/', '/backend/cms', '/BACKEND/cms?x=1', '//backend//cms', '/index.php/backend/cms', '/x/../backend/cms'] as $uri) {
            $d = $this->decide('GET', $uri, null);
            $this->assertSame(GateDecision::DENY, $d->action, $uri);
            $this->assertSame(403, $d->status);
            $this->assertSame('no_assertion', $d->reason);
        }
        $this->assertSame(GateDecision::DENY, $this->decide('GET', '/backend', '')->action, 'empty header = none');
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
     * @return array<string, array{0: string, 1: string}>
     */
    public function authScreens(): array
    {
        return [
            'signin' => ['GET', '/backend/auth/signin'],
            'signin POST' => ['POST', '/backend/auth/signin'],
            'auth index' => ['GET', '/backend/auth'],
            'restore' => ['GET', '/backend/auth/restore'],
            'restore POST' => ['POST', '/backend/auth/restore'],
            'reset' => ['GET', '/backend/auth/reset/1/abc'],
            'setup' => ['GET', '/backend/auth/setup'],
            'setup mixed case' => ['POST', '/backend/Auth/SetUp'],
            'encoded' => ['GET', '/backend/auth/sign%69n'],
        ];
    }

    /**
     * @dataProvider authScreens
     */
    public function testAuthScreensAreBlockedWithoutAssertion(string $method, string $uri): void
    {
        $d = $this->decide($method, $uri, null);
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame(403, $d->status);
    }

    /**
     * @dataProvider authScreens
     */
    public function testAuthScreensWithValidAssertionLogInAndRedirectToBackendHome(string $method, string $uri): void
    {
        $d = $this->decide($method, $uri, $this->tokens->token());
        $this->assertSame(GateDecision::LOGIN, $d->action);
        $this->assertSame('/backend', $d->redirectTo, 'never the password form');
    }

    public function testSignOutRedirectsToConfiguredUrl(): void
    {
        $d = $this->decide('GET', '/backend/auth/signout', null, new SessionState(3, 's', 'u', 3, 'f'));
        $this->assertSame(GateDecision::SIGN_OUT, $d->action);
        $this->assertSame('/oauth2/sign_out', $d->redirectTo);
        $d = $this->decide('GET', '/backend/auth/signout', $this->tokens->token(), null, ['sign_out_url' => 'https://sso.example.com/out']);
        $this->assertSame('https://sso.example.com/out', $d->redirectTo);
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
        $this->assertSame('break_glass', $this->decide('GET', '/backend/auth/signin', null, null, $settings, '192.0.2.10')->reason);
        $this->assertSame('break_glass', $this->decide('POST', '/backend/auth/signin', null, null, $settings, '198.51.100.77')->reason);
        $this->assertSame(GateDecision::PASS, $this->decide('GET', '/backend/auth/signout', null, null, $settings, '192.0.2.10')->action);
    }

    public function testBreakGlassDeniesOtherAddressesAndWhenDisabled(): void
    {
        $settings = ['break_glass' => '1', 'break_glass_addresses' => '192.0.2.10'];
        $this->assertSame(GateDecision::DENY, $this->decide('GET', '/backend/auth/signin', null, null, $settings, '192.0.2.11')->action);
        $this->assertSame(GateDecision::DENY, $this->decide('GET', '/backend/auth/signin', null, null, $settings, null)->action);
        $off = ['break_glass' => '0', 'break_glass_addresses' => '192.0.2.10'];
        $this->assertSame(GateDecision::DENY, $this->decide('GET', '/backend/auth/signin', null, null, $off, '192.0.2.10')->action);
    }

    public function testBreakGlassDoesNotBypassAnInvalidAssertion(): void
    {
        $settings = ['break_glass' => '1', 'break_glass_addresses' => '192.0.2.10'];
        $d = $this->decide('GET', '/backend', 'garbage', null, $settings, '192.0.2.10');
        $this->assertSame(GateDecision::DENY, $d->action);
        $this->assertSame('malformed', $d->reason);
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
        $d = $gate->decide(new GateRequest('GET', '/backend', '10.0.0.1', $this->tokens->token()), self::anonymous());
        $this->assertSame('not_configured', $d->reason);
    }

    public function testCustomBackendPrefix(): void
    {
        $config = ShimConfig::load([], []);
        $gate = new Gate($config, new IdentityProvisioner($this->dir), 'admin/');
        $this->assertTrue($gate->isBackendPath('/admin/cms'));
        $this->assertFalse($gate->isBackendPath('/backend/cms'));
        $this->assertSame('/admin', $gate->backendPrefix());
    }
}
