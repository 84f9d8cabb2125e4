<?php

namespace Octogate\Sso\Updates;

use October\Rain\Database\Schema\Blueprint;
use October\Rain\Database\Updates\Migration;
use Schema;

/**
 * The sub → backend user link (one row per identity-provider subject).
 */
class CreateIdentitiesTable extends Migration
{
    public function up()
    {
        Schema::create('octogate_sso_identities', function (Blueprint $table) {
            $table->increments('id');
            $table->string('sub', 255)->unique();
            $table->integer('user_id')->unsigned()->index();
            $table->timestamps();
        });
    }

    public function down()
    {
        Schema::dropIfExists('octogate_sso_identities');
    }
}
