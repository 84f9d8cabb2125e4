<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

use BackendAuth;
use Closure;
use Illuminate\Http\Request;
use Log;
use Octogate\Sso\Classes\Core\SessionState;

/**
 * Laravel middleware in the web group (every page and plugin route with a
 * session): a backend login the shim made is only as good as octogate's
 * word. Outside the backend no assertion comes with a request, but
 * October's login is site-wide: the public site, and plugin routes that
 * trust BackendAuth (editor previews, uploads), would honour it long after
 * octogate signed the user out, dropped them from the group or saw them
 * deactivated. So outside the backend such a login ends once octogate has
 * not vouched for it (a backend request with a valid assertion) for
 * SessionState::OUTSIDE_BACKEND_MAX_AGE seconds. Requests routed to
 * October's BackendController are left to BackendMiddleware, which checks
 * every one of them; anything else (a plugin route under the backend URI
 * included) is checked here. A backend login of an account that signs in
 * through octogate which the shim did not make in this session (October's
 * remember-me cookie) ends at once.
 */
class FrontendMiddleware
{
    /**
     * @param Request $request
     * @return mixed
     */
    public function handle($request, Closure $next)
    {
        if (!$request->hasSession()) {
            return $next($request);
        }
        $session = $request->session();
        if (self::routedToBackendController($request)) {
            return $next($request);
        }
        if ($session->get(SessionState::KEY_SID) === null) {
            // No login the shim made in this session. October may still
            // have logged someone in: from its remember-me cookie (October
            // v3 sets one when a user saves "My account"), into a fresh
            // session octogate never vouched for. That is only allowed for
            // accounts that do not sign in through octogate (break-glass).
            // Anonymous visitors cost one look at the session and cookie.
            $user = BackendAuth::getUser();
            if ($user !== null && $this->linkStore()->isLinked((int) $user->id)) {
                Log::info('octogate-sso: backend login of an SSO account that octogate did not vouch for in this session ended outside the backend', [
                    'user_id' => (int) $user->id,
                    'path' => $request->path(),
                ]);
                BackendSession::end($session);
            }
            return $next($request);
        }
        $user = BackendAuth::getUser();
        $state = SessionState::fromSession($user === null ? null : (int) $user->id, static function (string $key) use ($session) {
            return $session->get($key);
        });
        if ($state->mustEndOutsideBackend($session->get(SessionState::KEY_SEEN), time())) {
            Log::info('octogate-sso: backend login ended outside the backend: octogate has not vouched for it recently', [
                'user_id' => $state->loggedInUserId,
                'path' => $request->path(),
            ]);
            BackendSession::end($session);
        }
        return $next($request);
    }

    /**
     * Which backend users sign in through octogate.
     */
    protected function linkStore(): SubLinkStore
    {
        return new DbSubLinkStore();
    }

    /**
     * Whether the matched route is October's BackendController (which
     * BackendMiddleware guards). Decided by the route, not the path: a
     * plugin route registered under the backend URI is not guarded there.
     *
     * @param Request $request
     */
    private static function routedToBackendController($request): bool
    {
        $route = $request->route();
        if (!is_object($route) || !method_exists($route, 'getActionName')) {
            return false;
        }
        return strpos((string) $route->getActionName(), 'Backend\\Classes\\BackendController') === 0;
    }
}
