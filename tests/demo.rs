//! `octogate demo` through the real binary: a scripted sign-in through the built-in development
//! IdP as each demo user, the demo backend's view of the identity assertion, sign-out, the
//! loopback-only rule, Ctrl-C, and `--print-config` passing `check-config`.
mod common;

use std::io::{BufRead, BufReader, Read};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use common::op::{jar_get, jar_post, split_url};
use common::*;

fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_octogate")
}

/// A running `octogate demo` on ephemeral ports.
struct Demo {
    child: Child,
    octogate: String,
    idp: String,
    upstream: String,
    log: Arc<Mutex<String>>,
}

impl Demo {
    fn start() -> Demo {
        let mut child = Command::new(bin())
            .args([
                "demo",
                "--listen",
                "127.0.0.1:0",
                "--idp-port",
                "0",
                "--upstream-port",
                "0",
            ])
            .env("OCTOGATE_LOG", "info,octogate=debug")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn octogate demo");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel::<String>();
        let stdout = child.stdout.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if line.starts_with("demo ready:") {
                    let _ = tx.send(line.clone());
                }
                let mut g = l.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        let stderr = child.stderr.take().unwrap();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let mut g = l.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        let line = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(l) => l,
            Err(_) => {
                let _ = child.kill();
                panic!("no `demo ready:` line; log:\n{}", log.lock().unwrap());
            }
        };
        let value = |name: &str| -> String {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(&format!("{name}=")))
                .unwrap_or_else(|| panic!("{name}= missing in {line:?}"))
                .to_string()
        };
        let demo = Demo {
            octogate: value("octogate"),
            idp: value("idp"),
            upstream: value("upstream"),
            child,
            log,
        };
        demo.wait_ready();
        demo
    }

    fn wait_ready(&self) {
        let (addr, _) = split_url(&self.octogate);
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if get(addr, "/readyz", "").status == 200 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("octogate never became ready; log:\n{}", self.log());
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("---- demo log ----\n{}", self.log());
        }
    }
}

fn absolute(current: &str, loc: &str) -> String {
    if loc.starts_with("http://") {
        loc.to_string()
    } else {
        let (addr, _) = split_url(current);
        format!("http://{addr}{loc}")
    }
}

/// Follows redirects from `url` (GET) until a non-redirect answer; returns it and its URL.
fn follow(jar: &mut Jar, url: &str) -> (RawResponse, String) {
    let mut url = url.to_string();
    for _ in 0..20 {
        let r = jar_get(jar, &url, "");
        if (300..400).contains(&r.status) {
            url = absolute(
                &url,
                r.header("location").expect("redirect without location"),
            );
            continue;
        }
        return (r, url);
    }
    panic!("too many redirects from {url}");
}

/// The hidden `request` id on the IdP's login page.
fn request_id(html: &str) -> String {
    let i = html.find("name=\"request\" value=\"").expect("login form")
        + "name=\"request\" value=\"".len();
    let j = html[i..].find('"').unwrap() + i;
    html[i..j].to_string()
}

/// Browser-like sign-in as `login`: open /backend, land on the IdP's user picker, pick the user,
/// follow the redirects back. Returns the final page and its URL.
fn sign_in(demo: &Demo, jar: &mut Jar, login: &str) -> (RawResponse, String) {
    let (page, url) = follow(jar, &format!("{}/backend", demo.octogate));
    assert_eq!(page.status, 200, "{url}: {}", page.text());
    assert!(
        url.starts_with(&format!("{}/authorize?", demo.idp)),
        "expected the IdP login page, got {url}"
    );
    let html = page.text();
    assert!(html.contains("id=\"demo-idp-login\""), "{html}");
    assert!(
        html.contains("Development only"),
        "every page says development only"
    );
    let csp = page.header("content-security-policy").unwrap();
    assert!(
        csp.contains(&format!("form-action 'self' {}", demo.octogate)),
        "{csp}"
    );
    let form = format!("request={}&user={login}", request_id(&html));
    let r = jar_post(jar, &format!("{}/login", demo.idp), &form);
    assert_eq!(r.status, 302, "{}", r.text());
    let back = r.header("location").unwrap().to_string();
    assert!(
        back.starts_with(&format!("{}/oauth2/callback?code=", demo.octogate)),
        "{back}"
    );
    follow(jar, &back)
}

