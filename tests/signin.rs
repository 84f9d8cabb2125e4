//! The sign-in flow and the encrypted cookie session, end to end: the real binary, the real
//! OpenID Provider (npm `oidc-provider`), a recording upstream, and a cookie jar.
//!
//! Where a configured minimum is too long for a test (session lifetime and idle timeout are at
//! least 60 s, the login timeout 30 s), the test seals the cookie itself with the site's cookie
//! key and old timestamps: octogate cannot tell it from one it wrote.
mod common;

use std::time::Duration;

use common::op::*;
use common::signin::*;
use common::*;
use octogate::app::unix_now;
use octogate::identity::Identity;
use octogate::session::{login_cookie_name, SessionData};

const NAV: &str = "accept: text/html\r\n";

/// Upstream + OP + octogate, wired together.
struct Env {
    up: Upstream,
    op: Op,
    og: Octogate,
    spec: ConfigSpec,
    base: String,
}

impl Env {
    fn start(users: Vec<User>, session_extra: &str) -> Env {
        Self::start_with(users, |s| s.session_extra = session_extra.to_string())
    }

    fn start_with(users: Vec<User>, edit: impl FnOnce(&mut ConfigSpec)) -> Env {
        let up = Upstream::start();
        let mut spec = ConfigSpec::new(&up.url());
        edit(&mut spec);
        let base = format!("http://127.0.0.1:{}", spec.port);
        let op = Op::start(&[(&spec.client_id, &spec.client_secret, &base)], &users);
        spec.issuer = op.issuer.clone();
        let og = Octogate::start(&spec);
        assert!(
            og.wait_ready(Duration::from_secs(10)),
            "octogate never became ready:\n{}",
            og.log()
        );
        Env {
            up,
            op,
            og,
            spec,
            base,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn key(&self) -> String {
        self.og.keys.cookie_key.clone()
    }

    /// The cipher this octogate seals its cookies with (its key, bound to its site).
    fn cipher(&self) -> octogate::session::CookieCipher {
        self.cipher_for(&self.key(), &self.base)
    }

    /// A cipher with `key` for the site at `origin` (this site's OP and client).
    fn cipher_for(&self, key: &str, origin: &str) -> octogate::session::CookieCipher {
        cipher(key, origin, &self.spec.issuer, &self.spec.client_id)
    }

    /// Signs in through the OP's pages, landing on `path`.
    fn sign_in(&self, jar: &mut Jar, path: &str, login: &str) -> RawResponse {
        let (resp, url, _) = navigate(jar, &self.url(path), login, &format!("{login}-pw"));
        assert_eq!(
            resp.status,
            200,
            "sign-in as {login} ended at {url} with {}: {}\n{}",
            resp.status,
            resp.text(),
            self.og.log()
        );
        assert_eq!(url, self.url(path), "landed elsewhere");
        resp
    }

    fn session(&self, jar: &Jar) -> SessionData {
        let v = jar_session(jar, "octogate").expect("no session cookie in the jar");
        open_session(&self.cipher(), "octogate", &v)
            .expect("session cookie does not open with the site key")
    }

    /// A GET with the jar's cookies; `extra` header lines. The jar absorbs the answer's cookies.
    fn get(&self, jar: &mut Jar, path: &str, extra: &str) -> RawResponse {
        let r = request(self.og.addr, "GET", path, Some(jar), extra);
        jar.absorb(&r);
        r
    }

    fn verify_assertion(&self, token: &str) -> octogate::assertion::Claims {
        use base64::Engine;
        let b = base64::engine::general_purpose::STANDARD
            .decode(&self.og.keys.public_b64)
            .unwrap();
        let key =
            ed25519_dalek::VerifyingKey::from_bytes(&<[u8; 32]>::try_from(b.as_slice()).unwrap())
                .unwrap();
        let v = octogate::assertion::Verifier::new(&[key], self.base.clone(), "site1".into(), 30);
        v.verify(token, unix_now()).expect("assertion verifies")
    }

    fn grants(&self, kind: &str) -> u64 {
        self.op.stats()["grants"][kind].as_u64().unwrap_or(0)
    }

    /// Token requests of this grant type the OP refused.
    fn grant_errors(&self, kind: &str) -> u64 {
        self.op.stats()["grant_errors"][kind].as_u64().unwrap_or(0)
    }
}

fn bob() -> User {
    User::new("u-bob", "bob", &["admins", "unrelated"])
}

fn alice() -> User {
    User::new("u-alice", "alice", &["editors"])
}

fn identity(sub: &str, groups: &[&str]) -> Identity {
    Identity {
        sub: sub.into(),
        email: Some(format!("{sub}@example.com")),
        email_verified: true,
        name: None,
        preferred_username: None,
        groups: groups.iter().map(|g| g.to_string()).collect(),
    }
}

/// A session as octogate would write it, with chosen timestamps.
fn crafted(
    sub: &str,
    groups: &[&str],
    issued_at: u64,
    last_seen: u64,
    last_refresh: u64,
) -> SessionData {
    let mut d = SessionData::new(identity(sub, groups), None, issued_at, None, None);
    d.last_seen = last_seen;
    d.last_refresh = last_refresh;
    d
}

fn query_param(url: &str, name: &str) -> Option<String> {
    let q = url.split_once('?')?.1;
    url::form_urlencoded::parse(q.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// Asserts `r` sends the browser to the OP to sign in (not an error, not a loop back here).
fn assert_redirect_to_signin(env: &Env, r: &RawResponse) {
    assert_eq!(
        r.status,
        302,
        "expected a sign-in redirect, got {}: {}",
        r.status,
        r.text()
    );
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with(&format!("{}/auth?", env.op.issuer)),
        "redirected to {loc}"
    );
    assert!(
        r.headers_named("set-cookie")
            .iter()
            .any(|c| c.starts_with("octogate_login_")),
        "no login cookie set"
    );
}

fn assert_signin_error_page(r: &RawResponse, status: u16) {
    assert_eq!(r.status, status, "{}", r.text());
    assert!(
        r.header("location").is_none(),
        "an error page must not redirect"
    );
    assert!(r
        .header("content-type")
        .unwrap_or("")
        .starts_with("text/html"));
    let html = r.text();
    assert!(
        html.contains("id=\"try-again\""),
        "no try-again link: {html}"
    );
    assert!(
        html.contains("href=\"/oauth2/start?rd="),
        "try-again must start a fresh sign-in: {html}"
    );
    assert!(
        set_cookie(r, "octogate")
            .filter(|c| !c.contains("Max-Age=0"))
            .is_none(),
        "an error must not set a session"
    );
}

// ---------------------------------------------------------------------------------------------

#[test]
fn whole_sign_in() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    // The unauthenticated navigation: fresh state, nonce and PKCE S256 in a login cookie named
    // after the state.
    let r = env.get(&mut jar, "/backend/cms?x=1", NAV);
    assert_redirect_to_signin(&env, &r);
    let loc = r.header("location").unwrap().to_string();
    let state = query_param(&loc, "state").unwrap();
    assert!(state.len() >= 43, "state too short: {state}");
    assert!(query_param(&loc, "nonce").is_some_and(|n| n.len() >= 43));
    assert_eq!(
        query_param(&loc, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert_eq!(
        query_param(&loc, "code_challenge").map(|c| c.len()),
        Some(43)
    );
    assert_eq!(query_param(&loc, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query_param(&loc, "redirect_uri"),
        Some(env.url("/oauth2/callback"))
    );
    assert!(query_param(&loc, "scope")
        .unwrap()
        .split(' ')
        .any(|s| s == "openid"));
    let login_name = login_cookie_name("octogate", &state).unwrap();
    let sealed = jar
        .cookies
        .get(&login_name)
        .expect("login cookie named after the state")
        .clone();
    let login = open_login(&env.cipher(), &login_name, &sealed).expect("login cookie opens");
    assert_eq!(login.state, state);
    assert_eq!(login.rd, "/backend/cms?x=1");
    assert_ne!(
        login.pkce_verifier,
        query_param(&loc, "code_challenge").unwrap(),
        "S256, not plain"
    );
    assert!(
        !sealed.contains(&state) && !sealed.contains(&login.pkce_verifier),
        "login cookie is encrypted"
    );

    let (resp, url, pages) = navigate(&mut jar, &loc, "bob", "bob-pw");
    assert_eq!(pages, vec!["login", "consent"]);
    assert_eq!(resp.status, 200, "{url}: {}", resp.text());
    assert_eq!(url, env.url("/backend/cms?x=1"));
    assert!(
        !jar.cookies.contains_key(&login_name),
        "login cookie must be deleted after the callback"
    );
    let s = env.session(&jar);
    assert_eq!(s.identity.sub, "u-bob");
    assert_eq!(s.identity.groups, vec!["admins"]);
    assert!(
        s.refresh_token.is_some(),
        "offline_access gives a refresh token"
    );
    assert_eq!(env.grants("authorization_code"), 1);
    let seen = env.up.last().unwrap();
    assert_eq!(seen.target, "/backend/cms?x=1");
    assert_eq!(seen.header("x-forwarded-user"), Some("u-bob"));
}

#[test]
fn protected_request_carries_the_identity() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    // An AJAX request with the session, and forged identity headers from the client.
    let r = env.get(&mut jar, "/backend/api?q=1", "x-requested-with: XMLHttpRequest\r\nx-forwarded-user: u-mallory\r\nx-octogate-assertion: forged\r\n");
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = env.up.last().unwrap();
    assert_eq!(seen.target, "/backend/api?q=1");
    assert_eq!(seen.header("x-forwarded-user"), Some("u-bob"));
    assert_eq!(seen.header("x-forwarded-email"), Some("bob@example.com"));
    assert_eq!(seen.header("x-forwarded-groups"), Some("admins"));
    let claims = env.verify_assertion(seen.header("x-octogate-assertion").unwrap());
    assert_eq!(claims.sub, "u-bob");
    assert_eq!(claims.role, "developer");
    assert!(claims.superuser);
    assert_eq!(
        seen.headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case("x-forwarded-user"))
            .count(),
        1
    );
}

#[test]
fn two_parallel_sign_ins_in_one_browser_both_succeed() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    let a = env.get(&mut jar, "/oauth2/start?rd=/backend/a", NAV);
    let b = env.get(&mut jar, "/oauth2/start?rd=/backend/b", NAV);
    assert_redirect_to_signin(&env, &a);
    assert_redirect_to_signin(&env, &b);
    let logins: Vec<_> = jar
        .cookies
        .keys()
        .filter(|k| k.starts_with("octogate_login_"))
        .cloned()
        .collect();
    assert_eq!(
        logins.len(),
        2,
        "two login cookies side by side: {logins:?}"
    );
    // Complete the first tab (login + consent), then the second (single sign-on at the OP).
    let (ra, ua, _) = navigate(&mut jar, a.header("location").unwrap(), "bob", "bob-pw");
    assert_eq!(
        (ra.status, ua.as_str()),
        (200, env.url("/backend/a").as_str()),
        "{}",
        ra.text()
    );
    let (rb, ub, pages) = navigate(&mut jar, b.header("location").unwrap(), "bob", "bob-pw");
    assert_eq!(
        (rb.status, ub.as_str()),
        (200, env.url("/backend/b").as_str()),
        "{}",
        rb.text()
    );
    assert!(pages.is_empty(), "second tab signs in silently: {pages:?}");
    assert!(
        !jar.cookies.keys().any(|k| k.starts_with("octogate_login_")),
        "both login cookies consumed"
    );
    assert_eq!(env.grants("authorization_code"), 2);
}

#[test]
fn expired_login_cookie_gives_a_clear_400() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    let cb = until_callback(
        &mut jar,
        &env.url("/oauth2/start?rd=/backend/x"),
        "bob",
        "bob-pw",
        false,
    );
    let state = query_param(&cb, "state").unwrap();
    let name = login_cookie_name("octogate", &state).unwrap();
    // The same sign-in, but started 11 minutes ago (login_timeout is 10 min).
    let mut login = open_login(&env.cipher(), &name, &jar.cookies[&name]).unwrap();
    login.created_at = unix_now() - 660;
    jar.cookies
        .insert(name.clone(), seal_login(&env.cipher(), &name, &login));
    let tokens_before = env.op.stats()["token"].as_u64().unwrap();
    let r = jar_get(&mut jar, &cb, "");
    assert_signin_error_page(&r, 400);
    assert!(r.text().contains("expired"), "{}", r.text());
    assert!(
        r.text().contains("/oauth2/start?rd=%2Fbackend%2Fx"),
        "try again keeps the destination: {}",
        r.text()
    );
    assert!(
        clears_cookie(&r, &name),
        "the stale login cookie is cleared"
    );
    assert_eq!(
        env.op.stats()["token"].as_u64().unwrap(),
        tokens_before,
        "the code must not be exchanged"
    );
    assert!(jar_session(&jar, "octogate").is_none());
    // Sanity: the same login cookie, fresh, would have worked (the test can fail).
    login.created_at = unix_now();
    let mut jar2 = jar.clone();
    jar2.cookies
        .insert(name.clone(), seal_login(&env.cipher(), &name, &login));
    let ok = jar_get(&mut jar2, &cb, "");
    assert_eq!(ok.status, 302, "{}", ok.text());
    assert_eq!(ok.header("location"), Some("/backend/x"));
}

#[test]
fn state_mismatch_gives_a_clear_400_with_try_again_and_no_loop() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    let cb = until_callback(
        &mut jar,
        &env.url("/oauth2/start?rd=/backend"),
        "bob",
        "bob-pw",
        false,
    );
    let state = query_param(&cb, "state").unwrap();
    let code = query_param(&cb, "code").unwrap();
    let tokens_before = env.op.stats()["token"].as_u64().unwrap();
    // Same login cookie (first 16 characters kept), different state.
    let mut other: Vec<char> = state.chars().collect();
    let last = other.len() - 1;
    other[last] = if other[last] == 'A' { 'B' } else { 'A' };
    let other: String = other.into_iter().collect();
    let cb_path = |s: &str| {
        format!(
            "/oauth2/callback?code={code}&state={s}&iss={}",
            url::form_urlencoded::byte_serialize(env.op.issuer.as_bytes()).collect::<String>()
        )
    };
    let r = env.get(&mut jar.clone(), &cb_path(&other), "");
    assert_signin_error_page(&r, 400);
    // A state for which this browser has no login cookie at all.
    let r = env.get(
        &mut jar.clone(),
        &cb_path(&octogate::session::random_token(32)),
        "",
    );
    assert_signin_error_page(&r, 400);
    // No state at all.
    let r = env.get(
        &mut jar.clone(),
        &format!("/oauth2/callback?code={code}"),
        "",
    );
    assert_signin_error_page(&r, 400);
    assert_eq!(
        env.op.stats()["token"].as_u64().unwrap(),
        tokens_before,
        "no code exchange on a state mismatch"
    );
    assert!(
        log_has(
            &env.og,
            &["state_mismatch", "missing_login_cookie", "missing_state"]
        ),
        "reasons logged:\n{}",
        env.og.log()
    );
    // "Try again" starts a fresh sign-in at the OP, it does not come back to an error.
    let r = env.get(&mut jar.clone(), "/oauth2/start?rd=%2Fbackend", NAV);
    assert_redirect_to_signin(&env, &r);
    // The untouched callback still completes (the test can fail).
    let r = jar_get(&mut jar, &cb, "");
    assert_eq!(
        (r.status, r.header("location")),
        (302, Some("/backend")),
        "{}",
        r.text()
    );
}

