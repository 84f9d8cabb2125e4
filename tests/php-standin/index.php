<?php

/**
 * Router script for PHP's built-in server:
 *   php -S 127.0.0.1:PORT tests/php-standin/index.php
 * See README.md for the environment variables.
 */

declare(strict_types=1);

require __DIR__ . '/bootstrap.php';

use Octogate\Standin\App;
use Octogate\Standin\SqliteUserDirectory;
use Octogate\Sso\Classes\Core\ShimConfig;

$env = [];
foreach (array_merge(array_keys(ShimConfig::ENV), ['STANDIN_BACKEND_URI']) as $var) {
    $value = getenv($var);
    if (is_string($value)) {
        $env[$var] = $value;
    }
}
$dbPath = getenv('STANDIN_DB');
if (!is_string($dbPath) || $dbPath === '') {
    $dbPath = sys_get_temp_dir() . '/octogate-standin.sqlite';
}

session_name('october_session');
session_set_cookie_params(['httponly' => true, 'samesite' => 'Lax', 'path' => '/']);
session_start();

$assertion = $_SERVER['HTTP_X_OCTOGATE_ASSERTION'] ?? null;
$app = new App(SqliteUserDirectory::open($dbPath), $env);
$session = $_SESSION;
$hadUser = isset($session[App::KEY_USER]) ? $session[App::KEY_USER] : null;
$response = $app->handle(
    (string) ($_SERVER['REQUEST_METHOD'] ?? 'GET'),
    (string) ($_SERVER['REQUEST_URI'] ?? '/'),
    isset($_SERVER['REMOTE_ADDR']) ? (string) $_SERVER['REMOTE_ADDR'] : null,
    is_string($assertion) ? $assertion : null,
    $session
);
if (($session[App::KEY_USER] ?? null) !== $hadUser) {
    session_regenerate_id(true); // new session id on logout too (App does it on every login)
}
$_SESSION = $session;
session_write_close();

http_response_code($response->status);
foreach ($response->headers as $name => $value) {
    header($name . ': ' . $value);
}
echo $response->body;
