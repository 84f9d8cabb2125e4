//! Running it like production: healthcheck subcommand, Prometheus metrics, the audit log, request
//! ids, live reload on SIGHUP, and TLS certificates swapped on disk.
mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::op::*;
use common::*;

fn octogate(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_octogate"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn healthcheck_exit_codes() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let ok = octogate(&["healthcheck", "--url", &format!("{}/healthz", og.base())]);
    assert_eq!(ok.status.code(), Some(0));
    // Not ready (IdP unreachable in this config): 503 → 1.
    let not_ready = octogate(&["healthcheck", "--url", &format!("{}/readyz", og.base())]);
    assert_eq!(not_ready.status.code(), Some(1));
    let dead = octogate(&[
        "healthcheck",
        "--url",
        &format!("http://127.0.0.1:{}/healthz", free_port()),
        "--timeout",
        "1",
    ]);
    assert_eq!(dead.status.code(), Some(1));
    let garbage = octogate(&["healthcheck", "--url", "not a url"]);
    assert_eq!(garbage.status.code(), Some(1));
}

fn scrape(port: u16) -> String {
    let r = raw(
        format!("127.0.0.1:{port}").parse().unwrap(),
        "GET /metrics HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    r.text()
}

/// Value of a sample line `name{labels} value` (labels as written by the exposition).
fn sample(text: &str, name_and_labels: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name_and_labels) && l[name_and_labels.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// Whoever reaches the metrics address cannot hold descriptors there: 16 connections at most,
/// more are closed at once; a scrape works again once they go.
#[test]
fn metrics_listener_caps_its_connections() {
    use std::io::Read;
    let up = Upstream::start();
    let mport = free_port();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = format!("metrics_listen = \"127.0.0.1:{mport}\"\n");
    let _og = Octogate::start(&spec);
    assert!(scrape(mport).contains("octogate_requests"));
    let idle: Vec<std::net::TcpStream> = (0..16)
        .map(|_| std::net::TcpStream::connect(("127.0.0.1", mport)).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = std::net::TcpStream::connect(("127.0.0.1", mport)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = [0u8; 16];
    let closed = match extra.read(&mut buf) {
        Ok(0) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
        Ok(_) => false,
    };
    assert!(closed, "a 17th connection was kept");
    drop(idle);
    std::thread::sleep(Duration::from_millis(200));
    assert!(scrape(mport).contains("octogate_requests"));
}

#[test]
fn metrics_exposition_moves_with_traffic() {
    let up = Upstream::start();
    let mport = free_port();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = format!("metrics_listen = \"127.0.0.1:{mport}\"\n");
    let og = Octogate::start(&spec);
    let before = scrape(mport);
    assert!(
        before.contains("# TYPE octogate_requests counter"),
        "{before}"
    );
    assert!(before.contains("octogate_config_generation 1"), "{before}");
    assert!(
        before.contains("octogate_idp_metadata_age_seconds -1"),
        "IdP never loaded: {before}"
    );
    for _ in 0..3 {
        assert_eq!(get(og.addr, "/", "").status, 200);
    }
    assert_eq!(
        get(
            og.addr,
            "/backend/x",
            "x-requested-with: XMLHttpRequest\r\n"
        )
        .status,
        401
    );
    assert_eq!(get(og.addr, "/back%5cend", "").status, 400);
    let after = scrape(mport);
    assert_eq!(
        sample(&after, "octogate_requests_total{outcome=\"public\"}")
            - sample(&before, "octogate_requests_total{outcome=\"public\"}"),
        3.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "octogate_requests_total{outcome=\"unauthorized\"}"),
        1.0,
        "{after}"
    );
    assert_eq!(
        sample(&after, "octogate_requests_total{outcome=\"refused\"}"),
        1.0,
        "{after}"
    );
    assert!(
        sample(&after, "octogate_upstream_response_seconds_count") >= 3.0,
        "{after}"
    );
    // Not on the main listener.
    assert_eq!(
        get(og.addr, "/metrics", "").status,
        200,
        "the main listener forwards /metrics to the site"
    );
    assert!(!up.last().unwrap().target.is_empty());
    // Every non-comment line parses as `name{labels} value`.
    for l in after
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let v = l.rsplit(' ').next().unwrap();
        assert!(v.parse::<f64>().is_ok(), "unparsable sample line: {l}");
    }
}

fn audit_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .filter(|l| l.starts_with('{'))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["log"] == "audit")
        .collect()
}

