<?php

declare(strict_types=1);

namespace Octogate\Standin;

/**
 * A plain HTTP response value.
 */
final class Response
{
    /** @var int */
    public $status;
    /** @var array<string, string> */
    public $headers;
    /** @var string */
    public $body;

    /**
     * @param array<string, string> $headers
     */
    public function __construct(int $status, array $headers, string $body)
    {
        $this->status = $status;
        $this->headers = $headers + ['Cache-Control' => 'no-store'];
        $this->body = $body;
    }

    public static function redirect(string $to, int $status): self
    {
        return new self($status, ['Location' => $to], '');
    }

    public static function html(string $body, int $status = 200): self
    {
        return new self($status, ['Content-Type' => 'text/html; charset=UTF-8'], $body);
    }
}
