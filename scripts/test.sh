#!/usr/bin/env bash
# The whole test suite, on a fresh Debian machine: installs what the tests need (as root, via apt
# and npm ci), builds once, then runs every suite. Exit non-zero if any suite fails; a missing
# dependency (PHP, node, chromium, nginx, the test OpenID Provider) is a failure, never a skip.
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

need_apt=()
command -v php >/dev/null 2>&1 || need_apt+=(php-cli)
php -m 2>/dev/null | grep -qi '^pdo_sqlite$' || need_apt+=(php-sqlite3)
command -v phpunit >/dev/null 2>&1 || need_apt+=(phpunit)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
command -v nginx >/dev/null 2>&1 || need_apt+=(nginx-light)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs npm)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)
if ((${#need_apt[@]})); then
  echo "== installing: ${need_apt[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null \
    || { echo "FAIL: could not install ${need_apt[*]}"; exit 1; }
fi
if [[ ! -d tests/js/node_modules/oidc-provider || ! -d tests/js/node_modules/playwright-core ]]; then
  echo "== npm ci (tests/js)"
  npm ci --prefix tests/js --no-audit --no-fund --loglevel=error || { echo "FAIL: npm ci"; exit 1; }
fi

passed=0
failed=0
failed_names=()
suite() {
  local name="$1"; shift
  echo
  echo "== $name: $*"
  if "$@"; then
    passed=$((passed + 1))
  else
    failed=$((failed + 1))
    failed_names+=("$name")
  fi
}

echo "== cargo build (once)"
cargo build --locked --all-targets || { echo "FAIL: cargo build"; echo "suites: 0 passed, 1 failed"; exit 1; }

suite rust        cargo test --locked --no-fail-fast
suite php         phpunit -c october-plugin/phpunit.xml
suite js-op       node --test tests/js/op/
suite browser-e2e env OCTOGATE_BIN="$root/target/debug/octogate" node --test tests/js/e2e/
suite deploy      bash tests/deploy/run.sh

echo
if ((failed)); then
  echo "failed suites: ${failed_names[*]}"
fi
echo "suites: $passed passed, $failed failed"
((failed == 0))
