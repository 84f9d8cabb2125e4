//! Header hygiene: identity headers only octogate may set, hop-by-hop headers (RFC 9110 §7.6.1),
//! and the `X-Forwarded-*` set.
use http::header::{
    HeaderMap, HeaderName, HeaderValue, CACHE_CONTROL, CONNECTION, SET_COOKIE, UPGRADE,
};

/// Exact (normalised) names of headers that could be mistaken for identity. Compared after
/// lowercasing and mapping `_` to `-` (PHP maps both to `HTTP_X_FORWARDED_USER`).
const IDENTITY_EXACT: &[&str] = &[
    "x-forwarded-user",
    "x-forwarded-email",
    "x-forwarded-groups",
    "x-forwarded-preferred-username",
    "x-forwarded-access-token",
    "x-forwarded-id-token",
    "remote-user",
    "remote-email",
    "remote-groups",
    "remote-name",
    "x-remote-user",
    "x-remote-email",
    "x-remote-groups",
    "x-user",
    "x-email",
    "x-webauth-user",
    "x-authenticated-user",
];

/// Prefixes (normalised) of identity headers.
const IDENTITY_PREFIXES: &[&str] = &[
    "x-auth-request-",
    "x-octogate-",
    "oidc-claim-",
    "x-remote-",
    "x-webauth-",
];

/// Forwarding headers believed only from trusted proxies.
const FORWARDING: &[&str] = &[
    "x-forwarded-for",
    "x-forwarded-proto",
    "x-forwarded-host",
    "x-forwarded-port",
    "x-forwarded-uri",
    "x-forwarded-prefix",
    "x-original-uri",
    "x-original-url",
    "x-rewrite-url",
    "x-real-ip",
    "x-client-ip",
    "forwarded",
    "x-request-id",
];

/// Hop-by-hop headers always removed (RFC 9110 §7.6.1 plus the common non-standard ones).
const HOP_BY_HOP: [&str; 10] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "http2-settings",
];

/// [`HOP_BY_HOP`] as header names, so removing one needs no parsing of the name.
const HOP_BY_HOP_NAMES: [HeaderName; 10] = [
    HeaderName::from_static(HOP_BY_HOP[0]),
    HeaderName::from_static(HOP_BY_HOP[1]),
    HeaderName::from_static(HOP_BY_HOP[2]),
    HeaderName::from_static(HOP_BY_HOP[3]),
    HeaderName::from_static(HOP_BY_HOP[4]),
    HeaderName::from_static(HOP_BY_HOP[5]),
    HeaderName::from_static(HOP_BY_HOP[6]),
    HeaderName::from_static(HOP_BY_HOP[7]),
    HeaderName::from_static(HOP_BY_HOP[8]),
    HeaderName::from_static(HOP_BY_HOP[9]),
];

/// Bit n set: some name in [`HOP_BY_HOP`] is n bytes long (all are shorter than 32).
const HOP_BY_HOP_LENGTHS: u32 = {
    let mut mask = 0u32;
    let mut i = 0;
    while i < HOP_BY_HOP.len() {
        assert!(HOP_BY_HOP[i].len() < 32);
        mask |= 1 << HOP_BY_HOP[i].len();
        i += 1;
    }
    mask
};

/// Where `connection` and `transfer-encoding` are in [`HOP_BY_HOP`] (checked at compile time).
const CONNECTION_BIT: usize = 0;
const TRANSFER_ENCODING_BIT: usize = 7;
const _: () = {
    assert!(const_eq(HOP_BY_HOP[CONNECTION_BIT], "connection"));
    assert!(const_eq(
        HOP_BY_HOP[TRANSFER_ENCODING_BIT],
        "transfer-encoding"
    ));
};

