<?php

/**
 * Autoloads the shim plugin (Octogate\Sso\, October-style lower-case
 * directories) and the stand-in (Octogate\Standin\ in src/).
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $roots = [
        'Octogate\\Standin\\' => [__DIR__ . '/src', false],
        'Octogate\\Sso\\' => [dirname(__DIR__, 2) . '/october-plugin', true],
    ];
    foreach ($roots as $prefix => [$dir, $lowerDirs]) {
        if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
            continue;
        }
        $parts = explode('\\', substr($class, strlen($prefix)));
        $file = array_pop($parts);
        if ($lowerDirs) {
            $parts = array_map('strtolower', $parts);
        }
        $path = $dir . '/' . ($parts === [] ? '' : implode('/', $parts) . '/') . $file . '.php';
        if (is_file($path)) {
            require_once $path;
        }
        return;
    }
});
