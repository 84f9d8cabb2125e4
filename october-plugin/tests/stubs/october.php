<?php

/**
 * Stand-ins for the October CMS / Laravel classes the adapter uses, with the
 * same names and method signatures as October v3 (checked against
 * october/rain and october/backend 3.x sources by reading, not by running).
 * Behaviour is the minimum the tests need; state is static and reset by
 * OctoberStubs::reset().
 */

declare(strict_types=1);

namespace October\Rain\Database {

    /**
     * Minimal Eloquent-like model: attribute bag + static in-memory table.
     */
    abstract class Model
    {
        /** @var array<class-string, array<int, array<string, mixed>>> */
        public static $tables = [];
        /** @var array<class-string, int> */
        public static $nextIds = [];

        /** @var array<string, mixed> */
        public $attributes = [];
        /** @var bool */
        public $exists = false;

        public function __get($name)
        {
            return $this->attributes[$name] ?? null;
        }

        public function __set($name, $value)
        {
            $this->setAttribute($name, $value);
        }

        public function __isset($name)
        {
            return isset($this->attributes[$name]);
        }

        public function setAttribute($key, $value)
        {
            $this->attributes[$key] = $value;
            return $this;
        }

        /**
         * Save without validation (October: Validation trait's forceSave).
         */
        public function forceSave($options = null, $sessionKey = null)
        {
            $class = static::class;
            $row = $this->attributes;
            unset($row['password_confirmation']); // purgeable in October
            foreach (array_keys($row) as $column) {
                if (in_array($column, \Schema::$missing[$this->getTable()] ?? [], true)) {
                    // What the database says to an UPDATE naming a column it lacks.
                    throw new \RuntimeException("SQLSTATE[42S22]: Column not found: Unknown column '$column'");
                }
            }
            \Db::$saves++;
            if (\Db::$failWith !== null && \Db::$saves === \Db::$failAtSave) {
                throw \Db::$failWith;
            }
            if (!$this->exists) {
                static::$nextIds[$class] = (static::$nextIds[$class] ?? 0) + 1;
                $row['id'] = static::$nextIds[$class];
                $this->attributes['id'] = $row['id'];
                $this->exists = true;
            }
            static::$tables[$class][$row['id']] = $row;
            return true;
        }

        public function save(?array $options = null, $sessionKey = null)
        {
            throw new \LogicException('the shim must use forceSave(), not save()');
        }

        /** @var string table name (Eloquent's getTable()) */
        protected $table = '';

        public function getTable()
        {
            return $this->table;
        }

        /**
         * @return StubQuery
         */
        public static function query()
        {
            return new StubQuery(static::class, false);
        }

        public static function withTrashed()
        {
            return new StubQuery(static::class, true);
        }

        public static function where($column, $operator = null, $value = null, $boolean = 'and')
        {
            return static::query()->where(...func_get_args());
        }

        public static function find($id, $columns = ['*'])
        {
            return static::query()->find($id);
        }

        /**
         * Test helper: insert a row directly.
         *
         * @param array<string, mixed> $row
         */
        public static function seed(array $row): int
        {
            $m = new static();
            foreach ($row as $k => $v) {
                $m->attributes[$k] = $v;
            }
            $m->forceSave();
            return (int) $m->id;
        }

        /**
         * @param array<string, mixed> $row
         * @return static
         */
        public static function hydrateRow(array $row)
        {
            $m = new static();
            $m->attributes = $row;
            $m->exists = true;
            return $m;
        }
    }

    /**
     * Minimal query builder over Model::$tables.
     */
    final class StubQuery
    {
        /**
         * Simulate a MySQL *_ci, accent-insensitive collation (e.g.
         * utf8mb4_general_ci / utf8mb4_0900_ai_ci) for where()/whereRaw()
         * string comparisons, as a real database would compare.
         *
         * @var bool
         */
        public static $accentInsensitive = false;

        /**
         * Simulate SQLite's LOWER() (and PostgreSQL's under the C collation),
         * which lower-cases ASCII letters only.
         *
         * @var bool
         */
        public static $asciiLower = false;

