<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * How the shim compares email addresses: exactly, after lower-casing ASCII
 * letters only. Any non-ASCII byte must match byte for byte, so
 * "victim@exämple.com" never equals "victim@example.com", whatever the
 * database collation (MySQL *_ci / accent-insensitive) would say.
 */
final class EmailAddress
{
    public static function normalise(string $email): string
    {
        // strtr, not strtolower: independent of locale and PHP version.
        return strtr($email, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz');
    }

    public static function same(?string $a, ?string $b): bool
    {
        if ($a === null || $b === null) {
            return false;
        }
        return hash_equals(self::normalise($a), self::normalise($b));
    }
}
