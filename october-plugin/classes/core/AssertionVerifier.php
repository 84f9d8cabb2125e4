<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

use InvalidArgumentException;
use JsonException;
use stdClass;

/**
 * Verifies octogate's identity assertion (compact JWS, Ed25519 / "EdDSA").
 *
 * The checks run in the order of the contract and return the first failing
 * verdict code; see Verdict. verify() never throws on bad input.
 */
final class AssertionVerifier
{
    /** @var array<string, string> kid => raw 32-byte Ed25519 public key */
    private $keys;

    /** @var string */
    private $issuer;

    /** @var string */
    private $audience;

    /**
     * @param array<string, string> $keysByKid kid => raw 32-byte public key
     * @throws InvalidArgumentException when a key is not 32 bytes
     */
    public function __construct(array $keysByKid, string $issuer, string $audience)
    {
        foreach ($keysByKid as $kid => $key) {
            if (!is_string($key) || strlen($key) !== SODIUM_CRYPTO_SIGN_PUBLICKEYBYTES) {
                throw new InvalidArgumentException('Ed25519 public keys must be 32 bytes');
            }
        }
        $this->keys = $keysByKid;
        $this->issuer = $issuer;
        $this->audience = $audience;
    }

    /**
     * Build a verifier from raw 32-byte public keys, deriving each kid.
     *
     * @param list<string> $rawKeys
     */
    public static function fromRawKeys(array $rawKeys, string $issuer, string $audience): self
    {
        $byKid = [];
        foreach ($rawKeys as $key) {
            $byKid[self::kidFor($key)] = $key;
        }
        return new self($byKid, $issuer, $audience);
    }

    /**
     * The kid of a raw public key: first 16 lowercase hex chars of SHA-256.
     */
    public static function kidFor(string $rawPublicKey): string
    {
        return substr(hash('sha256', $rawPublicKey), 0, 16);
    }

    /**
     * Verify a token at time $now (unix seconds).
     */
    public function verify(?string $token, int $now): VerificationResult
    {
        $token = $token ?? '';
        if (strlen($token) > Verdict::MAX_TOKEN_BYTES) {
            return VerificationResult::failure(Verdict::OVERSIZED);
        }

        $parts = explode('.', $token);
        if (count($parts) !== 3) {
            return VerificationResult::failure(Verdict::MALFORMED);
        }
        [$headerB64, $payloadB64, $signatureB64] = $parts;
        $headerJson = Base64Url::decode($headerB64);
        $payloadJson = Base64Url::decode($payloadB64);
        $signature = Base64Url::decode($signatureB64);
        if ($headerJson === null || $payloadJson === null || $signature === null) {
            return VerificationResult::failure(Verdict::MALFORMED);
        }
        $header = self::decodeObject($headerJson);
        $claims = self::decodeObject($payloadJson);
        if ($header === null || $claims === null) {
            return VerificationResult::failure(Verdict::MALFORMED);
        }

        $verdict = $this->checkHeader($header);
        if ($verdict !== null) {
            return VerificationResult::failure($verdict);
        }

        $key = $this->findKey($header['kid'] ?? null);
        if ($key === null) {
            return VerificationResult::failure(Verdict::UNKNOWN_KID);
        }

        if (!self::signatureValid($signature, $headerB64 . '.' . $payloadB64, $key)) {
            return VerificationResult::failure(Verdict::BAD_SIGNATURE);
        }

        $verdict = $this->checkClaims($claims, $now);
        if ($verdict !== null) {
            return VerificationResult::failure($verdict);
        }
        return VerificationResult::success($claims);
    }

    /**
     * Decode JSON text that must be an object; null otherwise.
     *
     * @return array<string, mixed>|null
     */
    private static function decodeObject(string $json): ?array
    {
        try {
            $value = json_decode($json, false, 64, JSON_THROW_ON_ERROR | JSON_BIGINT_AS_STRING);
        } catch (JsonException $e) {
            return null;
        }
        if (!$value instanceof stdClass) {
            return null;
        }
        // Only the top level becomes an array; nested JSON objects stay
        // stdClass so that they can never pass for a JSON array.
        return get_object_vars($value);
    }

