//! The OpenID Connect relying party: discovery and keys ([`provider`]), the authorization-code
//! flow with PKCE, refresh, userinfo and end-session ([`flow`]), ID-token validation
//! ([`validate`]) and the HTTP adapter over octogate's one client stack ([`http`]).
//!
//! [`Oidc`] is shared (`Arc`) by the request pipeline. Its provider state sits behind a std
//! `RwLock` that is never held across an `.await`; readers clone the inner `Arc`.
pub mod error;
mod flow;
pub mod http;
pub mod provider;
pub mod validate;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod testserver;

use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::{Duration, Instant};

pub use error::{OidcError, RefreshError, TokenRejection};
pub use flow::{AuthStart, Tokens};
pub use provider::{Metadata, ProviderState};

use crate::config::OidcConfig;
use crate::http::client::HttpClient;

/// Retry and refresh intervals of discovery (tests shorten them).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Timing {
    /// First retry delay after a failed load.
    pub backoff_start: Duration,
    /// Largest retry delay.
    pub backoff_cap: Duration,
    /// Re-fetch interval of metadata and keys once loaded.
    pub reload_every: Duration,
    /// Least time between two JWKS re-fetches triggered by an unknown `kid`.
    pub kid_refetch_min: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Timing {
            backoff_start: Duration::from_millis(500),
            backoff_cap: Duration::from_secs(30),
            reload_every: Duration::from_secs(3600),
            kid_refetch_min: Duration::from_secs(10),
        }
    }
}

/// The relying party for one site.
pub struct Oidc {
    cfg: OidcConfig,
    redirect_uri: String,
    http: HttpClient,
    allowed_algs: Vec<openidconnect::core::CoreJwsSigningAlgorithm>,
    state: RwLock<Option<Arc<ProviderState>>>,
    last_error: RwLock<Option<String>>,
    last_kid_refetch: Mutex<Option<Instant>>,
    timing: Timing,
}

impl std::fmt::Debug for Oidc {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Oidc")
            .field("issuer", &self.cfg.issuer)
            .field("client_id", &self.cfg.client_id)
            .field("loaded", &self.current().is_some())
            .finish_non_exhaustive()
    }
}

impl Oidc {
    /// Creates the relying party. Nothing is fetched until [`spawn_discovery`](Self::spawn_discovery).
    pub fn new(cfg: OidcConfig, redirect_uri: String, http: HttpClient) -> Arc<Oidc> {
        Self::with_timing(cfg, redirect_uri, http, Timing::default())
    }

    pub(crate) fn with_timing(
        cfg: OidcConfig,
        redirect_uri: String,
        http: HttpClient,
        timing: Timing,
    ) -> Arc<Oidc> {
        let allowed_algs = validate::parse_allowed_algs(&cfg.allowed_algs);
        if allowed_algs.len() != cfg.allowed_algs.len() {
            tracing::warn!(
                configured = ?cfg.allowed_algs,
                "some allowed_algs are not asymmetric JWS algorithms and are ignored"
            );
        }
        Arc::new(Oidc {
            cfg,
            redirect_uri,
            http,
            allowed_algs,
            state: RwLock::new(None),
            last_error: RwLock::new(None),
            last_kid_refetch: Mutex::new(None),
            timing,
        })
    }

    /// The configuration this relying party was built with.
    pub fn config(&self) -> &OidcConfig {
        &self.cfg
    }

    /// The loaded provider state, if any (a cheap `Arc` clone).
    pub fn current(&self) -> Option<Arc<ProviderState>> {
        match self.state.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, new: ProviderState) {
        let new = Arc::new(new);
        match self.state.write() {
            Ok(mut guard) => *guard = Some(new),
            Err(poisoned) => *poisoned.into_inner() = Some(new),
        }
    }

    fn set_last_error(&self, reason: Option<String>) {
        match self.last_error.write() {
            Ok(mut guard) => *guard = reason,
            Err(poisoned) => *poisoned.into_inner() = reason,
        }
    }

