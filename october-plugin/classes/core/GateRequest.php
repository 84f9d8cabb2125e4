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
    /** @var string request URI as sent (REQUEST_URI): path and optional query */
    public $uri;
    /**
     * @var string the path October routes below the backend URI, as the
     *      adapter got it from the framework (October: the route's "slug"
     *      parameter, e.g. "backend/auth/signin"; "" for the backend home)
     */
    public $backendPath;
    /** @var string|null REMOTE_ADDR, never a forwarded-for header */
    public $clientIp;
    /** @var string|null X-Octogate-Assertion, null if absent */
    public $assertion;

    public function __construct(string $method, string $uri, string $backendPath, ?string $clientIp, ?string $assertion)
    {
        $this->method = strtoupper($method);
        $this->uri = $uri;
        $this->backendPath = $backendPath;
        $this->clientIp = $clientIp;
        $this->assertion = $assertion;
    }
}
