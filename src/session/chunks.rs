//! Splitting a sealed value over several cookies, building `Set-Cookie` headers and joining the
//! chunks a request brings.
//!
//! A value whose `name=value` fits in [`SINGLE_COOKIE_LIMIT`] bytes is written as one cookie
//! `name`; a longer one as `name_0`, `name_1`, … (at most [`MAX_CHUNKS`]).
use cookie::time::{Duration as CookieDuration, OffsetDateTime};
use cookie::{Cookie, SameSite};

use super::CookieError;

/// Most chunks a value may be split into (and a request may bring).
pub const MAX_CHUNKS: usize = 8;
/// Largest cookie value accepted per chunk when reading (what browsers keep per cookie).
pub const MAX_COOKIE_BYTES: usize = 4096;
/// Largest `name=value` written as one cookie (leaves room for the attributes within 4096).
pub const SINGLE_COOKIE_LIMIT: usize = 3800;

/// Attributes of every cookie written. Each cookie also gets `Path=/; HttpOnly; SameSite=Lax` and
/// never a `Domain` (required by the `__Host-` prefix the caller puts on names when secure).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CookieAttrs {
    /// Add `Secure` (the site is served over https).
    pub secure: bool,
    /// `Max-Age`; `None` makes a browser-session cookie.
    pub max_age: Option<std::time::Duration>,
}

/// RFC 6265 `token`: the characters allowed in a cookie name.
fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_graphic()
                && !matches!(
                    b,
                    b'(' | b')'
                        | b'<'
                        | b'>'
                        | b'@'
                        | b','
                        | b';'
                        | b':'
                        | b'\\'
                        | b'"'
                        | b'/'
                        | b'['
                        | b']'
                        | b'?'
                        | b'='
                        | b'{'
                        | b'}'
                )
        })
}

/// RFC 6265 `cookie-octet`: the characters allowed in an unquoted cookie value.
fn is_cookie_octet(b: u8) -> bool {
    COOKIE_OCTETS[usize::from(b)]
}

/// RFC 6265 `cookie-octet` as a table (this check runs over every byte of the session cookie on
/// every protected request).
static COOKIE_OCTETS: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0usize;
    while b < 256 {
        t[b] = matches!(b as u8, 0x21 | 0x23..=0x2B | 0x2D..=0x3A | 0x3C..=0x5B | 0x5D..=0x7E);
        b += 1;
    }
    t
};

fn chunk_name(name: &str, i: usize) -> String {
    format!("{name}_{i}")
}

fn build(name: &str, value: &str, attrs: &CookieAttrs) -> String {
    let mut b = Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(attrs.secure);
    if let Some(age) = attrs.max_age {
        let secs = i64::try_from(age.as_secs()).unwrap_or(i64::MAX);
        b = b.max_age(CookieDuration::seconds(secs));
    }
    b.build().to_string()
}

fn removal(name: &str, attrs: &CookieAttrs) -> String {
    Cookie::build((name.to_owned(), String::new()))
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(attrs.secure)
        .max_age(CookieDuration::ZERO)
        .expires(OffsetDateTime::UNIX_EPOCH)
        .build()
        .to_string()
}

