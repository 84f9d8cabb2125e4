//! The built-in demo config: a complete octogate config for the demo's IdP and backend, printed
//! by `octogate demo --print-config` as a starting point for a real one.

/// What varies between demo runs.
#[derive(Debug, Clone)]
pub struct DemoConfig {
    /// octogate's listen address (and, as `http://ADDR`, its public URL).
    pub listen: std::net::SocketAddr,
    /// The October site (the built-in demo backend, or a real one with `--upstream`).
    pub upstream_url: String,
    /// The demo IdP's issuer.
    pub issuer: String,
    /// The client secret shared with the demo IdP.
    pub client_secret: String,
    /// A fresh cookie key (base64).
    pub cookie_key_b64: String,
    /// A fresh Ed25519 signing key (PKCS#8 PEM).
    pub signing_key_pem: String,
}

/// The demo's OAuth client id.
pub const CLIENT_ID: &str = "octogate-demo";
/// The assertion audience of the demo site.
pub const AUDIENCE: &str = "octogate-demo";

impl DemoConfig {
    /// The public URL: `http://` + the listen address.
    pub fn public_url(&self) -> String {
        format!("http://{}", self.listen)
    }

    /// The config text. Secrets are written literally (a supported form) so the text stands on
    /// its own: for a real site move them to `env:`/`file:` references.
    pub fn render(&self) -> String {
        let pem = self.signing_key_pem.trim_end();
        format!(
            r#"# octogate demo config: DEVELOPMENT ONLY.
# Printed by `octogate demo --print-config` as a starting point for a real site's config. For a
# real site: point [oidc] at your Okta app, use an https public_url, generate keys with
# `octogate keygen` and move every secret to "env:NAME" or "file:/path" (never inline as here).
# Every key is described in docs/configuration.md and config/example.toml.

[server]
listen = "{listen}"
public_url = "{public_url}"
log_format = "text"

[upstream]
# The October site (here: the demo's built-in backend).
url = "{upstream}"

[oidc]
# The demo's built-in development identity provider.
issuer = "{issuer}"
client_id = "{client_id}"
client_secret = "{client_secret}"
scopes = ["openid", "email", "profile", "groups", "offline_access"]
groups_claim = "groups"
token_auth_method = "client_secret_basic"
allowed_algs = ["RS256"]

[session]
# Throwaway key (base64, 32 bytes).
cookie_keys = ["{cookie_key}"]
lifetime = "8h"
idle_timeout = "30m"
refresh_interval = "5m"

[assertion]
# Throwaway Ed25519 key (PKCS#8 PEM).
signing_key = '''
{pem}
'''
audience = "{audience}"
lifetime = "60s"

[access]
protect = ["/backend"]
allowed_groups = ["cms-admins", "cms-editors"]
show_groups_on_deny = true
contact = "whoever runs this demo (development only)"

[[access.roles]]
group = "cms-admins"
role = "developer"
superuser = true

[[access.roles]]
group = "cms-editors"
role = "editor"
superuser = false
"#,
            listen = self.listen,
            public_url = self.public_url(),
            upstream = self.upstream_url,
            issuer = self.issuer,
            client_id = CLIENT_ID,
            client_secret = self.client_secret,
            cookie_key = self.cookie_key_b64,
            audience = AUDIENCE,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_demo_config_is_valid() {
        let k = crate::assertion::generate_keys();
        let d = DemoConfig {
            listen: "127.0.0.1:4180".parse().unwrap(),
            upstream_url: "http://127.0.0.1:4182".into(),
            issuer: "http://127.0.0.1:4181".into(),
            client_secret: "s3cret".into(),
            cookie_key_b64: k.cookie_key_b64,
            signing_key_pem: k.signing_key_pem,
        };
        let cfg = crate::config::load_str(&d.render(), "demo").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(cfg.server.public_origin(), "http://127.0.0.1:4180");
        assert_eq!(cfg.oidc.client_id, CLIENT_ID);
        assert_eq!(cfg.access.roles.len(), 2);
        assert_eq!(cfg.assertion.audience, AUDIENCE);
    }
}
