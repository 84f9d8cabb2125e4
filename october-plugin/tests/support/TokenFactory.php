<?php

declare(strict_types=1);

namespace Octogate\Sso\Tests\Support;

use Octogate\Sso\Classes\Core\AssertionVerifier;
use Octogate\Sso\Classes\Core\Base64Url;

/**
 * Signs test assertions the way octogate does.
 */
final class TokenFactory
{
    public const ISSUER = 'https://site1.example.com';
    public const AUDIENCE = 'site1';
    public const NOW = 1767225600;

    /** @var string */
    public $secretKey;
    /** @var string */
    public $publicKey;
    /** @var string */
    public $kid;

    public function __construct(string $label = 'tests')
    {
        $kp = sodium_crypto_sign_seed_keypair(hash('sha256', 'octogate unit test key ' . $label, true));
        $this->secretKey = sodium_crypto_sign_secretkey($kp);
        $this->publicKey = sodium_crypto_sign_publickey($kp);
        $this->kid = AssertionVerifier::kidFor($this->publicKey);
    }

    public function publicKeyBase64(): string
    {
        return base64_encode($this->publicKey);
    }

    /**
     * @param array<string, mixed> $overrides claims to change (null removes)
     */
    public function token(array $overrides = []): string
    {
        $claims = array_merge(self::claims(), $overrides);
        $claims = array_filter($claims, static function ($v): bool {
            return $v !== null;
        });
        $input = Base64Url::encode(json_encode(['alg' => 'EdDSA', 'typ' => 'octogate-assertion+jwt', 'kid' => $this->kid], JSON_THROW_ON_ERROR))
            . '.' . Base64Url::encode(json_encode($claims, JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR));
        return $input . '.' . Base64Url::encode(sodium_crypto_sign_detached($input, $this->secretKey));
    }

    /**
     * @return array<string, mixed>
     */
    public static function claims(): array
    {
        return [
            'iss' => self::ISSUER,
            'aud' => self::AUDIENCE,
            'sub' => 'okta-sub-ada',
            'email' => 'ada@example.com',
            'email_verified' => true,
            'name' => 'Ada King Lovelace',
            'preferred_username' => 'ada',
            'groups' => ['cms-admins'],
            'role' => 'developer',
            'superuser' => false,
            'sid' => 'sid-one',
            'iat' => self::NOW - 5,
            'exp' => self::NOW + 295,
            'jti' => 'jti-' . bin2hex(random_bytes(4)),
        ];
    }
}
