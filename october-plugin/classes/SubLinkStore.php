<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

/**
 * The sub → backend user id mapping (table octogate_sso_identities).
 */
interface SubLinkStore
{
    /**
     * The user the sub is linked to and when it was last linked (pointed at
     * that user) as a unix time (null when unknown); null if not linked.
     *
     * @return array{0: int, 1: ?int}|null
     */
    public function linkForSub(string $sub): ?array;

    public function link(string $sub, int $userId): void;

    /**
     * Whether any sub is linked to this backend user id.
     */
    public function isLinked(int $userId): bool;
}
