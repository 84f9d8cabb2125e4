//! HTTP plumbing shared by every layer: the body type, the one HTTP client stack and the one place
//! that builds responses.
pub mod body;
pub mod client;
pub mod response;

pub use body::{empty, full, Body, BoxError};
