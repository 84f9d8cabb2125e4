//! hyper's timer for one HTTP/1.1 connection.
//!
//! hyper starts a header-read timer for every request head it reads (the first and each one on a
//! kept-alive connection) and drops it once the head is in. With a plain tokio timer that is a
//! timer-wheel insert and removal (each under the time driver's lock) per request. Here all the
//! heads of one connection share one tokio timer, moved to each new deadline: moving a
//! registered timer later is an atomic store. The timeout itself is unchanged: hyper still
//! decides when a head is late and what happens then.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use tokio::time::Sleep;

/// The timer of one connection ([`hyper::rt::Timer`]).
#[derive(Clone)]
pub(super) struct ConnTimer {
    /// The connection's one tokio timer (created at the first deadline).
    shared: Arc<Mutex<Option<Pin<Box<Sleep>>>>>,
}

impl ConnTimer {
    /// A timer for a new connection.
    pub(super) fn new() -> Self {
        ConnTimer {
            shared: Arc::new(Mutex::new(None)),
        }
    }
}

impl hyper::rt::Timer for ConnTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn hyper::rt::Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn hyper::rt::Sleep>> {
        Box::pin(ConnSleep {
            shared: self.shared.clone(),
            deadline: deadline.into(),
            armed: false,
        })
    }
}

/// One deadline on the connection's timer. Only one is in use at a time: an HTTP/1.1 connection
/// reads one request head at a time.
struct ConnSleep {
    shared: Arc<Mutex<Option<Pin<Box<Sleep>>>>>,
    deadline: tokio::time::Instant,
    /// The shared timer was moved to `deadline`.
    armed: bool,
}

impl Future for ConnSleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        let Ok(mut guard) = this.shared.lock() else {
            // A poisoned lock (a panic elsewhere while polling): count the head as late, which
            // closes the connection, rather than never timing out.
            return Poll::Ready(());
        };
        let sleep = guard.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(this.deadline)));
        if !this.armed {
            sleep.as_mut().reset(this.deadline);
            this.armed = true;
        }
        sleep.as_mut().poll(cx)
    }
}

impl hyper::rt::Sleep for ConnSleep {}
