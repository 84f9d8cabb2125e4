//! The TOML file as written: every table rejects unknown keys, every value keeps its position so
//! validation errors can name the line.
use serde::Deserialize;
use toml::Spanned;

/// A string value with its position in the file.
pub type S = Spanned<String>;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConfig {
    pub server: RawServer,
    pub upstream: RawUpstream,
    pub oidc: RawOidc,
    pub session: RawSession,
    pub assertion: RawAssertion,
    #[serde(default)]
    pub access: RawAccess,
}

/// `[server]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawServer {
    pub listen: Option<S>,
    pub public_url: S,
    pub tls_cert: Option<S>,
    pub tls_key: Option<S>,
    #[serde(default)]
    pub trusted_proxies: Vec<S>,
    pub log_format: Option<S>,
    pub metrics_listen: Option<S>,
    pub audit_log: Option<S>,
    pub header_read_timeout: Option<S>,
    pub max_header_bytes: Option<Spanned<i64>>,
    pub max_connections: Option<Spanned<i64>>,
    pub max_connections_per_client: Option<Spanned<i64>>,
    pub shutdown_grace: Option<S>,
    pub body_read_timeout: Option<S>,
    pub send_timeout: Option<S>,
    pub tunnel_idle_timeout: Option<S>,
}

/// `[upstream]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawUpstream {
    pub url: S,
    pub timeout: Option<S>,
    pub connect_timeout: Option<S>,
}

/// `[oidc]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawOidc {
    pub issuer: S,
    pub client_id: S,
    pub client_secret: S,
    pub scopes: Option<Spanned<Vec<String>>>,
    pub groups_claim: Option<S>,
    pub token_auth_method: Option<S>,
    pub allowed_algs: Option<Spanned<Vec<String>>>,
    pub clock_skew: Option<S>,
    pub post_logout_redirect_uri: Option<S>,
    pub http_timeout: Option<S>,
}

/// `[session]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSession {
    pub cookie_keys: Spanned<Vec<S>>,
    pub cookie_name: Option<S>,
    pub lifetime: Option<S>,
    pub idle_timeout: Option<S>,
    pub refresh_interval: Option<S>,
    pub refresh_grace: Option<S>,
    pub login_timeout: Option<S>,
}

/// `[assertion]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAssertion {
    pub signing_key: S,
    #[serde(default)]
    pub previous_public_keys: Vec<S>,
    pub audience: S,
    pub lifetime: Option<S>,
}

/// `[access]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAccess {
    pub protect: Option<Spanned<Vec<S>>>,
    #[serde(default)]
    pub public: Vec<S>,
    #[serde(default)]
    pub allowed_groups: Vec<S>,
    #[serde(default)]
    pub allowed_email_domains: Vec<S>,
    pub default_role: Option<S>,
    pub show_groups_on_deny: Option<bool>,
    pub contact: Option<S>,
    #[serde(default)]
    pub roles: Vec<RawRole>,
}

/// `[[access.roles]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    pub group: S,
    pub role: S,
    #[serde(default)]
    pub superuser: bool,
}
