<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

use BackendAuth;
use Log;
use Octogate\Sso\Classes\Core\SessionState;

/**
 * Ends October's backend login in a web session: the one way both
 * middlewares sign a user out of October.
 */
final class BackendSession
{
    /** logout() calls at most: each ends one level of impersonation. */
    private const MAX_LOGOUTS = 3;

    /**
     * Log everybody out (impersonation included), forget what the shim
     * stored, and give the session a new id with nothing in it.
     *
     * @param mixed $session Illuminate\Contracts\Session\Session
     */
    public static function end($session): void
    {
        // While impersonating, October's logout() only ends the impersonation
        // and the impersonator stays logged in: repeat (bounded) until nobody is.
        for ($i = 0; $i < self::MAX_LOGOUTS && BackendAuth::getUser() !== null; $i++) {
            BackendAuth::logout();
        }
        if (BackendAuth::getUser() !== null) {
            Log::warning('octogate-sso: a backend user is still logged in after logout; invalidating the session');
        }
        $keys = array_keys((new SessionState(null, null, null, null, null))->toSession());
        $keys[] = SessionState::KEY_SEEN;
        foreach ($keys as $key) {
            $session->forget($key);
        }
        // Drop everything else too (impersonation state, persisted auth) and
        // give the session a new id.
        if (method_exists($session, 'invalidate')) {
            $session->invalidate();
        }
    }
}
