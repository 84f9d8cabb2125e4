//! octogate: single sign-on for October CMS backends.
//!
//! An authenticating reverse proxy that runs the OpenID Connect authorization-code flow with PKCE,
//! keeps the session in an AES-256-GCM encrypted cookie and forwards each request to the October CMS
//! site with a short-lived Ed25519-signed identity assertion.
//!
//! Layout: [`config`] loads and validates one TOML file per site; [`server`] accepts connections;
//! [`app`] is the request pipeline (strip identity headers, route, authenticate, authorise, forward);
//! [`proxy`] forwards to the upstream; [`oidc`] talks to the OpenID Provider; [`session`] seals the
//! cookies; [`access`] normalises paths and turns groups into an October role; [`assertion`] signs
//! the identity for the shim; [`http`] holds the body type, the one HTTP client and the one place
//! that builds responses.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod access;
pub mod app;
pub mod assertion;
pub mod cli;
mod client_net;
mod clock;
pub mod config;
pub mod demo;
pub mod http;
pub mod identity;
mod logging;
pub mod oidc;
pub mod proxy;
pub mod serve;
pub mod server;
pub mod session;
