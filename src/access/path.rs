//! Request path normalisation: one canonical form that both the access rules and the upstream see.
use std::borrow::Cow;
use std::fmt::Write as _;

/// Longest request path accepted.
pub const MAX_PATH_LEN: usize = 8192;

/// Why a request path is refused (answered with 400).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// Longer than [`MAX_PATH_LEN`].
    #[error("path too long")]
    TooLong,
    /// Empty or not starting with `/`.
    #[error("path must start with /")]
    NotAbsolute,
    /// `%2F`: an encoded slash would be read differently by different servers.
    #[error("encoded slash in path")]
    EncodedSlash,
    /// `%5C`: an encoded backslash.
    #[error("encoded backslash in path")]
    EncodedBackslash,
    /// A raw `\`.
    #[error("backslash in path")]
    Backslash,
    /// NUL or another control character, raw or percent-encoded (`%00`-`%1F`, `%7F`).
    #[error("control character in path")]
    ControlChar,
    /// A `%` not followed by two hex digits.
    #[error("invalid percent-encoding in path")]
    InvalidPercentEncoding,
    /// A raw byte outside ASCII.
    #[error("non-ASCII byte in path")]
    NonAscii,
    /// A raw space, `#` or `?` (the query must be split off before normalising).
    #[error("character not allowed in path")]
    InvalidChar,
    /// A dot segment carrying parameters (`..;x`, `.;x`), which some servers treat as `..`.
    #[error("dot segment with parameters in path")]
    DotSegmentParameter,
}

impl PathError {
    /// Stable code for logs and metrics.
    pub fn code(self) -> &'static str {
        match self {
            Self::TooLong => "path_too_long",
            Self::NotAbsolute => "path_not_absolute",
            Self::EncodedSlash => "encoded_slash",
            Self::EncodedBackslash => "encoded_backslash",
            Self::Backslash => "backslash",
            Self::ControlChar => "control_char",
            Self::InvalidPercentEncoding => "invalid_percent_encoding",
            Self::NonAscii => "non_ascii",
            Self::InvalidChar => "invalid_char",
            Self::DotSegmentParameter => "dot_segment_parameter",
        }
    }
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn is_control(b: u8) -> bool {
    b < 0x20 || b == 0x7F
}

/// Normalises the path of a request target (the caller splits off the query first).
///
/// Refuses encoded slashes and backslashes, raw backslashes, control characters (raw or encoded),
/// invalid percent-encoding, raw non-ASCII bytes, raw spaces, `#` and `?`, dot segments with
/// parameters, paths not starting with `/` and paths longer than [`MAX_PATH_LEN`].
///
/// Then decodes percent-escapes of unreserved characters only (so `%2E` is a dot), writes the
/// remaining escapes with uppercase hex, collapses repeated slashes and resolves `.` and `..`
/// segments (RFC 3986 §5.2.4; `..` never climbs above the root). A trailing slash is kept. The
/// result is what the upstream receives.
pub fn normalize(raw_path: &str) -> Result<Cow<'_, str>, PathError> {
    if already_normal(raw_path.as_bytes()) {
        return Ok(Cow::Borrowed(raw_path));
    }
    normalize_owned(raw_path).map(Cow::Owned)
}

/// Whether [`normalize`] would return `raw` unchanged (the common case, answered without
/// allocating): starts with `/`, within [`MAX_PATH_LEN`], only visible ASCII other than `%`, `\`,
/// `#`, `?` (so pass 1 copies it as is), no empty segment but a trailing one, and no `.`/`..`
/// segment, also not with parameters (so pass 2 keeps every segment).
fn already_normal(raw: &[u8]) -> bool {
    let Some(rest) = raw.strip_prefix(b"/") else {
        return false;
    };
    if raw.len() > MAX_PATH_LEN
        || !raw
            .iter()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'%' | b'\\' | b'#' | b'?'))
    {
        return false;
    }
    let mut segments = rest.split(|b| *b == b'/').peekable();
    while let Some(seg) = segments.next() {
        let last = segments.peek().is_none();
        let head = seg.split(|b| *b == b';').next().unwrap_or_default();
        if (seg.is_empty() && !last) || head == b"." || head == b".." {
            return false;
        }
    }
    true
}

