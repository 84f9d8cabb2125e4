//! The verified identity of a signed-in user and the per-site decision made about it. Shared by
//! the OIDC layer (which produces it), the session (which stores it), access rules (which decide on
//! it) and the assertion (which carries it upstream).
use serde::{Deserialize, Serialize};

/// Who the OpenID Provider says the user is, after every token check passed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The provider's subject identifier (`sub`): the stable user id.
    pub sub: String,
    /// Email address, if released.
    pub email: Option<String>,
    /// Whether the provider verified the email.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Preferred username (Okta: the login).
    pub preferred_username: Option<String>,
    /// Groups from the configured groups claim (already reduced to those that matter to this site
    /// once stored in a session).
    pub groups: Vec<String>,
}

/// What a user may do on this site, decided by the access rules.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// October role code.
    pub role: String,
    /// Whether the user is an October superuser.
    pub superuser: bool,
}
