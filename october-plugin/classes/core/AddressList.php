<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes\Core;

use InvalidArgumentException;

/**
 * A list of IPv4/IPv6 addresses and CIDR ranges.
 */
final class AddressList
{
    /** @var list<array{0: string, 1: int}> packed network address, prefix length */
    private $ranges = [];

    /**
     * @param list<string> $entries e.g. "10.0.0.5", "10.0.0.0/8", "::1", "fd00::/8"
     * @throws InvalidArgumentException on an entry that is not an address or CIDR
     */
    public function __construct(array $entries)
    {
        foreach ($entries as $entry) {
            $this->ranges[] = self::parse(trim($entry));
        }
    }

    /**
     * Split a comma/whitespace separated list.
     */
    public static function fromString(string $list): self
    {
        return new self(self::split($list));
    }

    /**
     * @return list<string>
     */
    public static function split(string $list): array
    {
        return array_values(array_filter(
            preg_split('/[\s,]+/', $list) ?: [],
            static function (string $item): bool {
                return $item !== '';
            }
        ));
    }

    public function isEmpty(): bool
    {
        return $this->ranges === [];
    }

    /**
     * Whether an address is in the list; false for anything unparsable.
     */
    public function contains(?string $address): bool
    {
        if ($address === null || $address === '') {
            return false;
        }
        $packed = inet_pton(self::stripZone($address));
        if ($packed === false) {
            return false;
        }
        // Treat IPv4-mapped IPv6 (::ffff:a.b.c.d) as IPv4.
        if (strlen($packed) === 16 && strncmp($packed, str_repeat("\0", 10) . "\xff\xff", 12) === 0) {
            $packed = substr($packed, 12);
        }
        foreach ($this->ranges as [$network, $prefix]) {
            if (strlen($network) === strlen($packed) && self::prefixMatches($packed, $network, $prefix)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether some address is in both lists.
     */
    public function overlaps(AddressList $other): bool
    {
        foreach ($this->ranges as [$network, $prefix]) {
            foreach ($other->ranges as [$otherNetwork, $otherPrefix]) {
                if (strlen($network) === strlen($otherNetwork)
                    && self::prefixMatches($network, $otherNetwork, min($prefix, $otherPrefix))) {
                    return true;
                }
            }
        }
        return false;
    }

    /**
     * @return array{0: string, 1: int}
     */
    private static function parse(string $entry): array
    {
        $parts = explode('/', $entry, 2);
        $packed = inet_pton($parts[0]);
        if ($packed === false) {
            throw new InvalidArgumentException(sprintf('Not an IP address or CIDR range: "%s"', $entry));
        }
        $bits = strlen($packed) * 8;
        $prefix = $bits;
        if (isset($parts[1])) {
            if (preg_match('/\A\d{1,3}\z/', $parts[1]) !== 1 || (int) $parts[1] > $bits) {
                throw new InvalidArgumentException(sprintf('Bad CIDR prefix length in "%s"', $entry));
            }
            $prefix = (int) $parts[1];
        }
        // An IPv4-mapped entry (::ffff:a.b.c.d[/96+]) is the IPv4 range, as
        // contains() treats a mapped address as IPv4.
        if ($bits === 128 && $prefix >= 96 && strncmp($packed, str_repeat("\0", 10) . "\xff\xff", 12) === 0) {
            return [substr($packed, 12), $prefix - 96];
        }
        return [$packed, $prefix];
    }

    private static function prefixMatches(string $address, string $network, int $prefix): bool
    {
        $fullBytes = intdiv($prefix, 8);
        if (substr($address, 0, $fullBytes) !== substr($network, 0, $fullBytes)) {
            return false;
        }
        $rest = $prefix % 8;
        if ($rest === 0) {
            return true;
        }
        $mask = (0xff << (8 - $rest)) & 0xff;
        return (ord($address[$fullBytes]) & $mask) === (ord($network[$fullBytes]) & $mask);
    }

    private static function stripZone(string $address): string
    {
        $pos = strpos($address, '%');
        return $pos === false ? $address : substr($address, 0, $pos);
    }
}
