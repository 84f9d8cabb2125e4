<?php

declare(strict_types=1);

namespace Octogate\Standin;

use Octogate\Sso\Classes\Core\Gate;
use Octogate\Sso\Classes\Core\GateDecision;
use Octogate\Sso\Classes\Core\GateRequest;
use Octogate\Sso\Classes\Core\IdentityProvisioner;
use Octogate\Sso\Classes\Core\SessionState;
use Octogate\Sso\Classes\Core\ShimConfig;
use PDO;
use Throwable;

/**
 * A stand-in October front controller: the shim's framework-free core on
 * SQLite and a plain session array. handle() does no I/O besides the DB, so
 * tests can call it directly.
 */
final class App
{
    /** Session key of the logged-in backend user id ("BackendAuth"). */
    public const KEY_USER = 'standin.backend_user_id';

    /** @var PDO */
    private $pdo;
    /** @var array<string, string> */
    private $env;
    /** @var callable(): int|null */
    private $clock;
    /** @var callable(string): void */
    private $log;
    /** @var callable(): void */
    private $regenerateSession;

    /**
     * @param array<string, string> $env OCTOGATE_*, STANDIN_BACKEND_URI
     * @param callable(): int|null $clock
     * @param callable(string): void|null $log receives deny reasons (never tokens); error_log by default
     * @param callable(): void|null $regenerateSession gives the web session a
     *        new id on login and logout (session fixation);
     *        session_regenerate_id(true) by default, when a PHP session is active
     */
    public function __construct(PDO $pdo, array $env, ?callable $clock = null, ?callable $log = null, ?callable $regenerateSession = null)
    {
        $this->regenerateSession = $regenerateSession ?? static function (): void {
            if (session_status() === PHP_SESSION_ACTIVE) {
                session_regenerate_id(true);
            }
        };
        $this->pdo = $pdo;
        $this->env = $env;
        $this->clock = $clock;
        $this->log = $log ?? static function (string $line): void {
            error_log($line);
        };
    }

    /**
     * @param array<string, mixed> $session the web session, changed in place
     */
    public function handle(string $method, string $uri, ?string $remoteAddr, ?string $assertion, array &$session): Response
    {
        $directory = new SqliteUserDirectory($this->pdo);
        $prefix = '/' . trim($this->env['STANDIN_BACKEND_URI'] ?? '/backend', '/');
        try {
            $config = ShimConfig::load([], $this->env);
        } catch (Throwable $e) {
            return self::denied('config_error', 'The octogate shim configuration is invalid.');
        }
        $backendPath = self::backendRoute($uri, $prefix);
        if ($backendPath === null) {
            return Pages::home($uri, $assertion !== null && $assertion !== '');
        }
        $log = $this->log;
        $provisioner = new IdentityProvisioner($directory, static function (string $message, array $context) use ($log): void {
            $log('standin: ' . $message . ' ' . json_encode($context));
        });
        $gate = new Gate($config, $provisioner, $prefix, $this->clock);

        $loggedIn = isset($session[self::KEY_USER]) && is_int($session[self::KEY_USER]) ? $session[self::KEY_USER] : null;
        $state = SessionState::fromSession($loggedIn, static function (string $key) use ($session) {
            return $session[$key] ?? null;
        });
        $decision = $gate->decide(new GateRequest($method, $uri, $backendPath, $remoteAddr, $assertion), $state);

        switch ($decision->action) {
            case GateDecision::PASS:
                self::store($session, $decision->state);
                return $this->backendPage($directory, $session, $decision->reason);
            case GateDecision::LOGIN:
                if ($decision->logoutFirst) {
                    $session = [];
                }
                ($this->regenerateSession)(); // like migrate(true) after BackendAuth::login
                $session[self::KEY_USER] = $decision->userId;
                self::store($session, $decision->state);
                if ($decision->redirectTo !== null) {
                    return Response::redirect($decision->redirectTo, $decision->status);
                }
                return $this->backendPage($directory, $session, 'login');
            case GateDecision::REDIRECT:
                return Response::redirect((string) $decision->redirectTo, $decision->status);
            case GateDecision::SIGN_OUT:
                $session = [];
                return Response::redirect((string) $decision->redirectTo, 302);
            default:
                ($this->log)(sprintf('standin: backend request denied: reason=%s ip=%s', $decision->reason, (string) $remoteAddr));
                if ($decision->logoutFirst) {
                    $session = [];
                }
                return self::denied($decision->reason, $decision->message);
        }
    }

    /**
     * October's routing, played: the backend route's slug (the path below
     * the backend URI, "" for the backend home) if Laravel would send this
     * URI to October's BackendController, else null (a public page).
     *
     * Like Laravel: a leading "/index.php" is the front controller (base
     * URL), slashes around the path are trimmed, the path is percent-decoded
     * once and then matched against "/PREFIX(/slug)?". Unlike Laravel the
     * prefix matches case-insensitively (more requests reach the gate, never
     * fewer). ".." segments are not resolved here, exactly as October keeps
     * them; the Gate refuses such a URI (ambiguous_path).
     */
    public static function backendRoute(string $uri, string $prefix): ?string
    {
        $path = explode('#', explode('?', $uri, 2)[0], 2)[0];
        if (preg_match('#\A/index\.php(?=/|\z)#i', $path) === 1) {
            $path = substr($path, strlen('/index.php'));
        }
        $decoded = rawurldecode(trim($path, '/'));
        $prefix = trim($prefix, '/');
        if ($prefix === '') {
            return $decoded;
        }
        if (strcasecmp($decoded, $prefix) === 0) {
            return '';
        }
        if (strncasecmp($decoded, $prefix . '/', strlen($prefix) + 1) === 0) {
            return (string) substr($decoded, strlen($prefix) + 1);
        }
        return null;
    }

    /**
     * The backend page for the logged-in user; break-glass without a login
     * gets the (stand-in) password form.
     *
     * @param array<string, mixed> $session
     */
    private function backendPage(SqliteUserDirectory $directory, array $session, string $reason): Response
    {
        $id = $session[self::KEY_USER] ?? null;
        $row = is_int($id) ? $directory->userRow($id) : null;
        if ($row === null) {
            return Pages::octoberSignIn($reason);
        }
        return Pages::backend($row);
    }

    /**
     * @param array<string, mixed> $session
     */
    private static function store(array &$session, ?SessionState $state): void
    {
        if ($state !== null) {
            foreach ($state->toSession() as $key => $value) {
                $session[$key] = $value;
            }
        }
    }

    private static function denied(string $reason, string $message): Response
    {
        return new Response(403, ['Content-Type' => 'text/html; charset=UTF-8'], Pages::denied($reason, $message));
    }
}
