//! The proxy core through the real binary: header hygiene, forwarding headers, streaming, upgrades,
//! upstream failures, connection defences and graceful shutdown.
mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::access::{connect_from, raw_from};
use common::*;

const SPOOFED: &[&str] = &[
    "X-Forwarded-User: mallory",
    "x-forwarded-user: mallory",
    "X_Forwarded_User: mallory",
    "x_forwarded_user: mallory",
    "X-Forwarded-Email: mallory@evil.com",
    "X_Forwarded_Email: mallory@evil.com",
    "X-Forwarded-Groups: admins",
    "X_FORWARDED_GROUPS: admins",
    "X-Forwarded-Preferred-Username: mallory",
    "X-Auth-Request-User: mallory",
    "X-Auth-Request-Email: mallory@evil.com",
    "x_auth_request_groups: admins",
    "X-Octogate-Assertion: eyJhbGciOiJub25lIn0.eyJzdWIiOiJtYWxsb3J5In0.",
    "X_Octogate_Assertion: forged",
    "X-Octogate-Anything: forged",
    "Remote-User: mallory",
    "REMOTE_USER: mallory",
    "X-Forwarded.User: mallory",
    "X-Octogate.Assertion: forged",
];

fn is_identity(name: &str) -> bool {
    let n = name.to_ascii_lowercase().replace(['_', '.'], "-");
    n.starts_with("x-forwarded-user")
        || n.starts_with("x-forwarded-email")
        || n.starts_with("x-forwarded-groups")
        || n.starts_with("x-forwarded-preferred-username")
        || n.starts_with("x-auth-request-")
        || n.starts_with("x-octogate-")
        || n == "remote-user"
}

#[test]
fn spoofed_identity_headers_never_reach_the_upstream() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let spoof: String = SPOOFED.iter().map(|h| format!("{h}\r\n")).collect();
    for path in ["/", "/index.php", "/themes/demo/x.css", "/public/page"] {
        let before = up.count();
        let r = get(og.addr, path, &spoof);
        assert_eq!(r.status, 200, "{path}: {}", r.text());
        assert_eq!(up.count(), before + 1);
        let seen = up.last().unwrap();
        let leaked: Vec<_> = seen
            .headers
            .iter()
            .filter(|(k, _)| is_identity(k))
            .collect();
        assert!(
            leaked.is_empty(),
            "{path}: identity headers leaked upstream: {leaked:?}"
        );
    }
    // A protected path without a session never reaches the upstream at all.
    let before = up.count();
    let r = get(
        og.addr,
        "/backend",
        &format!("{spoof}accept: text/html\r\n"),
    );
    assert!(
        r.status == 302 || r.status == 503,
        "protected path answered {}",
        r.status
    );
    let r = get(
        og.addr,
        "/backend/users",
        &format!("{spoof}x-requested-with: XMLHttpRequest\r\n"),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        up.count(),
        before,
        "protected request reached the upstream unauthenticated"
    );
}

#[test]
fn connection_header_cannot_remove_or_smuggle_identity() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let r = get(og.addr, "/", "Connection: X-Forwarded-For, X-Forwarded-User, X-Request-Id\r\nX-Forwarded-User: mallory\r\nX-Custom-Hop: 1\r\nConnection: x-custom-hop\r\n");
    assert_eq!(r.status, 200);
    let seen = up.last().unwrap();
    assert!(seen.header("x-forwarded-user").is_none());
    assert!(
        seen.header("x-custom-hop").is_none(),
        "header named in Connection was forwarded"
    );
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("127.0.0.1"),
        "octogate's own X-Forwarded-For must survive"
    );
    assert!(
        seen.header("x-request-id").is_some(),
        "octogate's own X-Request-Id must survive"
    );
}

#[test]
fn hop_by_hop_headers_removed_both_ways() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let r = get(og.addr, "/", "Keep-Alive: timeout=99\r\nTE: trailers\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\nX-Keep: yes\r\n");
    assert_eq!(r.status, 200);
    let seen = up.last().unwrap();
    for h in [
        "keep-alive",
        "te",
        "proxy-authorization",
        "proxy-connection",
        "upgrade",
    ] {
        assert!(
            seen.header(h).is_none(),
            "{h} was forwarded: {:?}",
            seen.headers
        );
    }
    assert_eq!(seen.header("x-keep"), Some("yes"));
    // The upstream's response names x-upstream-hop in Connection: it must not reach the client.
    assert!(
        r.header("x-upstream-hop").is_none(),
        "response hop-by-hop header leaked: {:?}",
        r.headers
    );
    assert!(r.header("keep-alive").is_none());
    assert_eq!(r.header("x-upstream"), Some("yes"));
}

