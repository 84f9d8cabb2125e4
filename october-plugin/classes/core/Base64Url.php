<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * Strict, unpadded base64url (RFC 4648 section 5) as used by compact JWS.
 */
final class Base64Url
{
    private function __construct()
    {
    }

    /**
     * Encode bytes as unpadded base64url.
     */
    public static function encode(string $bytes): string
    {
        return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
    }

    /**
     * Decode strict unpadded base64url.
     *
     * Rejects padding, characters outside A-Z a-z 0-9 - _, impossible
     * lengths and non-canonical trailing bits.
     *
     * @return string|null the bytes, or null if the input is not strict base64url
     */
    public static function decode(string $text): ?string
    {
        if ($text === '') {
            return '';
        }
        if (preg_match('/\A[A-Za-z0-9_-]+\z/', $text) !== 1) {
            return null;
        }
        if (strlen($text) % 4 === 1) {
            return null;
        }
        $bytes = base64_decode(strtr($text, '-_', '+/'), true);
        if ($bytes === false) {
            return null;
        }
        // Canonical form only: re-encoding must give back the same text.
        if (!hash_equals(self::encode($bytes), $text)) {
            return null;
        }
        return $bytes;
    }
}
