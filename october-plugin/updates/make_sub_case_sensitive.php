<?php

namespace Octogate\Sso\Updates;

use Db;
use October\Rain\Database\Updates\Migration;

/**
 * The sub column compares byte for byte. MySQL/MariaDB tables default to a
 * case- and accent-insensitive collation (utf8mb4_unicode_ci, ..._0900_ai_ci),
 * under which "00uAbC" and "00uabc" are one sub; make it utf8mb4_bin. SQLite
 * and PostgreSQL compare text bytes already. (The plugin also checks every
 * match in PHP, so this is defence in depth.)
 */
class MakeSubCaseSensitive extends Migration
{
    public function up()
    {
        $connection = Db::connection();
        if (!in_array($connection->getDriverName(), ['mysql', 'mariadb'], true)) {
            return;
        }
        $table = $connection->getTablePrefix() . 'octogate_sso_identities';
        Db::statement('ALTER TABLE `' . $table . '` MODIFY `sub` VARCHAR(255) CHARACTER SET utf8mb4 COLLATE utf8mb4_bin NOT NULL');
    }

    public function down()
    {
        // Nothing: going back to a case-insensitive sub is never wanted.
    }
}
