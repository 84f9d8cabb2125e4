//! The test OpenID Provider (npm `oidc-provider`, `tests/js/op/server.mjs`) and a scripted
//! sign-in through its login and consent pages with a cookie-keeping raw HTTP client.
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use super::*;

/// A running OP.
pub struct Op {
    pub child: Child,
    pub issuer: String,
    pub addr: SocketAddr,
}

/// One user at the OP.
pub struct User {
    pub id: &'static str,
    pub login: &'static str,
    pub password: &'static str,
    pub email: &'static str,
    pub groups: Vec<&'static str>,
}

impl User {
    pub fn new(id: &'static str, login: &'static str, groups: &[&'static str]) -> User {
        let email: &'static str = Box::leak(format!("{login}@example.com").into_boxed_str());
        let password: &'static str = Box::leak(format!("{login}-pw").into_boxed_str());
        User {
            id,
            login,
            password,
            email,
            groups: groups.to_vec(),
        }
    }
}

impl Op {
    /// Starts the OP with one client per `(client_id, secret, octogate base URL)`.
    pub fn start(clients: &[(&str, &str, &str)], users: &[User]) -> Op {
        Self::start_with(clients, users, serde_json::json!({}))
    }

    pub fn start_with(
        clients: &[(&str, &str, &str)],
        users: &[User],
        extra: serde_json::Value,
    ) -> Op {
        let dir = tmpdir("op");
        let mut cfg = serde_json::json!({
            "port": 0,
            "host": "127.0.0.1",
            "clients": clients.iter().map(|(id, secret, base)| serde_json::json!({
                "client_id": id, "client_secret": secret,
                "redirect_uris": [format!("{base}/oauth2/callback")],
                "post_logout_redirect_uris": [format!("{base}/")],
            })).collect::<Vec<_>>(),
            "users": users.iter().map(|u| serde_json::json!({
                "id": u.id, "login": u.login, "password": u.password, "email": u.email,
                "email_verified": true, "name": format!("{} Example", u.login), "preferred_username": u.login,
                "groups": u.groups,
            })).collect::<Vec<_>>(),
        });
        if let (Some(c), Some(e)) = (cfg.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        let path = dir.join("op.json");
        std::fs::write(&path, cfg.to_string()).unwrap();
        let script = repo().join("tests/js/op/server.mjs");
        assert!(
            repo().join("tests/js/node_modules/oidc-provider").exists(),
            "oidc-provider is not installed: run `npm ci --prefix tests/js` (CI does)"
        );
        let mut child = Command::new("node")
            .arg(&script)
            .arg("--config")
            .arg(&path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("node must be installed to run the test OpenID Provider");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let ready: serde_json::Value = serde_json::from_str(line.trim())
            .unwrap_or_else(|e| panic!("bad OP ready line {line:?}: {e}"));
        let issuer = ready["issuer"].as_str().unwrap().to_string();
        let addr = issuer.trim_start_matches("http://").parse().unwrap();
        Op {
            child,
            issuer,
            addr,
        }
    }

    fn admin(&self, method: &str, path: &str, body: &str) -> RawResponse {
        raw(self.addr, &format!("{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}", self.addr, body.len())).unwrap()
    }

    pub fn set_groups(&self, user: &str, groups: &[&str]) {
        let r = self.admin(
            "POST",
            &format!("/__admin/users/{user}/groups"),
            &serde_json::json!({ "groups": groups }).to_string(),
        );
        assert_eq!(r.status, 200, "{}", r.text());
    }
    pub fn disable(&self, user: &str) {
        assert_eq!(
            self.admin("POST", &format!("/__admin/users/{user}/disable"), "{}")
                .status,
            200
        );
    }
    pub fn rotate_keys(&self) {
        assert_eq!(self.admin("POST", "/__admin/rotate-keys", "{}").status, 200);
    }
    pub fn down(&self) {
        assert_eq!(self.admin("POST", "/__admin/down", "{}").status, 200);
    }
    pub fn up(&self) {
        assert_eq!(self.admin("POST", "/__admin/up", "{}").status, 200);
    }
    pub fn stats(&self) -> serde_json::Value {
        serde_json::from_slice(&self.admin("GET", "/__admin/stats", "").body).unwrap()
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Splits an absolute http URL into (addr, path-and-query).
pub fn split_url(url: &str) -> (SocketAddr, String) {
    let rest = url.strip_prefix("http://").expect("http URL");
    let (auth, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    (auth.parse().expect("IP:port authority"), path)
}

/// A GET through the jar (cookies ignore ports, as browsers do).
pub fn jar_get(jar: &mut Jar, url: &str, extra: &str) -> RawResponse {
    let (addr, path) = split_url(url);
    let r = raw(addr, &format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/html\r\n{}{extra}connection: close\r\n\r\n", jar.header())).unwrap();
    jar.absorb(&r);
    r
}

pub fn jar_post(jar: &mut Jar, url: &str, form: &str) -> RawResponse {
    let (addr, path) = split_url(url);
    let r = raw(addr, &format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/html\r\ncontent-type: application/x-www-form-urlencoded\r\ncontent-length: {}\r\n{}connection: close\r\n\r\n{form}", form.len(), jar.header())).unwrap();
    jar.absorb(&r);
    r
}

/// `loc` made absolute against `base`'s authority.
pub fn absolute(base: &str, loc: &str) -> String {
    if loc.starts_with("http://") || loc.starts_with("https://") {
        loc.to_string()
    } else {
        let (addr, _) = split_url(base);
        format!("http://{addr}{loc}")
    }
}

/// The `action` of the form that contains `marker`.
pub fn form_action(html: &str, marker: &str) -> Option<String> {
    let i = html.find(marker)?;
    let start = html[..i].rfind("<form")?;
    let a = html[start..].find("action=\"")? + start + 8;
    let b = html[a..].find('"')? + a;
    Some(html[a..b].replace("&amp;", "&"))
}

/// Follows a browser-like navigation from `url` through the OP's pages (logging in as
/// `login`/`password` when asked, granting consent) until a response that is not a redirect to
/// the OP or to octogate's `/oauth2/` endpoints. Returns the final response, the URL it came from,
/// and which OP pages were shown.
pub fn navigate(
    jar: &mut Jar,
    url: &str,
    login: &str,
    password: &str,
) -> (RawResponse, String, Vec<&'static str>) {
    let mut url = url.to_string();
    let mut pages = Vec::new();
    for _ in 0..30 {
        let r = jar_get(jar, &url, "");
        if (300..400).contains(&r.status) {
            let loc = r
                .header("location")
                .expect("redirect without location")
                .to_string();
            url = absolute(&url, &loc);
            continue;
        }
        let html = r.text();
        if r.status == 200 && html.contains("id=\"password\"") {
            pages.push("login");
            let action = absolute(&url, &form_action(&html, "id=\"password\"").unwrap());
            let form = format!("login={login}&password={password}");
            let p = jar_post(jar, &action, &form);
            assert!(
                (300..400).contains(&p.status),
                "login POST answered {}: {}",
                p.status,
                p.text()
            );
            url = absolute(&action, p.header("location").unwrap());
            continue;
        }
        if r.status == 200 && html.contains("id=\"consent\"") {
            pages.push("consent");
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
        return (r, url, pages);
    }
    panic!("too many redirects");
}
