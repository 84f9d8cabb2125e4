//! Durations written as `"90s"`, `"5m"`, `"12h"`, `"1d"` (or combined, `"1h30m"`).
use std::time::Duration;

/// Parses a duration. Errors say what was expected.
pub fn parse(text: &str) -> Result<Duration, String> {
    let bad =
        || format!("expected a duration like \"90s\", \"5m\", \"12h\" or \"1d\", found {text:?}");
    let s = text.trim();
    if s.is_empty() {
        return Err(bad());
    }
    let mut total: u64 = 0;
    let mut num: Option<u64> = None;
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if let Some(d) = c.to_digit(10) {
            num = Some(
                num.unwrap_or(0)
                    .checked_mul(10)
                    .and_then(|n| n.checked_add(u64::from(d)))
                    .ok_or_else(bad)?,
            );
            continue;
        }
        let n = num.take().ok_or_else(bad)?;
        let unit = match c {
            's' => 1,
            'm' if chars.peek() == Some(&'s') => {
                chars.next();
                let ms = n;
                total = total.checked_add(ms / 1000).ok_or_else(bad)?;
                if ms % 1000 != 0 {
                    return Err(format!("{text:?}: sub-second durations are not supported"));
                }
                continue;
            }
            'm' => 60,
            'h' => 3600,
            'd' => 86400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    if num.is_some() {
        return Err(format!("{text:?}: a unit is required (s, m, h or d)"));
    }
    Ok(Duration::from_secs(total))
}

/// Formats a duration the way the config writes it.
pub fn format(d: Duration) -> String {
    let s = d.as_secs();
    if s != 0 && s % 86400 == 0 {
        format!("{}d", s / 86400)
    } else if s != 0 && s % 3600 == 0 {
        format!("{}h", s / 3600)
    } else if s != 0 && s % 60 == 0 {
        format!("{}m", s / 60)
    } else {
        format!("{s}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("12h").unwrap(), Duration::from_secs(43200));
        assert_eq!(parse("1d").unwrap(), Duration::from_secs(86400));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        for bad in ["", "5", "m", "5x", "-5s", "99999999999999999999s", "1.5h"] {
            assert!(parse(bad).is_err(), "{bad} should fail");
        }
        assert_eq!(format(Duration::from_secs(43200)), "12h");
    }
}