#[test]
fn forwarded_headers_follow_trust() {
    let up = Upstream::start();
    // Untrusted peer: its X-Forwarded-* are dropped and replaced.
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    get(og.addr, "/", "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Host: evil.com\r\nX-Forwarded-Proto: https\r\nX-Real-IP: 6.6.6.6\r\nForwarded: for=6.6.6.6\r\n");
    let seen = up.last().unwrap();
    assert_eq!(seen.header("x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(
        seen.header("x-forwarded-host"),
        Some(format!("127.0.0.1:{}", og.addr.port()).as_str())
    );
    assert_eq!(seen.header("x-forwarded-proto"), Some("http"));
    assert!(seen.header("x-real-ip").is_none());
    assert!(seen.header("forwarded").is_none());
    // Host is the public host, never the client's.
    let r = raw(
        og.addr,
        "GET / HTTP/1.1\r\nhost: evil.example\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(
        up.last().unwrap().header("host"),
        Some(format!("127.0.0.1:{}", og.addr.port()).as_str())
    );
    drop(og);

    // Trusted peer: the chain is kept and the peer appended.
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "trusted_proxies = [\"127.0.0.0/8\"]\n".into();
    let og = Octogate::start(&spec);
    get(og.addr, "/", "X-Forwarded-For: 203.0.113.7, 10.1.1.1\r\nX-Forwarded-Port: 4444\r\nX-Forwarded-Prefix: /evil\r\nForwarded: for=1.2.3.4;host=evil.example\r\nX-Original-URL: /backend\r\nX-Original-URI: /backend\r\nX-Rewrite-URL: /backend\r\nX-Forwarded-Uri: /backend\r\nX_Forwarded_Port: 4445\r\nX-Real-IP: 6.6.6.6\r\n");
    let seen = up.last().unwrap();
    assert_eq!(
        seen.header("x-forwarded-for"),
        Some("203.0.113.7, 10.1.1.1, 127.0.0.1")
    );
    // Whatever else the trusted proxy sent about the request is not passed on: the site sees
    // only what octogate sets (a URL-rewrite header would re-route the request past the
    // access rules in frameworks that honour it; a port or prefix poisons absolute URLs).
    assert_eq!(
        seen.header("x-forwarded-port"),
        Some(og.addr.port().to_string().as_str())
    );
    for h in [
        "x-forwarded-prefix",
        "forwarded",
        "x-original-url",
        "x-original-uri",
        "x-rewrite-url",
        "x-forwarded-uri",
        "x_forwarded_port",
        "x-real-ip",
    ] {
        assert!(seen.header(h).is_none(), "{h} reached the upstream");
    }
}

#[test]
fn absolute_form_target_uses_path_only() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let before = up.count();
    let r = raw(og.addr, "GET http://evil.example/backend HTTP/1.1\r\nhost: evil.example\r\naccept: text/html\r\nconnection: close\r\n\r\n").unwrap();
    assert_ne!(r.status, 200);
    assert_eq!(
        up.count(),
        before,
        "absolute-form request to a protected path reached the upstream"
    );
    if let Some(loc) = r.header("location") {
        assert!(
            !loc.contains("evil.example"),
            "redirect built from the request: {loc}"
        );
    }
}

#[test]
fn large_upload_and_download_stream_with_bounded_memory() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    const SIZE: u64 = 256 * 1024 * 1024;
    // Upload 256 MiB with Content-Length.
    let s = TcpStream::connect(og.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut w = s.try_clone().unwrap();
    write!(w, "POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: {SIZE}\r\ncontent-type: application/octet-stream\r\n\r\n").unwrap();
    let chunk = vec![7u8; 1 << 20];
    for _ in 0..256 {
        w.write_all(&chunk).unwrap();
    }
    let mut r = BufReader::new(s);
    let resp = read_response(&mut r).unwrap();
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), format!("received {SIZE}"));
    // Download 256 MiB (chunked from the upstream).
    let s = TcpStream::connect(og.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    (&s).write_all(
        format!("GET /download/{SIZE} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n").as_bytes(),
    )
    .unwrap();
    let mut r = BufReader::new(s);
    let mut head = String::new();
    loop {
        let mut l = String::new();
        std::io::BufRead::read_line(&mut r, &mut l).unwrap();
        head.push_str(&l);
        if l == "\r\n" {
            break;
        }
    }
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    // Read the chunked body, counting payload bytes.
    let mut total: u64 = 0;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let mut size = String::new();
        std::io::BufRead::read_line(&mut r, &mut size).unwrap();
        let n = u64::from_str_radix(size.trim(), 16).unwrap();
        if n == 0 {
            break;
        }
        let mut left = n;
        while left > 0 {
            let k = left.min(buf.len() as u64) as usize;
            r.read_exact(&mut buf[..k]).unwrap();
            left -= k as u64;
        }
        total += n;
        let mut crlf = [0u8; 2];
        r.read_exact(&mut crlf).unwrap();
    }
    assert_eq!(total, SIZE);
    let peak = og.peak_rss_kib();
    assert!(peak > 0, "could not read VmHWM");
    assert!(
        peak < 64 * 1024,
        "octogate's peak RSS grew with the body: {peak} KiB"
    );
}

