//! # sessiongate
//!
//! A session layer for the edge: a Cloudflare Worker (Rust, wasm32) in front of origin
//! apps. It resolves each request's session from D1 through a signed reference cookie,
//! forwards the request with the session as headers, and saves what the origin asks
//! for in its response headers.
//!
//! The crate is a pure core that builds and tests natively (the clock is always an
//! argument) plus a thin workers-rs edge layer compiled only for `wasm32`:
//!
//! - [`config`]: settings from environment variables, errors naming the setting;
//! - [`time`]: [`time::Timestamp`], whole Unix seconds;
//! - [`session`]: ids, records and the expiry rules;
//! - [`cookie`]: keys, the reference cookie, `Cookie` parsing and `Set-Cookie` building;
//! - [`protocol`]: the header contract with the origin;
//! - [`patch`]: JSON merge patch (RFC 7396);
//! - [`store`]: the [`store::Store`] trait, the SQL, and native stores;
//! - [`plan`]: what one request does to its session.

#![warn(missing_docs)]

pub mod config;
pub mod cookie;
pub mod patch;
pub mod plan;
pub mod protocol;
pub mod session;
pub mod store;
pub mod time;

#[cfg(target_arch = "wasm32")]
mod edge;
