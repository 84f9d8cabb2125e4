<?php

declare(strict_types=1);

namespace Octogate\Sso\Tests\Support;

use Octogate\Sso\Classes\BackendMiddleware;
use Octogate\Sso\Classes\Core\ShimConfig;
use Octogate\Sso\Classes\Core\UserDirectory;
use Octogate\Sso\Classes\OctoberUserDirectory;

/**
 * BackendMiddleware with the Settings model and the DB link table replaced.
 */
class TestBackendMiddleware extends BackendMiddleware
{
    /** @var array<string, mixed> */
    public $settings;
    /** @var ArraySubLinkStore */
    public $links;

    /**
     * @param array<string, mixed> $settings
     */
    public function __construct(array $settings, ArraySubLinkStore $links)
    {
        $this->settings = $settings;
        $this->links = $links;
    }

    protected function loadConfig(): ShimConfig
    {
        return ShimConfig::load($this->settings, []);
    }

    protected function directory(): UserDirectory
    {
        return new OctoberUserDirectory($this->links);
    }
}
