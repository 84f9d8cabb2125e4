<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * The signed-in person, as asserted by octogate (verified claims only).
 */
final class Identity
{
    /** @var string */
    public $sub;
    /** @var string|null */
    public $email;
    /** @var bool the email_verified claim; false when absent */
    public $emailVerified;
    /** @var string|null */
    public $name;
    /** @var string|null */
    public $preferredUsername;
    /** @var list<string> */
    public $groups;
    /** @var string October role code */
    public $role;
    /** @var bool */
    public $superuser;
    /** @var string octogate session id */
    public $sid;

    /**
     * @param list<string> $groups
     */
    public function __construct(
        string $sub,
        ?string $email,
        ?string $name,
        ?string $preferredUsername,
        array $groups,
        string $role,
        bool $superuser,
        string $sid,
        bool $emailVerified = false
    ) {
        $this->sub = $sub;
        $this->email = $email;
        $this->name = $name;
        $this->preferredUsername = $preferredUsername;
        $this->groups = $groups;
        $this->role = $role;
        $this->superuser = $superuser;
        $this->sid = $sid;
        $this->emailVerified = $emailVerified;
    }

    /**
     * Build from claims that AssertionVerifier accepted.
     *
     * Optional profile claims of the wrong type or empty are treated as absent.
     *
     * @param array<string, mixed> $claims
     */
    public static function fromClaims(array $claims): self
    {
        return new self(
            (string) $claims['sub'],
            self::optionalEmail($claims),
            self::optionalString($claims, 'name'),
            self::optionalString($claims, 'preferred_username'),
            array_values(array_filter((array) $claims['groups'], 'is_string')),
            (string) $claims['role'],
            (bool) $claims['superuser'],
            (string) $claims['sid'],
            ($claims['email_verified'] ?? false) === true
        );
    }

    /**
     * [first name, last name]: the first word, then the rest.
     *
     * @return array{0: string|null, 1: string|null}
     */
    public function splitName(): array
    {
        $name = trim((string) preg_replace('/\s+/u', ' ', (string) $this->name));
        if ($name === '') {
            return [null, null];
        }
        $parts = explode(' ', $name, 2);
        return [$parts[0], $parts[1] ?? null];
    }

    /**
     * Fingerprint of everything that is synced to the backend user, to
     * notice changes within one octogate session.
     */
    public function fingerprint(): string
    {
        return hash('sha256', json_encode(
            [$this->sub, $this->email, $this->name, $this->preferredUsername, $this->role, $this->superuser],
            JSON_THROW_ON_ERROR
        ));
    }

    /**
     * The email claim exactly as asserted, or null when there is none or it
     * has whitespace, control or format (zero-width)
     * characters anywhere, or is not UTF-8. Never trimmed: octogate
     * judged (domain rules) the address as the provider sent it, and the
     * account is matched and written with that same address or not at all.
     *
     * @param array<string, mixed> $claims
     */
    private static function optionalEmail(array $claims): ?string
    {
        $value = $claims['email'] ?? null;
        if (!is_string($value) || $value === '' || preg_match('/[\s\p{Cc}\p{Cf}\p{Z}]/u', $value) !== 0) {
            return null;
        }
        return $value;
    }

    /**
     * @param array<string, mixed> $claims
     */
    private static function optionalString(array $claims, string $name): ?string
    {
        $value = $claims[$name] ?? null;
        if (!is_string($value) || trim($value) === '') {
            return null;
        }
        return trim($value);
    }
}
