<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

use Backend\Models\AccessLog;
use Backend\Models\User;
use BackendAuth;
use Closure;
use Config;
use Illuminate\Http\RedirectResponse;
use Illuminate\Http\Request;
use Illuminate\Http\Response;
use Log;
use Octogate\Sso\Classes\Core\Gate;
use Octogate\Sso\Classes\Core\GateDecision;
use Octogate\Sso\Classes\Core\GateRequest;
use Octogate\Sso\Classes\Core\IdentityProvisioner;
use Octogate\Sso\Classes\Core\SessionState;
use Octogate\Sso\Classes\Core\ShimConfig;
use Octogate\Sso\Classes\Core\UserDirectory;
use Octogate\Sso\Models\Settings;
use Throwable;

/**
 * Laravel middleware on October's BackendController: applies the Gate's
 * decision (log in the asserted user, deny, sign out) before the backend
 * controller looks at the logged-in user. It is attached to nothing else,
 * so every request it sees is a backend request and is always checked.
 */
class BackendMiddleware
{
    public const HEADER = 'X-Octogate-Assertion';

    /**
     * @param Request $request
     * @return mixed
     */
    public function handle($request, Closure $next)
    {
        $session = $request->session();
        try {
            $provisioner = new IdentityProvisioner($this->directory(), static function (string $message, array $context): void {
                Log::warning('octogate-sso: ' . $message, $context);
            });
            $gate = new Gate($this->loadConfig(), $provisioner, $this->backendHome($request));
        } catch (Throwable $e) {
            Log::warning('octogate-sso: configuration error, backend closed', [
                'error' => get_class($e),
                // ShimConfig's messages name the problem, never a key.
                'message' => $e instanceof \InvalidArgumentException ? $e->getMessage() : '',
            ]);
            return $this->denied('config_error', 'The octogate shim configuration is invalid.');
        }

        $state = SessionState::fromSession($this->currentUserId(), static function (string $key) use ($session) {
            return $session->get($key);
        });
        $assertion = $request->header(self::HEADER);
        try {
            $decision = $gate->decide(new GateRequest(
                (string) $request->method(),
                (string) $request->getRequestUri(),
                self::backendPath($request),
                $request->server('REMOTE_ADDR'),
                is_string($assertion) ? $assertion : null
            ), $state);
        } catch (Throwable $e) {
            // A database error while provisioning (its writes are rolled
            // back): closed, with a page, not a stack trace. The class only:
            // a query's message carries the user's email.
            Log::warning('octogate-sso: backend closed: the account could not be provisioned', [
                'error' => get_class($e),
                'path' => $request->path(),
            ]);
            if ($state->loggedInUserId !== null) {
                // As for every other refusal: the rights it was logged in with
                // may be the ones that were being taken away.
                $this->logout($session);
            }
            return $this->denied('provisioning_failed', 'The backend account could not be prepared. The error is logged; please try again later or ask an administrator.');
        }

        switch ($decision->action) {
            case GateDecision::PASS:
                if ($decision->reason === 'synced') {
                    // The role or superuser flag may have changed: this
                    // request runs with the account as now stored, not the
                    // copy (and permissions) BackendAuth loaded before.
                    $this->reloadUser($decision->state === null ? null : $decision->state->loggedInUserId);
                }
                $this->store($session, $decision->state);
                return $next($request);
            case GateDecision::LOGIN:
                return $this->login($request, $next, $decision);
            case GateDecision::REDIRECT:
                return new RedirectResponse((string) $decision->redirectTo, $decision->status);
            case GateDecision::SIGN_OUT:
                $this->logout($session);
                return new RedirectResponse((string) $decision->redirectTo, 302);
            default:
                Log::warning('octogate-sso: backend request denied', [
                    'reason' => $decision->reason,
                    'ip' => $request->server('REMOTE_ADDR'),
                    'path' => $request->path(),
                ]);
                if ($decision->logoutFirst) {
                    $this->logout($session);
                }
                return $this->denied($decision->reason, $decision->message);
        }
    }