/// `Set-Cookie` header values that store `sealed` under `name`.
///
/// If `name=sealed` fits in [`SINGLE_COOKIE_LIMIT`] bytes one cookie `name` is written, otherwise
/// chunks `name_0`, `name_1`, … each within the same limit. Cookies left over from the previous
/// write are expired: `previous_chunks` is the chunk count [`read`] returned for this request
/// (0 when the request brought the unchunked cookie or none). Because 0 cannot tell "unchunked"
/// from "none", a chunked write with `previous_chunks == 0` always expires `name` as well.
///
/// Errors: [`CookieError::TooLarge`] when more than [`MAX_CHUNKS`] chunks would be needed,
/// [`CookieError::Malformed`] when `name` is not a cookie token or `sealed` is empty or holds
/// characters not allowed in a cookie value.
pub fn set_cookie_headers(
    name: &str,
    sealed: &str,
    attrs: &CookieAttrs,
    previous_chunks: usize,
) -> Result<Vec<String>, CookieError> {
    if !is_token(name) || sealed.is_empty() || !sealed.bytes().all(is_cookie_octet) {
        return Err(CookieError::Malformed);
    }
    let previous_chunks = previous_chunks.min(MAX_CHUNKS);
    let mut out = Vec::new();
    if name.len() + 1 + sealed.len() <= SINGLE_COOKIE_LIMIT {
        out.push(build(name, sealed, attrs));
        out.extend((0..previous_chunks).map(|i| removal(&chunk_name(name, i), attrs)));
        return Ok(out);
    }
    // `name_N=` with N a single digit (MAX_CHUNKS <= 10).
    let per_chunk = SINGLE_COOKIE_LIMIT
        .checked_sub(name.len() + 3)
        .filter(|n| *n > 0)
        .ok_or(CookieError::TooLarge)?;
    let n = sealed.len().div_ceil(per_chunk);
    if n > MAX_CHUNKS {
        return Err(CookieError::TooLarge);
    }
    // `sealed` is ASCII (checked above), so byte chunks are valid UTF-8.
    for (i, part) in sealed.as_bytes().chunks(per_chunk).enumerate() {
        let part = std::str::from_utf8(part).map_err(|_| CookieError::Malformed)?;
        out.push(build(&chunk_name(name, i), part, attrs));
    }
    out.extend((n..previous_chunks).map(|i| removal(&chunk_name(name, i), attrs)));
    if previous_chunks == 0 {
        out.push(removal(name, attrs));
    }
    Ok(out)
}

/// `Set-Cookie` header values expiring each name in `present` that belongs to the cookie family
/// of `name` (`name` itself or any `name_…`, e.g. chunks and sign-in cookies). Other names and names
/// that are not valid cookie tokens are skipped; duplicates are expired once.
pub fn clear_cookie_headers(name: &str, attrs: &CookieAttrs, present: &[String]) -> Vec<String> {
    let mut seen: Vec<&str> = Vec::new();
    let mut out = Vec::new();
    for p in present {
        if !in_family(p.as_bytes(), name) || !is_token(p) || seen.contains(&p.as_str()) {
            continue;
        }
        seen.push(p);
        out.push(removal(p, attrs));
    }
    out
}

/// Splits `Cookie` header values into `(name, value)` pairs (whitespace trimmed), skipping pieces
/// without `=`. Works on bytes, so junk (even non-UTF-8) in unrelated cookies is tolerated.
fn pairs<'a>(
    headers: impl Iterator<Item = &'a http::HeaderValue>,
) -> impl Iterator<Item = (&'a [u8], &'a [u8])> {
    headers.flat_map(|h| {
        h.as_bytes().split(|b| *b == b';').filter_map(|piece| {
            let eq = piece.iter().position(|b| *b == b'=')?;
            let (n, v) = piece.split_at(eq);
            Some((n.trim_ascii(), v.get(1..).unwrap_or_default().trim_ascii()))
        })
    })
}

/// What a cookie name is, relative to the session cookie `name`.
enum Kind {
    Unrelated,
    Whole,
    Chunk(usize),
    /// `name_<digits>` with an index out of range or not in canonical form.
    BadChunk {
        too_large: bool,
    },
}

fn kind(cookie_name: &[u8], name: &str) -> Kind {
    let Some(rest) = cookie_name.strip_prefix(name.as_bytes()) else {
        return Kind::Unrelated;
    };
    if rest.is_empty() {
        return Kind::Whole;
    }
    let Some(digits) = rest.strip_prefix(b"_") else {
        return Kind::Unrelated;
    };
    // More digits than any index could have: not a chunk name at all (and so never one that
    // makes a session unreadable).
    if digits.is_empty() || digits.len() > 20 || !digits.iter().all(u8::is_ascii_digit) {
        return Kind::Unrelated;
    }
    if digits.len() > 1 && digits.first() == Some(&b'0') {
        return Kind::BadChunk { too_large: false };
    }
    match digits {
        [d] if usize::from(d - b'0') < MAX_CHUNKS => Kind::Chunk(usize::from(d - b'0')),
        _ => Kind::BadChunk { too_large: true },
    }
}

