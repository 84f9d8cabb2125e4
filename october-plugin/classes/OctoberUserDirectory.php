<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

use Backend\Models\User;
use Backend\Models\UserRole;
use Db;
use Octogate\Sso\Classes\Core\EmailAddress;
use Octogate\Sso\Classes\Core\UserAttributes;
use Octogate\Sso\Classes\Core\UserDirectory;
use Octogate\Sso\Classes\Core\UserRecord;
use Schema;

/**
 * UserDirectory on October's Backend\Models\User (backend_users).
 *
 * Lookups use withTrashed() so soft-deleted users are seen (and refused by
 * the provisioner) instead of duplicated. Writes use forceSave(), which skips
 * the model's validation (password confirmation etc.). The password column
 * is only ever written on create and when an account is claimed for SSO.
 * Columns that only some October versions have (is_password_expired,
 * password_changed_at: v3) are written only where they exist.
 */
final class OctoberUserDirectory implements UserDirectory
{
    /** @var SubLinkStore */
    private $links;

    /** @var array<string, bool> column => exists in backend_users (per PHP process: per request under PHP-FPM) */
    private static $columns = [];

    public function __construct(?SubLinkStore $links = null)
    {
        $this->links = $links ?? new DbSubLinkStore();
    }

    public function findBySub(string $sub): ?UserRecord
    {
        $link = $this->links->linkForSub($sub);
        if ($link === null) {
            return null;
        }
        [$id, $linkedAt] = $link;
        $user = User::withTrashed()->find($id);
        if ($user === null) {
            return null;
        }
        // A link older than its account points at an id that was reused after
        // the linked account was deleted for good (MySQL before 8 hands out a
        // deleted top id again after a restart): that account belongs to
        // someone else, so the sub counts as unlinked (and is re-linked).
        $createdAt = self::unixTime($user->created_at ?? null);
        if ($linkedAt !== null && $createdAt !== null && $createdAt > $linkedAt) {
            return null;
        }
        return self::record($user);
    }

    /**
     * @param mixed $value a Carbon/DateTime or a 'Y-m-d H:i:s' string
     */
    private static function unixTime($value): ?int
    {
        if ($value instanceof \DateTimeInterface) {
            return $value->getTimestamp();
        }
        $t = is_string($value) && $value !== '' ? strtotime($value) : false;
        return $t === false ? null : $t;
    }

    /**
     * The database only supplies candidates: under a MySQL *_ci or
     * accent-insensitive collation "victim@exämple.com" = "victim@example.com".
     * The match itself is decided here, exactly after ASCII lower-casing.
     * Candidates are asked for under both lower-casings a database may use
     * for LOWER() (Unicode in MySQL; ASCII only in SQLite and PostgreSQL's C
     * collation), so "ÉLODIE@…" is found for "Élodie@…" everywhere.
     */
    public function usersWithEmail(string $email): array
    {
        $matches = [];
        foreach (array_unique([mb_strtolower($email), EmailAddress::normalise($email)]) as $key) {
            foreach (User::withTrashed()->whereRaw('LOWER(email) = ?', [$key])->get() as $user) {
                if (EmailAddress::same((string) $user->email, $email)) {
                    $matches[(int) $user->id] = $user;
                }
            }
        }
        return array_values(array_map([self::class, 'record'], $matches));
    }

    public function loginExists(string $login): bool
    {
        return User::withTrashed()->whereRaw('LOWER(login) = ?', [mb_strtolower($login)])->first() !== null;
    }

    public function findRoleIdByCode(string $code): ?int
    {
        $role = UserRole::where('code', $code)->first();
        return $role === null ? null : (int) $role->id;
    }

    public function create(string $login, UserAttributes $attributes, string $password): int
    {
        $user = new User();
        $user->login = $login;
        $user->password = $password;
        $user->password_confirmation = $password;
        self::apply($user, $attributes);
        $user->forceSave();
        return (int) $user->id;
    }

    public function update(int $userId, UserAttributes $attributes): void
    {
        $user = User::withTrashed()->find($userId);
        if ($user === null) {
            return;
        }
        self::apply($user, $attributes);
        $user->forceSave();
    }

    public function claim(int $userId, string $password): void
    {
        $user = User::withTrashed()->find($userId);
        if ($user === null) {
            return;
        }
        $user->password = $password;
        $user->password_confirmation = $password;
        self::passwordChanged($user);
        $user->persist_code = null;
        $user->reset_password_code = null;
        $user->activation_code = null;
        $user->forceSave();
    }

    public function link(string $sub, int $userId): void
    {
        $this->links->link($sub, $userId);
    }

    public function isLinked(int $userId): bool
    {
        return $this->links->isLinked($userId);
    }

    /**
     * Set the synced attributes. Never the password. The user's own
     * permission overrides are cleared: October merges them over the role's,
     * so a grant made by hand (or left on an account linked by email) would
     * outlive the role Okta's groups give.
     */
    private static function apply(User $user, UserAttributes $attributes): void
    {
        if ($attributes->email !== null) {
            $user->email = $attributes->email;
        }
        if ($attributes->firstName !== null) {
            $user->first_name = $attributes->firstName;
        }
        if ($attributes->lastName !== null) {
            $user->last_name = $attributes->lastName;
        }
        $user->role_id = $attributes->roleId;
        $user->permissions = [];
        $user->is_superuser = $attributes->superuser;
        $user->is_activated = true;
        if (self::hasColumn($user, 'is_password_expired')) {
            $user->is_password_expired = false;
        }
        self::passwordChanged($user);
    }

    /**
     * October v3 can expire passwords by age: an SSO account's password is
     * unusable by design, so its age must never send the user to the
     * "password expired" screen (written at every sync and claim).
     */
    private static function passwordChanged(User $user): void
    {
        if (self::hasColumn($user, 'password_changed_at')) {
            $user->password_changed_at = date('Y-m-d H:i:s');
        }
    }

    /**
     * Whether backend_users has the column (asked once per PHP process,
     * i.e. at most twice per sign-in or sync under PHP-FPM).
     */
    private static function hasColumn(User $user, string $column): bool
    {
        if (!isset(self::$columns[$column])) {
            self::$columns[$column] = (bool) Schema::hasColumn($user->getTable(), $column);
        }
        return self::$columns[$column];
    }

    /**
     * Test hook: forget what hasColumn() learnt.
     */
    public static function forgetColumns(): void
    {
        self::$columns = [];
    }

    public function atomically(callable $work)
    {
        return Db::transaction(static function () use ($work) {
            return $work();
        });
    }

    private static function record(User $user): UserRecord
    {
        return new UserRecord((int) $user->id, (string) $user->login, $user->email, (bool) $user->trashed(), (bool) $user->is_superuser);
    }
}