#[test]
fn websocket_upgrade_passes_through() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let s = TcpStream::connect(og.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    (&s).write_all(format!("GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: {key}\r\n\r\n").as_bytes()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let resp = read_response(&mut r).unwrap();
    assert_eq!(resp.status, 101, "{resp:?}");
    assert_eq!(
        resp.header("sec-websocket-accept"),
        Some(ws_accept(key).as_str())
    );
    assert!(resp
        .header("upgrade")
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket")));
    // A masked text frame "hello" (the echo upstream returns the bytes as they are).
    let payload = b"hello";
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    (&s).write_all(&frame).unwrap();
    let mut back = vec![0u8; frame.len()];
    r.read_exact(&mut back).unwrap();
    assert_eq!(back, frame);
}

#[test]
fn upstream_refused_is_502_and_slow_is_504() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let og = Octogate::start(&ConfigSpec::new(&dead));
    let r = get(og.addr, "/", "");
    assert_eq!(r.status, 502);
    assert!(r.text().contains("not reachable"));
    // Still serving after the error.
    assert_eq!(get(og.addr, "/healthz", "").status, 200);
    drop(og);

    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.upstream_extra = "timeout = \"1s\"\n".into();
    let og = Octogate::start(&spec);
    let t = Instant::now();
    let r = get(og.addr, "/slow/3000", "");
    assert_eq!(r.status, 504);
    assert!(
        t.elapsed() < Duration::from_millis(2900),
        "504 came too late: {:?}",
        t.elapsed()
    );
    assert_eq!(get(og.addr, "/", "").status, 200);
}

#[test]
fn upstream_timeout_holds_per_request_on_a_kept_alive_connection() {
    // The response-head timeout lives with the upstream connection and is re-armed lazily: a
    // deadline left over from an earlier request (passed while the connection sat idle) must
    // neither cut a later request short nor let a slow one run past its own deadline.
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.upstream_extra = "timeout = \"1s\"\n".into();
    let og = Octogate::start(&spec);
    assert_eq!(get(og.addr, "/", "").status, 200);
    std::thread::sleep(Duration::from_millis(1500));
    let t = Instant::now();
    assert_eq!(
        get(og.addr, "/slow/600", "").status,
        200,
        "cut short by a stale deadline"
    );
    assert!(t.elapsed() >= Duration::from_millis(600));
    // Right after the first: its deadline (1 s after it began) passes while this one runs.
    assert_eq!(
        get(og.addr, "/slow/700", "").status,
        200,
        "cut short by the previous request's deadline"
    );
    let t = Instant::now();
    let r = get(og.addr, "/slow/3000", "");
    assert_eq!(r.status, 504);
    let took = t.elapsed();
    assert!(
        took >= Duration::from_millis(950) && took < Duration::from_millis(2500),
        "504 after {took:?}, the timeout is 1 s"
    );
    assert_eq!(get(og.addr, "/", "").status, 200);
    assert_eq!(
        up.connections(),
        2,
        "the first four requests share one kept-alive connection; the timed-out one is closed"
    );
}

#[test]
fn upstream_connections_are_kept_alive_and_reused() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    // One client connection, many requests, bodies of every framing in between.
    let mut s = TcpStream::connect(og.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    for (i, (method, path)) in [
        ("GET", "/"),
        ("HEAD", "/"),
        ("GET", "/empty"),
        ("GET", "/download/100000"),
        ("GET", "/a?x=1"),
    ]
    .iter()
    .cycle()
    .take(20)
    .enumerate()
    {
        write!(s, "{method} {path} HTTP/1.1\r\nHost: site\r\n\r\n").unwrap();
        if *method == "HEAD" {
            // No body follows a HEAD response's head, whatever its Content-Length says.
            let mut head = String::new();
            while !head.ends_with("\r\n\r\n") {
                let mut line = String::new();
                assert!(
                    r.read_line(&mut line).unwrap() > 0,
                    "HEAD: connection closed"
                );
                head.push_str(&line);
            }
            assert!(head.starts_with("HTTP/1.1 200"), "request {i} HEAD: {head}");
            continue;
        }
        let resp = read_response(&mut r).unwrap();
        assert!(
            resp.status == 200 || resp.status == 204,
            "request {i} {method} {path}: {}",
            resp.status
        );
        if *path == "/download/100000" {
            assert_eq!(resp.body.len(), 100_000);
        }
    }
    // New client connections, one after the other.
    for _ in 0..10 {
        assert_eq!(get(og.addr, "/", "").status, 200);
    }
    assert_eq!(up.count(), 30);
    assert_eq!(
        up.connections(),
        1,
        "sequential requests must share one kept-alive upstream connection"
    );
}

#[test]
fn an_upstream_connection_closed_while_idle_is_replaced() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    for _ in 0..3 {
        let r = get(og.addr, "/close-after", "");
        assert_eq!(r.status, 200);
        std::thread::sleep(Duration::from_millis(100));
        // The pooled connection was closed by the upstream: a new one carries this request.
        let r = get(og.addr, "/", "");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    assert_eq!(up.count(), 6);
    // Each `/close-after` ran on the connection the `/` before it left idle (the first on a new one).
    assert_eq!(up.connections(), 4);
}

#[test]
fn a_safe_request_dropped_on_a_reused_connection_is_sent_again_once() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let targets = |up: &Upstream| {
        up.all()
            .into_iter()
            .map(|s| (s.method, s.target, s.conn))
            .collect::<Vec<_>>()
    };
    assert_eq!(get(og.addr, "/drop-next", "").status, 200);
    // Idle long enough that the upstream's keep-alive timeout could be striking.
    std::thread::sleep(Duration::from_millis(300));
    let r = get(og.addr, "/after", "");
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = targets(&up);
    assert_eq!(seen.len(), 3, "{seen:?}");
    assert_eq!(
        (seen[1].1.as_str(), seen[2].1.as_str()),
        ("/after", "/after")
    );
    assert_eq!(
        seen[0].2, seen[1].2,
        "the first try went on the kept-alive connection"
    );
    assert_ne!(
        seen[1].2, seen[2].2,
        "the second try went on a new connection"
    );

    // A request with a body (or an unsafe method) may have had its effect: never sent twice.
    assert_eq!(get(og.addr, "/drop-next", "").status, 200);
    std::thread::sleep(Duration::from_millis(300));
    let r = raw(
        og.addr,
        "POST /form HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\nconnection: close\r\n\r\nabc",
    )
    .unwrap();
    assert_eq!(r.status, 502, "{}", r.text());
    let posts = targets(&up).iter().filter(|s| s.1 == "/form").count();
    assert_eq!(posts, 1, "a POST was sent again");
    let r = raw(
        og.addr,
        "DELETE /thing HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .unwrap();
    assert_eq!(r.status, 200, "the POST's connection was closed, not kept");
}

#[test]
fn upstream_connections_idle_over_4s_are_not_reused() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    assert_eq!(get(og.addr, "/", "").status, 200);
    assert_eq!(get(og.addr, "/", "").status, 200);
    assert_eq!(up.connections(), 1);
    // Longer than the idle limit (below Apache's 5 s KeepAliveTimeout): a new connection.
    std::thread::sleep(Duration::from_millis(4300));
    assert_eq!(get(og.addr, "/", "").status, 200);
    assert_eq!(up.connections(), 2);
}