fn cell(html: &str, id: &str) -> String {
    let marker = format!("<td id=\"{id}\">");
    let i = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id} cell in {html}"))
        + marker.len();
    let j = html[i..].find("</td>").unwrap() + i;
    html[i..j].to_string()
}

#[test]
fn each_demo_user_signs_in_through_the_demo_idp() {
    let demo = Demo::start();

    // The public home page: forwarded without sign-in and without identity.
    let mut jar = Jar::default();
    let (home, _) = follow(&mut jar, &format!("{}/", demo.octogate));
    assert_eq!(home.status, 200);
    assert!(home.text().contains("id=\"demo-home\""), "{}", home.text());
    assert!(home.text().contains("no assertion arrived"));
    assert!(home.text().contains("Development only"));

    // admin: developer, superuser.
    let mut admin = Jar::default();
    let (page, url) = sign_in(&demo, &mut admin, "admin");
    assert_eq!(page.status, 200, "{url}: {}", page.text());
    assert_eq!(url, format!("{}/backend", demo.octogate));
    let html = page.text();
    assert!(html.contains("id=\"demo-backend\""), "{html}");
    assert_eq!(cell(&html, "role"), "developer");
    assert_eq!(cell(&html, "superuser"), "yes");
    assert_eq!(cell(&html, "sub"), "demo-admin");
    assert_eq!(cell(&html, "email"), "admin@demo.example.com");
    assert_eq!(cell(&html, "groups"), "cms-admins");
    assert!(html.contains("href=\"/oauth2/sign_out\""));
    assert!(html.contains("Development only"));

    // editor: editor, not superuser.
    let mut editor = Jar::default();
    let (page, url) = sign_in(&demo, &mut editor, "editor");
    assert_eq!(page.status, 200, "{url}: {}", page.text());
    let html = page.text();
    assert_eq!(cell(&html, "role"), "editor");
    assert_eq!(cell(&html, "superuser"), "no");
    assert_eq!(cell(&html, "groups"), "cms-editors");

    // nobody: octogate's deny page; the backend is never reached.
    let mut nobody = Jar::default();
    let (page, url) = sign_in(&demo, &mut nobody, "nobody");
    assert_eq!(page.status, 403, "{url}: {}", page.text());
    assert!(
        page.text().contains("id=\"octogate-denied\""),
        "{}",
        page.text()
    );
    assert!(!page.text().contains("demo-backend"));

    // Sign-out: through the IdP's end-session endpoint and back to the site; the session is gone.
    let (addr, _) = split_url(&demo.octogate);
    let r = jar_get(
        &mut admin,
        &format!("{}/oauth2/sign_out", demo.octogate),
        "",
    );
    assert_eq!(r.status, 302);
    let to_idp = r.header("location").unwrap().to_string();
    assert!(
        to_idp.starts_with(&format!("{}/logout?", demo.idp)),
        "{to_idp}"
    );
    let r = jar_get(&mut admin, &to_idp, "");
    assert_eq!(r.status, 302, "{}", r.text());
    assert!(
        r.header("location")
            .unwrap()
            .starts_with(&format!("{}/?state=", demo.octogate)),
        "{:?}",
        r.header("location")
    );
    assert!(
        !admin.cookies.contains_key("octogate"),
        "session cookie cleared"
    );
    let again = get(
        addr,
        "/backend",
        &format!("accept: text/html\r\n{}", admin.header()),
    );
    assert_eq!(again.status, 302, "signed out: sign-in again");

    // The built-in upstream itself refuses a request without an assertion.
    let (up, _) = split_url(&demo.upstream);
    let direct = get(up, "/backend", "");
    assert_eq!(direct.status, 401);
    assert!(direct.text().contains("id=\"demo-no-identity\""));
    let forged = get(up, "/backend", "x-octogate-assertion: a.b.c\r\n");
    assert_eq!(forged.status, 401);
    assert!(forged.text().contains("id=\"demo-bad-assertion\""));
}