        /**
         * Whether two column values are equal under the simulated collation.
         *
         * @param mixed $a
         * @param mixed $b
         */
        public static function equal($a, $b): bool
        {
            if (self::$accentInsensitive && is_string($a) && is_string($b)) {
                return self::fold($a) === self::fold($b);
            }
            return $a == $b;
        }

        private static function fold(string $s): string
        {
            $s = mb_strtolower($s);
            return strtr($s, ['ä' => 'a', 'á' => 'a', 'à' => 'a', 'â' => 'a', 'ö' => 'o', 'ó' => 'o', 'ü' => 'u', 'ú' => 'u',
                'é' => 'e', 'è' => 'e', 'ê' => 'e', 'í' => 'i', 'ı' => 'i', 'ç' => 'c', 'ñ' => 'n', 'ß' => 'ss']);
        }

        /** @var class-string<Model> */
        private $class;
        /** @var bool */
        private $withTrashed;
        /** @var list<callable> */
        private $filters = [];

        public function __construct(string $class, bool $withTrashed)
        {
            $this->class = $class;
            $this->withTrashed = $withTrashed;
        }

        public function where($column, $operator = null, $value = null, $boolean = 'and')
        {
            if (func_num_args() === 2) {
                $value = $operator;
            }
            $this->filters[] = static function (array $row) use ($column, $value): bool {
                return self::equal($row[$column] ?? null, $value);
            };
            return $this;
        }

        /**
         * Supports exactly "LOWER(column) = ?".
         */
        public function whereRaw($sql, $bindings = [], $boolean = 'and')
        {
            if (preg_match('/\ALOWER\((\w+)\) = \?\z/', $sql, $m) !== 1) {
                throw new \LogicException('stub whereRaw does not understand: ' . $sql);
            }
            $column = $m[1];
            $value = $bindings[0];
            $this->filters[] = static function (array $row) use ($column, $value): bool {
                if (!isset($row[$column])) {
                    return false;
                }
                $lower = self::$asciiLower
                    ? strtr((string) $row[$column], 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')
                    : mb_strtolower((string) $row[$column]);
                return self::equal($lower, $value);
            };
            return $this;
        }

        /**
         * All matching rows (Laravel: a Collection; iterable the same way).
         *
         * @return list<Model>
         */
        public function get($columns = ['*'])
        {
            $class = $this->class;
            $out = [];
            foreach ($class::$tables[$class] ?? [] as $row) {
                if (!$this->withTrashed && !empty($row['deleted_at'])) {
                    continue;
                }
                foreach ($this->filters as $filter) {
                    if (!$filter($row)) {
                        continue 2;
                    }
                }
                $out[] = $class::hydrateRow($row);
            }
            return $out;
        }

        public function find($id, $columns = ['*'])
        {
            return $this->where('id', $id)->first();
        }

        public function first($columns = ['*'])
        {
            return $this->get()[0] ?? null;
        }

        public function exists()
        {
            return $this->first() !== null;
        }
    }
}

namespace October\Rain\Database\Updates {

    /**
     * Stand-in for October's Migration base class.
     */
    abstract class Migration
    {
    }
}

namespace Backend\Models {

    use October\Rain\Database\Model;

    /**
     * Stand-in for Backend\Models\User (soft deletes, hashed password).
     */
    class User extends Model
    {
        protected $table = 'backend_users';

        /** @var int how many times any User's password attribute was set */
        public static $passwordWrites = 0;

        public function setAttribute($key, $value)
        {
            if ($key === 'password') {
                self::$passwordWrites++;
                $value = password_hash((string) $value, PASSWORD_DEFAULT); // Hashable trait
            }
            return parent::setAttribute($key, $value);
        }

        public function trashed()
        {
            return !empty($this->attributes['deleted_at']);
        }
    }

    /**
     * Stand-in for Backend\Models\UserRole.
     */
    class UserRole extends Model
    {
    }

    /**
     * Stand-in for Backend\Models\AccessLog.
     */
    class AccessLog extends Model
    {
        /** @var list<int> user ids logged */
        public static $added = [];