#[test]
fn audit_events_for_each_decision_without_tokens() {
    let up = Upstream::start();
    let spec = ConfigSpec::new(&up.url());
    let base = format!("http://127.0.0.1:{}", spec.port);
    let op = Op::start(
        &[("octogate-test", "test-secret", &base)],
        &[
            User::new("u-bob", "bob", &["admins"]),
            User::new("u-eve", "eve", &["marketing"]),
        ],
    );
    let mut spec = spec;
    spec.issuer = op.issuer.clone();
    spec.server_extra = "trusted_proxies = [\"127.0.0.1/32\"]\n".into();
    let og = Octogate::start(&spec);
    assert!(og.wait_ready(Duration::from_secs(10)));
    // Sign-in ok.
    let mut bob = Jar::default();
    let (r, _, _) = navigate(&mut bob, &format!("{base}/backend"), "bob", "bob-pw");
    assert_eq!(r.status, 200);
    // Denied.
    let mut eve = Jar::default();
    let (r, _, _) = navigate(&mut eve, &format!("{base}/backend"), "eve", "eve-pw");
    assert_eq!(r.status, 403);
    // Sign-in failed: state mismatch (no login cookie for this state).
    let r = get(
        og.addr,
        "/oauth2/callback?code=abc&state=AAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        "",
    );
    assert_eq!(r.status, 400);
    // Session rejected: tampered cookie.
    let cookie = bob.cookies.get("octogate").unwrap().clone();
    let mut tampered = cookie.clone().into_bytes();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let r = get(
        og.addr,
        "/backend",
        &format!(
            "cookie: octogate={}\r\naccept: text/html\r\n",
            String::from_utf8(tampered).unwrap()
        ),
    );
    assert_eq!(r.status, 302);
    // Signed out.
    let r = jar_get(&mut bob, &format!("{base}/oauth2/sign_out"), "");
    assert_eq!(r.status, 302);
    // Config reloaded.
    og.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));

    let log = og.log();
    let events = audit_lines(&log);
    let kinds: Vec<&str> = events.iter().filter_map(|e| e["event"].as_str()).collect();
    for k in [
        "signin_ok",
        "denied",
        "signin_failed",
        "session_rejected",
        "signed_out",
        "config_reloaded",
    ] {
        assert!(kinds.contains(&k), "no {k} audit event in {kinds:?}");
    }
    let ok = events.iter().find(|e| e["event"] == "signin_ok").unwrap();
    assert_eq!(ok["sub"], "u-bob");
    assert_eq!(ok["email"], "bob@example.com");
    assert_eq!(ok["ip"], "127.0.0.1");
    assert!(ok["request_id"].as_str().is_some_and(|s| !s.is_empty()));
    let denied = events.iter().find(|e| e["event"] == "denied").unwrap();
    assert_eq!(denied["sub"], "u-eve");
    assert_eq!(denied["reason"], "not_in_allowed_groups");
    // No token, cookie or secret anywhere in the log.
    assert!(!log.contains(&cookie), "session cookie value in the log");
    assert!(!log.contains("test-secret"), "client secret in the log");
    assert!(
        !log.contains("eyJ"),
        "a JWT (ID token or assertion) in the log"
    );
}

#[test]
fn request_id_generated_unless_trusted() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let r = get(og.addr, "/", "x-request-id: attacker-chosen\r\n");
    let seen = up.last().unwrap();
    let id = seen.header("x-request-id").unwrap().to_string();
    assert_ne!(id, "attacker-chosen");
    assert_eq!(r.header("x-request-id"), Some(id.as_str()));
    drop(og);
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "trusted_proxies = [\"127.0.0.1/32\"]\n".into();
    let og = Octogate::start(&spec);
    get(og.addr, "/", "x-request-id: lb-1234\r\n");
    assert_eq!(up.last().unwrap().header("x-request-id"), Some("lb-1234"));
    get(og.addr, "/", "x-request-id: bad value\r\n\r\n");
}

#[test]
fn sighup_reload_applies_valid_and_keeps_old_on_invalid() {
    let up = Upstream::start();
    let mport = free_port();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = format!("metrics_listen = \"127.0.0.1:{mport}\"\n");
    let og = Octogate::start(&spec);
    assert_eq!(
        get(og.addr, "/admin", "").status,
        200,
        "/admin is public before the reload"
    );
    // Valid change: protect /admin too.
    let mut next = ConfigSpec::new(&up.url());
    next.port = spec.port;
    next.server_extra = spec.server_extra.clone();
    next.access = spec.access.replace(
        "protect = [\"/backend\"]",
        "protect = [\"/backend\", \"/admin\"]",
    );
    std::fs::write(&og.config_path, next.render(&og.keys)).unwrap();
    og.signal("HUP");
    let deadline = Instant::now() + Duration::from_secs(5);
    while get(og.addr, "/admin", "x-requested-with: XMLHttpRequest\r\n").status != 401 {
        assert!(
            Instant::now() < deadline,
            "reload not applied; log:\n{}",
            og.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(scrape(mport).contains("octogate_config_generation 2"));
    // Invalid change: the running config stays.
    std::fs::write(&og.config_path, "[server]\nbogus = 1\n").unwrap();
    og.signal("HUP");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        get(og.addr, "/admin", "x-requested-with: XMLHttpRequest\r\n").status,
        401,
        "old config lost"
    );
    assert_eq!(get(og.addr, "/", "").status, 200);
    assert!(scrape(mport).contains("octogate_config_generation 2"));
    assert!(og.log().contains("config reload refused"), "{}", og.log());
}

fn make_cert(dir: &std::path::Path, cn: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let cert = dir.join(format!("{cn}.crt"));
    let key = dir.join(format!("{cn}.key"));
    let st = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
        ])
        .arg(format!("/CN={cn}"))
        .args(["-addext", "subjectAltName=IP:127.0.0.1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl");
    assert!(
        st.status.success(),
        "{}",
        String::from_utf8_lossy(&st.stderr)
    );
    (cert, key)
}

