//! Access control through the real binary: path normalisation against a recording upstream,
//! public exceptions, role mapping and denial with the real OpenID Provider, group removal seen at
//! refresh, `check-config` rules for `[access]`, and redirects built from `public_url` only.
mod common;

use std::time::Duration;

use common::access::*;
use common::op::*;
use common::*;

/// What octogate must do with a raw request target under `protect = ["/backend"]`.
#[derive(Debug, Clone)]
enum Want {
    /// Refused with 400 (never forwarded, signed in or not).
    Refused,
    /// Protected: sign-in redirect / 401 without a session; with one, the upstream receives
    /// exactly this target.
    Protected(String),
}

use Want::*;

fn p(s: &str) -> Want {
    Protected(s.to_string())
}

/// The raw request targets of the brief plus path-confusion tricks from the public history of
/// auth proxies and web servers. `port` is octogate's, for the absolute-form targets.
fn hostile_targets(port: u16) -> Vec<(String, Want)> {
    let mut v: Vec<(String, Want)> = vec![
        ("/backend".into(), p("/backend")),
        ("/backend/".into(), p("/backend/")),
        ("//backend".into(), p("/backend")),
        ("/Backend".into(), p("/Backend")),
        ("/BACKEND/users".into(), p("/BACKEND/users")),
        ("/./backend".into(), p("/backend")),
        ("/x/../backend".into(), p("/backend")),
        ("/%62ackend".into(), p("/backend")),
        ("/%62%61ckend/x".into(), p("/backend/x")),
        ("/backend;x".into(), p("/backend;x")),
        ("/backend%00".into(), Refused),
        ("/backend/..%2f".into(), Refused),
        ("/backend%2fx".into(), Refused),
        ("/back%5cend".into(), Refused),
        ("/backend\\x".into(), Refused),
        ("/%2e%2e/backend".into(), p("/backend")),
        ("/x/%2e%2e/backend".into(), p("/backend")),
        ("/x/.%2e/backend".into(), p("/backend")),
        ("/backend%3bx".into(), p("/backend%3Bx")),
        ("/backend/./".into(), p("/backend/")),
        ("/backend?x".into(), p("/backend?x")),
        ("/backend#x".into(), p("/backend")),
        ("/index.php/backend".into(), p("/index.php/backend")),
        (
            "/index.php/backend/users".into(),
            p("/index.php/backend/users"),
        ),
        ("/backend%252f".into(), p("/backend%252f")),
        ("/backend/x/..;/y".into(), Refused),
        ("/%2Fbackend".into(), Refused),
        ("/backend/%2e/".into(), p("/backend/")),
        ("/./././backend".into(), p("/backend")),
        ("//./backend".into(), p("/backend")),
        ("/backend%09".into(), Refused),
        ("/backend%20".into(), p("/backend%20")),
        ("/ backend".into(), Refused),
        (format!("http://127.0.0.1:{port}/backend"), p("/backend")),
        // --- more from the public record ---
        // Absolute-form with a foreign or odd authority: the path decides, never the host.
        ("http://evil.example/backend".into(), p("/backend")),
        (format!("http://127.0.0.1:{port}//backend"), p("/backend")),
        (
            format!("http://127.0.0.1:{port}/%62ackend/x"),
            p("/backend/x"),
        ),
        (
            format!("http://127.0.0.1:{port}/x/../backend"),
            p("/backend"),
        ),
        // Tomcat/Spring path parameters (`..;`), CVE-2020-1957 style.
        ("/backend/..;/".into(), Refused),
        ("/..;/backend".into(), Refused),
        ("/x/..;/backend".into(), Refused),
        (
            "/backend;jsessionid=1/users".into(),
            p("/backend;jsessionid=1/users"),
        ),
        ("/backend/.;/users".into(), Refused),
        // Apache CVE-2021-41773/42013 style encoded dots.
        ("/x/.%2E/backend".into(), p("/backend")),
        ("/x/%2E./backend".into(), p("/backend")),
        ("/x/%2e%2E/%2e%2e/backend/users".into(), p("/backend/users")),
        ("/.%2e/.%2e/backend".into(), p("/backend")),
        ("/%2e/backend".into(), p("/backend")),
        ("/backend/%2e%2e/backend/x".into(), p("/backend/x")),
        // Encoded separators in every spelling (nginx/Envoy/Pomerium %2F and %5C issues).
        ("/%2fbackend".into(), Refused),
        ("/..%2Fbackend".into(), Refused),
        ("/x%2F..%2Fbackend".into(), Refused),
        ("/%5Cbackend".into(), Refused),
        ("/x/..%5Cbackend".into(), Refused),
        ("/backend%2F".into(), Refused),
        ("/backend%5c".into(), Refused),
        // Case games on the prefix and on escapes.
        ("/BaCkEnD".into(), p("/BaCkEnD")),
        ("/%42ACKEND".into(), p("/BACKEND")),
        ("/back%65nd".into(), p("/backend")),
        ("/back%45ND".into(), p("/backEND")),
        // Control characters, CRLF injection, broken escapes.
        ("/backend%0d%0aX-Injected:%20yes".into(), Refused),
        ("/backend%0a".into(), Refused),
        ("/backend%7f".into(), Refused),
        ("/%00/backend".into(), Refused),
        ("/backend%".into(), Refused),
        ("/backend%zz".into(), Refused),
        ("/backend%u002f".into(), Refused),
        ("/backend%2".into(), Refused),
        // Trailing junk some servers ignore (IIS/Windows trailing dot, encoded space, NBSP).
        ("/backend.".into(), p("/backend.")),
        ("/backend%2e".into(), p("/backend.")),
        ("/backend%a0".into(), p("/backend%A0")),
        ("/backend%ff".into(), p("/backend%FF")),
        ("/backend~".into(), p("/backend~")),
        ("/backend%7E".into(), p("/backend~")),
        ("/backendx".into(), p("/backendx")),
        // PHP front controller PATH_INFO routing in every spelling.
        ("/INDEX.PHP/BACKEND".into(), p("/INDEX.PHP/BACKEND")),
        ("/index%2ephp/backend".into(), p("/index.php/backend")),
        ("/index.php//backend".into(), p("/index.php/backend")),
        ("/index.php/./backend".into(), p("/index.php/backend")),
        ("/index.php/x/../backend".into(), p("/index.php/backend")),
        ("/index.php/%62ackend".into(), p("/index.php/backend")),
        ("/x/index.php/backend".into(), p("/x/index.php/backend")),
        ("/index.php%2fbackend".into(), Refused),
        ("/index.php/Backend;x".into(), p("/index.php/Backend;x")),
        // Repeated slashes and dots everywhere.
        ("///backend".into(), p("/backend")),
        ("/.//backend//".into(), p("/backend/")),
        ("/x/y/../../backend".into(), p("/backend")),
        ("/../../../backend".into(), p("/backend")),
        ("/x/..//backend".into(), p("/backend")),
        // Raw characters a request line must not hold.
        ("/backend\tx".into(), Refused),
        ("/back\u{7f}end".into(), Refused),
    ];
    // Non-ASCII raw bytes (UTF-8 fullwidth solidus before backend).
    v.push(("/\u{ff0f}backend".into(), Refused));
    v
}

