//! Shared test support: a recording upstream, a spawned octogate process, a raw HTTP client and a
//! spawned OpenID Provider (npm `oidc-provider`).
#![allow(dead_code)]

pub mod access;
pub mod op;
pub mod signin;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A port for a process started later. Taken below Linux's ephemeral range (32768+), where the
/// recording upstreams and the OP (which bind port 0) never land, and never handed out twice in
/// one test process, so a port cannot be grabbed between choosing and binding it.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let _ = NEXT.compare_exchange(
        0,
        20_000 + (std::process::id() % 500) * 24,
        Ordering::SeqCst,
        Ordering::SeqCst,
    );
    loop {
        let p = NEXT.fetch_add(1, Ordering::SeqCst);
        let port = (20_000 + (p - 20_000) % 12_000) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
}

pub fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "octogate-test-{tag}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A request as the upstream saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// Which upstream connection carried it (a serial number per accepted connection).
    pub conn: u64,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn header_names(&self) -> Vec<String> {
        self.headers
            .iter()
            .map(|(k, _)| k.to_ascii_lowercase())
            .collect()
    }
}

/// A real HTTP/1.1 upstream (threads + std sockets) that records every request head.
/// Endpoints: `/slow/<ms>` waits, `/download/<bytes>` streams zeros (chunked), `/upload` counts
/// the body, `/ws` answers a WebSocket handshake and echoes frames' bytes raw, anything else
/// answers 200 "ok". `/early` answers 413 before reading the request body, `/empty` answers 204, `/close-after` answers 200 with keep-alive framing and
/// then closes the connection (as an upstream's idle timeout would), `/drop-next` answers 200 and
/// then closes the connection without answering the next request on it (as an idle timeout
/// striking while that request arrives would), a target ending in `/cache-public` answers with
/// `Cache-Control: public, max-age=60` and `Set-Cookie` for `octogate`, `octogate_8` and `site`.
pub struct Upstream {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Upstream {
    pub fn start() -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let s2 = seen.clone();
        std::thread::spawn(move || {
            for (serial, stream) in listener.incoming().flatten().enumerate() {
                let seen = s2.clone();
                std::thread::spawn(move || {
                    let _ = serve_upstream(stream, seen, serial as u64);
                });
            }
        });
        Upstream { addr, seen }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn last(&self) -> Option<Seen> {
        self.seen.lock().unwrap().last().cloned()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn all(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many different upstream connections carried the requests seen so far.
    pub fn connections(&self) -> usize {
        let mut c: Vec<u64> = self.seen.lock().unwrap().iter().map(|s| s.conn).collect();
        c.sort_unstable();
        c.dedup();
        c.len()
    }
}

/// Header lines up to the blank line that ends a head.
fn read_header_lines<R: BufRead>(r: &mut R) -> std::io::Result<Vec<(String, String)>> {
    let mut headers = Vec::new();
    loop {
        let mut l = String::new();
        r.read_line(&mut l)?;
        let l = l.trim_end();
        if l.is_empty() {
            return Ok(headers);
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
}

/// A request head: method, target, headers.
type Head = (String, String, Vec<(String, String)>);

fn read_head(r: &mut BufReader<TcpStream>) -> std::io::Result<Option<Head>> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Ok(None);
    }
    let mut parts = line.trim_end().splitn(3, ' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let headers = read_header_lines(r)?;
    Ok(Some((method, target, headers)))
}

fn serve_upstream(
    stream: TcpStream,
    seen: Arc<Mutex<Vec<Seen>>>,
    conn: u64,
) -> std::io::Result<()> {
    let mut w = stream.try_clone()?;
    let mut r = BufReader::new(stream);
    let mut drop_next = false;
    while let Some((method, target, headers)) = read_head(&mut r)? {
        let get = |n: &str| {
            headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(n))
                .map(|(_, v)| v.clone())
        };
        seen.lock().unwrap().push(Seen {
            method: method.clone(),
            target: target.clone(),
            headers: headers.clone(),
            conn,
        });
        let body_len: u64 = get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let chunked = get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
        if target == "/early" {
            // Answers before reading the body (as a 413 would), then reads and discards it.
            w.write_all(b"HTTP/1.1 413 Payload Too Large\r\ncontent-length: 5\r\n\r\nearly")?;
            std::io::copy(&mut (&mut r).take(body_len), &mut std::io::sink())?;
            continue;
        }
        let mut received: u64 = 0;
        if chunked {
            loop {
                let mut size = String::new();
                r.read_line(&mut size)?;
                let n = u64::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                    .unwrap_or(0);
                if n == 0 {
                    let mut end = String::new();
                    r.read_line(&mut end)?;
                    break;
                }
                std::io::copy(&mut (&mut r).take(n), &mut std::io::sink())?;
                received += n;
                let mut crlf = [0u8; 2];
                r.read_exact(&mut crlf)?;
            }
        } else if body_len > 0 {
            received = std::io::copy(&mut (&mut r).take(body_len), &mut std::io::sink())?;
        }
        if drop_next {
            return Ok(());
        }
        drop_next = target == "/drop-next";
        if let Some(ms) = target.strip_prefix("/slow/") {
            std::thread::sleep(Duration::from_millis(ms.parse().unwrap_or(0)));
        }
        if let Some(n) = target.strip_prefix("/download/") {
            let n: u64 = n.parse().unwrap_or(0);
            w.write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ntransfer-encoding: chunked\r\n\r\n")?;
            let chunk = vec![0u8; 64 * 1024];
            let mut left = n;
            while left > 0 {
                let k = left.min(chunk.len() as u64) as usize;
                write!(w, "{k:x}\r\n")?;
                w.write_all(&chunk[..k])?;
                w.write_all(b"\r\n")?;
                left -= k as u64;
            }
            w.write_all(b"0\r\n\r\n")?;
            continue;
        }
        if target.ends_with("/ws") {
            let key = get("sec-websocket-key").unwrap_or_default();
            let accept = ws_accept(&key);
            write!(w, "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-accept: {accept}\r\n\r\n")?;
            // Echo raw bytes until the peer closes.
            let mut buf = [0u8; 4096];
            loop {
                let n = r.read(&mut buf)?;
                if n == 0 {
                    return Ok(());
                }
                w.write_all(&buf[..n])?;
            }
        }
        if target == "/empty" {
            w.write_all(b"HTTP/1.1 204 No Content\r\nx-upstream: yes\r\n\r\n")?;
            continue;
        }
        if target.ends_with("/cache-public") {
            // A page that asks shared caches to keep it, and tries to set octogate's cookies.
            w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\ncache-control: public, max-age=60\r\nset-cookie: octogate=evil; Path=/\r\nset-cookie: site=keep; Path=/\r\nset-cookie: octogate_8=x; Path=/\r\n\r\nok")?;
            continue;
        }
        if target == "/close-after" {
            w.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")?;
            return Ok(());
        }
        let body = if target == "/upload" {
            format!("received {received}")
        } else {
            "ok".to_string()
        };
        // A HEAD response has the GET response's headers and no body.
        let sent = if method == "HEAD" { "" } else { body.as_str() };
        write!(w, "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: {}\r\nx-upstream: yes\r\nconnection: keep-alive, x-upstream-hop\r\nx-upstream-hop: secret\r\nkeep-alive: timeout=5\r\n\r\n{sent}", body.len())?;
    }
    Ok(())
}

pub fn ws_accept(key: &str) -> String {
    use base64::Engine;
    use sha1::Digest;
    let mut h = sha1::Sha1::new();
    h.update(key.as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC11B85");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Fresh key material for a test config.
pub struct Keys {
    pub cookie_key: String,
    pub pem_path: PathBuf,
    pub public_b64: String,
}

pub fn keys(dir: &std::path::Path) -> Keys {
    let k = octogate::assertion::generate_keys();
    let pem_path = dir.join("signing.pem");
    std::fs::write(&pem_path, &k.signing_key_pem).unwrap();
    Keys {
        cookie_key: k.cookie_key_b64,
        pem_path,
        public_b64: k.public_key_b64,
    }
}

/// A config for tests. `extra` is appended verbatim (more sections/keys).
pub struct ConfigSpec {
    pub port: u16,
    pub upstream: String,
    pub issuer: String,
    pub client_id: String,
    pub client_secret: String,
    pub server_extra: String,
    pub upstream_extra: String,
    pub oidc_extra: String,
    pub session_extra: String,
    pub access: String,
}

impl ConfigSpec {
    pub fn new(upstream: &str) -> Self {
        ConfigSpec {
            port: free_port(),
            upstream: upstream.to_string(),
            issuer: "http://127.0.0.1:9".into(),
            client_id: "octogate-test".into(),
            client_secret: "test-secret".into(),
            server_extra: String::new(),
            upstream_extra: String::new(),
            oidc_extra: String::new(),
            session_extra: String::new(),
            access: "protect = [\"/backend\"]\nallowed_groups = [\"admins\", \"editors\"]\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\nsuperuser = true\n\n[[access.roles]]\ngroup = \"editors\"\nrole = \"editor\"\n".into(),
        }
    }

    pub fn render(&self, keys: &Keys) -> String {
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\npublic_url = \"http://127.0.0.1:{port}\"\n{server_extra}\n\
[upstream]\nurl = \"{upstream}\"\n{upstream_extra}\n\
[oidc]\nissuer = \"{issuer}\"\nclient_id = \"{cid}\"\nclient_secret = \"{cs}\"\n{oidc_extra}\n\
[session]\ncookie_keys = [\"{ck}\"]\n{session_extra}\n\
[assertion]\nsigning_key = \"file:{pem}\"\naudience = \"site1\"\n\n\
[access]\n{access}\n",
            port = self.port,
            server_extra = self.server_extra,
            upstream = self.upstream,
            upstream_extra = self.upstream_extra,
            issuer = self.issuer,
            cid = self.client_id,
            cs = self.client_secret,
            oidc_extra = self.oidc_extra,
            ck = keys.cookie_key,
            session_extra = self.session_extra,
            pem = keys.pem_path.display(),
            access = self.access,
        )
    }
}

/// A running octogate process.
pub struct Octogate {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub keys: Keys,
    log: Arc<Mutex<String>>,
}

impl Octogate {
    pub fn start(spec: &ConfigSpec) -> Octogate {
        let dir = tmpdir("og");
        let keys = keys(&dir);
        Self::start_with(spec, dir, keys)
    }

    pub fn start_with(spec: &ConfigSpec, dir: PathBuf, keys: Keys) -> Octogate {
        let text = spec.render(&keys);
        Self::spawn_text(spec.port, dir, keys, &text)
    }

    /// The one place a test starts the real binary: exactly `config_text` (written to
    /// `dir/site.toml`), listening on `port`; both output streams are collected for [`Self::log`].
    pub fn spawn_text(port: u16, dir: PathBuf, keys: Keys, config_text: &str) -> Octogate {
        let config_path = dir.join("site.toml");
        std::fs::write(&config_path, config_text).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_octogate"))
            .args(["run", "--config"])
            .arg(&config_path)
            .env("OCTOGATE_LOG", "info,octogate=debug")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn octogate");
        let log = Arc::new(Mutex::new(String::new()));
        let pipes: [Option<Box<dyn Read + Send>>; 2] = [
            child
                .stderr
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
            child
                .stdout
                .take()
                .map(|p| Box::new(p) as Box<dyn Read + Send>),
        ];
        for pipe in pipes.into_iter().flatten() {
            let log = log.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(pipe).lines().map_while(Result::ok) {
                    let mut l = log.lock().unwrap();
                    l.push_str(&line);
                    l.push('\n');
                }
            });
        }
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let og = Octogate {
            child,
            addr,
            dir,
            config_path,
            keys,
            log,
        };
        og.wait_healthy();
        og
    }

    pub fn wait_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if let Ok(r) = raw(
                self.addr,
                "GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            ) {
                if r.status == 200 {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("octogate did not become healthy; log:\n{}", self.log());
    }

    pub fn wait_ready(&self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if let Ok(r) = raw(
                self.addr,
                "GET /readyz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            ) {
                if r.status == 200 {
                    return true;
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        false
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    pub fn base(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident set size (VmHWM) in KiB.
    pub fn peak_rss_kib(&self) -> u64 {
        let s = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap_or_default();
        s.lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }

    pub fn signal(&self, sig: &str) {
        Command::new("kill")
            .args([&format!("-{sig}"), &self.pid().to_string()])
            .status()
            .unwrap();
    }
}

impl Drop for Octogate {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- octogate log ----\n{}", self.log());
        }
    }
}

/// A parsed raw HTTP response.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Sends raw bytes, reads one response (Content-Length, chunked, or until close).
pub fn raw(addr: SocketAddr, request: &str) -> std::io::Result<RawResponse> {
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
    s.set_read_timeout(Some(Duration::from_secs(30)))?;
    (&s).write_all(request.as_bytes())?;
    read_response(&mut BufReader::new(s))
}

pub fn read_response<R: BufRead>(r: &mut R) -> std::io::Result<RawResponse> {
    let mut line = String::new();
    if r.read_line(&mut line)? == 0 {
        return Err(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            "no response",
        ));
    }
    let status: u16 = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let headers = read_header_lines(r)?;
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _): &&(String, String)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.clone())
    };
    let mut body = Vec::new();
    if status == 101 || status == 304 || status == 204 {
    } else if let Some(n) = get("content-length").and_then(|v| v.parse::<u64>().ok()) {
        r.take(n).read_to_end(&mut body)?;
    } else if get("transfer-encoding").is_some_and(|v| v.eq_ignore_ascii_case("chunked")) {
        loop {
            let mut size = String::new();
            r.read_line(&mut size)?;
            let n = u64::from_str_radix(size.trim(), 16).unwrap_or(0);
            if n == 0 {
                let mut end = String::new();
                r.read_line(&mut end)?;
                break;
            }
            r.take(n).read_to_end(&mut body)?;
            let mut crlf = String::new();
            r.read_line(&mut crlf)?;
        }
    } else {
        let _ = r.read_to_end(&mut body);
    }
    Ok(RawResponse {
        status,
        headers,
        body,
    })
}

/// GET with extra header lines ("Name: value\r\n" each).
pub fn get(addr: SocketAddr, path: &str, extra_headers: &str) -> RawResponse {
    raw(
        addr,
        &format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\n{extra_headers}connection: close\r\n\r\n"),
    )
    .expect("request")
}

/// Minimal cookie jar over raw requests, for sign-in flows.
#[derive(Default, Clone)]
pub struct Jar {
    pub cookies: HashMap<String, String>,
}

impl Jar {
    pub fn absorb(&mut self, resp: &RawResponse) {
        for sc in resp.headers_named("set-cookie") {
            let first = sc.split(';').next().unwrap_or("");
            if let Some((k, v)) = first.split_once('=') {
                let expired = sc.to_ascii_lowercase().contains("max-age=0") || v.is_empty();
                if expired {
                    self.cookies.remove(k.trim());
                } else {
                    self.cookies
                        .insert(k.trim().to_string(), v.trim().to_string());
                }
            }
        }
    }
    pub fn header(&self) -> String {
        if self.cookies.is_empty() {
            return String::new();
        }
        let v: Vec<String> = self
            .cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!("cookie: {}\r\n", v.join("; "))
    }
}
