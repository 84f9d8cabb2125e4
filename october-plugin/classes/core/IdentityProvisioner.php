<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * Maps an Identity to a backend user id: by linked sub, else by email (and
 * links it; only for an email_verified identity, never to a superuser
 * account and never to an account that already has a linked sub:
 * email_link_refused), else creates a user (only for an email_verified
 * identity: email_unverified). Syncs name, email (only a verified one),
 * role and superuser. Refuses soft-deleted users. Sets the password of an
 * existing user only when it links it by email (a random one: see
 * UserDirectory::claim), never afterwards.
 */
final class IdentityProvisioner
{
    /** Longest login October accepts. */
    private const MAX_LOGIN = 255;

    /** @var UserDirectory */
    private $directory;
    /** @var callable(string, array<string, mixed>): void */
    private $log;

    /**
     * @param callable(string, array<string, mixed>): void|null $log
     *        receives notable events (message, context; never a token)
     */
    public function __construct(UserDirectory $directory, ?callable $log = null)
    {
        $this->directory = $directory;
        $this->log = $log ?? static function (string $message, array $context): void {
        };
    }

    /**
     * The id of the (non-deleted) user linked to this sub right now, or null.
     * The Gate asks this on every request, so a session stays attached to an
     * account only while the account is the one linked to the asserted sub.
     */
    public function linkedUserId(string $sub): ?int
    {
        $user = $this->directory->findBySub($sub);
        return $user === null || $user->deleted ? null : $user->id;
    }

    /**
     * Whether the user is linked to an Okta subject (signs in through
     * octogate). Break-glass is for local emergency accounts only.
     */
    public function isSsoUser(int $userId): bool
    {
        return $this->directory->isLinked($userId);
    }

    /**
     * @return int the backend user id
     * @throws ProvisioningException
     */
    public function provision(Identity $identity): int
    {
        // All or nothing: a failure after the claim (a conflict, a database
        // error) must not leave a claimed, linked or half-updated account.
        return $this->directory->atomically(function () use ($identity): int {
            return $this->provisionNow($identity);
        });
    }

    /**
     * @throws ProvisioningException
     */
    private function provisionNow(Identity $identity): int
    {
        $roleId = $this->directory->findRoleIdByCode($identity->role);
        if ($roleId === null) {
            throw new ProvisioningException(
                ProvisioningException::UNKNOWN_ROLE,
                sprintf('The backend role "%s" does not exist on this site.', $identity->role)
            );
        }
        [$first, $last] = $identity->splitName();

        $user = $this->directory->findBySub($identity->sub);
        if ($user === null && $identity->email !== null) {
            $user = $this->userWithEmail($identity->email);
            if ($user !== null) {
                $this->refuseEmailLink($identity, $user);
                // Claimed before it is linked (and both undone together if
                // anything later fails): never a linked account with a
                // password someone else set.
                $this->directory->claim($user->id, self::unusablePassword());
                $this->directory->link($identity->sub, $user->id);
            }
        }

        if ($user === null) {
            return $this->create($identity, new UserAttributes($identity->email, $first, $last, $roleId, $identity->superuser));
        }
        self::refuseDeleted($user);
        $email = $this->emailToSync($identity, $user);
        $this->checkEmailFree($email, $user->id);
        $this->directory->update($user->id, new UserAttributes($email, $first, $last, $roleId, $identity->superuser));
        return $user->id;
    }

    /**
     * The email to write onto an existing user: the asserted one only if the
     * identity provider verified it; an unverified change is ignored (the
     * old email is kept) and logged.
     */
    private function emailToSync(Identity $identity, UserRecord $user): ?string
    {
        if ($identity->email === null) {
            return null;
        }
        if ($identity->emailVerified) {
            return $identity->email;
        }
        if (!EmailAddress::same($identity->email, $user->email)) {
            ($this->log)('unverified email change ignored; the backend account keeps its email', [
                'user_id' => $user->id,
            ]);
        }
        return null;
    }

    /**
     * A first sign-in may take over an existing account by email only if
     * the identity provider verified that email, never a superuser account
     * (an administrator links those by hand), and only an account that no
     * sub is linked to yet (one that predates SSO): an account created or
     * linked by SSO belongs to its sub, whatever email it carries.
     */
    private function refuseEmailLink(Identity $identity, UserRecord $user): void
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
        if ($this->directory->isLinked($user->id)) {
            ($this->log)('email link refused: the account with this email is already linked to another identity', [
                'user_id' => $user->id,
            ]);
            throw new ProvisioningException(
                ProvisioningException::EMAIL_LINK_REFUSED,
                'A backend account with this email address already belongs to another single sign-on identity; an administrator must resolve this.'
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
     * The one user with this email, or null. Two or more are a conflict,
     * never a pick.
     *
     * @throws ProvisioningException email_conflict
     */
    private function userWithEmail(string $email): ?UserRecord
    {
        $users = $this->directory->usersWithEmail($email);
        if (count($users) > 1) {
            throw new ProvisioningException(
                ProvisioningException::EMAIL_CONFLICT,
                'More than one backend account uses this email address.'
            );
        }
        return $users[0] ?? null;
    }

    /**
     * An email change must not collide with another user's email.
     */
    private function checkEmailFree(?string $email, int $userId): void
    {
        if ($email === null) {
            return;
        }
        $other = $this->userWithEmail($email);
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
        if (!$identity->emailVerified) {
            throw new ProvisioningException(
                ProvisioningException::EMAIL_UNVERIFIED,
                'The identity provider did not mark the email address as verified; a backend account is only created for a verified address.'
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
        // Cut by bytes at a character boundary: a cut inside a UTF-8
        // character would be an invalid login the database refuses.
        $base = mb_strcut(trim($wanted), 0, self::MAX_LOGIN - 12, 'UTF-8');
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
