<?php

declare(strict_types=1);

namespace Octogate\Sso;

use Backend\Classes\BackendController;
use BackendAuth;
use Config;
use Log;
use Octogate\Sso\Classes\BackendMiddleware;
use Octogate\Sso\Classes\FrontendMiddleware;
use Octogate\Sso\Classes\SettingsAccess;
use Octogate\Sso\Models\Settings;
use System\Classes\PluginBase;

/**
 * Octogate SSO shim: signs backend users in from octogate's identity
 * assertion and closes October's own sign-in screens.
 */
class Plugin extends PluginBase
{
    /**
     * Run in the backend and on the console too (migrations).
     *
     * @var bool
     */
    public $elevated = true;

    /**
     * @return array<string, string>
     */
    public function pluginDetails()
    {
        return [
            'name' => 'Octogate SSO',
            'description' => 'Backend sign-in through the octogate OIDC proxy (signed identity assertion).',
            'author' => 'Octogate',
            'icon' => 'icon-key',
        ];
    }

    /**
     * The settings page, for superusers only (SettingsAccess): the public
     * keys decide who can sign in as anyone. Other users do not get the
     * item at all, so its URL is not found for them either.
     *
     * @return array<string, array<string, mixed>>
     */
    public function registerSettings()
    {
        if (!SettingsAccess::mayManage(BackendAuth::getUser())) {
            return [];
        }
        return [
            'settings' => [
                'label' => 'Octogate SSO',
                'description' => 'Public keys, issuer and audience of the octogate identity assertion; break-glass access.',
                'category' => 'system::lang.system.categories.system',
                'icon' => 'icon-key',
                'class' => Settings::class,
                'order' => 600,
                'keywords' => 'octogate sso okta oidc',
                // Superusers have every permission; this one is deliberately
                // not registered, so no role can be given it.
                'permissions' => ['octogate.sso.manage'],
            ],
        ];
    }

    /**
     * Attach the middleware to every backend controller: it runs inside
     * the web middleware group (session started) and before the controller
     * reads the logged-in user. Everything else in the web group gets
     * FrontendMiddleware: a backend login octogate no longer vouches for
     * ends there too.
     */
    public function boot()
    {
        BackendController::extend(function ($controller) {
            $controller->middleware(BackendMiddleware::class);
        });
        $router = $this->app['router'];
        foreach (self::middlewareGroups() as $group) {
            if ($group !== 'web' && method_exists($router, 'hasMiddlewareGroup') && !$router->hasMiddlewareGroup($group)) {
                // Not a group: pushing would create a group of that name,
                // which hides a middleware alias of the same name. An alias
                // in the list is normal (boot() runs on every request: no
                // log line for it); anything else is a configuration slip.
                $aliases = method_exists($router, 'getMiddleware') ? (array) $router->getMiddleware() : [];
                if (!array_key_exists($group, $aliases)) {
                    Log::warning('octogate-sso: middleware group not found; FrontendMiddleware not added to it', ['group' => $group]);
                }
                continue;
            }
            $router->pushMiddlewareToGroup($group, FrontendMiddleware::class);
        }
    }

    /**
     * The groups FrontendMiddleware joins: "web", plus whatever October v3
     * lets a site choose for the CMS's and the backend's routes
     * (cms.middleware_group, backend.middleware_group), each a group name
     * or a list of names (Laravel accepts both).
     *
     * @return list<string>
     */
    public static function middlewareGroups(): array
    {
        $groups = ['web'];
        foreach (['cms.middleware_group', 'backend.middleware_group'] as $key) {
            foreach ((array) Config::get($key, 'web') as $name) {
                if (is_string($name) && $name !== '') {
                    $groups[] = $name;
                }
            }
        }
        return array_values(array_unique($groups));
    }
}
