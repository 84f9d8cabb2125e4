<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

/**
 * The sub → backend user id mapping (table octogate_sso_identities).
 */
interface SubLinkStore
{
    public function userIdForSub(string $sub): ?int;

    /**
     * When the sub was last linked (pointed at its user), as a unix time;
     * null if it is not linked or the time is unknown.
     */
    public function linkedAt(string $sub): ?int;

    public function link(string $sub, int $userId): void;

    /**
     * Whether any sub is linked to this backend user id.
     */
    public function isLinked(int $userId): bool;
}