        public static function add($user)
        {
            self::$added[] = (int) $user->id;
            return new static();
        }
    }
}

namespace Backend\Classes {

    /**
     * Stand-in for BackendController's static extend() (ExtendableTrait).
     */
    class BackendController
    {
        /** @var list<callable> */
        public static $extensions = [];
        /** @var list<string> */
        public $middleware = [];

        public static function extend(callable $callback)
        {
            self::$extensions[] = $callback;
        }

        public function middleware($middleware, array $options = [])
        {
            $this->middleware[] = $middleware;
        }
    }
}

namespace Illuminate\Routing {

    /**
     * Stand-in for Illuminate\Routing\Router (middleware groups only).
     */
    class Route
    {
        /** @var string */
        private $action;

        public function __construct(string $action)
        {
            $this->action = $action;
        }

        public function getActionName()
        {
            return $this->action;
        }
    }

    class Router
    {
        /** @var array<string, list<string>> */
        public $middlewareGroups = [];

        /** @var array<string, string> alias => middleware class */
        public $middleware = [];

        public function getMiddleware()
        {
            return $this->middleware;
        }

        public function hasMiddlewareGroup($name)
        {
            return array_key_exists($name, $this->middlewareGroups);
        }

        public function pushMiddlewareToGroup($group, $middleware)
        {
            if (!in_array($middleware, $this->middlewareGroups[$group] ?? [], true)) {
                $this->middlewareGroups[$group][] = $middleware;
            }
            return $this;
        }
    }
}

namespace System\Classes {

    /**
     * Stand-in for System\Classes\PluginBase.
     */
    class PluginBase
    {
        /** @var mixed */
        protected $app;

        public function __construct($app = null)
        {
            $this->app = $app;
        }
    }
}

namespace Illuminate\Http {

    /**
     * Stand-in for Illuminate\Http\Request (the methods the middleware uses).
     */
    class Request
    {
        /** @var string */
        private $methodName;
        /** @var string */
        private $uri;
        /** @var array<string, string> */
        private $serverVars;
        /** @var array<string, string> lower-case name => value */
        private $headerVars;
        /** @var \Illuminate\Session\Store */
        private $sessionStore;

        /**
         * @param array<string, string> $server
         * @param array<string, string> $headers
         */
        /** @var string */
        private $baseUrl;

        public function __construct(string $method, string $uri, array $server, array $headers, \Illuminate\Session\Store $session, string $baseUrl = '')
        {
            $this->methodName = $method;
            $this->uri = $uri;
            $this->serverVars = $server;
            $this->headerVars = array_change_key_case($headers, CASE_LOWER);
            $this->sessionStore = $session;
            $this->baseUrl = $baseUrl;
        }

        /**
         * Symfony's base URL: "" or e.g. "/cms" for a subdirectory install.
         */
        public function getBaseUrl()
        {
            return $this->baseUrl;
        }

        /**
         * The matched route's parameter, as Laravel would give it for
         * October's backend route (prefix Config backend.uri, "{slug?}"
         * where (.*)?): matched against '/' . rawurldecode(trim(path info,
         * '/')), case-sensitively. Only 'slug' is supported.
         */
        /** @var string|null the matched route's action, when a test sets it */
        public $actionName;

        public function hasSession()
        {
            return true;
        }

        public function ip()
        {
            return $this->serverVars['REMOTE_ADDR'] ?? null;
        }

        public function route($param = null, $default = null)
        {
            if ($param === null) {
                // The matched route: October's backend route for paths under the
                // backend URI (as in route('slug') below), else the CMS's catch-all.
                $action = $this->actionName;
                if ($action === null) {
                    try {
                        $this->route('slug');
                        $action = 'Backend\Classes\BackendController@run';
                    } catch (\LogicException $e) {
                        $action = 'Cms\Classes\CmsController@run';
                    }
                }
                return new \Illuminate\Routing\Route($action);
            }
            if ($param !== 'slug') {
                throw new \LogicException('stub route() only knows the slug parameter');
            }
            $path = explode('?', $this->uri, 2)[0];
            if ($this->baseUrl !== '' && strpos($path, $this->baseUrl) === 0) {
                $path = substr($path, strlen($this->baseUrl));
            }
            $decoded = '/' . rawurldecode(trim($path, '/'));
            $prefix = preg_quote(trim((string) \Config::get('backend.uri', 'backend'), '/'), '#');
            if (preg_match('#\A/' . $prefix . '(?:/(?P<slug>.*))?\z#s', $decoded, $m) !== 1) {
                throw new \LogicException('the backend route would not match ' . $this->uri);
            }
            return isset($m['slug']) && $m['slug'] !== '' ? $m['slug'] : $default;
        }