#[test]
fn code_replay_does_not_create_a_new_session() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    let cb = until_callback(
        &mut jar,
        &env.url("/oauth2/start?rd=/backend"),
        "bob",
        "bob-pw",
        false,
    );
    let state = query_param(&cb, "state").unwrap();
    let login_name = login_cookie_name("octogate", &state).unwrap();
    let login_cookie = jar.cookies[&login_name].clone();
    let r = jar_get(&mut jar, &cb, "");
    assert_eq!((r.status, r.header("location")), (302, Some("/backend")));
    let sid = env.session(&jar).sid;
    // The browser re-sends the same callback URL (back button, reload): the login cookie is gone.
    let r = jar_get(&mut jar, &cb, "");
    assert_signin_error_page(&r, 400);
    assert_eq!(
        env.session(&jar).sid,
        sid,
        "the existing session is untouched"
    );
    // Even with the consumed login cookie replayed, the code does not buy a second session.
    let mut attacker = Jar::default();
    attacker.cookies.insert(login_name, login_cookie);
    let r = jar_get(&mut attacker, &cb, "");
    assert!(
        r.status >= 400,
        "replayed code accepted: {} {:?}",
        r.status,
        r.header("location")
    );
    assert!(
        jar_session(&attacker, "octogate").is_none(),
        "replayed code created a session"
    );
    assert_eq!(
        env.grants("authorization_code"),
        1,
        "only the first exchange succeeded"
    );
    assert_eq!(
        env.grant_errors("authorization_code"),
        0,
        "a replayed sign-in must be refused before the IdP is asked"
    );
}

