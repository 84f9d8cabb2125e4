//! Every config error class produces its message with the file, line, column and key path; secrets
//! resolve from env:/file:.
use octogate::config::{load_str, ConfigError};

const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIBRH+lbXq1UMWRHjEkNvS8pRh+W4JqV0/YgSDAgUJ/KU\n-----END PRIVATE KEY-----";

fn valid() -> String {
    format!(
        r#"[server]
listen = "127.0.0.1:4180"
public_url = "https://site1.example.com"
trusted_proxies = ["10.0.0.0/8"]

[upstream]
url = "http://127.0.0.1:8080"
timeout = "60s"

[oidc]
issuer = "https://example.okta.com/oauth2/default"
client_id = "0oa123"
client_secret = "literal-secret"

[session]
cookie_keys = ["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="]

[assertion]
signing_key = """{PEM}"""
audience = "site1"

[access]
protect = ["/backend"]
allowed_groups = ["cms-site1-admins", "cms-site1-editors"]

[[access.roles]]
group = "cms-site1-admins"
role = "developer"
superuser = true
"#
    )
}

fn errors(text: &str) -> Vec<ConfigError> {
    match load_str(text, "site.toml") {
        Ok(_) => panic!("config should have been rejected:\n{text}"),
        Err(e) => e.0,
    }
}

/// Replaces the first occurrence of `from` and returns errors; asserts one names `key` on the
/// line where `to` stands, with `needle` in the message.
fn expect_error(from: &str, to: &str, key: &str, needle: &str) {
    let text = valid().replacen(from, to, 1);
    assert_ne!(text, valid(), "replacement {from:?} did not apply");
    let errs = errors(&text);
    // The line of the first line of `to` that is new (not part of `from`).
    let marker = to.lines().find(|l| !from.contains(l.trim())).unwrap_or(to);
    let line = text.lines().position(|l| l.contains(marker)).map(|i| i + 1);
    let hit = errs
        .iter()
        .find(|e| e.key == key && e.message.contains(needle));
    let Some(e) = hit else {
        panic!("no error for {key} containing {needle:?}; got {errs:#?}")
    };
    assert_eq!(e.file, "site.toml");
    if !to.is_empty() {
        assert_eq!(Some(e.line), line, "wrong line for {key}: {e}");
    }
    assert!(e.column >= 1);
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("site.toml:{}:", e.line)),
        "{shown}"
    );
}

#[test]
fn the_valid_config_loads() {
    let cfg = load_str(&valid(), "site.toml").expect("valid");
    assert_eq!(cfg.session.cookie_name, "__Host-octogate");
    assert!(cfg.session.secure);
    assert_eq!(cfg.session.lifetime.as_secs(), 8 * 3600);
    assert_eq!(cfg.access.roles.len(), 1);
    let summary = cfg.summary();
    assert!(
        !summary.contains("literal-secret"),
        "summary leaks the client secret"
    );
    assert!(summary.contains("****"));
}

#[test]
fn unknown_keys_are_errors_with_their_path() {
    expect_error(
        "timeout = \"60s\"",
        "timeout = \"60s\"\ntimout = \"5s\"",
        "upstream.timout",
        "unknown field",
    );
    expect_error(
        "[session]\n",
        "[session]\nlifetme = \"1h\"\n",
        "session.lifetme",
        "unknown field",
    );
    expect_error(
        "superuser = true",
        "superuser = true\nsuperusr = true",
        "access.roles.superusr",
        "unknown field",
    );
}

#[test]
fn syntax_and_type_errors_name_the_line() {
    expect_error(
        "timeout = \"60s\"",
        "timeout = 60",
        "upstream.timeout",
        "string",
    );
    expect_error(
        "audience = \"site1\"",
        "audience = site1",
        "assertion.audience",
        "",
    );
}

