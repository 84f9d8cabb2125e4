//! A budget for log lines that a client can cause at no cost of its own (refused connections: a
//! connect and a close each), so a flood of them cannot fill the disk or drown other lines. Past
//! the budget lines are counted, not written; the next line written says how many were left out.
use std::sync::Mutex;

/// At most `per_second` lines in each second of the monotonic clock.
#[derive(Debug)]
pub(crate) struct LogBudget {
    per_second: u32,
    /// (second, lines written in it, lines left out since the last written one)
    state: Mutex<(u64, u32, u64)>,
}

impl LogBudget {
    /// A budget of `per_second` lines a second.
    pub(crate) const fn new(per_second: u32) -> LogBudget {
        LogBudget {
            per_second,
            state: Mutex::new((0, 0, 0)),
        }
    }

    /// `Some(left_out)` when a line may be written now (`left_out`: lines dropped before it, to
    /// report with it); `None` when it must be left out.
    pub(crate) fn admit(&self) -> Option<u64> {
        self.admit_at(crate::clock::now_ms() / 1000)
    }

    fn admit_at(&self, second: u64) -> Option<u64> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if s.0 != second {
            s.0 = second;
            s.1 = 0;
        }
        if s.1 >= self.per_second {
            s.2 = s.2.saturating_add(1);
            return None;
        }
        s.1 += 1;
        Some(std::mem::take(&mut s.2))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_past_the_budget_are_counted_and_reported_with_the_next_one() {
        let b = LogBudget::new(2);
        assert_eq!(b.admit_at(7), Some(0));
        assert_eq!(b.admit_at(7), Some(0));
        assert_eq!(b.admit_at(7), None);
        assert_eq!(b.admit_at(7), None);
        assert_eq!(
            b.admit_at(8),
            Some(2),
            "the next second's first line reports the two"
        );
        assert_eq!(b.admit_at(8), Some(0));
        assert_eq!(b.admit_at(8), None);
    }
}