#[test]
fn the_demo_idp_checks_clients_and_pkce() {
    let demo = Demo::start();
    let (idp, _) = split_url(&demo.idp);
    let disco = get(idp, "/.well-known/openid-configuration", "");
    assert_eq!(disco.status, 200);
    let doc: serde_json::Value = serde_json::from_slice(&disco.body).unwrap();
    assert_eq!(doc["issuer"], demo.idp.as_str());
    assert_eq!(
        doc["code_challenge_methods_supported"],
        serde_json::json!(["S256"])
    );
    let jwks: serde_json::Value = serde_json::from_slice(&get(idp, "/jwks", "").body).unwrap();
    assert_eq!(jwks["keys"][0]["kty"], "RSA");

    let redirect = format!("{}/oauth2/callback", demo.octogate);
    let enc = |s: &str| -> String { url::form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    // Without PKCE: an error back to the client.
    let r = get(idp, &format!("/authorize?response_type=code&client_id=octogate-demo&redirect_uri={}&scope=openid&state=s1", enc(&redirect)), "");
    assert_eq!(r.status, 302);
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with(&redirect)
            && loc.contains("error=invalid_request")
            && loc.contains("state=s1"),
        "{loc}"
    );
    // A foreign redirect_uri: never redirected.
    let r = get(idp, "/authorize?response_type=code&client_id=octogate-demo&redirect_uri=http%3A%2F%2Fevil.example%2Fcb&scope=openid", "");
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    assert!(r.text().contains("Development only"));
    // Token endpoint: a wrong client secret is invalid_client; a made-up code is invalid_grant
    // only once the client is authenticated, which this test cannot do (the secret is per run).
    let body = "grant_type=authorization_code&code=nope&redirect_uri=x&code_verifier=y";
    let r = raw(idp, &format!("POST /token HTTP/1.1\r\nhost: x\r\nauthorization: Basic b2N0b2dhdGUtZGVtbzp3cm9uZw==\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", body.len())).unwrap();
    assert_eq!(r.status, 401);
    assert!(r.text().contains("invalid_client"));
    // Userinfo without a valid token.
    assert_eq!(
        get(idp, "/userinfo", "authorization: Bearer nope\r\n").status,
        401
    );
}

#[test]
fn the_demo_refuses_non_loopback_addresses() {
    for args in [
        vec![
            "demo",
            "--idp-listen",
            "0.0.0.0:0",
            "--listen",
            "127.0.0.1:0",
            "--upstream-port",
            "0",
        ],
        vec![
            "demo",
            "--listen",
            "0.0.0.0:0",
            "--idp-port",
            "0",
            "--upstream-port",
            "0",
        ],
    ] {
        let out = Command::new(bin())
            .args(&args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!out.status.success(), "{args:?} must fail");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains("refusing to listen on 0.0.0.0:0") && err.contains("loopback"),
            "{args:?}: {err}"
        );
        assert!(!String::from_utf8_lossy(&out.stdout).contains("demo ready"));
    }
}

#[test]
fn ctrl_c_stops_the_demo() {
    let mut demo = Demo::start();
    let (idp, _) = split_url(&demo.idp);
    let (og, _) = split_url(&demo.octogate);
    Command::new("kill")
        .args(["-INT", &demo.child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = demo.child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "demo did not stop on SIGINT");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    assert!(
        std::net::TcpStream::connect_timeout(&idp, Duration::from_secs(1)).is_err(),
        "IdP stopped"
    );
    assert!(
        std::net::TcpStream::connect_timeout(&og, Duration::from_secs(1)).is_err(),
        "octogate stopped"
    );
}

#[test]
fn print_config_passes_check_config() {
    let out = Command::new(bin())
        .args(["demo", "--print-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("DEVELOPMENT ONLY"));
    assert!(text.contains("issuer = \"http://127.0.0.1:4181\""));
    assert!(text.contains("url = \"http://127.0.0.1:4182\""));
    let dir = tmpdir("demo-config");
    let path = dir.join("demo.toml");
    std::fs::write(&path, &text).unwrap();
    let check = Command::new(bin())
        .arg("check-config")
        .arg(&path)
        .output()
        .unwrap();
    let mut stderr = String::new();
    let _ = (&check.stderr[..]).read_to_string(&mut stderr);
    assert!(check.status.success(), "check-config failed: {stderr}");
    assert!(String::from_utf8_lossy(&check.stdout).contains("OK:"));
    // Fresh keys every time.
    let again = Command::new(bin())
        .args(["demo", "--print-config"])
        .output()
        .unwrap();
    assert_ne!(String::from_utf8(again.stdout).unwrap(), text);
}
