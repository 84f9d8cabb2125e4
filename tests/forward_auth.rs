//! Forward-auth: the documented nginx example (`deploy/nginx/octogate-auth-request.conf`) run for
//! real in front of the recording upstream, with octogate answering `auth_request /oauth2/auth`,
//! and `/oauth2/auth` itself.
mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::access::*;
use common::op::*;
use common::*;

const ACCESS: &str = "protect = [\"/backend\"]\npublic = [\"/backend/assets\"]\nallowed_groups = [\"admins\"]\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\n";

const SPOOF: &str = "X-Forwarded-User: mallory\r\nX-Forwarded-Email: mallory@evil.example\r\nX-Forwarded-Groups: admins\r\nX-Forwarded-Preferred-Username: mallory\r\nX-Octogate-Assertion: forged\r\nX-Original-URI: /backend/assets/x.css\r\n";

const IDENTITY: &[&str] = &[
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-octogate-assertion",
];

struct Stack {
    up: Upstream,
    _op: Op,
    og: Octogate,
    nginx: Nginx,
    base: String,
}

fn stack() -> Stack {
    let up = Upstream::start();
    let nginx_port = free_port();
    let base = format!("http://127.0.0.1:{nginx_port}");
    let op = Op::start(
        &[("octogate-test", "test-secret", &base)],
        &[
            User::new("u-bob", "bob", &["admins", "unrelated"]),
            User::new("u-carol", "carol", &["staff"]),
        ],
    );
    let mut spec = ConfigSpec::new(&up.url());
    spec.issuer = op.issuer.clone();
    spec.access = ACCESS.into();
    spec.server_extra = "trusted_proxies = [\"127.0.0.1/32\"]\n".into();
    let og = start_octogate_behind(&spec, &base);
    assert!(
        og.wait_ready(Duration::from_secs(15)),
        "octogate not ready:\n{}",
        og.log()
    );
    let example =
        std::fs::read_to_string(repo().join("deploy/nginx/octogate-auth-request.conf")).unwrap();
    let dir = tmpdir("nginx");
    let conf = nginx_conf_from_example(&example, &dir, nginx_port, og.addr, up.addr);
    let nginx = Nginx::start(
        dir,
        &conf,
        format!("127.0.0.1:{nginx_port}").parse().unwrap(),
    )
    .unwrap_or_else(|e| panic!("nginx could not run here: {e}\n--- config ---\n{conf}"));
    Stack {
        up,
        _op: op,
        og,
        nginx,
        base,
    }
}

/// Whether October (Laravel behind its own web server) would route this raw target to the
/// backend: it percent-decodes the raw path once, strips the front controller (`/index.php`) as
/// Symfony's base URL, does not resolve dot segments, and matches `backend/{slug?}`. Slashes are
/// collapsed and the front controller matched case-insensitively to err on the safe side.
fn october_routes_to_backend(target: &str) -> bool {
    let path = target.split('?').next().unwrap_or("");
    let path = path
        .strip_prefix("http://")
        .map(|r| &r[r.find('/').unwrap_or(r.len())..])
        .unwrap_or(path);
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8_lossy()
        .into_owned();
    let mut collapsed = String::new();
    for c in decoded.chars() {
        if !(c == '/' && collapsed.ends_with('/')) {
            collapsed.push(c);
        }
    }
    let rest = if collapsed.to_ascii_lowercase().starts_with("/index.php") {
        &collapsed["/index.php".len()..]
    } else {
        &collapsed[..]
    };
    rest == "/backend" || rest.starts_with("/backend/")
}