    /**
     * Step 3: algorithm, typ and crit.
     *
     * @param array<string, mixed> $header
     */
    private function checkHeader(array $header): ?string
    {
        if (!array_key_exists('alg', $header) || $header['alg'] !== 'EdDSA') {
            return Verdict::UNSUPPORTED_ALG;
        }
        if (($header['typ'] ?? null) !== Verdict::TYP) {
            return Verdict::MALFORMED;
        }
        if (array_key_exists('crit', $header)) {
            return Verdict::MALFORMED;
        }
        return null;
    }

    /**
     * Step 4: the configured key for a kid, or null.
     *
     * @param mixed $kid
     */
    private function findKey($kid): ?string
    {
        if (!is_string($kid) || $kid === '') {
            return null;
        }
        $found = null;
        foreach ($this->keys as $configuredKid => $key) {
            if (hash_equals((string) $configuredKid, $kid)) {
                $found = $key;
            }
        }
        return $found;
    }

    /**
     * Step 5: Ed25519 signature over the signing input.
     */
    private static function signatureValid(string $signature, string $signingInput, string $key): bool
    {
        if (strlen($signature) !== SODIUM_CRYPTO_SIGN_BYTES) {
            return false;
        }
        try {
            return sodium_crypto_sign_verify_detached($signature, $signingInput, $key);
        } catch (\SodiumException $e) {
            return false;
        }
    }

    /**
     * Steps 6 to 11: claim presence and types, issuer, audience, time.
     *
     * @param array<string, mixed> $claims
     */
    private function checkClaims(array $claims, int $now): ?string
    {
        if (!self::claimsWellTyped($claims)) {
            return Verdict::MISSING_CLAIM;
        }
        if (!hash_equals($this->issuer, $claims['iss'])) {
            return Verdict::WRONG_ISSUER;
        }
        if (!is_string($claims['aud']) || !hash_equals($this->audience, $claims['aud'])) {
            return Verdict::WRONG_AUDIENCE;
        }
        $iat = $claims['iat'];
        $exp = $claims['exp'];
        if ($iat > $now + Verdict::SKEW_SECONDS) {
            return Verdict::NOT_YET_VALID;
        }
        if ($now >= $exp + Verdict::SKEW_SECONDS) {
            return Verdict::EXPIRED;
        }
        if ($exp - $iat > Verdict::MAX_LIFETIME_SECONDS) {
            return Verdict::LIFETIME_TOO_LONG;
        }
        return null;
    }

    /**
     * Step 6: every required claim present with the right type.
     *
     * aud may be a string or an array here; an array fails later as
     * wrong_audience. iat and exp are integers >= 0. email_verified is
     * optional but, when present, a boolean.
     *
     * @param array<string, mixed> $c
     */
    private static function claimsWellTyped(array $c): bool
    {
        foreach (['iss', 'jti', 'sid'] as $name) {
            if (!isset($c[$name]) || !is_string($c[$name])) {
                return false;
            }
        }
        foreach (['sub', 'role'] as $name) {
            if (!isset($c[$name]) || !is_string($c[$name]) || $c[$name] === '') {
                return false;
            }
        }
        if (!isset($c['aud']) || !(is_string($c['aud']) || is_array($c['aud']))) {
            return false;
        }
        // Unsigned integers, as in octogate's verifier (u64): a negative or
        // fractional time is a wrongly typed claim.
        if (!isset($c['iat'], $c['exp']) || !is_int($c['iat']) || !is_int($c['exp']) || $c['iat'] < 0 || $c['exp'] < 0) {
            return false;
        }
        // Optional; absent means false, but present must be a JSON boolean.
        if (array_key_exists('email_verified', $c) && !is_bool($c['email_verified'])) {
            return false;
        }
        if (!isset($c['superuser']) || !is_bool($c['superuser'])) {
            return false;
        }
        return isset($c['groups']) && self::isListOfStrings($c['groups']);
    }

    /**
     * @param mixed $value
     */
    private static function isListOfStrings($value): bool
    {
        if (!is_array($value)) {
            return false;
        }
        $expected = 0;
        foreach ($value as $key => $item) {
            if ($key !== $expected++ || !is_string($item)) {
                return false;
            }
        }
        return true;
    }
}
