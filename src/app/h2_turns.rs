//! An HTTP/2 connection's requests in progress: at most [`H2_REQUESTS_IN_PROGRESS`] at once, and
//! since when it has had none (for its idle timeout).
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::clock::now_ms;
use crate::server::per_client::{ClientRequest, ClientSlot};

/// Requests one HTTP/2 connection may have in progress at once (from arrival until the response
/// body is sent or dropped); further streams wait for a turn. Without this, one connection's
/// streams (up to `max_concurrent_streams`) could each hold an upstream exchange, and a client
/// that never opens its flow-control window holds them for ever: 17 such connections would take
/// every upstream slot. With it, an HTTP/2 client holds no more than 16 HTTP/1.1 connections
/// would.
pub const H2_REQUESTS_IN_PROGRESS: usize = 16;

/// One HTTP/2 connection's turns (a clone shares them).
#[derive(Debug, Clone)]
pub struct H2Turns {
    slots: Arc<Semaphore>,
    /// When a request last arrived or finished ([`now_ms`]).
    last_active: Arc<AtomicU64>,
    /// The client's place in `max_connections_per_client`, which also caps its HTTP/2 requests
    /// in progress over all its connections (none for a trusted proxy).
    client: Option<Arc<ClientSlot>>,
}

/// A request's turn: held until its response body is sent or dropped.
#[derive(Debug)]
pub struct Turn {
    _permit: OwnedSemaphorePermit,
    _client: Option<ClientRequest>,
    last_active: Arc<AtomicU64>,
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.last_active.store(now_ms(), Ordering::Relaxed);
    }
}

impl H2Turns {
    /// The turns of a new connection of `client`.
    pub(crate) fn new(client: Option<Arc<ClientSlot>>) -> H2Turns {
        H2Turns {
            slots: Arc::new(Semaphore::new(H2_REQUESTS_IN_PROGRESS)),
            last_active: Arc::new(AtomicU64::new(now_ms())),
            client,
        }
    }

    /// Waits (at most `wait`) for a turn of the connection; `None` when none came, or when the
    /// client has its limit of requests in progress over all its connections (no wait: those
    /// are its own).
    pub async fn take(&self, wait: Duration) -> Option<Turn> {
        self.last_active.store(now_ms(), Ordering::Relaxed);
        let permit = tokio::time::timeout(wait, self.slots.clone().acquire_owned())
            .await
            .ok()?
            .ok()?;
        let client = match &self.client {
            None => None,
            Some(c) => Some(c.begin_request()?),
        };
        Some(Turn {
            _permit: permit,
            _client: client,
            last_active: self.last_active.clone(),
        })
    }

    /// How long the connection has had no request in progress; `None` while it has one.
    pub fn idle_for(&self) -> Option<Duration> {
        if self.slots.available_permits() < H2_REQUESTS_IN_PROGRESS {
            return None;
        }
        let since = now_ms().saturating_sub(self.last_active.load(Ordering::Relaxed));
        Some(Duration::from_millis(since))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn turns_are_limited_and_idleness_counts_from_the_last_one() {
        let t = H2Turns::new(None);
        let mut held = Vec::new();
        for _ in 0..H2_REQUESTS_IN_PROGRESS {
            held.push(t.take(Duration::from_millis(50)).await.expect("a turn"));
        }
        assert!(t.idle_for().is_none(), "busy");
        assert!(
            t.take(Duration::from_secs(1)).await.is_none(),
            "no 17th turn"
        );
        held.pop();
        assert!(
            t.take(Duration::from_secs(1)).await.is_some(),
            "a turn came back"
        );
        held.clear();
        let idle = t.idle_for().expect("idle");
        assert!(idle < Duration::from_secs(1), "{idle:?}");
    }
}