        public function method()
        {
            return $this->methodName;
        }

        public function getRequestUri()
        {
            return $this->uri;
        }

        /**
         * Symfony's path info: the path below the base URL, not decoded.
         */
        public function getPathInfo()
        {
            $path = (string) parse_url($this->uri, PHP_URL_PATH);
            if ($this->baseUrl !== '' && strpos($path, $this->baseUrl) === 0) {
                $path = substr($path, strlen($this->baseUrl));
            }
            return $path === '' ? '/' : $path;
        }

        public function path()
        {
            $p = trim((string) parse_url($this->uri, PHP_URL_PATH), '/');
            return $p === '' ? '/' : $p;
        }

        public function header($key = null, $default = null)
        {
            return $this->headerVars[strtolower((string) $key)] ?? $default;
        }

        public function server($key = null, $default = null)
        {
            return $this->serverVars[$key] ?? $default;
        }

        public function session()
        {
            return $this->sessionStore;
        }
    }

    class Response
    {
        /** @var string */
        public $content;
        /** @var int */
        public $status;
        /** @var array<string, string> */
        public $headers;

        public function __construct($content = '', $status = 200, array $headers = [])
        {
            $this->content = (string) $content;
            $this->status = (int) $status;
            $this->headers = $headers;
        }

        public function getStatusCode()
        {
            return $this->status;
        }

        public function getContent()
        {
            return $this->content;
        }
    }

    class RedirectResponse extends Response
    {
        /** @var string */
        private $target;

        public function __construct($url, $status = 302, $headers = [])
        {
            parent::__construct('', $status, $headers);
            $this->target = (string) $url;
        }

        public function getTargetUrl()
        {
            return $this->target;
        }
    }
}

namespace Illuminate\Session {

    /**
     * Stand-in for Illuminate\Session\Store.
     */
    class Store
    {
        /** @var array<string, mixed> */
        public $data = [];
        /** @var string session id */
        public $id;
        /** @var string CSRF token */
        public $token;
        /** @var list<bool> $destroy of each migrate() call */
        public $migrations = [];
        /** @var int */
        public $invalidations = 0;

        public function __construct()
        {
            $this->id = bin2hex(random_bytes(20));
            $this->token = bin2hex(random_bytes(20));
        }

        public function getId()
        {
            return $this->id;
        }

        public function token()
        {
            return $this->token;
        }

        /**
         * New session id, data kept ($destroy: the old session is deleted).
         */
        public function migrate($destroy = false)
        {
            $this->migrations[] = (bool) $destroy;
            $this->id = bin2hex(random_bytes(20));
            return true;
        }

        public function regenerateToken()
        {
            $this->token = bin2hex(random_bytes(20));
        }

        public function get($key, $default = null)
        {
            return $this->data[$key] ?? $default;
        }

        public function put($key, $value = null)
        {
            $this->data[$key] = $value;
        }

        public function forget($keys)
        {
            foreach ((array) $keys as $key) {
                unset($this->data[$key]);
            }
        }

        /**
         * Flush the data and migrate to a new id (Laravel's invalidate()).
         */
        public function invalidate()
        {
            $this->data = [];
            $this->invalidations++;
            $this->migrate(true);
            return true;
        }
    }
}

namespace {

    /**
     * Stand-in for the BackendAuth facade (Backend\Classes\AuthManager).
     */
    class BackendAuth
    {
        /** @var \Backend\Models\User|null */
        public static $user;
        /** @var \Illuminate\Session\Store|null session that logout() invalidates */
        public static $session;
        /** @var list<int> */
        public static $logins = [];
        /** @var int */
        public static $logouts = 0;

