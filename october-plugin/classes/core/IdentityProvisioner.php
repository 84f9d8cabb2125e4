<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * Maps an Identity to a backend user id: by linked sub, else by email (and
 * links it; only for an email_verified identity and never to a superuser
 * account: email_link_refused), else creates a user. Syncs name, email,
 * role and superuser. Refuses soft-deleted users. Never sets the password
 * of an existing user.
 */
final class IdentityProvisioner
{
    /** Longest login October accepts. */
    private const MAX_LOGIN = 255;

    /** @var UserDirectory */
    private $directory;

    public function __construct(UserDirectory $directory)
    {
        $this->directory = $directory;
    }

    /**
     * @return int the backend user id
     * @throws ProvisioningException
     */
    public function provision(Identity $identity): int
    {
        $roleId = $this->directory->findRoleIdByCode($identity->role);
        if ($roleId === null) {
            throw new ProvisioningException(
                ProvisioningException::UNKNOWN_ROLE,
                sprintf('The backend role "%s" does not exist on this site.', $identity->role)
            );
        }
        [$first, $last] = $identity->splitName();
        $attributes = new UserAttributes($identity->email, $first, $last, $roleId, $identity->superuser);

        $user = $this->directory->findBySub($identity->sub);
        if ($user === null && $identity->email !== null) {
            $user = $this->directory->findByEmail($identity->email);
            if ($user !== null) {
                self::refuseEmailLink($identity, $user);
                $this->directory->link($identity->sub, $user->id);
            }
        }

        if ($user === null) {
            return $this->create($identity, $attributes);
        }
        self::refuseDeleted($user);
        $this->checkEmailFree($attributes->email, $user->id);
        $this->directory->update($user->id, $attributes);
        return $user->id;
    }

    /**
     * A first sign-in may take over an existing account by email only if
     * the identity provider verified that email, and never a superuser
     * account (an administrator links those by hand).
     */
    private static function refuseEmailLink(Identity $identity, UserRecord $user): void
    {
        if (!$identity->emailVerified) {
            throw new ProvisioningException(
                ProvisioningException::EMAIL_LINK_REFUSED,
                'A backend account with this email address already exists, and the identity provider did not mark the address as verified; an administrator must link the account.'
            );
        }
        self::refuseDeleted($user);
        if ($user->superuser) {
            throw new ProvisioningException(
                ProvisioningException::EMAIL_LINK_REFUSED,
                'A superuser backend account with this email address already exists; superuser accounts are never linked by email. An administrator must link the account.'
            );
        }
    }

    private static function refuseDeleted(UserRecord $user): void
    {
        if ($user->deleted) {
            throw new ProvisioningException(
                ProvisioningException::USER_DELETED,
                'This backend account has been deleted; an administrator must restore it before it can sign in.'
            );
        }
    }

    /**
     * An email change must not collide with another user's email.
     */
    private function checkEmailFree(?string $email, int $userId): void
    {
        if ($email === null) {
            return;
        }
        $other = $this->directory->findByEmail($email);
        if ($other !== null && $other->id !== $userId) {
            throw new ProvisioningException(
                ProvisioningException::EMAIL_CONFLICT,
                'Another backend account already uses this email address.'
            );
        }
    }

    private function create(Identity $identity, UserAttributes $attributes): int
    {
        if ($identity->email === null) {
            throw new ProvisioningException(
                ProvisioningException::MISSING_EMAIL,
                'The identity provider sent no email address; a backend account cannot be created.'
            );
        }
        $login = $this->uniqueLogin($identity->preferredUsername ?? $identity->email);
        $id = $this->directory->create($login, $attributes, self::unusablePassword());
        $this->directory->link($identity->sub, $id);
        return $id;
    }

    /**
     * The wanted login, or the first free "login-N" variant of it.
     */
    private function uniqueLogin(string $wanted): string
    {
        $base = substr(trim($wanted), 0, self::MAX_LOGIN - 12);
        if (strlen($base) < 2) {
            $base = 'user-' . $base;
        }
        if (!$this->directory->loginExists($base)) {
            return $base;
        }
        for ($n = 2; $n <= 100; $n++) {
            if (!$this->directory->loginExists($base . '-' . $n)) {
                return $base . '-' . $n;
            }
        }
        return $base . '-' . bin2hex(random_bytes(5));
    }

    /**
     * A random password nobody knows: 64 hex chars from random_bytes.
     */
    public static function unusablePassword(): string
    {
        return bin2hex(random_bytes(32));
    }
}
