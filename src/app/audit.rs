//! The audit log: one JSON line per security decision, tagged `"log":"audit"`, to stdout or a
//! file. Never a token, code, cookie or secret.
use std::io::Write;
use std::sync::Mutex;

use crate::config::AuditTarget;

/// Audit event kinds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A sign-in completed.
    SigninOk,
    /// A sign-in failed (reason given).
    SigninFailed,
    /// A signed-in user was denied access to this site.
    Denied,
    /// A user signed out.
    SignedOut,
    /// A refresh at the IdP succeeded.
    RefreshOk,
    /// A refresh failed; the session may continue within the grace period.
    RefreshFailed,
    /// The IdP refused the refresh: the user was removed or deactivated; signed out.
    UserRemoved,
    /// A session cookie was rejected (tampered, expired, malformed).
    SessionRejected,
    /// The configuration was reloaded (or a reload was refused).
    ConfigReloaded,
}

impl Event {
    /// The event name in the log.
    pub fn name(self) -> &'static str {
        match self {
            Event::SigninOk => "signin_ok",
            Event::SigninFailed => "signin_failed",
            Event::Denied => "denied",
            Event::SignedOut => "signed_out",
            Event::RefreshOk => "refresh_ok",
            Event::RefreshFailed => "refresh_failed",
            Event::UserRemoved => "user_removed",
            Event::SessionRejected => "session_rejected",
            Event::ConfigReloaded => "config_reloaded",
        }
    }
}

/// Request context of an audit event.
#[derive(Debug, Default, Clone)]
pub struct Context<'a> {
    /// Subject, when known.
    pub sub: Option<&'a str>,
    /// Email, when known.
    pub email: Option<&'a str>,
    /// Client IP (as trusted_proxies allow).
    pub ip: Option<std::net::IpAddr>,
    /// User agent (logged, never trusted).
    pub user_agent: Option<&'a str>,
    /// Request id.
    pub request_id: Option<&'a str>,
}

/// Where audit lines go.
pub struct Audit {
    file: Option<Mutex<std::fs::File>>,
}

impl Audit {
    /// Opens the target (a file is created or appended to).
    pub fn open(target: &AuditTarget) -> Result<Self, String> {
        match target {
            AuditTarget::Stdout => Ok(Audit { file: None }),
            AuditTarget::File(p) => std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)
                .map(|f| Audit {
                    file: Some(Mutex::new(f)),
                })
                .map_err(|e| format!("cannot open audit log {}: {e}", p.display())),
        }
    }

    /// Writes one event.
    pub fn log(&self, event: Event, ctx: &Context<'_>, reason: &str) {
        let now = crate::app::unix_now();
        let line = serde_json::json!({
            "log": "audit",
            "time": now,
            "event": event.name(),
            "reason": reason,
            "sub": ctx.sub,
            "email": ctx.email,
            "ip": ctx.ip.map(|i| i.to_string()),
            "user_agent": ctx.user_agent.map(|u| u.chars().take(256).collect::<String>()),
            "request_id": ctx.request_id,
        })
        .to_string();
        match &self.file {
            Some(f) => {
                if let Ok(mut f) = f.lock() {
                    let _ = writeln!(f, "{line}");
                }
            }
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
            }
        }
    }
}
