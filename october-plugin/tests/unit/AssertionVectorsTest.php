<?php

declare(strict_types=1);

namespace Octogate\Sso\Tests\Unit;

use Octogate\Sso\Classes\Core\AssertionVerifier;
use PHPUnit\Framework\TestCase;

/**
 * Every shared vector in tests/vectors/assertions.json through the PHP verifier.
 */
final class AssertionVectorsTest extends TestCase
{
    /**
     * @return array<string, mixed>
     */
    private static function file(): array
    {
        $json = file_get_contents(OCTOGATE_REPO_ROOT . '/tests/vectors/assertions.json');
        self::assertIsString($json);
        return json_decode($json, true, 512, JSON_THROW_ON_ERROR);
    }

    /**
     * @return iterable<string, array{0: string, 1: string}>
     */
    public function vectors(): iterable
    {
        foreach (self::file()['vectors'] as $v) {
            yield $v['name'] => [$v['token'], $v['expect']];
        }
    }

    /**
     * @dataProvider vectors
     */
    public function testVector(string $token, string $expect): void
    {
        $file = self::file();
        $this->assertSame(30, $file['skew'], 'the contract fixes the skew at 30 s');
        $keys = array_map(static function (array $k): string {
            return base64_decode($k['public_key'], true);
        }, $file['keys']);
        $verifier = AssertionVerifier::fromRawKeys($keys, $file['issuer'], $file['audience']);
        $result = $verifier->verify($token, $file['now']);
        $this->assertSame($expect, $result->verdict());
        $this->assertSame($expect === 'ok', $result->isOk());
        if (!$result->isOk()) {
            $this->assertSame([], $result->claims(), 'a rejected token exposes no claims');
        }
    }

    public function testVectorFileCoversEveryVerdictAndKidsMatchKeys(): void
    {
        $file = self::file();
        $seen = array_unique(array_column($file['vectors'], 'expect'));
        sort($seen);
        $all = ['bad_signature', 'expired', 'lifetime_too_long', 'malformed', 'missing_claim', 'not_yet_valid',
            'ok', 'oversized', 'unknown_kid', 'unsupported_alg', 'wrong_audience', 'wrong_issuer'];
        $this->assertSame($all, array_values($seen));
        $this->assertGreaterThanOrEqual(2, count($file['keys']));
        foreach ($file['keys'] as $key) {
            $raw = base64_decode($key['public_key'], true);
            $this->assertSame(32, strlen($raw));
            $this->assertSame($key['kid'], AssertionVerifier::kidFor($raw));
            $seed = base64_decode($key['private_seed'], true);
            $this->assertSame($raw, sodium_crypto_sign_publickey(sodium_crypto_sign_seed_keypair($seed)));
        }
    }

    public function testVerifierWithoutTheSecondKeyRejectsTheRotatedVector(): void
    {
        $file = self::file();
        $verifier = AssertionVerifier::fromRawKeys([base64_decode($file['keys'][0]['public_key'])], $file['issuer'], $file['audience']);
        $rotated = array_values(array_filter($file['vectors'], static function (array $v): bool {
            return $v['name'] === 'valid_rotated_second_key';
        }))[0];
        $this->assertSame('unknown_kid', $verifier->verify($rotated['token'], $file['now'])->verdict());
    }

    public function testNullTokenIsMalformedAndNeverThrows(): void
    {
        $verifier = AssertionVerifier::fromRawKeys([str_repeat("\1", 32)], 'i', 'a');
        $this->assertSame('malformed', $verifier->verify(null, 0)->verdict());
        $this->assertSame('malformed', $verifier->verify("\0.\0.\0", 0)->verdict());
    }
}
