<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * A backend user as seen by the provisioner (no password, ever).
 */
final class UserRecord
{
    /** @var int */
    public $id;
    /** @var string */
    public $login;
    /** @var string|null */
    public $email;
    /** @var bool true if the user is soft-deleted (trashed) */
    public $deleted;
    /** @var bool is_superuser */
    public $superuser;

    public function __construct(int $id, string $login, ?string $email, bool $deleted, bool $superuser)
    {
        $this->id = $id;
        $this->login = $login;
        $this->email = $email;
        $this->deleted = $deleted;
        $this->superuser = $superuser;
    }
}
