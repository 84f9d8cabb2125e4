//! Secret values: written literally, as `env:NAME` or as `file:/path`, and never printed.
use std::fmt;

/// A resolved secret. `Debug` and `Display` print a mask, never the value.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps an already-resolved value (used by tests and the demo).
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value. Call sites are the only places a secret is read.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(****)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("****")
    }
}

/// Resolves `env:NAME`, `file:/path` or a literal value. The error says what is missing, never a
/// value.
pub fn resolve(raw: &str) -> Result<Secret, String> {
    if let Some(name) = raw.strip_prefix("env:") {
        if name.is_empty() {
            return Err("`env:` needs a variable name, as in \"env:OCTOGATE_COOKIE_KEY\"".into());
        }
        match std::env::var(name) {
            Ok(v) if !v.is_empty() => Ok(Secret(v)),
            Ok(_) => Err(format!("environment variable {name} is empty")),
            Err(std::env::VarError::NotPresent) => {
                Err(format!("environment variable {name} is not set"))
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(format!("environment variable {name} is not valid UTF-8"))
            }
        }
    } else if let Some(path) = raw.strip_prefix("file:") {
        if path.is_empty() {
            return Err("`file:` needs a path, as in \"file:/run/secrets/key\"".into());
        }
        match std::fs::read_to_string(path) {
            Ok(mut v) => {
                if v.ends_with('\n') {
                    v.pop();
                    if v.ends_with('\r') {
                        v.pop();
                    }
                }
                if v.is_empty() {
                    Err(format!("secret file {path} is empty"))
                } else {
                    Ok(Secret(v))
                }
            }
            Err(e) => Err(format!("cannot read secret file {path}: {e}")),
        }
    } else if raw.is_empty() {
        Err("secret is empty".into())
    } else {
        Ok(Secret(raw.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_env_and_file() {
        assert_eq!(resolve("abc").unwrap().expose(), "abc");
        std::env::set_var("OCTOGATE_TEST_SECRET_X", "from-env");
        assert_eq!(
            resolve("env:OCTOGATE_TEST_SECRET_X").unwrap().expose(),
            "from-env"
        );
        let err = resolve("env:OCTOGATE_TEST_SECRET_MISSING").unwrap_err();
        assert!(
            err.contains("OCTOGATE_TEST_SECRET_MISSING is not set"),
            "{err}"
        );
        let dir = std::env::temp_dir().join(format!("og-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("s");
        std::fs::write(&f, "file-value\n").unwrap();
        assert_eq!(
            resolve(&format!("file:{}", f.display())).unwrap().expose(),
            "file-value"
        );
        let err = resolve("file:/nonexistent/octogate/secret").unwrap_err();
        assert!(err.contains("/nonexistent/octogate/secret"), "{err}");
    }

    #[test]
    fn debug_is_masked() {
        let s = Secret::new("hunter2");
        assert!(!format!("{s:?} {s}").contains("hunter2"));
    }
}