#[test]
fn callbacks_per_client_are_rate_limited_before_the_idp_is_asked() {
    // A script fetching fresh login cookies and sending junk codes must not drive token
    // requests at the IdP without limit: a burst of 30 per address, then 429 without a call.
    let env = Env::start(vec![bob()], "");
    let started = std::time::Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..36 {
        let mut jar = Jar::default();
        let r = env.get(&mut jar, "/oauth2/start?rd=/backend", "");
        assert_eq!(r.status, 302, "{}", r.text());
        let authorize = r.header("location").unwrap().to_string();
        let state = query_param(&authorize, "state").unwrap();
        let cb = format!("/oauth2/callback?code=junk-code&state={state}");
        let r = env.get(&mut jar, &cb, "");
        if r.status == 429 {
            assert_eq!(r.header("retry-after"), Some("2"));
        }
        statuses.push(r.status);
    }
    // 30 at once, one more per 2 s the loop took (a slow machine may earn a few).
    let earned = 30 + started.elapsed().as_secs() / 2 + 1;
    let admitted = statuses.iter().filter(|s| **s == 502).count() as u64;
    let limited = statuses.iter().filter(|s| **s == 429).count() as u64;
    assert_eq!(admitted + limited, 36, "{statuses:?}");
    assert!(statuses[..30].iter().all(|s| *s == 502), "{statuses:?}");
    assert!(limited >= 1 && admitted <= earned, "{statuses:?}");
    assert_eq!(
        env.grant_errors("authorization_code"),
        admitted,
        "only the admitted callbacks reached the IdP"
    );
    assert!(env.og.log().contains("rate_limited"), "{}", env.og.log());
}

#[test]
fn tampered_truncated_or_foreign_session_cookie_is_no_session() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let good = jar.cookies["octogate"].clone();
    let mut tampered = good.clone().into_bytes();
    let mid = tampered.len() / 2;
    tampered[mid] = if tampered[mid] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    let foreign = seal_session(
        &env.cipher_for(&new_cookie_key(), &env.base),
        "octogate",
        &env.session(&jar),
    );
    // The same key on another site (e.g. a copied config): its sessions do not open here.
    let other_site = seal_session(
        &env.cipher_for(&env.key(), "https://site2.example.com"),
        "octogate",
        &env.session(&jar),
    );
    let renamed = seal_session(&env.cipher(), "other", &env.session(&jar));
    let cases = [
        ("tampered", tampered),
        ("truncated", good[..good.len() - 7].to_string()),
        ("foreign key", foreign),
        ("sealed for another cookie name", renamed),
        ("sealed for another site with the same key", other_site),
        ("junk", "not-a-session".to_string()),
    ];
    for (what, value) in cases {
        let mut bad = Jar::default();
        bad.cookies.insert("octogate".into(), value);
        let before = env.up.count();
        let r = env.get(&mut bad, "/backend/x", NAV);
        assert_redirect_to_signin(&env, &r);
        assert!(
            clears_cookie(&r, "octogate"),
            "{what}: the bad cookie is cleared"
        );
        assert_eq!(env.up.count(), before, "{what}: reached the upstream");
        // Never an error loop: the browser can sign in from here.
        let (resp, url, _) = navigate(&mut bad, &env.url("/backend/x"), "bob", "bob-pw");
        assert_eq!((resp.status, url), (200, env.url("/backend/x")), "{what}");
        assert_eq!(env.session(&bad).identity.sub, "u-bob");
    }
    // Userinfo and AJAX with a bad cookie: 401, never a 5xx.
    let mut bad = Jar::default();
    bad.cookies
        .insert("octogate".into(), good[..good.len() - 7].to_string());
    let r = request(env.og.addr, "GET", "/oauth2/userinfo", Some(&bad), "");
    assert_eq!(r.status, 401);
    let r = request(
        env.og.addr,
        "GET",
        "/backend/x",
        Some(&bad),
        "x-requested-with: XMLHttpRequest\r\n",
    );
    assert_eq!(r.status, 401);
    assert!(clears_cookie(&r, "octogate"));
    // The intact cookie still works (the test can fail).
    let r = request(env.og.addr, "GET", "/backend/x", Some(&jar), NAV);
    assert_eq!(r.status, 200);
    assert!(
        log_has(
            &env.og,
            &["session cookie rejected", "undecryptable_cookie"]
        ),
        "the decision is logged"
    );
}

