//! Configuration: one TOML file per site, loaded, resolved (secrets) and validated for meaning.
//!
//! [`load`] returns either a fully valid [`Config`] or every problem found, each naming the file,
//! line, column and key path.
mod duration;
mod raw;
mod secret;
mod validate;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

pub use duration::{format as format_duration, parse as parse_duration};
pub use secret::Secret;
pub use validate::{load, load_str};

/// One problem in a config file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}:{column}: {key}: {message}")]
pub struct ConfigError {
    /// The file (or a label for in-memory configs).
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
    /// Dotted key path, e.g. `session.lifetime`.
    pub key: String,
    /// What was expected.
    pub message: String,
}

/// Every problem found in a config file.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{}", .0.iter().map(|e| e.to_string()).collect::<Vec<_>>().join("\n"))]
pub struct ConfigErrors(pub Vec<ConfigError>);

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// Where audit events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuditTarget {
    /// JSON lines on the log stream, tagged `"log":"audit"`.
    Stdout,
    /// JSON lines appended to a file.
    File(PathBuf),
}

/// How octogate authenticates at the token endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAuthMethod {
    /// HTTP Basic with client id and secret (RFC 6749 §2.3.1).
    ClientSecretBasic,
    /// Client id and secret in the form body.
    ClientSecretPost,
}

/// A fully validated site configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// Where the config came from.
    pub source: String,
    /// `[server]`
    pub server: ServerConfig,
    /// `[upstream]`
    pub upstream: UpstreamConfig,
    /// `[oidc]`
    pub oidc: OidcConfig,
    /// `[session]`
    pub session: SessionConfig,
    /// `[assertion]`
    pub assertion: AssertionConfig,
    /// `[access]`
    pub access: AccessConfig,
}

/// `[server]`
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Listening address.
    pub listen: SocketAddr,
    /// How browsers reach the site; no trailing slash, no path beyond `/`.
    pub public_url: url::Url,
    /// Optional TLS termination.
    pub tls: Option<TlsFiles>,
    /// Proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// Log format.
    pub log_format: LogFormat,
    /// Separate Prometheus listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Audit log destination.
    pub audit_log: AuditTarget,
    /// Time allowed to send request headers.
    pub header_read_timeout: Duration,
    /// Largest request head.
    pub max_header_bytes: usize,
    /// Concurrent connection cap.
    pub max_connections: usize,
    /// Concurrent connections from one client address (IPv6: one /64); trusted proxies exempt.
    pub max_connections_per_client: usize,
    /// Graceful shutdown deadline.
    pub shutdown_grace: Duration,
    /// Longest silence between request-body chunks.
    pub body_read_timeout: Duration,
    /// Longest a response write to a client may wait for the client to read.
    pub send_timeout: Duration,
    /// Idle timeout of upgraded (WebSocket) connections.
    pub tunnel_idle_timeout: Duration,
}

impl ServerConfig {
    /// Whether the public URL is https (cookies get `Secure` and the `__Host-` prefix).
    pub fn is_https(&self) -> bool {
        self.public_url.scheme() == "https"
    }

    /// The public origin without a trailing slash, e.g. `https://site1.example.com`.
    pub fn public_origin(&self) -> String {
        self.public_url.origin().ascii_serialization()
    }
}

/// TLS certificate and key files (PEM).
#[derive(Debug, Clone)]
pub struct TlsFiles {
    /// Certificate chain.
    pub cert: PathBuf,
    /// Private key.
    pub key: PathBuf,
}

/// `[upstream]`
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Base URL of the October site (scheme, host, port; path prefix allowed).
    pub url: url::Url,
    /// Response-header timeout.
    pub timeout: Duration,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
}

/// `[oidc]`
#[derive(Debug, Clone)]
pub struct OidcConfig {
    /// Issuer, exactly as the IdP states it (no trailing slash added or removed).
    pub issuer: String,
    /// Client id.
    pub client_id: String,
    /// Client secret.
    pub client_secret: Secret,
    /// Scopes requested.
    pub scopes: Vec<String>,
    /// Claim carrying groups.
    pub groups_claim: String,
    /// Token endpoint authentication.
    pub token_auth_method: TokenAuthMethod,
    /// Accepted ID-token signature algorithms (asymmetric only).
    pub allowed_algs: Vec<String>,
    /// Clock skew for exp/iat.
    pub clock_skew: Duration,
    /// Where the IdP returns the browser after sign-out.
    pub post_logout_redirect_uri: url::Url,
    /// Timeout of each IdP request.
    pub http_timeout: Duration,
}