/// `a == b` for constants.
const fn const_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Normalises a header name for comparison: ASCII-lowercase with every character that is not a
/// letter or digit (`_`, `.`, `~`, ...) mapped to `-`. PHP maps `-`, `_` and `.` alike to `_`
/// in `$_SERVER`, so all such spellings are the same header to the upstream.
///
/// Only the first [`NORM_LEN`] bytes are kept (no allocation): every name compared exactly is
/// shorter than that, so a longer name can only match by prefix, which the kept bytes decide.
fn normalise<'a>(name: &str, buf: &'a mut [u8; NORM_LEN]) -> &'a str {
    let n = name.len().min(NORM_LEN);
    for (out, b) in buf.iter_mut().zip(name.bytes()) {
        *out = if b.is_ascii_alphanumeric() {
            b.to_ascii_lowercase()
        } else {
            b'-'
        };
    }
    // Only ASCII letters, digits and '-' were written.
    std::str::from_utf8(&buf[..n]).unwrap_or("")
}

/// How much of a header name [`normalise`] looks at.
const NORM_LEN: usize = 64;

/// Every name compared after [`normalise`] must be shorter than [`NORM_LEN`] (checked at compile
/// time), so truncation can never make a long name equal to a listed one.
const _: () = {
    const fn all_short(list: &[&str]) -> bool {
        let mut i = 0;
        while i < list.len() {
            if list[i].len() >= NORM_LEN {
                return false;
            }
            i += 1;
        }
        true
    }
    assert!(all_short(IDENTITY_EXACT));
    assert!(all_short(IDENTITY_PREFIXES));
    assert!(all_short(FORWARDING));
    assert!(all_short(&HOP_BY_HOP));
    // `strip_hop_by_hop` marks the names present in a u16.
    assert!(HOP_BY_HOP.len() <= 16);
};

/// Whether a header name uses a spelling other than plain letters, digits and `-`.
fn unusual(name: &str) -> bool {
    name.bytes()
        .any(|b| !(b.is_ascii_alphanumeric() || b == b'-'))
}

/// Whether a (normalised) name is an identity header.
fn is_identity(n: &str) -> bool {
    IDENTITY_EXACT.contains(&n) || IDENTITY_PREFIXES.iter().any(|p| n.starts_with(p))
}

/// Removes every header a client sent that could be mistaken for identity, in any spelling.
/// Returns how many were removed (for the log).
pub fn strip_identity(headers: &mut HeaderMap, also_forwarding: bool) -> usize {
    let mut buf = [0u8; NORM_LEN];
    let mut doomed: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        let norm = normalise(name.as_str(), &mut buf);
        // An underscore spelling of a forwarding header is never legitimate: drop it always.
        let underscore_forwarding = unusual(name.as_str()) && FORWARDING.contains(&norm);
        if is_identity(norm)
            || underscore_forwarding
            || (also_forwarding && FORWARDING.contains(&norm))
        {
            doomed.push(name.clone());
        }
    }
    let n = doomed.len();
    for name in doomed {
        headers.remove(&name);
    }
    n
}

/// Whether a cookie (`name=value` as in `Cookie`, or a `Set-Cookie` value) is one of octogate's:
/// named `name` or `name_…`. A piece without `=` is a nameless cookie whose value is the whole
/// piece; treating the piece as a name errs towards calling it ours.
fn own_cookie(piece: &[u8], name: &str) -> bool {
    let mut piece = piece.trim_ascii();
    loop {
        let n = piece.split(|b| *b == b'=').next().unwrap_or_default();
        if crate::session::in_family(n.trim_ascii(), name) {
            return true;
        }
        // `=octogate_8=x` sets a cookie with an empty name whose value a browser sends back as
        // `octogate_8=x`.
        match piece.strip_prefix(b"=") {
            Some(rest) => piece = rest.trim_ascii_start(),
            None => return false,
        }
    }
}

