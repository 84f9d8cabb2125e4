//! From TOML text to a validated [`Config`], collecting every problem with its position.
use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use ed25519_dalek::pkcs8::DecodePrivateKey;

use super::raw::{RawConfig, S};
use super::*;

/// Loads and validates a config file.
pub fn load(path: &Path) -> Result<Config, ConfigErrors> {
    let label = path.display().to_string();
    match std::fs::read_to_string(path) {
        Ok(text) => load_str(&text, &label),
        Err(e) => Err(ConfigErrors(vec![ConfigError {
            file: label,
            line: 0,
            column: 0,
            key: "(file)".into(),
            message: format!("cannot read config file: {e}"),
        }])),
    }
}

/// Validates config text; `label` names it in errors.
pub fn load_str(text: &str, label: &str) -> Result<Config, ConfigErrors> {
    let mut v = Validator {
        text,
        label,
        errors: Vec::new(),
    };
    let raw: RawConfig = match toml::from_str(text) {
        Ok(r) => r,
        Err(e) => {
            let span = e.span().unwrap_or(0..0);
            let key = key_path_at(text, span.start);
            let msg = e.message().trim().to_string();
            v.push(span, &key, msg);
            return Err(ConfigErrors(v.errors));
        }
    };
    let cfg = v.build(raw);
    match cfg {
        Some(c) if v.errors.is_empty() => Ok(c),
        _ => Err(ConfigErrors(v.errors)),
    }
}

/// Finds the dotted key path of the value at byte offset `at` from the nearest table header above
/// it and the key on its line.
fn key_path_at(text: &str, at: usize) -> String {
    let at = at.min(text.len());
    let before = &text[..at];
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[at..].find('\n').map(|i| at + i).unwrap_or(text.len());
    let line = text[line_start..line_end].trim();
    let mut table = String::new();
    for l in text[..line_start].lines().rev() {
        let l = l.trim();
        if l.starts_with('[') {
            table = l.trim_matches(|c| c == '[' || c == ']').trim().to_string();
            break;
        }
    }
    if line.starts_with('[') {
        return line
            .trim_matches(|c| c == '[' || c == ']')
            .trim()
            .to_string();
    }
    let key = line
        .split('=')
        .next()
        .unwrap_or("")
        .trim()
        .trim_matches('"');
    match (table.is_empty(), key.is_empty()) {
        (true, _) => key.to_string(),
        (false, true) => table,
        (false, false) => format!("{table}.{key}"),
    }
}

struct Validator<'a> {
    text: &'a str,
    label: &'a str,
    errors: Vec<ConfigError>,
}