/// Joins the session cookie `name` (or its chunks `name_0`…) from the request's `Cookie` headers.
///
/// Returns the value and the chunk count (0 for the unchunked cookie), or `None` when the request
/// brings none. Chunk indexes must be contiguous from 0; at most [`MAX_CHUNKS`] chunks of at most
/// [`MAX_COOKIE_BYTES`] each and [`MAX_CHUNKS`]` × `[`MAX_COOKIE_BYTES`] in total are accepted, checked
/// while scanning, before any joining. Unrelated cookies are ignored.
///
/// Errors: [`CookieError::TooLarge`] (a chunk index ≥ [`MAX_CHUNKS`], a chunk or the total too
/// large), [`CookieError::Malformed`] (a duplicate name, both `name` and chunks, a gap, an empty
/// value or characters not allowed in a cookie value).
pub fn read<'a>(
    cookie_headers: impl Iterator<Item = &'a http::HeaderValue>,
    name: &str,
) -> Result<Option<(std::borrow::Cow<'a, str>, usize)>, CookieError> {
    let mut whole: Option<&[u8]> = None;
    let mut chunks: [Option<&[u8]>; MAX_CHUNKS] = [None; MAX_CHUNKS];
    let mut total = 0usize;
    for (n, v) in pairs(cookie_headers) {
        let slot = match kind(n, name) {
            Kind::Unrelated => continue,
            Kind::BadChunk { too_large: true } => return Err(CookieError::TooLarge),
            Kind::BadChunk { too_large: false } => return Err(CookieError::Malformed),
            Kind::Whole => &mut whole,
            Kind::Chunk(i) => chunks.get_mut(i).ok_or(CookieError::TooLarge)?,
        };
        if v.len() > MAX_COOKIE_BYTES {
            return Err(CookieError::TooLarge);
        }
        total += v.len();
        if total > MAX_CHUNKS * MAX_COOKIE_BYTES {
            return Err(CookieError::TooLarge);
        }
        if slot.is_some() {
            return Err(CookieError::Malformed);
        }
        *slot = Some(v);
    }
    let count = chunks.iter().take_while(|c| c.is_some()).count();
    if chunks.iter().skip(count).any(Option::is_some) {
        return Err(CookieError::Malformed);
    }
    let valid = |p: &[u8]| !p.is_empty() && p.iter().copied().all(is_cookie_octet);
    match (whole, count) {
        (None, 0) => Ok(None),
        // One cookie (the usual case): borrowed from the header, no copy.
        (Some(w), 0) if valid(w) => std::str::from_utf8(w)
            .map(|s| Some((std::borrow::Cow::Borrowed(s), 0)))
            .map_err(|_| CookieError::Malformed),
        (None, _) => {
            let parts = chunks.iter().take(count).flatten();
            if !parts.clone().all(|p| valid(p)) {
                return Err(CookieError::Malformed);
            }
            let joined = String::from_utf8(parts.copied().collect::<Vec<&[u8]>>().concat())
                .map_err(|_| CookieError::Malformed)?;
            Ok(Some((std::borrow::Cow::Owned(joined), count)))
        }
        _ => Err(CookieError::Malformed),
    }
}

/// Whether the cookie named `cookie_name` belongs to the family of `name`: `name` itself or any
/// `name_…` (session chunks, pending sign-ins). Compared as bytes, case-sensitively (cookie names
/// are case-sensitive), so a cookie name with non-ASCII bytes is still classified.
pub fn in_family(cookie_name: &[u8], name: &str) -> bool {
    cookie_name
        .strip_prefix(name.as_bytes())
        .is_some_and(|rest| rest.is_empty() || rest.first() == Some(&b'_'))
}

/// Names of the cookies in the request that start with `prefix`, as text, deduplicated, at most
/// `limit`. Works on bytes like [`read`]: a cookie with non-UTF-8 or non-ASCII bytes elsewhere in
/// the same header does not hide the others. Names that are not cookie tokens are skipped (they
/// would be echoed into `Set-Cookie`).
pub fn names_with_prefix<'a>(
    cookie_headers: impl Iterator<Item = &'a http::HeaderValue>,
    prefix: &str,
    limit: usize,
) -> Vec<String> {
    cookie_names(cookie_headers, limit, |n| n.starts_with(prefix.as_bytes()))
}

