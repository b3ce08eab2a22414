//! The proxy path: resolve the session, forward to the origin with the session headers,
//! apply the origin's commands, set or clear the cookie, signal what happened.
//!
//! Kept lean for the hot path: web_sys types directly (no wrapper copies), bodies are
//! streamed, never read into wasm, and the origin's response is passed through untouched
//! unless a cookie or a sessiongate header requires a change.

use super::d1::D1Store;
use super::modes::{CookieMode, Resolved};
use super::{log, signals};
use crate::assertion::{self, Claims};
use crate::config::{Config, StoreKind};
use crate::cookie::full::{self, FullCookieError};
use crate::cookie::key::KeyUse;
use crate::cookie::reference::{self, RefCookieError};
use crate::cookie::{header as cookie_header, set_cookie};
use crate::manager::{CookieChange, SaveError, SessionManager};
use crate::protocol::{
    encode_data, header_safe, parse_commands, url_host, url_path, CommandError, Commands,
    HeaderNames, StoreLabel,
};
use crate::session::{Data, Session};
use crate::signal::{Exception, Signal};
use crate::store::cookie::CookieStore;
use crate::store::fallback::{snapshot_record, FallbackStore, Pending};
use crate::store::StoreError;
use crate::time::Timestamp;
use serde_json::json;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{Headers, Request, RequestInit, RequestRedirect, Response, ResponseInit};
use worker::{js_sys, Context, Env, Result};

/// Proxies one request.
pub async fn handle(
    req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    now: Timestamp,
) -> Result<Response> {
    let headers = Headers::new_with_headers(&req.headers())?;
    strip_owned(&headers, &cfg.headers)?;
    let name = cfg.cookie.name.as_str();
    let pending_name = cfg.pending_cookie.name.as_str();
    // One read and at most one rewrite of the Cookie header for both cookies.
    let [values, pending_values] = take_session_cookies(&headers, [name, pending_name])?;
    let cookie_seen = !values.is_empty();
    let d1 = D1Store::from_env(env);
    if cfg.store == StoreKind::Cookie || d1.db().is_err() {
        let (found, rejected) = first_valid(
            &values,
            |v| full::decode(&cfg.keys, name, v),
            FullCookieError::reason,
        );
        let (record, key) = found.map_or((None, None), |(r, k)| (Some(r), Some(k)));
        let id = record.as_ref().map(|r| r.id);
        let manager = SessionManager::new(CookieStore::new(&cfg.keys, name, record), cfg.expiry);
        let mut resolved = start(&manager, cfg, rejected, cookie_seen);
        if let (Some(id), Some(key)) = (id, key) {
            // The cookie store cannot fail to read: its session is the cookie.
            if let Ok(Some(session)) = manager.load(&id, now).await {
                resolved.reissue = key == KeyUse::Fallback;
                resolved.session = session;
            }
        }
        return proxy(req, env, ctx, cfg, now, headers, manager, resolved).await;
    }

    let (found, rejected) = first_valid(
        &values,
        |v| reference::decode(&cfg.keys, name, v),
        RefCookieError::reason,
    );
    let manager = SessionManager::new(d1, cfg.expiry);
    let mut resolved = start(&manager, cfg, rejected, cookie_seen);
    let mut pending = pending_values
        .iter()
        .find_map(|v| Pending::decode(&cfg.keys, pending_name, v).ok());
    if pending.is_none() && !pending_values.is_empty() {
        resolved.pending = Some(None); // unusable: drop it
    }
    // D1 is writable unless a pending operation just failed to reach it.
    let mut d1_writable = true;
    if let Some((op, since, _)) = &pending {
        let session_id = op.session_id().map(|i| i.to_string());
        match op.write_back(manager.store()).await {
            Ok(true) => log::info(
                "pending_written_back",
                json!({ "session_id": session_id, "since": since.to_rfc3339() }),
            ),
            Ok(false) => {
                log::error(
                    "pending_write_back_found_nothing",
                    json!({ "session_id": session_id }),
                );
                manager.signal(Signal::DataSaveFailed {
                    session_id: op.session_id(),
                    reason: "not_found",
                    exception: None,
                });
            }
            Err(e) => {
                log::warn(
                    "pending_write_back_failed",
                    json!({ "session_id": session_id, "error": e.to_string() }),
                );
                d1_writable = false;
            }
        }
        if d1_writable {
            resolved.pending = Some(None);
            pending = None;
        }
    }
    if d1_writable {
        let Some(reference) = &found else {
            return proxy(req, env, ctx, cfg, now, headers, manager, resolved).await;
        };
        match manager.load(&reference.id, now).await {
            Ok(Some(session)) => {
                resolved.reissue = reference.key == KeyUse::Fallback;
                resolved.session = session;
                return proxy(req, env, ctx, cfg, now, headers, manager, resolved).await;
            }
            Ok(None) => {
                log::info(
                    "session_not_loaded",
                    json!({ "session_id": reference.id.to_string() }),
                );
                return proxy(req, env, ctx, cfg, now, headers, manager, resolved).await;
            }
            Err(e) => {
                log::error(
                    "store_unavailable",
                    json!({ "session_id": reference.id.to_string(), "error": e.to_string() }),
                );
            }
        }
    }

    // D1 is failing: serve the request from the cookies, within the fallback window.
    let current = found
        .as_ref()
        .filter(|r| r.snapshot.usable(now, cfg.fallback_window_secs))
        .map(|r| {
            snapshot_record(
                r.id,
                r.snapshot.user_id.clone(),
                now.plus(cfg.expiry.idle_secs),
                now,
            )
        });
    if let (Some(reference), None) = (&found, &current) {
        let age = now.seconds_since(reference.snapshot.issued_at);
        log::warn(
            "fallback_refused",
            json!({ "session_id": reference.id.to_string(), "snapshot_age": age }),
        );
        resolved.label = StoreLabel::Unavailable;
        return proxy(req, env, ctx, cfg, now, headers, manager, resolved).await;
    }
    if cfg.fallback_window_secs == 0 {
        resolved.label = StoreLabel::Unavailable;
        return proxy(req, env, ctx, cfg, now, headers, manager, resolved).await;
    }
    let (op, since) = pending.map_or((None, now), |(op, since, _)| (Some(op), since));
    let id = current.as_ref().map(|r| r.id);
    let store = FallbackStore::new(&cfg.keys, pending_name, current, op, since);
    let fallback = SessionManager::new(store, cfg.expiry);
    for signal in manager.take_signals() {
        fallback.signal(signal);
    }
    if !d1_writable {
        // The read was not tried: the outage is known from the failed write-back.
        fallback.signal(Signal::StoreDegraded {
            reason: "write_failed",
            exception: Exception::new("StoreError", "pending operation could not be written back"),
        });
    }
    let mut fallback_resolved = Resolved::new(StoreLabel::CookieFallback, cookie_seen);
    fallback_resolved.pending = resolved.pending;
    if let Some(id) = id {
        if let Ok(Some(session)) = fallback.load(&id, now).await {
            fallback_resolved.session = session;
        }
    }
    proxy(
        req,
        env,
        ctx,
        cfg,
        now,
        headers,
        fallback,
        fallback_resolved,
    )
    .await
}