#[test]
fn cookie_key_rotation() {
    let up = Upstream::start();
    let spec = ConfigSpec::new(&up.url());
    let base = format!("http://127.0.0.1:{}", spec.port);
    let op = Op::start(&[("octogate-test", "test-secret", &base)], &[bob()]);
    let mut spec = spec;
    spec.issuer = op.issuer.clone();
    let og = Octogate::start(&spec);
    assert!(og.wait_ready(Duration::from_secs(10)));
    let old_key = og.keys.cookie_key.clone();
    let mut jar = Jar::default();
    let (r, _, _) = navigate(&mut jar, &format!("{base}/backend"), "bob", "bob-pw");
    assert_eq!(r.status, 200);
    drop(og);
    let new_key = new_cookie_key();
    let site = |key: &str| cipher(key, &base, &spec.issuer, &spec.client_id);
    let restart = |cookie_keys: &[&str]| {
        let dir = tmpdir("og-rot");
        let keys = keys(&dir);
        let text = spec.render(&keys).replace(
            &format!("cookie_keys = [\"{}\"]", keys.cookie_key),
            &format!(
                "cookie_keys = [{}]",
                cookie_keys
                    .iter()
                    .map(|k| format!("\"{k}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        );
        assert!(text.contains(cookie_keys[0]));
        let og = spawn_octogate(spec.port, dir, keys, &text);
        assert!(og.wait_ready(Duration::from_secs(10)));
        og
    };
    // [new, old]: still signed in; a rewritten cookie is sealed with the new key.
    let og = restart(&[&new_key, &old_key]);
    let r = request(og.addr, "GET", "/backend", Some(&jar), NAV);
    assert_eq!(r.status, 200, "{}\n{}", r.text(), og.log());
    assert_eq!(up.last().unwrap().header("x-forwarded-user"), Some("u-bob"));
    let now = unix_now();
    let stale = crafted("u-bob", &["admins"], now - 120, now - 120, now);
    let mut jar2 = Jar::default();
    jar2.cookies.insert(
        "octogate".into(),
        seal_session(&site(&old_key), "octogate", &stale),
    );
    let r = request(og.addr, "GET", "/backend", Some(&jar2), NAV);
    assert_eq!(r.status, 200);
    jar2.absorb(&r);
    let rewritten = jar2.cookies["octogate"].clone();
    assert!(
        open_session(&site(&new_key), "octogate", &rewritten).is_some(),
        "the first key encrypts"
    );
    assert!(open_session(&site(&old_key), "octogate", &rewritten).is_none());
    drop(og);
    // [new] only: the old cookie no longer opens → signed out; the new-key cookie works.
    let og = restart(&[&new_key]);
    let r = request(og.addr, "GET", "/backend", Some(&jar), NAV);
    assert_eq!(r.status, 302, "{}", r.text());
    assert!(r
        .header("location")
        .unwrap()
        .starts_with(&format!("{}/auth?", op.issuer)));
    assert!(clears_cookie(&r, "octogate"));
    let r = request(og.addr, "GET", "/backend", Some(&jar2), NAV);
    assert_eq!(r.status, 200);
}

#[test]
fn absolute_and_idle_expiry() {
    let env = Env::start(
        vec![bob()],
        "lifetime = \"5m\"\nidle_timeout = \"2m\"\nrefresh_interval = \"1h\"\n",
    );
    let now = unix_now();
    let cases = [
        // (what, issued_at, last_seen, valid)
        ("fresh", now - 10, now - 10, true),
        ("just inside the lifetime", now - 290, now - 10, true),
        ("absolute lifetime over", now - 301, now - 1, false),
        ("just inside the idle timeout", now - 200, now - 110, true),
        ("idle", now - 200, now - 121, false),
        ("issued in the future", now + 3600, now, false),
    ];
    for (what, ia, ls, valid) in cases {
        let mut jar = Jar::default();
        jar.cookies.insert(
            "octogate".into(),
            seal_session(
                &env.cipher(),
                "octogate",
                &crafted("u-bob", &["admins"], ia, ls, now),
            ),
        );
        let r = request(env.og.addr, "GET", "/backend/x", Some(&jar), NAV);
        let info = request(env.og.addr, "GET", "/oauth2/userinfo", Some(&jar), "");
        let ajax = request(
            env.og.addr,
            "GET",
            "/backend/x",
            Some(&jar),
            "x-requested-with: XMLHttpRequest\r\n",
        );
        if valid {
            assert_eq!(r.status, 200, "{what}: {}", r.text());
            assert_eq!(info.status, 200, "{what}");
            assert_eq!(ajax.status, 200, "{what}");
        } else {
            assert_redirect_to_signin(&env, &r);
            assert!(
                clears_cookie(&r, "octogate"),
                "{what}: expired cookie cleared"
            );
            assert_eq!(info.status, 401, "{what}");
            assert_eq!(ajax.status, 401, "{what}");
        }
    }
    assert!(
        log_has(
            &env.og,
            &["session ended", "Absolute", "Idle", "FutureIssued"]
        ),
        "reasons logged:\n{}",
        env.og.log()
    );
}

#[test]
fn activity_keeps_a_session_alive_at_the_minimum_idle_timeout() {
    let env = Env::start(
        vec![bob()],
        "idle_timeout = \"60s\"\nrefresh_interval = \"1h\"\n",
    );
    let now = unix_now();
    let mut jar = Jar::default();
    jar.cookies.insert(
        "octogate".into(),
        seal_session(
            &env.cipher(),
            "octogate",
            &crafted("u-bob", &["admins"], now - 50, now - 50, now),
        ),
    );
    // Active now, 50 s after the last recorded activity.
    let r = env.get(&mut jar, "/backend/a", NAV);
    assert_eq!(r.status, 200);
    // 11 s later the user was idle for 11 s, not 61 s: still signed in.
    wait_until_unix(now + 11);
    let r = env.get(&mut jar, "/backend/b", NAV);
    assert_eq!(
        r.status,
        200,
        "an active user was signed out for idleness: {:?}\n{}",
        r.header("location"),
        env.og.log()
    );
}

#[test]
fn refresh_picks_up_a_changed_group() {
    let env = Env::start(vec![bob()], "refresh_interval = \"2s\"\n");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let claims = env.verify_assertion(
        env.up
            .last()
            .unwrap()
            .header("x-octogate-assertion")
            .unwrap(),
    );
    assert_eq!(
        (claims.role.as_str(), claims.superuser),
        ("developer", true)
    );
    let s = env.session(&jar);
    env.op.set_groups("u-bob", &["editors"]);
    // Before the interval: no refresh, still developer.
    let r = env.get(&mut jar, "/backend/x", NAV);
    assert_eq!(r.status, 200);
    assert_eq!(
        env.up.last().unwrap().header("x-forwarded-groups"),
        Some("admins")
    );
    wait_until_unix(s.last_refresh + 2);
    let r = env.get(&mut jar, "/backend/y", NAV);
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(
        set_cookie(&r, "octogate").is_some(),
        "refreshed session written"
    );
    let seen = env.up.last().unwrap();
    assert_eq!(seen.header("x-forwarded-groups"), Some("editors"));
    let claims = env.verify_assertion(seen.header("x-octogate-assertion").unwrap());
    assert_eq!((claims.role.as_str(), claims.superuser), ("editor", false));
    let s2 = env.session(&jar);
    assert!(s2.last_refresh >= s.last_refresh + 2);
    assert_eq!(s2.sid, s.sid, "refresh keeps the session id");
    assert_eq!(s2.identity.groups, vec!["editors"]);
    assert_eq!(env.grants("refresh_token"), 1);
}

#[test]
fn refresh_refused_signs_the_user_out() {
    let env = Env::start(vec![bob()], "refresh_interval = \"2s\"\n");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let s = env.session(&jar);
    env.op.disable("u-bob");
    wait_until_unix(s.last_refresh + 2);
    let before = env.up.count();
    let ajax = request(
        env.og.addr,
        "GET",
        "/backend/x",
        Some(&jar),
        "x-requested-with: XMLHttpRequest\r\n",
    );
    assert_eq!(ajax.status, 401, "{}", ajax.text());
    assert!(clears_cookie(&ajax, "octogate"));
    let r = env.get(&mut jar, "/backend/x", NAV);
    assert_redirect_to_signin(&env, &r);
    assert!(clears_cookie(&r, "octogate"));
    assert_eq!(
        env.up.count(),
        before,
        "the deactivated user reached the upstream"
    );
    assert!(jar_session(&jar, "octogate").is_none());
    assert!(
        log_has(&env.og, &["refresh refused by the IdP"]),
        "{}",
        env.og.log()
    );
    assert_eq!(
        env.op.stats()["grant_errors"]["refresh_token"].as_u64(),
        Some(1),
        "one refused refresh: {}",
        env.op.stats()
    );
}

#[test]
fn concurrent_requests_during_a_refresh_share_one_refresh() {
    let env = Env::start(vec![bob()], "refresh_interval = \"2s\"\n");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let s = env.session(&jar);
    wait_until_unix(s.last_refresh + 2);
    let before = env.grants("refresh_token");
    let results: Vec<RawResponse> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..5)
            .map(|i| {
                let jar = jar.clone();
                let addr = env.og.addr;
                sc.spawn(move || request(addr, "GET", &format!("/backend/p{i}"), Some(&jar), NAV))
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    // A late request with the same old cookie also gets the refreshed session.
    let late = request(
        env.og.addr,
        "GET",
        "/backend/late",
        Some(&jar),
        "x-requested-with: XMLHttpRequest\r\n",
    );
    let mut rts = std::collections::HashSet::new();
    for (i, r) in results.iter().chain(std::iter::once(&late)).enumerate() {
        assert_eq!(r.status, 200, "request {i}: {}\n{}", r.text(), env.og.log());
        let mut j = Jar::default();
        j.absorb(r);
        let v =
            jar_session(&j, "octogate").unwrap_or_else(|| panic!("request {i} got no new cookie"));
        let n = open_session(&env.cipher(), "octogate", &v).unwrap();
        assert!(
            n.last_refresh > s.last_refresh,
            "request {i}: not the refreshed session"
        );
        assert_eq!(n.sid, s.sid);
        rts.insert(n.refresh_token.unwrap());
    }
    assert_eq!(
        rts.len(),
        1,
        "all requests got the same (rotated) refresh token"
    );
    assert!(
        !rts.contains(s.refresh_token.as_ref().unwrap()),
        "the OP rotated the refresh token"
    );
    assert_eq!(
        env.grants("refresh_token") - before,
        1,
        "exactly one refresh_token grant: {}",
        env.op.stats()
    );
    assert_eq!(
        env.op.stats()["grant_errors"]
            .as_object()
            .map(|o| o.len())
            .unwrap_or(0),
        0,
        "no reuse of a rotated token: {}",
        env.op.stats()
    );
    // And the new cookie keeps working (the grant was not revoked by reuse detection).
    let mut j = Jar::default();
    j.absorb(&results[0]);
    let r = request(env.og.addr, "GET", "/backend/after", Some(&j), NAV);
    assert_eq!(r.status, 200);
}

#[test]
fn idp_signing_key_rotation_refetches_the_jwks() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let jwks_before = env.op.stats()["jwks"].as_u64().unwrap();
    env.op.rotate_keys();
    let mut jar2 = Jar::default();
    env.sign_in(&mut jar2, "/backend/again", "bob");
    assert_eq!(env.session(&jar2).identity.sub, "u-bob");
    assert_eq!(
        env.op.stats()["jwks"].as_u64().unwrap(),
        jwks_before + 1,
        "exactly one JWKS re-fetch for the unknown kid"
    );
}

#[test]
fn idp_down_at_start_then_up() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    let base = format!("http://127.0.0.1:{}", spec.port);
    let op = Op::start(&[("octogate-test", "test-secret", &base)], &[bob()]);
    spec.issuer = op.issuer.clone();
    op.down();
    let og = Octogate::start(&spec);
    std::thread::sleep(Duration::from_millis(300));
    let r = get(og.addr, "/readyz", "");
    assert_eq!(r.status, 503);
    let body: serde_json::Value = serde_json::from_slice(&r.body).expect("JSON reason");
    let reason = body.to_string();
    assert!(reason.contains("not loaded"), "{reason}");
    // The IdP's error (addresses, statuses) is for the log, not for whoever asks.
    assert!(
        !reason.contains("503") && !reason.contains("127.0.0.1"),
        "{reason}"
    );
    assert!(log_has(&og, &["readyz: not ready", "503"]), "{}", og.log());
    // Sign-in cannot start: a clear 503, not a loop.
    let r = get(og.addr, "/backend", NAV);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(r.header("location").is_none());
    assert!(
        get(og.addr, "/healthz", "").status == 200,
        "alive while not ready"
    );
    op.up();
    assert!(
        og.wait_ready(Duration::from_secs(15)),
        "never became ready after the IdP came back:\n{}",
        og.log()
    );
    let mut jar = Jar::default();
    let (r, url, _) = navigate(&mut jar, &format!("{base}/backend"), "bob", "bob-pw");
    assert_eq!((r.status, url), (200, format!("{base}/backend")));
    assert!(
        op.stats()["rejected_while_down"].as_u64().unwrap() >= 1,
        "octogate did try while the IdP was down"
    );
}

#[test]
fn idp_unreachable_during_refresh_grace_then_fail_closed() {
    let env = Env::start(
        vec![bob()],
        "refresh_interval = \"2s\"\nrefresh_grace = \"4s\"\n",
    );
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let s = env.session(&jar);
    // Due, IdP down, within the grace: the session keeps working, unchanged.
    env.op.down();
    wait_until_unix(s.last_refresh + 2);
    let r = env.get(&mut jar, "/backend/x", NAV);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        env.up.last().unwrap().header("x-forwarded-user"),
        Some("u-bob")
    );
    assert_eq!(env.session(&jar).last_refresh, s.last_refresh);
    // The IdP comes back within the grace: the session is refreshed (octogate may wait a
    // moment before asking again), well before the grace would run out.
    env.op.up();
    let mut s2 = env.session(&jar);
    while s2.last_refresh == s.last_refresh && unix_now() <= s.last_refresh + 2 + 4 {
        let r = env.get(&mut jar, "/backend/y", NAV);
        assert_eq!(r.status, 200, "{}", r.text());
        s2 = env.session(&jar);
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(
        s2.last_refresh > s.last_refresh,
        "no refresh within the grace although the IdP was back:\n{}",
        env.og.log()
    );
    // Down again, beyond refresh_interval + refresh_grace: fail closed.
    env.op.down();
    wait_until_unix(s2.last_refresh + 2 + 4 + 1);
    let before = env.up.count();
    let ajax = request(
        env.og.addr,
        "GET",
        "/backend/z",
        Some(&jar),
        "x-requested-with: XMLHttpRequest\r\n",
    );
    assert_eq!(ajax.status, 503, "{}", ajax.text());
    let r = env.get(&mut jar, "/backend/z", NAV);
    assert_eq!(r.status, 503, "{}", r.text());
    assert!(clears_cookie(&r, "octogate"));
    assert_eq!(env.up.count(), before, "fails closed: nothing forwarded");
    assert!(log_has(&env.og, &["failing closed"]), "{}", env.og.log());
}

#[test]
fn sign_out_reaches_the_end_session_endpoint() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let s = env.session(&jar);
    // A pending sign-in in another tab: its cookie must go too.
    let pending = env.get(&mut jar, "/oauth2/start?rd=/backend/other", NAV);
    let login_name = pending
        .headers_named("set-cookie")
        .iter()
        .find(|c| c.starts_with("octogate_login_"))
        .unwrap()
        .split('=')
        .next()
        .unwrap()
        .to_string();
    assert!(jar.cookies.contains_key(&login_name));
    // Started by another site (a link, an image, a form): a confirmation page, nothing changed.
    for foreign in [
        "sec-fetch-site: cross-site\r\n",
        // A sibling site of the same agency (or a page there) is same-site, not same-origin.
        "sec-fetch-site: same-site\r\nsec-fetch-mode: navigate\r\nsec-fetch-dest: document\r\n",
        // An image on a page of this very site.
        "sec-fetch-site: same-origin\r\nsec-fetch-mode: no-cors\r\nsec-fetch-dest: image\r\n",
        "sec-fetch-site: same-origin\r\nsec-fetch-mode: no-cors\r\nsec-fetch-dest: script\r\n",
        // A speculative prefetch (hovering the link) is not a click.
        "sec-fetch-site: same-origin\r\nsec-fetch-mode: navigate\r\nsec-fetch-dest: document\r\nsec-purpose: prefetch\r\n",
        "origin: https://evil.example\r\n",
        "origin: null\r\n",
    ] {
        let r = env.get(
            &mut jar,
            "/oauth2/sign_out?rd=/backend/x",
            &format!("{NAV}{foreign}"),
        );
        assert_eq!(r.status, 200, "{foreign}: {}", r.text());
        assert!(r.text().contains("octogate-signout-confirm"), "{foreign}");
        assert!(
            r.text()
                .contains("href=\"/oauth2/sign_out?rd=%2Fbackend%2Fx\""),
            "{}",
            r.text()
        );
        assert!(
            r.headers_named("set-cookie").is_empty(),
            "{foreign}: cookies changed"
        );
        assert_eq!(
            env.get(&mut jar, "/backend", NAV).status,
            200,
            "{foreign}: signed out"
        );
    }
    assert!(log_has(&env.og, &["sign-out requested by another site"]));
    // Not a GET (a form posted by another page): nothing changes either.
    let r = request(env.og.addr, "POST", "/oauth2/sign_out", Some(&jar), NAV);
    assert!(r.text().contains("octogate-signout-confirm"));
    assert!(r.headers_named("set-cookie").is_empty(), "POST signed out");
    assert_eq!(env.get(&mut jar, "/backend", NAV).status, 200);
    // The user's click on that page (a same-origin navigation) signs out.
    let r = env.get(
        &mut jar,
        "/oauth2/sign_out",
        &format!(
            "{NAV}sec-fetch-site: same-origin\r\nsec-fetch-mode: navigate\r\nsec-fetch-dest: document\r\norigin: {}\r\n",
            env.url("").trim_end_matches('/')
        ),
    );
    assert_eq!(r.status, 302, "{}", r.text());
    let loc = r.header("location").unwrap().to_string();
    assert!(
        loc.starts_with(&format!("{}/session/end?", env.op.issuer)),
        "{loc}"
    );
    assert_eq!(query_param(&loc, "id_token_hint"), s.id_token_hint);
    assert!(s.id_token_hint.is_some());
    assert_eq!(
        query_param(&loc, "post_logout_redirect_uri"),
        Some(env.url("/"))
    );
    let state = query_param(&loc, "state").expect("state");
    assert!(state.len() >= 16);
    assert!(clears_cookie(&r, "octogate"), "session cookie expired");
    assert!(
        clears_cookie(&r, &login_name),
        "pending login cookie expired"
    );
    assert!(
        jar.cookies.keys().all(|k| !k.starts_with("octogate")),
        "octogate cookies left: {:?}",
        jar.cookies.keys()
    );
    // The OP accepts it: confirm the sign-out, land back on the site with the same state.
    let page = jar_get(&mut jar, &loc, "");
    assert_eq!(page.status, 200, "{}", page.text());
    let html = page.text();
    let i = html.find("name=\"xsrf\"").expect("logout form");
    let v = html[i..].find("value=\"").unwrap() + i + 7;
    let xsrf = &html[v..v + html[v..].find('"').unwrap()];
    let done = jar_post(
        &mut jar,
        &format!("{}/session/end/confirm", env.op.issuer),
        &format!("xsrf={xsrf}&logout=yes"),
    );
    assert!((300..400).contains(&done.status), "{}", done.text());
    let back = done.header("location").unwrap();
    assert!(back.starts_with(&env.url("/")), "{back}");
    assert_eq!(query_param(back, "state"), Some(state));
    assert!(env.op.stats()["end_session"].as_u64().unwrap() >= 1);
    // Signed out: a navigation asks to sign in again.
    let r = env.get(&mut jar, "/backend", NAV);
    assert_redirect_to_signin(&env, &r);
}

#[test]
fn userinfo_shows_the_identity_never_tokens() {
    let env = Env::start(vec![bob()], "lifetime = \"2h\"\nidle_timeout = \"30m\"\n");
    let mut jar = Jar::default();
    let r = request(env.og.addr, "GET", "/oauth2/userinfo", None, "");
    assert_eq!(r.status, 401);
    assert!(r.header("content-type").unwrap().contains("json"));
    env.sign_in(&mut jar, "/backend", "bob");
    let s = env.session(&jar);
    let r = request(env.og.addr, "GET", "/oauth2/userinfo", Some(&jar), "");
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .contains("application/json"));
    let j: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert_eq!(j["sub"], "u-bob");
    assert_eq!(j["email"], "bob@example.com");
    assert_eq!(j["groups"], serde_json::json!(["admins"]));
    assert_eq!(j["issued_at"].as_u64(), Some(s.issued_at));
    assert_eq!(j["expires_at"].as_u64(), Some(s.issued_at + 7200));
    assert_eq!(j["idle_expires_at"].as_u64(), Some(s.last_seen + 1800));
    assert_eq!(j["last_refresh"].as_u64(), Some(s.last_refresh));
    let text = r.text();
    for secret in [
        s.refresh_token.as_deref().unwrap(),
        s.id_token_hint.as_deref().unwrap(),
        &jar.cookies["octogate"],
    ] {
        assert!(!text.contains(secret), "userinfo leaks a token: {text}");
    }
    assert!(!text.contains("token\""), "no token fields: {text}");
}

#[test]
fn non_navigation_requests_without_a_session_get_401() {
    let env = Env::start(vec![bob()], "");
    let cases = [
        (
            "GET",
            "accept: text/html\r\nx-requested-with: XMLHttpRequest\r\n",
        ),
        (
            "GET",
            "accept: text/html\r\nX-OCTOBER-REQUEST-HANDLER: onSave\r\n",
        ),
        ("GET", "accept: application/json\r\n"),
        ("GET", ""),
        ("POST", "accept: text/html\r\n"),
        ("PUT", "accept: text/html\r\n"),
        ("DELETE", "accept: text/html\r\n"),
    ];
    for (method, headers) in cases {
        let r = request(env.og.addr, method, "/backend/cms", None, headers);
        assert_eq!(r.status, 401, "{method} {headers:?}: {}", r.text());
        assert!(r.header("location").is_none(), "{method} {headers:?}");
        assert!(
            r.headers_named("set-cookie")
                .iter()
                .all(|c| !c.starts_with("octogate_login_")),
            "no sign-in started for {method} {headers:?}"
        );
    }
    // The control: a navigation is sent to sign in.
    assert_redirect_to_signin(
        &env,
        &request(env.og.addr, "GET", "/backend/cms", None, NAV),
    );
    assert_eq!(env.up.count(), 0);
}

#[test]
fn open_redirects_are_refused_end_to_end() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    for rd in [
        "//evil.com",
        "https://evil.com/x",
        "/\\evil.com",
        "http:evil.com",
        "/%2F/evil.com",
        "javascript:alert(1)",
    ] {
        let (r, url, _) = navigate(
            &mut jar,
            &env.url(&format!("/oauth2/start?rd={}", enc(rd))),
            "bob",
            "bob-pw",
        );
        assert_eq!((r.status, url), (200, env.url("/backend")), "rd={rd}");
    }
    // A local path is honoured (the test can fail).
    let (r, url, _) = navigate(
        &mut jar,
        &env.url(&format!("/oauth2/start?rd={}", enc("/backend/cms?a=b"))),
        "bob",
        "bob-pw",
    );
    assert_eq!((r.status, url), (200, env.url("/backend/cms?a=b")));
}

