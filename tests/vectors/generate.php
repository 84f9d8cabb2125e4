<?php

/**
 * Deterministic generator of tests/vectors/assertions.json, the shared test
 * vectors for octogate's identity assertion (X-Octogate-Assertion).
 *
 * Run from anywhere:  php tests/vectors/generate.php
 * Needs only PHP >= 8.0 with sodium. Fixed seeds and a fixed "now", so the
 * output is byte-for-byte reproducible (Ed25519 signatures are deterministic).
 * It deliberately does not use the plugin's verifier: expectations are
 * written by hand from the contract, not derived from the code under test.
 */

declare(strict_types=1);

const NOW = 1767225600; // 2026-01-01T00:00:00Z
const ISSUER = 'https://site1.example.com';
const AUDIENCE = 'site1';

function b64u(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

/** @return array{seed:string, public:string, secret:string, kid:string} */
function keypair(string $label): array
{
    $seed = hash('sha256', 'octogate test vector key: ' . $label, true);
    $kp = sodium_crypto_sign_seed_keypair($seed);
    $public = sodium_crypto_sign_publickey($kp);
    return [
        'seed' => $seed,
        'public' => $public,
        'secret' => sodium_crypto_sign_secretkey($kp),
        'kid' => substr(hash('sha256', $public), 0, 16),
    ];
}

function json(array $value): string
{
    return json_encode($value, JSON_UNESCAPED_SLASHES | JSON_PRESERVE_ZERO_FRACTION | JSON_THROW_ON_ERROR);
}

/** Sign raw header/payload JSON text with Ed25519. */
function sign_raw(string $headerJson, string $payloadJson, string $secret): string
{
    $input = b64u($headerJson) . '.' . b64u($payloadJson);
    return $input . '.' . b64u(sodium_crypto_sign_detached($input, $secret));
}

function sign(array $header, array $claims, string $secret): string
{
    return sign_raw(json($header), json($claims), $secret);
}

function claims(array $overrides = [], array $remove = []): array
{
    $c = [
        'iss' => ISSUER,
        'aud' => AUDIENCE,
        'sub' => '00u1a2b3c4d5e6f7g8h9',
        'email' => 'ada@example.com',
        'email_verified' => true,
        'name' => 'Ada Lovelace',
        'preferred_username' => 'ada',
        'groups' => ['cms-admins', 'site1-editors'],
        'role' => 'developer',
        'superuser' => false,
        'sid' => 'c2lkLTAwMDE',
        'iat' => NOW - 10,
        'exp' => NOW + 290,
        'jti' => 'jti-0001',
    ];
    foreach ($overrides as $k => $v) {
        $c[$k] = $v;
    }
    foreach ($remove as $k) {
        unset($c[$k]);
    }
    return $c;
}

$k1 = keypair('primary');
$k2 = keypair('rotated');
$rogue = keypair('rogue, not configured');
$h1 = ['alg' => 'EdDSA', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']];
$h2 = ['alg' => 'EdDSA', 'typ' => 'octogate-assertion+jwt', 'kid' => $k2['kid']];

$valid = sign($h1, claims(), $k1['secret']);
[$vh, $vp, $vs] = explode('.', $valid);

$v = [];
$add = function (string $name, string $token, string $expect, string $note = '') use (&$v): void {
    $row = ['name' => $name, 'token' => $token, 'expect' => $expect];
    if ($note !== '') {
        $row['note'] = $note;
    }
    $v[] = $row;
};

// --- accepted -------------------------------------------------------------
$add('valid', $valid, 'ok');
$add('valid_rotated_second_key', sign($h2, claims(), $k2['secret']), 'ok');
$add('missing_typ', sign(['alg' => 'EdDSA', 'kid' => $k1['kid']], claims(), $k1['secret']), 'malformed', 'typ is required (explicit typing, RFC 8725 3.11)');
$add('valid_superuser_publisher', sign($h1, claims(['role' => 'publisher', 'superuser' => true, 'groups' => []]), $k1['secret']), 'ok', 'empty groups array is fine');
$add('valid_without_optional_profile_claims', sign($h1, claims([], ['email', 'name', 'preferred_username']), $k1['secret']), 'ok', 'email, name, preferred_username are not required by the verifier');
$add('valid_email_verified_false', sign($h1, claims(['email_verified' => false]), $k1['secret']), 'ok', 'email_verified is optional; false is a well-typed value');
$add('valid_without_email_verified', sign($h1, claims([], ['email_verified']), $k1['secret']), 'ok', 'email_verified absent is fine (treated as false)');
$add('valid_lifetime_exactly_300', sign($h1, claims(['iat' => NOW - 100, 'exp' => NOW + 200]), $k1['secret']), 'ok');

// --- time boundaries (skew 30) ---------------------------------------------
$add('expired_within_skew_ok', sign($h1, claims(['iat' => NOW - 300, 'exp' => NOW - 29]), $k1['secret']), 'ok', 'now = exp + 29 < exp + skew');
$add('expired_at_skew_boundary', sign($h1, claims(['iat' => NOW - 300, 'exp' => NOW - 30]), $k1['secret']), 'expired', 'now = exp + 30 >= exp + skew');
$add('expired', sign($h1, claims(['iat' => NOW - 3600, 'exp' => NOW - 3300]), $k1['secret']), 'expired');
$add('iat_in_future_within_skew_ok', sign($h1, claims(['iat' => NOW + 30, 'exp' => NOW + 330]), $k1['secret']), 'ok', 'iat = now + skew is not > now + skew');
$add('not_yet_valid', sign($h1, claims(['iat' => NOW + 31, 'exp' => NOW + 331]), $k1['secret']), 'not_yet_valid', 'iat = now + 31');
$add('not_yet_valid_far', sign($h1, claims(['iat' => NOW + 3600, 'exp' => NOW + 3900]), $k1['secret']), 'not_yet_valid');
$add('lifetime_too_long', sign($h1, claims(['iat' => NOW - 10, 'exp' => NOW + 291]), $k1['secret']), 'lifetime_too_long', 'exp - iat = 301');
$add('lifetime_ten_years', sign($h1, claims(['iat' => NOW, 'exp' => NOW + 315360000]), $k1['secret']), 'lifetime_too_long');
$add('exp_before_iat_expired', sign($h1, claims(['iat' => NOW - 10, 'exp' => NOW - 100]), $k1['secret']), 'expired');

// --- issuer / audience -----------------------------------------------------
$add('wrong_audience', sign($h1, claims(['aud' => 'site2']), $k1['secret']), 'wrong_audience');
$add('audience_array', sign($h1, claims(['aud' => [AUDIENCE]]), $k1['secret']), 'wrong_audience', 'an array aud is never accepted, even if it contains the audience');
$add('audience_case_variant', sign($h1, claims(['aud' => 'Site1']), $k1['secret']), 'wrong_audience');
$add('wrong_issuer', sign($h1, claims(['iss' => 'https://evil.example.com']), $k1['secret']), 'wrong_issuer');
$add('issuer_trailing_slash', sign($h1, claims(['iss' => ISSUER . '/']), $k1['secret']), 'wrong_issuer', 'exact string comparison');

// --- signatures and keys ----------------------------------------------------
$sig = Base64UrlFlip::flipFirstBit($vs);
$add('bad_signature_flipped_bit', $vh . '.' . $vp . '.' . $sig, 'bad_signature');
$tampered = claims(['role' => 'developer', 'superuser' => true]);
$add('bad_signature_tampered_payload', $vh . '.' . b64u(json($tampered)) . '.' . $vs, 'bad_signature', 'payload changed after signing');
$add('signature_by_unconfigured_key_same_kid', sign($h1, claims(), $rogue['secret']), 'bad_signature', 'kid of the configured key 1, signed by another key');
$add('signature_too_short', $vh . '.' . $vp . '.' . b64u(substr(sodium_crypto_sign_detached($vh . '.' . $vp, $k1['secret']), 0, 63)), 'bad_signature');
$add('signature_too_long', $vh . '.' . $vp . '.' . b64u(sodium_crypto_sign_detached($vh . '.' . $vp, $k1['secret']) . "\0"), 'bad_signature');
$add('signature_empty_eddsa', $vh . '.' . $vp . '.', 'bad_signature');
$add('signed_by_key2_with_kid1', sign($h1, claims(), $k2['secret']), 'bad_signature');
$add('unknown_kid', sign(['alg' => 'EdDSA', 'typ' => 'octogate-assertion+jwt', 'kid' => $rogue['kid']], claims(), $rogue['secret']), 'unknown_kid');
$add('missing_kid', sign(['alg' => 'EdDSA', 'typ' => 'octogate-assertion+jwt'], claims(), $k1['secret']), 'unknown_kid');
$add('kid_uppercase_hex', sign(['alg' => 'EdDSA', 'typ' => 'octogate-assertion+jwt', 'kid' => strtoupper($k1['kid'])], claims(), $k1['secret']), 'unknown_kid');
$add('kid_not_string', sign(['alg' => 'EdDSA', 'typ' => 'octogate-assertion+jwt', 'kid' => 12345], claims(), $k1['secret']), 'unknown_kid');

// --- algorithm confusion ----------------------------------------------------
$noneInput = b64u(json(['alg' => 'none', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']])) . '.' . b64u(json(claims()));
$add('alg_none_empty_signature', $noneInput . '.', 'unsupported_alg');
$add('alg_none_uppercase', b64u(json(['alg' => 'NONE', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']])) . '.' . b64u(json(claims())) . '.', 'unsupported_alg');
$hsInput = b64u(json(['alg' => 'HS256', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']])) . '.' . b64u(json(claims()));
$add('alg_hs256_keyed_with_public_key', $hsInput . '.' . b64u(hash_hmac('sha256', $hsInput, $k1['public'], true)), 'unsupported_alg', 'HMAC with the raw public key bytes as secret');
$hsInput64 = b64u(json(['alg' => 'HS256', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']])) . '.' . b64u(json(claims()));
$add('alg_hs256_keyed_with_base64_public_key', $hsInput64 . '.' . b64u(hash_hmac('sha256', $hsInput64, base64_encode($k1['public']), true)), 'unsupported_alg');
$add('alg_lowercase_eddsa', sign(['alg' => 'eddsa', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']], claims(), $k1['secret']), 'unsupported_alg');
$add('alg_trailing_space', sign(['alg' => 'EdDSA ', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']], claims(), $k1['secret']), 'unsupported_alg');
$add('alg_ed25519', sign(['alg' => 'Ed25519', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']], claims(), $k1['secret']), 'unsupported_alg');
$add('alg_es256', sign(['alg' => 'ES256', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']], claims(), $k1['secret']), 'unsupported_alg');
$add('alg_missing', sign(['typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']], claims(), $k1['secret']), 'unsupported_alg');
$add('alg_array', sign(['alg' => ['EdDSA'], 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid']], claims(), $k1['secret']), 'unsupported_alg');
$add('alg_none_before_unknown_kid', b64u(json(['alg' => 'none'])) . '.' . b64u(json(claims())) . '.', 'unsupported_alg', 'alg is checked before kid');

// --- header typ / crit ------------------------------------------------------
$add('typ_at_jwt', sign(['alg' => 'EdDSA', 'typ' => 'at+jwt', 'kid' => $k1['kid']], claims(), $k1['secret']), 'malformed');
$add('typ_plain_jwt', sign(['alg' => 'EdDSA', 'typ' => 'JWT', 'kid' => $k1['kid']], claims(), $k1['secret']), 'malformed', 'any other JWT signed with the key is not an assertion');
$add('typ_uppercase', sign(['alg' => 'EdDSA', 'typ' => 'OCTOGATE-ASSERTION+JWT', 'kid' => $k1['kid']], claims(), $k1['secret']), 'malformed');
$add('typ_not_string', sign(['alg' => 'EdDSA', 'typ' => ['octogate-assertion+jwt'], 'kid' => $k1['kid']], claims(), $k1['secret']), 'malformed');
$add('typ_lowercase_jwt', sign(['alg' => 'EdDSA', 'typ' => 'jwt', 'kid' => $k1['kid']], claims(), $k1['secret']), 'malformed');
$add('crit_header', sign(['alg' => 'EdDSA', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid'], 'crit' => ['exp']], claims(), $k1['secret']), 'malformed');
$add('crit_header_empty', sign(['alg' => 'EdDSA', 'typ' => 'octogate-assertion+jwt', 'kid' => $k1['kid'], 'crit' => []], claims(), $k1['secret']), 'malformed');

// --- structure / encoding ---------------------------------------------------
$add('empty_token', '', 'malformed');
$add('two_segments', $vh . '.' . $vp, 'malformed');
$add('four_segments', $valid . '.' . $vs, 'malformed');
$add('five_segments_jwe_like', $vh . '.' . $vp . '.' . $vs . '.' . $vs . '.' . $vs, 'malformed');
$add('trailing_dot', $valid . '.', 'malformed');
$add('only_dots', '..', 'malformed');
$add('header_padding', $vh . '=' . '.' . $vp . '.' . $vs, 'malformed', '= padding is not allowed');
$padded = strtr(base64_encode(sodium_crypto_sign_detached($vh . '.' . $vp, $k1['secret'])), "+/", "-_");
$add('signature_padding', $vh . '.' . $vp . '.' . $padded, 'malformed', 'signature with its == padding');
$plusSlash = $vh . '.' . $vp . '.' . base64_encode(sodium_crypto_sign_detached($vh . '.' . $vp, $k1['secret']));
$add('signature_standard_base64', $plusSlash, 'malformed', 'standard alphabet with padding');
$add('plus_slash_in_payload', $vh . '.' . strtr($vp, '-_', '+/') . '+/.' . $vs, 'malformed');
$add('invalid_char_space', $vh . '.' . $vp . ' .' . $vs, 'malformed');
$add('invalid_char_star', $vh . '.*' . $vp . '.' . $vs, 'malformed');
$add('leading_whitespace', ' ' . $valid, 'malformed');
$add('trailing_newline', $valid . "\n", 'malformed');
$add('non_ascii_char', $vh . '.' . $vp . "\u{00e9}." . $vs, 'malformed');
$add('impossible_base64_length', $vh . 'A.' . $vp . '.' . $vs, 'malformed', 'length % 4 == 1 cannot be base64');
$add('bearer_prefix', 'Bearer ' . $valid, 'malformed');
$add('header_not_json', b64u('not json') . '.' . $vp . '.' . $vs, 'malformed');
$add('header_json_array', sign_raw('["EdDSA"]', json(claims()), $k1['secret']), 'malformed');
$add('header_json_string', sign_raw('"EdDSA"', json(claims()), $k1['secret']), 'malformed');
$add('header_empty', '.' . $vp . '.' . $vs, 'malformed');
$add('payload_json_array', sign_raw(json($h1), '[1,2,3]', $k1['secret']), 'malformed');
$add('payload_not_json', sign_raw(json($h1), '{"sub":', $k1['secret']), 'malformed');
$add('payload_json_null', sign_raw(json($h1), 'null', $k1['secret']), 'malformed');
$add('payload_empty', sign_raw(json($h1), '', $k1['secret']), 'malformed');
$add('payload_invalid_utf8', sign_raw(json($h1), "{\"sub\":\"\xff\"}", $k1['secret']), 'malformed');

// --- size -------------------------------------------------------------------
$big = sign($h1, claims(['groups' => array_map(fn ($i) => sprintf('group-%05d', $i), range(1, 700))]), $k1['secret']);
$add('oversized', $big, 'oversized', 'validly signed but longer than 8192 bytes');
$add('oversized_garbage', str_repeat('A', 8193), 'oversized');
/**
 * Find a validly signed token of exactly $len bytes by padding jti and sid,
 * and the header with JSON whitespace (an unpadded base64url length is never
 * 1 mod 4, so some lengths need the header one or two bytes longer).
 */
$sized = function (int $len) use ($h1, $k1): string {
    for ($pad = 0; $pad < 3; $pad++) {
        $header = '{' . str_repeat(' ', $pad) . substr(json($h1), 1);
        for ($sid = 1; $sid < 8; $sid++) {
            for ($jti = 4000; $jti < 7000; $jti++) {
                $t = sign_raw($header, json(claims(['jti' => str_repeat('j', $jti), 'sid' => str_repeat('s', $sid)])), $k1['secret']);
                if (strlen($t) === $len) {
                    return $t;
                }
                if (strlen($t) > $len) {
                    break;
                }
            }
        }
    }
    throw new RuntimeException("no token of length $len");
};
$add('exactly_8192_bytes_ok', $sized(8192), 'ok', 'the limit itself is allowed');
$add('exactly_8193_bytes', $sized(8193), 'oversized');

// --- claims: presence and types --------------------------------------------
foreach (['iss', 'aud', 'sub', 'iat', 'exp', 'jti', 'sid', 'role', 'superuser', 'groups'] as $claim) {
    $add('missing_claim_' . $claim, sign($h1, claims([], [$claim]), $k1['secret']), 'missing_claim');
}
$types = [
    'exp_as_string' => ['exp' => (string) (NOW + 290)],
    'iat_as_string' => ['iat' => (string) (NOW - 10)],
    'exp_as_float' => ['exp' => (float) (NOW + 290)],
    'exp_null' => ['exp' => null],
    'iat_negative' => ['iat' => -1],
    'exp_negative' => ['exp' => -1],
    'email_verified_as_string' => ['email_verified' => 'true'],
    'email_verified_as_int' => ['email_verified' => 1],
    'email_verified_null' => ['email_verified' => null],
    'superuser_as_string' => ['superuser' => 'true'],
    'superuser_as_int' => ['superuser' => 1],
    'groups_as_string' => ['groups' => 'cms-admins'],
    'groups_with_non_string' => ['groups' => ['cms-admins', 7]],
    'groups_as_object' => ['groups' => ['a' => 'cms-admins']],
    'role_empty' => ['role' => ''],
    'role_as_array' => ['role' => ['developer']],
    'sub_empty' => ['sub' => ''],
    'sub_as_int' => ['sub' => 42],
    'iss_as_array' => ['iss' => [ISSUER]],
    'aud_as_int' => ['aud' => 1],
    'jti_as_int' => ['jti' => 1],
    'sid_as_null' => ['sid' => null],
];
foreach ($types as $name => $override) {
    $add('wrong_type_' . $name, sign($h1, claims($override), $k1['secret']), 'missing_claim');
}
$add('missing_claim_before_issuer', sign($h1, claims(['iss' => 'https://evil.example.com'], ['role']), $k1['secret']), 'missing_claim', 'claim types are checked before the issuer');
$add('wrong_issuer_before_expired', sign($h1, claims(['iss' => 'https://evil.example.com', 'iat' => NOW - 3600, 'exp' => NOW - 3300]), $k1['secret']), 'wrong_issuer');
$add('wrong_audience_before_expired', sign($h1, claims(['aud' => 'site2', 'iat' => NOW - 3600, 'exp' => NOW - 3300]), $k1['secret']), 'wrong_audience');
$add('expired_before_lifetime', sign($h1, claims(['iat' => NOW - 7200, 'exp' => NOW - 3600]), $k1['secret']), 'expired');

/** Helper: flip one bit in the first byte of a base64url signature. */
final class Base64UrlFlip
{
    public static function flipFirstBit(string $b64u): string
    {
        $bytes = base64_decode(strtr($b64u, '-_', '+/'), true);
        $bytes[0] = chr(ord($bytes[0]) ^ 0x01);
        return b64u($bytes);
    }
}

$out = [
    'description' => 'Shared test vectors for the X-Octogate-Assertion identity assertion (compact JWS, EdDSA/Ed25519). '
        . 'Every verifier (octogate Rust, October shim PHP) must return exactly "expect" for each token when configured with '
        . 'all "keys", the "issuer" and "audience", at time "now" with clock skew "skew". Generated by tests/vectors/generate.php; do not edit by hand.',
    'skew' => 30,
    'now' => NOW,
    'issuer' => ISSUER,
    'audience' => AUDIENCE,
    'keys' => [
        ['kid' => $k1['kid'], 'public_key' => base64_encode($k1['public']), 'private_seed' => base64_encode($k1['seed'])],
        ['kid' => $k2['kid'], 'public_key' => base64_encode($k2['public']), 'private_seed' => base64_encode($k2['seed'])],
    ],
    'unconfigured_key' => ['kid' => $rogue['kid'], 'public_key' => base64_encode($rogue['public']), 'private_seed' => base64_encode($rogue['seed']), 'note' => 'NOT configured; signs the bad_signature / unknown_kid vectors'],
    'vectors' => $v,
];
$names = array_column($v, 'name');
if (count($names) !== count(array_unique($names))) {
    fwrite(STDERR, "duplicate vector names\n");
    exit(1);
}
file_put_contents(__DIR__ . '/assertions.json', json_encode($out, JSON_PRETTY_PRINT | JSON_UNESCAPED_SLASHES | JSON_THROW_ON_ERROR) . "\n");
fwrite(STDOUT, sprintf("wrote %d vectors to %s\n", count($v), __DIR__ . '/assertions.json'));