#[test]
fn nginx_auth_request_example_end_to_end() {
    let s = stack();
    let host = s.nginx.addr.to_string();

    // --- no session: nginx turns octogate's 401 into the sign-in redirect; nothing reaches October.
    for extra in [
        NAV.to_string(),
        "x-requested-with: XMLHttpRequest\r\n".to_string(),
        format!("{NAV}{SPOOF}"),
    ] {
        let before = s.up.count();
        let r = send_target(s.nginx.addr, "GET", "/backend/cms", &host, &extra);
        assert_eq!(r.status, 302, "{extra:?}: {}", r.text());
        assert_eq!(
            r.header("location")
                .map(|l| l.ends_with("/oauth2/start?rd=/backend/cms")),
            Some(true),
            "{:?}",
            r.header("location")
        );
        assert_eq!(s.up.count(), before, "reached October without a session");
    }

    // --- hostile spellings through nginx: none may reach October's backend without a session.
    let targets = [
        "/backend",
        "/backend/",
        "//backend",
        "/Backend",
        "/BACKEND/users",
        "/./backend",
        "/x/../backend",
        "/%62ackend",
        "/%62%61ckend/x",
        "/backend;x",
        "/backend%00",
        "/backend/..%2f",
        "/backend%2fx",
        "/back%5cend",
        "/%2e%2e/backend",
        "/x/%2e%2e/backend",
        "/x/.%2e/backend",
        "/backend%3bx",
        "/backend/./",
        "/backend?x",
        "/index.php/backend",
        "/index.php/backend/users",
        "/backend%252f",
        "/backend/x/..;/y",
        "/%2Fbackend",
        "/backend/%2e/",
        "/./././backend",
        "//./backend",
        "/backend%09",
        "/backend%20",
        "/INDEX.PHP/backend",
        "/index.php//backend",
        "/index%2ephp/backend",
        "/index.php/x/../backend",
        "/backend/../x",
        "/backend/%2e%2e/x",
        "/backend/.%2e/x",
        "/backend%2f..%2fx",
        "/backend%2F..%2Fx",
        "/backend/assets/../users",
        "/backend/assets/%2e%2e/users",
        "/backend/assets/..%2fusers",
        "/backend/assets%2f..%2fusers",
        "/backend/assets/..;/users",
        "/x/..%2fbackend",
        "/backend/x/..",
    ];
    let mut failures = Vec::new();
    for t in targets {
        for extra in [NAV, SPOOF] {
            let before = s.up.count();
            let r = send_target(s.nginx.addr, "GET", t, &host, extra);
            for seen in s.up.all().into_iter().skip(before) {
                if october_routes_to_backend(&seen.target) {
                    failures.push(format!(
                        "{t:?}: October received {:?} without a session (nginx answered {})",
                        seen.target, r.status
                    ));
                }
                let leaked: Vec<_> = IDENTITY
                    .iter()
                    .filter(|h| seen.header(h).is_some())
                    .collect();
                if !leaked.is_empty() {
                    failures.push(format!(
                        "{t:?}: identity headers reached October on {:?}: {leaked:?}",
                        seen.target
                    ));
                }
            }
        }
    }
    let abs = format!("http://127.0.0.1:{}/backend", s.nginx.addr.port());
    let before = s.up.count();
    let r = send_target(s.nginx.addr, "GET", &abs, &host, NAV);
    if s.up.count() != before {
        failures.push(format!(
            "absolute-form {abs}: reached October ({})",
            r.status
        ));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // --- the public exception: reachable without a session, never with identity headers.
    let before = s.up.count();
    let r = send_target(s.nginx.addr, "GET", "/backend/assets/app.css", &host, SPOOF);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.up.count(), before + 1);
    let seen = s.up.last().unwrap();
    assert_eq!(seen.target, "/backend/assets/app.css");
    for h in IDENTITY {
        assert!(
            seen.header(h).is_none(),
            "{h} reached October on a public asset: {:?}",
            seen.headers
        );
    }

    // --- sign in through nginx: October gets the identity set via auth_request_set.
    let (jar, resp, url) = sign_in(&s.base, "/backend/cms", "bob");
    assert_eq!(resp.status, 200, "{url}: {}", resp.text());
    assert_eq!(url, format!("{}/backend/cms", s.base));
    let cookie = jar.header();
    let before = s.up.count();
    let r = send_target(
        s.nginx.addr,
        "GET",
        "/backend/cms?x=1",
        &host,
        &format!("{NAV}{SPOOF}{cookie}"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(s.up.count(), before + 1);
    let seen = s.up.last().unwrap();
    assert_eq!(seen.target, "/backend/cms?x=1");
    assert_eq!(seen.header("x-forwarded-user"), Some("u-bob"));
    assert_eq!(seen.header("x-forwarded-email"), Some("bob@example.com"));
    assert_eq!(seen.header("x-forwarded-groups"), Some("admins"));
    assert_eq!(seen.header("x-forwarded-preferred-username"), Some("bob"));
    let token = seen
        .header("x-octogate-assertion")
        .expect("assertion via auth_request_set");
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD
        .decode(&s.og.keys.public_b64)
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&<[u8; 32]>::try_from(b.as_slice()).unwrap())
        .unwrap();
    let claims = octogate::assertion::Verifier::new(&[key], s.base.clone(), "site1".into(), 30)
        .verify(token, octogate::app::unix_now())
        .expect("assertion verifies");
    assert_eq!(
        (claims.sub.as_str(), claims.role.as_str()),
        ("u-bob", "developer")
    );
    // The public site gets no identity even for a signed-in user.
    let r = send_target(
        s.nginx.addr,
        "GET",
        "/blog",
        &host,
        &format!("{SPOOF}{cookie}"),
    );
    assert_eq!(r.status, 200);
    let seen = s.up.last().unwrap();
    for h in IDENTITY {
        assert!(
            seen.header(h).is_none(),
            "{h} reached October on the public site"
        );
    }

    // --- signed in but not allowed: 403 from nginx, nothing reaches October.
    let before = s.up.count();
    let (_jar, resp, url) = sign_in(&s.base, "/backend", "carol");
    assert_eq!(resp.status, 403, "{url}: {}", resp.text());
    assert_eq!(s.up.count(), before, "a denied user reached October");
}

#[test]
fn oauth2_auth_answers_and_believes_x_original_uri_only_from_trusted_proxies() {
    let s = stack();
    let (bob, resp, _) = sign_in(&s.base, "/backend", "bob");
    assert_eq!(resp.status, 200);
    let (carol, resp, _) = sign_in(&s.base, "/backend", "carol");
    assert_eq!(resp.status, 403);
    let trusted = IpAddr::V4(Ipv4Addr::LOCALHOST);
    let untrusted = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let ask = |from: IpAddr, extra: &str| {
        raw_from(
            from,
            s.og.addr,
            &format!("GET /oauth2/auth HTTP/1.1\r\nhost: x\r\n{extra}connection: close\r\n\r\n"),
        )
    };

    for from in [trusted, untrusted] {
        // No session: 401 (never a redirect: the proxy decides what to show).
        let r = ask(from, "X-Original-URI: /backend/cms\r\n");
        assert_eq!(r.status, 401, "{from}");
        assert!(r.header("location").is_none());
        // Allowed: 202 with every identity header, for the trusted proxy only (anyone else,
        // e.g. a script in the browser, learns the status but never gets the assertion).
        let spoof = SPOOF.replace("X-Original-URI: /backend/assets/x.css\r\n", "");
        let r = ask(
            from,
            &format!("X-Original-URI: /backend/cms\r\n{spoof}{}", bob.header()),
        );
        assert_eq!(r.status, 202, "{from}: {}", r.text());
        if from == trusted {
            assert_eq!(r.header("x-forwarded-user"), Some("u-bob"));
            assert_eq!(r.header("x-forwarded-groups"), Some("admins"));
            assert!(r
                .header("x-octogate-assertion")
                .is_some_and(|a| a != "forged"));
        } else {
            for h in IDENTITY {
                assert!(r.header(h).is_none(), "{h} given to an untrusted peer");
            }
        }
        // Signed in, not allowed: 403.
        let r = ask(
            from,
            &format!("X-Original-URI: /backend/cms\r\n{}", carol.header()),
        );
        assert_eq!(r.status, 403, "{from}");
        assert!(
            r.header("x-forwarded-user").is_none() && r.header("x-octogate-assertion").is_none()
        );
        // Forged identity headers alone are no session.
        let r = ask(
            from,
            &format!(
                "X-Original-URI: /backend/cms\r\n{}",
                SPOOF.replace("X-Original-URI: /backend/assets/x.css\r\n", "")
            ),
        );
        assert_eq!(r.status, 401, "{from}");
    }

    // Traefik and Caddy set X-Forwarded-Uri and pass the client's X-Original-URI along (nginx the
    // reverse): two URIs that disagree, or one given twice, mean a client added one. Refused,
    // even with a session, rather than guessing which one the proxy set.
    for extra in [
        "X-Forwarded-Uri: /backend/cms\r\nX-Original-URI: /backend/assets/x.css\r\n",
        "X-Original-URI: /backend/cms\r\nX-Forwarded-Uri: /backend/assets/x.css\r\n",
        "X-Original-URI: /backend/cms\r\nX-Original-URI: /backend/assets/x.css\r\n",
        "X-Forwarded-Uri: /backend/assets/x.css\r\nX-Forwarded-Uri: /backend/cms\r\n",
    ] {
        let r = ask(trusted, extra);
        assert_eq!(r.status, 401, "{extra:?}: {}", r.text());
        let r = ask(trusted, &format!("{extra}{}", bob.header()));
        assert_eq!(r.status, 401, "{extra:?} with a session: {}", r.text());
        assert!(r.header("x-octogate-assertion").is_none());
    }
    // The same URI in both is fine.
    let r = ask(
        trusted,
        &format!(
            "X-Original-URI: /backend/cms\r\nX-Forwarded-Uri: /backend/cms\r\n{}",
            bob.header()
        ),
    );
    assert_eq!(r.status, 202, "{}", r.text());

    // The original URI decides about the public exception, but only from a trusted proxy, and only
    // in canonical form (the proxy forwards it raw; the upstream does not resolve dot segments).
    for header in ["X-Original-URI", "X-Forwarded-Uri"] {
        let r = ask(
            trusted,
            &format!("{header}: /backend/assets/app.css?v=1\r\n"),
        );
        assert_eq!(r.status, 202, "{header} from a trusted proxy: {}", r.text());
        for h in IDENTITY {
            assert!(r.header(h).is_none(), "{h} on a public answer");
        }
        let r = ask(untrusted, &format!("{header}: /backend/assets/app.css\r\n"));
        assert_eq!(r.status, 401, "{header} believed from an untrusted peer");
        for bad in [
            "/backend/assets/../users",
            "/backend/assets/%2e%2e/users",
            "/backend/assets/./../users",
            "/backend/assets//../users",
            "/backend/assets/..;/users",
            "/backend/assets%2f..%2fusers",
            "/backend/x/../assets/app.css",
            "/backend/assets/%41.css",
            "/backend/assetsX",
            "/backend/users?/backend/assets",
            "backend/assets/x",
            "",
        ] {
            let r = ask(trusted, &format!("{header}: {bad}\r\n"));
            assert_eq!(r.status, 401, "{header}: {bad:?}: {}", r.text());
        }
    }

    // Through nginx, /oauth2/auth is internal: a client cannot call it there.
    let r = send_target(
        s.nginx.addr,
        "GET",
        "/oauth2/auth",
        &s.nginx.addr.to_string(),
        &bob.header(),
    );
    assert_eq!(r.status, 404);
}
