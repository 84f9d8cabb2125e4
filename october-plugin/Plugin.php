<?php

declare(strict_types=1);

namespace Octogate\Sso;

use Backend\Classes\BackendController;
use Octogate\Sso\Classes\BackendMiddleware;
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
     * @return array<string, array<string, mixed>>
     */
    public function registerSettings()
    {
        return [
            'settings' => [
                'label' => 'Octogate SSO',
                'description' => 'Public keys, issuer and audience of the octogate identity assertion; break-glass access.',
                'category' => 'system::lang.system.categories.system',
                'icon' => 'icon-key',
                'class' => Settings::class,
                'order' => 600,
                'keywords' => 'octogate sso okta oidc',
                'permissions' => ['octogate.sso.manage'],
            ],
        ];
    }

    /**
     * @return array<string, array<string, string>>
     */
    public function registerPermissions()
    {
        return [
            'octogate.sso.manage' => [
                'tab' => 'Octogate SSO',
                'label' => 'Manage the octogate SSO settings',
            ],
        ];
    }

    /**
     * Attach the middleware to every backend controller: it runs inside
     * the web middleware group (session started) and before the controller
     * reads the logged-in user.
     */
    public function boot()
    {
        BackendController::extend(function ($controller) {
            $controller->middleware(BackendMiddleware::class);
        });
    }
}