fn served_subject(port: u16) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("openssl s_client -connect 127.0.0.1:{port} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject"))
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Starts octogate with TLS from `cert`/`key` (and `extra` server keys) in front of `up`; waits
/// until it serves a certificate. Returns the process (the caller kills and waits for it), its
/// port and the served subject.
#[allow(clippy::zombie_processes)] // the child is handed to the caller, which waits for it
fn start_tls(
    up: &Upstream,
    dir: &std::path::Path,
    cert: &std::path::Path,
    key: &std::path::Path,
    extra: &str,
) -> (std::process::Child, u16, String) {
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = format!(
        "tls_cert = \"{}\"\ntls_key = \"{}\"\n{extra}",
        cert.display(),
        key.display()
    );
    let keys = keys(dir);
    std::fs::write(dir.join("site.toml"), spec.render(&keys)).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_octogate"))
        .args(["run", "--config"])
        .arg(dir.join("site.toml"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let subject = served_subject(spec.port);
        if !subject.is_empty() {
            return (child, spec.port, subject);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("TLS listener never came up");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Over TLS, a connection past `max_connections` is closed: no plain-text 503 written into a
/// TLS stream (which a client would only read as a protocol error).
#[test]
fn tls_connections_past_the_cap_are_closed_without_plain_text() {
    use std::io::Read;
    let up = Upstream::start();
    let dir = tmpdir("tls-cap");
    let (cert, key) = make_cert(&dir, "cap");
    let (mut child, port, _) = start_tls(&up, &dir, &cert, &key, "max_connections = 1\n");
    // The one slot, held by a connection that sends nothing yet.
    let _held = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let mut extra = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    extra
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut got = Vec::new();
    let result = extra.read_to_end(&mut got);
    let _ = child.kill();
    let _ = child.wait();
    assert!(result.is_ok(), "not closed: {result:?}");
    assert!(
        !String::from_utf8_lossy(&got).contains("HTTP/1.1"),
        "plain text written into a TLS connection: {got:?}"
    );
}

#[test]
fn tls_certificate_swapped_on_disk_is_picked_up() {
    let up = Upstream::start();
    let dir = tmpdir("tls");
    let (a_cert, a_key) = make_cert(&dir, "first");
    let (b_cert, b_key) = make_cert(&dir, "second");
    let live_cert = dir.join("live.crt");
    let live_key = dir.join("live.key");
    std::fs::copy(&a_cert, &live_cert).unwrap();
    std::fs::copy(&a_key, &live_key).unwrap();
    let (mut child, port, mut subject) = start_tls(&up, &dir, &live_cert, &live_key, "");
    assert!(subject.contains("first"), "served {subject:?}");
    // Swap the files (key first, then the certificate, as cert managers do).
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::copy(&b_key, &live_key).unwrap();
    std::fs::copy(&b_cert, &live_cert).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        subject = served_subject(port);
        if subject.contains("second") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "new certificate not picked up; still {subject:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // HTTP/2 over TLS (ALPN h2) is served too, with the same header hygiene.
    let out = Command::new("curl")
        .args([
            "-sk",
            "--http2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "-H",
            "X-Forwarded-User: mallory",
            "-H",
            "X_Octogate_Assertion: forged",
        ])
        .arg(format!("https://127.0.0.1:{port}/h2-check"))
        .output()
        .expect("curl");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "2 200",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = up.last().unwrap();
    assert_eq!(seen.target, "/h2-check");
    assert!(
        seen.header("x-forwarded-user").is_none() && seen.header("x_octogate_assertion").is_none(),
        "{:?}",
        seen.headers
    );
    assert_eq!(
        seen.header("x-forwarded-proto"),
        Some("http"),
        "public_url decides the scheme sent upstream"
    );
    let _ = child.kill();
    let _ = child.wait();
}