#[test]
fn durations() {
    expect_error(
        "timeout = \"60s\"",
        "timeout = \"sixty\"",
        "upstream.timeout",
        "expected a duration",
    );
    expect_error(
        "[session]\n",
        "[session]\nlifetime = \"5\"\n",
        "session.lifetime",
        "unit",
    );
    expect_error(
        "[session]\n",
        "[session]\nidle_timeout = \"1s\"\n",
        "session.idle_timeout",
        "between",
    );
}

#[test]
fn urls_must_mean_something() {
    expect_error(
        "public_url = \"https://site1.example.com\"",
        "public_url = \"http://site1.example.com\"",
        "server.public_url",
        "https",
    );
    expect_error(
        "public_url = \"https://site1.example.com\"",
        "public_url = \"https://site1.example.com/sub\"",
        "server.public_url",
        "origin",
    );
    expect_error(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"ftp://127.0.0.1\"",
        "upstream.url",
        "http(s)",
    );
    expect_error(
        "url = \"http://127.0.0.1:8080\"",
        "url = \"http://user:pw@127.0.0.1\"",
        "upstream.url",
        "credentials",
    );
    expect_error(
        "issuer = \"https://example.okta.com/oauth2/default\"",
        "issuer = \"http://example.okta.com\"",
        "oidc.issuer",
        "https",
    );
    expect_error(
        "listen = \"127.0.0.1:4180\"",
        "listen = \"localhost\"",
        "server.listen",
        "IP:PORT",
    );
    expect_error(
        "trusted_proxies = [\"10.0.0.0/8\"]",
        "trusted_proxies = [\"10.0.0.0/33\"]",
        "server.trusted_proxies",
        "CIDR",
    );
}

#[test]
fn loopback_http_is_allowed() {
    let text = valid()
        .replace("https://site1.example.com", "http://127.0.0.1:4180")
        .replace(
            "https://example.okta.com/oauth2/default",
            "http://localhost:9000",
        );
    let cfg = load_str(&text, "site.toml").expect("loopback http is fine");
    assert_eq!(
        cfg.session.cookie_name, "octogate",
        "no __Host- prefix without https"
    );
    assert!(!cfg.session.secure);
}

#[test]
fn keys_are_checked() {
    expect_error(
        "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "c2hvcnQ=",
        "session.cookie_keys",
        "32 bytes",
    );
    expect_error(
        "cookie_keys = [\"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"]",
        "cookie_keys = []",
        "session.cookie_keys",
        "at least one",
    );
    let text = valid().replace(PEM, "not a pem");
    let errs = errors(&text);
    assert!(
        errs.iter()
            .any(|e| e.key == "assertion.signing_key" && e.message.contains("Ed25519")),
        "{errs:#?}"
    );
    expect_error(
        "[assertion]\n",
        "[assertion]\nprevious_public_keys = [\"bm9wZQ==\"]\n",
        "assertion.previous_public_keys",
        "32-byte",
    );
}

#[test]
fn oidc_algorithms_are_asymmetric_only() {
    expect_error(
        "client_secret = \"literal-secret\"",
        "client_secret = \"literal-secret\"\nallowed_algs = [\"HS256\"]",
        "oidc.allowed_algs",
        "not allowed",
    );
    expect_error(
        "client_secret = \"literal-secret\"",
        "client_secret = \"literal-secret\"\nallowed_algs = [\"none\"]",
        "oidc.allowed_algs",
        "not allowed",
    );
    expect_error(
        "client_secret = \"literal-secret\"",
        "client_secret = \"literal-secret\"\nscopes = [\"email\"]",
        "oidc.scopes",
        "openid",
    );
    expect_error(
        "client_secret = \"literal-secret\"",
        "client_secret = \"literal-secret\"\ntoken_auth_method = \"private_key_jwt\"",
        "oidc.token_auth_method",
        "client_secret_basic",
    );
}

