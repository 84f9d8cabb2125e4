#!/usr/bin/env bash
# Quick A/B of octogate builds on the public path, side by side with nginx, in one run.
# Usage: bash bench/ab.sh [ROUNDS] OCTOGATE_BINARY...   (e.g. an old build and a new one)
#
# Runs are alternated (nginx, A, B, nginx, A, B, ...) so drift on a shared machine hits every
# candidate alike; each prints req/s, CPU per request (utime+stime of the server from /proc,
# split into user and kernel) and peak RSS, then medians and ratios to nginx. Faster than
# bench/run.sh (no OP, no Apache, 4 s runs) and meant for iterating; bench/run.sh is the record.
# Same pinning as bench/run.sh: wrk on cpu 0, server and upstream on cpu 1.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROUNDS=${1:-3}
shift || true
(( $# >= 1 )) || { echo "usage: bash bench/ab.sh [ROUNDS] OCTOGATE_BINARY..." >&2; exit 2; }
for b in "$@"; do [[ -x $b ]] || { echo "not executable: $b" >&2; exit 2; }; done
for t in wrk nginx taskset python3; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 2; }; done
DURATION=${DURATION:-4s}
CONNS=${CONNS:-256}
BASE=${PORT_BASE:-$(( 20000 + RANDOM % 10000 ))}
UP=$((BASE + 1)) NGX=$((BASE + 2)) OG=$((BASE + 3))

# shellcheck source=bench/public-hop.sh
source "$HERE/public-hop.sh"
start_run_dir ab
NAME=upstream PORT=$UP python3 "$HERE/benchtool.py" render "$HERE/conf/nginx-upstream.conf" "$RUN/up.conf"
NAME=proxy PORT=$NGX UP_PORT=$UP ACCESS_LOG=off python3 "$HERE/benchtool.py" render "$HERE/conf/nginx-proxy.conf" "$RUN/px.conf"
taskset -c 1 nginx -c "$RUN/up.conf" -p "$RUN" >/dev/null 2>&1 & PIDS+=($!)
taskset -c 1 nginx -c "$RUN/px.conf" -p "$RUN" >/dev/null 2>&1 & PIDS+=($!)
wait_port "$UP" && wait_port "$NGX" || { echo "nginx did not start" >&2; exit 1; }
NGX_WORKER=$(pgrep -P "$(cat "$RUN/proxy.pid")" | head -1)

OG_BIN=$(for b in "$@"; do [[ $(basename "$b") == bare_proxy ]] || { echo "$b"; break; }; done)
write_public_hop_config "${OG_BIN:?give at least one octogate binary}" "$RUN" "$OG" "$UP" || exit 1

# measure PID URL -> "rps user_us sys_us hwm_kib"
measure() {
    local pid=$1 url=$2 u0 s0 u1 s1 out
    read -r u0 s0 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    out=$(taskset -c 0 wrk -t2 -c"$CONNS" -d"$DURATION" --latency "$url")
    read -r u1 s1 < <(awk '{print $14, $15}' "/proc/$pid/stat")
    python3 - "$u0" "$s0" "$u1" "$s1" "$(awk '/requests in/{print $1}' <<<"$out")" \
        "$(awk '/Requests\/sec/{print $2}' <<<"$out")" "$(awk '/VmHWM/{print $2}' "/proc/$pid/status")" \
        "$(awk '$1 == "99%" {print $2}' <<<"$out")" <<'PY'
import os, sys
u0, s0, u1, s1, n, rps, hwm, p99 = sys.argv[1:]
tck = os.sysconf("SC_CLK_TCK"); n = int(n)
unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}
p99_ms = next(float(p99[:-len(u)]) * f for u, f in unit.items() if p99.endswith(u))
print(rps, (int(u1) - int(u0)) / tck / n * 1e6, (int(s1) - int(s0)) / tck / n * 1e6, hwm, p99_ms)
PY
}

: > "$RUN/results"
for r in $(seq 1 "$ROUNDS"); do
    echo "nginx $(measure "$NGX_WORKER" "http://127.0.0.1:$NGX/")" >> "$RUN/results"
    for b in "$@"; do
        if [[ $(basename "$b") == bare_proxy ]]; then
            # the stack's floor (examples/bare_proxy.rs): same pinning, no config
            taskset -c 1 "$b" "127.0.0.1:$OG" "127.0.0.1:$UP" 2>/dev/null & pid=$!
        else
            OCTOGATE_LOG=${OCTOGATE_LOG:-error} taskset -c 1 "$b" run --config "$RUN/og.toml" 2>/dev/null & pid=$!
        fi
        wait_port "$OG" || { echo "$b did not start" >&2; exit 1; }
        echo "$b $(measure "$pid" "http://127.0.0.1:$OG/")" >> "$RUN/results"
        kill "$pid"; wait "$pid" 2>/dev/null
    done
    echo "round $r/$ROUNDS done" >&2
done

python3 - "$RUN/results" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, rps, user, sys_, hwm, p99 = line.split()
    rows.setdefault(name, []).append((float(rps), float(user), float(sys_), int(hwm), float(p99)))
med = {k: [statistics.median(c) for c in zip(*v)] for k, v in rows.items()}
ng = med["nginx"]
print(f"{'server':40} {'req/s':>8} {'p99 ms':>7} {'user us':>8} {'sys us':>8} {'RSS MB':>7} {'xRPS':>6} {'xP99':>6} {'xCPU':>6}   (medians of {len(rows['nginx'])} runs)")
for k, (rps, user, sys_, hwm, p99) in med.items():
    print(f"{k[-40:]:40} {rps:8.0f} {p99:7.2f} {user:8.2f} {sys_:8.2f} {max(r[3] for r in rows[k]) / 1024:7.1f} "
          f"{rps / ng[0]:6.2f} {p99 / ng[4]:6.2f} {(user + sys_) / (ng[1] + ng[2]):6.2f}")
PY
