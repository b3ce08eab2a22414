//! The proxy path: resolve the session, forward to the origin with the session headers,
//! apply the origin's commands, set or clear the cookie, signal what happened.
//!
//! Kept lean for the hot path: web_sys types directly (no wrapper copies), bodies are
//! streamed, never read into wasm, and the origin's response is passed through untouched
//! unless a cookie or a sessiongate header requires a change.

use super::d1::D1Store;
use super::{log, signals};
use crate::config::{Config, StoreKind};
use crate::cookie::full::{self, FullCookieError};
use crate::cookie::key::KeyUse;
use crate::cookie::reference::{self, RefCookieError};
use crate::cookie::{header as cookie_header, set_cookie};
use crate::expiry::ExpiryPolicy;
use crate::manager::{CookieChange, SaveError, Saved, SessionManager};
use crate::protocol::{
    encode_data, parse_commands, url_host, url_path, Commands, HeaderNames, StoreLabel,
};
use crate::session::{Data, Session, SessionId};
use crate::signal::{Exception, Signal};
use crate::store::cookie::CookieStore;
use crate::store::Store;
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

/// What differs between the stores on the request path: where the cookie points and
/// what goes back.
trait CookieMode: Store {
    /// `X-Session-Store` while the store works.
    const LABEL: StoreLabel;
    /// The `Set-Cookie` change after `saved`.
    fn next_cookie(&self, saved: &Saved, r: &Resolved, now: Timestamp) -> CookieChange;
    /// The cookie value naming (or holding) the session after a save.
    fn cookie_value(&self, cfg: &Config, session: &Session) -> Option<String>;
}

impl CookieMode for D1Store {
    const LABEL: StoreLabel = StoreLabel::D1;

    fn next_cookie(&self, saved: &Saved, r: &Resolved, now: Timestamp) -> CookieChange {
        match (saved.cookie, r.session.record()) {
            (CookieChange::Keep, Some(rec)) if r.reissue => CookieChange::Set {
                id: rec.id,
                max_age: ExpiryPolicy::max_age(rec.expires_at, now),
            },
            (CookieChange::Keep, None) if r.cookie_seen && r.label == Self::LABEL => {
                CookieChange::Clear
            }
            (cookie, _) => cookie,
        }
    }

    fn cookie_value(&self, cfg: &Config, session: &Session) -> Option<String> {
        let id = session.id()?;
        Some(reference::encode(&cfg.keys, &cfg.cookie.name, &id))
    }
}

impl CookieMode for CookieStore<'_> {
    const LABEL: StoreLabel = StoreLabel::Cookie;

    fn next_cookie(&self, _saved: &Saved, r: &Resolved, now: Timestamp) -> CookieChange {
        match (self.outgoing(), r.session.record()) {
            // Every write changes the cookie: it is the store.
            (Some(Some(_)), Some(rec)) => CookieChange::Set {
                id: rec.id,
                max_age: ExpiryPolicy::max_age(rec.expires_at, now),
            },
            (Some(_), _) => CookieChange::Clear,
            (None, Some(rec)) if r.reissue => CookieChange::Set {
                id: rec.id,
                max_age: ExpiryPolicy::max_age(rec.expires_at, now),
            },
            (None, None) if r.cookie_seen => CookieChange::Clear,
            (None, _) => CookieChange::Keep,
        }
    }

    fn cookie_value(&self, cfg: &Config, session: &Session) -> Option<String> {
        match self.outgoing() {
            Some(value) => value,
            None => session
                .record()
                .map(|rec| full::encode(&cfg.keys, &cfg.cookie.name, rec)),
        }
    }
}

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
    let values = take_session_cookies(&headers, name)?;
    let cookie_seen = !values.is_empty();
    let d1 = D1Store::from_env(env);
    if cfg.store == StoreKind::Cookie || d1.db().is_err() {
        let (found, rejected) = first_valid(
            &values,
            |v| full::decode(&cfg.keys, name, v),
            |e| match e {
                FullCookieError::Malformed => "malformed",
                FullCookieError::BadSignature => "bad_signature",
                FullCookieError::BadPayload => "bad_payload",
            },
        );
        let (record, used) = found.map_or((None, None), |(r, u)| (Some(r), Some(u)));
        let verified = record.as_ref().map(|r| r.id).zip(used);
        let manager = SessionManager::new(CookieStore::new(&cfg.keys, name, record), cfg.expiry);
        proxy(
            req,
            env,
            ctx,
            cfg,
            now,
            headers,
            manager,
            verified,
            rejected,
            cookie_seen,
        )
        .await
    } else {
        let (verified, rejected) = first_valid(
            &values,
            |v| reference::decode(&cfg.keys, name, v),
            |e| match e {
                RefCookieError::Malformed => "malformed",
                RefCookieError::BadSignature => "bad_signature",
            },
        );
        let manager = SessionManager::new(d1, cfg.expiry);
        proxy(
            req,
            env,
            ctx,
            cfg,
            now,
            headers,
            manager,
            verified,
            rejected,
            cookie_seen,
        )
        .await
    }
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

/// Removes the session cookie from the `Cookie` header the origin receives; returns its
/// values in header order.
fn take_session_cookies(headers: &Headers, name: &str) -> Result<Vec<String>> {
    let Some(cookies) = headers.get("cookie")? else {
        return Ok(Vec::new());
    };
    let values: Vec<String> = cookie_header::values(&cookies, name)
        .map(str::to_owned)
        .collect();
    if !values.is_empty() {
        match cookie_header::without(&cookies, name) {
            Some(rest) => headers.set("cookie", &rest)?,
            None => headers.delete("cookie")?,
        }
    }
    Ok(values)
}

/// The request path over one store.
#[allow(clippy::too_many_arguments)]
async fn proxy<S: CookieMode>(
    req: Request,
    env: &Env,
    ctx: &Context,
    cfg: &Config,
    now: Timestamp,
    headers: Headers,
    manager: SessionManager<S>,
    verified: Option<(SessionId, KeyUse)>,
    rejected: Vec<&'static str>,
    cookie_seen: bool,
) -> Result<Response> {
    let names = &cfg.headers;
    let request_id = headers.get("cf-ray")?;
    signals::first_request(&manager, cfg);
    for reason in rejected {
        log::warn("cookie_rejected", json!({ "reason": reason }));
        manager.signal(Signal::CookieRejected { reason });
    }
    let mut resolved = Resolved {
        session: Session::new(),
        label: S::LABEL,
        cookie_seen,
        reissue: false,
    };
    if let Some((id, used)) = verified {
        match manager.load(&id, now).await {
            Ok(Some(session)) => {
                resolved.reissue = used == KeyUse::Fallback;
                resolved.session = session;
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
                resolved.label = StoreLabel::Unavailable;
            }
        }
    }
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
        CookieChange::Set { max_age, .. } => manager
            .store()
            .cookie_value(cfg, &resolved.session)
            .map(|value| set_cookie::set(&cfg.cookie, &value, max_age)),
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
async fn save<S: CookieMode>(
    manager: &SessionManager<S>,
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
    manager.store().next_cookie(&saved, r, now)
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
