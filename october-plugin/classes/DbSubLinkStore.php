<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

use Db;

/**
 * SubLinkStore on October's database (table octogate_sso_identities).
 *
 * A sub is an opaque, case-sensitive identifier. The sub column is binary
 * on MySQL (updates/make_sub_case_sensitive.php), but lookups do not rely
 * on the collation: the database supplies candidates, and a row counts
 * only if its sub is byte-for-byte the one asked for.
 */
final class DbSubLinkStore implements SubLinkStore
{
    public const TABLE = 'octogate_sso_identities';

    public function linkForSub(string $sub): ?array
    {
        $row = $this->exactRow($sub);
        if ($row === null) {
            return null;
        }
        $at = strtotime((string) ($row->updated_at ?? $row->created_at ?? ''));
        return [(int) $row->user_id, $at === false ? null : $at];
    }

    public function link(string $sub, int $userId): void
    {
        $now = date('Y-m-d H:i:s');
        $row = $this->exactRow($sub);
        if ($row !== null) {
            Db::table(self::TABLE)->where('id', $row->id)->update(['user_id' => $userId, 'updated_at' => $now]);
            return;
        }
        // Under a case-insensitive unique index a case variant of a linked
        // sub makes this fail (fail closed); it never re-points that row.
        Db::table(self::TABLE)->insert(['sub' => $sub, 'user_id' => $userId, 'created_at' => $now, 'updated_at' => $now]);
    }

    public function isLinked(int $userId): bool
    {
        return Db::table(self::TABLE)->where('user_id', $userId)->exists();
    }

    /**
     * @return object|null the row whose sub is exactly $sub
     */
    private function exactRow(string $sub)
    {
        foreach (Db::table(self::TABLE)->where('sub', $sub)->get() as $row) {
            if (is_string($row->sub) && hash_equals($row->sub, $sub)) {
                return $row;
            }
        }
        return null;
    }
}