    /// Ok once metadata and keys are loaded; otherwise the reason, e.g. `IdP metadata not loaded
    /// yet: client error (Connect): ... to http://...`.
    pub fn readiness(&self) -> Result<(), String> {
        if self.current().is_some() {
            return Ok(());
        }
        let last = match self.last_error.read() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        };
        Err(match last {
            Some(reason) => format!("IdP metadata not loaded yet: {reason}"),
            None => "IdP metadata not loaded yet: discovery has not completed".to_string(),
        })
    }

    /// Whether the provider advertises an `end_session_endpoint`.
    pub fn has_end_session(&self) -> bool {
        self.current()
            .is_some_and(|s| s.metadata.end_session_endpoint.is_some())
    }

    /// The provider state or [`OidcError::NotReady`].
    fn ready(&self) -> Result<Arc<ProviderState>, OidcError> {
        self.current().ok_or_else(|| {
            OidcError::NotReady(
                self.readiness()
                    .err()
                    .unwrap_or_else(|| "not loaded".into()),
            )
        })
    }

    async fn load_once(&self) -> Result<(), String> {
        match provider::load(&self.http, self.cfg.http_timeout, &self.cfg.issuer).await {
            Ok(state) => {
                tracing::info!(
                    issuer = %self.cfg.issuer,
                    keys = state.jwks.keys().len(),
                    end_session = state.metadata.end_session_endpoint.is_some(),
                    "IdP metadata and keys loaded"
                );
                self.store(state);
                self.set_last_error(None);
                Ok(())
            }
            Err(reason) => Err(reason),
        }
    }

    /// Starts discovery: loads metadata and keys, retrying with exponential backoff (500 ms
    /// doubling up to 30 s) until it succeeds, then reloads both every hour, keeping the old state
    /// when a reload fails. The task ends when the `Oidc` is dropped.
    pub fn spawn_discovery(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<Oidc> = Arc::downgrade(self);
        let timing = self.timing;
        tokio::spawn(async move {
            let mut delay = timing.backoff_start;
            loop {
                let Some(this) = weak.upgrade() else { return };
                match this.load_once().await {
                    Ok(()) => break,
                    Err(reason) => {
                        tracing::warn!(%reason, retry_in_ms = delay.as_millis() as u64, "IdP discovery failed");
                        this.set_last_error(Some(reason));
                    }
                }
                drop(this);
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2).min(timing.backoff_cap);
            }
            loop {
                tokio::time::sleep(timing.reload_every).await;
                let Some(this) = weak.upgrade() else { return };
                if let Err(reason) = this.load_once().await {
                    tracing::warn!(%reason, "IdP metadata reload failed; keeping the previous state");
                }
            }
        })
    }

    /// Re-fetches the JWKS after an unknown `kid`, at most once per `kid_refetch_min` (10 s).
    /// Returns whether new keys were stored.
    async fn refetch_jwks_for_unknown_kid(&self) -> bool {
        {
            let mut last = match self.last_kid_refetch.lock() {
                Ok(g) => g,
                Err(p) => p.into_inner(),
            };
            if last.is_some_and(|t| t.elapsed() < self.timing.kid_refetch_min) {
                tracing::debug!("unknown kid: JWKS re-fetch rate-limited");
                return false;
            }
            *last = Some(Instant::now());
        }
        let Some(state) = self.current() else {
            return false;
        };
        match provider::fetch_jwks(&self.http, self.cfg.http_timeout, &state.metadata.jwks_uri)
            .await
        {
            Ok(jwks) => {
                tracing::info!(
                    keys = jwks.keys().len(),
                    "JWKS re-fetched after an unknown kid"
                );
                self.store(ProviderState {
                    metadata: state.metadata.clone(),
                    jwks,
                    jwks_fetched_at: Instant::now(),
                });
                true
            }
            Err(reason) => {
                tracing::warn!(%reason, "JWKS re-fetch after an unknown kid failed");
                false
            }
        }
    }
}
