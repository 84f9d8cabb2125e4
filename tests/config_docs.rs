//! The config reference cannot drift: every key of the config structs in `src/config/raw.rs`
//! is documented in `docs/configuration.md` (as `section.key` in a table row) and present in
//! `config/example.toml` (commented-out keys count), and neither names a key the code lacks.
use std::collections::BTreeSet;
use std::path::PathBuf;

fn repo_file(path: &str) -> String {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Struct name → config section.
const SECTIONS: [(&str, &str); 7] = [
    ("RawServer", "server"),
    ("RawUpstream", "upstream"),
    ("RawOidc", "oidc"),
    ("RawSession", "session"),
    ("RawAssertion", "assertion"),
    ("RawAccess", "access"),
    ("RawRole", "access.roles"),
];

/// Every `section.key` from the `pub <name>:` fields inside each `Raw*` struct of raw.rs.
fn code_keys() -> BTreeSet<String> {
    let src = repo_file("src/config/raw.rs");
    let mut keys = BTreeSet::new();
    let mut seen_structs = BTreeSet::new();
    let mut current: Option<&str> = None;
    for line in src.lines() {
        let t = line.trim();
        if let Some(rest) = t.strip_prefix("pub struct ") {
            let name = rest
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .next()
                .unwrap_or("");
            current = SECTIONS
                .iter()
                .find(|(s, _)| *s == name)
                .map(|(_, sec)| *sec);
            if name.starts_with("Raw") && name != "RawConfig" {
                assert!(current.is_some(), "raw.rs has a config struct {name} this test does not map to a section: add it to SECTIONS");
                seen_structs.insert(name.to_string());
            }
            continue;
        }
        if t == "}" {
            current = None;
            continue;
        }
        if let (Some(section), Some(rest)) = (current, t.strip_prefix("pub ")) {
            if let Some((name, _)) = rest.split_once(':') {
                let name = name.trim().trim_start_matches("r#");
                assert!(
                    name.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'),
                    "odd field {name:?}"
                );
                keys.insert(format!("{section}.{name}"));
            }
        }
    }
    for (s, _) in SECTIONS {
        assert!(
            seen_structs.contains(s),
            "struct {s} not found in raw.rs: update this test"
        );
    }
    assert!(
        keys.len() > 40,
        "suspiciously few keys parsed from raw.rs: {keys:?}"
    );
    keys
}

/// Every `section.key` named as the first cell of a table row in docs/configuration.md.
fn doc_keys() -> BTreeSet<String> {
    let doc = repo_file("docs/configuration.md");
    let mut keys = BTreeSet::new();
    for line in doc.lines() {
        let t = line.trim();
        if !t.starts_with('|') {
            continue;
        }
        let first = t
            .trim_start_matches('|')
            .split('|')
            .next()
            .unwrap_or("")
            .trim();
        if let Some(key) = first.strip_prefix('`').and_then(|k| k.strip_suffix('`')) {
            if key.contains('.') {
                keys.insert(key.to_string());
            }
        }
    }
    keys
}

/// Every key in config/example.toml, commented out or not: `name = ...` lines (after any `#`)
/// under the nearest `[table]` / `[[table]]` header; a `[[a.b]]` header also counts as key `a.b`.
fn example_keys() -> BTreeSet<String> {
    let text = repo_file("config/example.toml");
    let mut keys = BTreeSet::new();
    let mut table = String::new();
    for line in text.lines() {
        let t = line.trim();
        let uncommented = t.trim_start_matches('#').trim();
        let is_comment = t.starts_with('#');
        if !is_comment && t.starts_with('[') {
            let name = t.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            if t.starts_with("[[") {
                keys.insert(name.clone());
            }
            table = name;
            continue;
        }
        let Some((name, _)) = uncommented.split_once('=') else {
            continue;
        };
        let name = name.trim();
        // Only `identifier = value` lines are keys; prose comments never have that shape.
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            continue;
        }
        assert!(
            !table.is_empty(),
            "key {name} before any table in example.toml"
        );
        keys.insert(format!("{table}.{name}"));
    }
    keys
}

fn diff(a: &BTreeSet<String>, b: &BTreeSet<String>) -> Vec<String> {
    a.difference(b).cloned().collect()
}

#[test]
fn every_config_key_is_documented_and_nothing_else() {
    let code = code_keys();
    let docs = doc_keys();
    let missing = diff(&code, &docs);
    let stale = diff(&docs, &code);
    assert!(
        missing.is_empty(),
        "keys in src/config/raw.rs but not in a table row of docs/configuration.md: {missing:?}"
    );
    assert!(
        stale.is_empty(),
        "keys in docs/configuration.md that src/config/raw.rs does not have: {stale:?}"
    );
}

#[test]
fn every_config_key_is_in_the_example_and_nothing_else() {
    let code = code_keys();
    let example = example_keys();
    let missing = diff(&code, &example);
    let stale = diff(&example, &code);
    assert!(missing.is_empty(), "keys in src/config/raw.rs but not in config/example.toml (commented out is fine): {missing:?}");
    assert!(
        stale.is_empty(),
        "keys in config/example.toml that src/config/raw.rs does not have: {stale:?}"
    );
}

#[test]
fn the_example_config_is_valid_apart_from_its_secrets() {
    // The example refers to env:/file: secrets; give it throwaway ones and it must load.
    let k = octogate::assertion::generate_keys();
    let dir = std::env::temp_dir().join(format!("octogate-config-docs-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let pem = dir.join("signing.pem");
    std::fs::write(&pem, &k.signing_key_pem).unwrap();
    let text = repo_file("config/example.toml")
        .replace("\"env:OCTOGATE_CLIENT_SECRET\"", "\"example-secret\"")
        .replace(
            "\"env:OCTOGATE_COOKIE_KEY\"",
            &format!("\"{}\"", k.cookie_key_b64),
        )
        .replace(
            "\"file:/run/secrets/octogate.pem\"",
            &format!("\"file:{}\"", pem.display()),
        );
    let result = octogate::config::load_str(&text, "config/example.toml");
    let _ = std::fs::remove_dir_all(&dir);
    if let Err(e) = result {
        panic!("config/example.toml does not load:\n{e}");
    }
}

#[test]
fn the_extractors_see_what_they_should() {
    // Guards against a parser that silently finds nothing (which would make the checks vacuous).
    let code = code_keys();
    for k in [
        "server.listen",
        "oidc.post_logout_redirect_uri",
        "access.roles",
        "access.roles.superuser",
        "session.cookie_keys",
    ] {
        assert!(code.contains(k), "{k} not extracted from raw.rs");
    }
    assert!(!code
        .iter()
        .any(|k| k.starts_with("server.server") || k == "server" || k.starts_with("config.")));
    let example = example_keys();
    assert!(
        example.contains("server.tls_cert"),
        "commented-out keys count"
    );
    assert!(example.contains("access.roles"));
    assert!(example.contains("access.roles.group"));
}
