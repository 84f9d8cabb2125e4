<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

/**
 * The sub → backend user id mapping (table octogate_sso_identities).
 */
interface SubLinkStore
{
    public function userIdForSub(string $sub): ?int;

    public function link(string $sub, int $userId): void;

    /**
     * Whether any sub is linked to this backend user id.
     */
    public function isLinked(int $userId): bool;
}
