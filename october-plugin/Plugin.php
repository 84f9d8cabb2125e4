<?php

declare(strict_types=1);

namespace Octogate\Sso;

use Backend\Classes\BackendController;
use BackendAuth;
use Config;
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
        // The CMS's routes use the web group; October v3 lets a site choose
        // another one for them (cms.middleware_group).
        $router = $this->app['router'];
        foreach (array_unique(['web', (string) Config::get('cms.middleware_group', 'web')]) as $group) {
            $router->pushMiddlewareToGroup($group, FrontendMiddleware::class);
        }
    }
}
