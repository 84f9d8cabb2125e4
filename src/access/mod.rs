//! Access control: request path normalisation, protected areas, the user policy and the
//! open-redirect rule.
//!
//! * [`normalize`] turns the raw request path into the one canonical form that is both checked
//!   here and forwarded upstream.
//! * [`PathRules::classify`] says whether a normalised path is open, protected or a public
//!   exception inside the protected area.
//! * [`Policy::decide`] turns a verified [`Identity`](crate::identity::Identity) into an October
//!   role or a reason to deny.
//! * [`safe_redirect_path`] accepts only local paths as post-sign-in destinations.
mod path;
mod policy;
mod redirect;
mod rules;

pub use path::{normalize, PathError, MAX_PATH_LEN};
pub use policy::{Decision, DenyReason, Policy};
pub use redirect::{safe_redirect_path, MAX_REDIRECT_LEN};
pub use rules::{Area, PathRules};
