//! Which area of the site a normalised path falls in.

/// Where a request path falls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Area {
    /// Outside every protected prefix: passed through without a session.
    Open,
    /// Inside a protected prefix: needs a signed-in, allowed user.
    Protected,
    /// Inside a protected prefix but listed as a public exception: passed through.
    PublicInProtected,
}

/// Protected prefixes and their public exceptions, from `[access]`.
#[derive(Debug, Clone)]
pub struct PathRules {
    /// Lowercased protect prefixes.
    protect: Vec<String>,
    /// Lowercased public prefixes without trailing slashes (`"/"` becomes `""`).
    public: Vec<String>,
}

impl PathRules {
    /// Rules from the configured `protect` and `public` prefixes.
    pub fn new(protect: &[String], public: &[String]) -> Self {
        Self {
            protect: protect.iter().map(|p| p.to_ascii_lowercase()).collect(),
            public: public
                .iter()
                .map(|p| p.trim_end_matches('/').to_ascii_lowercase())
                .collect(),
        }
    }

    /// Whether `path` starts with a protect prefix, ASCII case-insensitively.
    fn protected(&self, path: &str) -> bool {
        self.protect
            .iter()
            .any(|p| starts_with_ignore_case(path, p))
    }

    /// Classifies a path produced by [`normalize`](super::normalize), ASCII case-insensitively
    /// (without allocating: this runs on every request).
    ///
    /// Protected: the path starts with a protect prefix as a plain string prefix (`/backend`
    /// protects `/backend`, `/backend/x`, `/backendfoo` and `/backend;x` alike: fail closed).
    /// Because October routes everything through its front controller, a path whose remainder after
    /// a `….php` segment (e.g. `/index.php/backend`) starts with a protect prefix is protected too.
    ///
    /// Public exception (only inside the protected area, and only for the plain path): equal to a
    /// public prefix or continuing it with `/`. A path holding `;` or any `%` escape is never public.
    pub fn classify(&self, normalized: &str) -> Area {
        if self.protected(normalized) {
            let plain = !normalized.contains([';', '%']);
            let public = plain
                && self.public.iter().any(|p| {
                    starts_with_ignore_case(normalized, p)
                        && normalized
                            .get(p.len()..)
                            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
                });
            return if public {
                Area::PublicInProtected
            } else {
                Area::Protected
            };
        }
        // `/index.php/backend`: PHP's PATH_INFO routing reaches the backend through the script.
        let bytes = normalized.as_bytes();
        let mut i = 0;
        while let Some(pos) = find_ignore_case(&bytes[i..], b".php/") {
            let after_start = i + pos + 4;
            let after = normalized.get(after_start..).unwrap_or_default();
            if self.protected(after) {
                return Area::Protected;
            }
            i = after_start;
        }
        Area::Open
    }
}

/// `s` starts with `prefix` (already lowercase), ASCII case-insensitively.
fn starts_with_ignore_case(s: &str, prefix: &str) -> bool {
    s.len() >= prefix.len() && s.as_bytes()[..prefix.len()].eq_ignore_ascii_case(prefix.as_bytes())
}

/// Position of `needle` (lowercase) in `hay`, ASCII case-insensitively.
fn find_ignore_case(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    (0..=hay.len() - needle.len()).find(|&i| hay[i..i + needle.len()].eq_ignore_ascii_case(needle))
}

#[cfg(test)]
mod tests {
    use super::super::normalize;
    use super::*;

    fn rules() -> PathRules {
        PathRules::new(
            &["/backend".to_string(), "/Admin/".to_string()],
            &[
                "/backend/assets/".to_string(),
                "/backend/login".to_string(),
                "/admin/health".to_string(),
            ],
        )
    }

