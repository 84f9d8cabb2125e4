<?php

declare(strict_types=1);

namespace Octogate\Sso\Models;

use BackendAuth;
use Model;
use Octogate\Sso\Classes\SettingsAccess;

/**
 * Backend settings of the shim (System > Settings > Octogate SSO).
 *
 * Uses the SettingsModel behaviour, which exists in October v1-v3 and
 * Winter; every value can be overridden by an OCTOGATE_* env variable.
 */
class Settings extends Model
{
    /** @var array<int, string> */
    public $implement = ['System.Behaviors.SettingsModel'];

    /** @var string */
    public $settingsCode = 'octogate_sso_settings';

    /** @var string */
    public $settingsFields = 'fields.yaml';

    /**
     * Superusers only (also enforced here, not just by hiding the page).
     */
    public function beforeSave()
    {
        $console = function_exists('app') && app()->runningInConsole();
        SettingsAccess::assertMayManage(BackendAuth::getUser(), $console);
    }

    /**
     * With OCTOGATE_PUBLIC_KEYS set the keys are env-only: the field is
     * read-only and shows that the stored value is not used.
     *
     * @param mixed $fields
     * @param string|null $context
     */
    public function filterFields($fields, $context = null)
    {
        if (SettingsAccess::keysFromEnv() && isset($fields->public_keys)) {
            $fields->public_keys->readOnly = true;
            $fields->public_keys->disabled = true;
            $fields->public_keys->comment = 'Set by the OCTOGATE_PUBLIC_KEYS environment variable; read-only here (a stored value is ignored).';
        }
    }

    /**
     * The settings as the array ShimConfig::load() takes.
     *
     * @return array<string, mixed>
     */
    public function shimSettings(): array
    {
        return [
            'public_keys' => (string) $this->get('public_keys', ''),
            'issuer' => (string) $this->get('issuer', ''),
            'audience' => (string) $this->get('audience', ''),
            'trusted_proxies' => (string) $this->get('trusted_proxies', ''),
            'break_glass' => (bool) $this->get('break_glass', false),
            'break_glass_addresses' => (string) $this->get('break_glass_addresses', ''),
            'sign_out_url' => (string) $this->get('sign_out_url', ''),
        ];
    }
}
