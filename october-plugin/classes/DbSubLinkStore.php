<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

use Db;

/**
 * SubLinkStore on October's database (table octogate_sso_identities).
 */
final class DbSubLinkStore implements SubLinkStore
{
    public const TABLE = 'octogate_sso_identities';

    public function userIdForSub(string $sub): ?int
    {
        $row = Db::table(self::TABLE)->where('sub', $sub)->first();
        return $row === null ? null : (int) $row->user_id;
    }

    public function link(string $sub, int $userId): void
    {
        $now = date('Y-m-d H:i:s');
        $exists = Db::table(self::TABLE)->where('sub', $sub)->exists();
        if ($exists) {
            Db::table(self::TABLE)->where('sub', $sub)->update(['user_id' => $userId, 'updated_at' => $now]);
            return;
        }
        Db::table(self::TABLE)->insert(['sub' => $sub, 'user_id' => $userId, 'created_at' => $now, 'updated_at' => $now]);
    }

    public function isLinked(int $userId): bool
    {
        return Db::table(self::TABLE)->where('user_id', $userId)->exists();
    }
}