/// Names of the cookies in the request that `keep` accepts, as text, deduplicated, at most
/// `limit`; names that are not cookie tokens are skipped (they would be echoed into `Set-Cookie`).
fn cookie_names<'a>(
    cookie_headers: impl Iterator<Item = &'a http::HeaderValue>,
    limit: usize,
    keep: impl Fn(&[u8]) -> bool,
) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (n, _) in pairs(cookie_headers) {
        if out.len() >= limit {
            break;
        }
        if !keep(n) {
            continue;
        }
        if let Ok(s) = std::str::from_utf8(n) {
            if is_token(s) && !out.iter().any(|o| o == s) {
                out.push(s.to_owned());
            }
        }
    }
    out
}

/// Names of cookies in the request that look like chunks of the session cookie `name` but that a
/// session never has: an index of [`MAX_CHUNKS`] or more, or one not in canonical form (`name_00`).
/// [`read`] refuses a request carrying one, so whatever clears or replaces the session must expire
/// these too, or a single planted cookie (a script on the site, or the upstream) would make every
/// sign-in end in a session that cannot be read: a sign-in loop.
pub fn stray_chunk_names<'a>(
    cookie_headers: impl Iterator<Item = &'a http::HeaderValue>,
    name: &str,
) -> Vec<String> {
    // Chunk-like names have at most 20 digits (see `kind`), so the echo is bounded.
    cookie_names(cookie_headers, 2 * MAX_CHUNKS, |n| {
        matches!(kind(n, name), Kind::BadChunk { .. })
    })
}