#[test]
fn early_response_does_not_park_an_unfinished_request_body() {
    // The upstream answers 413 before reading a large upload. The client must get the 413 and
    // its upload must not hang (a parked upstream connection would never read the rest); the
    // client connection then either serves the next request or is closed, never left hanging.
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    const SIZE: usize = 4 * 1024 * 1024;
    let s = TcpStream::connect(og.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut w = s.try_clone().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        write!(
            w,
            "POST /early HTTP/1.1\r\nhost: x\r\ncontent-length: {SIZE}\r\n\r\n"
        )
        .unwrap();
        let chunk = vec![7u8; 64 * 1024];
        let ok = (0..SIZE / chunk.len()).all(|_| w.write_all(&chunk).is_ok());
        let _ = tx.send((ok, w));
    });
    let mut r = BufReader::new(s);
    assert_eq!(read_response(&mut r).unwrap().status, 413);
    let Ok((ok, mut w)) = rx.recv_timeout(Duration::from_secs(10)) else {
        panic!("the request body was no longer read after the early response");
    };
    if ok && write!(w, "GET / HTTP/1.1\r\nhost: x\r\n\r\n").is_ok() {
        match read_response(&mut r) {
            Ok(resp) => assert_eq!(resp.status, 200),
            Err(e) => assert!(
                e.kind() != std::io::ErrorKind::WouldBlock
                    && e.kind() != std::io::ErrorKind::TimedOut,
                "client connection left hanging: {e}"
            ),
        }
    }
    // And octogate still serves.
    assert_eq!(get(og.addr, "/", "").status, 200);
}

#[test]
fn slow_head_gets_408_oversized_head_431_and_too_many_connections_503() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra =
        "header_read_timeout = \"1s\"\nmax_header_bytes = 8192\nmax_connections = 2\n".into();
    let og = Octogate::start(&spec);
    // Slowloris: half a head, then nothing.
    let s = TcpStream::connect(og.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    (&s).write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").unwrap();
    let resp = read_response(&mut BufReader::new(s)).unwrap();
    assert_eq!(resp.status, 408);
    // Oversized head.
    let big = format!(
        "GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n",
        "a".repeat(20_000)
    );
    let s = TcpStream::connect(og.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = (&s).write_all(big.as_bytes());
    let resp = read_response(&mut BufReader::new(s)).unwrap();
    assert_eq!(resp.status, 431);
    // Connection cap: hold two idle connections, the third is refused with 503.
    let a = TcpStream::connect(og.addr).unwrap();
    let b = TcpStream::connect(og.addr).unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let c = TcpStream::connect(og.addr).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = (&c).write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let resp = read_response(&mut BufReader::new(c)).unwrap();
    assert_eq!(resp.status, 503);
    drop((a, b));
    let log = og.log();
    assert!(log.contains("408"), "408 not logged");
    assert!(log.contains("431"), "431 not logged");
    assert!(
        log.contains("too many concurrent connections"),
        "503 not logged"
    );
}

#[test]
fn graceful_shutdown_finishes_in_flight_request() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let addr = og.addr;
    let inflight = std::thread::spawn(move || get(addr, "/slow/1500", ""));
    std::thread::sleep(Duration::from_millis(400));
    og.signal("TERM");
    // New connections are refused soon after the signal.
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_err() || get_fails(addr),
        "still accepting after SIGTERM"
    );
    let r = inflight.join().unwrap();
    assert_eq!(r.status, 200, "in-flight request was cut off");
    let mut og = og;
    let status = og.child.wait().unwrap();
    assert!(status.success(), "exit status {status:?}");
}

