<?php

/**
 * PHPUnit bootstrap: a tiny PSR-4 autoloader for Octogate\Sso\ (the way
 * October's own class loader resolves plugin classes: lower-case directory
 * names, class-cased file name) plus the October stand-ins.
 */

declare(strict_types=1);

spl_autoload_register(static function (string $class): void {
    $prefix = 'Octogate\\Sso\\';
    if (strncmp($class, $prefix, strlen($prefix)) !== 0) {
        return;
    }
    $parts = explode('\\', substr($class, strlen($prefix)));
    $file = array_pop($parts);
    $dir = implode('/', array_map('strtolower', $parts));
    $path = dirname(__DIR__) . '/' . ($dir === '' ? '' : $dir . '/') . $file . '.php';
    if (is_file($path)) {
        require_once $path;
    }
});

require_once __DIR__ . '/stubs/october.php';

if (!defined('OCTOGATE_REPO_ROOT')) {
    define('OCTOGATE_REPO_ROOT', dirname(__DIR__, 2));
}
