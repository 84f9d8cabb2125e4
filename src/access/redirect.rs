//! The open-redirect rule for the post-sign-in destination (`rd`).

/// Longest `rd` accepted.
pub const MAX_REDIRECT_LEN: usize = 2048;

fn hex(b: u8) -> Option<u8> {
    char::from(b)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// Percent-decodes `s` once; `None` on invalid percent-encoding.
fn decode_once(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while let Some(&b) = s.get(i) {
        if b == b'%' {
            let h = hex(*s.get(i + 1)?)?;
            let l = hex(*s.get(i + 2)?)?;
            out.push((h << 4) | l);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Some(out)
}

/// Bytes never allowed in `rd`, raw or percent-encoded: controls, whitespace, backslash, and
/// characters that have no business in a path and only help injection (`"`, `<`, `>`, `` ` ``).
fn forbidden(b: u8) -> bool {
    b < 0x20 || b == 0x7F || matches!(b, b' ' | b'\\' | b'"' | b'<' | b'>' | b'`')
}

fn starts_like_authority(s: &[u8]) -> bool {
    matches!(s, [b'/', b'/' | b'\\', ..])
}

/// `rd` if it is a safe local path to redirect to after sign-in, else `None` (the caller then uses
/// the first protected path).
///
/// Accepted: at most [`MAX_REDIRECT_LEN`] printable ASCII characters starting with exactly one `/`
/// (not `//` or `/\`, also not after percent-decoding up to three times; deeper encoding is
/// refused), without whitespace, control
/// characters or backslashes (raw or percent-encoded), without invalid percent-encoding and without
/// `.`/`..` segments in the path. A query string is allowed.
pub fn safe_redirect_path(rd: &str) -> Option<String> {
    let bytes = rd.as_bytes();
    if bytes.is_empty() || bytes.len() > MAX_REDIRECT_LEN {
        return None;
    }
    if bytes.first() != Some(&b'/') || starts_like_authority(bytes) {
        return None;
    }
    if bytes.iter().any(|&b| b >= 0x80 || forbidden(b)) {
        return None;
    }
    // Decode repeatedly so no layer of encoding hides a `//`, a backslash or a control
    // character; more than a few layers is refused outright.
    let mut layer = bytes.to_vec();
    let mut stable = false;
    for _ in 0..4 {
        let next = decode_once(&layer)?;
        if next.iter().any(|&b| forbidden(b)) || starts_like_authority(&next) {
            return None;
        }
        if next == layer {
            stable = true;
            break;
        }
        layer = next;
    }
    if !stable {
        return None;
    }
    // No dot segments in the path part: `/.//evil.com` would resolve to `//evil.com`.
    let path = rd.split(['?', '#']).next().unwrap_or_default();
    let decoded_path = decode_once(path.as_bytes())?;
    if decoded_path
        .split(|b| *b == b'/')
        .any(|seg| seg == b"." || seg == b"..")
    {
        return None;
    }
    Some(rd.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_values_rejected() {
        let long = format!("/{}", "a".repeat(MAX_REDIRECT_LEN));
        let cases: &[&str] = &[
            "",
            "/\0",
            "//evil.com",
            "///evil.com",
            "////evil.com",
            "/\\evil.com",
            "/\\/evil.com",
            "\\\\evil.com",
            "\\/evil.com",
            "https://evil.com",
            "http:/evil.com",
            "http:evil.com",
            "HTTPS://evil.com/backend",
            "javascript:alert(1)",
            "data:text/html,<script>alert(1)</script>",
            "/%2F%2Fevil.com",
            "/%2fevil.com",
            "%2F%2Fevil.com",
            "%2f/evil.com",
            "/%5Cevil.com",
            "/%5cevil.com",
            "/x%5Cy",
            "/%252F%252Fevil.com",
            "/%25252F/evil.com",
            "\t//evil.com",
            " /x",
            "/x ",
            "/x\r\nLocation: x",
            "/x%0d%0aLocation:%20x",
            "/x%0D%0A",
            "/x%09",
            "/backend/x%20y",
            "/%2525252525252F",
            "/x%00",
            "/x%7f",
            "//%09evil.com",
            "/%09/evil.com",
            "/\t/evil.com",
            "/.//evil.com",
            "/./",
            "/backend/../..//evil.com",
            "/%2e/%2fevil.com",
            "/%2E%2E/x",
            "/x/..",
            "／／evil.com",
            "/／evil.com",
            "/backend/é",
            "evil.com",
            "backend",
            "?x=1",
            "#x",
            "/%",
            "/%zz",
            "/x%4",
            "/x\"onload=",
            "/<script>",
            "/x`y",
            &long,
        ];
        for rd in cases {
            assert_eq!(safe_redirect_path(rd), None, "{rd:?}");
        }
    }

    #[test]
    fn local_paths_accepted() {
        let longest = format!("/{}", "a".repeat(MAX_REDIRECT_LEN - 1));
        let cases: &[&str] = &[
            "/",
            "/backend",
            "/backend/",
            "/backend/cms?x=1",
            "/backend/cms?x=1&y=%2F%2F",
            "/backend/cms?next=//evil.com",
            "/backend/cms/themes/edit?theme=demo#top",
            "/backend/%C3%A4",
            "/backend/.well-known",
            "/backend/...",
            "/backend;x",
            "/javascript:alert(1)",
            &longest,
        ];
        for rd in cases {
            assert_eq!(safe_redirect_path(rd).as_deref(), Some(*rd), "{rd:?}");
        }
    }
}