#[test]
fn access_rules_are_checked() {
    expect_error(
        "group = \"cms-site1-admins\"",
        "group = \"cms-other\"",
        "access.roles.group",
        "not in access.allowed_groups",
    );
    expect_error(
        "role = \"developer\"",
        "role = \"\"",
        "access.roles.role",
        "must not be empty",
    );
    let dup = valid() + "\n[[access.roles]]\ngroup = \"cms-site1-admins\"\nrole = \"publisher\"\n";
    let errs = errors(&dup);
    let e = errs
        .iter()
        .find(|e| e.message.contains("duplicate group"))
        .expect("duplicate reported");
    assert_eq!(e.line, dup.lines().count() - 1, "{e}");
    expect_error(
        "protect = [\"/backend\"]",
        "protect = [\"backend\"]",
        "access.protect",
        "starting with one '/'",
    );
    expect_error(
        "protect = [\"/backend\"]",
        "protect = [\"/backend/../x\"]",
        "access.protect",
        ". or ..",
    );
    expect_error(
        "allowed_groups = [\"cms-site1-admins\", \"cms-site1-editors\"]",
        "allowed_groups = [\"cms-site1-admins\", \"cms-site1-admins\"]",
        "access.allowed_groups",
        "duplicate",
    );
}

#[test]
fn every_problem_is_listed_at_once() {
    let text = valid()
        .replace("timeout = \"60s\"", "timeout = \"soon\"")
        .replace("role = \"developer\"", "role = \"\"")
        .replace("c2hvcnQ=", "")
        .replace("audience = \"site1\"", "audience = \"\"");
    let errs = errors(&text);
    assert!(errs.len() >= 3, "{errs:#?}");
}

#[test]
fn env_and_file_secrets() {
    std::env::set_var("OCTOGATE_TEST_CLIENT_SECRET", "from-env");
    let dir = std::env::temp_dir().join(format!("og-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("key.pem");
    std::fs::write(&pem, format!("{PEM}\n")).unwrap();
    let text = valid()
        .replace("\"literal-secret\"", "\"env:OCTOGATE_TEST_CLIENT_SECRET\"")
        .replace(
            &format!("\"\"\"{PEM}\"\"\""),
            &format!("\"file:{}\"", pem.display()),
        );
    let cfg = load_str(&text, "site.toml").expect("env/file secrets resolve");
    assert_eq!(cfg.oidc.client_secret.expose(), "from-env");
    assert!(
        !format!("{:?}", cfg.oidc).contains("from-env"),
        "Debug leaks the secret"
    );
    let missing = valid().replace(
        "\"literal-secret\"",
        "\"env:OCTOGATE_TEST_NOT_SET_ANYWHERE\"",
    );
    let errs = errors(&missing);
    assert!(
        errs.iter().any(|e| e.key == "oidc.client_secret"
            && e.message
                .contains("OCTOGATE_TEST_NOT_SET_ANYWHERE is not set")),
        "{errs:#?}"
    );
    let nofile = valid().replace(
        &format!("\"\"\"{PEM}\"\"\""),
        "\"file:/nonexistent/octogate.pem\"",
    );
    let errs = errors(&nofile);
    assert!(
        errs.iter()
            .any(|e| e.key == "assertion.signing_key"
                && e.message.contains("/nonexistent/octogate.pem")),
        "{errs:#?}"
    );
}

#[test]
fn check_config_command_exit_codes() {
    let dir = std::env::temp_dir().join(format!("og-cc-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let good = dir.join("good.toml");
    std::fs::write(&good, valid()).unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_octogate"))
        .args(["check-config"])
        .arg(&good)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("OK") && !stdout.contains("literal-secret"),
        "{stdout}"
    );
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        valid().replace("timeout = \"60s\"", "timeout = \"x\"\nbogus = 1"),
    )
    .unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_octogate"))
        .args(["check-config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("bad.toml:"), "{stderr}");
    assert!(
        stderr.contains("upstream.bogus") || stderr.contains("upstream.timeout"),
        "{stderr}"
    );
}