/// Records the isolate's first request and the rejected cookies; the request's state
/// before any session is found.
fn start<S: CookieMode>(
    manager: &SessionManager<S>,
    cfg: &Config,
    rejected: Vec<&'static str>,
    cookie_seen: bool,
) -> Resolved {
    signals::first_request(manager, cfg);
    for reason in rejected {
        log::warn("cookie_rejected", json!({ "reason": reason }));
        manager.signal(Signal::CookieRejected { reason });
    }
    Resolved::new(S::LABEL, cookie_seen)
}

/// The first value `decode` accepts (cookie tossing: the first valid one wins), and the
/// reasons of those rejected before it.
fn first_valid<T, E>(
    values: &[String],
    decode: impl Fn(&str) -> std::result::Result<T, E>,
    reason: impl Fn(E) -> &'static str,
) -> (Option<T>, Vec<&'static str>) {
    let mut rejected = Vec::new();
    for value in values {
        match decode(value) {
            Ok(found) => return (Some(found), rejected),
            Err(e) => rejected.push(reason(e)),
        }
    }
    (None, rejected)
}

/// Removes the cookies called `names` from the `Cookie` header the origin receives;
/// returns each one's values in header order.
fn take_session_cookies<const N: usize>(
    headers: &Headers,
    names: [&str; N],
) -> Result<[Vec<String>; N]> {
    let Some(cookies) = headers.get("cookie")? else {
        return Ok(std::array::from_fn(|_| Vec::new()));
    };
    let found: [Vec<String>; N] = std::array::from_fn(|i| {
        cookie_header::values(&cookies, names[i])
            .map(str::to_owned)
            .collect()
    });
    if found.iter().any(|v| !v.is_empty()) {
        match cookie_header::without(&cookies, &names) {
            Some(rest) => headers.set("cookie", &rest)?,
            None => headers.delete("cookie")?,
        }
    }
    Ok(found)
}