/// Removes octogate's own cookies (the session, its chunks, pending sign-ins: every cookie named
/// `name` or `name_…`) from the `Cookie` header sent upstream: the session is a bearer credential
/// the site never needs to see. Works on bytes: a cookie with non-ASCII bytes (`city=Zürich`) in
/// the same header must not make octogate pass the header on untouched. Several `Cookie` headers
/// (HTTP/2 clients send one per cookie) become one, joined by `"; "` (RFC 9113 §8.2.3): an
/// HTTP/1.1 server may join repeated headers with `", "`, which breaks cookie parsing.
pub fn strip_own_cookies(headers: &mut HeaderMap, name: &str) {
    let mut values = headers.get_all(http::header::COOKIE).iter();
    if values.next().is_none() {
        return;
    }
    let several = values.next().is_some();
    let ours = |piece: &[u8]| own_cookie(piece, name);
    if !several && !cookie_pieces(headers).any(ours) {
        return;
    }
    let mut kept: Vec<u8> = Vec::new();
    for p in cookie_pieces(headers) {
        if p.is_empty() || ours(p) {
            continue;
        }
        if !kept.is_empty() {
            kept.extend_from_slice(b"; ");
        }
        kept.extend_from_slice(p);
    }
    headers.remove(http::header::COOKIE);
    if !kept.is_empty() {
        // Built from pieces of valid header values joined by "; ": always a valid value.
        if let Ok(v) = HeaderValue::from_bytes(&kept) {
            headers.insert(http::header::COOKIE, v);
        }
    }
}

/// Removes `Set-Cookie` headers of the upstream's response that would set one of octogate's own
/// cookies (named `name` or `name_…`): a page of the site must not be able to replace, or plant a
/// chunk beside, the session. Returns how many were removed (for the log).
pub fn strip_own_set_cookies(headers: &mut HeaderMap, name: &str) -> usize {
    let ours = |v: &HeaderValue| own_cookie(v.as_bytes(), name);
    if !headers.get_all(SET_COOKIE).iter().any(ours) {
        return 0;
    }
    let all: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
    headers.remove(SET_COOKIE);
    let mut removed = 0;
    for v in all {
        if ours(&v) {
            removed += 1;
        } else {
            headers.append(SET_COOKIE, v);
        }
    }
    removed
}

/// Makes a response from the protected area uncacheable by shared caches: `Cache-Control` keeps
/// its directives but for `public` and `s-maxage` (and the like), and says `private` unless it
/// says `no-store`; CDN-only caching headers (`CDN-Cache-Control`, `Surrogate-Control`) are
/// removed. The upstream does not know its pages sit behind a sign-in; a CDN or shared
/// cache in front of octogate storing one would hand it (and the refreshed session cookie added
/// to it) to whoever asks next, without octogate ever seeing the request.
pub fn make_private(headers: &mut HeaderMap) {
    // Caching instructions for CDNs only (RFC 9213 and vendors'), which they follow over
    // `Cache-Control`.
    for cdn in [
        "cdn-cache-control",
        "cloudflare-cdn-cache-control",
        "surrogate-control",
    ] {
        headers.remove(cdn);
    }
    /// Directives that let a shared cache store the response, or narrow `private` to some fields.
    fn shared(d: &[u8]) -> bool {
        let name = d
            .split(|b| *b == b'=')
            .next()
            .unwrap_or_default()
            .trim_ascii();
        [
            "public",
            "s-maxage",
            "proxy-revalidate",
            "must-understand",
            "private",
        ]
        .iter()
        .any(|s| name.eq_ignore_ascii_case(s.as_bytes()))
            && !d.eq_ignore_ascii_case(b"private")
    }
    fn keeps_it_private(d: &[u8]) -> bool {
        d.eq_ignore_ascii_case(b"private") || d.eq_ignore_ascii_case(b"no-store")
    }
    if !headers.contains_key(CACHE_CONTROL) {
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("private"));
        return;
    }
    if cache_directives(headers).any(keeps_it_private) && !cache_directives(headers).any(shared) {
        return;
    }
    if cache_directives(headers).any(|d| d.contains(&b'"')) {
        // Quoted arguments may hold commas: rather than splitting them, the header is replaced,
        // never less strict than it was for the browser's own cache.
        let no_store = cache_directives(headers).any(|d| d.eq_ignore_ascii_case(b"no-store"));
        headers.insert(
            CACHE_CONTROL,
            HeaderValue::from_static(if no_store {
                "private, no-store"
            } else {
                "private, no-cache"
            }),
        );
        return;
    }
    let mut out: Vec<u8> = b"private".to_vec();
    for d in cache_directives(headers).filter(|d| !shared(d) && !d.eq_ignore_ascii_case(b"private"))
    {
        out.extend_from_slice(b", ");
        out.extend_from_slice(d);
    }
    // Built from pieces of valid header values joined by ", ": always a valid value.
    let value = HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static("private"));
    headers.insert(CACHE_CONTROL, value);
}

