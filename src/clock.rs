//! A monotonic millisecond clock for "when did this last happen" stamps kept in atomics (idle
//! tunnels, idle HTTP/2 connections).
use std::sync::OnceLock;
use std::time::Instant;

/// Milliseconds since the first call in this process, on a monotonic clock.
pub(crate) fn now_ms() -> u64 {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    let origin = *ORIGIN.get_or_init(Instant::now);
    u64::try_from(origin.elapsed().as_millis()).unwrap_or(u64::MAX)
}
