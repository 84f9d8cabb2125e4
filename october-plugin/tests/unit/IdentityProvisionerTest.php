<?php

declare(strict_types=1);

namespace Octogate\Sso\Tests\Unit;

use Octogate\Sso\Classes\Core\Identity;
use Octogate\Sso\Classes\Core\IdentityProvisioner;
use Octogate\Sso\Classes\Core\InMemoryUserDirectory;
use Octogate\Sso\Classes\Core\ProvisioningException;
use Octogate\Sso\Tests\Support\TokenFactory;
use PHPUnit\Framework\TestCase;

final class IdentityProvisionerTest extends TestCase
{
    /** @var InMemoryUserDirectory */
    private $dir;
    /** @var IdentityProvisioner */
    private $provisioner;

    protected function setUp(): void
    {
        $this->dir = new InMemoryUserDirectory(['developer' => 1, 'publisher' => 2, 'editor' => 3]);
        $this->provisioner = new IdentityProvisioner($this->dir);
    }

    /**
     * @param array<string, mixed> $overrides
     */
    private static function identity(array $overrides = []): Identity
    {
        return Identity::fromClaims(array_merge(TokenFactory::claims(), $overrides));
    }

    public function testCreatesUserWithSyncedAttributesAndLinksSub(): void
    {
        $id = $this->provisioner->provision(self::identity(['superuser' => true, 'role' => 'publisher']));
        $row = $this->dir->users[$id];
        $this->assertSame('ada', $row['login']);
        $this->assertSame('ada@example.com', $row['email']);
        $this->assertSame('Ada', $row['first_name']);
        $this->assertSame('King Lovelace', $row['last_name']);
        $this->assertSame(2, $row['role_id']);
        $this->assertTrue($row['is_superuser']);
        $this->assertTrue($row['is_activated']);
        $this->assertFalse($row['is_password_expired']);
        $this->assertSame($id, $this->dir->links['okta-sub-ada']);
        $this->assertStringStartsWith('$', $row['password'], 'a hashed random password is set on create');
        $this->assertCount(1, $this->dir->users);
    }

    public function testSecondProvisionFindsTheSameUserBySub(): void
    {
        $a = $this->provisioner->provision(self::identity());
        $b = $this->provisioner->provision(self::identity(['email' => 'ada.new@example.com']));
        $this->assertSame($a, $b);
        $this->assertCount(1, $this->dir->users);
        $this->assertSame('ada.new@example.com', $this->dir->users[$a]['email']);
    }

    /**
     * @return array<string, array{0: string}>
     */
    public static function emailsWithInvisibleCharacters(): array
    {
        return [
            'trailing vertical tab' => ["ada@example.com\u{000b}"],
            'leading space' => [' ada@example.com'],
            'trailing NUL' => ["ada@example.com\0"],
            'no-break space' => ["ada@example.com\u{00a0}"],
            'zero-width space' => ["ada@example.com\u{200b}"],
            'line separator' => ["ada@\u{2028}example.com"],
            'DEL' => ["ada@example.com\x7f"],
            'not UTF-8' => ["ada@example.com\xff"],
        ];
    }

    /**
     * An address with characters that trimming or a database collation
     * would drop is no address at all: it never links to (or is written
     * onto) the account of the address it resembles.
     *
     * @dataProvider emailsWithInvisibleCharacters
     */
    public function testAnEmailWithInvisibleCharactersIsNoEmail(string $email): void
    {
        $this->assertNull(Identity::fromClaims(['email' => $email] + TokenFactory::claims())->email);
        $existing = $this->dir->seedUser(['login' => 'alovelace', 'email' => 'ada@example.com', 'role_id' => 3]);
        try {
            $this->provisioner->provision(self::identity(['email' => $email, 'sub' => 'other-sub']));
            $this->fail('a user without a usable email must not be provisioned');
        } catch (ProvisioningException $e) {
            $this->assertSame([], $this->dir->links);
            $this->assertSame('ada@example.com', $this->dir->users[$existing]['email']);
        }
    }