/// The request path over one store, once the session is resolved. Only the session
/// steps are generic; forwarding and the response are shared (smaller wasm).
#[allow(clippy::too_many_arguments)]
async fn proxy<S: CookieMode>(
    req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    now: Timestamp,
    headers: Headers,
    manager: SessionManager<S>,
    mut resolved: Resolved,
) -> Result<Response> {
    let request_id = headers.get("cf-ray")?;
    let url = req.url();
    let target = match &cfg.origin_url {
        Some(base) => format!("{base}{}", url_path(&url)),
        None => url,
    };
    let withheld = inject(&req, &headers, cfg, &target, &resolved, now)?;
    if let (Some(bytes), Some(id)) = (withheld.data_bytes, resolved.session.id()) {
        log::warn(
            "data_over_header_budget",
            json!({ "session_id": id.to_string(), "bytes": bytes, "budget": cfg.header_budget }),
        );
        manager.signal(Signal::DataRetrievalFailed {
            session_id: id,
            reason: "header_budget_exceeded",
        });
    }
    if withheld.unsafe_user {
        let id = resolved.session.id().map(|i| i.to_string());
        log::warn("user_id_not_header_safe", json!({ "session_id": id }));
    }
    let Some(resp) = forward(&req, headers, cfg, &target).await? else {
        signals::dispatch(ctx, env, cfg, request_id, now, manager.take_signals());
        return super::endpoints::text(502, "Bad Gateway: origin unreachable\n");
    };
    if resp.status() == 101 {
        // A WebSocket upgrade cannot carry a Set-Cookie: change nothing.
        signals::dispatch(ctx, env, cfg, request_id, now, manager.take_signals());
        return Ok(resp);
    }
    let (cmds, errors) = commands(&resp, &cfg.headers)?;
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

    let cookie = save(&manager, cfg, &mut resolved, now).await;
    signals::dispatch(ctx, env, cfg, request_id, now, manager.take_signals());

    let mut set_cookies = Vec::new();
    match cookie {
        CookieChange::Keep => {}
        CookieChange::Set { max_age, .. } => {
            if let Some(value) = manager.store().cookie_value(cfg, &resolved.session, now) {
                set_cookies.push(set_cookie::set(&cfg.cookie, &value, max_age));
            }
        }
        CookieChange::Clear => set_cookies.push(set_cookie::clear(&cfg.cookie)),
    }
    let pending_cfg = &cfg.pending_cookie;
    match manager.store().pending_cookie(&resolved) {
        Some(Some(value)) => {
            set_cookies.push(set_cookie::set(pending_cfg, &value, cfg.expiry.idle_secs))
        }
        Some(None) => set_cookies.push(set_cookie::clear(pending_cfg)),
        None => {}
    }
    finish(resp, &cfg.headers, &set_cookies)
}

/// Sends the request on to the origin (or its own URL in route mode), body streamed.
/// `None` when the origin cannot be reached (logged).
async fn forward(
    req: &Request,
    headers: Headers,
    cfg: &Config,
    target: &str,
) -> Result<Option<Response>> {
    if cfg.origin_url.is_some() {
        let url = req.url();
        headers.set("x-forwarded-host", url_host(&url))?;
        headers.set(
            "x-forwarded-proto",
            url.split(':').next().unwrap_or("https"),
        )?;
    }
    let init = RequestInit::new();
    init.set_method(&req.method());
    init.set_headers(&headers);
    init.set_redirect(RequestRedirect::Manual);
    if let Some(body) = req.body() {
        init.set_body(&body);
    }
    let forwarded = Request::new_with_str_and_init(target, &init)?;
    let global: worker::web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    match JsFuture::from(global.fetch_with_request(&forwarded)).await {
        Ok(r) => Ok(Some(r.dyn_into()?)),
        Err(e) => {
            let error = e
                .as_string()
                .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| e.message().into()));
            log::error(
                "origin_unreachable",
                json!({ "target": target, "error": error }),
            );
            Ok(None)
        }
    }
}

/// The origin's command headers, parsed.
fn commands(resp: &Response, names: &HeaderNames) -> Result<(Commands, Vec<CommandError>)> {
    let rh = resp.headers();
    Ok(parse_commands(
        rh.get(&names.update)?.as_deref(),
        rh.get(&names.user_id)?.as_deref(),
        rh.get(&names.action)?.as_deref(),
    ))
}

