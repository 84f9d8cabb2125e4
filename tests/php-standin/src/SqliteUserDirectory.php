<?php

declare(strict_types=1);

namespace Octogate\Standin;

use Octogate\Sso\Classes\Core\EmailAddress;
use Octogate\Sso\Classes\Core\UserAttributes;
use Octogate\Sso\Classes\Core\UserDirectory;
use Octogate\Sso\Classes\Core\UserRecord;
use PDO;

/**
 * UserDirectory on SQLite tables shaped like October's backend_users,
 * backend_user_roles and the shim's octogate_sso_identities.
 */
final class SqliteUserDirectory implements UserDirectory
{
    /** @var PDO */
    private $pdo;

    public function __construct(PDO $pdo)
    {
        $this->pdo = $pdo;
    }

    /**
     * Open (and on first use create and seed) the database at $path.
     */
    public static function open(string $path): PDO
    {
        $pdo = new PDO('sqlite:' . $path, null, null, [PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
        $pdo->exec('PRAGMA busy_timeout = 5000');
        self::migrate($pdo);
        return $pdo;
    }

    private static function migrate(PDO $pdo): void
    {
        $pdo->exec('CREATE TABLE IF NOT EXISTS backend_user_roles (
            id INTEGER PRIMARY KEY, name TEXT NOT NULL, code TEXT UNIQUE NOT NULL)');
        $pdo->exec('CREATE TABLE IF NOT EXISTS backend_users (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            first_name TEXT, last_name TEXT,
            login TEXT NOT NULL UNIQUE COLLATE NOCASE,
            email TEXT NOT NULL UNIQUE COLLATE NOCASE,
            password TEXT NOT NULL,
            role_id INTEGER,
            is_activated INTEGER NOT NULL DEFAULT 0,
            is_superuser INTEGER NOT NULL DEFAULT 0,
            is_password_expired INTEGER NOT NULL DEFAULT 0,
            created_at TEXT, updated_at TEXT, deleted_at TEXT)');
        $pdo->exec('CREATE TABLE IF NOT EXISTS octogate_sso_identities (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            sub TEXT NOT NULL UNIQUE, user_id INTEGER NOT NULL,
            created_at TEXT, updated_at TEXT)');
        if ((int) $pdo->query('SELECT COUNT(*) FROM backend_user_roles')->fetchColumn() > 0) {
            return; // already seeded
        }
        $pdo->exec("INSERT OR IGNORE INTO backend_user_roles (id, name, code) VALUES
            (1, 'Developer', 'developer'), (2, 'Publisher', 'publisher'), (3, 'Editor', 'editor')");
        $now = date('Y-m-d H:i:s');
        $seed = $pdo->prepare('INSERT OR IGNORE INTO backend_users
            (login, email, first_name, last_name, password, role_id, is_activated, created_at, updated_at, deleted_at)
            VALUES (?, ?, ?, ?, ?, 3, 1, ?, ?, ?)');
        // A soft-deleted user: signing in as gone@example.com must be refused.
        $seed->execute(['gone', 'gone@example.com', 'Gone', 'User', password_hash('gone-password', PASSWORD_DEFAULT), $now, $now, $now]);
        // A pre-existing user: signing in as existing@example.com links to it and replaces its password.
        $seed->execute(['existing', 'existing@example.com', 'Existing', 'User', password_hash('existing-password', PASSWORD_DEFAULT), $now, $now, null]);
    }

    public function findBySub(string $sub): ?UserRecord
    {
        // Candidates from SQL, the match decided byte for byte here (as the
        // October adapter does; see DbSubLinkStore).
        // A link older than its account points at a reused id (see OctoberUserDirectory).
        foreach ($this->all('SELECT u.*, i.sub AS linked_sub FROM octogate_sso_identities i JOIN backend_users u ON u.id = i.user_id
            WHERE i.sub = ? AND (u.created_at IS NULL OR i.updated_at IS NULL OR u.created_at <= i.updated_at)', [$sub]) as $row) {
            if (hash_equals((string) $row['linked_sub'], $sub)) {
                return self::record($row);
            }
        }
        return null;
    }

    public function usersWithEmail(string $email): array
    {
        $found = [];
        foreach ($this->all('SELECT * FROM backend_users WHERE lower(email) = lower(?)', [$email]) as $row) {
            if (EmailAddress::same((string) $row['email'], $email)) {
                $found[] = self::record($row);
            }
        }
        return $found;
    }

    public function loginExists(string $login): bool
    {
        return $this->one('SELECT id FROM backend_users WHERE lower(login) = lower(?)', [$login]) !== null;
    }

    public function findRoleIdByCode(string $code): ?int
    {
        $row = $this->one('SELECT id FROM backend_user_roles WHERE code = ?', [$code]);
        return $row === null ? null : (int) $row['id'];
    }

    public function create(string $login, UserAttributes $attributes, string $password): int
    {
        $now = date('Y-m-d H:i:s');
        $this->pdo->prepare('INSERT INTO backend_users (login, email, password, created_at, updated_at) VALUES (?, ?, ?, ?, ?)')
            ->execute([$login, (string) $attributes->email, password_hash($password, PASSWORD_DEFAULT), $now, $now]);
        $id = (int) $this->pdo->lastInsertId();
        $this->update($id, $attributes);
        return $id;
    }

    public function update(int $userId, UserAttributes $attributes): void
    {
        $sql = 'UPDATE backend_users SET role_id = ?, is_superuser = ?, is_activated = 1, is_password_expired = 0, updated_at = ?';
        $args = [$attributes->roleId, $attributes->superuser ? 1 : 0, date('Y-m-d H:i:s')];
        foreach (['email' => $attributes->email, 'first_name' => $attributes->firstName, 'last_name' => $attributes->lastName] as $col => $value) {
            if ($value !== null) {
                $sql .= ", $col = ?";
                $args[] = $value;
            }
        }
        $args[] = $userId;
        $this->pdo->prepare($sql . ' WHERE id = ?')->execute($args);
    }

    public function claim(int $userId, string $password): void
    {
        // The stand-in schema has no remember-me or reset codes: only the password.
        $this->pdo->prepare('UPDATE backend_users SET password = ?, updated_at = ? WHERE id = ?')
            ->execute([password_hash($password, PASSWORD_DEFAULT), date('Y-m-d H:i:s'), $userId]);
    }

    public function link(string $sub, int $userId): void
    {
        $now = date('Y-m-d H:i:s');
        $this->pdo->prepare('INSERT INTO octogate_sso_identities (sub, user_id, created_at, updated_at) VALUES (?, ?, ?, ?)
            ON CONFLICT(sub) DO UPDATE SET user_id = excluded.user_id, updated_at = excluded.updated_at')
            ->execute([$sub, $userId, $now, $now]);
    }

    public function isLinked(int $userId): bool
    {
        return $this->one('SELECT id FROM octogate_sso_identities WHERE user_id = ?', [$userId]) !== null;
    }

    /**
     * A backend_users row with its role code, or null.
     *
     * @return array<string, mixed>|null
     */
    public function userRow(int $id): ?array
    {
        return $this->one('SELECT u.*, r.code AS role_code FROM backend_users u LEFT JOIN backend_user_roles r ON r.id = u.role_id
            WHERE u.id = ? AND u.deleted_at IS NULL', [$id]);
    }

    /**
     * @param list<mixed> $args
     * @return list<array<string, mixed>>
     */
    private function all(string $sql, array $args): array
    {
        $stmt = $this->pdo->prepare($sql);
        $stmt->execute($args);
        return $stmt->fetchAll(PDO::FETCH_ASSOC);
    }

    /**
     * @param list<mixed> $args
     * @return array<string, mixed>|null
     */
    private function one(string $sql, array $args): ?array
    {
        $stmt = $this->pdo->prepare($sql);
        $stmt->execute($args);
        $row = $stmt->fetch(PDO::FETCH_ASSOC);
        return $row === false ? null : $row;
    }

    /**
     * @param array<string, mixed> $row
     */
    private static function record(array $row): UserRecord
    {
        return new UserRecord((int) $row['id'], (string) $row['login'], $row['email'], $row['deleted_at'] !== null, ((int) $row['is_superuser']) === 1);
    }

    public function atomically(callable $work)
    {
        if ($this->pdo->inTransaction()) {
            return $work();
        }
        $this->pdo->beginTransaction();
        try {
            $result = $work();
            $this->pdo->commit();
            return $result;
        } catch (\Throwable $e) {
            $this->pdo->rollBack();
            throw $e;
        }
    }
}
