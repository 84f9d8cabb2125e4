<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

use RuntimeException;

/**
 * A signed-in identity that cannot be mapped to a usable backend user.
 * The reason code is safe to show and to log; it never contains a token.
 */
final class ProvisioningException extends RuntimeException
{
    public const USER_DELETED = 'user_deleted';
    public const UNKNOWN_ROLE = 'unknown_role';
    public const MISSING_EMAIL = 'missing_email';
    public const EMAIL_CONFLICT = 'email_conflict';
    public const EMAIL_LINK_REFUSED = 'email_link_refused';
    public const EMAIL_UNVERIFIED = 'email_unverified';

    /** @var string */
    private $reason;

    public function __construct(string $reason, string $message)
    {
        parent::__construct($message);
        $this->reason = $reason;
    }

    public function reason(): string
    {
        return $this->reason;
    }
}