#[test]
fn idp_access_denied_gives_a_clear_403() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    let cb = until_callback(
        &mut jar,
        &env.url("/oauth2/start?rd=/backend"),
        "bob",
        "bob-pw",
        true,
    );
    assert_eq!(
        query_param(&cb, "error").as_deref(),
        Some("access_denied"),
        "{cb}"
    );
    let state = query_param(&cb, "state").unwrap();
    let r = jar_get(&mut jar, &cb, "");
    assert_signin_error_page(&r, 403);
    assert!(r.text().contains("access_denied"));
    assert!(clears_cookie(
        &r,
        &login_cookie_name("octogate", &state).unwrap()
    ));
    assert!(jar_session(&jar, "octogate").is_none());
    // A crafted link (no sign-in of this browser behind it) shows nothing it carries.
    let r = env.get(
        &mut Jar::default(),
        "/oauth2/callback?error=Account_locked_call_555-0100&error_description=Call+us&state=abc",
        NAV,
    );
    assert_signin_error_page(&r, 403);
    assert!(
        !r.text().contains("555-0100") && !r.text().contains("Call us"),
        "{}",
        r.text()
    );
}

#[test]
fn session_cookie_attributes() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    let r = env.get(&mut jar, "/backend", NAV);
    let login = r
        .headers_named("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("octogate_login_"))
        .unwrap()
        .to_string();
    let cb = until_callback(
        &mut jar,
        r.header("location").unwrap(),
        "bob",
        "bob-pw",
        false,
    );
    let r = jar_get(&mut jar, &cb, "");
    assert_eq!(r.status, 302);
    let session = set_cookie(&r, "octogate")
        .expect("session cookie set")
        .to_string();
    for c in [&login, &session] {
        let attrs: Vec<String> = c
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        for want in ["httponly", "samesite=lax", "path=/"] {
            assert!(attrs.iter().any(|a| a == want), "{c}: missing {want}");
        }
        assert!(
            !attrs
                .iter()
                .any(|a| a == "secure" || a.starts_with("domain")),
            "{c}: plain http must not be Secure, never Domain"
        );
    }
    assert!(
        login.contains("Max-Age=600"),
        "login cookie lives 10 minutes: {login}"
    );
    assert!(
        !session.to_ascii_lowercase().contains("max-age")
            && !session.to_ascii_lowercase().contains("expires"),
        "session cookie is a browser-session cookie: {session}"
    );
}