    public function testLinksExistingUserByEmailCaseInsensitively(): void
    {
        $existing = $this->dir->seedUser(['login' => 'alovelace', 'email' => 'ADA@example.com', 'role_id' => 3]);
        $id = $this->provisioner->provision(self::identity());
        $this->assertSame($existing, $id);
        $this->assertSame($existing, $this->dir->links['okta-sub-ada']);
        $this->assertSame('alovelace', $this->dir->users[$id]['login'], 'login of an existing user is kept');
        $this->assertSame(1, $this->dir->users[$id]['role_id'], 'role synced from the claim');
        $this->assertFalse(password_verify('seeded-hash', $this->dir->users[$id]['password']));
        $this->assertNotSame('seeded-hash', $this->dir->users[$id]['password'], 'a password set before SSO is replaced');
        // Signing in again does not touch the password any more.
        $claimed = $this->dir->users[$id]['password'];
        $this->provisioner->provision(self::identity());
        $this->assertSame($claimed, $this->dir->users[$id]['password']);
    }

    /**
     * @return array<string, array{0: array<string, mixed>}>
     */
    public function unverifiedEmails(): array
    {
        return [
            'email_verified false' => [['email_verified' => false]],
            'email_verified absent' => [['email_verified' => null]],
        ];
    }

    /**
     * nOAuth: an identity-provider account that merely claims an email must
     * not take over the backend account with that email.
     *
     * @dataProvider unverifiedEmails
     * @param array<string, mixed> $override
     */
    public function testUnverifiedEmailNeverLinksToAnExistingUser(array $override): void
    {
        $existing = $this->dir->seedUser(['login' => 'alovelace', 'email' => 'ADA@example.com', 'role_id' => 3]);
        try {
            $this->provisioner->provision(self::identity($override));
            $this->fail('expected a ProvisioningException');
        } catch (ProvisioningException $e) {
            $this->assertSame('email_link_refused', $e->reason());
            $this->assertStringContainsString('verified', $e->getMessage());
        }
        $this->assertSame([], $this->dir->links);
        $this->assertCount(1, $this->dir->users, 'no duplicate account either');
        $this->assertSame(3, $this->dir->users[$existing]['role_id'], 'the existing account is not touched');
    }

    /**
     * Pre-account takeover: an unverified email is never written onto a new
     * account (the real owner would later be linked to it by email).
     *
     * @dataProvider unverifiedEmails
     * @param array<string, mixed> $override
     */
    public function testUnverifiedEmailNeverCreatesAUser(array $override): void
    {
        try {
            $this->provisioner->provision(self::identity($override));
            $this->fail('expected a ProvisioningException');
        } catch (ProvisioningException $e) {
            $this->assertSame('email_unverified', $e->reason());
        }
        $this->assertSame([], $this->dir->users);
        $this->assertSame([], $this->dir->links);
    }

    public function testEmailNeverLinksToAnAccountThatAlreadyHasASub(): void
    {
        $mallory = $this->provisioner->provision(self::identity(['sub' => 'attacker-sub', 'preferred_username' => 'mallory']));
        try {
            $this->provisioner->provision(self::identity(['sub' => 'victim-sub', 'superuser' => true]));
            $this->fail('expected a ProvisioningException');
        } catch (ProvisioningException $e) {
            $this->assertSame('email_link_refused', $e->reason());
        }
        $this->assertSame(['attacker-sub' => $mallory], $this->dir->links);
        $this->assertFalse($this->dir->users[$mallory]['is_superuser']);
        $this->assertCount(1, $this->dir->users);
    }

