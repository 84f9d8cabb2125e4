//! Everything derived from one config generation: built once at start and on each reload, shared
//! read-only by requests.
use std::sync::Arc;

use crate::access::{PathRules, Policy};
use crate::assertion::Signer;
use crate::config::Config;
use crate::oidc::Oidc;
use crate::proxy::{Upstream, UpstreamOptions};
use crate::session::{CookieAttrs, CookieCipher, OpenedSessions, SessionTimes};

/// One config generation, ready to serve.
pub struct Runtime {
    /// The validated config.
    pub cfg: Config,
    /// The upstream site.
    pub upstream: Upstream,
    /// The OpenID Provider client.
    pub oidc: Arc<Oidc>,
    /// Session cookie encryption.
    pub cipher: CookieCipher,
    /// Session cookies already opened in this generation (emptied by a reload).
    pub opened: OpenedSessions,
    /// Assertion signer.
    pub signer: Signer,
    /// The JWKS document of the assertion keys.
    pub jwks: String,
    /// Protected/public path rules.
    pub rules: PathRules,
    /// Access policy.
    pub policy: Policy,
    /// Session timing.
    pub times: SessionTimes,
    /// Cookie attributes for the session.
    pub session_attrs: CookieAttrs,
    /// Cookie attributes for the login cookie.
    pub login_attrs: CookieAttrs,
    /// The callback URL registered at the IdP.
    pub redirect_uri: String,
    /// Default landing path after sign-in.
    pub default_rd: String,
}

impl Runtime {
    /// Builds a runtime. `previous` lets a reload keep the OIDC client (and its loaded metadata)
    /// when `[oidc]` and the public URL are unchanged.
    pub fn build(cfg: Config, previous: Option<&Runtime>) -> Result<Self, String> {
        let opts = UpstreamOptions {
            timeout: cfg.upstream.timeout,
            body_gap: cfg.server.body_read_timeout,
            tunnel_idle: cfg.server.tunnel_idle_timeout,
            own_cookie: cfg.session.cookie_name.clone(),
            // Enough for every connection of a busy site, without thousands of idle sockets.
            max_idle: cfg.server.max_connections.min(1024),
            // As many as client connections: HTTP/1.1 clients never reach it, HTTP/2 clients
            // cannot multiply it by their streams.
            max_in_flight: cfg.server.max_connections,
        };
        let upstream = Upstream::new(
            &cfg.upstream.url,
            &cfg.server.public_url,
            opts,
            crate::http::client::connector(cfg.upstream.connect_timeout),
        )?;
        let redirect_uri = format!("{}/oauth2/callback", cfg.server.public_origin());
        let oidc = match previous {
            Some(p) if same_oidc(&p.cfg, &cfg) => p.oidc.clone(),
            _ => {
                let idp_client = crate::http::client::build(cfg.oidc.http_timeout);
                let o = Oidc::new(cfg.oidc.clone(), redirect_uri.clone(), idp_client);
                o.spawn_discovery();
                o
            }
        };
        let site = crate::session::cookie_site(
            &cfg.server.public_origin(),
            &cfg.oidc.issuer,
            &cfg.oidc.client_id,
        );
        let cipher = CookieCipher::new(&cfg.session.cookie_keys, &site)
            .ok_or("session.cookie_keys: no key")?;
        let signer = Signer::new(
            cfg.assertion.signing_key.clone(),
            cfg.server.public_origin(),
            cfg.assertion.audience.clone(),
            cfg.assertion.lifetime,
        );
        let jwks = crate::assertion::jwks_json(
            &cfg.assertion.signing_key.verifying_key(),
            &cfg.assertion.previous_public_keys,
        );
        let rules = PathRules::new(&cfg.access.protect, &cfg.access.public);
        let policy = Policy::new(&cfg.access);
        let times = SessionTimes {
            lifetime: cfg.session.lifetime,
            idle_timeout: cfg.session.idle_timeout,
            refresh_interval: cfg.session.refresh_interval,
            refresh_grace: cfg.session.refresh_grace,
        };
        let session_attrs = CookieAttrs {
            secure: cfg.session.secure,
            max_age: None,
        };
        let login_attrs = CookieAttrs {
            secure: cfg.session.secure,
            max_age: Some(cfg.session.login_timeout),
        };
        let default_rd = cfg
            .access
            .protect
            .first()
            .cloned()
            .unwrap_or_else(|| "/".into());
        Ok(Runtime {
            cfg,
            upstream,
            oidc,
            cipher,
            opened: OpenedSessions::new(4096),
            signer,
            jwks,
            rules,
            policy,
            times,
            session_attrs,
            login_attrs,
            redirect_uri,
            default_rd,
        })
    }

    /// Whether a peer address is a trusted proxy.
    pub fn is_trusted(&self, ip: std::net::IpAddr) -> bool {
        let ip = match ip {
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().map(std::net::IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        self.cfg
            .server
            .trusted_proxies
            .iter()
            .any(|n| n.contains(&ip))
    }
}

fn same_oidc(a: &Config, b: &Config) -> bool {
    let (x, y) = (&a.oidc, &b.oidc);
    x.issuer == y.issuer
        && x.client_id == y.client_id
        && x.client_secret == y.client_secret
        && x.scopes == y.scopes
        && x.groups_claim == y.groups_claim
        && x.token_auth_method == y.token_auth_method
        && x.allowed_algs == y.allowed_algs
        && x.clock_skew == y.clock_skew
        && x.http_timeout == y.http_timeout
        && a.server.public_url == b.server.public_url
}
