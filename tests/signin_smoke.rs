//! A whole sign-in against the real OpenID Provider, through the real binary, to a recording
//! upstream: the identity and the assertion arrive.
mod common;

use common::op::*;
use common::*;

/// A recording upstream, the OP with bob (in `groups`), and octogate (with `session_extra`) in
/// front, ready; returns them with octogate's base URL.
fn site(groups: &[&'static str], session_extra: &str) -> (Upstream, Op, Octogate, String) {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.session_extra = session_extra.into();
    let base = format!("http://127.0.0.1:{}", spec.port);
    let op = Op::start(
        &[("octogate-test", "test-secret", &base)],
        &[User::new("u-bob", "bob", groups)],
    );
    spec.issuer = op.issuer.clone();
    let og = Octogate::start(&spec);
    assert!(
        og.wait_ready(std::time::Duration::from_secs(10)),
        "octogate never became ready"
    );
    (up, op, og, base)
}

#[test]
fn sign_in_reaches_the_upstream_with_a_verifiable_assertion() {
    let (up, _op, og, base) = site(&["admins", "unrelated"], "");
    let mut jar = Jar::default();
    let (resp, url, pages) = navigate(
        &mut jar,
        &format!("{base}/backend/cms?x=1"),
        "bob",
        "bob-pw",
    );
    assert_eq!(pages, vec!["login", "consent"]);
    assert_eq!(resp.status, 200, "{url}: {}", resp.text());
    assert!(url.ends_with("/backend/cms?x=1"), "landed on {url}");
    let seen = up.last().unwrap();
    assert_eq!(seen.target, "/backend/cms?x=1");
    assert_eq!(seen.header("x-forwarded-user"), Some("u-bob"));
    assert_eq!(seen.header("x-forwarded-email"), Some("bob@example.com"));
    assert_eq!(
        seen.header("x-forwarded-groups"),
        Some("admins"),
        "only the groups that matter to this site"
    );
    let token = seen.header("x-octogate-assertion").expect("assertion");
    let key = ed25519_dalek::VerifyingKey::from_bytes(&{
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD
            .decode(&og.keys.public_b64)
            .unwrap();
        <[u8; 32]>::try_from(b.as_slice()).unwrap()
    })
    .unwrap();
    let v = octogate::assertion::Verifier::new(&[key], base.clone(), "site1".into(), 30);
    let claims = v
        .verify(token, octogate::app::unix_now())
        .expect("assertion verifies");
    assert_eq!(claims.sub, "u-bob");
    assert_eq!(claims.role, "developer");
    assert!(claims.superuser);
    assert_eq!(claims.groups, vec!["admins".to_string()]);
    // The session cookie is encrypted: nothing readable in it. (Not "bob": three letters turn up
    // in random base64 about once in 400 cookies; "u-bob" and "bob@" practically never.)
    let cookie = jar.cookies.get("octogate").expect("session cookie");
    assert!(!cookie.contains("u-bob") && !cookie.contains("bob@") && !cookie.contains("\"sub\""));
}

#[test]
fn sign_out_revokes_the_refresh_token_so_a_copied_cookie_dies_at_its_next_refresh() {
    let (_up, op, og, base) = site(&["admins"], "refresh_interval = \"2s\"\n");
    let mut jar = Jar::default();
    let (resp, _, _) = navigate(&mut jar, &format!("{base}/backend"), "bob", "bob-pw");
    assert_eq!(resp.status, 200);
    let copied = jar.clone();
    let r = jar_get(&mut jar, &format!("{base}/oauth2/sign_out"), "");
    assert_eq!(r.status, 302);
    // The copied cookie is still accepted until its refresh is due...
    let mut thief = copied.clone();
    assert_eq!(
        jar_get(&mut thief, &format!("{base}/backend"), "").status,
        200
    );
    // ...and then the refresh fails because the token was revoked.
    std::thread::sleep(std::time::Duration::from_millis(2500));
    let mut thief = copied;
    let r = jar_get(&mut thief, &format!("{base}/backend"), "");
    assert_eq!(
        r.status,
        302,
        "copied cookie still works after sign-out and refresh: {}",
        r.text()
    );
    assert!(
        r.header("location").unwrap_or("").starts_with(&op.issuer),
        "{:?}",
        r.header("location")
    );
    assert!(og.log().contains("refresh token revoked"), "{}", og.log());
}

#[test]
fn reload_that_removes_a_cookie_key_ends_sessions_sealed_with_it() {
    let (_up, _op, og, base) = site(&["admins"], "");
    let mut jar = Jar::default();
    let (resp, _, _) = navigate(&mut jar, &format!("{base}/backend"), "bob", "bob-pw");
    assert_eq!(resp.status, 200);
    // Warm: the same cookie again (served from the opened-session cache).
    assert_eq!(
        jar_get(&mut jar.clone(), &format!("{base}/backend"), "").status,
        200
    );
    // Replace the cookie key and reload.
    let fresh = octogate::assertion::generate_keys().cookie_key_b64;
    let text = std::fs::read_to_string(&og.config_path)
        .unwrap()
        .replace(&og.keys.cookie_key, &fresh);
    std::fs::write(&og.config_path, text).unwrap();
    og.signal("HUP");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let r = jar_get(&mut jar.clone(), &format!("{base}/backend"), "");
        if r.status == 302 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "a cookie sealed with a removed key is still accepted after reload"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}
