#!/usr/bin/env bash
# Instructions per proxied request on the public path, counted by valgrind's callgrind, for each
# binary given (octogate builds and/or the floor, examples/bare_proxy), side by side in one run.
# Usage: bash bench/instructions.sh BINARY...   (e.g. the floor, an old octogate, a new one)
#
# Unlike wall-clock benchmarks this is repeatable on a shared machine (the same binary gives the
# same count whatever else runs) and needs no hardware counters, so it resolves changes of 1 %
# that bench/ab.sh cannot. It counts user-space instructions only: kernel time, cache misses and
# scheduling are bench/ab.sh's and bench/run.sh's job. Each binary runs under callgrind with
# counting off while wrk warms it up, on for a fixed load (wrk, 16 connections, DURATION), off
# again; the count is divided by the requests wrk completed. Costs a few seconds per binary.
#
# Environment: DURATION (default 8s), TOP=N also prints each binary's N costliest functions (for
# names, build with symbols: CARGO_PROFILE_RELEASE_STRIP=none CARGO_PROFILE_RELEASE_DEBUG=1),
# KEEP=DIR keeps the callgrind files there.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
(( $# >= 1 )) || { echo "usage: bash bench/instructions.sh BINARY..." >&2; exit 2; }
for b in "$@"; do [[ -x $b ]] || { echo "not executable: $b" >&2; exit 2; }; done
for t in valgrind callgrind_control callgrind_annotate wrk nginx python3; do
    command -v "$t" >/dev/null || { echo "missing $t (apt-get install valgrind wrk nginx)" >&2; exit 2; }
done
DURATION=${DURATION:-8s}
BASE=${PORT_BASE:-$(( 20000 + RANDOM % 10000 ))}
UP=$((BASE + 1)) OG=$((BASE + 3))

# shellcheck source=bench/public-hop.sh
source "$HERE/public-hop.sh"
start_run_dir instr
NAME=upstream PORT=$UP python3 "$HERE/benchtool.py" render "$HERE/conf/nginx-upstream.conf" "$RUN/up.conf"
nginx -c "$RUN/up.conf" -p "$RUN" >/dev/null 2>&1 & PIDS+=($!)
wait_port "$UP" || { echo "nginx did not start" >&2; exit 1; }
OG_BIN=$(for b in "$@"; do [[ $(basename "$b") == bare_proxy ]] || { echo "$b"; break; }; done)
if [[ -n $OG_BIN ]]; then
    write_public_hop_config "$OG_BIN" "$RUN" "$OG" "$UP" || exit 1
fi

i=0
for b in "$@"; do
    i=$((i + 1))
    out="$RUN/cg.$i"
    if [[ $(basename "$b") == bare_proxy ]]; then
        args=("127.0.0.1:$OG" "127.0.0.1:$UP")
    else
        args=(run --config "$RUN/og.toml")
    fi
    OCTOGATE_LOG=${OCTOGATE_LOG:-error} valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out" \
        "$b" "${args[@]}" 2>"$RUN/vg.$i.log" & pid=$!
    wait_port "$OG" 400 || { echo "$b did not start under valgrind:" >&2; cat "$RUN/vg.$i.log" >&2; exit 1; }
    wrk -t1 -c16 -d3s "http://127.0.0.1:$OG/" >/dev/null
    callgrind_control --instr=on "$pid" >/dev/null 2>&1
    load=$(wrk -t1 -c16 -d"$DURATION" "http://127.0.0.1:$OG/")
    callgrind_control --instr=off "$pid" >/dev/null 2>&1
    callgrind_control --dump "$pid" >/dev/null 2>&1
    kill "$pid"; wait "$pid" 2>/dev/null
    requests=$(awk '/requests in/{print $1}' <<<"$load")
    errors=$(awk '/Non-2xx|Socket errors/' <<<"$load")
    [[ -z $errors ]] || { echo "$b: errors under load: $errors" >&2; exit 1; }
    # The dump taken while counting holds the total (the one at exit counted nothing).
    total=$(cat "$out".* 2>/dev/null | awk '/^totals:/{ if ($2 > t) t = $2 } END { print t + 0 }')
    echo "$b $requests $total" >> "$RUN/results"
    if [[ -n ${TOP:-} ]]; then
        echo "== $b: the $TOP costliest functions, instructions per request (self)"
        callgrind_annotate --inclusive=no --auto=no --threshold=100 "$out".* 2>/dev/null \
            | awk -v n="$requests" -v top="$TOP" '/^ *[0-9,]+ \(/ { c = $1; gsub(",", "", c); $1 = ""; $2 = "";
                if (++k <= top) printf "%9.0f %s\n", c / n, substr($0, 1, 150) }'
    fi
    [[ -z ${KEEP:-} ]] || { mkdir -p "$KEEP"; cp "$out".* "$KEEP/" ; }
    rm -f "$out" "$out".*
done

python3 - "$RUN/results" <<'PY'
import sys
rows = [line.split() for line in open(sys.argv[1])]
first = int(rows[0][2]) / int(rows[0][1])
print(f"{'binary':50} {'requests':>9} {'instr/request':>14} {'ratio':>6}")
for name, n, total in rows:
    per = int(total) / int(n)
    print(f"{name[-50:]:50} {int(n):9d} {per:14.0f} {per / first:6.2f}")
PY