#[test]
fn https_site_uses_host_prefix_and_secure() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    let base = format!("https://127.0.0.1:{}", spec.port);
    let op = Op::start(&[("octogate-test", "test-secret", &base)], &[bob()]);
    spec.issuer = op.issuer.clone();
    let dir = tmpdir("og-https");
    let keys = keys(&dir);
    let text = spec.render(&keys).replace(
        &format!("public_url = \"http://127.0.0.1:{}\"", spec.port),
        &format!("public_url = \"{base}\""),
    );
    assert!(text.contains("public_url = \"https://"));
    let og = spawn_octogate(spec.port, dir, keys, &text);
    assert!(og.wait_ready(Duration::from_secs(10)), "{}", og.log());
    let r = get(og.addr, "/backend", NAV);
    assert_eq!(r.status, 302, "{}\n{}", r.text(), og.log());
    assert!(query_param(r.header("location").unwrap(), "redirect_uri")
        .unwrap()
        .starts_with("https://"));
    let login = r
        .headers_named("set-cookie")
        .into_iter()
        .find(|c| c.starts_with("__Host-octogate_login_"))
        .expect("__Host- login cookie")
        .to_string();
    // A session for this site (sealed under its name), due for a rewrite.
    let now = unix_now();
    let mut jar = Jar::default();
    jar.cookies.insert(
        "__Host-octogate".into(),
        seal_session(
            &cipher(&og.keys.cookie_key, &base, &spec.issuer, &spec.client_id),
            "__Host-octogate",
            &crafted("u-bob", &["admins"], now - 120, now - 120, now),
        ),
    );
    let r = request(og.addr, "GET", "/backend", Some(&jar), NAV);
    assert_eq!(r.status, 200, "{}", r.text());
    let session = set_cookie(&r, "__Host-octogate")
        .expect("session rewritten")
        .to_string();
    for c in [&login, &session] {
        let attrs: Vec<String> = c
            .split(';')
            .skip(1)
            .map(|a| a.trim().to_ascii_lowercase())
            .collect();
        for want in ["secure", "httponly", "samesite=lax", "path=/"] {
            assert!(attrs.iter().any(|a| a == want), "{c}: missing {want}");
        }
        assert!(
            !attrs.iter().any(|a| a.starts_with("domain")),
            "{c}: __Host- forbids Domain"
        );
    }
    // The unprefixed name is not this site's session.
    let mut plain = Jar::default();
    plain.cookies.insert(
        "octogate".into(),
        seal_session(
            &cipher(&og.keys.cookie_key, &base, &spec.issuer, &spec.client_id),
            "octogate",
            &crafted("u-bob", &["admins"], now, now, now),
        ),
    );
    assert_eq!(
        request(og.addr, "GET", "/backend", Some(&plain), NAV).status,
        302
    );
}