        public static function login($user, $remember = true)
        {
            if (!$user->is_activated) {
                throw new \RuntimeException('Cannot login user since they are not activated.');
            }
            self::$user = $user;
            self::$logins[] = (int) $user->id;
        }

        /** @var list<\Backend\Models\User> impersonators, innermost last */
        public static $impersonators = [];

        /**
         * Like October's impersonate(): the current user becomes the
         * impersonator; logout() then only ends the impersonation.
         */
        public static function impersonate($user)
        {
            self::$impersonators[] = self::$user;
            self::$user = $user;
        }

        public static function logout()
        {
            if (self::$impersonators !== []) {
                // October: logout() while impersonating = stopImpersonate().
                self::$user = array_pop(self::$impersonators);
                self::$logouts++;
                return;
            }
            self::$user = null;
            self::$logouts++;
            if (self::$session !== null) {
                self::$session->invalidate();
            }
        }

        public static function getUser()
        {
            return self::$user;
        }

        public static function setUser($user)
        {
            self::$user = $user;
        }

        /** @var array<int, string> user id => 'banned' | 'suspended' */
        public static $throttled = [];

        /**
         * Like October's findThrottleByUserId(): the user's throttle record.
         */
        public static function findThrottleByUserId($userId, $ipAddress = null)
        {
            $state = self::$throttled[(int) $userId] ?? '';
            return new class($state) {
                /** @var bool */
                public $is_banned;
                /** @var bool */
                private $suspended;

                public function __construct(string $state)
                {
                    $this->is_banned = $state === 'banned';
                    $this->suspended = $state === 'suspended';
                }

                public function checkSuspended()
                {
                    return $this->suspended;
                }
            };
        }

        public static function check()
        {
            return self::$user !== null;
        }
    }

    /**
     * Stand-in for the Log facade; records messages and context.
     */
    class Log
    {
        /** @var list<array{0: string, 1: array<string, mixed>}> */
        public static $warnings = [];

        /** @var list<array{0: string, 1: array<string, mixed>}> */
        public static $infos = [];

        public static function warning($message, array $context = [])
        {
            self::$warnings[] = [(string) $message, $context];
        }

        public static function info($message, array $context = [])
        {
            self::$infos[] = [(string) $message, $context];
        }
    }

    /**
     * Stand-in for the Config facade.
     */
    class Config
    {
        /** @var array<string, mixed> */
        public static $values = [];

        public static function get($key, $default = null)
        {
            return self::$values[$key] ?? $default;
        }
    }

    /**
     * Stand-in for the Model alias (October\Rain\Database\Model).
     */
    class Model extends \October\Rain\Database\Model
    {
    }

    /**
     * Stand-in for the ApplicationException alias.
     */
    class ApplicationException extends \RuntimeException
    {
    }

    /**
     * Stand-in for the Db facade: Db::table() over in-memory rows (string
     * comparisons follow StubQuery::$accentInsensitive), plus the connection
     * methods the migrations use.
     */
    class Db
    {
        /** @var array<string, array<int, array<string, mixed>>> table => id => row */
        public static $tables = [];
        /** @var string */
        public static $driver = 'sqlite';
        /** @var list<string> */
        public static $statements = [];

        /** @var int Model::forceSave() calls so far */
        public static $saves = 0;
        /** @var int which forceSave() call (1 = the next) throws $failWith */
        public static $failAtSave = 0;
        /** @var \Throwable|null */
        public static $failWith;
        /** @var int transactions rolled back */
        public static $rollbacks = 0;

        public static function table($name)
        {
            return new DbStubTable((string) $name);
        }

        /**
         * Laravel's DB::transaction(): every write (models and tables) is
         * undone when $work throws, and the exception is rethrown.
         */
        public static function transaction(callable $work, $attempts = 1)
        {
            $saved = [
                \October\Rain\Database\Model::$tables,
                \October\Rain\Database\Model::$nextIds,
                self::$tables,
                \Backend\Models\User::$passwordWrites,
            ];
            try {
                return $work();
            } catch (\Throwable $e) {
                [
                    \October\Rain\Database\Model::$tables,
                    \October\Rain\Database\Model::$nextIds,
                    self::$tables,
                ] = $saved;
                self::$rollbacks++;
                throw $e;
            }
        }

