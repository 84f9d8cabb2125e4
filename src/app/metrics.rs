//! Prometheus metrics (prometheus-client), served on `server.metrics_listen`.
use std::sync::atomic::AtomicI64;
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultReason {
    result: &'static str,
    reason: &'static str,
}

/// Request outcomes with a pre-resolved counter each.
const OUTCOMES: [&str; 8] = [
    "public",
    "proxied",
    "endpoint",
    "redirected_to_signin",
    "unauthorized",
    "denied",
    "refused",
    "upstream_error",
];

/// Every metric octogate exports.
pub struct Metrics {
    registry: Registry,
    requests: Family<Outcome, Counter>,
    request_counters: Vec<Counter>,
    refused: Family<Outcome, Counter>,
    signins: Family<ResultReason, Counter>,
    refreshes: Family<ResultReason, Counter>,
    upstream_seconds: Histogram,
    idp_metadata_age: Gauge<i64, AtomicI64>,
    config_generation: Gauge<i64, AtomicI64>,
    encode_lock: Mutex<()>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("octogate");
        let requests = Family::<Outcome, Counter>::default();
        registry.register("requests", "Requests by outcome (proxied, public, redirected_to_signin, unauthorized, denied, refused, endpoint, upstream_error)", requests.clone());
        let refused = Family::<Outcome, Counter>::default();
        registry.register(
            "connections_refused",
            "Connections refused before HTTP (too many, header timeout, header too large)",
            refused.clone(),
        );
        let signins = Family::<ResultReason, Counter>::default();
        registry.register("signins", "Sign-ins by result and reason", signins.clone());
        let refreshes = Family::<ResultReason, Counter>::default();
        registry.register(
            "refreshes",
            "Session refreshes at the IdP by result and reason",
            refreshes.clone(),
        );
        let upstream_seconds = Histogram::new([
            0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
        ]);
        registry.register(
            "upstream_response_seconds",
            "Time until the upstream's response headers",
            upstream_seconds.clone(),
        );
        let idp_metadata_age = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "idp_metadata_age_seconds",
            "Seconds since the IdP metadata and keys were loaded (-1: never)",
            idp_metadata_age.clone(),
        );
        let config_generation = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "config_generation",
            "Config generation (1 at start, +1 per successful reload)",
            config_generation.clone(),
        );
        let request_counters = OUTCOMES
            .iter()
            .map(|o| requests.get_or_create(&Outcome { outcome: o }).clone())
            .collect();
        Metrics {
            registry,
            requests,
            request_counters,
            refused,
            signins,
            refreshes,
            upstream_seconds,
            idp_metadata_age,
            config_generation,
            encode_lock: Mutex::new(()),
        }
    }

    /// Counts a request outcome. The common outcomes use counters resolved once at start (no
    /// label hashing or lock on the hot path).
    pub fn request(&self, outcome: &'static str) {
        match OUTCOMES.iter().position(|o| *o == outcome) {
            Some(i) => {
                self.request_counters[i].inc();
            }
            None => {
                self.requests.get_or_create(&Outcome { outcome }).inc();
            }
        }
    }

    /// Counts a connection refused before HTTP.
    pub fn refused(&self, reason: &'static str) {
        self.refused
            .get_or_create(&Outcome { outcome: reason })
            .inc();
    }

    /// Counts a sign-in.
    pub fn signin(&self, ok: bool, reason: &'static str) {
        self.signins
            .get_or_create(&ResultReason {
                result: if ok { "ok" } else { "failed" },
                reason,
            })
            .inc();
    }

    /// Counts a refresh.
    pub fn refresh(&self, ok: bool, reason: &'static str) {
        self.refreshes
            .get_or_create(&ResultReason {
                result: if ok { "ok" } else { "failed" },
                reason,
            })
            .inc();
    }

    /// Records upstream latency.
    pub fn upstream_latency(&self, d: std::time::Duration) {
        self.upstream_seconds.observe(d.as_secs_f64());
    }

    /// Sets the config generation.
    pub fn set_generation(&self, g: u64) {
        self.config_generation.set(g as i64);
    }

    /// The exposition text. `idp_age` is how long ago the IdP keys were loaded (None: never).
    pub fn encode(&self, idp_age: Option<std::time::Duration>) -> String {
        let _g = self.encode_lock.lock();
        self.idp_metadata_age
            .set(idp_age.map(|d| d.as_secs() as i64).unwrap_or(-1));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