#[test]
fn shutdown_closes_idle_kept_alive_connections_at_once() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    // A kept-alive connection that has served a request and now sits idle.
    let idle = TcpStream::connect(og.addr).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    (&idle)
        .write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .unwrap();
    let mut idle_reader = BufReader::new(idle.try_clone().unwrap());
    assert_eq!(read_response(&mut idle_reader).unwrap().status, 200);
    let addr = og.addr;
    let inflight = std::thread::spawn(move || get(addr, "/slow/1500", ""));
    std::thread::sleep(Duration::from_millis(300));
    let signalled = Instant::now();
    og.signal("TERM");
    // The idle connection is closed at once (not after the grace period or a keep-alive timeout).
    let mut rest = Vec::new();
    let n = std::io::Read::read_to_end(&mut idle_reader, &mut rest);
    assert!(
        matches!(n, Ok(0)),
        "idle connection not closed cleanly: {n:?} {rest:?}"
    );
    assert!(
        signalled.elapsed() < Duration::from_millis(1000),
        "idle connection closed only after {:?}",
        signalled.elapsed()
    );
    assert_eq!(
        inflight.join().unwrap().status,
        200,
        "in-flight request cut off"
    );
    let mut og = og;
    assert!(og.child.wait().unwrap().success());
}

#[test]
fn kept_alive_connection_gets_the_header_timeout_for_every_head() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "header_read_timeout = \"1s\"\n".into();
    let og = Octogate::start(&spec);
    for (what, after_first) in [
        ("half a second head", &b"GET / HTTP/1.1\r\nhost: x\r\n"[..]),
        ("nothing after the first", &b""[..]),
    ] {
        let s = TcpStream::connect(og.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        // Several requests in a row, 0.7 s apart: each head has its own second (hyper counts
        // it from the end of the previous response, idle time included), none carried over.
        let mut last_response = Instant::now();
        for i in 0..3 {
            if i > 0 {
                std::thread::sleep(Duration::from_millis(700));
            }
            (&s).write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
                .unwrap();
            assert_eq!(read_response(&mut r).unwrap().status, 200, "{what}");
            last_response = Instant::now();
        }
        std::thread::sleep(Duration::from_millis(300));
        (&s).write_all(after_first).unwrap();
        let mut rest = Vec::new();
        let _ = std::io::Read::read_to_end(&mut r, &mut rest);
        let took = last_response.elapsed();
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_millis(3000),
            "{what}: closed {took:?} after the last response, the header timeout is 1 s"
        );
        assert!(
            rest.is_empty() || rest.starts_with(b"HTTP/1.1 408"),
            "{what}: {:?}",
            String::from_utf8_lossy(&rest)
        );
    }
    assert_eq!(get(og.addr, "/", "").status, 200);
}

#[test]
fn missing_repeated_or_bad_host_and_trace_are_refused_and_never_forwarded() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    for (what, request, status) in [
        (
            "no Host",
            "GET / HTTP/1.1\r\nconnection: close\r\n\r\n",
            400,
        ),
        (
            "two Hosts",
            "GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\nconnection: close\r\n\r\n",
            400,
        ),
        (
            "Host with a space",
            "GET / HTTP/1.1\r\nhost: a b\r\nconnection: close\r\n\r\n",
            400,
        ),
        (
            "Host with userinfo",
            "GET / HTTP/1.1\r\nhost: evil@a\r\nconnection: close\r\n\r\n",
            400,
        ),
        (
            "empty Host",
            "GET / HTTP/1.1\r\nhost:\r\nconnection: close\r\n\r\n",
            400,
        ),
        (
            "TRACE",
            "TRACE / HTTP/1.1\r\nhost: a\r\ncookie: octogate=x\r\nconnection: close\r\n\r\n",
            405,
        ),
        (
            "TRACK",
            "TRACK / HTTP/1.1\r\nhost: a\r\nconnection: close\r\n\r\n",
            405,
        ),
    ] {
        let r = raw(og.addr, request).unwrap();
        assert_eq!(r.status, status, "{what}: {}", r.text());
    }
    assert_eq!(up.count(), 0, "a refused request reached the upstream");
    // HTTP/1.0 needs no Host; bare-LF line ends are answered at once (not after the timeout).
    assert_eq!(raw(og.addr, "GET / HTTP/1.0\r\n\r\n").unwrap().status, 200);
    let t = Instant::now();
    let r = raw(
        og.addr,
        "GET /backend HTTP/1.1\nhost: a\nconnection: close\n\n",
    )
    .unwrap();
    assert!(r.status == 401 || r.status == 400, "bare LF: {}", r.status);
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "bare LF answered after {:?}",
        t.elapsed()
    );
    assert!(
        og.log().contains("invalid Host header"),
        "refusal not logged"
    );
}

fn get_fails(addr: std::net::SocketAddr) -> bool {
    raw(
        addr,
        "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
    )
    .is_err()
}

#[test]
fn health_and_readiness_are_answered_by_octogate() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let before = up.count();
    assert_eq!(get(og.addr, "/healthz", "").status, 200);
    // The IdP in this config is unreachable: not ready, with a reason.
    let r = get(og.addr, "/readyz", "");
    assert_eq!(r.status, 503);
    assert!(r.text().contains("not_ready"), "{}", r.text());
    assert_eq!(up.count(), before, "health endpoints were forwarded");
}