        public static function connection($name = null)
        {
            return new static();
        }

        public function getDriverName()
        {
            return self::$driver;
        }

        public function getTablePrefix()
        {
            return '';
        }

        public static function statement($query, $bindings = [])
        {
            self::$statements[] = (string) $query;
            return true;
        }
    }

    /**
     * Query on one Db stub table (where/get/first/exists/insert/update).
     */
    final class DbStubTable
    {
        /** @var string */
        private $name;
        /** @var list<callable> */
        private $filters = [];

        public function __construct(string $name)
        {
            $this->name = $name;
        }

        public function where($column, $operator = null, $value = null)
        {
            if (func_num_args() === 2) {
                $value = $operator;
            }
            $this->filters[] = static function (array $row) use ($column, $value): bool {
                return \October\Rain\Database\StubQuery::equal($row[$column] ?? null, $value);
            };
            return $this;
        }

        /**
         * @return list<object>
         */
        public function get()
        {
            $out = [];
            foreach (Db::$tables[$this->name] ?? [] as $row) {
                foreach ($this->filters as $filter) {
                    if (!$filter($row)) {
                        continue 2;
                    }
                }
                $out[] = (object) $row;
            }
            return $out;
        }

        public function first()
        {
            return $this->get()[0] ?? null;
        }

        public function exists()
        {
            return $this->get() !== [];
        }

        public function insert(array $row)
        {
            foreach (Db::$tables[$this->name] ?? [] as $existing) {
                if (isset($row['sub'], $existing['sub']) && \October\Rain\Database\StubQuery::equal($existing['sub'], $row['sub'])) {
                    throw new \RuntimeException('Integrity constraint violation: duplicate sub'); // unique index
                }
            }
            $id = count(Db::$tables[$this->name] ?? []) + 1;
            Db::$tables[$this->name][$id] = ['id' => $id] + $row;
            return true;
        }

        public function update(array $values)
        {
            $n = 0;
            foreach (Db::$tables[$this->name] ?? [] as $id => $row) {
                foreach ($this->filters as $filter) {
                    if (!$filter($row)) {
                        continue 2;
                    }
                }
                Db::$tables[$this->name][$id] = $values + $row;
                $n++;
            }
            return $n;
        }
    }

    /**
     * Stand-in for the Schema facade: every column exists but those listed.
     */
    class Schema
    {
        /** @var array<string, list<string>> table => columns it lacks */
        public static $missing = [];
        /** @var int hasColumn() calls */
        public static $asked = 0;

        public static function hasColumn($table, $column)
        {
            self::$asked++;
            return !in_array($column, self::$missing[$table] ?? [], true);
        }
    }

    /**
     * Resets all stub state between tests.
     */
    final class OctoberStubs
    {
        public static function reset(): void
        {
            \October\Rain\Database\Model::$tables = [];
            \October\Rain\Database\Model::$nextIds = [];
            \October\Rain\Database\StubQuery::$accentInsensitive = false;
            \October\Rain\Database\StubQuery::$asciiLower = false;
            Db::$tables = [];
            Db::$driver = 'sqlite';
            Db::$statements = [];
            Db::$saves = 0;
            Db::$failAtSave = 0;
            Db::$failWith = null;
            Db::$rollbacks = 0;
            Schema::$missing = [];
            Schema::$asked = 0;
            BackendAuth::$throttled = [];
            \Octogate\Sso\Classes\OctoberUserDirectory::forgetColumns();
            \Backend\Models\User::$passwordWrites = 0;
            \Backend\Models\AccessLog::$added = [];
            \Backend\Classes\BackendController::$extensions = [];
            BackendAuth::$user = null;
            BackendAuth::$impersonators = [];
            BackendAuth::$session = null;
            BackendAuth::$logins = [];
            BackendAuth::$logouts = 0;
            Log::$warnings = [];
            Log::$infos = [];
            Config::$values = [];
        }
    }
}
