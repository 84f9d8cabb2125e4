<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * The attributes the shim keeps in sync with the identity provider.
 *
 * A directory writing these also sets is_activated = true and
 * is_password_expired = false. It never writes the password.
 */
final class UserAttributes
{
    /** @var string|null null = leave unchanged */
    public $email;
    /** @var string|null null = leave unchanged */
    public $firstName;
    /** @var string|null null = leave unchanged */
    public $lastName;
    /** @var int */
    public $roleId;
    /** @var bool */
    public $superuser;

    public function __construct(?string $email, ?string $firstName, ?string $lastName, int $roleId, bool $superuser)
    {
        $this->email = $email;
        $this->firstName = $firstName;
        $this->lastName = $lastName;
        $this->roleId = $roleId;
        $this->superuser = $superuser;
    }
}
