//! Helpers for the access-control tests: raw request targets, signing in through the real OP,
//! reading the deny page, running `check-config`, and an nginx in front of octogate.
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::op::*;
use super::*;

/// Sends `METHOD TARGET HTTP/1.1` exactly as written (no normalisation on our side) with `host`
/// and extra header lines ("Name: value\r\n" each).
pub fn send_target(
    addr: SocketAddr,
    method: &str,
    target: &str,
    host: &str,
    extra: &str,
) -> RawResponse {
    raw(
        addr,
        &format!("{method} {target} HTTP/1.1\r\nhost: {host}\r\n{extra}connection: close\r\n\r\n"),
    )
    .unwrap_or_else(|e| panic!("{method} {target:?}: {e}"))
}

/// Headers a browser navigation carries.
pub const NAV: &str = "accept: text/html,application/xhtml+xml\r\n";

/// Signs `login` in through the real OP, starting at `base` + `start`; returns the jar with the
/// session cookie and the final response.
pub fn sign_in(base: &str, start: &str, login: &str) -> (Jar, RawResponse, String) {
    let mut jar = Jar::default();
    let (resp, url, _pages) = navigate(
        &mut jar,
        &format!("{base}{start}"),
        login,
        &format!("{login}-pw"),
    );
    (jar, resp, url)
}

/// `/oauth2/userinfo` with the jar's cookies, parsed.
pub fn userinfo(addr: SocketAddr, jar: &Jar) -> (u16, serde_json::Value) {
    let r = get(addr, "/oauth2/userinfo", &jar.header());
    let v = serde_json::from_slice(&r.body).unwrap_or(serde_json::Value::Null);
    (r.status, v)
}

/// The value of a query parameter of a URL (decoded).
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Line (1-based) of the first line of `text` containing `needle`, after skipping `skip` matches.
pub fn line_of(text: &str, needle: &str, skip: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.contains(needle))
        .nth(skip)
        .map(|(i, _)| i + 1)
        .unwrap_or_else(|| panic!("{needle:?} (#{skip}) not in config"))
}

/// Runs `octogate check-config FILE`; returns (exit code, stdout, stderr).
pub fn check_config(file: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_octogate"))
        .arg("check-config")
        .arg(file)
        .output()
        .expect("run check-config");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A running nginx (`daemon off`), killed on drop.
pub struct Nginx {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: PathBuf,
}

impl Nginx {
    /// Starts nginx with `conf` (a complete nginx.conf) from `dir`; waits until `addr` accepts.
    pub fn start(dir: PathBuf, conf: &str, addr: SocketAddr) -> Result<Nginx, String> {
        let path = dir.join("nginx.conf");
        std::fs::write(&path, conf).map_err(|e| e.to_string())?;
        let bin = ["/usr/sbin/nginx", "/usr/bin/nginx"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .ok_or("nginx not installed")?;
        let test = Command::new(bin)
            .arg("-t")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .output()
            .map_err(|e| e.to_string())?;
        if !test.status.success() {
            return Err(format!(
                "nginx -t failed: {}",
                String::from_utf8_lossy(&test.stderr)
            ));
        }
        let child = Command::new(bin)
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| e.to_string())?;
        let n = Nginx { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(addr).is_ok() {
                return Ok(n);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!(
            "nginx did not listen on {addr}; error log:\n{}",
            n.error_log()
        ))
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- nginx error log ----\n{}", self.error_log());
        }
    }
}

/// Turns the documented nginx example into a runnable config: the `server` blocks of `example`
/// with TLS and names replaced for loopback ports, wrapped in a minimal main context.
pub fn nginx_conf_from_example(
    example: &str,
    dir: &Path,
    listen: u16,
    octogate: SocketAddr,
    october: SocketAddr,
) -> String {
    let mut body = String::new();
    let mut skip_server = false;
    let mut depth = 0i32;
    let mut servers = 0;
    for line in example.lines() {
        let t = line.trim();
        // The second server block (port 80 → https redirect) is not used in the test.
        if depth == 0 && t.starts_with("server {") {
            servers += 1;
            skip_server = servers > 1;
        }
        depth += line.matches('{').count() as i32 - line.matches('}').count() as i32;
        if skip_server {
            continue;
        }
        let replaced = if t.starts_with("listen 443") {
            format!("    listen 127.0.0.1:{listen};")
        } else if t.starts_with("listen [::]:443") || t.starts_with("ssl_certificate") {
            continue;
        } else if t == "server 127.0.0.1:4180;" {
            format!("    server {octogate};")
        } else if t == "server 127.0.0.1:8080;" {
            format!("    server {october};")
        } else {
            line.to_string()
        };
        body.push_str(&replaced);
        body.push('\n');
    }
    let d = dir.display();
    format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nuser root;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
events {{ worker_connections 64; }}\n\
http {{\n  access_log {d}/access.log;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n  fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\n{body}\n}}\n"
    )
}

/// Starts octogate from `spec` but with `public_url` set to `public_url` (e.g. the nginx in front
/// of it), which `ConfigSpec` ties to the listen port.
pub fn start_octogate_behind(spec: &ConfigSpec, public_url: &str) -> Octogate {
    let dir = tmpdir("og-behind");
    let keys = keys(&dir);
    let own = format!("public_url = \"http://127.0.0.1:{}\"", spec.port);
    let text = spec.render(&keys);
    assert!(text.contains(&own));
    let text = text.replacen(&own, &format!("public_url = \"{public_url}\""), 1);
    Octogate::spawn_text(spec.port, dir, keys, &text)
}

/// Sends a raw request from the local address `from` (e.g. 127.0.0.2, which is loopback but not
/// in `trusted_proxies = ["127.0.0.1/32"]`).
pub fn raw_from(from: std::net::IpAddr, addr: SocketAddr, request: &str) -> RawResponse {
    let std_stream = connect_from(from, addr);
    use std::io::Write;
    (&std_stream).write_all(request.as_bytes()).unwrap();
    read_response(&mut std::io::BufReader::new(std_stream)).unwrap()
}

/// A blocking connection to `addr` from the local address `from` (30 s read timeout).
pub fn connect_from(from: std::net::IpAddr, addr: SocketAddr) -> std::net::TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let std_stream = rt.block_on(async {
        let sock = tokio::net::TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::new(from, 0)).unwrap();
        sock.connect(addr).await.unwrap().into_std().unwrap()
    });
    std_stream.set_nonblocking(false).unwrap();
    std_stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    std_stream
}
