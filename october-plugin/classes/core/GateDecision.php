<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * What an adapter must do with a request.
 *
 * - PASS: hand the request on (store $state in the session if not null).
 * - LOGIN: log out whoever is logged in if $logoutFirst, log in $userId,
 *   record one access-log entry, store $state; then redirect to $redirectTo
 *   with $status if it is set, else hand the request on.
 * - REDIRECT: redirect to $redirectTo with $status.
 * - DENY: log out if $logoutFirst, answer $status (403) with $reason.
 * - SIGN_OUT: log out, clear the stored state, redirect to $redirectTo.
 */
final class GateDecision
{
    public const PASS = 'pass';
    public const LOGIN = 'login';
    public const REDIRECT = 'redirect';
    public const DENY = 'deny';
    public const SIGN_OUT = 'sign_out';

    /** @var string */
    public $action;
    /** @var string reason code, for logs and the deny page */
    public $reason;
    /** @var int HTTP status for DENY / REDIRECT / SIGN_OUT / LOGIN-with-redirect */
    public $status = 200;
    /** @var string|null */
    public $redirectTo;
    /** @var int|null */
    public $userId;
    /** @var bool */
    public $logoutFirst = false;
    /** @var SessionState|null state to store in the session */
    public $state;
    /** @var string human-readable detail for the deny page (no secrets) */
    public $message = '';

    private function __construct(string $action, string $reason)
    {
        $this->action = $action;
        $this->reason = $reason;
    }

    public static function pass(string $reason, ?SessionState $state = null): self
    {
        $d = new self(self::PASS, $reason);
        $d->state = $state;
        return $d;
    }

    public static function login(int $userId, SessionState $state, bool $logoutFirst, ?string $redirectTo, int $status = 302): self
    {
        $d = new self(self::LOGIN, 'login');
        $d->userId = $userId;
        $d->state = $state;
        $d->logoutFirst = $logoutFirst;
        $d->redirectTo = $redirectTo;
        $d->status = $redirectTo === null ? 200 : $status;
        return $d;
    }

    public static function redirect(string $to, string $reason, int $status = 302): self
    {
        $d = new self(self::REDIRECT, $reason);
        $d->redirectTo = $to;
        $d->status = $status;
        return $d;
    }

    public static function deny(string $reason, bool $logoutFirst, string $message = ''): self
    {
        $d = new self(self::DENY, $reason);
        $d->status = 403;
        $d->logoutFirst = $logoutFirst;
        $d->message = $message;
        return $d;
    }

    public static function signOut(string $to): self
    {
        $d = new self(self::SIGN_OUT, 'sign_out');
        $d->redirectTo = $to;
        $d->status = 302;
        $d->logoutFirst = true;
        return $d;
    }
}
