//! The proxy path: resolve the session, forward to the origin with the session headers,
//! apply the origin's commands, set or clear the cookie.
//!
//! Kept lean for the hot path: web_sys types directly (no wrapper copies), bodies are
//! streamed, never read into wasm, and the origin's response is passed through untouched
//! unless a cookie or a sessiongate header requires a change.

use super::d1::D1Store;
use super::log;
use super::SESSIONS_DB;
use crate::config::Config;
use crate::cookie::key::KeyUse;
use crate::cookie::{header as cookie_header, reference, set_cookie};
use crate::plan::{self, CookieChange, Loaded, Outcome, Write, WriteError};
use crate::protocol::{encode_data, parse_commands, url_host, url_path, HeaderNames, StoreLabel};
use crate::session::{Data, SessionId};
use crate::store::{Store, StoreError};
use crate::time::Timestamp;
use serde_json::json;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{Headers, Request, RequestInit, RequestRedirect, Response, ResponseInit};
use worker::{js_sys, Env, Result};

/// Proxies one request.
pub async fn handle(req: Request, env: &Env, cfg: &Config, now: Timestamp) -> Result<Response> {
    let names = &cfg.headers;
    let headers = Headers::new_with_headers(&req.headers())?;
    strip_owned(&headers, names)?;

    let store = env.d1(SESSIONS_DB).map(D1Store::new);
    let (loaded, label) = resolve(&headers, cfg, store.as_ref().ok(), now).await?;
    inject(&headers, names, &loaded, label)?;

    let url = req.url();
    let target = match &cfg.origin_url {
        Some(base) => {
            headers.set("x-forwarded-host", url_host(&url))?;
            headers.set(
                "x-forwarded-proto",
                url.split(':').next().unwrap_or("https"),
            )?;
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
            let message = e
                .as_string()
                .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| e.message().into()));
            log::error(
                "origin_unreachable",
                json!({ "target": target, "error": message }),
            );
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
        log::warn(
            "bad_command",
            json!({ "session_id": session_id(&loaded), "error": e.to_string() }),
        );
    }
    let plan = plan::plan(&cfg.expiry, &loaded, &cmds, now, SessionId::random);
    let outcome = match (&plan.write, &store, label) {
        (Write::None, ..) => Outcome {
            cookie: plan.cookie,
            error: None,
        },
        (_, Ok(store), StoreLabel::D1) => plan::execute(store, plan).await,
        // Writing blind while D1 is failing could replace a live session: keep the cookie.
        (_, Err(e), _) => refuse(&e.to_string()),
        (_, Ok(_), StoreLabel::Unavailable) => refuse("session store unavailable on read"),
    };
    if let Some(e) = &outcome.error {
        let error = match e {
            WriteError::NotFound => "not_found".to_owned(),
            WriteError::Store(e) => e.to_string(),
        };
        log::error(
            "session_save_failed",
            json!({ "session_id": session_id(&loaded), "error": error }),
        );
    }

    let set_cookie = match outcome.cookie {
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

fn refuse(why: &str) -> Outcome {
    Outcome {
        cookie: CookieChange::Keep,
        error: Some(WriteError::Store(StoreError::Backend(why.to_owned()))),
    }
}

fn session_id(loaded: &Loaded) -> Option<String> {
    loaded.record.as_ref().map(|r| r.id.to_string())
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
/// sent), loads it, applies expiry. Removes the session cookie from what the origin sees.
async fn resolve(
    headers: &Headers,
    cfg: &Config,
    store: Option<&D1Store>,
    now: Timestamp,
) -> Result<(Loaded, StoreLabel)> {
    let mut loaded = Loaded::default();
    let Some(cookies) = headers.get("cookie")? else {
        return Ok((loaded, StoreLabel::D1));
    };
    let name = &cfg.cookie.name;
    let mut verified = None;
    for value in cookie_header::values(&cookies, name) {
        loaded.cookie_seen = true;
        match reference::decode(&cfg.keys, name, value) {
            Ok(found) => {
                verified = Some(found);
                break;
            }
            Err(e) => log::warn("cookie_rejected", json!({ "reason": e.to_string() })),
        }
    }
    if !loaded.cookie_seen {
        return Ok((loaded, StoreLabel::D1));
    }
    match cookie_header::without(&cookies, name) {
        Some(rest) => headers.set("cookie", &rest)?,
        None => headers.delete("cookie")?,
    }
    let Some((id, used)) = verified else {
        return Ok((loaded, StoreLabel::D1));
    };
    let Some(store) = store else {
        log::error(
            "store_unavailable",
            json!({ "session_id": id.to_string(), "error": "SESSIONS_DB binding missing" }),
        );
        return Ok((loaded, StoreLabel::Unavailable));
    };
    match store.load(&id).await {
        Ok(Some(r)) if !cfg.expiry.is_expired(&r, now) => {
            loaded.reissue = used == KeyUse::Fallback;
            loaded.record = Some(r);
        }
        Ok(Some(_)) => log::info("session_expired", json!({ "session_id": id.to_string() })),
        Ok(None) => log::info("session_unknown", json!({ "session_id": id.to_string() })),
        Err(StoreError::Corrupt(e)) => {
            log::error(
                "session_corrupt",
                json!({ "session_id": id.to_string(), "error": e }),
            );
        }
        Err(e) => {
            log::error(
                "store_unavailable",
                json!({ "session_id": id.to_string(), "error": e.to_string() }),
            );
            return Ok((loaded, StoreLabel::Unavailable));
        }
    }
    Ok((loaded, StoreLabel::D1))
}

/// Sets the session headers the origin reads.
fn inject(
    headers: &Headers,
    names: &HeaderNames,
    loaded: &Loaded,
    label: StoreLabel,
) -> Result<()> {
    let empty = Data::new();
    match &loaded.record {
        Some(r) => {
            headers.set(&names.id, &r.id.to_string())?;
            if let Some(user) = &r.user_id {
                headers.set(&names.user_id, user)?;
            }
            headers.set(&names.expires_at, &r.expires_at.to_rfc3339())?;
            headers.set(&names.data, &encode_data(&r.data))?;
            headers.set(&names.new, "0")?;
        }
        None => {
            headers.set(&names.data, &encode_data(&empty))?;
            headers.set(&names.new, "1")?;
        }
    }
    headers.set(&names.store, label.as_str())?;
    Ok(())
}
