<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * Framework-free decision for one request to the October backend.
 *
 * Fails closed: a backend request without a valid assertion is denied,
 * unless break-glass is on and the client address is allowed (and then the
 * request carries no assertion at all). October's own sign-in, password
 * reset and setup screens (the whole "auth" controller) are never shown to
 * octogate users; its sign-out redirects to octogate's sign-out URL.
 */
final class Gate
{
    /** @var ShimConfig */
    private $config;
    /** @var IdentityProvisioner */
    private $provisioner;
    /** @var string normalised backend prefix, e.g. "/backend" */
    private $prefix;
    /** @var callable(): int */
    private $clock;

    /**
     * @param string $backendPrefix e.g. "/backend" (October's backend.uri)
     * @param callable(): int|null $clock unix time source; time() by default
     */
    public function __construct(ShimConfig $config, IdentityProvisioner $provisioner, string $backendPrefix, ?callable $clock = null)
    {
        $this->config = $config;
        $this->provisioner = $provisioner;
        $this->prefix = self::normalisePath($backendPrefix);
        $this->clock = $clock ?? static function (): int {
            return time();
        };
    }

    public function backendPrefix(): string
    {
        return $this->prefix === '' ? '/' : $this->prefix;
    }

    /**
     * Whether a request URI is under the backend prefix.
     */
    public function isBackendPath(string $uri): bool
    {
        return $this->backendAction($uri) !== null;
    }

    public function decide(GateRequest $request, SessionState $state): GateDecision
    {
        $action = $this->backendAction($request->uri);
        if ($action === null) {
            return GateDecision::pass('not_backend');
        }
        $loggedIn = $state->loggedInUserId !== null;
        $hasAssertion = $request->assertion !== null && $request->assertion !== '';

        if (!$hasAssertion && $this->config->breakGlass
            && $this->config->breakGlassAddresses->contains($request->clientIp)) {
            return GateDecision::pass('break_glass');
        }
        if ($action === 'auth/signout' || strpos($action, 'auth/signout/') === 0) {
            return GateDecision::signOut($this->config->signOutUrl);
        }
        if (!$hasAssertion) {
            return GateDecision::deny('no_assertion', $loggedIn, 'The request did not come through octogate.');
        }
        if (!$this->config->trustedProxies->isEmpty()
            && !$this->config->trustedProxies->contains($request->clientIp)) {
            return GateDecision::deny('untrusted_proxy', $loggedIn, 'The assertion came from an address that is not a trusted proxy.');
        }
        if (!$this->config->isComplete()) {
            return GateDecision::deny('not_configured', $loggedIn, 'The octogate shim is not configured (keys, issuer, audience).');
        }

        $result = $this->config->verifier()->verify($request->assertion, ($this->clock)());
        if (!$result->isOk()) {
            return GateDecision::deny($result->verdict(), $loggedIn, 'The identity assertion was rejected.');
        }
        $identity = Identity::fromClaims($result->claims());
        return $this->decideForIdentity($request, $state, $identity, self::isAuthController($action));
    }

    private function decideForIdentity(GateRequest $request, SessionState $state, Identity $identity, bool $authScreen): GateDecision
    {
        $same = $state->matches($identity);
        if ($same && $state->fingerprint !== null && hash_equals($state->fingerprint, $identity->fingerprint())) {
            return $authScreen
                ? GateDecision::redirect($this->backendPrefix(), 'auth_screen')
                : GateDecision::pass('logged_in');
        }

        try {
            $userId = $this->provisioner->provision($identity);
        } catch (ProvisioningException $e) {
            return GateDecision::deny($e->reason(), $state->loggedInUserId !== null, $e->getMessage());
        }
        $newState = new SessionState($userId, $identity->sid, $identity->sub, $userId, $identity->fingerprint());

        if ($same && $userId === $state->loggedInUserId) {
            // Same person and octogate session; only the synced details changed.
            return $authScreen
                ? GateDecision::redirect($this->backendPrefix(), 'auth_screen')
                : GateDecision::pass('synced', $newState);
        }

        $isRead = in_array($request->method, ['GET', 'HEAD'], true);
        if ($authScreen) {
            $redirect = $this->backendPrefix();
        } else {
            // October v3 caches a failed check() within the request: let a
            // GET come back so the controller sees the logged-in user.
            $redirect = $isRead ? $request->uri : null;
        }
        return GateDecision::login($userId, $newState, $state->loggedInUserId !== null, $redirect, $isRead ? 302 : 303);
    }

    /**
     * The path below the backend prefix ("" for the prefix itself), or null
     * if the URI is not a backend URI. Lower-cased: PHP resolves controller
     * and action names case-insensitively.
     */
    private function backendAction(string $uri): ?string
    {
        $path = self::normalisePath($uri);
        if ($this->prefix === '') {
            return ltrim($path, '/');
        }
        if ($path === $this->prefix) {
            return '';
        }
        if (strpos($path, $this->prefix . '/') === 0) {
            return substr($path, strlen($this->prefix) + 1);
        }
        return null;
    }

    private static function isAuthController(string $action): bool
    {
        return $action === 'auth' || strpos($action, 'auth/') === 0;
    }

    /**
     * Path only, percent-decoded, lower-case, dot segments resolved, single
     * slashes, no trailing slash, no leading "/index.php"; "" for the root.
     */
    private static function normalisePath(string $uri): string
    {
        $path = explode('?', $uri, 2)[0];
        $path = explode('#', $path, 2)[0];
        $path = strtolower(rawurldecode($path));
        $path = (string) preg_replace('#[/\\\\]+#', '/', '/' . $path);
        $segments = [];
        foreach (explode('/', $path) as $segment) {
            if ($segment === '' || $segment === '.') {
                continue;
            }
            if ($segment === '..') {
                array_pop($segments);
                continue;
            }
            $segments[] = $segment;
        }
        if (($segments[0] ?? null) === 'index.php') {
            array_shift($segments);
        }
        return $segments === [] ? '' : '/' . implode('/', $segments);
    }
}