/// The `,`-separated directives of every `Cache-Control` header, trimmed, as bytes.
fn cache_directives(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(CACHE_CONTROL)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|d| !d.is_empty())
}

/// The `;`-separated pieces of every `Cookie` header, trimmed, as bytes.
fn cookie_pieces(headers: &HeaderMap) -> impl Iterator<Item = &[u8]> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b';'))
        .map(<[u8]>::trim_ascii)
}

/// The `Upgrade` a request asked for, if it is a WebSocket upgrade (the only protocol passed
/// through: `h2c` and others would open an unfiltered tunnel to the upstream).
pub fn upgrade_request(headers: &HeaderMap) -> Option<HeaderValue> {
    let wants = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"));
    if !wants {
        return None;
    }
    headers
        .get(UPGRADE)
        .filter(|v| v.as_bytes().eq_ignore_ascii_case(b"websocket"))
        .cloned()
}

/// Removes hop-by-hop headers, including every header named in `Connection` (except the message
/// framing headers, which hyper manages). Must run before octogate adds its own headers, so a
/// client can never make octogate drop a header it adds.
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // One pass over the headers that are present (a handful), instead of a hash lookup per
    // hop-by-hop name: this runs twice per proxied request. A name is looked at only when its
    // length is that of a hop-by-hop name (normalising keeps the length), so most headers cost
    // one bit test. It allocates only for a spelling other than the listed one (`Keep_Alive`)
    // or a second `Connection` header.
    let mut buf = [0u8; NORM_LEN];
    // Bit i: `HOP_BY_HOP[i]` is present under its own name.
    let mut present: u16 = 0;
    let mut other_spellings: Vec<HeaderName> = Vec::new();
    for name in headers.keys() {
        let n = name.as_str();
        if n.len() >= 32 || HOP_BY_HOP_LENGTHS & (1 << n.len()) == 0 {
            continue;
        }
        if let Some(i) = HOP_BY_HOP.iter().position(|h| *h == n) {
            present |= 1 << i;
        } else if unusual(n) && HOP_BY_HOP.contains(&normalise(n, &mut buf)) {
            other_spellings.push(name.clone());
        }
    }
    let framed_by_te = present & (1 << TRANSFER_ENCODING_BIT) != 0;
    let has_connection = present & (1 << CONNECTION_BIT) != 0;
    // Headers named in `Connection` go too (`Connection` itself is in the list above). Its
    // values are cloned first (a reference count each) so the map can change; each token is
    // then removed by name (a lookup by `&str` lower-cases on the stack).
    let (first, more): (Option<HeaderValue>, Vec<HeaderValue>) = if has_connection {
        let mut values = headers.get_all(CONNECTION).iter().cloned();
        (values.next(), values.collect())
    } else {
        (None, Vec::new())
    };
    // A message framed by Transfer-Encoding must not carry Content-Length onward (RFC 9112
    // §6.3): hyper has decoded the body already, and a stale length is a smuggling vector.
    if framed_by_te {
        headers.remove(http::header::CONTENT_LENGTH);
    }
    for (i, name) in HOP_BY_HOP_NAMES.iter().enumerate() {
        if present & (1 << i) != 0 {
            headers.remove(name);
        }
    }
    for name in other_spellings {
        headers.remove(name);
    }
    for t in first
        .iter()
        .chain(&more)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
    {
        // A hop-by-hop name (`keep-alive`, the usual token) is gone already.
        if !t.is_empty()
            && !t.eq_ignore_ascii_case("content-length")
            && !HOP_BY_HOP.iter().any(|h| t.eq_ignore_ascii_case(h))
        {
            headers.remove(t);
        }
    }
}

/// The client's view after trust was applied.
#[derive(Debug, Clone)]
pub struct ClientFacts {
    /// The client IP: the peer, or from `X-Forwarded-For` of a trusted proxy.
    pub client_ip: std::net::IpAddr,
    /// The `X-Forwarded-For` value to send upstream: the trusted chain plus the peer, or `None`
    /// when it is the peer alone (the caller has that value ready per connection).
    pub forwarded_for: Option<String>,
    /// `http` or `https` as the browser used.
    pub proto: &'static str,
}

