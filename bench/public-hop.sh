# Shared by bench/ab.sh and bench/instructions.sh (sourced, not run): the octogate config for the
# public hop, and a port wait.

# start_run_dir TAG: RUN (exported) is a fresh temp dir; at exit every pid in PIDS is stopped and
# RUN removed (also on Ctrl-C).
start_run_dir() {
    RUN=$(mktemp -d "/tmp/octogate-$1.XXXXXX")
    export RUN
    PIDS=()
    trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done; wait 2>/dev/null; rm -rf "$RUN"' EXIT
    trap 'exit 130' INT TERM
}

# wait_port PORT [TRIES]: until something accepts on 127.0.0.1:PORT (TRIES × 50 ms).
wait_port() {
    for _ in $(seq 1 "${2:-100}"); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}

# write_public_hop_config OCTOGATE_BIN RUN_DIR LISTEN_PORT UPSTREAM_PORT: writes RUN_DIR/og.toml, a
# site with fresh keys whose every path is public (nothing under [access] protect), in front of
# 127.0.0.1:UPSTREAM_PORT. The OIDC issuer is never contacted on the public path.
write_public_hop_config() {
    local bin=$1 run=$2 port=$3 up=$4
    "$bin" keygen > "$run/keygen.txt" || return 1
    awk '/BEGIN PRIVATE KEY/,/END PRIVATE KEY/' "$run/keygen.txt" > "$run/signing.pem"
    cat > "$run/og.toml" <<EOT
[server]
listen = "127.0.0.1:$port"
public_url = "http://127.0.0.1:$port"
[upstream]
url = "http://127.0.0.1:$up"
[oidc]
issuer = "http://127.0.0.1:9"
client_id = "ab"
client_secret = "ab"
[session]
cookie_keys = ["$(awk '/^# Session cookie key/{getline; print; exit}' "$run/keygen.txt")"]
[assertion]
signing_key = "file:$run/signing.pem"
audience = "ab"
[access]
default_role = "x"
EOT
    # wrk is one address holding every connection (a load generator, not one visitor): lift the
    # per-client cap, where the binary has one (builds before it reject the key; they have no cap).
    sed 's/^\[upstream\]$/max_connections_per_client = 4096\n[upstream]/' "$run/og.toml" > "$run/og.cap.toml"
    if "$bin" check-config "$run/og.cap.toml" >/dev/null 2>&1; then
        mv "$run/og.cap.toml" "$run/og.toml"
    else
        rm -f "$run/og.cap.toml"
    fi
}
