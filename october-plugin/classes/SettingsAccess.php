<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

use Octogate\Sso\Classes\Core\ShimConfig;
use RuntimeException;

/**
 * Who may see and change the shim's settings: superusers only. Whoever can
 * set the public keys can sign assertions for any user, superusers
 * included, so the page is as powerful as a superuser account. A role
 * permission is not enough (October grants stored role permissions even
 * when they are no longer registered).
 */
final class SettingsAccess
{
    /**
     * @param mixed $user Backend\Models\User or null
     */
    public static function mayManage($user): bool
    {
        return $user !== null && (bool) $user->is_superuser;
    }

    /**
     * @param mixed $user Backend\Models\User or null
     * @param bool $console artisan / CLI (no backend user; the operator has the server)
     * @throws RuntimeException (ApplicationException in October) unless allowed
     */
    public static function assertMayManage($user, bool $console): void
    {
        if ($console || self::mayManage($user)) {
            return;
        }
        $message = 'Only a superuser may change the Octogate SSO settings.';
        if (class_exists('ApplicationException')) {
            throw new \ApplicationException($message);
        }
        throw new RuntimeException($message);
    }

    /**
     * Whether the public keys come from the environment (OCTOGATE_PUBLIC_KEYS
     * set, even to ""): then the stored setting is ignored and the field is
     * read-only.
     */
    public static function keysFromEnv(): bool
    {
        return ShimConfig::envValue('OCTOGATE_PUBLIC_KEYS') !== null;
    }
}
