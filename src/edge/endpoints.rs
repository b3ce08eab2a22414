//! What sessiongate answers itself under `/__session`: health, and the static files of
//! www/ (the dashboard) through the `ASSETS` binding.

use super::d1::D1Store;
use super::gateway::{d1_for, Call, D1_MISSING};
use super::limit::{self, Bindings};
use super::respond::{respond, text};
use super::{log, ASSETS, SESSION_SIGNALS};
use crate::admin;
use crate::config::{Config, ConfigErrors, StoreKind};
use crate::gateway::limit::{Limits, Purpose};
use crate::gateway::{self, Inbound};
use crate::health::{Checks, D1Check, OriginCheck};
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
    cfg: &std::result::Result<Config, ConfigErrors>,
    path: &str,
    now: Timestamp,
) -> Result<Response> {
    let path = path.split(['?', '#']).next().unwrap_or(path);
    if let (Some(purpose), Ok(cfg)) = (limited(path), cfg) {
        if let Some(resp) = over_limit(&req, env, ctx, cfg, now, purpose).await? {
            return Ok(resp);
        }
    }
    match (path, cfg) {
        ("/__session/health", _) => health(&req, env, cfg).await,
        ("/__session/logout", Ok(cfg)) => logout(&req, env, ctx, cfg, now).await,
        ("/__session/logout", Err(_)) => {
            text(500, "sessiongate is misconfigured: see /__session/health\n")
        }
        (api, Ok(cfg)) if api.starts_with("/__session/api/") => {
            sessions_api(&req, env, ctx, cfg, api, now).await
        }
        (api, Ok(cfg)) if api.starts_with("/__session/admin/api/") => {
            admin_api(&req, env, ctx, cfg, now).await
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
    if !from_the_site(req)? {
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
    let call = Call::new(env, ctx, cfg, now, &h)?;
    let resp = respond(204, "text/plain; charset=utf-8", "")?;
    for c in call.report(finished) {
        resp.headers().append("set-cookie", &c)?;
    }
    Ok(resp)
}

/// `/__session/api/sessions...`: the logged-in user's sessions (list, revoke one by
/// handle, revoke the others), same-origin only, D1 store only.
async fn sessions_api(
    req: &Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    path: &str,
    now: Timestamp,
) -> Result<Response> {
    let route = path.strip_prefix("/__session/api/sessions").unwrap_or("?");
    let (method, want) = match route {
        "" | "/" => ("GET", Route::List),
        "/revoke-others" => ("POST", Route::RevokeOthers),
        r => match r.strip_prefix('/').and_then(|h| h.strip_suffix("/revoke")) {
            Some(handle) if !handle.is_empty() && !handle.contains('/') => {
                ("POST", Route::Revoke(handle))
            }
            _ => return json_answer(404, &json!({ "error": "no such endpoint" })),
        },
    };
    if req.method() != method {
        let resp = json_answer(405, &json!({ "error": format!("use {method}") }))?;
        resp.headers().set("allow", method)?;
        return Ok(resp);
    }
    let h = req.headers();
    if !from_the_site(req)? {
        return json_answer(403, &json!({ "error": "cross-site request refused" }));
    }
    let d1 = D1Store::from_env(env);
    let d1 = match d1_for(cfg, &d1) {
        Ok(Some(d1)) if cfg.store == StoreKind::D1 => d1,
        Ok(_) => {
            let error = "the cookie store keeps no list of sessions: use the D1 store to list and revoke them";
            return json_answer(501, &json!({ "error": error }));
        }
        Err(_) => return text(500, D1_MISSING),
    };
    let cookies = h.get("cookie")?;
    let (inbound, _) = Inbound::take(
        cookies.as_deref(),
        &cfg.cookie.name,
        &cfg.pending_cookie.name,
    );
    let memory = super::entry::memory();
    let cx = gateway::Context::new(cfg, now, false, &memory);
    let answer = match want {
        Route::List => cx.list_sessions(d1, &inbound).await,
        Route::Revoke(handle) => cx.revoke_session(d1, &inbound, handle).await,
        Route::RevokeOthers => cx.revoke_others(d1, &inbound).await,
    };
    let call = Call::new(env, ctx, cfg, now, &h)?.of_client(req);
    let set_cookies = call.report(answer.finished);
    let resp = match answer.body {
        serde_json::Value::Null => respond(answer.status, "application/json", "")?,
        body => json_answer(answer.status, &body)?,
    };
    for c in set_cookies {
        resp.headers().append("set-cookie", &c)?;
    }
    Ok(resp)
}

/// `/__session/admin/api/...`: the operator's API, with the SESSION_ADMIN_TOKEN bearer
/// (no cookies, so no same-origin rule); the answers are never cached.
async fn admin_api(
    req: &Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    now: Timestamp,
) -> Result<Response> {
    let h = req.headers();
    let token = env.var("SESSION_ADMIN_TOKEN").ok().map(|v| v.to_string());
    let authorization = h.get("authorization")?;
    let (method, url) = (req.method(), req.url());
    let call = gateway::admin::AdminCall {
        method: &method,
        url: &url,
        authorization: authorization.as_deref(),
        token: token.as_deref(),
    };
    let d1 = D1Store::from_env(env);
    let d1 = match d1_for(cfg, &d1) {
        Ok(d1) => d1,
        Err(_) => return text(500, D1_MISSING),
    };
    let memory = super::entry::memory();
    let cx = gateway::Context::new(cfg, now, false, &memory);
    let answer = cx.admin(d1, call).await;
    let status = answer.status;
    Call::new(env, ctx, cfg, now, &h)?.report(answer.finished);
    let resp = json_answer(status, &answer.body)?;
    resp.headers().set("cache-control", "no-store")?;
    if status == 401 {
        resp.headers().set("www-authenticate", "Bearer")?;
    }
    if let Some(method) = answer.allow {
        resp.headers().set("allow", method)?;
    }
    Ok(resp)
}

/// The rate limit of the endpoint at `path`, if it has one.
fn limited(path: &str) -> Option<Purpose> {
    match path {
        "/__session/logout" => Some(Purpose::Logout),
        p if p.starts_with("/__session/api/") => Some(Purpose::Api),
        p if p.starts_with("/__session/admin/api/") => Some(Purpose::Admin),
        _ => None,
    }
}

/// The `429` (with `Retry-After`) when the client's network is over `purpose`'s rate
/// limit; `None` when the request may go on (no binding, within it, or a failing
/// limiter, which is logged).
async fn over_limit(
    req: &Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    now: Timestamp,
    purpose: Purpose,
) -> Result<Option<Response>> {
    let (memory, recent, bindings) = (
        super::entry::memory(),
        limit::recent(),
        Bindings::new(env, req),
    );
    let limits = Limits {
        limiter: &bindings,
        recent: &recent,
    };
    let cx = gateway::Context::new(cfg, now, false, &memory).with_limits(limits);
    let too_many = cx.admit(purpose).await;
    Call::new(env, ctx, cfg, now, &req.headers())?.report(cx.refused());
    let Some(too_many) = too_many else {
        return Ok(None);
    };
    let resp = match purpose {
        Purpose::Logout => text(429, "Too Many Requests: try again later\n")?,
        _ => json_answer(429, &too_many.body())?,
    };
    let h = resp.headers();
    h.set("retry-after", &too_many.retry_after.to_string())?;
    h.set("cache-control", "no-store")?;
    Ok(Some(resp))
}

/// The self-service API's routes.
enum Route<'p> {
    List,
    Revoke(&'p str),
    RevokeOthers,
}

/// `value` as JSON text, by serde_json's writer (`Value`'s `Display` would compile a
/// second copy of the serializer).
fn json_text(value: &serde_json::Value) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

fn json_answer(status: u16, body: &serde_json::Value) -> Result<Response> {
    respond(status, "application/json", &json_text(body))
}

/// Whether a request comes from the site itself (the logout and sessions API rule).
fn from_the_site(req: &Request) -> Result<bool> {
    let h = req.headers();
    let (site, origin) = (h.get("sec-fetch-site")?, h.get("origin")?);
    Ok(same_origin(site.as_deref(), origin.as_deref(), &req.url()))
}

/// `GET /__session/health`: 200 when the configuration and the store are fine (signals
/// are optional), else 503. The public answer is only that status; every check in words
/// (see [`crate::health`]) goes to the admin token's bearer or a loopback caller (local
/// dev), who also get the origin probed. Errors name the setting, never a secret's value.
async fn health(
    req: &Request,
    env: &Env,
    cfg: &std::result::Result<Config, ConfigErrors>,
) -> Result<Response> {
    let store = D1Store::from_env(env);
    let d1 = match (cfg.as_ref().map(|c| c.store), store.db()) {
        (Ok(StoreKind::Cookie), _) => D1Check::NotUsed,
        (_, Err(_)) => D1Check::Missing,
        (_, Ok(_)) => match store.ping().await {
            Ok(()) => D1Check::Ok,
            Err(e) => D1Check::Failed(e.to_string()),
        },
    };
    let mut checks = Checks {
        config: cfg,
        d1,
        queue_bound: env.queue(SESSION_SIGNALS).is_ok(),
        origin: OriginCheck::NotChecked,
        rate_limits: limit::bound(env),
    };
    // Read apart from the configuration, so a broken configuration can still be seen.
    let token = env.var("SESSION_ADMIN_TOKEN").ok().map(|v| v.to_string());
    let authorization = req.headers().get("authorization")?;
    let status = checks.status();
    if !admin::may_see_detail(authorization.as_deref(), token.as_deref(), &req.url()) {
        return respond(status, "application/json", &json_text(&checks.bare()));
    }
    if let Ok(cfg) = cfg {
        checks.origin = match &cfg.origin_url {
            None => OriginCheck::Route,
            Some(url) => super::gateway::probe(url, &cfg.worker_name).await,
        };
    }
    respond(status, "application/json", &json_text(&checks.detail()))
}