#[test]
fn access_log_has_no_query_or_cookie() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    get(
        og.addr,
        "/some/page?code=SECRETCODE123&state=abc",
        "cookie: octogate=SECRETCOOKIE456\r\nauthorization: Bearer SECRETTOKEN789\r\n",
    );
    std::thread::sleep(Duration::from_millis(200));
    let log = og.log();
    assert!(log.contains("/some/page"), "no access line: {log}");
    for secret in ["SECRETCODE123", "SECRETCOOKIE456", "SECRETTOKEN789"] {
        assert!(!log.contains(secret), "{secret} leaked into the log");
    }
}

fn ws_request(addr: std::net::SocketAddr, upgrade: &str) -> (TcpStream, RawResponse) {
    let s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (&s).write_all(format!("GET /ws HTTP/1.1\r\nhost: x\r\nconnection: Upgrade\r\nupgrade: {upgrade}\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nhttp2-settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n").as_bytes()).unwrap();
    let resp = read_response(&mut BufReader::new(s.try_clone().unwrap())).unwrap();
    (s, resp)
}

#[test]
fn only_websocket_upgrades_are_tunnelled() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    // h2c: the Upgrade is not forwarded; the (careless) upstream answers 101 anyway, which octogate
    // refuses to turn into a tunnel.
    let (_s, resp) = ws_request(og.addr, "h2c");
    assert_eq!(resp.status, 502, "{resp:?}");
    let seen = up.last().unwrap();
    assert!(
        seen.header("upgrade").is_none(),
        "h2c upgrade forwarded: {:?}",
        seen.headers
    );
    assert!(seen.header("http2-settings").is_none());
}

#[test]
fn one_client_cannot_hold_every_connection() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra =
        "max_connections_per_client = 2\ntrusted_proxies = [\"127.0.0.3/32\"]\n".into();
    let og = Octogate::start(&spec);
    let get = "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let local = |last: u8| std::net::IpAddr::from([127, 0, 0, last]);
    // Two connections from one address, open and silent (a slow-loris client).
    let a = connect_from(local(1), og.addr);
    let _b = connect_from(local(1), og.addr);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(raw_from(local(1), og.addr, get).status, 503, "a third one");
    // Other clients are served.
    assert_eq!(raw_from(local(2), og.addr, get).status, 200);
    // A trusted proxy carries many clients: not counted per address.
    let _p1 = connect_from(local(3), og.addr);
    let _p2 = connect_from(local(3), og.addr);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(raw_from(local(3), og.addr, get).status, 200);
    // A closed connection gives its slot back.
    drop(a);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(raw_from(local(1), og.addr, get).status, 200);
    let log = og.log();
    assert!(
        log.contains("too many concurrent connections from this client"),
        "{log}"
    );
}

#[test]
fn a_client_that_stops_reading_is_cut_off_after_send_timeout() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "send_timeout = \"1s\"\n".into();
    let og = Octogate::start(&spec);
    let size = 256 << 20;
    let mut s = TcpStream::connect(og.addr).unwrap();
    s.write_all(format!("GET /download/{size} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes())
        .unwrap();
    // Read nothing while octogate fills the socket buffers and waits.
    std::thread::sleep(Duration::from_secs(3));
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let started = Instant::now();
    let mut got = 0usize;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    assert!(got < size, "the whole body arrived: {got}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the connection was not closed"
    );
    std::thread::sleep(Duration::from_millis(200));
    let log = og.log();
    assert!(log.contains("the client stopped reading"), "{log}");
}

#[test]
fn tunnels_count_against_their_clients_connections() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "max_connections_per_client = 2\n".into();
    let og = Octogate::start(&spec);
    // The HTTP connection hands its socket to the tunnel; the tunnel keeps the client's slot.
    let (_a, ra) = ws_request(og.addr, "websocket");
    assert_eq!(ra.status, 101);
    let (_b, rb) = ws_request(og.addr, "websocket");
    assert_eq!(rb.status, 101);
    std::thread::sleep(Duration::from_millis(200));
    let (_c, rc) = ws_request(og.addr, "websocket");
    assert_eq!(rc.status, 503, "a third tunnel from one client: {rc:?}");
}

#[test]
fn tunnels_count_against_max_connections_and_close_when_idle() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "max_connections = 3\ntunnel_idle_timeout = \"1s\"\n".into();
    let og = Octogate::start(&spec);
    // After each 101 the HTTP connection hands its socket to the tunnel and releases its own
    // slot; give it a moment so only the tunnels' slots are counted.
    let (a, ra) = ws_request(og.addr, "websocket");
    assert_eq!(ra.status, 101);
    std::thread::sleep(Duration::from_millis(200));
    let (_b, rb) = ws_request(og.addr, "websocket");
    assert_eq!(rb.status, 101);
    std::thread::sleep(Duration::from_millis(200));
    let (_c, rc) = ws_request(og.addr, "websocket");
    assert_eq!(
        rc.status, 503,
        "third tunnel should exceed max_connections: {rc:?}"
    );
    // Idle: the first tunnel is closed by octogate after ~1 s without traffic.
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = (&a).read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "tunnel still open");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "idle tunnel closed too late: {:?}",
        t.elapsed()
    );
}

#[test]
fn stalled_request_body_is_cut_off() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "body_read_timeout = \"1s\"\n".into();
    let og = Octogate::start(&spec);
    let s = TcpStream::connect(og.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    (&s).write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 1000\r\n\r\n0123456789")
        .unwrap();
    let t = Instant::now();
    let resp = read_response(&mut BufReader::new(s));
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "stalled body held the request for {:?}",
        t.elapsed()
    );
    if let Ok(r) = resp {
        assert_ne!(r.status, 200, "{r:?}");
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        og.log().contains("stalled"),
        "no log line for the stalled body"
    );
}

