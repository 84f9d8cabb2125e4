//! No panic reachable from the network: a deterministic stream of hostile and random requests
//! (paths, header names and values, cookies, methods, framing) against the real binary. Every
//! request gets an answer or a closed connection, octogate stays healthy, and nothing forbidden
//! reaches the upstream without a session.
mod common;

use std::io::{BufReader, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;

/// xorshift64*: deterministic, so a failure reproduces.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const PATH_PARTS: &[&str] = &[
    "/",
    "backend",
    "Backend",
    "BACKEND",
    "%62ackend",
    ".",
    "..",
    "%2e",
    "%2E%2e",
    "%2f",
    "%5c",
    "\\",
    ";",
    ";x",
    "%00",
    "%",
    "%zz",
    "%0d%0a",
    "//",
    "index.php",
    "oauth2",
    "start",
    "callback",
    "sign_out",
    "auth",
    "userinfo",
    "healthz",
    "%25",
    "%252f",
    "~",
    "a",
    "?",
    "#",
    "%3f",
    "\u{e9}",
    "%c0%ae",
    "%ff",
    "..;",
    "*",
];
const HEADER_NAMES: &[&str] = &[
    "X-Forwarded-User",
    "x_forwarded_user",
    "X-Forwarded.User",
    "X-Octogate-Assertion",
    "Connection",
    "Upgrade",
    "Transfer-Encoding",
    "Content-Length",
    "Cookie",
    "Host",
    "X-Original-URI",
    "Accept",
    "X-Requested-With",
    "Forwarded",
    "X-Forwarded-For",
    "TE",
    "Expect",
    "X-Request-Id",
    "Sec-WebSocket-Key",
];
const HEADER_VALUES: &[&str] = &[
    "x",
    "",
    "text/html",
    "XMLHttpRequest",
    "chunked",
    "5",
    "-1",
    "99999999999999999999",
    "websocket",
    "h2c",
    "keep-alive, X-Forwarded-User, Cookie, Host",
    "octogate=AAAA",
    "octogate_0=A; octogate_1=B; octogate_9=C",
    "octogate=",
    "octogate_login_AAAAAAAAAAAAAAAAAAAAAA=x",
    "100-continue",
    "1.2.3.4, garbage",
    "for=\"[::1]\"",
    "/backend",
    "//evil.com",
    "\u{e9}t\u{e9}",
];
const METHODS: &[&str] = &[
    "GET", "POST", "HEAD", "OPTIONS", "PUT", "DELETE", "PATCH", "TRACE", "BREW",
];

fn request(rng: &mut Rng) -> Vec<u8> {
    let mut path = String::new();
    for _ in 0..1 + rng.below(6) {
        path.push_str(rng.pick(PATH_PARTS));
        if rng.below(2) == 0 {
            path.push('/');
        }
    }
    if !path.starts_with('/') && rng.below(4) != 0 {
        path.insert(0, '/');
    }
    let mut req = format!("{} {} HTTP/1.1\r\nhost: x\r\n", rng.pick(METHODS), path).into_bytes();
    for _ in 0..rng.below(6) {
        let name = rng.pick(HEADER_NAMES);
        let value = rng.pick(HEADER_VALUES);
        req.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if rng.below(10) == 0 {
        // Raw junk bytes somewhere in the head.
        let n = rng.below(40);
        for _ in 0..n {
            req.push((rng.next() & 0xff) as u8);
        }
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"connection: close\r\n\r\n");
    if rng.below(4) == 0 {
        req.extend_from_slice(b"5\r\nhello\r\n0\r\n\r\n");
    }
    req
}

#[test]
fn thousands_of_hostile_requests_no_panic_no_bypass() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.upstream_extra = "timeout = \"2s\"\n".into();
    spec.server_extra = "header_read_timeout = \"2s\"\nbody_read_timeout = \"1s\"\n".into();
    let og = Octogate::start(&spec);
    let mut rng = Rng(0x0c70_9a7e_5eed_1234);
    let mut answered = 0;
    for i in 0..1500 {
        let req = request(&mut rng);
        let Ok(s) = TcpStream::connect(og.addr) else {
            panic!("octogate stopped accepting at request {i}")
        };
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let _ = (&s).write_all(&req);
        if read_response(&mut BufReader::new(s)).is_ok() {
            answered += 1;
        }
    }
    assert!(
        answered > 1000,
        "only {answered} of 1500 requests got a response"
    );
    assert_eq!(
        get(og.addr, "/healthz", "").status,
        200,
        "octogate unhealthy after the stream"
    );
    let log = og.log();
    assert!(!log.contains("panicked"), "a panic was logged:\n{log}");
    // Nothing in the protected area reached the upstream (there is no session in this test), while
    // plenty of public requests did (so the check below is not vacuous).
    let forwarded = up.all();
    assert!(
        forwarded.len() > 100,
        "only {} requests were forwarded",
        forwarded.len()
    );
    for seen in forwarded {
        let p = seen
            .target
            .split('?')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        assert!(
            !p.starts_with("/backend") && !p.contains(".php/backend"),
            "reached the upstream unauthenticated: {seen:?}"
        );
        for (k, _) in &seen.headers {
            let n = k.to_ascii_lowercase().replace(['_', '.'], "-");
            assert!(
                n != "x-forwarded-user" && n != "x-octogate-assertion",
                "identity header leaked: {seen:?}"
            );
        }
    }
}