/// [`normalize`] for paths that change (or are refused).
fn normalize_owned(raw_path: &str) -> Result<String, PathError> {
    let bytes = raw_path.as_bytes();
    if bytes.len() > MAX_PATH_LEN {
        return Err(PathError::TooLong);
    }
    if bytes.first() != Some(&b'/') {
        return Err(PathError::NotAbsolute);
    }
    // Pass 1: validate and canonicalise escapes.
    let mut canon = String::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let (h, l) = match (
                    bytes.get(i + 1).copied().and_then(hex),
                    bytes.get(i + 2).copied().and_then(hex),
                ) {
                    (Some(h), Some(l)) => (h, l),
                    _ => return Err(PathError::InvalidPercentEncoding),
                };
                let d = (h << 4) | l;
                match d {
                    b'/' => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::EncodedBackslash),
                    d if is_control(d) => return Err(PathError::ControlChar),
                    d if is_unreserved(d) => canon.push(char::from(d)),
                    d => {
                        let _ = write!(canon, "%{d:02X}");
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b if b >= 0x80 => return Err(PathError::NonAscii),
            b if is_control(b) => return Err(PathError::ControlChar),
            b' ' | b'#' | b'?' => return Err(PathError::InvalidChar),
            b => {
                canon.push(char::from(b));
                i += 1;
            }
        }
    }
    // Pass 2: segments. `canon` starts with '/', so the first split piece is empty.
    let mut out: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in canon.split('/').skip(1) {
        trailing_slash = false;
        match seg {
            "" => trailing_slash = true,
            "." => trailing_slash = true,
            ".." => {
                out.pop();
                trailing_slash = true;
            }
            s => {
                let head = s.split(';').next().unwrap_or(s);
                if head == "." || head == ".." {
                    return Err(PathError::DotSegmentParameter);
                }
                out.push(s);
            }
        }
    }
    let mut result = String::with_capacity(canon.len());
    for seg in &out {
        result.push('/');
        result.push_str(seg);
    }
    if result.is_empty() || trailing_slash {
        result.push('/');
    }
    Ok(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_table() {
        use PathError::*;
        let long_ok = format!("/{}", "a".repeat(MAX_PATH_LEN - 1));
        let too_long = format!("/{}", "a".repeat(MAX_PATH_LEN));
        let cases: Vec<(&str, Result<&str, PathError>)> = vec![
            ("/", Ok("/")),
            ("/backend", Ok("/backend")),
            ("/backend/", Ok("/backend/")),
            ("//backend", Ok("/backend")),
            ("///backend//cms///", Ok("/backend/cms/")),
            ("/Backend", Ok("/Backend")),
            ("/./backend", Ok("/backend")),
            ("/x/../backend", Ok("/backend")),
            ("/../../backend", Ok("/backend")),
            ("/..", Ok("/")),
            ("/.", Ok("/")),
            ("/a/b/..", Ok("/a/")),
            ("/a/b/.", Ok("/a/b/")),
            ("/a/./b/../../c", Ok("/c")),
            ("/%62ackend", Ok("/backend")),
            ("/%7e%41%2d%5F%2E%30", Ok("/~A-_.0")),
            ("/backend;x", Ok("/backend;x")),
            ("/backend/..;/x", Err(DotSegmentParameter)),
            ("/..;/backend", Err(DotSegmentParameter)),
            ("/.;x/backend", Err(DotSegmentParameter)),
            ("/%2e%2e;/backend", Err(DotSegmentParameter)),
            ("/backend%00", Err(ControlChar)),
            ("/backend\0", Err(ControlChar)),
            ("/backend%0d%0a", Err(ControlChar)),
            ("/backend%1F", Err(ControlChar)),
            ("/backend%7f", Err(ControlChar)),
            ("/backend\t", Err(ControlChar)),
            ("/backend\x7f", Err(ControlChar)),
            ("/backend/..%2f", Err(EncodedSlash)),
            ("/%2e%2e/backend", Ok("/backend")),
            ("/%2E./backend", Ok("/backend")),
            ("/backend/%2e%2e/x", Ok("/x")),
            ("/backend/%2e%2E", Ok("/")),
            ("/backend/.%2e/", Ok("/")),
            ("/backend%2fx", Err(EncodedSlash)),
            ("/backend%2Fx", Err(EncodedSlash)),
            ("/back%5cend", Err(EncodedBackslash)),
            ("/back%5Cend", Err(EncodedBackslash)),
            ("/back\\end", Err(Backslash)),
            ("/%zz", Err(InvalidPercentEncoding)),
            ("/%", Err(InvalidPercentEncoding)),
            ("/%4", Err(InvalidPercentEncoding)),
            ("/%4g", Err(InvalidPercentEncoding)),
            ("/a%", Err(InvalidPercentEncoding)),
            ("/%%41", Err(InvalidPercentEncoding)),
            ("/backend/x?", Err(InvalidChar)),
            ("/backend#x", Err(InvalidChar)),
            ("/back end", Err(InvalidChar)),
            ("/bäckend", Err(NonAscii)),
            ("/backend%c3%a4", Ok("/backend%C3%A4")),
            ("/a%3bb%3F%23%25%20", Ok("/a%3Bb%3F%23%25%20")),
            ("/%252e%252e/backend", Ok("/%252e%252e/backend")),
            ("backend", Err(NotAbsolute)),
            ("", Err(NotAbsolute)),
            ("*", Err(NotAbsolute)),
            ("http://x/backend", Err(NotAbsolute)),
            (&long_ok, Ok(&long_ok)),
            (&too_long, Err(TooLong)),
        ];
        for (raw, want) in cases {
            assert_eq!(normalize(raw).as_deref().map_err(|e| *e), want, "{raw:?}");
        }
    }

    #[test]
    fn idempotent() {
        for raw in [
            "/a/../b/./c//d/",
            "/%62%2e%2E/x",
            "/x%c3%a4/%3b",
            "//",
            "/a;b/c;d/..",
            "/~user/%7E",
        ] {
            let once = normalize(raw).expect("valid");
            assert_eq!(normalize(&once).as_deref(), Ok(&*once), "{raw:?}");
        }
    }

    #[test]
    fn fast_path_only_for_paths_the_full_algorithm_keeps() {
        // Every path of up to 5 pieces from an alphabet of the tricky parts: whenever the
        // allocation-free check says "already normal", the full algorithm returns it unchanged;
        // and the check is not vacuous.
        const PIECES: &[&str] = &[
            "/", ".", "..", ";", "a", "%2e", "%41", "\\", "?", " ", "\u{e9}", "~",
        ];
        let mut fast = 0;
        let mut path = String::new();
        fn walk(path: &mut String, depth: usize, fast: &mut usize) {
            let p = format!("/{path}");
            if already_normal(p.as_bytes()) {
                assert_eq!(normalize_owned(&p).as_deref(), Ok(p.as_str()), "{p:?}");
                *fast += 1;
            }
            if depth == 5 {
                return;
            }
            for piece in PIECES {
                let len = path.len();
                path.push_str(piece);
                walk(path, depth + 1, fast);
                path.truncate(len);
            }
        }
        walk(&mut path, 0, &mut fast);
        assert!(fast > 1_000, "{fast}");
        for p in [
            "/",
            "/backend",
            "/backend/",
            "/a;b/c",
            "/~x/y.css",
            "/a/.b/..c",
        ] {
            assert!(matches!(normalize(p), Ok(Cow::Borrowed(_))), "{p}");
        }
        for p in ["//", "/a//b", "/./a", "/a/..", "/a/.;x", "/%41"] {
            assert!(!already_normal(p.as_bytes()), "{p}");
        }
    }

    #[test]
    fn every_ascii_byte_and_escape_is_handled_without_panic() {
        for b in 0u8..=255 {
            let raw = format!("/a{}b", char::from(b));
            let _ = normalize(&raw);
            let esc = format!("/a%{b:02x}b");
            let r = normalize(&esc);
            match b {
                b'/' => assert_eq!(r, Err(PathError::EncodedSlash)),
                b'\\' => assert_eq!(r, Err(PathError::EncodedBackslash)),
                0..=0x1F | 0x7F => assert_eq!(r, Err(PathError::ControlChar)),
                _ => assert!(r.is_ok(), "{esc}"),
            }
        }
    }
}
