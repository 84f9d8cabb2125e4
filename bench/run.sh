#!/usr/bin/env bash
# Side-by-side load test of octogate vs nginx vs Apache+mod_auth_openidc on loopback.
# Usage: bash bench/run.sh          (see bench/README.md for the knobs)
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(dirname "$HERE")
TOOL="python3 $HERE/benchtool.py"

# ---------------------------------------------------------------- knobs
WRK_THREADS=${WRK_THREADS:-2}
CONNS=${CONNS:-"256 64"}          # one block of rows per value
INFO_CONNS=${INFO_CONNS:-256}     # conns at which the info-logging / access-log rows run
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
WRK_CPU=${WRK_CPU:-0}             # wrk is pinned here ...
PROXY_CPU=${PROXY_CPU:-1}         # ... the server under test here ...
UPSTREAM_CPU=${UPSTREAM_CPU:-$PROXY_CPU}  # ... the upstream behind the proxies here (default: with the proxy)
OP_CPU=${OP_CPU:-0}               # the test OP (idle during load)
PORT_BASE=${PORT_BASE:-$(( 20000 + RANDOM % 10000 ))}  # below the ephemeral range
NICE=${NICE:--10}                 # nice value of everything the bench runs (root: negative = ahead of other tenants)
QUIET_WAIT=${QUIET_WAIT:-20}      # seconds to wait for other tenants' CPU use to calm down before each row
QUIET_PCT=${QUIET_PCT:-15}        # "calm" = whole machine below this busy % for 2 s
ROWS=${ROWS:-"baseline nginx floor og-public og-auth apache-oidc"}
OCTOGATE=${OCTOGATE:-${CARGO_TARGET_DIR:-$REPO/target}/release/octogate}
# The floor row: examples/bare_proxy.rs (hyper server + hyper client, no work at all)
BARE_PROXY=${BARE_PROXY:-${CARGO_TARGET_DIR:-$REPO/target}/release/examples/bare_proxy}

UP_PORT=$((PORT_BASE + 1))        # upstream used behind the proxies
BASE_PORT=$((PORT_BASE + 2))      # the same upstream config, alone on PROXY_CPU (baseline row)
NGX_PORT=$((PORT_BASE + 3))
OG_PORT=$((PORT_BASE + 4))
AP_PORT=$((PORT_BASE + 5))

dur_s() { local d=$1; case $d in *ms) echo "0${d%ms}e-3";; *s) echo "${d%s}";; *m) echo "$(( ${d%m} * 60 ))";; *) echo "$d";; esac; }
DUR_S=$(dur_s "$DURATION")

# ---------------------------------------------------------------- processes and cleanup
RUN=$(mktemp -d /tmp/octogate-bench.XXXXXX)
chmod 755 "$RUN"
PIDS=()
FAILED=0
RESULTS=$RUN/results.jsonl
: > "$RESULTS"

log() { printf '[bench %(%H:%M:%S)T] %s\n' -1 "$*" >&2; }

stop_pid() {
    local pid=$1 i
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for i in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    local keep=() p
    for p in "${PIDS[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
    PIDS=("${keep[@]}")
}

