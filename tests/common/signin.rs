//! Helpers for the sign-in and session tests (`tests/signin.rs`): spawning octogate from an
//! arbitrary config text, crafting and opening session/login cookies with the test's own cookie
//! key, and driving the OP until (but not into) octogate's callback.
use std::path::PathBuf;
use std::time::Duration;

use octogate::session::{CookieCipher, LoginState, SessionData};

use super::op::{absolute, form_action, jar_get, jar_post, split_url};
use super::*;

/// Spawns octogate with exactly `config_text` (for configs [`ConfigSpec::render`] cannot express:
/// several cookie keys, an https public URL). `keys` are the keys the text refers to.
pub fn spawn_octogate(port: u16, dir: PathBuf, keys: Keys, config_text: &str) -> Octogate {
    Octogate::spawn_text(port, dir, keys, config_text)
}

/// The cipher octogate builds from one base64 cookie key for the site at `public_origin` signing
/// in with `issuer` and `client_id`.
pub fn cipher(key_b64: &str, public_origin: &str, issuer: &str, client_id: &str) -> CookieCipher {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .unwrap();
    let site = octogate::session::cookie_site(public_origin, issuer, client_id);
    CookieCipher::new(&[<[u8; 32]>::try_from(b.as_slice()).unwrap()], &site).unwrap()
}

/// A fresh random cookie key (base64), as `octogate keygen` prints.
pub fn new_cookie_key() -> String {
    octogate::assertion::generate_keys().cookie_key_b64
}

pub fn seal_session(cipher: &CookieCipher, cookie_name: &str, data: &SessionData) -> String {
    cipher.seal(cookie_name, &data.encode()).unwrap()
}

pub fn open_session(cipher: &CookieCipher, cookie_name: &str, value: &str) -> Option<SessionData> {
    cipher
        .open(cookie_name, value)
        .ok()
        .and_then(|p| SessionData::decode(&p).ok())
}

pub fn seal_login(cipher: &CookieCipher, cookie_name: &str, data: &LoginState) -> String {
    cipher.seal(cookie_name, &data.encode()).unwrap()
}

pub fn open_login(cipher: &CookieCipher, cookie_name: &str, value: &str) -> Option<LoginState> {
    cipher
        .open(cookie_name, value)
        .ok()
        .and_then(|p| LoginState::decode(&p).ok())
}

/// The session value in a jar: the single cookie `name` or its chunks `name_0`, `name_1`, … joined.
pub fn jar_session(jar: &Jar, name: &str) -> Option<String> {
    if let Some(v) = jar.cookies.get(name) {
        return Some(v.clone());
    }
    let mut out = String::new();
    let mut i = 0;
    while let Some(v) = jar.cookies.get(&format!("{name}_{i}")) {
        out.push_str(v);
        i += 1;
    }
    (i > 0).then_some(out)
}

/// Sleeps until the Unix clock reads at least `t`.
pub fn wait_until_unix(t: u64) {
    while octogate::app::unix_now() < t {
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Like `navigate`, but stops at the first redirect to octogate's `/oauth2/callback` and returns
/// that URL without requesting it. With `abort`, the OP's login/consent page is cancelled
/// (`/interaction/:uid/abort`), which makes the OP answer the callback with `access_denied`.
pub fn until_callback(
    jar: &mut Jar,
    url: &str,
    login: &str,
    password: &str,
    abort: bool,
) -> String {
    let mut url = url.to_string();
    for _ in 0..30 {
        if split_url(&url).1.starts_with("/oauth2/callback") {
            return url;
        }
        let r = jar_get(jar, &url, "");
        if (300..400).contains(&r.status) {
            url = absolute(
                &url,
                r.header("location").expect("redirect without location"),
            );
            continue;
        }
        let html = r.text();
        let is_login = html.contains("id=\"password\"");
        let is_consent = html.contains("id=\"consent\"");
        if r.status == 200 && abort && (is_login || is_consent) {
            let (_, path) = split_url(&url);
            url = absolute(&url, &format!("{}/abort", path.split('?').next().unwrap()));
            continue;
        }
        if r.status == 200 && is_login {
            let action = absolute(&url, &form_action(&html, "id=\"password\"").unwrap());
            let p = jar_post(jar, &action, &format!("login={login}&password={password}"));
            assert!(
                (300..400).contains(&p.status),
                "login POST answered {}: {}",
                p.status,
                p.text()
            );
            url = absolute(&action, p.header("location").unwrap());
            continue;
        }
        if r.status == 200 && is_consent {
            let action = absolute(&url, &form_action(&html, "id=\"consent\"").unwrap());
            let p = jar_post(jar, &action, "");
            assert!(
                (300..400).contains(&p.status),
                "consent POST answered {}",
                p.status
            );
            url = absolute(&action, p.header("location").unwrap());
            continue;
        }
        panic!(
            "never reached the callback; {url} answered {}: {}",
            r.status,
            r.text()
        );
    }
    panic!("too many redirects");
}

/// A request with any method, extra header lines and the jar's cookies (the jar is not updated).
pub fn request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    jar: Option<&Jar>,
    extra: &str,
) -> RawResponse {
    let cookies = jar.map(Jar::header).unwrap_or_default();
    let body_headers = if method == "POST" {
        "content-length: 0\r\n"
    } else {
        ""
    };
    raw(addr, &format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n{cookies}{extra}{body_headers}connection: close\r\n\r\n")).expect("request")
}

/// The `Set-Cookie` header of `resp` for cookie `name`, if any.
pub fn set_cookie<'a>(resp: &'a RawResponse, name: &str) -> Option<&'a str> {
    resp.headers_named("set-cookie")
        .into_iter()
        .find(|c| c.split('=').next() == Some(name))
}

/// Whether `resp` expires cookie `name`.
pub fn clears_cookie(resp: &RawResponse, name: &str) -> bool {
    set_cookie(resp, name).is_some_and(|c| c.to_ascii_lowercase().contains("max-age=0"))
}

/// Waits (up to 5 s) until octogate's log contains every one of `needles` (its output is read
/// by background threads, so the latest lines may arrive a moment after the response).
pub fn log_has(og: &Octogate, needles: &[&str]) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let log = og.log();
        if needles.iter().all(|n| log.contains(n)) {
            return true;
        }
        if std::time::Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
