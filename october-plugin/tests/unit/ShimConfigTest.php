<?php

declare(strict_types=1);

namespace Octogate\Sso\Tests\Unit;

use InvalidArgumentException;
use Octogate\Sso\Classes\Core\AddressList;
use Octogate\Sso\Classes\Core\ShimConfig;
use PHPUnit\Framework\TestCase;

final class ShimConfigTest extends TestCase
{
    private static function key(int $byte): string
    {
        return base64_encode(str_repeat(chr($byte), 32));
    }

    public function testDefaultsFromSettings(): void
    {
        $c = ShimConfig::load([
            'public_keys' => self::key(1) . "\n" . self::key(2),
            'issuer' => 'https://a.example.com',
            'audience' => 'a',
        ], []);
        $this->assertSame([str_repeat("\1", 32), str_repeat("\2", 32)], $c->publicKeys);
        $this->assertSame('https://a.example.com', $c->issuer);
        $this->assertSame('/oauth2/sign_out', $c->signOutUrl);
        $this->assertFalse($c->breakGlass);
        $this->assertTrue($c->trustedProxies->isEmpty());
        $this->assertFalse($c->isComplete(), 'no trusted proxy address: nothing is accepted');
        $c = ShimConfig::load(['public_keys' => self::key(1), 'issuer' => 'i', 'audience' => 'a', 'trusted_proxies' => '127.0.0.1'], []);
        $this->assertTrue($c->isComplete());
    }

    public function testEnvironmentIsReadAsRawStringsSoFalseOverridesAStoredTrue(): void
    {
        // Laravel's env() would hand back bool false for "false" (and the shim used to skip
        // non-strings), leaving a break-glass switched on in the backend settings on.
        putenv('OCTOGATE_BREAK_GLASS=false');
        $_SERVER['OCTOGATE_ISSUER'] = 'https://from-dotenv.example.com';
        try {
            $env = ShimConfig::environment();
            $this->assertSame('false', $env['OCTOGATE_BREAK_GLASS']);
            $this->assertSame('https://from-dotenv.example.com', $env['OCTOGATE_ISSUER']);
            $this->assertArrayNotHasKey('OCTOGATE_AUDIENCE', $env);
            $c = ShimConfig::load([
                'public_keys' => self::key(1),
                'issuer' => 'https://a.example.com',
                'audience' => 'a',
                'trusted_proxies' => '10.0.0.1',
                'break_glass' => true,
                'break_glass_addresses' => '192.0.2.10',
            ], $env);
            $this->assertFalse($c->breakGlass);
            $this->assertSame('https://from-dotenv.example.com', $c->issuer);
            $this->assertSame('a', $c->audience);
            putenv('OCTOGATE_BREAK_GLASS=true');
            $this->assertTrue(ShimConfig::load(['trusted_proxies' => '10.0.0.1'], ShimConfig::environment())->breakGlass);
        } finally {
            putenv('OCTOGATE_BREAK_GLASS');
            unset($_SERVER['OCTOGATE_ISSUER']);
        }
    }

    public function testEnvironmentOverridesEverySetting(): void
    {
        $c = ShimConfig::load([
            'public_keys' => self::key(1),
            'issuer' => 'https://a.example.com',
            'audience' => 'a',
            'trusted_proxies' => '10.0.0.1',
            'break_glass' => false,
            'break_glass_addresses' => '10.9.9.9',
            'sign_out_url' => '/x',
        ], [
            'OCTOGATE_PUBLIC_KEYS' => self::key(3) . ',' . self::key(4),
            'OCTOGATE_ISSUER' => 'https://b.example.com',
            'OCTOGATE_AUDIENCE' => 'b',
            'OCTOGATE_TRUSTED_PROXIES' => '172.16.0.0/12',
            'OCTOGATE_BREAK_GLASS' => 'true',
            'OCTOGATE_BREAK_GLASS_ADDRESSES' => '192.0.2.1 192.0.2.2',
            'OCTOGATE_SIGN_OUT_URL' => 'https://b.example.com/oauth2/sign_out',
            'UNRELATED' => 'x',
        ]);
        $this->assertSame([str_repeat("\3", 32), str_repeat("\4", 32)], $c->publicKeys);
        $this->assertSame('https://b.example.com', $c->issuer);
        $this->assertSame('b', $c->audience);
        $this->assertTrue($c->trustedProxies->contains('172.20.1.1'));
        $this->assertFalse($c->trustedProxies->contains('10.0.0.1'));
        $this->assertTrue($c->breakGlass);
        $this->assertTrue($c->breakGlassAddresses->contains('192.0.2.2'));
        $this->assertFalse($c->breakGlassAddresses->contains('10.9.9.9'));
        $this->assertSame('https://b.example.com/oauth2/sign_out', $c->signOutUrl);
    }

