<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * Verdict codes of the identity assertion contract.
 *
 * Shared verbatim with octogate's Rust verifier and with
 * tests/vectors/assertions.json; do not rename.
 */
final class Verdict
{
    public const OK = 'ok';
    public const OVERSIZED = 'oversized';
    public const MALFORMED = 'malformed';
    public const UNSUPPORTED_ALG = 'unsupported_alg';
    public const UNKNOWN_KID = 'unknown_kid';
    public const BAD_SIGNATURE = 'bad_signature';
    public const MISSING_CLAIM = 'missing_claim';
    public const WRONG_ISSUER = 'wrong_issuer';
    public const WRONG_AUDIENCE = 'wrong_audience';
    public const NOT_YET_VALID = 'not_yet_valid';
    public const EXPIRED = 'expired';
    public const LIFETIME_TOO_LONG = 'lifetime_too_long';

    /** Largest accepted token, in bytes. */
    public const MAX_TOKEN_BYTES = 8192;

    /**
     * The JWS header's "typ", required exactly (RFC 8725 §3.11 explicit
     * typing): no other JWT, even one signed with the same key, passes as
     * an assertion.
     */
    public const TYP = 'octogate-assertion+jwt';

    /** Allowed clock skew, in seconds. */
    public const SKEW_SECONDS = 30;

    /** Largest accepted exp - iat, in seconds. */
    public const MAX_LIFETIME_SECONDS = 300;

    private function __construct()
    {
    }
}
