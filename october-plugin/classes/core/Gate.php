<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

/**
 * Framework-free decision for one request to the October backend.
 *
 * Fails closed: a backend request without a valid assertion is denied,
 * unless break-glass is on and the client address is allowed and is not a
 * trusted proxy (and then the request carries no assertion at all). Every request it sees is a backend
 * request (the adapter is attached to October's BackendController only); a
 * URI path with dot segments or encoded separators is refused outright
 * (ambiguous_path). October's own sign-in, password reset and setup screens
 * (the whole Backend\Controllers\Auth controller, "backend/auth/..." below
 * the backend URI) are never shown to octogate users; its sign-out
 * ("backend/auth/signout") redirects to octogate's sign-out URL.
 */
final class Gate
{
    /** @var ShimConfig */
    private $config;
    /** @var IdentityProvisioner */
    private $provisioner;
    /** @var string backend home URL path, e.g. "/backend" or "/cms/backend" */
    private $prefix;
    /** @var callable(): int */
    private $clock;

    /**
     * @param string $backendPrefix backend home URL path: base path plus
     *        October's backend.uri, e.g. "/backend" or "/cms/backend"
     * @param callable(): int|null $clock unix time source; time() by default
     */
    public function __construct(ShimConfig $config, IdentityProvisioner $provisioner, string $backendPrefix, ?callable $clock = null)
    {
        $this->config = $config;
        $this->provisioner = $provisioner;
        $this->prefix = self::normalisePrefix($backendPrefix);
        $this->clock = $clock ?? static function (): int {
            return time();
        };
    }

    /**
     * The backend home URL, e.g. "/backend" (auth screens redirect here).
     */
    public function backendPrefix(): string
    {
        return $this->prefix === '' ? '/' : $this->prefix;
    }

    /**
     * Decide for a request that October routed to its BackendController.
     *
     * There is no "not a backend request" answer: the adapter only calls
     * this for backend requests. The controller/action comes from the
     * adapter ($request->backendPath, October's route slug), never from
     * re-parsing the URI; the raw URI is only checked for dot segments and
     * encoded separators, which are refused outright.
     */
    public function decide(GateRequest $request, SessionState $state): GateDecision
    {
        $loggedIn = $state->loggedInUserId !== null;
        if (self::isAmbiguousPath($request->uri)) {
            return GateDecision::deny('ambiguous_path', $loggedIn, 'The request path contains dot segments or encoded separators.');
        }
        [$module, $controller, $action] = self::route($request->backendPath);
        $authController = $module === 'backend' && $controller === 'auth';
        $hasAssertion = $request->assertion !== null && $request->assertion !== '';

        // Never for a trusted proxy: octogate's own traffic is never break-glass.
        if (!$hasAssertion && $this->config->breakGlass
            && $this->config->breakGlassAddresses->contains($request->clientIp)
            && !$this->config->trustedProxies->contains($request->clientIp)) {
            // Break-glass is the emergency admin's password sign-in, nothing more:
            // October's password reset and setup would hand any account (SSO ones
            // included) a password that outlives its Okta access, and an SSO
            // account's session must not continue without an assertion.
            if ($authController && in_array($action, ['restore', 'reset', 'setup'], true)) {
                return GateDecision::deny('break_glass_limited', $loggedIn, 'Password reset and setup stay closed during break-glass.');
            }
            if ($loggedIn && $this->provisioner->isSsoUser((int) $state->loggedInUserId)) {
                return GateDecision::deny('break_glass_sso_user', $loggedIn, 'An account that signs in through octogate cannot use break-glass.');
            }
            return GateDecision::pass('break_glass');
        }
        if ($authController && $action === 'signout') {
            return GateDecision::signOut($this->config->signOutUrl);
        }
        if (!$hasAssertion) {
            return GateDecision::deny('no_assertion', $loggedIn, 'The request did not come through octogate.');
        }
        if (!$this->config->isComplete()) {
            return GateDecision::deny('not_configured', $loggedIn, 'The octogate shim is not configured (keys, issuer, audience, trusted proxy addresses).');
        }
        if (!$this->config->trustedProxies->contains($request->clientIp)) {
            return GateDecision::deny('untrusted_proxy', $loggedIn, 'The assertion came from an address that is not a trusted proxy.');
        }

        $result = $this->config->verifier()->verify($request->assertion, ($this->clock)());
        if (!$result->isOk()) {
            return GateDecision::deny($result->verdict(), $loggedIn, 'The identity assertion was rejected.');
        }
        $identity = Identity::fromClaims($result->claims());
        return $this->decideForIdentity($request, $state, $identity, $authController);
    }

    /**
     * Whether the path of a raw request URI has a "." or ".." segment (raw
     * or percent-encoded, any case) or an encoded "/" or "\" (or a raw
     * "\"). October keeps ".." segments in its route slug, so such a path
     * can name a controller other than the one it seems to; no legitimate
     * backend URL needs one.
     */
    public static function isAmbiguousPath(string $uri): bool
    {
        $path = explode('#', explode('?', $uri, 2)[0], 2)[0];
        if (preg_match('/%(2f|5c)|\\\\/i', $path) === 1) {
            return true;
        }
        foreach (explode('/', rawurldecode($path)) as $segment) {
            if ($segment === '.' || $segment === '..') {
                return true;
            }
        }
        return false;
    }

    /**
     * [module, controller, action] the way October's BackendController::run()
     * reads its slug: empty segments dropped, defaults "backend", "index",
     * "index"; a hyphenated action camel-cased (RouterHelper/parseAction,
     * Laravel's camel_case: "-", "_" and spaces dropped).
     * Lower-cased, since PHP resolves class and method names
     * case-insensitively.
     *
     * @return array{0: string, 1: string, 2: string}
     */
    public static function route(string $backendPath): array
    {
        $segments = array_values(array_filter(explode('/', strtolower($backendPath)), static function (string $s): bool {
            return $s !== '';
        }));
        $action = $segments[2] ?? 'index';
        if (strpos($action, '-') !== false) {
            // camel_case(): "-" and "_" become spaces, then spaces go.
            $action = str_replace(['-', '_', ' '], '', $action);
        }
        return [$segments[0] ?? 'backend', $segments[1] ?? 'index', $action];
    }

    private function decideForIdentity(GateRequest $request, SessionState $state, Identity $identity, bool $authScreen): GateDecision
    {
        // On every request, not only at login: the logged-in user must still
        // be the (non-deleted) account linked to the asserted sub. Otherwise a
        // re-link, or a second person's session on the account, could keep a
        // session attached to an account that is no longer this sub's.
        $same = $state->matches($identity)
            && $this->provisioner->linkedUserId($identity->sub) === $state->loggedInUserId;
        if ($same && $state->fingerprint !== null && hash_equals($state->fingerprint, $identity->fingerprint())) {
            return $authScreen
                ? GateDecision::redirect($this->backendPrefix(), 'auth_screen')
                : GateDecision::pass('logged_in', $state);
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
            // A leading "//" would make the Location protocol-relative.
            $redirect = $isRead ? '/' . ltrim($request->uri, '/') : null;
        }
        return GateDecision::login($userId, $newState, $state->loggedInUserId !== null, $redirect, $isRead ? 302 : 303);
    }

    /**
     * "/backend", "/cms/backend": single slashes, no trailing slash; "" for "/".
     */
    private static function normalisePrefix(string $prefix): string
    {
        $trimmed = trim((string) preg_replace('#/+#', '/', $prefix), '/');
        return $trimmed === '' ? '' : '/' . $trimmed;
    }
}