#[test]
fn octogate_cookies_are_not_forwarded() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    get(og.addr, "/", "cookie: october_session=abc; octogate=SEALEDVALUE; octogate_1=CHUNK; octogate_login_AAAA=L\r\n");
    let seen = up.last().unwrap();
    assert_eq!(seen.header("cookie"), Some("october_session=abc"));
    // A non-ASCII cookie in the same header must not let the header through untouched.
    get(
        og.addr,
        "/",
        "cookie: city=Z\u{fc}rich; octogate=SEALEDVALUE; octogate_0=CHUNK\r\n",
    );
    let seen = up.last().unwrap();
    assert_eq!(seen.header("cookie"), Some("city=Z\u{fc}rich"));
}

#[test]
fn upstream_cannot_set_octogate_cookies_and_cookie_lines_are_joined() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let r = get(og.addr, "/cache-public", "");
    assert_eq!(r.status, 200);
    assert_eq!(r.headers_named("set-cookie"), vec!["site=keep; Path=/"]);
    // The public site's caching is the site's business.
    assert_eq!(r.header("cache-control"), Some("public, max-age=60"));
    // Cookies in several header lines (as HTTP/2 clients send them) reach the site as one.
    get(
        og.addr,
        "/",
        "cookie: a=1\r\ncookie: b=2; octogate=S\r\ncookie: c=3\r\n",
    );
    let seen = up.last().unwrap();
    let cookies: Vec<&str> = seen
        .headers
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case("cookie"))
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(cookies, vec!["a=1; b=2; c=3"]);
}

#[test]
fn http2_streams_cannot_multiply_upstream_requests_past_max_connections() {
    // One HTTP/2 connection holds one connection slot but may carry many streams; each stream
    // would otherwise take an upstream connection of its own.
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "max_connections = 3\n".into();
    let og = Octogate::start(&spec);
    // Eight concurrent streams on one HTTP/2 connection (hyper's client: curl 7.88 cannot
    // multiplex prior-knowledge h2c with --parallel).
    let addr = og.addr;
    let codes: Vec<u16> = tokio::runtime::Runtime::new()
        .expect("runtime")
        .block_on(async move {
            let (sender, _conn) = h2_client(addr, |_| {}).await;
            let streams: Vec<_> = (0..8)
                .map(|_| {
                    let mut sender = sender.clone();
                    tokio::spawn(async move {
                        match sender.send_request(h2_get(addr, "/slow/800")).await {
                            Ok(r) => r.status().as_u16(),
                            Err(_) => 0,
                        }
                    })
                })
                .collect();
            let mut codes = Vec::new();
            for s in streams {
                codes.push(s.await.unwrap_or(0));
            }
            codes
        });
    let text = format!("{codes:?}");
    let ok = codes.iter().filter(|c| **c == 200).count();
    let busy = codes.iter().filter(|c| **c == 503).count();
    assert_eq!(ok + busy, 8, "{text}");
    assert!((1..=3).contains(&ok), "{text}");
    assert!(
        up.connections() <= 3,
        "{} upstream connections for one client connection",
        up.connections()
    );
    assert!(og.log().contains("upstream_busy"), "{}", og.log());
    // The slots come back when the responses are done.
    assert_eq!(get(og.addr, "/", "").status, 200);
}

/// A client that never opens HTTP/2 flow-control windows keeps every response it asked for
/// unsent, and with it an upstream exchange each. One connection holds at most
/// `H2_REQUESTS_IN_PROGRESS` (16) of them; the rest of its streams wait, and everybody else is
/// still served.
#[test]
fn an_http2_client_that_never_reads_cannot_take_every_upstream_slot() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    // 24 upstream exchanges at most (one per connection slot).
    spec.server_extra = "max_connections = 24\n".into();
    let og = Octogate::start(&spec);
    let addr = og.addr;
    let seen = up.seen.clone();
    let (heads, others, downloads) =
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async move {
                let (sender, _conn) = h2_client(addr, |b| {
                    b.initial_stream_window_size(0);
                })
                .await;
                // 64 streams for a large download each; no body is ever read.
                let streams: Vec<_> = (0..64)
                    .map(|_| hold_download(sender.clone(), addr))
                    .collect();
                tokio::time::sleep(Duration::from_millis(1500)).await;
                // Everybody else: plain HTTP/1.1 requests still get through.
                let others = tokio::task::spawn_blocking(move || {
                    (0..4)
                        .map(|_| get(addr, "/", "").status)
                        .collect::<Vec<u16>>()
                })
                .await
                .expect("blocking");
                let heads = streams.iter().filter(|s| !s.is_finished()).count();
                // Counted while the streams are still held (their turns come back as they go).
                let downloads = downloads_seen(&seen);
                for s in streams {
                    s.abort();
                }
                (heads, others, downloads)
            });
    assert_eq!(heads, 64);
    assert_eq!(others, vec![200; 4], "{}", og.log());
    assert!(
        downloads <= 16,
        "{downloads} upstream exchanges for one HTTP/2 connection"
    );
}