impl Validator<'_> {
    fn push(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        let at = span.start.min(self.text.len());
        let before = &self.text[..at];
        let line = before.matches('\n').count() + 1;
        let column = at - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        self.errors.push(ConfigError {
            file: self.label.to_string(),
            line,
            column,
            key: key.to_string(),
            message: message.into(),
        });
    }

    /// Pushes an error located at a table header (for missing keys).
    fn push_table(&mut self, table: &str, key: &str, message: impl Into<String>) {
        let needle = format!("[{table}]");
        let at = self.text.find(&needle).unwrap_or(0);
        self.push(at..at, key, message);
    }

    fn duration(
        &mut self,
        v: &Option<S>,
        key: &str,
        default: &str,
        min: Duration,
        max: Duration,
    ) -> Duration {
        let Some(s) = v else {
            return parse_duration(default).unwrap_or(min);
        };
        match parse_duration(s.get_ref()) {
            Ok(d) if d < min || d > max => {
                self.push(
                    s.span(),
                    key,
                    format!(
                        "must be between {} and {}, found {:?}",
                        format_duration(min),
                        format_duration(max),
                        s.get_ref()
                    ),
                );
                min
            }
            Ok(d) => d,
            Err(e) => {
                self.push(s.span(), key, e);
                min
            }
        }
    }

    fn secret(&mut self, s: &S, key: &str) -> Option<Secret> {
        match secret::resolve(s.get_ref()) {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(s.span(), key, e);
                None
            }
        }
    }

    fn url(&mut self, s: &S, key: &str, what: &str) -> Option<url::Url> {
        match url::Url::parse(s.get_ref()) {
            Ok(u)
                if matches!(u.scheme(), "http" | "https")
                    && u.host_str().is_some_and(|h| !h.is_empty()) =>
            {
                if !u.username().is_empty() || u.password().is_some() {
                    self.push(
                        s.span(),
                        key,
                        format!("{what} must not contain credentials"),
                    );
                    return None;
                }
                if u.fragment().is_some() {
                    self.push(
                        s.span(),
                        key,
                        format!("{what} must not contain a #fragment"),
                    );
                    return None;
                }
                Some(u)
            }
            Ok(_) => {
                self.push(
                    s.span(),
                    key,
                    format!(
                        "{what} must be an http(s) URL with a host, found {:?}",
                        s.get_ref()
                    ),
                );
                None
            }
            Err(e) => {
                self.push(
                    s.span(),
                    key,
                    format!("{what} is not a valid URL ({e}): {:?}", s.get_ref()),
                );
                None
            }
        }
    }

    fn https_unless_loopback(&mut self, s: &S, u: &url::Url, key: &str) {
        if u.scheme() != "https" && !is_loopback_host(u) {
            self.push(
                s.span(),
                key,
                "must be https unless its host is loopback (127.0.0.1, ::1, localhost)",
            );
        }
    }

    fn socket(&mut self, s: &S, key: &str) -> Option<SocketAddr> {
        match s.get_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.push(
                    s.span(),
                    key,
                    format!(
                        "expected IP:PORT like \"0.0.0.0:4180\" or \"[::1]:4180\", found {:?}",
                        s.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn path_prefixes(&mut self, items: &[S], key: &str) -> Vec<String> {
        let mut out = Vec::new();
        for p in items {
            let v = p.get_ref();
            if !v.starts_with('/')
                || v.starts_with("//")
                || v.contains(['?', '#', '\\', '%', ';'])
                || v.chars().any(|c| c.is_control() || c.is_whitespace())
            {
                self.push(p.span(), key, format!("expected a plain path starting with one '/', without ?, #, %, ;, \\ or spaces, found {v:?}"));
                continue;
            }
            if v.split('/').any(|seg| seg == "." || seg == "..") {
                self.push(
                    p.span(),
                    key,
                    format!("path must not contain . or .. segments, found {v:?}"),
                );
                continue;
            }
            // "/backend/" would leave "/backend" itself open: protect the bare prefix.
            let trimmed = v.trim_end_matches('/');
            out.push(if trimmed.is_empty() {
                "/".to_string()
            } else {
                trimmed.to_string()
            });
        }
        out
    }

    fn build(&mut self, raw: RawConfig) -> Option<Config> {
        // [server]
        let rs = &raw.server;
        let listen = match &rs.listen {
            Some(s) => self.socket(s, "server.listen"),
            None => Some(SocketAddr::from(([0, 0, 0, 0], 4180))),
        };
        let public_url = self.url(&rs.public_url, "server.public_url", "public_url");
        if let Some(u) = &public_url {
            self.https_unless_loopback(&rs.public_url, u, "server.public_url");
            if u.path() != "/" || u.query().is_some() {
                self.push(rs.public_url.span(), "server.public_url", "must be an origin (scheme, host, port) without a path or query: octogate serves the whole site");
            }
        }
        let tls = match (&rs.tls_cert, &rs.tls_key) {
            (Some(c), Some(k)) => {
                for (f, key) in [(c, "server.tls_cert"), (k, "server.tls_key")] {
                    if !Path::new(f.get_ref()).is_file() {
                        self.push(f.span(), key, format!("file not found: {}", f.get_ref()));
                    }
                }
                Some(TlsFiles {
                    cert: PathBuf::from(c.get_ref()),
                    key: PathBuf::from(k.get_ref()),
                })
            }
            (Some(s), None) | (None, Some(s)) => {
                self.push(
                    s.span(),
                    "server.tls_cert",
                    "tls_cert and tls_key go together: give both or neither",
                );
                None
            }
            (None, None) => None,
        };
        let mut trusted_proxies = Vec::new();
        for p in &rs.trusted_proxies {
            let v = p.get_ref();
            let parsed = v
                .parse::<ipnet::IpNet>()
                .or_else(|_| v.parse::<IpAddr>().map(ipnet::IpNet::from));
            match parsed {
                Ok(n) => trusted_proxies.push(n.trunc()),
                Err(_) => self.push(
                    p.span(),
                    "server.trusted_proxies",
                    format!("expected a CIDR like \"10.0.0.0/8\" or an IP address, found {v:?}"),
                ),
            }
        }
        let log_format = match rs.log_format.as_ref().map(|s| (s.get_ref().as_str(), s)) {
            None | Some(("text", _)) => LogFormat::Text,
            Some(("json", _)) => LogFormat::Json,
            Some((other, s)) => {
                self.push(
                    s.span(),
                    "server.log_format",
                    format!("expected \"text\" or \"json\", found {other:?}"),
                );
                LogFormat::Text
            }
        };
        let metrics_listen = rs
            .metrics_listen
            .as_ref()
            .and_then(|s| self.socket(s, "server.metrics_listen"));
        let audit_log = match &rs.audit_log {
            None => AuditTarget::Stdout,
            Some(s) if s.get_ref() == "stdout" => AuditTarget::Stdout,
            Some(s) if s.get_ref().starts_with('/') => {
                AuditTarget::File(PathBuf::from(s.get_ref()))
            }
            Some(s) => {
                self.push(
                    s.span(),
                    "server.audit_log",
                    "expected \"stdout\" or an absolute file path",
                );
                AuditTarget::Stdout
            }
        };
        let header_read_timeout = self.duration(
            &rs.header_read_timeout,
            "server.header_read_timeout",
            "10s",
            Duration::from_secs(1),
            Duration::from_secs(300),
        );
        let max_header_bytes = self.int(
            &rs.max_header_bytes,
            "server.max_header_bytes",
            32768,
            4096,
            1 << 20,
        );
        let max_connections = self.int(
            &rs.max_connections,
            "server.max_connections",
            4096,
            1,
            1_000_000,
        );
        let max_connections_per_client = self.int(
            &rs.max_connections_per_client,
            "server.max_connections_per_client",
            512,
            1,
            1_000_000,
        );
        let shutdown_grace = self.duration(
            &rs.shutdown_grace,
            "server.shutdown_grace",
            "30s",
            Duration::ZERO,
            Duration::from_secs(3600),
        );
        let send_timeout = self.duration(
            &rs.send_timeout,
            "server.send_timeout",
            "60s",
            Duration::from_secs(1),
            Duration::from_secs(3600),
        );
        let body_read_timeout = self.duration(
            &rs.body_read_timeout,
            "server.body_read_timeout",
            "30s",
            Duration::from_secs(1),
            Duration::from_secs(3600),
        );
        let tunnel_idle_timeout = self.duration(
            &rs.tunnel_idle_timeout,
            "server.tunnel_idle_timeout",
            "10m",
            Duration::from_secs(1),
            Duration::from_secs(86400),
        );

        // [upstream]
        let ru = &raw.upstream;
        let upstream_url = self.url(&ru.url, "upstream.url", "upstream.url");
        if let Some(u) = &upstream_url {
            if u.query().is_some() {
                self.push(ru.url.span(), "upstream.url", "must not contain a query");
            }
        }
        let up_timeout = self.duration(
            &ru.timeout,
            "upstream.timeout",
            "60s",
            Duration::from_secs(1),
            Duration::from_secs(86400),
        );
        let up_connect = self.duration(
            &ru.connect_timeout,
            "upstream.connect_timeout",
            "5s",
            Duration::from_secs(1),
            Duration::from_secs(300),
        );

        // [oidc]
        let ro = &raw.oidc;
        let issuer = ro.issuer.get_ref().clone();
        match url::Url::parse(&issuer) {
            Ok(u) if matches!(u.scheme(), "http" | "https") && u.host_str().is_some() && u.query().is_none() && u.fragment().is_none() => {
                self.https_unless_loopback(&ro.issuer, &u, "oidc.issuer");
            }
            _ => self.push(ro.issuer.span(), "oidc.issuer", format!("expected the issuer URL, e.g. \"https://ORG.okta.com/oauth2/default\", found {issuer:?}")),
        }
        if ro.client_id.get_ref().trim().is_empty() {
            self.push(ro.client_id.span(), "oidc.client_id", "must not be empty");
        }
        let client_secret = self.secret(&ro.client_secret, "oidc.client_secret");
        let scopes = match &ro.scopes {
            Some(s) => {
                if !s.get_ref().iter().any(|x| x == "openid") {
                    self.push(s.span(), "oidc.scopes", "must include \"openid\"");
                }
                if s.get_ref()
                    .iter()
                    .any(|x| x.is_empty() || x.contains(char::is_whitespace))
                {
                    self.push(
                        s.span(),
                        "oidc.scopes",
                        "scopes must be non-empty and contain no spaces",
                    );
                }
                s.get_ref().clone()
            }
            None => ["openid", "email", "profile", "groups", "offline_access"]
                .map(String::from)
                .to_vec(),
        };
        let groups_claim = ro
            .groups_claim
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| "groups".into());
        if groups_claim.is_empty() {
            if let Some(s) = &ro.groups_claim {
                self.push(s.span(), "oidc.groups_claim", "must not be empty");
            }
        }
        let token_auth_method = match ro
            .token_auth_method
            .as_ref()
            .map(|s| (s.get_ref().as_str(), s))
        {
            None | Some(("client_secret_basic", _)) => TokenAuthMethod::ClientSecretBasic,
            Some(("client_secret_post", _)) => TokenAuthMethod::ClientSecretPost,
            Some((other, s)) => {
                self.push(s.span(), "oidc.token_auth_method", format!("expected \"client_secret_basic\" or \"client_secret_post\", found {other:?}"));
                TokenAuthMethod::ClientSecretBasic
            }
        };
        const ASYMMETRIC: [&str; 10] = [
            "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512",
            "EdDSA",
        ];
        let allowed_algs = match &ro.allowed_algs {
            Some(s) => {
                if s.get_ref().is_empty() {
                    self.push(
                        s.span(),
                        "oidc.allowed_algs",
                        "must list at least one algorithm",
                    );
                }
                for a in s.get_ref() {
                    if !ASYMMETRIC.contains(&a.as_str()) {
                        self.push(s.span(), "oidc.allowed_algs", format!("{a:?} is not allowed: only asymmetric algorithms ({}) are accepted", ASYMMETRIC.join(", ")));
                    }
                }
                s.get_ref().clone()
            }
            None => vec!["RS256".to_string()],
        };
        let clock_skew = self.duration(
            &ro.clock_skew,
            "oidc.clock_skew",
            "60s",
            Duration::ZERO,
            Duration::from_secs(600),
        );
        let post_logout = match &ro.post_logout_redirect_uri {
            Some(s) => self.url(
                s,
                "oidc.post_logout_redirect_uri",
                "post_logout_redirect_uri",
            ),
            None => public_url.clone(),
        };
        let http_timeout = self.duration(
            &ro.http_timeout,
            "oidc.http_timeout",
            "10s",
            Duration::from_secs(1),
            Duration::from_secs(120),
        );

        // [session]
        let rss = &raw.session;
        let mut cookie_keys = Vec::new();
        if rss.cookie_keys.get_ref().is_empty() {
            self.push(
                rss.cookie_keys.span(),
                "session.cookie_keys",
                "needs at least one key (`octogate keygen` prints one)",
            );
        }
        for k in rss.cookie_keys.get_ref() {
            if let Some(sec) = self.secret(k, "session.cookie_keys") {
                match decode_key32(sec.expose()) {
                    Some(b) => cookie_keys.push(b),
                    None => self.push(k.span(), "session.cookie_keys", "each key must be base64 of exactly 32 bytes (`octogate keygen` prints one)"),
                }
            }
        }
        let secure = public_url.as_ref().is_some_and(|u| u.scheme() == "https");
        let base_name = rss
            .cookie_name
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| "octogate".into());
        if base_name.is_empty()
            || base_name.len() > 64
            || !base_name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
            || base_name.starts_with("__")
        {
            if let Some(s) = &rss.cookie_name {
                self.push(s.span(), "session.cookie_name", "expected 1-64 characters of A-Z a-z 0-9 _ - (not starting with __; the __Host- prefix is added for https)");
            }
        }
        let cookie_name = if secure {
            format!("__Host-{base_name}")
        } else {
            base_name
        };
        let lifetime = self.duration(
            &rss.lifetime,
            "session.lifetime",
            "8h",
            Duration::from_secs(60),
            Duration::from_secs(30 * 86400),
        );
        let idle_timeout = self.duration(
            &rss.idle_timeout,
            "session.idle_timeout",
            "30m",
            Duration::from_secs(60),
            Duration::from_secs(30 * 86400),
        );
        let refresh_interval = self.duration(
            &rss.refresh_interval,
            "session.refresh_interval",
            "5m",
            Duration::from_secs(1),
            Duration::from_secs(86400),
        );
        let refresh_grace = self.duration(
            &rss.refresh_grace,
            "session.refresh_grace",
            "15m",
            Duration::ZERO,
            Duration::from_secs(86400),
        );
        let login_timeout = self.duration(
            &rss.login_timeout,
            "session.login_timeout",
            "10m",
            Duration::from_secs(30),
            Duration::from_secs(3600),
        );

        // [assertion]
        let ra = &raw.assertion;
        let signing_key = self.secret(&ra.signing_key, "assertion.signing_key").and_then(|sec| {
            match ed25519_dalek::SigningKey::from_pkcs8_pem(sec.expose()) {
                Ok(k) => Some(k),
                Err(_) => {
                    self.push(ra.signing_key.span(), "assertion.signing_key", "expected an Ed25519 private key in PKCS#8 PEM (`octogate keygen` prints one)");
                    None
                }
            }
        });
        let mut previous_public_keys = Vec::new();
        for k in &ra.previous_public_keys {
            match decode_key32(k.get_ref())
                .and_then(|b| ed25519_dalek::VerifyingKey::from_bytes(&b).ok())
            {
                Some(vk) => previous_public_keys.push(vk),
                None => self.push(
                    k.span(),
                    "assertion.previous_public_keys",
                    "each key must be base64 of a raw 32-byte Ed25519 public key",
                ),
            }
        }
        let audience = ra.audience.get_ref().clone();
        if audience.trim().is_empty() {
            self.push(
                ra.audience.span(),
                "assertion.audience",
                "must not be empty (one value per site, e.g. \"site1\")",
            );
        }
        let a_lifetime = self.duration(
            &ra.lifetime,
            "assertion.lifetime",
            "60s",
            Duration::from_secs(5),
            Duration::from_secs(300),
        );

        // [access]
        let rac = &raw.access;
        let protect = match &rac.protect {
            Some(p) => {
                if p.get_ref().is_empty() {
                    self.push(
                        p.span(),
                        "access.protect",
                        "needs at least one path prefix (e.g. \"/backend\")",
                    );
                }
                self.path_prefixes(p.get_ref(), "access.protect")
            }
            None => vec!["/backend".to_string()],
        };
        let public = self.path_prefixes(&rac.public, "access.public");
        let mut allowed_groups = Vec::new();
        let mut seen = HashSet::new();
        for g in &rac.allowed_groups {
            if g.get_ref().is_empty() {
                self.push(
                    g.span(),
                    "access.allowed_groups",
                    "group names must not be empty",
                );
            } else if !seen.insert(g.get_ref().clone()) {
                self.push(
                    g.span(),
                    "access.allowed_groups",
                    format!("duplicate group {:?}", g.get_ref()),
                );
            } else {
                allowed_groups.push(g.get_ref().clone());
            }
        }
        let mut allowed_email_domains = Vec::new();
        for d in &rac.allowed_email_domains {
            let v = d
                .get_ref()
                .trim()
                .trim_start_matches('@')
                .to_ascii_lowercase();
            if v.is_empty()
                || v.contains(['@', '/', ' '])
                || v.starts_with('.')
                || v.ends_with('.')
                || !v.contains('.')
            {
                self.push(
                    d.span(),
                    "access.allowed_email_domains",
                    format!(
                        "expected a domain like \"company.com\", found {:?}",
                        d.get_ref()
                    ),
                );
            } else {
                allowed_email_domains.push(v);
            }
        }
        let default_role = match &rac.default_role {
            Some(s) if s.get_ref().trim().is_empty() => {
                self.push(
                    s.span(),
                    "access.default_role",
                    "must not be empty (leave it out to deny users who match no role)",
                );
                None
            }
            Some(s) => Some(s.get_ref().clone()),
            None => None,
        };
        let mut roles = Vec::new();
        let mut role_groups = HashSet::new();
        for r in &rac.roles {
            let g = r.group.get_ref();
            if g.is_empty() {
                self.push(r.group.span(), "access.roles.group", "must not be empty");
            } else if !role_groups.insert(g.clone()) {
                self.push(
                    r.group.span(),
                    "access.roles.group",
                    format!("duplicate group {g:?}: the first entry would always win"),
                );
            } else if !allowed_groups.is_empty() && !allowed_groups.contains(g) {
                self.push(r.group.span(), "access.roles.group", format!("group {g:?} is not in access.allowed_groups, so this entry could never apply"));
            }
            if r.role.get_ref().trim().is_empty() {
                self.push(
                    r.role.span(),
                    "access.roles.role",
                    "role code must not be empty",
                );
            }
            roles.push(RoleRule {
                group: g.clone(),
                role: r.role.get_ref().clone(),
                superuser: r.superuser,
            });
        }
        if roles.is_empty() && default_role.is_none() {
            self.push_table(
                "access",
                "access.roles",
                "no [[access.roles]] entry and no access.default_role: every user would be denied",
            );
        }
        let contact = rac
            .contact
            .as_ref()
            .map(|s| s.get_ref().clone())
            .unwrap_or_else(|| "your site administrator".into());

        Some(Config {
            source: self.label.to_string(),
            server: ServerConfig {
                listen: listen?,
                public_url: public_url?,
                tls,
                trusted_proxies,
                log_format,
                metrics_listen,
                audit_log,
                header_read_timeout,
                max_header_bytes,
                max_connections,
                max_connections_per_client,
                shutdown_grace,
                body_read_timeout,
                send_timeout,
                tunnel_idle_timeout,
            },
            upstream: UpstreamConfig {
                url: upstream_url?,
                timeout: up_timeout,
                connect_timeout: up_connect,
            },
            oidc: OidcConfig {
                issuer,
                client_id: ro.client_id.get_ref().clone(),
                client_secret: client_secret?,
                scopes,
                groups_claim,
                token_auth_method,
                allowed_algs,
                clock_skew,
                post_logout_redirect_uri: post_logout?,
                http_timeout,
            },
            session: SessionConfig {
                cookie_keys,
                cookie_name,
                secure,
                lifetime,
                idle_timeout,
                refresh_interval,
                refresh_grace,
                login_timeout,
            },
            assertion: AssertionConfig {
                signing_key: signing_key?,
                previous_public_keys,
                audience,
                lifetime: a_lifetime,
            },
            access: AccessConfig {
                protect,
                public,
                allowed_groups,
                allowed_email_domains,
                default_role,
                show_groups_on_deny: rac.show_groups_on_deny.unwrap_or(false),
                contact,
                roles,
            },
        })
    }

    fn int(
        &mut self,
        v: &Option<toml::Spanned<i64>>,
        key: &str,
        default: usize,
        min: usize,
        max: usize,
    ) -> usize {
        match v {
            None => default,
            Some(s) => {
                let n = *s.get_ref();
                if n < min as i64 || n > max as i64 {
                    self.push(
                        s.span(),
                        key,
                        format!("must be between {min} and {max}, found {n}"),
                    );
                    default
                } else {
                    n as usize
                }
            }
        }
    }
}

fn is_loopback_host(u: &url::Url) -> bool {
    match u.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Decodes base64 (standard or URL-safe, padded or not) into exactly 32 bytes.
pub(crate) fn decode_key32(text: &str) -> Option<[u8; 32]> {
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    let t = text.trim();
    let bytes = STANDARD
        .decode(t)
        .or_else(|_| STANDARD_NO_PAD.decode(t))
        .or_else(|_| URL_SAFE.decode(t))
        .or_else(|_| URL_SAFE_NO_PAD.decode(t))
        .ok()?;
    bytes.try_into().ok()
}
