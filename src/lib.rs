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
//! - [`admin`]: who may see operator detail;
//! - [`assertion`]: the signed `X-Session-Assertion` JWT for the origin;
//! - [`config`]: settings from environment variables, errors naming the setting;
//! - [`time`]: [`time::Timestamp`], whole Unix seconds;
//! - [`session`]: ids, records and [`session::Session`], the handle a handler uses;
//! - [`expiry`]: the idle timeout, absolute cap and renewal throttle;
//! - [`lifetime`]: a session's own lifetime (`browser`, `remember`, seconds);
//! - [`changes`]: data changes, safe under concurrency;
//! - [`write`](mod@write): writes as data: [`write::Update`] and [`write::Deferred`];
//! - [`manager`]: [`manager::SessionManager`], load/save/renew/delete with signals;
//! - [`signal`]: lifecycle signals, their typed reasons and their envelope;
//! - [`device`]: where a session is used from (User-Agent, coarse location, network);
//! - [`health`]: what `/__session/health` reports, and the route-mode hint in local dev;
//! - [`handle`](mod@handle): the public handle that lists show instead of a session id;
//! - [`cookie`]: keys, one codec per cookie on one signed layout, `Cookie` parsing and
//!   `Set-Cookie` building;
//! - [`protocol`]: the header contract with the origin;
//! - [`proxy`]: forwarding headers, the loop guard, caching of responses with a cookie;
//! - [`patch`]: JSON merge patch (RFC 7396) and [`patch::Data`];
//! - [`url`]: URL slicing, the forward target and the same-origin check;
//! - [`store`]: the [`store::Store`] trait, the SQL, and native stores;
//! - [`gateway`]: the request path's decisions ([`gateway::Exchange`]), which the edge
//!   only wires to the runtime.

#![warn(missing_docs)]

pub mod admin;
pub mod assertion;
pub mod changes;
pub mod config;
pub mod cookie;
pub mod device;
pub mod expiry;
pub mod fresh;
pub mod gateway;
pub mod handle;
pub mod health;
pub mod lifetime;
pub mod manager;
pub mod patch;
pub mod protocol;
pub mod proxy;
pub mod session;
pub mod signal;
pub mod store;
pub mod time;
pub mod url;
pub mod write;

#[cfg(target_arch = "wasm32")]
pub mod edge;
