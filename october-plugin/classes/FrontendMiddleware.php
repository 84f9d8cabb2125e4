<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

use BackendAuth;
use Closure;
use Config;
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
 * SessionState::OUTSIDE_BACKEND_MAX_AGE seconds. Backend requests are left
 * to BackendMiddleware, which checks every one of them.
 */
class FrontendMiddleware
{
    /**
     * @param Request $request
     * @return mixed
     */
    public function handle($request, Closure $next)
    {
        $session = $request->session();
        // Only a login the shim made carries an octogate session id: anonymous
        // visitors cost nothing more than this read.
        if ($session === null || $session->get(SessionState::KEY_SID) === null || self::isBackendRequest($request)) {
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
     * Whether October routes this request to the backend: its path below
     * the base URL, percent-decoded, is the backend URI or below it (as the
     * backend route matches it, case-sensitively).
     *
     * @param Request $request
     */
    private static function isBackendRequest($request): bool
    {
        $uri = trim((string) Config::get('backend.uri', Config::get('cms.backendUri', 'backend')), '/');
        $path = trim(rawurldecode((string) $request->getPathInfo()), '/');
        return $path === $uri || strncmp($path, $uri . '/', strlen($uri) + 1) === 0;
    }
}
