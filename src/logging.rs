//! Log output: `tracing` to stderr, human text or JSON, filtered by `OCTOGATE_LOG` (default
//! `info`), with a timestamp that is cheap to write (the access log writes one line a request).
//!
//! Lines are written by a thread of their own, never by the threads that serve requests: a stalled
//! reader of stderr (a blocked pipe, a throttled journal) must not stall the proxy. They are
//! written in batches (one `write` for all lines waiting); past [`BUFFERED_LINES`] waiting lines,
//! new ones are dropped and counted rather than waited for.
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Writer};
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The target of the access lines (one per request).
pub(crate) const ACCESS_TARGET: &str = "octogate::access";

/// Lines that may wait for the writer thread before new ones are dropped.
pub(crate) const BUFFERED_LINES: usize = 8 * 1024;

/// Installs the global subscriber (a second call does nothing). Keep the guard until the process
/// ends: dropping it writes out what is still waiting.
#[must_use = "dropping the guard stops log output"]
pub(crate) fn init(json: bool) -> LogGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("OCTOGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let (writer, guard) = tracing_appender::non_blocking::NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(BUFFERED_LINES)
        .thread_name("octogate-log")
        .finish(std::io::BufWriter::new(std::io::stderr()));
    let dropped = writer.error_counter();
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_timer(UtcMicros)
        .with_target(true);
    let _ = if json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.event_format(Text::default()).try_init()
    };
    LogGuard {
        _worker: guard,
        dropped,
    }
}

/// Keeps the log writer thread; dropped at exit, it writes out the lines still waiting and says
/// how many were dropped, if any.
pub(crate) struct LogGuard {
    _worker: tracing_appender::non_blocking::WorkerGuard,
    dropped: tracing_appender::non_blocking::ErrorCounter,
}

impl Drop for LogGuard {
    fn drop(&mut self) {
        // Through the writer thread (before it is told to finish, when the worker field drops):
        // a direct write could block on the very stderr that fell behind.
        let n = self.dropped.dropped_lines();
        if n > 0 {
            tracing::warn!(
                dropped = n,
                "log lines were dropped while stderr could not keep up"
            );
        }
    }
}

impl std::fmt::Debug for LogGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("LogGuard")
    }
}

/// The text format: tracing's own (`Full`, with [`UtcMicros`]), except that access lines, one a
/// request, are written without the formatting machinery (same output: see the test).
#[derive(Debug)]
struct Text {
    full: Format<Full, UtcMicros>,
}

impl Default for Text {
    fn default() -> Self {
        Text {
            full: tracing_subscriber::fmt::format()
                .with_timer(UtcMicros)
                .with_target(true)
                .with_ansi(false),
        }
    }
}

impl<S, N> FormatEvent<S, N> for Text
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> std::fmt::Result {
        let meta = event.metadata();
        if meta.target() != ACCESS_TARGET || ctx.lookup_current().is_some() {
            return self.full.format_event(ctx, w, event);
        }
        UtcMicros.format_time(&mut w)?;
        write!(w, " {:>5} {}: ", meta.level().as_str(), ACCESS_TARGET)?;
        let mut fields = FastFields {
            w: &mut w,
            first: true,
            result: Ok(()),
        };
        event.record(&mut fields);
        fields.result?;
        w.write_char('\n')
    }
}

/// Writes fields as tracing's default text format does (`message` bare, then ` name=value`,
/// strings quoted and escaped), integers and plain strings without `fmt`.
struct FastFields<'a, 'w> {
    w: &'a mut Writer<'w>,
    first: bool,
    result: std::fmt::Result,
}

impl FastFields<'_, '_> {
    fn name(&mut self, field: &Field) -> std::fmt::Result {
        if !std::mem::take(&mut self.first) {
            self.w.write_char(' ')?;
        }
        self.w.write_str(field.name())?;
        self.w.write_char('=')
    }
}

impl Visit for FastFields<'_, '_> {
    fn record_u64(&mut self, field: &Field, value: u64) {
        if self.result.is_err() {
            return;
        }
        let mut buf = [0u8; 20];
        let digits = decimal(value, 1, &mut buf);
        self.result = self.name(field).and_then(|()| self.w.write_str(digits));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if self.result.is_err() {
            return;
        }
        let plain = value
            .bytes()
            .all(|b| (b' '..=b'~').contains(&b) && b != b'"' && b != b'\\');
        self.result = self.name(field).and_then(|()| {
            if plain {
                self.w.write_char('"')?;
                self.w.write_str(value)?;
                self.w.write_char('"')
            } else {
                write!(self.w, "{value:?}")
            }
        });
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        if self.result.is_err() {
            return;
        }
        self.result = if field.name() == "message" {
            if !std::mem::take(&mut self.first) {
                self.w
                    .write_char(' ')
                    .and_then(|()| write!(self.w, "{value:?}"))
            } else {
                write!(self.w, "{value:?}")
            }
        } else {
            self.name(field).and_then(|()| write!(self.w, "{value:?}"))
        };
    }
}

