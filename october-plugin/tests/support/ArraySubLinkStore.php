<?php

declare(strict_types=1);

namespace Octogate\Sso\Tests\Support;

use Octogate\Sso\Classes\SubLinkStore;

/**
 * SubLinkStore in an array, standing in for the octogate_sso_identities table.
 */
final class ArraySubLinkStore implements SubLinkStore
{
    /** @var array<string, int> */
    public $links = [];
    /** @var array<string, int> when each sub was last linked (unix time) */
    public $linkedAt = [];

    public function linkForSub(string $sub): ?array
    {
        return isset($this->links[$sub]) ? [$this->links[$sub], $this->linkedAt[$sub] ?? null] : null;
    }

    public function link(string $sub, int $userId): void
    {
        $this->links[$sub] = $userId;
        $this->linkedAt[$sub] = time();
    }

    public function isLinked(int $userId): bool
    {
        return in_array($userId, $this->links, true);
    }
}
