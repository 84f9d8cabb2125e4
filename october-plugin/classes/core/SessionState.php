<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * What the shim knows about the current web session: who the framework
 * says is logged in, and what the shim stored when it logged them in.
 */
final class SessionState
{
    /** Session keys used by the adapters. */
    public const KEY_SID = 'octogate_sso.sid';
    public const KEY_SUB = 'octogate_sso.sub';
    public const KEY_USER_ID = 'octogate_sso.user_id';
    public const KEY_FINGERPRINT = 'octogate_sso.fingerprint';
    /** When (unix time) octogate last vouched for this login with a valid assertion. */
    public const KEY_SEEN = 'octogate_sso.seen';

    /**
     * How long (seconds) a login the shim made stays usable outside the
     * backend after octogate last vouched for it (a backend request with a
     * valid assertion): octogate's refresh interval by default, the time in
     * which sign-out, group removal and deactivation reach the backend.
     */
    public const OUTSIDE_BACKEND_MAX_AGE = 300;

    /** @var int|null backend user logged in right now (framework's view) */
    public $loggedInUserId;
    /** @var string|null */
    public $sid;
    /** @var string|null */
    public $sub;
    /** @var int|null */
    public $userId;
    /** @var string|null */
    public $fingerprint;

    public function __construct(?int $loggedInUserId, ?string $sid, ?string $sub, ?int $userId, ?string $fingerprint)
    {
        $this->loggedInUserId = $loggedInUserId;
        $this->sid = $sid;
        $this->sub = $sub;
        $this->userId = $userId;
        $this->fingerprint = $fingerprint;
    }

    /**
     * Read the stored values from a session key/value getter.
     *
     * @param callable(string): mixed $get
     */
    public static function fromSession(?int $loggedInUserId, callable $get): self
    {
        $sid = $get(self::KEY_SID);
        $sub = $get(self::KEY_SUB);
        $userId = $get(self::KEY_USER_ID);
        $fingerprint = $get(self::KEY_FINGERPRINT);
        return new self(
            $loggedInUserId,
            is_string($sid) ? $sid : null,
            is_string($sub) ? $sub : null,
            is_int($userId) ? $userId : null,
            is_string($fingerprint) ? $fingerprint : null
        );
    }

    /**
     * The values to store in the session.
     *
     * @return array<string, string|int|null>
     */
    public function toSession(): array
    {
        return [
            self::KEY_SID => $this->sid,
            self::KEY_SUB => $this->sub,
            self::KEY_USER_ID => $this->userId,
            self::KEY_FINGERPRINT => $this->fingerprint,
        ];
    }

    /**
     * Whether this login must end on a request outside the backend (where
     * no assertion comes with requests): it is one the shim made (an
     * octogate session id is stored) and octogate has not vouched for it
     * within OUTSIDE_BACKEND_MAX_AGE seconds (or never, or in the future).
     * Logins the shim did not make (break-glass) are left alone.
     *
     * @param mixed $seen the stored KEY_SEEN value
     */
    public function mustEndOutsideBackend($seen, int $now): bool
    {
        if ($this->loggedInUserId === null || $this->sid === null) {
            return false;
        }
        if ($this->userId !== $this->loggedInUserId) {
            // Someone other than the user the shim logged in (an
            // impersonation): octogate never vouched for them.
            return true;
        }
        if (!is_int($seen) || $seen > $now + 60) {
            return true;
        }
        return $now - $seen > self::OUTSIDE_BACKEND_MAX_AGE;
    }

    /**
     * Whether the logged-in user is the one the shim logged in for this
     * octogate session and subject.
     */
    public function matches(Identity $identity): bool
    {
        return $this->loggedInUserId !== null
            && $this->userId === $this->loggedInUserId
            && $this->sid !== null && hash_equals($this->sid, $identity->sid)
            && $this->sub !== null && hash_equals($this->sub, $identity->sub);
    }
}