/// RFC 3339 UTC with microseconds (`2026-11-28T09:36:04.123456Z`), as tracing's own `SystemTime`
/// writes it, but the date and time of day are formatted once a second per thread, not per line.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UtcMicros;

thread_local! {
    /// The second last formatted, and its `YYYY-MM-DDTHH:MM:SS.` prefix.
    static PREFIX: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
}

impl FormatTime for UtcMicros {
    fn format_time(&self, w: &mut Writer<'_>) -> std::fmt::Result {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let secs = now.as_secs();
        PREFIX.with(|p| {
            let mut p = p.borrow_mut();
            if p.0 != secs {
                *p = (secs, date_time_prefix(secs));
            }
            w.write_str(&p.1)?;
            write_micros(w, now.subsec_micros())
        })
    }
}

/// `YYYY-MM-DDTHH:MM:SS.` for a Unix time in seconds (proleptic Gregorian calendar, UTC).
fn date_time_prefix(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// Year, month, day of the `days`-th day after 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

/// Six digits and `Z`, without the formatting machinery.
fn write_micros(w: &mut Writer<'_>, micros: u32) -> std::fmt::Result {
    let mut buf = [0u8; 20];
    w.write_str(decimal(u64::from(micros.min(999_999)), 6, &mut buf))?;
    w.write_char('Z')
}

/// `n` in decimal, zero-padded to at least `width` (at most 20) digits, written into `buf`.
fn decimal(mut n: u64, width: usize, buf: &mut [u8; 20]) -> &str {
    let mut at = buf.len();
    while n > 0 || buf.len() - at < width.clamp(1, 20) {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
    }
    // Only ASCII digits were written.
    std::str::from_utf8(&buf[at..]).unwrap_or("?")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_match_the_calendar() {
        assert_eq!(date_time_prefix(0), "1970-01-01T00:00:00.");
        // 2000-02-29 (a leap day in a century year divisible by 400) 23:59:59.
        assert_eq!(date_time_prefix(951_868_799), "2000-02-29T23:59:59.");
        assert_eq!(date_time_prefix(951_868_800), "2000-03-01T00:00:00.");
        // 2100 is not a leap year: 2100-02-28 is followed by 2100-03-01.
        assert_eq!(date_time_prefix(4_107_542_399), "2100-02-28T23:59:59.");
        assert_eq!(date_time_prefix(4_107_542_400), "2100-03-01T00:00:00.");
        assert_eq!(date_time_prefix(1_795_858_564), "2026-11-28T09:36:04.");
    }

    /// Lines written by `format` for one access event and one other event (timestamps cut off).
    fn lines<E>(format: E) -> Vec<String>
    where
        E: for<'w> FormatEvent<
                tracing_subscriber::Registry,
                tracing_subscriber::fmt::format::DefaultFields,
            > + Send
            + Sync
            + 'static,
    {
        use std::sync::{Arc, Mutex};
        let out = Arc::new(Mutex::new(Vec::<u8>::new()));
        let sink = out.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || Sink(sink.clone()))
            .event_format(format)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(
                target: ACCESS_TARGET,
                method = "GET",
                path = "/a \"quoted\" path\n",
                status = 200u16,
                bytes = 0u64,
                duration_us = 18446744073709551615u64,
                upstream_us = Some(7u64),
                outcome = "public",
                client_ip = %std::net::IpAddr::from([192, 0, 2, 1]),
                "request"
            );
            tracing::warn!(target: "octogate::other", reason = %"x y", "something else");
        });
        let text = String::from_utf8(out.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| l.split_once(' ').unwrap().1.to_owned())
            .collect()
    }

    struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    impl std::io::Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn access_lines_are_written_as_tracing_itself_writes_them() {
        let fast = lines(Text::default());
        let reference = lines(Text::default().full);
        assert_eq!(fast.len(), 2, "{fast:?}");
        assert_eq!(fast, reference);
        assert!(
            fast[0].starts_with(" INFO octogate::access: request method=\"GET\""),
            "{}",
            fast[0]
        );
        assert!(
            fast[0].contains(r#"path="/a \"quoted\" path\n""#),
            "escaped: {}",
            fast[0]
        );
        assert!(
            fast[0].contains("duration_us=18446744073709551615 upstream_us=7"),
            "{}",
            fast[0]
        );
    }

    #[test]
    fn the_timestamp_is_rfc3339_utc_with_microseconds() {
        let mut s = String::new();
        UtcMicros.format_time(&mut Writer::new(&mut s)).unwrap();
        let (date, time) = s.split_once('T').unwrap();
        assert_eq!(date.len(), 10, "{s}");
        assert_eq!(time.len(), "09:36:04.123456Z".len(), "{s}");
        assert!(time.ends_with('Z'));
        let mut m = String::new();
        write_micros(&mut Writer::new(&mut m), 42).unwrap();
        assert_eq!(m, "000042Z");
        let mut buf = [0u8; 20];
        assert_eq!(decimal(0, 1, &mut buf), "0");
        assert_eq!(decimal(u64::MAX, 1, &mut buf), "18446744073709551615");
        assert_eq!(decimal(7, 3, &mut buf), "007");
    }
}