#[test]
fn one_http2_client_is_capped_over_all_its_connections() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "max_connections_per_client = 20\n".into();
    let og = Octogate::start(&spec);
    let addr = og.addr;
    let seen = up.seen.clone();
    let (statuses, downloads) =
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async move {
                // Two connections, 16 streams each (its own limit), never reading a body.
                let mut streams = Vec::new();
                for _ in 0..2 {
                    let (sender, _conn) = h2_client(addr, |b| {
                        b.initial_stream_window_size(0);
                    })
                    .await;
                    for _ in 0..16 {
                        streams.push(hold_download(sender.clone(), addr));
                    }
                }
                tokio::time::sleep(Duration::from_millis(1500)).await;
                let downloads = downloads_seen(&seen);
                // Another client is served meanwhile.
                let other = tokio::task::spawn_blocking(move || {
                    raw_from(
                        std::net::IpAddr::from([127, 0, 0, 2]),
                        addr,
                        "GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
                    )
                    .status
                })
                .await
                .expect("blocking");
                assert_eq!(other, 200);
                // The refused ones have finished (their 503 was read).
                let mut statuses = Vec::new();
                for s in streams {
                    if s.is_finished() {
                        statuses.push(s.await.expect("stream").expect("response head"));
                    } else {
                        s.abort();
                    }
                }
                (statuses, downloads)
            });
    assert_eq!(statuses, vec![503; 12], "{}", og.log());
    assert!(
        downloads <= 20,
        "{downloads} upstream exchanges for one client"
    );
}

/// Asks for a large download on an HTTP/2 connection and never reads it: a 200 response is held
/// unread for 30 s (the rest of a test); resolves to the status (an error if no head came).
fn hold_download(
    mut sender: hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    addr: std::net::SocketAddr,
) -> tokio::task::JoinHandle<Result<u16, hyper::Error>> {
    tokio::spawn(async move {
        let resp = sender
            .send_request(h2_get(addr, "/download/1000000"))
            .await?;
        let status = resp.status().as_u16();
        if status == 200 {
            tokio::time::sleep(Duration::from_secs(30)).await;
        }
        drop(resp);
        Ok(status)
    })
}

/// How many download requests reached the upstream.
fn downloads_seen(seen: &std::sync::Mutex<Vec<Seen>>) -> usize {
    seen.lock()
        .unwrap()
        .iter()
        .filter(|s| s.target.starts_with("/download/"))
        .count()
}

/// An HTTP/2 connection with no request in progress is closed after the header timeout, as an
/// idle HTTP/1.1 keep-alive connection is: answering pings does not keep a slot for ever.
#[test]
fn an_idle_http2_connection_is_closed() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.server_extra = "header_read_timeout = \"1s\"\n".into();
    let og = Octogate::start(&spec);
    let addr = og.addr;
    let (status, closed_after) =
        tokio::runtime::Runtime::new()
            .expect("runtime")
            .block_on(async move {
                // Answering the server's pings, and pinging it too, all along.
                let (mut sender, conn) = h2_client(addr, |b| {
                    b.timer(hyper_util::rt::TokioTimer::new())
                        .keep_alive_interval(Duration::from_millis(200))
                        .keep_alive_while_idle(true);
                })
                .await;
                // A slow request: in progress for longer than the idle limit, never cut off.
                let status = sender
                    .send_request(h2_get(addr, "/slow/1500"))
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0);
                let idle_from = Instant::now();
                let closed = tokio::time::timeout(Duration::from_secs(8), conn).await;
                (status, closed.ok().map(|_| idle_from.elapsed()))
            });
    assert_eq!(status, 200, "a request in progress is not idle");
    let after = closed_after.expect("idle HTTP/2 connection still open after 8 s");
    assert!(
        after >= Duration::from_millis(700) && after <= Duration::from_secs(4),
        "closed {after:?} after its last request"
    );
}

#[test]
fn http2_prior_knowledge_in_clear_text_is_served() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let out = std::process::Command::new("curl")
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "-H",
            "x-forwarded-user: mallory",
        ])
        .arg(format!("{}/h2c", og.base()))
        .output()
        .expect("curl");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
    let seen = up.last().unwrap();
    assert_eq!(seen.target, "/h2c");
    assert!(seen.header("x-forwarded-user").is_none());
}

/// An HTTP/2 (prior knowledge) client connection to `addr`, configured by `configure`; the
/// connection is driven by a task of its own (its handle is returned).
async fn h2_client(
    addr: std::net::SocketAddr,
    configure: impl FnOnce(&mut hyper::client::conn::http2::Builder<hyper_util::rt::TokioExecutor>),
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<bytes::Bytes>>,
    tokio::task::JoinHandle<Result<(), hyper::Error>>,
) {
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let mut builder =
        hyper::client::conn::http2::Builder::new(hyper_util::rt::TokioExecutor::new());
    configure(&mut builder);
    let (sender, conn) = builder
        .handshake(hyper_util::rt::TokioIo::new(stream))
        .await
        .expect("h2 handshake");
    (sender, tokio::spawn(conn))
}

/// A GET for `path` on `addr`, for an HTTP/2 client.
fn h2_get(
    addr: std::net::SocketAddr,
    path: &str,
) -> http::Request<http_body_util::Empty<bytes::Bytes>> {
    http::Request::get(format!("http://{addr}{path}"))
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .expect("request")
}