/// Works out the client facts from the peer address and (when the peer is trusted) its
/// forwarding headers. Must be called before [`strip_identity`] removes untrusted forwarding
/// headers. The client IP is the right-most address in the chain that is not a trusted proxy.
pub fn client_facts(
    headers: &HeaderMap,
    peer: std::net::IpAddr,
    is_trusted: impl Fn(std::net::IpAddr) -> bool,
    tls: bool,
) -> ClientFacts {
    if !is_trusted(peer) {
        return ClientFacts {
            client_ip: peer,
            forwarded_for: None,
            proto: if tls { "https" } else { "http" },
        };
    }
    let prior: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    let mut client_ip = peer;
    for hop in prior.iter().rev() {
        match hop.parse::<std::net::IpAddr>() {
            Ok(ip) => {
                client_ip = ip;
                if !is_trusted(ip) {
                    break;
                }
            }
            // An unparsable hop: stop believing the chain there.
            Err(_) => break,
        }
    }
    let forwarded_for = (!prior.is_empty()).then(|| format!("{}, {peer}", prior.join(", ")));
    let proto = match headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
    {
        Some(p) if p.trim().eq_ignore_ascii_case("https") => "https",
        Some(p) if p.trim().eq_ignore_ascii_case("http") => "http",
        _ if tls => "https",
        _ => "http",
    };
    ClientFacts {
        client_ip,
        forwarded_for,
        proto,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    fn cache_control(h: &HeaderMap) -> Vec<&str> {
        h.get_all(CACHE_CONTROL)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect()
    }

    #[test]
    fn protected_responses_are_never_left_to_shared_caches() {
        for (given, want) in [
            (vec![], "private"),
            (vec!["public, max-age=3600"], "private, max-age=3600"),
            (
                vec!["PUBLIC", "s-maxage=60, max-age=5"],
                "private, max-age=5",
            ),
            (vec!["max-age=60, proxy-revalidate"], "private, max-age=60"),
            (vec!["no-store, public"], "private, no-store"),
            (
                vec![r#"private="set-cookie", max-age=9"#],
                "private, no-cache",
            ),
            (vec![r#"no-cache="a, b", public"#], "private, no-cache"),
            (vec![r#"no-store, private="x""#], "private, no-store"),
            (vec!["max-age=60"], "private, max-age=60"),
            (vec!["immutable, private, public"], "private, immutable"),
        ] {
            let mut h = HeaderMap::new();
            for g in &given {
                h.append(CACHE_CONTROL, HeaderValue::from_str(g).unwrap());
            }
            make_private(&mut h);
            assert_eq!(cache_control(&h), vec![want], "{given:?}");
        }
        // CDN-only instructions go.
        let mut h = map(&[
            ("cache-control", "private"),
            ("cdn-cache-control", "max-age=600"),
            ("Surrogate-Control", "max-age=600"),
            ("cloudflare-cdn-cache-control", "max-age=600"),
        ]);
        make_private(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        // Already private (or not stored at all): left exactly as sent.
        for given in [
            "no-cache, private",
            "no-store",
            "Private, max-age=0",
            "no-store, must-revalidate",
        ] {
            let mut h = map(&[("cache-control", given)]);
            make_private(&mut h);
            assert_eq!(cache_control(&h), vec![given]);
        }
    }

    #[test]
    fn upstream_cannot_set_octogate_cookies() {
        let mut h = map(&[
            ("set-cookie", "octogate=evil; Path=/"),
            ("set-cookie", "site=keep; Path=/"),
            ("set-cookie", " octogate_8=x"),
            ("set-cookie", "octogate_login_abc=y"),
            ("set-cookie", "octogate"),
            ("set-cookie", "octogatex=keep-too"),
            ("set-cookie", "=octogate_8=x; Path=/"),
            ("set-cookie", "==octogate=x"),
            ("x-other", "1"),
        ]);
        assert_eq!(strip_own_set_cookies(&mut h, "octogate"), 6);
        let left: Vec<&str> = h
            .get_all(SET_COOKIE)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect();
        assert_eq!(left, vec!["site=keep; Path=/", "octogatex=keep-too"]);
        assert!(h.contains_key("x-other"));
        let mut none = map(&[("set-cookie", "a=1")]);
        assert_eq!(strip_own_set_cookies(&mut none, "octogate"), 0);
        assert_eq!(none.get(SET_COOKIE).unwrap(), "a=1");
    }

    #[test]
    fn several_cookie_headers_become_one() {
        let mut h = map(&[("cookie", "a=1"), ("cookie", "b=2; c=3")]);
        strip_own_cookies(&mut h, "octogate");
        let all: Vec<_> = h.get_all("cookie").iter().collect();
        assert_eq!(all, vec!["a=1; b=2; c=3"]);
        let mut h = map(&[("cookie", "octogate=s"), ("cookie", "b=2")]);
        strip_own_cookies(&mut h, "octogate");
        assert_eq!(h.get_all("cookie").iter().collect::<Vec<_>>(), vec!["b=2"]);
        let mut h = map(&[("cookie", "octogate=s"), ("cookie", "octogate_0=t")]);
        strip_own_cookies(&mut h, "octogate");
        assert!(!h.contains_key("cookie"));
    }

    #[test]
    fn strips_every_identity_spelling() {
        let mut h = map(&[
            ("X-Forwarded-User", "a"),
            ("x_forwarded_user", "a"),
            ("X_Forwarded_Email", "a"),
            ("x-forwarded-groups", "a"),
            ("X-Forwarded-Preferred-Username", "a"),
            ("X-Auth-Request-User", "a"),
            ("x_auth_request_email", "a"),
            ("X-Octogate-Assertion", "a"),
            ("x_octogate_assertion", "a"),
            ("Remote-User", "a"),
            ("remote_user", "a"),
            ("X-Octogate.Assertion", "a"),
            ("X-Forwarded.User", "a"),
            ("x~forwarded~email", "a"),
            ("accept", "text/html"),
            ("user-agent", "x"),
        ]);
        let n = strip_identity(&mut h, false);
        assert_eq!(n, 14);
        assert_eq!(h.len(), 2);
    }

    #[test]
    fn long_identity_names_are_caught_by_prefix() {
        // Longer than the normalisation window: the prefix still decides.
        let long = format!("X_Auth_Request_{}", "a".repeat(200));
        let long2 = format!("x-octogate-{}", "Z".repeat(80));
        let near = format!("x-forwarded-userx{}", "a".repeat(80));
        let mut h = map(&[(&long, "a"), (&long2, "a"), (&near, "kept")]);
        assert_eq!(strip_identity(&mut h, false), 2);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.get(near.as_str()).is_some());
    }

    #[test]
    fn forwarding_headers_need_trust() {
        let mut h = map(&[
            ("x-forwarded-for", "1.2.3.4"),
            ("x_forwarded_for", "1.2.3.4"),
            ("x-real-ip", "1.1.1.1"),
        ]);
        strip_identity(&mut h, false);
        assert!(h.get("x-forwarded-for").is_some());
        assert!(
            h.get("x_forwarded_for").is_none(),
            "underscore spelling is never believed"
        );
        strip_identity(&mut h, true);
        assert!(h.is_empty());
    }

    #[test]
    fn connection_named_headers_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, X-Forwarded-User, x-custom"),
            ("x-custom", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("upgrade", "websocket"),
            ("proxy_connection", "x"),
            ("x-kept", "1"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1, "{h:?}");
        assert!(h.get("x-kept").is_some());

        // Tokens in any case, several Connection headers, other spellings of hop-by-hop names;
        // Content-Length is never removed by a token (hyper frames the message).
        let mut h = map(&[
            ("connection", "X-ONE"),
            ("connection", " , x-Two ,close"),
            ("x-one", "1"),
            ("x-two", "2"),
            ("Keep_Alive", "x"),
            ("content-length", "3"),
            ("x-kept", "1"),
        ]);
        h.append(CONNECTION, HeaderValue::from_static("Content-Length"));
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "x-kept"], "{h:?}");

        // Names as long as a hop-by-hop name but not one stay; a token naming a hop-by-hop
        // header (the usual `keep-alive`) and one naming any other header both remove it.
        let mut h = map(&[
            ("connection", "Keep-Alive, close"),
            ("keep-alive", "timeout=5"),
            ("close", "x"),
            ("set-cookie", "a=b"),
            ("user-agent", "u"),
            ("referer", "r"),
            ("x-forwarded-for-", "1"),
            ("http2_settings", "x"),
            ("te", "trailers"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(
            left,
            ["referer", "set-cookie", "user-agent", "x-forwarded-for-"],
            "{h:?}"
        );
    }

    #[test]
    fn transfer_encoding_drops_content_length() {
        let mut h = map(&[("transfer-encoding", "chunked"), ("content-length", "5")]);
        strip_hop_by_hop(&mut h);
        assert!(h.is_empty(), "{h:?}");
        let mut h = map(&[("content-length", "5")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.get("content-length").unwrap(), "5");
    }

    #[test]
    fn upgrade_detection() {
        let h = map(&[
            ("connection", "keep-alive, Upgrade"),
            ("upgrade", "websocket"),
        ]);
        assert_eq!(upgrade_request(&h).unwrap(), "websocket");
        let h = map(&[("upgrade", "websocket")]);
        assert!(upgrade_request(&h).is_none());
        let h = map(&[
            ("connection", "Upgrade, HTTP2-Settings"),
            ("upgrade", "h2c"),
            ("http2-settings", "AAMAAABkAARAAAAAAAIAAAAA"),
        ]);
        assert!(upgrade_request(&h).is_none(), "h2c must not be tunnelled");
    }

    #[test]
    fn own_cookies_never_go_upstream() {
        let mut h = map(&[
            (
                "cookie",
                "october_session=abc; octogate=SEALED; octogate_0=A; octogate_login_xyz=L",
            ),
            ("cookie", "other=1; octogatex=keep"),
        ]);
        strip_own_cookies(&mut h, "octogate");
        let v: Vec<_> = h
            .get_all("cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert_eq!(
            v,
            vec!["october_session=abc; other=1; octogatex=keep".to_string()]
        );
        let mut h = map(&[("cookie", "octogate=SEALED")]);
        strip_own_cookies(&mut h, "octogate");
        assert!(h.get("cookie").is_none());
    }

    #[test]
    fn own_cookies_go_even_beside_non_ascii_cookies() {
        // One UTF-8 cookie in the same header used to make the whole header pass untouched.
        let mut h = HeaderMap::new();
        h.insert(
            "cookie",
            HeaderValue::from_bytes(
                b"a=1; octogate=S; octogate_0=A; city=Z\xc3\xbcrich; octogate_login_q=L; \xff=x",
            )
            .unwrap(),
        );
        strip_own_cookies(&mut h, "octogate");
        assert_eq!(
            h.get("cookie").unwrap().as_bytes(),
            b"a=1; city=Z\xc3\xbcrich; \xff=x"
        );
    }

    #[test]
    fn facts_respect_trust() {
        let h = map(&[
            ("x-forwarded-for", "9.9.9.9, 10.0.0.1"),
            ("x-forwarded-proto", "https"),
        ]);
        let peer: std::net::IpAddr = "10.0.0.2".parse().unwrap();
        let f = client_facts(&h, peer, |_| false, false);
        assert_eq!(f.forwarded_for, None, "the peer alone");
        assert_eq!(f.proto, "http");
        let trusted = |ip: std::net::IpAddr| ip.to_string().starts_with("10.");
        let f = client_facts(&h, peer, trusted, false);
        assert_eq!(
            f.forwarded_for.as_deref(),
            Some("9.9.9.9, 10.0.0.1, 10.0.0.2")
        );
        let none = HeaderMap::new();
        assert_eq!(
            client_facts(&none, peer, trusted, false).forwarded_for,
            None
        );
        assert_eq!(f.client_ip.to_string(), "9.9.9.9");
        // A spoofed left-most entry behind an untrusted hop is not believed.
        let h = map(&[("x-forwarded-for", "6.6.6.6, 8.8.8.8, 10.0.0.1")]);
        assert_eq!(
            client_facts(&h, peer, trusted, false).client_ip.to_string(),
            "8.8.8.8"
        );
        assert_eq!(f.proto, "https");
    }
}
