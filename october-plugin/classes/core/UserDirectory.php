<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * Storage of backend users and of the sub → user link, as needed by
 * IdentityProvisioner. Lookups include soft-deleted users (reported through
 * UserRecord::$deleted) so that they can be refused rather than duplicated.
 */
interface UserDirectory
{
    /**
     * The user linked to an identity-provider subject, including trashed
     * users; null if no link exists or the linked user is gone for good.
     */
    public function findBySub(string $sub): ?UserRecord;

    /**
     * Every user with this email (ASCII case-insensitive, see EmailAddress),
     * including trashed users. More than one is a conflict the provisioner
     * refuses.
     *
     * @return list<UserRecord>
     */
    public function usersWithEmail(string $email): array;

    /**
     * Whether a login is taken (case-insensitive), including trashed users.
     */
    public function loginExists(string $login): bool;

    /**
     * The id of the backend role with this code, or null.
     */
    public function findRoleIdByCode(string $code): ?int;

    /**
     * Create a user with the given login, attributes and (plain) password,
     * bypassing validation (October: forceSave). Returns the new id.
     */
    public function create(string $login, UserAttributes $attributes, string $password): int;

    /**
     * Write the synced attributes, is_activated = true and (where October
     * has the column) is_password_expired = false. Must never touch the
     * password.
     */
    public function update(int $userId, UserAttributes $attributes): void;

    /**
     * Make an existing account usable only through SSO: replace its password
     * with $password (random, told to nobody) and forget its remember-me
     * token and any pending password-reset or activation code. Called before
     * an account that predates SSO is linked by email: whoever created it
     * (and so may know its password or hold a reset link) keeps nothing.
     */
    public function claim(int $userId, string $password): void;

    /**
     * Link a subject to a user id (replacing any earlier link of that sub).
     */
    public function link(string $sub, int $userId): void;

    /**
     * Whether any subject is linked to this user id (a row in the sub-link
     * table). Linking by email is only for accounts that predate SSO, i.e.
     * accounts for which this is false.
     */
    public function isLinked(int $userId): bool;

    /**
     * Run $work so that all of its writes happen or none does (October: a
     * database transaction), and return what it returns. Whatever $work
     * throws is rethrown after its writes are undone: a provisioning that
     * fails half-way (an account claimed but not linked, a user created but
     * its role not set) leaves nothing behind.
     *
     * @template T
     * @param callable(): T $work
     * @return T
     */
    public function atomically(callable $work);
}