    /**
     * @dataProvider unverifiedEmails
     * @param array<string, mixed> $override
     */
    public function testUnverifiedEmailChangeOfALinkedUserIsIgnoredAndLogged(array $override): void
    {
        $logged = [];
        $provisioner = new IdentityProvisioner($this->dir, static function (string $message, array $context) use (&$logged): void {
            $logged[] = [$message, $context];
        });
        $id = $provisioner->provision(self::identity());
        $this->assertSame($id, $provisioner->provision(self::identity(['email' => 'victim@example.com', 'role' => 'editor'] + $override)));
        $this->assertSame('ada@example.com', $this->dir->users[$id]['email'], 'old email kept');
        $this->assertSame(3, $this->dir->users[$id]['role_id'], 'the rest is still synced');
        $this->assertCount(1, $logged);
        $this->assertStringContainsString('unverified email change ignored', $logged[0][0]);
        $this->assertSame(['user_id' => $id], $logged[0][1]);
        // Same email, unverified: nothing to log, nothing written.
        $provisioner->provision(self::identity(['email' => 'ADA@example.com'] + $override));
        $this->assertCount(1, $logged);
        $this->assertSame('ada@example.com', $this->dir->users[$id]['email']);
        // The provider verifies the new address: now it is synced.
        $provisioner->provision(self::identity(['email' => 'ada.new@example.com']));
        $this->assertSame('ada.new@example.com', $this->dir->users[$id]['email']);
    }

    public function testVerifiedEmailNeverLinksToAnExistingSuperuser(): void
    {
        $root = $this->dir->seedUser(['login' => 'admin', 'email' => 'ada@example.com', 'is_superuser' => true, 'role_id' => 1]);
        foreach ([false, true] as $claimedSuperuser) {
            try {
                $this->provisioner->provision(self::identity(['superuser' => $claimedSuperuser]));
                $this->fail('expected a ProvisioningException');
            } catch (ProvisioningException $e) {
                $this->assertSame('email_link_refused', $e->reason());
                $this->assertStringContainsString('superuser', $e->getMessage());
            }
        }
        $this->assertSame([], $this->dir->links);
        $this->assertCount(1, $this->dir->users);
        $this->assertTrue($this->dir->users[$root]['is_superuser']);
    }

    public function testSuperuserLinkedBySubByAnAdministratorSignsIn(): void
    {
        $root = $this->dir->seedUser(['login' => 'admin', 'email' => 'ada@example.com', 'is_superuser' => true]);
        $this->dir->link('okta-sub-ada', $root); // linked by hand
        $this->assertSame($root, $this->provisioner->provision(self::identity(['superuser' => true, 'email_verified' => null])));
    }

    public function testSyncsRoleAndSuperuserBothWays(): void
    {
        $id = $this->provisioner->provision(self::identity(['role' => 'editor', 'superuser' => true]));
        $this->assertSame(3, $this->dir->users[$id]['role_id']);
        $this->assertTrue($this->dir->users[$id]['is_superuser']);
        $this->provisioner->provision(self::identity(['role' => 'developer', 'superuser' => false]));
        $this->assertSame(1, $this->dir->users[$id]['role_id']);
        $this->assertFalse($this->dir->users[$id]['is_superuser']);
    }

    public function testNeverTouchesThePasswordOfALinkedUser(): void
    {
        $id = $this->dir->seedUser(['login' => 'ada', 'email' => 'ada@example.com', 'password' => 'original-hash', 'is_password_expired' => true]);
        $this->dir->link('okta-sub-ada', $id);
        $this->provisioner->provision(self::identity());
        $this->provisioner->provision(self::identity(['name' => 'Ada Byron']));
        $this->assertSame('original-hash', $this->dir->users[$id]['password']);
        $this->assertFalse($this->dir->users[$id]['is_password_expired']);
    }

    public function testRefusesSoftDeletedUserFoundByVerifiedEmail(): void
    {
        $this->dir->seedUser(['login' => 'ada', 'email' => 'ada@example.com', 'deleted_at' => '2025-01-01 00:00:00']);
        try {
            $this->provisioner->provision(self::identity());
            $this->fail('expected a ProvisioningException');
        } catch (ProvisioningException $e) {
            $this->assertSame('user_deleted', $e->reason());
            $this->assertStringContainsString('deleted', $e->getMessage());
        }
        $this->assertCount(1, $this->dir->users, 'not resurrected, not duplicated');
        $this->assertSame([], $this->dir->links);
        $this->assertNotNull($this->dir->users[1]['deleted_at']);
    }

