//! What sessiongate answers itself under `/__session`: health, and the static files of
//! www/ (the dashboard) through the `ASSETS` binding.

use super::d1::D1Store;
use super::gateway::{d1_for, Call, D1_MISSING};
use super::respond::{respond, text};
use super::{log, ASSETS, SESSION_SIGNALS};
use crate::admin;
use crate::config::{Config, ConfigError, StoreKind};
use crate::gateway::{self, Inbound};
use crate::time::Timestamp;
use crate::url::same_origin;
use serde_json::json;
use worker::web_sys::{Request, Response};
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
        ("/__session/health", _) => health(&req, env, cfg).await,
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
    let cookies = h.get("cookie")?;
    let (name, pending) = (&cfg.cookie.name, &cfg.pending_cookie.name);
    let (inbound, _) = Inbound::take(cookies.as_deref(), name, pending);
    let d1 = D1Store::from_env(env);
    let Ok(d1) = d1_for(cfg, &d1) else {
        return text(500, D1_MISSING);
    };
    let memory = super::entry::memory();
    let cx = gateway::Context::new(cfg, now, false, &memory);
    let finished = cx.logout(d1, &inbound).await;
    let call = Call {
        env,
        ctx,
        cfg,
        now,
        request_id: h.get("cf-ray")?,
    };
    let resp = respond(204, "text/plain; charset=utf-8", "")?;
    for c in call.report(finished) {
        resp.headers().append("set-cookie", &c)?;
    }
    Ok(resp)
}

/// `GET /__session/health`: 200 when the configuration and the store are fine (signals
/// are optional), else 503. The public answer is only that status; configuration, store,
/// queue and origin detail go to the admin token's bearer or a loopback caller (local
/// dev). Errors name the setting, never a secret's value.
async fn health(
    req: &Request,
    env: &Env,
    cfg: &std::result::Result<Config, ConfigError>,
) -> Result<Response> {
    let config = match cfg {
        Ok(_) => json!("ok"),
        Err(e) => json!({ "setting": e.setting, "problem": e.problem }),
    };
    let store = D1Store::from_env(env);
    // The cookie store needs no D1; D1 without its binding is an error, said as such.
    let cookie_mode = cfg.as_ref().is_ok_and(|c| c.store == StoreKind::Cookie);
    let d1 = match (cookie_mode, store.db()) {
        (true, _) => Ok(()),
        (false, Err(_)) => Err(D1_MISSING.trim_end().to_owned()),
        (false, Ok(_)) => store.ping().await.map_err(|e| e.to_string()),
    };
    let queue = match env.queue(SESSION_SIGNALS) {
        Ok(_) => json!("ok"),
        Err(_) => json!(format!(
            "binding {SESSION_SIGNALS} is missing: signals are not sent"
        )),
    };
    let ok = cfg.is_ok() && d1.is_ok();
    let status = if ok { 200 } else { 503 };
    // Read apart from the configuration, so a broken configuration can still be seen.
    let token = env.var("SESSION_ADMIN_TOKEN").ok().map(|v| v.to_string());
    let authorization = req.headers().get("authorization")?;
    if !admin::may_see_detail(authorization.as_deref(), token.as_deref(), &req.url()) {
        let body = json!({ "status": if ok { "ok" } else { "error" } });
        return respond(status, "application/json", &body.to_string());
    }
    let body = json!({
        "status": if ok { "ok" } else { "error" },
        "version": env!("CARGO_PKG_VERSION"),
        "config": config,
        "store": if cookie_mode { "cookie" } else { "d1" },
        "d1": if cookie_mode { json!("not used") } else { d1.err().map_or(json!("ok"), |e| json!(e)) },
        "queue": queue,
        "origin": cfg.as_ref().ok().map(|c| c.origin_url.as_deref().unwrap_or("route")),
    });
    respond(status, "application/json", &body.to_string())
}