    /**
     * @param Request $request
     * @return mixed
     */
    private function login($request, Closure $next, GateDecision $decision)
    {
        $session = $request->session();
        if ($decision->logoutFirst) {
            $this->logout($session);
        }
        $user = User::find($decision->userId);
        if ($user === null) {
            return $this->denied('login_failed', 'The backend account could not be loaded.');
        }
        $blocked = self::throttled($user, $request);
        if ($blocked !== null) {
            Log::warning('octogate-sso: backend login refused: the account is ' . $blocked, ['user_id' => $decision->userId]);
            return $this->denied('user_' . $blocked, 'This backend account is ' . $blocked . ' on this site; ask an administrator.');
        }
        try {
            BackendAuth::login($user, false);
        } catch (Throwable $e) {
            Log::warning('octogate-sso: backend login failed', ['user_id' => $decision->userId, 'error' => get_class($e)]);
            return $this->denied('login_failed', 'The backend account could not be signed in.');
        }
        // Session fixation: the logged-in session gets a new id (the old one
        // is destroyed) and a new CSRF token. method_exists: the session
        // contract of older Laravel (October v2, Winter) may lack one.
        if (method_exists($session, 'migrate')) {
            $session->migrate(true);
        }
        if (method_exists($session, 'regenerateToken')) {
            $session->regenerateToken();
        }
        // Once per octogate session: LOGIN happens only when sid or user changed.
        AccessLog::add($user);
        $this->store($session, $decision->state);
        if ($decision->redirectTo !== null) {
            return new RedirectResponse($decision->redirectTo, $decision->status);
        }
        return $next($request);
    }

    /**
     * "banned" or "suspended" when October's throttle bars the account
     * (October's check() would log it out again on the next request: a
     * redirect loop instead of an answer), else null. A site whose
     * BackendAuth has no throttle lookup (not October) is not checked.
     *
     * @param User $user
     * @param Request $request
     */
    private static function throttled($user, $request): ?string
    {
        try {
            $throttle = BackendAuth::findThrottleByUserId($user->id, $request->ip());
        } catch (\BadMethodCallException | \Error $e) {
            // No such method behind the facade: nothing to check against
            // (October's own check() still applies its throttle).
            return null;
        }
        if (!is_object($throttle)) {
            return null;
        }
        if ($throttle->is_banned) {
            return 'banned';
        }
        if (method_exists($throttle, 'checkSuspended') && $throttle->checkSuspended()) {
            return 'suspended';
        }
        return null;
    }

    /**
     * Make BackendAuth hold a freshly loaded copy of the logged-in user.
     */
    private function reloadUser(?int $userId): void
    {
        $fresh = $userId === null ? null : User::find($userId);
        if ($fresh !== null) {
            BackendAuth::setUser($fresh);
        }
    }

    /**
     * Shim configuration: Settings overridden by OCTOGATE_* env vars.
     */
    protected function loadConfig(): ShimConfig
    {
        return ShimConfig::load(Settings::instance()->shimSettings(), ShimConfig::environment());
    }

    protected function directory(): UserDirectory
    {
        return new OctoberUserDirectory();
    }

    /**
     * The backend home URL path, e.g. "/backend", or "/cms/backend" when
     * October is installed in a subdirectory (the request's base URL).
     *
     * @param Request $request
     */
    protected function backendHome($request): string
    {
        $uri = Config::get('backend.uri', Config::get('cms.backendUri', 'backend'));
        return rtrim((string) $request->getBaseUrl(), '/') . '/' . trim((string) $uri, '/');
    }

    /**
     * What October's BackendController will route, relative to the backend
     * URI: the backend route's "slug" parameter ("{slug?}", already
     * percent-decoded by the router), e.g. "backend/auth/signin"; "" for
     * the backend home. Taken from the matched route, not re-parsed from
     * the URI, so the Gate sees what the controller will run.
     *
     * @param Request $request
     */
    private static function backendPath($request): string
    {
        $slug = $request->route('slug');
        return is_string($slug) ? $slug : '';
    }

    private function currentUserId(): ?int
    {
        $user = BackendAuth::getUser();
        return $user === null ? null : (int) $user->id;
    }

    /**
     * @param mixed $session Illuminate\Contracts\Session\Session
     */
    private function store($session, ?SessionState $state): void
    {
        if ($state === null) {
            return;
        }
        foreach ($state->toSession() as $key => $value) {
            $session->put($key, $value);
        }
        // Every decision with a state rests on a valid assertion: octogate
        // vouched for this login just now (see FrontendMiddleware).
        $session->put(SessionState::KEY_SEEN, time());
    }

    /**
     * @param mixed $session Illuminate\Contracts\Session\Session
     */
    private function logout($session): void
    {
        BackendSession::end($session);
    }

    private function denied(string $reason, string $message): Response
    {
        return new Response(DeniedPage::render($reason, $message), 403, [
            'Content-Type' => 'text/html; charset=UTF-8',
            'Cache-Control' => 'no-store',
        ]);
    }
}
