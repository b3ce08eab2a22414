//! The proxy path: resolve the session, forward to the origin with the session headers,
//! apply the origin's commands, set or clear the cookie, signal what happened.
//!
//! Kept lean for the hot path: web_sys types directly (no wrapper copies), bodies are
//! streamed, never read into wasm, and the origin's response is passed through untouched
//! unless a cookie or a sessiongate header requires a change.

use super::d1::D1Store;
use super::{log, signals};
use crate::config::Config;
use crate::cookie::key::KeyUse;
use crate::cookie::reference::{self, RefCookieError};
use crate::cookie::{header as cookie_header, set_cookie};
use crate::expiry::ExpiryPolicy;
use crate::manager::{CookieChange, SaveError, SessionManager};
use crate::protocol::{
    encode_data, parse_commands, url_host, url_path, Commands, HeaderNames, StoreLabel,
};
use crate::session::{Data, Session};
use crate::signal::{Exception, Signal};
use crate::time::Timestamp;
use serde_json::json;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{Headers, Request, RequestInit, RequestRedirect, Response, ResponseInit};
use worker::{js_sys, Context, Env, Result};

/// The session a request arrived with.
struct Resolved {
    session: Session,
    label: StoreLabel,
    /// A session cookie was sent, valid or not.
    cookie_seen: bool,
    /// The cookie verified under a fallback key.
    reissue: bool,
}

/// Proxies one request.
pub async fn handle(
    req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    now: Timestamp,
) -> Result<Response> {
    let names = &cfg.headers;
    let headers = Headers::new_with_headers(&req.headers())?;
    strip_owned(&headers, names)?;
    let request_id = headers.get("cf-ray")?;
    let manager = SessionManager::new(D1Store::from_env(env), cfg.expiry);
    signals::first_request(&manager, cfg);

    let mut resolved = resolve(&headers, cfg, &manager, now).await?;
    inject(&headers, names, &resolved)?;

    let url = req.url();
    let target = match &cfg.origin_url {
        Some(base) => {
            headers.set("x-forwarded-host", url_host(&url))?;
            let scheme = url.split(':').next().unwrap_or("https");
            headers.set("x-forwarded-proto", scheme)?;
            format!("{base}{}", url_path(&url))
        }
        None => url.clone(),
    };
    let init = RequestInit::new();
    init.set_method(&req.method());
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    if let Some(body) = req.body() {
        init.set_body(&body);
    }
    let forwarded = Request::new_with_str_and_init(&target, &init)?;
    let global: worker::web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let resp: Response = match JsFuture::from(global.fetch_with_request(&forwarded)).await {
        Ok(r) => r.dyn_into()?,
        Err(e) => {
            let error = e
                .as_string()
                .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| e.message().into()));
            log::error(
                "origin_unreachable",
                json!({ "target": target, "error": error }),
            );
            signals::dispatch(ctx, env, cfg, request_id, now, manager.take_signals());
            return super::endpoints::text(502, "Bad Gateway: origin unreachable\n");
        }
    };

    let rh = resp.headers();
    let (cmds, errors) = parse_commands(
        rh.get(&names.update)?.as_deref(),
        rh.get(&names.user_id)?.as_deref(),
        rh.get(&names.action)?.as_deref(),
    );
    for e in &errors {
        let session_id = resolved.session.id();
        log::warn(
            "bad_command",
            json!({ "session_id": session_id.map(|i| i.to_string()), "error": e.to_string() }),
        );
        let exception = Some(Exception::new("BadCommand", e));
        manager.signal(Signal::DataSaveFailed {
            session_id,
            reason: "bad_command",
            exception,
        });
    }
    apply(&mut resolved.session, &cmds);

    let cookie = save(&manager, &mut resolved, now).await;
    signals::dispatch(ctx, env, cfg, request_id, now, manager.take_signals());

    let set_cookie = match cookie {
        CookieChange::Keep => None,
        CookieChange::Set { id, max_age } => {
            let value = reference::encode(&cfg.keys, &cfg.cookie.name, &id);
            Some(set_cookie::set(&cfg.cookie, &value, max_age))
        }
        CookieChange::Clear => Some(set_cookie::clear(&cfg.cookie)),
    };
    let owned = names.response_owned();
    let leaks = owned.iter().any(|n| rh.has(n).unwrap_or(true));
    // 101 (WebSocket) responses cannot be rebuilt; they carry no session change anyway.
    if (set_cookie.is_none() && !leaks) || resp.status() == 101 {
        return Ok(resp);
    }
    let out = Headers::new_with_headers(&rh)?;
    for n in owned {
        out.delete(n)?;
    }
    if let Some(c) = set_cookie {
        out.append("set-cookie", &c)?;
    }
    let init = ResponseInit::new();
    init.set_status(resp.status());
    init.set_status_text(&resp.status_text());
    init.set_headers(&out);
    Ok(Response::new_with_opt_readable_stream_and_init(
        resp.body().as_ref(),
        &init,
    )?)
}