    public function testALongLoginIsCutAtACharacterBoundary(): void
    {
        // 242 ASCII bytes, then "é" (2 bytes): a byte cut at 243 would split it.
        $wanted = str_repeat('a', 242) . 'éé';
        $id = $this->provisioner->provision(self::identity(['preferred_username' => $wanted]));
        $login = $this->dir->users[$id]['login'];
        $this->assertTrue(mb_check_encoding($login, 'UTF-8'), 'valid UTF-8');
        $this->assertSame(str_repeat('a', 242), $login);
    }

    public function testAtomicallyUndoesEveryWriteWhenItsWorkFails(): void
    {
        $id = $this->provisioner->provision(self::identity());
        $before = [$this->dir->users, $this->dir->links];
        try {
            $this->dir->atomically(function () use ($id): void {
                $this->dir->claim($id, 'new password');
                $this->dir->link('other-sub', $id);
                $this->dir->seedUser(['login' => 'half']);
                throw new \RuntimeException('database gone');
            });
            $this->fail('the failure must reach the caller');
        } catch (\RuntimeException $e) {
            $this->assertSame('database gone', $e->getMessage());
        }
        $this->assertSame($before, [$this->dir->users, $this->dir->links]);
        $this->assertSame(7, $this->dir->atomically(static function (): int {
            return 7;
        }));
    }

    public function testRefusesSoftDeletedUserFoundBySub(): void
    {
        $id = $this->provisioner->provision(self::identity());
        $this->dir->users[$id]['deleted_at'] = '2025-06-01 00:00:00';
        $this->expectException(ProvisioningException::class);
        $this->expectExceptionMessage('deleted');
        $this->provisioner->provision(self::identity());
    }

    public function testMissingRoleIsAClearError(): void
    {
        try {
            $this->provisioner->provision(self::identity(['role' => 'owner']));
            $this->fail('expected a ProvisioningException');
        } catch (ProvisioningException $e) {
            $this->assertSame('unknown_role', $e->reason());
            $this->assertStringContainsString('"owner"', $e->getMessage());
        }
        $this->assertSame([], $this->dir->users);
    }

    public function testLoginIsMadeUniqueCaseInsensitively(): void
    {
        $this->dir->seedUser(['login' => 'ADA', 'email' => 'other@example.com']);
        $this->dir->seedUser(['login' => 'ada-2', 'email' => 'other2@example.com']);
        $id = $this->provisioner->provision(self::identity());
        $this->assertSame('ada-3', $this->dir->users[$id]['login']);
    }

    public function testLoginFallsBackToEmail(): void
    {
        $id = $this->provisioner->provision(self::identity(['preferred_username' => null]));
        $this->assertSame('ada@example.com', $this->dir->users[$id]['login']);
    }

    public function testCreateWithoutEmailIsRefused(): void
    {
        $this->expectException(ProvisioningException::class);
        $this->provisioner->provision(self::identity(['email' => null]));
    }

    public function testEmailChangeOntoAnotherUsersEmailIsRefused(): void
    {
        $this->provisioner->provision(self::identity());
        $this->dir->seedUser(['login' => 'bob', 'email' => 'bob@example.com']);
        try {
            $this->provisioner->provision(self::identity(['email' => 'bob@example.com']));
            $this->fail('expected a ProvisioningException');
        } catch (ProvisioningException $e) {
            $this->assertSame('email_conflict', $e->reason());
        }
        $this->assertSame('ada@example.com', $this->dir->users[1]['email']);
    }

    public function testUnusablePasswordIsRandomAndShort(): void
    {
        $a = IdentityProvisioner::unusablePassword();
        $this->assertNotSame($a, IdentityProvisioner::unusablePassword());
        $this->assertLessThanOrEqual(255, strlen($a));
        $this->assertGreaterThanOrEqual(32, strlen($a));
    }
}
