//! What sessiongate answers itself under `/__session`: health, and the static files of
//! www/ (the dashboard) through the `ASSETS` binding.

use super::d1::D1Store;
use super::{log, signals, ASSETS, SESSION_SIGNALS};
use crate::config::{Config, ConfigError, StoreKind};
use crate::cookie::{header as cookie_header, reference, set_cookie};
use crate::manager::{SaveError, SessionManager};
use crate::protocol::same_origin;
use crate::store::fallback::Pending;
use crate::time::Timestamp;
use serde_json::json;
use worker::wasm_bindgen::JsValue;
use worker::web_sys::{Headers, Request, Response, ResponseInit};
use worker::{Context, Env, Fetcher, Result};

/// Answers a request under `/__session`.
pub async fn handle(
    req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &std::result::Result<Config, ConfigError>,
    path: &str,
    now: Timestamp,
) -> Result<Response> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    match (path, cfg) {
        ("/__session/health", _) => health(env, cfg).await,
        ("/__session/logout", Ok(cfg)) => logout(&req, env, ctx, cfg, now).await,
        ("/__session/logout", Err(_)) => {
            text(500, "sessiongate is misconfigured: see /__session/health\n")
        }
        _ => match env.get_binding::<Fetcher>(ASSETS) {
            Ok(assets) => {
                let resp: worker::Response =
                    assets.fetch_request(worker::Request::from(req)).await?;
                Ok(resp.into())
            }
            Err(_) => text(404, "Not Found\n"),
        },
    }
}

/// `POST /__session/logout`: deletes the session server-side (D1 store) and clears the
/// cookies. Only from the site itself: a cross-site POST (CSRF logout) is refused.
async fn logout(
    req: &Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    now: Timestamp,
) -> Result<Response> {
    if req.method() != "POST" {
        let resp = text(405, "Method Not Allowed: use POST\n")?;
        resp.headers().set("allow", "POST")?;
        return Ok(resp);
    }
    let h = req.headers();
    if !same_origin(
        h.get("sec-fetch-site")?.as_deref(),
        h.get("origin")?.as_deref(),
        &req.url(),
    ) {
        log::warn("logout_refused", json!({ "reason": "not same-origin" }));
        return text(403, "Forbidden: cross-site logout refused\n");
    }
    let store = D1Store::from_env(env);
    let cookie_mode = cfg.store == StoreKind::Cookie || store.db().is_err();
    let manager = SessionManager::new(store, cfg.expiry);
    let cookies = h.get("cookie")?.unwrap_or_default();
    let name = &cfg.cookie.name;
    let found = cookie_header::values(&cookies, name)
        .find_map(|v| reference::decode(&cfg.keys, name, v).ok());
    let pending = &cfg.pending_cookie;
    // D1 refused the delete: the logout waits in the pending cookie, like any write
    // during an outage, and is written back when D1 answers.
    let mut pending_cookie = set_cookie::clear(pending);
    if let (false, Some(found)) = (cookie_mode, found) {
        if let Err(SaveError::Store(e)) = manager.delete(&found.id).await {
            log::error(
                "logout_delete_failed",
                json!({ "session_id": found.id.to_string(), "error": e.to_string() }),
            );
            let op = Pending::Delete(found.id).encode(&cfg.keys, &pending.name, now);
            pending_cookie = set_cookie::set(pending, &op, cfg.expiry.idle_secs);
        }
    }
    signals::dispatch(ctx, env, cfg, h.get("cf-ray")?, now, manager.take_signals());
    let resp = respond(204, "text/plain; charset=utf-8", "")?;
    resp.headers()
        .append("set-cookie", &set_cookie::clear(&cfg.cookie))?;
    resp.headers().append("set-cookie", &pending_cookie)?;
    Ok(resp)
}

/// `GET /__session/health`: configuration, store and queue status; 200 when the
/// configuration and the store are fine (signals are optional), else 503. Errors name
/// the setting, never a secret's value.
async fn health(env: &Env, cfg: &std::result::Result<Config, ConfigError>) -> Result<Response> {
    let config = match cfg {
        Ok(_) => json!("ok"),
        Err(e) => json!({ "setting": e.setting, "problem": e.problem }),
    };
    let store = D1Store::from_env(env);
    // The cookie store needs no D1: by choice, or because the binding is absent.
    let cookie_mode =
        cfg.as_ref().is_ok_and(|c| c.store == StoreKind::Cookie) || store.db().is_err();
    let d1 = if cookie_mode {
        Ok(())
    } else {
        store.ping().await.map_err(|e| e.to_string())
    };
    let queue = match env.queue(SESSION_SIGNALS) {
        Ok(_) => json!("ok"),
        Err(_) => json!(format!(
            "binding {SESSION_SIGNALS} is missing: signals are not sent"
        )),
    };
    let ok = cfg.is_ok() && d1.is_ok();
    let body = json!({
        "status": if ok { "ok" } else { "error" },
        "version": env!("CARGO_PKG_VERSION"),
        "config": config,
        "store": if cookie_mode { "cookie" } else { "d1" },
        "d1": if cookie_mode { json!("not used") } else { d1.err().map_or(json!("ok"), |e| json!(e)) },
        "queue": queue,
        "origin": cfg.as_ref().ok().map(|c| c.origin_url.as_deref().unwrap_or("route")),
    });
    respond(
        if ok { 200 } else { 503 },
        "application/json",
        &body.to_string(),
    )
}

/// A short plain-text response.
pub fn text(status: u16, body: &str) -> Result<Response> {
    respond(status, "text/plain; charset=utf-8", body)
}

fn respond(status: u16, content_type: &str, body: &str) -> Result<Response> {
    let headers = Headers::new()?;
    headers.set("content-type", content_type)?;
    headers.set("cache-control", "no-store")?;
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&JsValue::from(&headers));
    Ok(Response::new_with_opt_str_and_init(Some(body), &init)?)
}