/// `[session]`
#[derive(Clone)]
pub struct SessionConfig {
    /// 32-byte AES keys: the first encrypts, all decrypt.
    pub cookie_keys: Vec<[u8; 32]>,
    /// Effective cookie name (with `__Host-` when https).
    pub cookie_name: String,
    /// Whether cookies are `Secure` (public_url is https).
    pub secure: bool,
    /// Absolute lifetime.
    pub lifetime: Duration,
    /// Idle timeout.
    pub idle_timeout: Duration,
    /// Refresh interval.
    pub refresh_interval: Duration,
    /// Grace period when the IdP is unreachable.
    pub refresh_grace: Duration,
    /// Sign-in (login cookie) lifetime.
    pub login_timeout: Duration,
}

impl std::fmt::Debug for SessionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionConfig")
            .field(
                "cookie_keys",
                &format_args!("[{} keys ****]", self.cookie_keys.len()),
            )
            .field("cookie_name", &self.cookie_name)
            .field("lifetime", &self.lifetime)
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

/// `[assertion]`
#[derive(Clone)]
pub struct AssertionConfig {
    /// Ed25519 signing key.
    pub signing_key: ed25519_dalek::SigningKey,
    /// Earlier public keys still published.
    pub previous_public_keys: Vec<ed25519_dalek::VerifyingKey>,
    /// `aud` claim.
    pub audience: String,
    /// Assertion lifetime.
    pub lifetime: Duration,
}

impl std::fmt::Debug for AssertionConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AssertionConfig")
            .field("signing_key", &"****")
            .field("audience", &self.audience)
            .field("lifetime", &self.lifetime)
            .finish_non_exhaustive()
    }
}

/// `[access]`
#[derive(Debug, Clone)]
pub struct AccessConfig {
    /// Protected path prefixes.
    pub protect: Vec<String>,
    /// Public exceptions inside the protected area.
    pub public: Vec<String>,
    /// Groups allowed in (empty: everyone).
    pub allowed_groups: Vec<String>,
    /// Allowed email domains (empty: any).
    pub allowed_email_domains: Vec<String>,
    /// Role for allowed users matching no rule.
    pub default_role: Option<String>,
    /// Show allowed groups on the deny page.
    pub show_groups_on_deny: bool,
    /// Whom to ask, on the deny page.
    pub contact: String,
    /// Group → role rules, first match wins.
    pub roles: Vec<RoleRule>,
}

/// One `[[access.roles]]` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleRule {
    /// Okta group.
    pub group: String,
    /// October role code.
    pub role: String,
    /// Whether the user becomes an October superuser.
    pub superuser: bool,
}

impl Config {
    /// A short human summary with secrets masked (for `check-config`).
    pub fn summary(&self) -> String {
        let s = &self.server;
        let mut out = String::new();
        let push = |out: &mut String, line: String| {
            out.push_str(&line);
            out.push('\n');
        };
        push(&mut out, format!("config:            {}", self.source));
        push(
            &mut out,
            format!(
                "listen:            {}{}",
                s.listen,
                if s.tls.is_some() { " (TLS)" } else { "" }
            ),
        );
        push(&mut out, format!("public_url:        {}", s.public_url));
        push(
            &mut out,
            format!(
                "trusted_proxies:   {:?}",
                s.trusted_proxies
                    .iter()
                    .map(|n| n.to_string())
                    .collect::<Vec<_>>()
            ),
        );
        push(
            &mut out,
            format!(
                "upstream:          {} (timeout {})",
                self.upstream.url,
                format_duration(self.upstream.timeout)
            ),
        );
        push(&mut out, format!("oidc.issuer:       {}", self.oidc.issuer));
        push(
            &mut out,
            format!("oidc.client_id:    {}", self.oidc.client_id),
        );
        push(
            &mut out,
            format!("oidc.client_secret: {}", self.oidc.client_secret),
        );
        push(
            &mut out,
            format!("oidc.scopes:       {}", self.oidc.scopes.join(" ")),
        );
        push(
            &mut out,
            format!(
                "session.cookie:    {} ({} key(s) ****, lifetime {}, idle {}, refresh every {})",
                self.session.cookie_name,
                self.session.cookie_keys.len(),
                format_duration(self.session.lifetime),
                format_duration(self.session.idle_timeout),
                format_duration(self.session.refresh_interval)
            ),
        );
        push(&mut out, format!("assertion:         aud={} lifetime={} signing key **** ({} previous public key(s))",
            self.assertion.audience, format_duration(self.assertion.lifetime), self.assertion.previous_public_keys.len()));
        push(
            &mut out,
            format!("access.protect:    {:?}", self.access.protect),
        );
        push(
            &mut out,
            format!("access.public:     {:?}", self.access.public),
        );
        push(
            &mut out,
            format!("access.allowed_groups: {:?}", self.access.allowed_groups),
        );
        for r in &self.access.roles {
            push(
                &mut out,
                format!(
                    "  role: {} -> {}{}",
                    r.group,
                    r.role,
                    if r.superuser { " (superuser)" } else { "" }
                ),
            );
        }
        if let Some(d) = &self.access.default_role {
            push(&mut out, format!("  default role: {d}"));
        }
        out
    }
}
