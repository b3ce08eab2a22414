//! The workers-rs edge, compiled only for wasm32: [`D1Store`] for any worker, and with
//! the `gateway` feature (on by default) the gateway itself: one `#[event(fetch)]`
//! entry, the queue consumer and the cron. A worker that uses sessiongate as a library
//! turns `gateway` off (`default-features = false`) and keeps its own entry points.

pub mod d1;

#[cfg(feature = "gateway")]
mod consumer;
#[cfg(feature = "gateway")]
mod cron;
#[cfg(feature = "gateway")]
mod endpoints;
#[cfg(feature = "gateway")]
mod entry;
#[cfg(feature = "gateway")]
mod gateway;
#[cfg(feature = "gateway")]
mod limit;
#[cfg(feature = "gateway")]
mod log;
#[cfg(feature = "gateway")]
mod metrics;
#[cfg(feature = "gateway")]
mod respond;
#[cfg(feature = "gateway")]
mod signals;

pub use d1::D1Store;

use crate::config::{Config, ConfigErrors};
use crate::gateway::limit::Purpose;
use worker::Env;

/// D1 binding holding the `sessions` table.
pub const SESSIONS_DB: &str = "SESSIONS_DB";
/// Queue producer of lifecycle signals (the same worker consumes it).
pub const SESSION_SIGNALS: &str = "SESSION_SIGNALS";
/// Analytics Engine dataset of one data point per proxied request (optional).
pub const SESSION_METRICS: &str = "SESSION_METRICS";
/// Static assets binding (www/), served under [`RESERVED_PREFIX`].
pub const ASSETS: &str = "ASSETS";
/// Rate limit on session creation per client network (optional `[[ratelimits]]`).
pub const SESSION_CREATE_LIMIT: &str = Purpose::Create.binding();
/// Rate limit on the self-service API (`/__session/api/`) per client network (optional).
pub const SESSION_API_LIMIT: &str = Purpose::Api.binding();
/// Rate limit on the admin API (`/__session/admin/api/`) per client network (optional).
pub const SESSION_ADMIN_LIMIT: &str = Purpose::Admin.binding();
/// Rate limit on `POST /__session/logout` per client network (optional).
pub const SESSION_LOGOUT_LIMIT: &str = Purpose::Logout.binding();
/// `session_cookie_rejected` signals per client network, meant with limit 1 (optional).
pub const SESSION_COOKIE_REJECTED_LIMIT: &str = Purpose::CookieRejected.binding();
/// Path prefix sessiongate answers itself; everything else is proxied.
pub const RESERVED_PREFIX: &str = "/__session";

/// The configuration from a worker's vars and secrets.
///
/// # Errors
/// Every missing or invalid setting, named (see [`Config::from_vars`]).
pub fn config_from_env(env: &Env) -> Result<Config, ConfigErrors> {
    Config::from_vars(|name| env.var(name).ok().map(|v| v.to_string()))
}
