<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

use InvalidArgumentException;

/**
 * The shim's configuration: settings (from the backend Settings page or an
 * array) overridden by OCTOGATE_* environment variables.
 */
final class ShimConfig
{
    public const DEFAULT_SIGN_OUT_URL = '/oauth2/sign_out';

    /** Environment variable => settings key. */
    public const ENV = [
        'OCTOGATE_PUBLIC_KEYS' => 'public_keys',
        'OCTOGATE_ISSUER' => 'issuer',
        'OCTOGATE_AUDIENCE' => 'audience',
        'OCTOGATE_TRUSTED_PROXIES' => 'trusted_proxies',
        'OCTOGATE_BREAK_GLASS' => 'break_glass',
        'OCTOGATE_BREAK_GLASS_ADDRESSES' => 'break_glass_addresses',
        'OCTOGATE_SIGN_OUT_URL' => 'sign_out_url',
    ];

    /** @var list<string> raw 32-byte public keys */
    public $publicKeys;
    /** @var string */
    public $issuer;
    /** @var string */
    public $audience;
    /** @var AddressList assertions are accepted only from these (empty = from none: not configured) */
    public $trustedProxies;
    /** @var bool */
    public $breakGlass;
    /** @var AddressList */
    public $breakGlassAddresses;
    /** @var string */
    public $signOutUrl;

    /**
     * @param list<string> $publicKeys raw 32-byte keys
     */
    public function __construct(
        array $publicKeys,
        string $issuer,
        string $audience,
        AddressList $trustedProxies,
        bool $breakGlass,
        AddressList $breakGlassAddresses,
        string $signOutUrl
    ) {
        $this->publicKeys = $publicKeys;
        $this->issuer = $issuer;
        $this->audience = $audience;
        $this->trustedProxies = $trustedProxies;
        $this->breakGlass = $breakGlass;
        $this->breakGlassAddresses = $breakGlassAddresses;
        $this->signOutUrl = $signOutUrl;
    }

    /**
     * Load from settings, each overridden by its environment variable when
     * that is set (even to an empty string).
     *
     * Settings keys: public_keys (string, comma/newline separated, or list),
     * issuer, audience, trusted_proxies, break_glass (bool), break_glass_addresses,
     * sign_out_url.
     *
     * @param array<string, mixed> $settings
     * @param array<string, string|false> $env e.g. getenv()
     * @throws InvalidArgumentException on unusable configuration, including
     *         break-glass addresses that overlap the trusted proxies
     */
    public static function load(array $settings, array $env): self
    {
        $values = $settings;
        foreach (self::ENV as $var => $key) {
            if (isset($env[$var]) && is_string($env[$var])) {
                $values[$key] = $env[$var];
            }
        }
        $trustedProxies = new AddressList(self::list($values['trusted_proxies'] ?? ''));
        $breakGlassAddresses = new AddressList(self::list($values['break_glass_addresses'] ?? ''));
        // octogate's own requests must never be able to get break-glass.
        if ($trustedProxies->overlaps($breakGlassAddresses)) {
            throw new InvalidArgumentException('The break-glass addresses overlap the trusted proxy addresses; octogate itself must never get break-glass access');
        }
        return new self(
            self::keys($values['public_keys'] ?? ''),
            self::string($values, 'issuer'),
            self::string($values, 'audience'),
            $trustedProxies,
            self::bool($values['break_glass'] ?? false),
            $breakGlassAddresses,
            self::string($values, 'sign_out_url') ?: self::DEFAULT_SIGN_OUT_URL
        );
    }

    /**
     * The OCTOGATE_* variables that are set, as raw strings: the process
     * environment (getenv) first, then $_ENV and $_SERVER (where a .env
     * loader puts them). Deliberately not Laravel's env(): it turns "false",
     * "true", "null" and "empty" into other types (so OCTOGATE_BREAK_GLASS=false
     * would be ignored), and after `php artisan config:cache` it no longer sees
     * .env at all.
     *
     * @return array<string, string>
     */
    public static function environment(): array
    {
        $env = [];
        foreach (array_keys(self::ENV) as $var) {
            $value = self::envValue($var);
            if ($value !== null) {
                $env[$var] = $value;
            }
        }
        return $env;
    }

    /**
     * One environment variable as its raw string, or null when unset.
     */
    public static function envValue(string $var): ?string
    {
        $value = getenv($var);
        if (is_string($value)) {
            return $value;
        }
        foreach ([$_ENV, $_SERVER] as $source) {
            if (isset($source[$var]) && is_string($source[$var])) {
                return $source[$var];
            }
        }
        return null;
    }

    /**
     * Whether the configuration can verify anything at all.
     */
    public function isComplete(): bool
    {
        return $this->publicKeys !== [] && $this->issuer !== '' && $this->audience !== ''
            && !$this->trustedProxies->isEmpty();
    }

    public function verifier(): AssertionVerifier
    {
        return AssertionVerifier::fromRawKeys($this->publicKeys, $this->issuer, $this->audience);
    }

    /**
     * @param mixed $value
     * @return list<string>
     */
    private static function keys($value): array
    {
        $keys = [];
        foreach (self::list($value) as $encoded) {
            $raw = base64_decode($encoded, true);
            if ($raw === false || strlen($raw) !== 32 || base64_encode($raw) !== $encoded) {
                throw new InvalidArgumentException('Each octogate public key must be standard padded base64 of 32 raw bytes');
            }
            $keys[] = $raw;
        }
        return $keys;
    }

    /**
     * @param mixed $value string (comma/whitespace separated) or list of strings
     * @return list<string>
     */
    private static function list($value): array
    {
        if (is_array($value)) {
            $value = implode(',', array_map(static function ($item): string {
                return is_array($item) ? (string) ($item['value'] ?? reset($item)) : (string) $item;
            }, $value));
        }
        return AddressList::split((string) $value);
    }

    /**
     * @param array<string, mixed> $values
     */
    private static function string(array $values, string $key): string
    {
        $value = $values[$key] ?? '';
        return is_scalar($value) ? trim((string) $value) : '';
    }

    /**
     * @param mixed $value
     */
    private static function bool($value): bool
    {
        if (is_bool($value)) {
            return $value;
        }
        return in_array(strtolower(trim((string) $value)), ['1', 'true', 'yes', 'on'], true);
    }
}