/// The origin's commands as session operations: clear before the update, so
/// `clear` + an update leaves exactly the update.
fn apply(session: &mut Session, cmds: &Commands) {
    let a = cmds.actions;
    if a.clear {
        session.clear();
    }
    if let Some(patch) = &cmds.update {
        session.merge(patch);
    }
    if let Some(user) = &cmds.login {
        session.login(user);
    }
    if a.cycle {
        session.cycle();
    }
    if a.create {
        session.create();
    }
    if a.delete {
        session.delete();
    }
    if a.revoke_user {
        session.revoke_user();
    }
}

/// Saves the session and decides the cookie.
async fn save(manager: &SessionManager<D1Store>, r: &mut Resolved, now: Timestamp) -> CookieChange {
    if r.label == StoreLabel::Unavailable {
        // Writing blind while D1 is failing could replace a live session: keep the cookie.
        if r.session.modified() {
            log::error(
                "session_save_failed",
                json!({ "error": "session store unavailable on read" }),
            );
            manager.signal(Signal::DataSaveFailed {
                session_id: None,
                reason: "store_unavailable",
                exception: None,
            });
        }
        return CookieChange::Keep;
    }
    let before = r.session.id();
    let saved = manager.save(&mut r.session, now).await;
    if let Some(e) = &saved.error {
        let error = match e {
            SaveError::NotFound => "not_found".to_owned(),
            SaveError::Store(e) => e.to_string(),
        };
        log::error(
            "session_save_failed",
            json!({ "session_id": before.map(|i| i.to_string()), "error": error }),
        );
    }
    match (saved.cookie, r.session.record()) {
        (CookieChange::Keep, Some(rec)) if r.reissue => CookieChange::Set {
            id: rec.id,
            max_age: ExpiryPolicy::max_age(rec.expires_at, now),
        },
        (CookieChange::Keep, None) if r.cookie_seen => CookieChange::Clear,
        (cookie, _) => cookie,
    }
}

/// Deletes every inbound header sessiongate owns: a client can never speak for it.
fn strip_owned(headers: &Headers, names: &HeaderNames) -> Result<()> {
    let mut doomed = Vec::new();
    if let Ok(Some(keys)) = js_sys::try_iter(&headers.keys()) {
        for key in keys.flatten() {
            if let Some(k) = key.as_string().filter(|k| names.owns(k)) {
                doomed.push(k);
            }
        }
    }
    for k in doomed {
        headers.delete(&k)?;
    }
    Ok(())
}

/// Finds the session: verifies the cookie (the first valid one wins when several are
/// sent) and loads it. Removes the session cookie from what the origin sees.
async fn resolve(
    headers: &Headers,
    cfg: &Config,
    manager: &SessionManager<D1Store>,
    now: Timestamp,
) -> Result<Resolved> {
    let mut r = Resolved {
        session: Session::new(),
        label: StoreLabel::D1,
        cookie_seen: false,
        reissue: false,
    };
    let Some(cookies) = headers.get("cookie")? else {
        return Ok(r);
    };
    let name = &cfg.cookie.name;
    let mut verified = None;
    for value in cookie_header::values(&cookies, name) {
        r.cookie_seen = true;
        match reference::decode(&cfg.keys, name, value) {
            Ok(found) => {
                verified = Some(found);
                break;
            }
            Err(e) => {
                log::warn("cookie_rejected", json!({ "reason": e.to_string() }));
                let reason = match e {
                    RefCookieError::Malformed => "malformed",
                    RefCookieError::BadSignature => "bad_signature",
                };
                manager.signal(Signal::CookieRejected { reason });
            }
        }
    }
    if !r.cookie_seen {
        return Ok(r);
    }
    match cookie_header::without(&cookies, name) {
        Some(rest) => headers.set("cookie", &rest)?,
        None => headers.delete("cookie")?,
    }
    let Some((id, used)) = verified else {
        return Ok(r);
    };
    match manager.load(&id, now).await {
        Ok(Some(session)) => {
            r.reissue = used == KeyUse::Fallback;
            r.session = session;
        }
        Ok(None) => log::info(
            "session_not_loaded",
            json!({ "session_id": id.to_string() }),
        ),
        Err(e) => {
            log::error(
                "store_unavailable",
                json!({ "session_id": id.to_string(), "error": e.to_string() }),
            );
            r.label = StoreLabel::Unavailable;
        }
    }
    Ok(r)
}

/// Sets the session headers the origin reads.
fn inject(headers: &Headers, names: &HeaderNames, r: &Resolved) -> Result<()> {
    let empty = Data::new();
    match r.session.record() {
        Some(rec) => {
            headers.set(&names.id, &rec.id.to_string())?;
            if let Some(user) = &rec.user_id {
                headers.set(&names.user_id, user)?;
            }
            headers.set(&names.expires_at, &rec.expires_at.to_rfc3339())?;
            headers.set(&names.data, &encode_data(&rec.data))?;
            headers.set(&names.new, "0")?;
        }
        None => {
            headers.set(&names.data, &encode_data(&empty))?;
            headers.set(&names.new, "1")?;
        }
    }
    headers.set(&names.store, r.label.as_str())?;
    Ok(())
}
