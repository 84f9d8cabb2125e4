<?php

declare(strict_types=1);

namespace Octogate\Sso\Classes;

/**
 * The 403 page shown instead of October's password form.
 */
final class DeniedPage
{
    public static function render(string $reason, string $message): string
    {
        $e = static function (string $s): string {
            return htmlspecialchars($s, ENT_QUOTES | ENT_SUBSTITUTE, 'UTF-8');
        };
        return '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Access denied</title></head><body>'
            . '<h1>Access denied</h1>'
            . '<p>Sign-in to this site\'s backend goes through octogate (your organisation\'s single sign-on). '
            . 'Open the backend through the site\'s normal address and sign in there.</p>'
            . ($message !== '' ? '<p>' . $e($message) . '</p>' : '')
            . '<p id="shim-denied">' . $e($reason) . '</p>'
            . '</body></html>';
    }
}
