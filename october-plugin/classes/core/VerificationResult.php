<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * Outcome of verifying one identity assertion: a verdict code and, when the
 * verdict is "ok", the verified claims.
 */
final class VerificationResult
{
    /** @var string */
    private $verdict;

    /** @var array<string, mixed> */
    private $claims;

    /**
     * @param array<string, mixed> $claims
     */
    private function __construct(string $verdict, array $claims)
    {
        $this->verdict = $verdict;
        $this->claims = $claims;
    }

    /**
     * A failed verification; carries no claims.
     */
    public static function failure(string $verdict): self
    {
        return new self($verdict, []);
    }

    /**
     * A successful verification.
     *
     * @param array<string, mixed> $claims
     */
    public static function success(array $claims): self
    {
        return new self(Verdict::OK, $claims);
    }

    public function verdict(): string
    {
        return $this->verdict;
    }

    public function isOk(): bool
    {
        return $this->verdict === Verdict::OK;
    }

    /**
     * Verified claims; empty unless isOk().
     *
     * @return array<string, mixed>
     */
    public function claims(): array
    {
        return $this->claims;
    }
}