    #[test]
    fn classify_table() {
        use Area::*;
        let cases: &[(&str, Area)] = &[
            ("/", Open),
            ("/blog/backend", Open),
            ("/back", Open),
            ("/backen", Open),
            ("/backend", Protected),
            ("/backend/", Protected),
            ("/BACKEND/cms", Protected),
            ("/backendfoo", Protected),
            ("/backend;x", Protected),
            ("/backend%3B", Protected),
            ("/admin", Open),
            ("/admin/", Protected),
            ("/ADMIN/x", Protected),
            ("/backend/assets", PublicInProtected),
            ("/backend/assets/", PublicInProtected),
            ("/backend/assets/css/app.css", PublicInProtected),
            ("/Backend/Assets/x.js", PublicInProtected),
            ("/backend/assetsx", Protected),
            ("/backend/assets;/x", Protected),
            ("/backend/assets/x;.css", Protected),
            ("/backend/assets/%41", Protected),
            ("/backend/assets/x%2Ey", Protected),
            ("/backend/login", PublicInProtected),
            ("/backend/login/", PublicInProtected),
            ("/backend/loginx", Protected),
            ("/admin/health", PublicInProtected),
            ("/index.php/backend", Protected),
            ("/INDEX.PHP/backend/cms", Protected),
            ("/index.php/backend/assets/x.css", Protected),
            ("/foo/index.php/x/index.php/backend", Protected),
            ("/index.php", Open),
            ("/index.php/blog", Open),
            ("/index.phpx/backend", Open),
            ("/x.php.php/backend", Protected),
        ];
        for (path, want) in cases {
            assert_eq!(rules().classify(path), *want, "{path:?}");
        }
    }

    #[test]
    fn root_public_and_root_protect() {
        let r = PathRules::new(&["/".to_string()], &["/".to_string()]);
        assert_eq!(r.classify("/anything"), Area::PublicInProtected);
        assert_eq!(r.classify("/a;b"), Area::Protected);
        let r = PathRules::new(&["/".to_string()], &[]);
        assert_eq!(r.classify("/"), Area::Protected);
        let r = PathRules::new(&[], &["/backend".to_string()]);
        assert_eq!(r.classify("/backend"), Area::Open);
    }

    /// Raw request paths that all reach the backend: none may be `Open` after normalisation.
    #[test]
    fn normalised_backend_paths_are_never_open() {
        let r = PathRules::new(&["/backend".to_string()], &["/backend/assets".to_string()]);
        let cases: &[(&str, Result<&str, ()>, Area)] = &[
            ("/backend", Ok("/backend"), Area::Protected),
            ("/backend/", Ok("/backend/"), Area::Protected),
            ("//backend", Ok("/backend"), Area::Protected),
            ("/Backend", Ok("/Backend"), Area::Protected),
            ("/./backend", Ok("/backend"), Area::Protected),
            ("/x/../backend", Ok("/backend"), Area::Protected),
            ("/%62ackend", Ok("/backend"), Area::Protected),
            ("/backend;x", Ok("/backend;x"), Area::Protected),
            ("/%2e%2e/backend", Ok("/backend"), Area::Protected),
            (
                "/backend/%2e%2e/backend/x",
                Ok("/backend/x"),
                Area::Protected,
            ),
            (
                "/backend/assets/../cms",
                Ok("/backend/cms"),
                Area::Protected,
            ),
            (
                "/backend/assets/%2e%2e/cms",
                Ok("/backend/cms"),
                Area::Protected,
            ),
            ("/backend/assets/..;/cms", Err(()), Area::Protected),
            ("/backend/assets%2f..%2fcms", Err(()), Area::Protected),
            (
                "/index.php/backend",
                Ok("/index.php/backend"),
                Area::Protected,
            ),
            (
                "/index.php//backend",
                Ok("/index.php/backend"),
                Area::Protected,
            ),
            ("/backend%00", Err(()), Area::Protected),
            ("/backend/..%2f", Err(()), Area::Protected),
            ("/backend/%2e%2e/x", Ok("/x"), Area::Open),
            ("/backend%2fx", Err(()), Area::Protected),
            ("/back%5cend", Err(()), Area::Protected),
            ("/%zz", Err(()), Area::Open),
        ];
        for (raw, want_norm, want_area) in cases {
            match (normalize(raw), want_norm) {
                (Ok(n), Ok(w)) => {
                    assert_eq!(n, *w, "{raw:?}");
                    assert_eq!(r.classify(&n), *want_area, "{raw:?} -> {n:?}");
                }
                (Err(_), Err(())) => {}
                (got, want) => panic!("{raw:?}: got {got:?}, want {want:?}"),
            }
        }
    }
}
