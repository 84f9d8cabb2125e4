<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * The parts of an HTTP request the Gate looks at.
 */
final class GateRequest
{
    /** @var string upper-case HTTP method */
    public $method;
    /** @var string request URI as sent: path and optional query */
    public $uri;
    /** @var string|null REMOTE_ADDR, never a forwarded-for header */
    public $clientIp;
    /** @var string|null X-Octogate-Assertion, null if absent */
    public $assertion;

    public function __construct(string $method, string $uri, ?string $clientIp, ?string $assertion)
    {
        $this->method = strtoupper($method);
        $this->uri = $uri;
        $this->clientIp = $clientIp;
        $this->assertion = $assertion;
    }
}
