//! A workers-rs app that uses sessiongate as a library: its own `#[event(fetch)]`,
//! sessions in D1 through `SessionManager`, the cookie through sessiongate's codec.
//!
//! ```sh
//! cargo build --example workers_app --target wasm32-unknown-unknown --no-default-features
//! ```
//! (`--no-default-features` leaves out the gateway's own entry points.)
#![cfg(target_arch = "wasm32")]

use sessiongate::cookie::reference::{self, Snapshot};
use sessiongate::cookie::{header, set_cookie};
use sessiongate::edge::{config_from_env, D1Store};
use sessiongate::manager::{CookieChange, SessionManager};
use sessiongate::session::Session;
use sessiongate::time::Timestamp;
use worker::{event, Context, Date, Env, Error, Request, Response, Result};

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> Result<Response> {
    let cfg = config_from_env(&env).map_err(|e| Error::RustError(e.to_string()))?;
    let now = Timestamp::from_unix_millis(Date::now().as_millis() as f64);
    let manager = SessionManager::new(D1Store::from_env(&env), cfg.expiry);

    // The session named by a cookie that verifies, or a new one.
    let name = &cfg.cookie.name;
    let cookies = req.headers().get("cookie")?.unwrap_or_default();
    let id = header::values(&cookies, name)
        .find_map(|v| reference::decode(&cfg.keys, name, v).ok())
        .map(|found| found.id);
    let mut session = match id {
        Some(id) => manager
            .load(&id, now)
            .await
            .ok()
            .flatten()
            .unwrap_or_default(),
        None => Session::new(),
    };

    let visits = session.get("visits").and_then(|v| v.as_u64()).unwrap_or(0) + 1;
    session.insert("visits", visits.into());
    if req.path() == "/logout" {
        session.delete();
    }
    let saved = manager.save(&mut session, now).await;

    let mut resp = Response::ok(format!("visit number {visits}\n"))?;
    let cookie = match saved.cookie {
        CookieChange::Set { id, max_age } => Some(set_cookie::set(
            &cfg.cookie,
            &reference::encode(
                &cfg.keys,
                name,
                &id,
                &Snapshot {
                    user_id: session.user_id().map(str::to_owned),
                    issued_at: now,
                    absolute_expires_at: session.record().and_then(|r| r.absolute_expires_at),
                    lifetime: session.record().and_then(|r| r.lifetime.to_column()),
                },
            ),
            max_age,
        )),
        CookieChange::Clear => Some(set_cookie::clear(&cfg.cookie)),
        CookieChange::Keep => None,
    };
    if let Some(c) = cookie {
        resp.headers_mut().append("set-cookie", &c)?;
    }
    // Signals: send manager.take_signals() to a queue, as the gateway does.
    Ok(resp)
}
