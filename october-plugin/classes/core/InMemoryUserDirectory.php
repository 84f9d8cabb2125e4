<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * UserDirectory kept in arrays; for tests and for trying the core out.
 */
final class InMemoryUserDirectory implements UserDirectory
{
    /** @var array<int, array<string, mixed>> id => user row (October column names) */
    public $users = [];

    /** @var array<string, int> role code => id */
    public $roles = [];

    /** @var array<string, int> sub => user id */
    public $links = [];

    /** @var int */
    private $nextId = 1;

    /**
     * @param array<string, int> $roles role code => id
     */
    public function __construct(array $roles = [])
    {
        $this->roles = $roles;
    }

    /**
     * Add a user row as it would exist in backend_users; returns its id.
     *
     * @param array<string, mixed> $row
     */
    public function seedUser(array $row): int
    {
        $id = $this->nextId++;
        $this->users[$id] = $row + [
            'id' => $id,
            'login' => 'user' . $id,
            'email' => null,
            'first_name' => null,
            'last_name' => null,
            'password' => 'seeded-hash',
            'role_id' => null,
            'is_superuser' => false,
            'is_activated' => false,
            'is_password_expired' => false,
            'deleted_at' => null,
        ];
        $this->users[$id]['id'] = $id;
        return $id;
    }

    public function findBySub(string $sub): ?UserRecord
    {
        $id = $this->links[$sub] ?? null;
        return $id === null || !isset($this->users[$id]) ? null : $this->record($this->users[$id]);
    }

    public function usersWithEmail(string $email): array
    {
        $found = [];
        foreach ($this->users as $row) {
            if ($row['email'] !== null && EmailAddress::same((string) $row['email'], $email)) {
                $found[] = $this->record($row);
            }
        }
        return $found;
    }

    public function loginExists(string $login): bool
    {
        foreach ($this->users as $row) {
            if (strcasecmp((string) $row['login'], $login) === 0) {
                return true;
            }
        }
        return false;
    }

    public function findRoleIdByCode(string $code): ?int
    {
        return $this->roles[$code] ?? null;
    }

    public function create(string $login, UserAttributes $attributes, string $password): int
    {
        $id = $this->seedUser([
            'login' => $login,
            'password' => password_hash($password, PASSWORD_DEFAULT),
        ]);
        $this->update($id, $attributes);
        return $id;
    }

    public function update(int $userId, UserAttributes $attributes): void
    {
        $row = &$this->users[$userId];
        if ($attributes->email !== null) {
            $row['email'] = $attributes->email;
        }
        if ($attributes->firstName !== null) {
            $row['first_name'] = $attributes->firstName;
        }
        if ($attributes->lastName !== null) {
            $row['last_name'] = $attributes->lastName;
        }
        $row['role_id'] = $attributes->roleId;
        $row['is_superuser'] = $attributes->superuser;
        $row['is_activated'] = true;
        $row['is_password_expired'] = false;
    }

    public function claim(int $userId, string $password): void
    {
        $row = &$this->users[$userId];
        $row['password'] = password_hash($password, PASSWORD_DEFAULT);
        $row['persist_code'] = null;
        $row['reset_password_code'] = null;
        $row['activation_code'] = null;
    }

    public function link(string $sub, int $userId): void
    {
        $this->links[$sub] = $userId;
    }

    public function isLinked(int $userId): bool
    {
        return in_array($userId, $this->links, true);
    }

    /**
     * @param array<string, mixed> $row
     */
    private function record(array $row): UserRecord
    {
        return new UserRecord((int) $row['id'], (string) $row['login'], $row['email'], $row['deleted_at'] !== null, (bool) $row['is_superuser']);
    }

    public function atomically(callable $work)
    {
        $saved = [$this->users, $this->roles, $this->links, $this->nextId];
        try {
            return $work();
        } catch (\Throwable $e) {
            [$this->users, $this->roles, $this->links, $this->nextId] = $saved;
            throw $e;
        }
    }
}