    public function testEnvCanSwitchBreakGlassOff(): void
    {
        $c = ShimConfig::load(['break_glass' => true], ['OCTOGATE_BREAK_GLASS' => '0']);
        $this->assertFalse($c->breakGlass);
        foreach (['1', 'yes', 'ON', 'true'] as $on) {
            $this->assertTrue(ShimConfig::load([], ['OCTOGATE_BREAK_GLASS' => $on])->breakGlass, $on);
        }
        $this->assertFalse(ShimConfig::load([], ['OCTOGATE_BREAK_GLASS' => 'maybe'])->breakGlass);
    }

    public function testRejectsKeysThatAreNot32Bytes(): void
    {
        $this->expectException(InvalidArgumentException::class);
        ShimConfig::load(['public_keys' => base64_encode(str_repeat('x', 31))], []);
    }

    public function testRejectsUnpaddedOrUrlSafeKeys(): void
    {
        $this->expectException(InvalidArgumentException::class);
        ShimConfig::load([], ['OCTOGATE_PUBLIC_KEYS' => rtrim(self::key(0xfb), '=')]);
    }

    public function testRejectsBadAddresses(): void
    {
        $this->expectException(InvalidArgumentException::class);
        ShimConfig::load(['trusted_proxies' => '10.0.0.0/33'], []);
    }

    /**
     * octogate's own traffic must never get break-glass: the two lists may
     * not share an address (fail closed: the configuration is rejected).
     *
     * @return array<string, array{0: string, 1: string}>
     */
    public function overlappingLists(): array
    {
        return [
            'same address' => ['10.0.0.5', '10.0.0.5'],
            'address in range' => ['10.0.0.0/8', '10.1.2.3'],
            'range in range' => ['172.28.0.10/32', '172.16.0.0/12'],
            'IPv6' => ['fd00::1', 'fd00::/64'],
            'IPv4-mapped' => ['::ffff:10.0.0.5', '10.0.0.0/24'],
            'one of several' => ['192.0.2.1, 10.0.0.5', '203.0.113.7 10.0.0.4/30'],
        ];
    }

    /**
     * @dataProvider overlappingLists
     */
    public function testRejectsBreakGlassAddressesThatOverlapTrustedProxies(string $proxies, string $breakGlass): void
    {
        $settings = ['trusted_proxies' => $proxies, 'break_glass' => true, 'break_glass_addresses' => $breakGlass];
        try {
            ShimConfig::load($settings, []);
            $this->fail('expected an InvalidArgumentException');
        } catch (InvalidArgumentException $e) {
            $this->assertStringContainsString('overlap', $e->getMessage());
        }
        $this->expectException(InvalidArgumentException::class);
        ShimConfig::load(['trusted_proxies' => $breakGlass, 'break_glass_addresses' => $proxies], []);
    }

    public function testDisjointListsAreFine(): void
    {
        $c = ShimConfig::load(['trusted_proxies' => '10.0.0.5, fd00::/64', 'break_glass' => true, 'break_glass_addresses' => '10.0.0.6/32 10.0.1.0/24 fd01::1 ::ffff:192.0.2.1'], []);
        $this->assertTrue($c->breakGlass);
        $this->assertTrue(AddressList::fromString('10.0.0.0/31')->overlaps(AddressList::fromString('10.0.0.1')));
        $this->assertFalse(AddressList::fromString('10.0.0.0/31')->overlaps(AddressList::fromString('10.0.0.2')));
        $this->assertFalse(AddressList::fromString('')->overlaps(AddressList::fromString('0.0.0.0/0')));
    }

    public function testIncompleteWithoutKeys(): void
    {
        $this->assertFalse(ShimConfig::load(['issuer' => 'i', 'audience' => 'a'], [])->isComplete());
    }

    public function testAddressListMatching(): void
    {
        $l = new AddressList(['10.0.0.0/8', '192.0.2.5', '2001:db8::/32', '::1', '172.16.0.0/13']);
        $this->assertTrue($l->contains('10.255.1.1'));
        $this->assertTrue($l->contains('192.0.2.5'));
        $this->assertFalse($l->contains('192.0.2.6'));
        $this->assertTrue($l->contains('2001:db8:1::9'));
        $this->assertFalse($l->contains('2001:db9::1'));
        $this->assertTrue($l->contains('::1'));
        $this->assertTrue($l->contains('::ffff:10.1.2.3'), 'IPv4-mapped IPv6');
        $this->assertTrue($l->contains('172.23.255.255'));
        $this->assertFalse($l->contains('172.24.0.0'));
        $this->assertFalse($l->contains('not-an-ip'));
        $this->assertFalse($l->contains(null));
        $this->assertFalse((new AddressList([]))->contains('10.0.0.1'));
    }
}