/// The origin's response as the client gets it: untouched unless a cookie is set or a
/// sessiongate header must be removed.
fn finish(resp: Response, names: &HeaderNames, set_cookies: &[String]) -> Result<Response> {
    let rh = resp.headers();
    let owned = names.response_owned();
    let leaks = owned.iter().any(|n| rh.has(n).unwrap_or(true));
    if set_cookies.is_empty() && !leaks {
        return Ok(resp);
    }
    let out = Headers::new_with_headers(&rh)?;
    for n in owned {
        out.delete(n)?;
    }
    for c in set_cookies {
        out.append("set-cookie", c)?;
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
async fn save<S: CookieMode>(
    manager: &SessionManager<S>,
    cfg: &Config,
    r: &mut Resolved,
    now: Timestamp,
) -> CookieChange {
    if r.label == StoreLabel::Unavailable {
        // Writing blind while the store is failing could replace a live session: keep
        // the cookie.
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
    let Some(e) = &saved.error else {
        return manager.store().next_cookie(&saved, r, now);
    };
    let error = match e {
        SaveError::NotFound => "not_found".to_owned(),
        SaveError::Store(e) => e.to_string(),
    };
    log::error(
        "session_save_failed",
        json!({ "session_id": before.map(|i| i.to_string()), "error": error }),
    );
    if S::LABEL == StoreLabel::D1
        && cfg.fallback_window_secs > 0
        && matches!(e, SaveError::Store(StoreError::Backend(_)))
    {
        // D1 refused the write: keep it in the pending cookie instead of losing it.
        return save_pending(manager, cfg, r, now)
            .await
            .unwrap_or(CookieChange::Keep);
    }
    manager.store().next_cookie(&saved, r, now)
}

/// Saves `r.session` into a pending cookie after D1 refused the write.
async fn save_pending<S: CookieMode>(
    manager: &SessionManager<S>,
    cfg: &Config,
    r: &mut Resolved,
    now: Timestamp,
) -> Option<CookieChange> {
    let store = FallbackStore::new(
        &cfg.keys,
        &cfg.pending_cookie.name,
        r.session.record().cloned(),
        None,
        now,
    );
    let fallback = SessionManager::new(store, cfg.expiry);
    manager.signal(Signal::StoreDegraded {
        reason: "write_failed",
        exception: Exception::new(
            "StoreError",
            "D1 refused the write; kept in the pending cookie",
        ),
    });
    let saved = fallback.save(&mut r.session, now).await;
    for signal in fallback.take_signals() {
        manager.signal(signal);
    }
    if saved.error.is_some() {
        return None;
    }
    log::warn(
        "session_saved_pending",
        json!({ "session_id": r.session.id().map(|i| i.to_string()) }),
    );
    r.label = StoreLabel::CookieFallback;
    r.pending = fallback.store().outgoing();
    Some(saved.cookie)
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

/// Sets the session headers the origin reads, and the assertion that vouches for them
/// when ORIGIN_SECRET is set. Returns what could not be sent as stored.
fn inject(
    req: &Request,
    headers: &Headers,
    cfg: &Config,
    target: &str,
    r: &Resolved,
    now: Timestamp,
) -> Result<Withheld> {
    let names = &cfg.headers;
    let record = r.session.record();
    let mut withheld = Withheld::default();
    let mut data = encode_data(record.map_or(&Data::new(), |rec| &rec.data));
    if data.len() > cfg.header_budget {
        withheld.data_bytes = Some(data.len());
        headers.set(&names.data_omitted, &data.len().to_string())?;
        data = encode_data(&Data::new());
    }
    // A user id that is not printable ASCII never becomes a header (CR/LF injection).
    let user = record.and_then(|rec| rec.user_id.as_deref()).filter(|u| {
        let safe = header_safe(u);
        withheld.unsafe_user |= !safe;
        safe
    });
    if let Some(rec) = record {
        headers.set(&names.id, &rec.id.to_string())?;
        if let Some(user) = user {
            headers.set(&names.user_id, user)?;
        }
        headers.set(&names.expires_at, &rec.expires_at.to_rfc3339())?;
    }
    headers.set(&names.data, &data)?;
    headers.set(&names.new, if record.is_some() { "0" } else { "1" })?;
    headers.set(&names.store, r.label.as_str())?;
    if let Some(secret) = &cfg.origin_secret {
        // Audience and path as the origin receives them (ORIGIN_URL may add a base path).
        let aud = url_host(target);
        let method = req.method();
        let sid = record.map(|rec| rec.id.to_string());
        let claims = Claims::new(
            &cfg.worker_name,
            aud,
            user,
            sid,
            &method,
            url_path(target),
            &data,
            now,
        );
        headers.set(
            &names.assertion,
            &assertion::sign(secret.expose().as_bytes(), &claims),
        )?;
    }
    Ok(withheld)
}

/// Session facts not sent to the origin as stored.
#[derive(Default)]
struct Withheld {
    /// The data's encoded size, when it exceeded the header budget.
    data_bytes: Option<usize>,
    /// The user id was not header-safe.
    unsafe_user: bool,
}