fn many_groups() -> Vec<&'static str> {
    (0..200)
        .map(|i| &*Box::leak(format!("grp-{i:03}").into_boxed_str()))
        .collect()
}

#[test]
fn large_sessions_are_chunked_and_read_back() {
    let groups = many_groups();
    let mut user_groups = groups.clone();
    user_groups.push("editors");
    let big = User::new("u-big", "big", &user_groups);
    let env = Env::start_with(vec![big, bob()], |s| {
        let list = groups
            .iter()
            .map(|g| format!("\"{g}\""))
            .collect::<Vec<_>>()
            .join(", ");
        s.access = s.access.replace(
            "allowed_groups = [\"admins\", \"editors\"]",
            &format!("allowed_groups = [\"admins\", \"editors\", {list}]"),
        );
        assert!(s.access.contains("grp-199"));
    });
    // The browser brings an ordinary (single-cookie) session of another user.
    let now = unix_now();
    let mut jar = Jar::default();
    jar.cookies.insert(
        "octogate".into(),
        seal_session(
            &env.cipher(),
            "octogate",
            &crafted("u-alice", &["editors"], now, now, now),
        ),
    );
    assert_eq!(env.get(&mut jar, "/backend", NAV).status, 200);
    let (r, url, _) = navigate(
        &mut jar,
        &env.url("/oauth2/start?rd=/backend/big"),
        "big",
        "big-pw",
    );
    assert_eq!(
        (r.status, url.as_str()),
        (200, env.url("/backend/big").as_str()),
        "{}\n{}",
        r.text(),
        env.og.log()
    );
    assert_eq!(
        env.grants("authorization_code"),
        1,
        "the new session was not usable at once (the browser was sent to sign in again):\n{}",
        env.og.log()
    );
    let chunks: Vec<_> = jar
        .cookies
        .keys()
        .filter(|k| k.starts_with("octogate_") && !k.contains("login"))
        .cloned()
        .collect();
    assert!(
        chunks.len() >= 2,
        "expected a chunked session, jar has {:?}",
        jar.cookies.keys()
    );
    assert!(
        !jar.cookies.contains_key("octogate"),
        "the unchunked cookie must be gone once the session is chunked"
    );
    for c in &chunks {
        assert!(
            c.len() + 1 + jar.cookies[c].len() <= 4000,
            "{c} too large for a browser"
        );
    }
    let s = env.session(&jar);
    assert_eq!(s.identity.sub, "u-big");
    assert_eq!(s.identity.groups.len(), 201);
    let r = env.get(
        &mut jar,
        "/backend/again",
        "x-requested-with: XMLHttpRequest\r\n",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let seen = env.up.last().unwrap();
    assert_eq!(seen.header("x-forwarded-user"), Some("u-big"));
    assert_eq!(
        seen.header("x-forwarded-groups")
            .unwrap()
            .split(',')
            .count(),
        201
    );
    let info = request(env.og.addr, "GET", "/oauth2/userinfo", Some(&jar), "");
    assert_eq!(info.status, 200);
    // Signing out clears every chunk.
    let r = env.get(&mut jar, "/oauth2/sign_out", NAV);
    for c in &chunks {
        assert!(clears_cookie(&r, c), "{c} not cleared at sign-out");
    }
}

#[test]
fn sign_in_replaces_the_session_the_browser_brought() {
    let env = Env::start(vec![bob(), alice()], "");
    let now = unix_now();
    let planted = crafted("u-alice", &["editors"], now, now, now);
    let mut jar = Jar::default();
    jar.cookies.insert(
        "octogate".into(),
        seal_session(&env.cipher(), "octogate", &planted),
    );
    let r = env.get(&mut jar, "/backend", NAV);
    assert_eq!(r.status, 200, "the planted session is valid");
    assert_eq!(
        env.up.last().unwrap().header("x-forwarded-user"),
        Some("u-alice")
    );
    let (r, url, pages) = navigate(
        &mut jar,
        &env.url("/oauth2/start?rd=/backend/mine"),
        "bob",
        "bob-pw",
    );
    assert_eq!((r.status, url), (200, env.url("/backend/mine")));
    assert_eq!(pages, vec!["login", "consent"], "a real sign-in happened");
    assert_eq!(
        env.grants("authorization_code"),
        1,
        "one sign-in, usable at once"
    );
    let s = env.session(&jar);
    assert_eq!(s.identity.sub, "u-bob");
    assert_ne!(s.sid, planted.sid, "sign-in must issue a new session id");
    assert_eq!(
        env.up.last().unwrap().header("x-forwarded-user"),
        Some("u-bob")
    );
    let claims = env.verify_assertion(
        env.up
            .last()
            .unwrap()
            .header("x-octogate-assertion")
            .unwrap(),
    );
    assert_eq!(claims.sub, "u-bob");
}

/// A cookie named like a session chunk that no session has (`_8`, `_00`: planted by a script on
/// the site or by the upstream) makes the session unreadable. It is expired along with the
/// session, and a sign-in clears it too: no sign-in loop.
#[test]
fn a_planted_stray_chunk_cookie_cannot_cause_a_sign_in_loop() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    jar.cookies.insert("octogate_8".into(), "x".into());
    jar.cookies.insert("octogate_00".into(), "y".into());
    let r = env.get(&mut jar, "/backend", NAV);
    assert_redirect_to_signin(&env, &r);
    assert!(
        !jar.cookies.contains_key("octogate_8") && !jar.cookies.contains_key("octogate_00"),
        "stray cookies not expired: {:?}",
        r.headers_named("set-cookie")
    );

    // Planted again right before signing in: the callback expires it with the new session.
    jar.cookies.insert("octogate_8".into(), "x".into());
    let (r, url, _) = navigate(&mut jar, &env.url("/backend/x"), "bob", "bob-pw");
    assert_eq!(
        (r.status, url),
        (200, env.url("/backend/x")),
        "{}",
        env.og.log()
    );
    assert!(!jar.cookies.contains_key("octogate_8"));
    let r = env.get(&mut jar, "/backend/y", NAV);
    assert_eq!(r.status, 200, "the new session must be readable");
}

