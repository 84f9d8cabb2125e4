//! HTTP plumbing shared by every layer: the body type, the one HTTP client stack, the one place
//! that builds responses, and what every request must be to be admitted.
pub mod admission;
pub mod body;
pub mod client;
pub mod response;

pub use body::{empty, full, holding, Body, BoxError};