/// Spoofed identity headers a client sends along: they must never help.
const SPOOF: &str = "X-Forwarded-User: u-bob\r\nX-Forwarded-Groups: admins\r\nX-Octogate-Assertion: forged\r\nX-Original-URI: /\r\nX-Forwarded-Uri: /\r\nX-Original-URL: /\r\n";

fn start_with_op(
    users: &[User],
    access: Option<&str>,
    session_extra: &str,
) -> (Upstream, Op, Octogate, String) {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    let base = format!("http://127.0.0.1:{}", spec.port);
    let op = Op::start(&[("octogate-test", "test-secret", &base)], users);
    spec.issuer = op.issuer.clone();
    if let Some(a) = access {
        spec.access = a.to_string();
    }
    spec.session_extra = session_extra.to_string();
    let og = Octogate::start(&spec);
    assert!(
        og.wait_ready(Duration::from_secs(15)),
        "octogate never became ready:\n{}",
        og.log()
    );
    (up, op, og, base)
}

#[test]
fn hostile_paths_never_reach_the_upstream_unauthenticated_and_signed_in_get_the_normalised_path() {
    let (up, op, og, base) = start_with_op(&[User::new("u-bob", "bob", &["admins"])], None, "");
    let targets = hostile_targets(og.addr.port());
    let mut failures = Vec::new();
    let host = og.addr.to_string();

    // 1. Without a session: a sign-in redirect to the OP (navigation), 401 (anything else) or 400.
    for (target, want) in &targets {
        for (label, extra) in [
            ("navigation", NAV.to_string()),
            ("api", String::new()),
            ("spoofed", format!("{NAV}{SPOOF}")),
        ] {
            let before = up.count();
            let r = send_target(og.addr, "GET", target, &host, &extra);
            let after = up.count();
            if after != before {
                failures.push(format!(
                    "{target:?} ({label}): REACHED THE UPSTREAM unauthenticated as {:?}",
                    up.last().map(|s| s.target)
                ));
                continue;
            }
            let ok = match (want, label) {
                (Refused, _) => r.status == 400,
                (Protected(_), "api") => r.status == 401,
                (Protected(_), _) => {
                    r.status == 302
                        && r.header("location")
                            .is_some_and(|l| l.starts_with(&op.issuer))
                }
            };
            if !ok {
                failures.push(format!(
                    "{target:?} ({label}): want {want:?}, got {} location={:?}",
                    r.status,
                    r.header("location")
                ));
            }
        }
    }
    // Every method, not only GET (no OPTIONS/HEAD shortcut around authentication).
    for method in [
        "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "PROPFIND", "TRACE", "HEAD",
    ] {
        for target in ["/backend", "/%62ackend/users", "/index.php/backend"] {
            let before = up.count();
            let r = send_target(og.addr, method, target, &host, "content-length: 0\r\norigin: http://evil.example\r\naccess-control-request-method: POST\r\n");
            // TRACE is refused for every path before authentication (405).
            let want = if method == "TRACE" { 405 } else { 401 };
            if up.count() != before || r.status != want {
                failures.push(format!(
                    "{method} {target}: status {} upstream grew {}",
                    r.status,
                    up.count() - before
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "unauthenticated:\n{}",
        failures.join("\n")
    );

    // 2. Signed in: exactly the normalised target arrives, with the identity.
    let (jar, resp, _) = sign_in(&base, "/backend", "bob");
    assert_eq!(resp.status, 200, "sign-in failed: {}", resp.text());
    let cookie = jar.header();
    for (target, want) in &targets {
        let before = up.count();
        let r = send_target(
            og.addr,
            "GET",
            target,
            &host,
            &format!("{NAV}{SPOOF}{cookie}"),
        );
        match want {
            Refused => {
                if r.status != 400 || up.count() != before {
                    failures.push(format!("{target:?} (signed in): want 400 and no upstream request, got {} (upstream +{})", r.status, up.count() - before));
                }
            }
            Protected(path) => {
                if r.status != 200 || up.count() != before + 1 {
                    failures.push(format!(
                        "{target:?} (signed in): want 200 via the upstream, got {} (upstream +{})",
                        r.status,
                        up.count() - before
                    ));
                    continue;
                }
                let seen = up.last().unwrap();
                if &seen.target != path {
                    failures.push(format!(
                        "{target:?} (signed in): upstream saw {:?}, want {path:?}",
                        seen.target
                    ));
                }
                if seen.header("x-forwarded-user") != Some("u-bob")
                    || seen
                        .header("x-octogate-assertion")
                        .is_none_or(|a| a == "forged")
                {
                    failures.push(format!(
                        "{target:?} (signed in): identity missing or spoofed: {:?}",
                        seen.headers
                    ));
                }
                for h in ["x-original-uri", "x-forwarded-uri", "x-original-url"] {
                    if seen.header(h).is_some() {
                        failures.push(format!("{target:?}: client's {h} reached the upstream"));
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "signed in:\n{}", failures.join("\n"));
}

/// Paths outside the protected area are forwarded in the same normalised form the decision was
/// made on, so the upstream cannot resolve them into the protected area.
#[test]
fn open_paths_reach_the_upstream_in_the_form_that_was_judged() {
    let up = Upstream::start();
    let og = Octogate::start(&ConfigSpec::new(&up.url()));
    let cases = [
        ("/", "/"),
        ("/blog/backend", "/blog/backend"),
        ("/backend/%2e%2e/blog", "/blog"),
        ("/backend/../blog", "/blog"),
        ("/backend/x/../../blog?q=/backend", "/blog?q=/backend"),
        ("/%252e%252e/backend", "/%252e%252e/backend"),
        ("/;x/backend", "/;x/backend"),
        ("/index.phpx/backend", "/index.phpx/backend"),
        ("/back", "/back"),
        ("/%C0%AE%C0%AE/backend", "/%C0%AE%C0%AE/backend"),
    ];
    for (target, want) in cases {
        let before = up.count();
        let r = send_target(og.addr, "GET", target, &og.addr.to_string(), SPOOF);
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert_eq!(up.count(), before + 1, "{target}");
        let seen = up.last().unwrap();
        assert_eq!(seen.target, want, "{target}");
        assert!(
            seen.header("x-forwarded-user").is_none()
                && seen.header("x-octogate-assertion").is_none(),
            "{target}: {:?}",
            seen.headers
        );
    }
}

const PUBLIC_ACCESS: &str = "protect = [\"/backend\"]\npublic = [\"/backend/assets\"]\nallowed_groups = [\"admins\"]\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\n";

#[test]
fn public_exception_is_exact_and_strips_identity() {
    let up = Upstream::start();
    let mut spec = ConfigSpec::new(&up.url());
    spec.access = PUBLIC_ACCESS.into();
    let og = Octogate::start(&spec);
    let host = og.addr.to_string();
    for (target, want) in [
        ("/backend/assets/x.css", "/backend/assets/x.css"),
        ("/backend/assets", "/backend/assets"),
        ("/backend/assets/", "/backend/assets/"),
        (
            "/Backend/Assets/js/app.js?v=1",
            "/Backend/Assets/js/app.js?v=1",
        ),
        ("//backend//assets/x.css", "/backend/assets/x.css"),
        ("/backend/x/../assets/x.css", "/backend/assets/x.css"),
        // Unreserved escapes are decoded before the decision: the upstream sees the plain name.
        ("/backend/assets/%41.css", "/backend/assets/A.css"),
    ] {
        let before = up.count();
        let r = send_target(og.addr, "GET", target, &host, SPOOF);
        assert_eq!(r.status, 200, "{target}: {}", r.text());
        assert_eq!(up.count(), before + 1, "{target}");
        let seen = up.last().unwrap();
        assert_eq!(seen.target, want);
        let leaked: Vec<_> = seen
            .headers
            .iter()
            .filter(|(k, _)| {
                k.to_ascii_lowercase().starts_with("x-octogate")
                    || k.eq_ignore_ascii_case("x-forwarded-user")
                    || k.eq_ignore_ascii_case("x-forwarded-groups")
            })
            .collect();
        assert!(
            leaked.is_empty(),
            "{target}: identity headers reached the upstream: {leaked:?}"
        );
    }
    for (target, status) in [
        ("/backend/assetsX", 401),
        ("/backend/assetsx/y.css", 401),
        ("/backend/x?p=/backend/assets", 401),
        ("/backend/x%23/backend/assets", 401),
        ("/backend/assets/../users", 401),
        ("/backend/assets/%2e%2e/users", 401),
        ("/backend/assets/./../users", 401),
        ("/backend/assets/..;/users", 400),
        ("/backend/assets;/x.css", 401),
        ("/backend/assets/x.css;/../../users", 401),
        ("/backend/assets%2f..%2fusers", 400),
        ("/backend/assets%2F..%2Fusers", 400),
        ("/backend/assets%5c..%5cusers", 400),
        ("/backend/assets/%2e%2e%2fusers", 400),
        ("/backend/assets/x%3f/../../users", 401),
        // Any remaining escape or `;` inside the exception fails closed (documented rule).
        ("/backend/assets/x%20y.css", 401),
        ("/backend/assets/x%3B.css", 401),
        ("/index.php/backend/assets/x.css", 401),
        ("/backend", 401),
        ("/backend/", 401),
    ] {
        let before = up.count();
        let r = send_target(og.addr, "GET", target, &host, SPOOF);
        assert_eq!(r.status, status, "{target}: {}", r.text());
        assert_eq!(
            up.count(),
            before,
            "{target} reached the upstream as {:?}",
            up.last().map(|s| s.target)
        );
    }
}

fn user_json(
    id: &str,
    login: &str,
    email: &str,
    verified: bool,
    groups: &[&str],
) -> serde_json::Value {
    serde_json::json!({
        "id": id, "login": login, "password": format!("{login}-pw"), "email": email,
        "email_verified": verified, "name": format!("{login} Example"), "preferred_username": login, "groups": groups,
    })
}

/// Several octogate sites (one OP client each) with different `[access]` rules, one OP.
struct Sites {
    up: Upstream,
    op: Op,
    sites: Vec<(Octogate, String)>,
}

fn sites(users: serde_json::Value, accesses: &[&str]) -> Sites {
    let up = Upstream::start();
    let specs: Vec<ConfigSpec> = accesses
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let mut s = ConfigSpec::new(&up.url());
            s.client_id = format!("site{i}");
            s.access = a.to_string();
            s
        })
        .collect();
    let bases: Vec<String> = specs
        .iter()
        .map(|s| format!("http://127.0.0.1:{}", s.port))
        .collect();
    let clients: Vec<(String, String, String)> = specs
        .iter()
        .zip(&bases)
        .map(|(s, b)| (s.client_id.clone(), "test-secret".to_string(), b.clone()))
        .collect();
    let client_refs: Vec<(&str, &str, &str)> = clients
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    let op = Op::start_with(&client_refs, &[], serde_json::json!({ "users": users }));
    let sites = specs
        .into_iter()
        .zip(bases)
        .map(|(mut s, b)| {
            s.issuer = op.issuer.clone();
            let og = Octogate::start(&s);
            assert!(
                og.wait_ready(Duration::from_secs(15)),
                "not ready:\n{}",
                og.log()
            );
            (og, b)
        })
        .collect();
    Sites { up, op, sites }
}

fn assertion_role(og: &Octogate, base: &str, token: &str) -> (String, bool) {
    use base64::Engine;
    let b = base64::engine::general_purpose::STANDARD
        .decode(&og.keys.public_b64)
        .unwrap();
    let key = ed25519_dalek::VerifyingKey::from_bytes(&<[u8; 32]>::try_from(b.as_slice()).unwrap())
        .unwrap();
    let v = octogate::assertion::Verifier::new(&[key], base.to_string(), "site1".into(), 30);
    let c = v
        .verify(token, octogate::app::unix_now())
        .expect("assertion verifies");
    (c.role, c.superuser)
}

#[test]
fn role_mapping_first_match_default_role_and_deny_page_through_the_real_flow() {
    let users = serde_json::json!([
        user_json(
            "u-alice",
            "alice",
            "alice@example.com",
            true,
            &["editors", "admins", "staff"]
        ),
        user_json("u-carol", "carol", "carol@example.com", true, &["staff"]),
        user_json("u-dave", "dave", "dave@example.com", true, &[]),
        user_json(
            "u-eve",
            "eve",
            "eve<b>@example.com",
            true,
            &["staff", "secret-admins"]
        ),
    ]);
    // Site 0: no gate, first match in file order, default role.
    let open = "protect = [\"/backend\"]\ndefault_role = \"viewer\"\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\nsuperuser = true\n\n[[access.roles]]\ngroup = \"editors\"\nrole = \"publisher\"\n";
    // Site 1: the same rules in the other order.
    let reversed = "protect = [\"/backend\"]\ndefault_role = \"viewer\"\n\n[[access.roles]]\ngroup = \"editors\"\nrole = \"publisher\"\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\nsuperuser = true\n";
    // Site 2: gated, no default role, groups hidden on the deny page.
    let gated = "protect = [\"/backend\"]\nallowed_groups = [\"admins\", \"editors\"]\ncontact = \"it-help@example.com\"\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\n";
    // Site 3: gated, groups shown on the deny page.
    let shown = "protect = [\"/backend\"]\nallowed_groups = [\"admins\", \"editors\"]\nshow_groups_on_deny = true\ncontact = \"it-help@example.com\"\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\n";
    let s = sites(users, &[open, reversed, gated, shown]);
    let role_at = |site: usize, login: &str| -> (u16, Option<(String, bool)>, RawResponse) {
        let (og, base) = &s.sites[site];
        let before = s.up.count();
        let (_jar, resp, url) = sign_in(base, "/backend/cms", login);
        assert!(
            url.starts_with(base.as_str()),
            "{login}@{site} ended at {url}"
        );
        if resp.status == 200 {
            assert_eq!(s.up.count(), before + 1);
            let seen = s.up.last().unwrap();
            let role = assertion_role(
                og,
                base,
                seen.header("x-octogate-assertion").expect("assertion"),
            );
            (resp.status, Some(role), resp)
        } else {
            assert_eq!(s.up.count(), before, "denied request reached the upstream");
            (resp.status, None, resp)
        }
    };
    // First match in file order, not the user's group order.
    assert_eq!(role_at(0, "alice").1, Some(("developer".into(), true)));
    assert_eq!(role_at(1, "alice").1, Some(("publisher".into(), false)));
    // default_role (never superuser) for users matching no rule, with or without groups.
    assert_eq!(role_at(0, "carol").1, Some(("viewer".into(), false)));
    assert_eq!(role_at(0, "dave").1, Some(("viewer".into(), false)));
    // Gated: alice allowed via admins; carol denied.
    assert_eq!(role_at(2, "alice").1, Some(("developer".into(), false)));
    let (status, _, resp) = role_at(2, "carol");
    assert_eq!(status, 403);
    let html = resp.text();
    assert!(html.contains("id=\"octogate-denied\""), "{html}");
    assert!(
        html.contains("carol@example.com"),
        "who they are signed in as: {html}"
    );
    assert!(html.contains("it-help@example.com"), "contact: {html}");
    assert!(
        html.contains("href=\"/oauth2/sign_out\""),
        "sign-out link: {html}"
    );
    assert!(
        !html.contains("admins") && !html.contains("editors"),
        "groups listed without show_groups_on_deny: {html}"
    );
    // Gated, allowed but no role and no default: denied too.
    let (status, _, _) = role_at(2, "dave");
    assert_eq!(status, 403);
    // show_groups_on_deny lists the allowed groups (never the user's own), HTML-escaped identity.
    let (status, _, resp) = role_at(3, "eve");
    assert_eq!(status, 403);
    let html = resp.text();
    assert!(html.contains("id=\"octogate-denied\""));
    assert!(
        html.contains("admins") && html.contains("editors"),
        "{html}"
    );
    assert!(
        !html.contains("secret-admins") && !html.contains("staff"),
        "the user's own groups leaked: {html}"
    );
    assert!(
        html.contains("eve&lt;b&gt;@example.com") && !html.contains("eve<b>"),
        "identity not escaped: {html}"
    );
    drop(s.op);
}

#[test]
fn allowed_email_domains_through_the_real_flow() {
    let users = serde_json::json!([
        user_json("u-ok", "okuser", "okuser@example.com", true, &[]),
        user_json("u-sub", "subuser", "subuser@eu.example.com", true, &[]),
        user_json("u-unv", "unverified", "unverified@example.com", false, &[]),
        user_json("u-evil1", "evil1", "evil1@evilexample.com", true, &[]),
        user_json("u-evil2", "evil2", "evil2@example.com.evil.net", true, &[]),
        user_json("u-evil3", "evil3", "evil3@evil.net@example.com", true, &[]),
        user_json("u-evil4", "evil4", "EVIL4@EXAMPLE.COM.", true, &[]),
        user_json(
            "u-evil5",
            "evil5",
            "\"evil5@evil.net\"@example.com",
            true,
            &[]
        ),
    ]);
    let access = "protect = [\"/backend\"]\nallowed_email_domains = [\"example.com\"]\ndefault_role = \"viewer\"\n";
    let s = sites(users, &[access]);
    let (_og, base) = &s.sites[0];
    for (login, want) in [
        ("okuser", 200),
        ("subuser", 200),
        ("unverified", 403),
        ("evil1", 403),
        ("evil2", 403),
        ("evil3", 403),
        ("evil4", 403),
        ("evil5", 403),
    ] {
        let before = s.up.count();
        let (_jar, resp, _url) = sign_in(base, "/backend", login);
        assert_eq!(resp.status, want, "{login}: {}", resp.text());
        assert_eq!(s.up.count(), before + usize::from(want == 200), "{login}");
        if want == 403 {
            assert!(resp.text().contains("id=\"octogate-denied\""));
        }
    }
}

/// The hostile email table at the policy level (addresses the OP would not hand out).
#[test]
fn email_domain_policy_hostile_table() {
    use octogate::access::{Decision, DenyReason, Policy};
    use octogate::config::AccessConfig;
    use octogate::identity::{Grant, Identity};
    let p = Policy::new(&AccessConfig {
        protect: vec!["/backend".into()],
        public: vec![],
        allowed_groups: vec![],
        allowed_email_domains: vec!["example.com".into()],
        default_role: Some("viewer".into()),
        show_groups_on_deny: false,
        contact: "x".into(),
        roles: vec![],
    });
    let id = |email: Option<&str>, verified: bool| Identity {
        sub: "s".into(),
        email: email.map(str::to_string),
        email_verified: verified,
        name: None,
        preferred_username: None,
        groups: vec![],
    };
    let allow = Decision::Allow(Grant {
        role: "viewer".into(),
        superuser: false,
    });
    let bad = Decision::Deny(DenyReason::EmailDomainNotAllowed);
    let cases: Vec<(Option<&str>, bool, Decision)> = vec![
        (Some("a@example.com"), true, allow.clone()),
        (Some("a@EXAMPLE.com"), true, allow.clone()),
        (Some("a@x.example.com"), true, allow.clone()),
        (
            Some("a@example.com"),
            false,
            Decision::Deny(DenyReason::EmailNotVerified),
        ),
        (Some("a@evilexample.com"), true, bad.clone()),
        (Some("a@example.com.evil.net"), true, bad.clone()),
        (Some("a@evil.net@example.com"), true, bad.clone()),
        (Some("a@example.com@evil.net"), true, bad.clone()),
        (Some("\"a@evil.net\"@example.com"), true, bad.clone()),
        (Some("a@example.com."), true, bad.clone()),
        (Some("a@.example.com"), true, bad.clone()),
        (Some("a@example..com"), true, bad.clone()),
        (Some("a@-example.com"), true, bad.clone()),
        (Some("a@exam_ple.com"), true, bad.clone()),
        (Some("a@example.com%00"), true, bad.clone()),
        (Some("a@example.com\0"), true, bad.clone()),
        (Some("a@example.com\r\n"), true, bad.clone()),
        (Some("a@example.com "), true, bad.clone()),
        (Some(" a@example.com"), true, bad.clone()),
        (Some("a@exаmple.com"), true, bad.clone()), // Cyrillic а
        (Some("a@xn--exmple-4nf.com"), true, bad.clone()),
        (Some("a@example.com/x"), true, bad.clone()),
        (Some("a@example.com?x"), true, bad.clone()),
        (Some("a@example.com#x"), true, bad.clone()),
        (Some("a@[127.0.0.1]"), true, bad.clone()),
        (Some("a(comment)@example.com"), true, bad.clone()),
        (Some("a@example.com(comment)"), true, bad.clone()),
        (Some("@example.com"), true, bad.clone()),
        (Some("example.com"), true, bad.clone()),
        (Some(""), true, bad.clone()),
        (None, true, bad.clone()),
    ];
    for (email, verified, want) in cases {
        assert_eq!(
            p.decide(&id(email, verified)),
            want,
            "{email:?} verified={verified}"
        );
    }
}

#[test]
fn group_removed_at_the_idp_is_denied_after_refresh() {
    let (up, op, og, base) = start_with_op(
        &[User::new("u-bob", "bob", &["admins"])],
        None,
        "refresh_interval = \"2s\"\n",
    );
    let (mut jar, resp, _) = sign_in(&base, "/backend", "bob");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let r = jar_get(&mut jar, &format!("{base}/backend/cms"), "");
    assert_eq!(r.status, 200);
    op.set_groups("u-bob", &["staff"]);
    // Within the refresh interval the session still stands (the cookie is the cache) ...
    std::thread::sleep(Duration::from_millis(2600));
    let before = up.count();
    let r = jar_get(&mut jar, &format!("{base}/backend/cms"), "");
    assert_eq!(r.status, 403, "after refresh: {}", r.text());
    assert!(r.text().contains("id=\"octogate-denied\""));
    assert_eq!(up.count(), before, "a denied request reached the upstream");
    // ... and it stays denied (the refreshed session was written back, no allow from the old one).
    let r = jar_get(&mut jar, &format!("{base}/backend"), "");
    assert_eq!(r.status, 403);
    // Back in the group: allowed again after the next refresh.
    op.set_groups("u-bob", &["editors"]);
    std::thread::sleep(Duration::from_millis(2600));
    let r = jar_get(&mut jar, &format!("{base}/backend"), "");
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        up.last().unwrap().header("x-forwarded-groups"),
        Some("editors")
    );
    let _ = og;
}

/// A config whose `[access]` is `access`, written to a file; returns (path, text).
fn access_config(tag: &str, access: &str) -> (std::path::PathBuf, String) {
    let dir = tmpdir(tag);
    let k = keys(&dir);
    let mut spec = ConfigSpec::new("http://127.0.0.1:8080");
    spec.access = access.to_string();
    let text = spec.render(&k);
    let path = dir.join("site.toml");
    std::fs::write(&path, &text).unwrap();
    (path, text)
}

#[test]
fn check_config_rejects_bad_access_rules_with_line_numbers() {
    // The base config must be valid, or the cases below prove nothing.
    let (path, _) = access_config("cc-ok", "protect = [\"/backend\"]\nallowed_groups = [\"admins\"]\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\n");
    let (code, out, err) = check_config(&path);
    assert_eq!(code, 0, "{out}{err}");

    // (tag, [access] body, (needle on the offending line, which occurrence), key, words in the message)
    type Case<'a> = (&'a str, &'a str, (&'a str, usize), &'a str, &'a str);
    let cases: Vec<Case> = vec![
        (
            "cc-notallowed",
            "protect = [\"/backend\"]\nallowed_groups = [\"admins\"]\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\n\n[[access.roles]]\ngroup = \"editors\"\nrole = \"publisher\"\n",
            ("group = \"editors\"", 0),
            "access.roles.group",
            "not in access.allowed_groups",
        ),
        (
            "cc-duprole",
            "protect = [\"/backend\"]\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"publisher\"\n",
            ("group = \"admins\"", 1),
            "access.roles.group",
            "duplicate",
        ),
        (
            "cc-dupallowed",
            "protect = [\"/backend\"]\nallowed_groups = [\"admins\",\n  \"editors\",\n  \"admins\"]\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"developer\"\n",
            ("  \"admins\"]", 0),
            "access.allowed_groups",
            "duplicate",
        ),
        (
            "cc-emptyrole",
            "protect = [\"/backend\"]\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"\"\n",
            ("role = \"\"", 0),
            "access.roles.role",
            "empty",
        ),
        (
            "cc-blankrole",
            "protect = [\"/backend\"]\n\n[[access.roles]]\ngroup = \"admins\"\nrole = \"   \"\n",
            ("role = \"   \"", 0),
            "access.roles.role",
            "empty",
        ),
        (
            "cc-emptygroup",
            "protect = [\"/backend\"]\n\n[[access.roles]]\ngroup = \"\"\nrole = \"developer\"\n",
            ("group = \"\"", 0),
            "access.roles.group",
            "empty",
        ),
    ];
    for (tag, access, (needle, nth), key, words) in cases {
        let (path, text) = access_config(tag, access);
        let (code, out, err) = check_config(&path);
        assert_eq!(code, 2, "{tag}: exit code; stdout={out} stderr={err}");
        let line = line_of(&text, needle, nth);
        let col = text
            .lines()
            .nth(line - 1)
            .unwrap()
            .find(needle.trim_start().split(" = ").last().unwrap())
            .unwrap()
            + 1;
        let want = format!("{}:{line}:", path.display());
        let hit = err.lines().find(|l| l.contains(&want) && l.contains(key));
        let hit = hit.unwrap_or_else(|| {
            panic!("{tag}: no error at {want} naming {key}:\n{err}\n--- config ---\n{text}")
        });
        assert!(
            hit.contains(&format!("{want}{col}: {key}:")),
            "{tag}: column: want {col}: {hit}"
        );
        assert!(
            hit.to_ascii_lowercase().contains(words),
            "{tag}: message: {hit}"
        );
    }
}

#[test]
fn redirects_come_from_public_url_never_from_host() {
    let (up, op, og, base) = start_with_op(&[User::new("u-bob", "bob", &["admins"])], None, "");
    let callback = format!("{base}/oauth2/callback");
    let variants = [
        ("GET /backend/cms HTTP/1.1", "host: evil.example\r\n"),
        ("GET /backend/cms HTTP/1.1", "host: evil.example\r\nx-forwarded-host: evil.example\r\nx-forwarded-proto: https\r\nforwarded: host=evil.example;proto=https\r\n"),
        ("GET http://evil.example/backend/cms HTTP/1.1", "host: evil.example\r\n"),
        ("GET http://evil.example:8443/backend/cms HTTP/1.1", "host: 127.0.0.1\r\n"),
        ("GET /oauth2/start?rd=/backend/cms HTTP/1.1", "host: evil.example\r\n"),
        ("GET /oauth2/start?rd=//evil.example/x HTTP/1.1", "host: evil.example\r\n"),
        ("GET /oauth2/start?rd=https://evil.example/ HTTP/1.1", "host: evil.example\r\n"),
    ];
    for (line, headers) in variants {
        let r = raw(
            og.addr,
            &format!("{line}\r\n{headers}{NAV}connection: close\r\n\r\n"),
        )
        .unwrap();
        assert_eq!(r.status, 302, "{line}: {}", r.text());
        let loc = r.header("location").unwrap();
        assert!(
            loc.starts_with(&format!("{}/", op.issuer)),
            "{line}: Location {loc}"
        );
        assert_eq!(
            query_param(loc, "redirect_uri").as_deref(),
            Some(callback.as_str()),
            "{line}: {loc}"
        );
        assert!(!loc.contains("evil.example"), "{line}: {loc}");
    }
    assert_eq!(up.count(), 0);
    // The landing redirect after sign-in is local (relative), whatever Host the browser sent.
    let mut jar = Jar::default();
    let (addr, _) = split_url(&base);
    let r = raw(
        addr,
        &format!(
            "GET /backend/cms?x=1 HTTP/1.1\r\nhost: evil.example\r\n{NAV}connection: close\r\n\r\n"
        ),
    )
    .unwrap();
    jar.absorb(&r);
    let (resp, url, _) = navigate(&mut jar, r.header("location").unwrap(), "bob", "bob-pw");
    assert_eq!(resp.status, 200);
    assert_eq!(url, format!("{base}/backend/cms?x=1"));
    // The callback's own Location, checked directly: replay the last hop without following it.
    let (mut jar2, _, _) = sign_in(&base, "/backend", "bob");
    let r = raw(addr, &format!("GET /oauth2/start?rd=/backend/x HTTP/1.1\r\nhost: evil.example\r\n{NAV}{}connection: close\r\n\r\n", jar2.header())).unwrap();
    jar2.absorb(&r);
    let to_op = r.header("location").unwrap().to_string();
    let back = jar_get(&mut jar2, &to_op, ""); // OP session + grant: straight back with a code
    assert!(
        (300..400).contains(&back.status),
        "OP answered {}: {}",
        back.status,
        back.text()
    );
    let cb = back
        .header("location")
        .expect("OP redirects back")
        .to_string();
    assert!(cb.starts_with(&callback), "{cb}");
    let (_, cb_path) = split_url(&cb);
    let r = raw(
        addr,
        &format!(
            "GET {cb_path} HTTP/1.1\r\nhost: evil.example\r\n{NAV}{}connection: close\r\n\r\n",
            jar2.header()
        ),
    )
    .unwrap();
    assert_eq!(r.status, 302, "{}", r.text());
    assert_eq!(r.header("location"), Some("/backend/x"));
    // Sign-out goes to the OP with public_url as the post-logout target.
    let r = raw(addr, &format!("GET /oauth2/sign_out HTTP/1.1\r\nhost: evil.example\r\n{NAV}{}connection: close\r\n\r\n", jar2.header())).unwrap();
    let loc = r.header("location").unwrap();
    assert!(loc.starts_with(&op.issuer) || loc.starts_with('/'), "{loc}");
    if let Some(plr) = query_param(loc, "post_logout_redirect_uri") {
        assert_eq!(plr, format!("{base}/"));
    }
    assert!(!loc.contains("evil.example"), "{loc}");
}