/// A protected page the site marks cacheable by anyone reaches the browser marked private (a
/// shared cache in front of octogate would serve it to whoever asks next, signed in or not), and
/// the site cannot set octogate's cookies.
#[test]
fn protected_pages_are_private_and_cannot_set_octogate_cookies() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let session = jar.cookies["octogate"].clone();
    let r = env.get(&mut jar, "/backend/cache-public", NAV);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("cache-control"), Some("private, max-age=60"));
    assert_eq!(r.headers_named("set-cookie"), vec!["site=keep; Path=/"]);
    assert_eq!(
        jar.cookies["octogate"], session,
        "the site replaced the session"
    );
    assert!(!jar.cookies.contains_key("octogate_8"));
    assert_eq!(env.get(&mut jar, "/backend", NAV).status, 200);
}

/// A WebSocket in the protected area: only this site's pages may open one (`Origin`), and it
/// lasts no longer than the session goes unchecked (here until its refresh is due, 2 s).
#[test]
fn protected_websockets_check_origin_and_end_when_the_session_is_due() {
    use std::io::{Read, Write};
    let env = Env::start(vec![bob()], "refresh_interval = \"2s\"\n");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let own = env.url("").trim_end_matches('/').to_string();
    let open = |origin: &str| {
        let s = std::net::TcpStream::connect(env.og.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        (&s).write_all(format!("GET /backend/ws HTTP/1.1\r\nhost: x\r\n{}connection: Upgrade\r\nupgrade: websocket\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n{origin}\r\n", jar.header()).as_bytes()).unwrap();
        let mut r = std::io::BufReader::new(s.try_clone().unwrap());
        let resp = read_response_head(&mut r);
        (s, r, resp)
    };
    let before = env.up.count();
    for foreign in ["origin: https://evil.example\r\n", "origin: null\r\n"] {
        let (_, _, status) = open(foreign);
        assert_eq!(status, 403, "{foreign}");
    }
    assert_eq!(
        env.up.count(),
        before,
        "a refused handshake reached the site"
    );

    let (s, mut r, status) = open(&format!("origin: {own}\r\n"));
    assert_eq!(status, 101);
    let opened = std::time::Instant::now();
    // Traffic keeps flowing (the idle limit is far away); the tunnel still ends at the session's
    // due refresh.
    let frame = [0x81u8, 0x81, 1, 2, 3, 4, b'x' ^ 1];
    let mut closed_after = None;
    while opened.elapsed() < Duration::from_secs(8) {
        if (&s).write_all(&frame).is_err() {
            closed_after = Some(opened.elapsed());
            break;
        }
        let mut back = [0u8; 7];
        if r.read_exact(&mut back).is_err() {
            closed_after = Some(opened.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let after = closed_after.expect("the tunnel outlived its session's due refresh");
    assert!(
        after <= Duration::from_secs(4),
        "closed only after {after:?}"
    );
}

/// Reads a response head; returns its status.
fn read_response_head(r: &mut impl std::io::BufRead) -> u16 {
    let mut status = 0;
    loop {
        let mut line = String::new();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return status;
        }
        if status == 0 {
            status = line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
        }
        if line == "\r\n" {
            return status;
        }
    }
}

/// October v3's backend follows its sign-out link with a same-origin `fetch()` (its Turbo router)
/// and the shim redirects that to `/oauth2/sign_out`: it signs out at once (only a script of this
/// origin can send such a request, and it could navigate there anyway).
#[test]
fn sign_out_by_a_same_origin_fetch_signs_out() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    env.sign_in(&mut jar, "/backend", "bob");
    let r = env.get(
        &mut jar,
        "/oauth2/sign_out",
        "accept: text/html\r\nsec-fetch-site: same-origin\r\nsec-fetch-mode: cors\r\nsec-fetch-dest: empty\r\n",
    );
    assert_eq!(r.status, 302, "{}", r.text());
    assert!(clears_cookie(&r, "octogate"));
    assert_redirect_to_signin(&env, &env.get(&mut jar, "/backend", NAV));
}

#[test]
fn no_token_cookie_or_secret_in_the_log() {
    let secret = "cs-Zq8vK2pW9xR4mT7n";
    let env = Env::start_with(vec![bob()], |s| {
        s.client_secret = secret.into();
        s.session_extra = "refresh_interval = \"2s\"\n".into();
    });
    let mut jar = Jar::default();
    let cb = until_callback(&mut jar, &env.url("/backend"), "bob", "bob-pw", false);
    let code = query_param(&cb, "code").unwrap();
    let state = query_param(&cb, "state").unwrap();
    let login_name = login_cookie_name("octogate", &state).unwrap();
    let login_value = jar.cookies[&login_name].clone();
    let login = open_login(&env.cipher(), &login_name, &login_value).unwrap();
    let r = jar_get(&mut jar, &cb, "");
    assert_eq!(r.status, 302);
    let s1 = env.session(&jar);
    let c1 = jar.cookies["octogate"].clone();
    assert_eq!(env.get(&mut jar, "/backend", NAV).status, 200);
    wait_until_unix(s1.last_refresh + 2);
    assert_eq!(env.get(&mut jar, "/backend", NAV).status, 200);
    let s2 = env.session(&jar);
    assert!(s2.last_refresh > s1.last_refresh, "refreshed");
    let c2 = jar.cookies["octogate"].clone();
    let r = env.get(&mut jar, "/oauth2/sign_out", NAV);
    assert_eq!(r.status, 302);
    // A bad cookie and a failed callback are logged too.
    let mut bad = Jar::default();
    bad.cookies
        .insert("octogate".into(), c1[..c1.len() - 5].to_string());
    env.get(&mut bad, "/backend", NAV);
    env.get(
        &mut Jar::default(),
        &format!("/oauth2/callback?code={code}&state={state}"),
        "",
    );
    // Wait for the last lines (every decision above) before searching the whole log.
    assert!(
        log_has(
            &env.og,
            &[
                "sign-in ok",
                "session refreshed",
                "signed out",
                "session cookie rejected",
                "missing_login_cookie"
            ]
        ),
        "the log is live:\n{}",
        env.og.log()
    );
    let log = env.og.log();
    let secrets = [
        ("client secret", secret.to_string()),
        ("authorization code", code),
        ("refresh token", s1.refresh_token.clone().unwrap()),
        ("rotated refresh token", s2.refresh_token.clone().unwrap()),
        ("ID token", s1.id_token_hint.clone().unwrap()),
        ("refreshed ID token", s2.id_token_hint.clone().unwrap()),
        ("session cookie", c1),
        ("refreshed session cookie", c2),
        ("login cookie", login_value),
        ("PKCE verifier", login.pkce_verifier),
        ("nonce", login.nonce),
        ("cookie key", env.key()),
    ];
    for (what, value) in secrets {
        assert!(!log.contains(&value), "the log contains the {what}:\n{log}");
        // Also no recognisable piece of a long value (e.g. a JWT's signature part).
        if value.len() > 60 {
            for piece in value.split('.').filter(|p| p.len() >= 20) {
                assert!(!log.contains(piece), "the log contains part of the {what}");
            }
        }
    }
}

#[test]
fn authorization_response_from_another_issuer_is_refused_rfc9207() {
    let env = Env::start(vec![bob()], "");
    let mut jar = Jar::default();
    let cb = until_callback(
        &mut jar,
        &env.url("/oauth2/start?rd=/backend"),
        "bob",
        "bob-pw",
        false,
    );
    let state = query_param(&cb, "state").unwrap();
    let code = query_param(&cb, "code").unwrap();
    let tokens_before = env.op.stats()["token"].as_u64().unwrap();
    let r = env.get(
        &mut jar.clone(),
        &format!("/oauth2/callback?code={code}&state={state}&iss=https%3A%2F%2Fevil.example"),
        "",
    );
    assert_signin_error_page(&r, 400);
    assert_eq!(
        env.op.stats()["token"].as_u64().unwrap(),
        tokens_before,
        "the code was sent to the token endpoint"
    );
    // The genuine response (the OP's own iss) still completes.
    let iss = url::form_urlencoded::byte_serialize(env.op.issuer.as_bytes()).collect::<String>();
    let r = env.get(
        &mut jar,
        &format!("/oauth2/callback?code={code}&state={state}&iss={iss}"),
        "",
    );
    assert_eq!(r.status, 302, "{}", r.text());
}
