<?php

declare(strict_types=1);

namespace Octogate\Standin;

use Octogate\Sso\Classes\DeniedPage;

/**
 * HTML of the stand-in's pages. Element ids are part of the contract with
 * the browser end-to-end test (see README.md).
 */
final class Pages
{
    private static function e(string $s): string
    {
        return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
    }

    private static function page(string $title, string $body): string
    {
        return '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>' . self::e($title)
            . '</title></head><body>' . $body . '</body></html>';
    }

    public static function home(string $uri, bool $assertionPresent): Response
    {
        return Response::html(self::page('Public site (stand-in)',
            '<h1>Public site (stand-in)</h1>'
            . '<p id="path">' . self::e(explode('?', $uri, 2)[0]) . '</p>'
            . '<p id="identity">' . ($assertionPresent ? 'assertion-present' : 'anonymous') . '</p>'
            . '<p><a id="backend-link" href="/backend">Backend</a></p>'));
    }

    /**
     * @param array<string, mixed> $user backend_users row plus role_code
     */
    public static function backend(array $user): Response
    {
        $dd = static function (string $id, string $value): string {
            return '<dt>' . self::e($id) . '</dt><dd id="' . $id . '">' . self::e($value) . '</dd>';
        };
        return Response::html(self::page('October backend (stand-in)',
            '<h1>October backend (stand-in)</h1><dl>'
            . $dd('user-id', (string) $user['id'])
            . $dd('user-login', (string) $user['login'])
            . $dd('user-email', (string) $user['email'])
            . $dd('user-first-name', (string) ($user['first_name'] ?? ''))
            . $dd('user-last-name', (string) ($user['last_name'] ?? ''))
            . $dd('user-role', (string) ($user['role_code'] ?? ''))
            . $dd('user-superuser', ((int) $user['is_superuser']) === 1 ? 'yes' : 'no')
            . '</dl><p><a id="sign-out" href="/backend/backend/auth/signout">Sign out</a></p>'));
    }

    /**
     * Only reachable through break-glass: October's own password form.
     */
    public static function octoberSignIn(string $reason): Response
    {
        return Response::html(self::page('October sign-in (stand-in)',
            '<h1>October sign-in (stand-in)</h1><p id="october-signin">' . self::e($reason) . '</p>'
            . '<form method="post" action="/backend/auth/signin"><input name="login"><input type="password" name="password"></form>'));
    }

    public static function denied(string $reason, string $message): string
    {
        return DeniedPage::render($reason, $message);
    }
}