cleanup() {
    local rc=$? i
    for (( i=${#PIDS[@]}-1; i>=0; i-- )); do stop_pid "${PIDS[i]}"; done
    if [[ ${KEEP_RUN:-0} == 1 ]]; then log "kept $RUN"; else rm -rf "$RUN"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# start NAME CPU CMD... : runs CMD pinned to CPU in the background; sets $LAST_PID.
start() {
    local name=$1 cpu=$2; shift 2
    nice -n "$NICE" taskset -c "$cpu" "$@" > "$RUN/$name.out" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
}

wait_port() {
    local port=$1 pid=$2 i
    for i in $(seq 1 200); do
        if ! kill -0 "$pid" 2>/dev/null; then return 1; fi
        (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

die() { log "FATAL: $*"; exit 1; }

# ---------------------------------------------------------------- preflight
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
for t in wrk nginx apache2 node python3 taskset; do command -v "$t" >/dev/null || die "missing $t (see bench/README.md: apt-get install wrk nginx-light apache2 libapache2-mod-auth-openidc)"; done
[[ -e /usr/lib/apache2/modules/mod_auth_openidc.so ]] || die "missing mod_auth_openidc (apt-get install libapache2-mod-auth-openidc)"
[[ -d $REPO/tests/js/node_modules/oidc-provider ]] || die "the test OP is not installed: npm ci --prefix tests/js"
if [[ ! -x $OCTOGATE ]]; then
    log "building octogate (release) ..."
    (cd "$REPO" && cargo build --release --quiet) || die "cargo build failed"
fi
[[ -x $OCTOGATE ]] || die "no octogate binary at $OCTOGATE (set OCTOGATE=...)"
if [[ " $ROWS " == *" floor "* && ! -x $BARE_PROXY ]]; then
    log "building examples/bare_proxy (release) ..."
    (cd "$REPO" && cargo build --release --quiet --example bare_proxy) || die "cargo build --example bare_proxy failed"
fi
NCPU=$(nproc)
(( WRK_CPU < NCPU && PROXY_CPU < NCPU && UPSTREAM_CPU < NCPU )) || die "CPU numbers out of range (nproc=$NCPU)"
for p in $UP_PORT $BASE_PORT $NGX_PORT $OG_PORT $AP_PORT; do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && die "port $p is busy (set PORT_BASE)"
done

export RUN UP_PORT OG_PORT AP_PORT

# ---------------------------------------------------------------- shared services
# The upstream (behind every proxy).
NAME=upstream PORT=$UP_PORT $TOOL render "$HERE/conf/nginx-upstream.conf" "$RUN/upstream.conf"
start upstream "$UPSTREAM_CPU" nginx -c "$RUN/upstream.conf" -p "$RUN"
UPSTREAM_PID=$LAST_PID
wait_port "$UP_PORT" "$UPSTREAM_PID" || die "upstream nginx did not start: $(cat "$RUN/upstream.out" "$RUN/upstream.error.log" 2>/dev/null)"

# The test OpenID Provider.
$TOOL render "$HERE/conf/op.json" "$RUN/op.json"
nice -n "$NICE" taskset -c "$OP_CPU" node "$REPO/tests/js/op/server.mjs" --config "$RUN/op.json" > "$RUN/op.ready" 2> "$RUN/op.err" &
OP_PID=$!
PIDS+=("$OP_PID")
for i in $(seq 1 200); do [[ -s $RUN/op.ready ]] && break; kill -0 "$OP_PID" 2>/dev/null || break; sleep 0.05; done
ISSUER=$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["issuer"])' "$RUN/op.ready" 2>/dev/null) \
    || die "the test OP did not start: $(cat "$RUN/op.err")"
export ISSUER
log "upstream :$UP_PORT (cpu $UPSTREAM_CPU), OP $ISSUER (cpu $OP_CPU), wrk on cpu $WRK_CPU, servers under test on cpu $PROXY_CPU"

# Octogate keys, once per run.
"$OCTOGATE" keygen > "$RUN/keygen.txt" || die "octogate keygen failed"
COOKIE_KEY=$(awk '/^# Session cookie key/{getline; print; exit}' "$RUN/keygen.txt")
awk '/BEGIN PRIVATE KEY/,/END PRIVATE KEY/' "$RUN/keygen.txt" > "$RUN/octogate-signing.pem"
[[ -n $COOKIE_KEY && -s $RUN/octogate-signing.pem ]] || die "could not read octogate keygen output"
export COOKIE_KEY
$TOOL render "$HERE/conf/octogate.toml" "$RUN/octogate.toml"
"$OCTOGATE" check-config "$RUN/octogate.toml" > "$RUN/check-config.out" 2>&1 \
    || die "generated octogate config is invalid: $(cat "$RUN/check-config.out")"
AP_PASSPHRASE=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
export AP_PASSPHRASE

# ---------------------------------------------------------------- one measurement
stub_requests() { curl -s "http://127.0.0.1:$1/__stub" | awk 'NR==3{print $3}'; }

# record ID LABEL CONNS key=value... -> appends one JSON line
record_fail() {
    local id=$1 label=$2 conns=$3 err=$4
    FAILED=1
    log "ROW FAILED: $label c=$conns: $err"
    python3 -c 'import json,sys; print(json.dumps({"id":sys.argv[1],"label":sys.argv[2],"conns":int(sys.argv[3]),"ok":False,"error":sys.argv[4]}))' \
        "$id" "$label" "$conns" "$err" >> "$RESULTS"
}

# measure ID LABEL CONNS PID URL COOKIE STUB_PORT
measure() {
    local id=$1 label=$2 conns=$3 pid=$4 url=$5 cookie=$6 stub_port=$7
    local hdr=() out="$RUN/wrk-$id-$conns.txt"
    [[ -n $cookie ]] && hdr=(-H "Cookie: $cookie")
    nice -n "$NICE" taskset -c "$WRK_CPU" wrk -t"$WRK_THREADS" -c"$conns" -d"$WARMUP" "${hdr[@]}" "$url" > "$RUN/warmup-$id-$conns.txt" 2>&1 \
        || { record_fail "$id" "$label" "$conns" "warm-up wrk failed"; return 1; }
    local s0 s1 up0 up1 u0 u1 q
    q=$($TOOL quiet "$QUIET_WAIT" "$QUIET_PCT")
    (( q < QUIET_PCT )) || log "WARNING: machine still ${q}% busy with other work before $label c=$conns"
    s0=$($TOOL procstat "$pid") || { record_fail "$id" "$label" "$conns" "server process gone"; return 1; }
    up0=$(stub_requests "$stub_port")
    local k0 k1
    u0=$($TOOL procstat "$UPSTREAM_PID")
    k0=$($TOOL corestat "$PROXY_CPU" "$WRK_CPU")
    local t0 t1
    local perf_pid=""
    if [[ ${PERF:-0} == 1 ]]; then  # profile the server during the measured run (skews its numbers)
        perf record -F 999 -p "$pid" -o "$RUN/perf-$id-$conns.data" -- sleep "$DUR_S" > /dev/null 2>&1 &
        perf_pid=$!
    fi
    times > "$RUN/times0"  # not in $(...): a subshell does not see this shell's children times
    nice -n "$NICE" taskset -c "$WRK_CPU" wrk -t"$WRK_THREADS" -c"$conns" -d"$DURATION" --latency "${hdr[@]}" "$url" > "$out" 2>&1 \
        || { record_fail "$id" "$label" "$conns" "wrk failed: $(tail -2 "$out")"; return 1; }
    s1=$($TOOL procstat "$pid") || { record_fail "$id" "$label" "$conns" "server process died under load"; return 1; }
    times > "$RUN/times1"
    if [[ -n $perf_pid ]]; then
        wait "$perf_pid"
        mkdir -p "$HERE/perf"
        perf report -i "$RUN/perf-$id-$conns.data" --stdio --no-children --sort dso,symbol 2>/dev/null \
            | grep -v '^#' | grep -v '^$' | head -60 > "$HERE/perf/$id-$conns.txt"
        log "perf profile: bench/perf/$id-$conns.txt"
    fi
    t0=$(tail -1 "$RUN/times0"); t1=$(tail -1 "$RUN/times1")
    k1=$($TOOL corestat "$PROXY_CPU" "$WRK_CPU")
    u1=$($TOOL procstat "$UPSTREAM_PID")
    up1=$(stub_requests "$stub_port")
    local line
    line=$(python3 - "$id" "$label" "$conns" "$s0" "$s1" "${up0:-0}" "${up1:-0}" "$DUR_S" "$($TOOL wrkparse "$out")" "$k0" "$k1" "$u0" "$u1" "$t0" "$t1" "$pid" "$UPSTREAM_PID" <<'EOF'
import json, os, re, sys
id_, label, conns, s0, s1, up0, up1, dur, w, k0, k1, u0, u1, t0, t1, pid, upid = sys.argv[1:]
def secs(t):  # bash `times` children line: "0m1.234s 0m0.567s"
    return sum(int(m) * 60 + float(x) for m, x in re.findall(r"(\d+)m([\d.]+)s", t))
wrk_cpu = secs(t1) - secs(t0)
up_cpu = float(u1.split()[0]) - float(u0.split()[0]) if pid != upid else 0.0
def busy(i):
    b0, t0 = map(int, k0.split()[i].split(":")); b1, t1 = map(int, k1.split()[i].split(":"))
    return 100.0 * (b1 - b0) / max(1, t1 - t0)
w = json.loads(w)
c0, _, _ = s0.split(); c1, rss, nproc = s1.split()
cpu = float(c1) - float(c0)
r = {"id": id_, "label": label, "conns": int(conns), "ok": True}
r.update(w)
r["rss_kib"] = int(rss); r["nprocs"] = int(nproc); r["cpu_s"] = round(cpu, 2)
r["upstream_requests"] = int(up1) - int(up0) - 1  # minus our own stub request
r["errors"] = w["non2xx"] + w["sockerr"]
r["sut_busy"] = busy(0); r["wrk_busy"] = busy(1)
# CPU time not accounted to the server, the upstream or wrk: other tenants + kernel threads
b0, _ = map(int, k0.split()[2].split(":")); b1, _ = map(int, k1.split()[2].split(":"))
hz = os.sysconf("SC_CLK_TCK")
r["wrk_cpu_s"] = round(wrk_cpu, 2); r["upstream_cpu_s"] = round(up_cpu, 2)
r["other_pct"] = max(0.0, ((b1 - b0) / hz - cpu - up_cpu - wrk_cpu) / float(dur) * 100)
problems = []
if not w["requests"] or w["rps"] is None or w["p99"] is None:
    problems.append("no wrk result")
else:
    r["cpu_per_10k"] = cpu / w["requests"] * 10000
    r["core_pct"] = cpu / float(dur) * 100
    if w["non2xx"]:
        problems.append(f"{w['non2xx']} non-2xx responses")
    if r["upstream_requests"] < 0.99 * w["requests"]:
        problems.append(f"upstream saw {r['upstream_requests']} requests for wrk's {w['requests']}: not all forwarded")
if problems:
    r["ok"] = False; r["error"] = "; ".join(problems)
print(json.dumps(r))
EOF
)
    echo "$line" >> "$RESULTS"
    if [[ $line == *'"ok": false'* ]]; then
        FAILED=1
        log "ROW FAILED: $label c=$conns: $line"
        return 1
    fi
    log "$label c=$conns: $($TOOL summary "$line")"
}

# probe URL COOKIE EXPECT_REGEX : one GET must be 200, set no cookie, body matching
probe() {
    local got
    got=$($TOOL fetch "$1" "$2" 2>&1)
    [[ $got =~ ^200\ set-cookies=0\ $3 ]] || { echo "probe $1 -> $got"; return 1; }
}

# ---------------------------------------------------------------- rows
# simple_row ID LABEL CONNS NAME PORT UPSTREAM_PORT CMD...: start CMD on the proxy core, check it
# answers, measure it, stop it
simple_row() {
    local id=$1 label=$2 c=$3 name=$4 port=$5 up=$6; shift 6
    start "$name" "$PROXY_CPU" "$@"
    local pid=$LAST_PID
    if wait_port "$port" "$pid" && probe "http://127.0.0.1:$port/" "" ok; then
        measure "$id" "$label" "$c" "$pid" "http://127.0.0.1:$port/" "" "$up"
    else
        record_fail "$id" "$label" "$c" "$name did not start"
    fi
    stop_pid "$pid"
}

row_baseline() {  # the upstream config itself, alone on the proxy core
    NAME=baseline PORT=$BASE_PORT $TOOL render "$HERE/conf/nginx-upstream.conf" "$RUN/baseline.conf"
    simple_row baseline "upstream direct (nginx static)" "$1" baseline "$BASE_PORT" "$BASE_PORT" \
        nginx -c "$RUN/baseline.conf" -p "$RUN"
}

row_nginx() {  # ACCESS_LOG=off (default) or a file
    local c=$1 id=${2:-nginx} label=${3:-"nginx proxy_pass (access_log off)"}
    NAME=nginx-proxy PORT=$NGX_PORT ACCESS_LOG=${ACCESS_LOG:-off} $TOOL render "$HERE/conf/nginx-proxy.conf" "$RUN/nginx-proxy.conf"
    simple_row "$id" "$label" "$c" nginx-proxy "$NGX_PORT" "$UP_PORT" nginx -c "$RUN/nginx-proxy.conf" -p "$RUN"
}

row_floor() {  # what hyper costs by itself: forwarding untouched, no security work
    simple_row floor "floor: bare hyper proxy (no work)" "$1" bare-proxy "$OG_PORT" "$UP_PORT" \
        "$BARE_PROXY" "127.0.0.1:$OG_PORT" "127.0.0.1:$UP_PORT"
}

start_octogate() {  # LOGLEVEL ("" = unset = octogate's default, info)
    if [[ -n $1 ]]; then
        start "octogate-$1" "$PROXY_CPU" env OCTOGATE_LOG="$1" "$OCTOGATE" run --config "$RUN/octogate.toml"
    else
        start "octogate-default" "$PROXY_CPU" env -u OCTOGATE_LOG "$OCTOGATE" run --config "$RUN/octogate.toml"
    fi
    wait_port "$OG_PORT" "$LAST_PID" || return 1
    local i
    for i in $(seq 1 100); do  # ready = OP discovery done
        [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$OG_PORT/readyz") == 200 ]] && return 0
        sleep 0.1
    done
    return 1
}


row_og_public() {
    local c=$1 level=${2-warn} id=${3:-og-public} label=${4:-"octogate public path (LOG=warn)"}
    if start_octogate "$level" && probe "http://127.0.0.1:$OG_PORT/" "" ok; then
        measure "$id" "$label" "$c" "$LAST_PID" "http://127.0.0.1:$OG_PORT/" "" "$UP_PORT"
    else
        record_fail "$id" "$label" "$c" "octogate did not start/answer: $(tail -3 "$RUN"/octogate-*.out 2>/dev/null)"
    fi
    stop_pid "$LAST_PID"
}

row_og_auth() {
    local c=$1 level=${2-warn} id=${3:-og-auth} label=${4:-"octogate protected+session (LOG=warn)"}
    local pid cookie err=""
    if start_octogate "$level"; then
        pid=$LAST_PID
        # Signed in just before the run: a session's last_seen is re-written at most once a
        # minute, and wrk never takes a new cookie, so an older cookie would make every request
        # re-seal the session (probe below checks no Set-Cookie is sent).
        if cookie=$($TOOL signin "http://127.0.0.1:$OG_PORT/backend/" 2>>"$RUN/signin.log"); then
            if err=$(probe "http://127.0.0.1:$OG_PORT/backend/__assertion" "$cookie" '[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+'); then
                log "octogate forwarded X-Octogate-Assertion upstream: $($TOOL fetch "http://127.0.0.1:$OG_PORT/backend/__assertion" "$cookie" | cut -c1-60)..."
                measure "$id" "$label" "$c" "$pid" "http://127.0.0.1:$OG_PORT/backend/" "$cookie" "$UP_PORT" \
                    && { err=$(probe "http://127.0.0.1:$OG_PORT/backend/" "$cookie" ok) || log "WARNING after $id c=$c: $err"; }
            else
                record_fail "$id" "$label" "$c" "no assertion upstream: $err"
            fi
        else
            record_fail "$id" "$label" "$c" "scripted sign-in failed: $(tail -2 "$RUN/signin.log")"
        fi
    else
        pid=$LAST_PID
        record_fail "$id" "$label" "$c" "octogate did not start: $(tail -3 "$RUN"/octogate-*.out 2>/dev/null)"
    fi
    stop_pid "$pid"
}

row_apache() {
    local c=$1 id=apache-oidc label="Apache mod_auth_openidc (cookie sess.)"
    AP_LOGLEVEL=${AP_LOGLEVEL:-warn} $TOOL render "$HERE/conf/apache-oidc.conf" "$RUN/apache.conf"
    mkdir -p "$RUN/apache-rt"
    start apache "$PROXY_CPU" apache2 -f "$RUN/apache.conf" -DFOREGROUND
    local pid=$LAST_PID cookie err
    if wait_port "$AP_PORT" "$pid"; then
        sleep 0.5  # let the children come up
        if cookie=$($TOOL signin "http://127.0.0.1:$AP_PORT/backend/" 2>>"$RUN/signin.log"); then
            if err=$(probe "http://127.0.0.1:$AP_PORT/backend/__who" "$cookie" 'user=u-bob'); then
                measure "$id" "$label" "$c" "$pid" "http://127.0.0.1:$AP_PORT/backend/" "$cookie" "$UP_PORT"
            else
                record_fail "$id" "$label" "$c" "identity not forwarded: $err"
            fi
        else
            record_fail "$id" "$label" "$c" "scripted sign-in failed: $(tail -2 "$RUN/signin.log"; tail -3 "$RUN/apache.error.log")"
        fi
    else
        record_fail "$id" "$label" "$c" "apache did not start: $(tail -5 "$RUN/apache.out" "$RUN/apache.error.log" 2>/dev/null)"
    fi
    stop_pid "$pid"
}

# ---------------------------------------------------------------- run
log "wrk -t$WRK_THREADS -d$DURATION --latency (warm-up $WARMUP) at conns: $CONNS; results in $RESULTS"
for c in $CONNS; do
    for r in $ROWS; do
        case $r in
            baseline) row_baseline "$c" ;;
            nginx) row_nginx "$c" ;;
            floor) row_floor "$c" ;;
            og-public) row_og_public "$c" ;;
            og-auth) row_og_auth "$c" ;;
            apache-oidc) row_apache "$c" ;;
            *) die "unknown row $r" ;;
        esac
    done
    if [[ " $INFO_CONNS " == *" $c "* ]]; then
        ACCESS_LOG="$RUN/nginx-access.log" row_nginx "$c" nginx-log "nginx proxy_pass (access_log on)"
        row_og_public "$c" "" og-public-info "octogate public path (default info)"
        row_og_auth "$c" "" og-auth-info "octogate protected (default info)"
    fi
done

echo
echo "== octogate bench: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(uname -r)"
echo "== wrk -t$WRK_THREADS -d$DURATION --latency; wrk on cpu $WRK_CPU, server under test on cpu $PROXY_CPU, upstream on cpu $UPSTREAM_CPU; all at nice $NICE"
echo "== load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "== RSS = peak VmHWM summed over the server's processes; CPU = utime+stime of those processes during the run"
echo "== core% = that CPU time / wall time; busy% = whole-core busy (user+sys+irq+softirq) of the server core / the wrk core"
echo "== other% = CPU time on the machine not used by the server, the upstream or wrk (other tenants, kernel threads), % of one core"
echo "== x* = ratio to 'nginx proxy_pass (access_log off)' at the same conns"
echo
$TOOL table "$RESULTS"
cp "$RESULTS" "${RESULTS_OUT:-$HERE/last-results.jsonl}" 2>/dev/null || true
if (( FAILED )); then
    log "some rows could not be measured"
    exit 1
fi
exit 0