#[cfg(test)]
mod tests {
    /// [`read`] with the value owned (for comparisons).
    fn read_owned<'a>(
        h: impl Iterator<Item = &'a http::HeaderValue>,
        name: &str,
    ) -> Result<Option<(String, usize)>, CookieError> {
        super::read(h, name).map(|o| o.map(|(v, n)| (v.into_owned(), n)))
    }

    use super::*;
    use http::HeaderValue;

    const NAME: &str = "__Host-octogate";
    const ATTRS: CookieAttrs = CookieAttrs {
        secure: true,
        max_age: Some(std::time::Duration::from_secs(3600)),
    };

    fn hv(s: &str) -> HeaderValue {
        HeaderValue::from_str(s).expect("header")
    }

    fn value(len: usize) -> String {
        let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len)
            .map(|i| alphabet[(i * 31 + i / 64) % 64] as char)
            .collect()
    }

    /// Turns Set-Cookie values into the `Cookie` header a browser would send back.
    fn cookie_header(set: &[String]) -> String {
        set.iter()
            .filter(|s| !s.contains("Max-Age=0"))
            .map(|s| s.split(';').next().unwrap_or_default().to_string())
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn names(set: &[String]) -> Vec<String> {
        set.iter()
            .map(|s| s.split('=').next().unwrap_or_default().to_string())
            .collect()
    }

    #[test]
    fn family_names_are_found_beside_non_ascii_cookies() {
        let h = HeaderValue::from_bytes(
            b"city=Z\xc3\xbcrich; __Host-octogate_0=A; __Host-octogate_1=B; __Host-octogate=C; \
              __Host-octogate_0=dup; __Host-octogatex=D; \xff\xfe=x; __Host-octogate_\xc3\xa9=E",
        )
        .expect("header");
        assert_eq!(
            names_with_prefix(std::iter::once(&h), NAME, 32),
            vec![
                "__Host-octogate_0",
                "__Host-octogate_1",
                "__Host-octogate",
                "__Host-octogatex"
            ],
            "non-token names skipped, duplicates once"
        );
        assert_eq!(names_with_prefix(std::iter::once(&h), NAME, 2).len(), 2);
        assert!(in_family(b"__Host-octogate", NAME));
        assert!(in_family(b"__Host-octogate_9", NAME));
        assert!(!in_family(b"__Host-octogatex", NAME));
        assert!(
            !in_family(b"__host-octogate", NAME),
            "names are case-sensitive"
        );
        let cleared = clear_cookie_headers(
            NAME,
            &ATTRS,
            &names_with_prefix(std::iter::once(&h), NAME, 32),
        );
        assert_eq!(
            names(&cleared),
            vec!["__Host-octogate_0", "__Host-octogate_1", "__Host-octogate"]
        );
    }

    #[test]
    fn cookie_octets_are_rfc6265() {
        let allowed: Vec<u8> = (0..=255u8).filter(|b| is_cookie_octet(*b)).collect();
        // 0x21, 0x23-0x2B, 0x2D-0x3A, 0x3C-0x5B, 0x5D-0x7E: 94 printable ASCII minus `"` `,` `;` `\`.
        assert_eq!(allowed.len(), 90);
        for b in [b' ', b'"', b',', b';', b'\\', 0x7f, 0x80, 0xff, b'\t', 0] {
            assert!(!is_cookie_octet(b), "{b:#x}");
        }
        for b in b"AZaz09-_.=!#+/:<[]~" {
            assert!(is_cookie_octet(*b), "{b:#x}");
        }
    }

    #[test]
    fn attributes_on_every_cookie() {
        let cases = [
            (
                CookieAttrs {
                    secure: true,
                    max_age: Some(std::time::Duration::from_secs(60)),
                },
                true,
                Some("Max-Age=60"),
            ),
            (
                CookieAttrs {
                    secure: false,
                    max_age: None,
                },
                false,
                None,
            ),
        ];
        for (attrs, secure, age) in cases {
            for v in [value(10), value(9000)] {
                let set = set_cookie_headers(NAME, &v, &attrs, 3).expect("set");
                for s in &set {
                    assert!(s.contains("; Path=/"), "{s}");
                    assert!(s.contains("; HttpOnly"), "{s}");
                    assert!(s.contains("; SameSite=Lax"), "{s}");
                    assert_eq!(s.contains("; Secure"), secure, "{s}");
                    assert!(!s.to_ascii_lowercase().contains("domain"), "{s}");
                    if !s.contains("Max-Age=0") {
                        assert_eq!(age.is_some_and(|a| s.contains(a)), age.is_some(), "{s}");
                        assert_eq!(s.contains("Max-Age"), age.is_some(), "{s}");
                    }
                }
            }
        }
    }

    #[test]
    fn small_value_single_cookie_round_trip() {
        let v = value(500);
        let set = set_cookie_headers(NAME, &v, &ATTRS, 0).expect("set");
        assert_eq!(names(&set), vec![NAME.to_string()]);
        let h = hv(&cookie_header(&set));
        assert_eq!(read_owned([&h].into_iter(), NAME), Ok(Some((v, 0))));
    }

    #[test]
    fn boundary_of_single_cookie() {
        let fits = SINGLE_COOKIE_LIMIT - NAME.len() - 1;
        let cases = [(fits, 1usize), (fits + 1, 2)];
        for (len, n) in cases {
            let set = set_cookie_headers(NAME, &value(len), &ATTRS, 0).expect("set");
            let written = set.iter().filter(|s| !s.contains("Max-Age=0")).count();
            assert_eq!(written, n, "len {len}");
            for s in set.iter().filter(|s| !s.contains("Max-Age=0")) {
                let pair = s.split(';').next().unwrap_or_default();
                assert!(pair.len() <= SINGLE_COOKIE_LIMIT, "{}", pair.len());
            }
        }
    }

    #[test]
    fn chunked_round_trip_11k() {
        let v = value(11 * 1024);
        let set = set_cookie_headers(NAME, &v, &ATTRS, 0).expect("set");
        let written: Vec<_> = set
            .iter()
            .filter(|s| !s.contains("Max-Age=0"))
            .cloned()
            .collect();
        assert_eq!(
            names(&written),
            vec![
                format!("{NAME}_0"),
                format!("{NAME}_1"),
                format!("{NAME}_2")
            ]
        );
        // previous_chunks == 0: the unchunked cookie is expired.
        assert!(set
            .iter()
            .any(|s| s.starts_with(&format!("{NAME}=;")) && s.contains("Max-Age=0")));
        // Reading works in any order and across several Cookie headers, among junk.
        let mut pairs: Vec<String> = written
            .iter()
            .map(|s| s.split(';').next().unwrap_or_default().to_string())
            .collect();
        pairs.reverse();
        let h1 = hv(&format!("junk; other=1; {}; {}", pairs[0], pairs[1]));
        let h2 = hv(&format!("{}; x=\"y\"", pairs[2]));
        assert_eq!(read_owned([&h1, &h2].into_iter(), NAME), Ok(Some((v, 3))));
    }

    #[test]
    fn too_many_chunks_on_write() {
        let per = SINGLE_COOKIE_LIMIT - NAME.len() - 3;
        assert!(set_cookie_headers(NAME, &value(per * MAX_CHUNKS), &ATTRS, 0).is_ok());
        assert_eq!(
            set_cookie_headers(NAME, &value(per * MAX_CHUNKS + 1), &ATTRS, 0),
            Err(CookieError::TooLarge)
        );
    }

    #[test]
    fn bad_names_and_values_on_write() {
        let cases = [
            ("bad name", "v"),
            ("a;b", "v"),
            ("", "v"),
            ("ok", ""),
            ("ok", "a;b"),
            ("ok", "a b"),
            ("ok", "a\"b"),
            ("ok", "é"),
        ];
        for (n, v) in cases {
            assert_eq!(
                set_cookie_headers(n, v, &ATTRS, 0),
                Err(CookieError::Malformed),
                "{n:?} {v:?}"
            );
        }
    }

    #[test]
    fn stale_cookies_expired() {
        let small = value(100);
        let big = value(9000); // three chunks
                               // (value, previous_chunks, expected expired names)
        let cases: Vec<(&str, usize, Vec<String>)> = vec![
            (&small, 0, vec![]),
            (
                &small,
                3,
                vec![
                    format!("{NAME}_0"),
                    format!("{NAME}_1"),
                    format!("{NAME}_2"),
                ],
            ),
            (&big, 0, vec![NAME.to_string()]),
            (&big, 3, vec![]),
            (&big, 5, vec![format!("{NAME}_3"), format!("{NAME}_4")]),
            (
                &small,
                1000,
                (0..MAX_CHUNKS).map(|i| format!("{NAME}_{i}")).collect(),
            ),
        ];
        for (v, prev, want) in cases {
            let set = set_cookie_headers(NAME, v, &ATTRS, prev).expect("set");
            let expired: Vec<String> = names(
                &set.iter()
                    .filter(|s| s.contains("Max-Age=0"))
                    .cloned()
                    .collect::<Vec<_>>(),
            );
            assert_eq!(expired, want, "len {} prev {prev}", v.len());
            for s in set.iter().filter(|s| s.contains("Max-Age=0")) {
                assert!(s.contains("Expires=Thu, 01 Jan 1970 00:00:00 GMT"), "{s}");
                assert!(s.contains("; Secure") && s.contains("; Path=/"), "{s}");
            }
        }
    }

    #[test]
    fn read_rejections() {
        let ok = value(50);
        let big = "A".repeat(MAX_COOKIE_BYTES + 1);
        let full = "A".repeat(MAX_COOKIE_BYTES);
        let all8: String = (0..8)
            .map(|i| format!("{NAME}_{i}={full}"))
            .collect::<Vec<_>>()
            .join("; ");
        type Want = Result<Option<(String, usize)>, CookieError>;
        let cases: Vec<(String, Want)> = vec![
            (String::new(), Ok(None)),
            ("other=1; x; =; ;;".to_string(), Ok(None)),
            (
                format!("{NAME}x={ok}; {NAME}_login_abc={ok}; {NAME}_a={ok}"),
                Ok(None),
            ),
            (format!("{NAME}={ok}"), Ok(Some((ok.clone(), 0)))),
            (format!("  {NAME} = {ok} "), Ok(Some((ok.clone(), 0)))),
            (format!("{NAME}_0={ok}"), Ok(Some((ok.clone(), 1)))),
            (all8.clone(), Ok(Some((full.repeat(8), 8)))),
            // duplicates
            (
                format!("{NAME}={ok}; {NAME}={ok}"),
                Err(CookieError::Malformed),
            ),
            (
                format!("{NAME}_0={ok}; {NAME}_1={ok}; {NAME}_0={ok}"),
                Err(CookieError::Malformed),
            ),
            // both forms
            (
                format!("{NAME}={ok}; {NAME}_0={ok}"),
                Err(CookieError::Malformed),
            ),
            // gaps
            (format!("{NAME}_1={ok}"), Err(CookieError::Malformed)),
            (
                format!("{NAME}_0={ok}; {NAME}_2={ok}"),
                Err(CookieError::Malformed),
            ),
            (
                format!("{NAME}_0={ok}; {NAME}_1={ok}; {NAME}_7={ok}"),
                Err(CookieError::Malformed),
            ),
            // non-canonical index
            (format!("{NAME}_00={ok}"), Err(CookieError::Malformed)),
            // more than 8 chunks
            (format!("{NAME}_8={ok}"), Err(CookieError::TooLarge)),
            (format!("{all8}; {NAME}_8=A"), Err(CookieError::TooLarge)),
            // 23 digits: not a chunk name at all (an unrelated cookie)
            (format!("{NAME}_99999999999999999999999={ok}"), Ok(None)),
            // oversized chunk / total
            (format!("{NAME}={big}"), Err(CookieError::TooLarge)),
            (
                format!("{NAME}_0={ok}; {NAME}_1={big}"),
                Err(CookieError::TooLarge),
            ),
            // bad values
            (format!("{NAME}="), Err(CookieError::Malformed)),
            (format!("{NAME}=\"{ok}\""), Err(CookieError::Malformed)),
            (
                format!("{NAME}_0={ok}; {NAME}_1=a,b"),
                Err(CookieError::Malformed),
            ),
        ];
        for (header, want) in cases {
            let h = hv(&header);
            assert_eq!(read_owned([&h].into_iter(), NAME), want, "{header:.80}");
        }
    }

    #[test]
    fn oversized_total_across_headers() {
        let full = "A".repeat(MAX_COOKIE_BYTES);
        // Duplicate names would also fail; here the total is the first limit hit.
        let hs: Vec<HeaderValue> = (0..MAX_CHUNKS)
            .map(|i| hv(&format!("{NAME}_{i}={full}")))
            .collect();
        let extra = hv(&format!("{NAME}_0=A"));
        let it = hs.iter().chain(std::iter::once(&extra));
        assert_eq!(read(it, NAME), Err(CookieError::TooLarge));
    }

    #[test]
    fn junk_bytes_in_other_cookies_tolerated() {
        let ok = value(40);
        let mut raw = b"junk=\xff\xfe; ".to_vec();
        raw.extend_from_slice(format!("{NAME}={ok}").as_bytes());
        let h = HeaderValue::from_bytes(&raw).expect("obs-text header");
        assert_eq!(read_owned([&h].into_iter(), NAME), Ok(Some((ok, 0))));
        let mut raw = format!("{NAME}=").into_bytes();
        raw.extend_from_slice(b"\xff\xfe");
        let h = HeaderValue::from_bytes(&raw).expect("obs-text header");
        assert_eq!(
            read_owned([&h].into_iter(), NAME),
            Err(CookieError::Malformed)
        );
    }

    #[test]
    fn stray_names_and_clearing() {
        let h = hv(&format!(
            "a=1; {NAME}=x; {NAME}_0=x; {NAME}_9=y; {NAME}_login_abc=z; {NAME}=x; other_{NAME}=q; {NAME}_00=z; {NAME}_8=w; {NAME}_9=again; {NAME}_123456=long; {NAME}_000000000000000000001=x"
        ));
        let stray = stray_chunk_names([&h].into_iter(), NAME);
        assert_eq!(
            stray,
            vec![
                format!("{NAME}_9"),
                format!("{NAME}_00"),
                format!("{NAME}_8"),
                format!("{NAME}_123456")
            ]
        );
        // 21 digits: no chunk name at all, so it never spoils a session.
        let only = hv(&format!("{NAME}=x; {NAME}_000000000000000000001=y"));
        assert!(read_owned([&only].into_iter(), NAME).is_ok());
        let given = vec![
            NAME.to_string(),
            format!("{NAME}_0"),
            format!("{NAME}_0"),
            format!("{NAME}_login_abcdef"),
            "unrelated".to_string(),
            format!("{NAME}_bad;name"),
            format!("{NAME}x"),
        ];
        let cleared = clear_cookie_headers(NAME, &ATTRS, &given);
        assert_eq!(
            names(&cleared),
            vec![
                NAME.to_string(),
                format!("{NAME}_0"),
                format!("{NAME}_login_abcdef")
            ]
        );
        for s in &cleared {
            assert!(
                s.contains("Max-Age=0")
                    && s.contains("; Secure")
                    && s.contains("; Path=/")
                    && s.contains("; HttpOnly"),
                "{s}"
            );
        }
        assert!(clear_cookie_headers(NAME, &ATTRS, &[]).is_empty());
    }
}
