//! The proxy path's runtime glue: strip the client's sessiongate headers, hand the
//! cookies to the core ([`crate::gateway`]), set the headers it decides, forward, pass
//! the origin's commands back, and send the response with its cookies.
//!
//! Kept lean for the hot path: web_sys types directly (no wrapper copies), bodies are
//! streamed, never read into wasm, and the origin's response is passed through untouched
//! unless a cookie or a sessiongate header requires a change.

use super::d1::D1Store;
use super::{log, respond, signals};
use crate::config::{Config, StoreKind};
use crate::fresh::Asked;
use crate::gateway::resolve::Forwarded;
use crate::gateway::save::RawCommands;
use crate::gateway::{Context as Cx, Exchange, Finished, Inbound};
use crate::health::{self, OriginCheck};
use crate::protocol::HeaderNames;
use crate::proxy;
use crate::time::Timestamp;
use crate::url;
use serde_json::json;
use worker::wasm_bindgen::JsCast;
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::{Headers, Request, RequestInit, RequestRedirect, Response, ResponseInit};
use worker::{js_sys, Context, Env, Result};

/// The runtime side of one request: what sending its journal needs.
pub struct Call<'a> {
    /// The worker's environment (the queue binding).
    pub env: &'a Env,
    /// The invocation (`wait_until`).
    pub ctx: &'a Context,
    /// The configuration.
    pub cfg: &'a Config,
    /// The request's time.
    pub now: Timestamp,
    /// `cf-ray`, the id signals carry.
    pub request_id: Option<String>,
}

impl<'a> Call<'a> {
    /// The call of a request with `headers` (its `cf-ray` names the signals).
    ///
    /// # Errors
    /// When the headers cannot be read.
    pub fn new(
        env: &'a Env,
        ctx: &'a Context,
        cfg: &'a Config,
        now: Timestamp,
        headers: &Headers,
    ) -> Result<Self> {
        let request_id = headers.get("cf-ray")?;
        Ok(Self {
            env,
            ctx,
            cfg,
            now,
            request_id,
        })
    }

    /// Logs the request's events, queues its signals and the revocations D1 did not take
    /// (after the response); returns its `Set-Cookie` values.
    pub fn report(self, finished: Finished) -> Vec<String> {
        log::events(finished.events);
        signals::revoke(self.ctx, self.env, self.now, finished.revocations);
        signals::dispatch(
            self.ctx,
            self.env,
            self.cfg,
            self.request_id,
            self.now,
            finished.signals,
        );
        finished.set_cookies
    }
}

/// The 508 body: the request came back to the gateway it left.
const LOOP: &str = "Loop Detected: this request already passed through this gateway. \
    Set ORIGIN_URL to the origin, or in route mode make sure the route's origin is not \
    this worker.\n";

/// The 500 body when D1 is configured without its binding.
pub const D1_MISSING: &str = "sessiongate is misconfigured: the SESSIONS_DB binding is \
    missing (add it to wrangler.toml, or set SESSION_STORE=cookie)\n";

/// D1 is configured but its binding is missing.
pub struct BindingMissing;

/// The D1 store a request may use (`None`: the cookie store without D1; when bound, D1
/// keeps the cookie store's per-user revocation times).
///
/// # Errors
/// [`BindingMissing`] (logged) when D1 is configured without its binding: never a silent
/// switch to cookies.
pub fn d1_for<'d>(
    cfg: &Config,
    d1: &'d D1Store,
) -> std::result::Result<Option<&'d D1Store>, BindingMissing> {
    match (cfg.store, d1.db()) {
        (StoreKind::Cookie, bound) => Ok(bound.ok().map(|_| d1)),
        (StoreKind::D1, Ok(_)) => Ok(Some(d1)),
        (StoreKind::D1, Err(e)) => {
            log::error("d1_binding_missing", json!({ "error": e.to_string() }));
            Err(BindingMissing)
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
    let url = req.url();
    if let Some(hint) = health::route_mode_in_dev(cfg, &url) {
        log::error("route_mode_on_loopback", json!({ "url": url }));
        return respond::text(502, hint);
    }
    let headers = Headers::new_with_headers(&req.headers())?;
    if !mark_hop(&headers, cfg)? {
        let fields = json!({ "url": url, "origin": cfg.origin_url });
        log::error("loop_detected", fields);
        return respond::text(508, LOOP);
    }
    strip_owned(&headers, &cfg.headers)?;
    let inbound = take_cookies(&headers, cfg)?;
    let call = Call::new(env, ctx, cfg, now, &headers)?;
    let d1 = D1Store::from_env(env).seen_from(&req);
    let Ok(d1) = d1_for(cfg, &d1) else {
        return respond::text(500, D1_MISSING);
    };
    let memory = super::entry::memory();
    let cx = Cx::new(cfg, now, signals::first_request(), &memory);
    let exchange = Exchange::begin(cx, d1, &inbound).await;

    // Only with fresh-only paths configured: other requests read no more headers.
    if cfg.fresh.is_some() {
        let (fetch_mode, accept) = (headers.get("sec-fetch-mode")?, headers.get("accept")?);
        let asked = Asked {
            target: url::path(&url),
            sec_fetch_mode: fetch_mode.as_deref(),
            accept: accept.as_deref(),
        };
        if let Some(refusal) = exchange.freshness(&asked) {
            // A stale login on a fresh-only path: the origin never sees the request.
            call.report(exchange.refuse());
            return respond::refusal(&refusal);
        }
    }
    let target = url::target(cfg.origin_url.as_deref(), &url);
    for (name, value) in exchange.inject(&req.method(), &target) {
        headers.set(name, &value)?;
    }
    if let Some((name, value)) = exchange.session_list(url::path(&url)).await {
        headers.set(name, &value)?;
    }
    let Some(resp) = forward(&req, &url, headers, &target).await? else {
        call.report(exchange.abandon());
        return respond::text(502, "Bad Gateway: origin unreachable\n");
    };
    let status = resp.status();
    let rh = resp.headers();
    let n = &cfg.headers;
    let (update, user_id, action) = (rh.get(&n.update)?, rh.get(&n.user_id)?, rh.get(&n.action)?);
    let (revoke, lifetime) = (rh.get(&n.revoke)?, rh.get(&n.lifetime)?);
    let commands = RawCommands {
        update: update.as_deref(),
        user_id: user_id.as_deref(),
        action: action.as_deref(),
        revoke: revoke.as_deref(),
        lifetime: lifetime.as_deref(),
    };
    let set_cookies = call.report(exchange.finish(status, commands).await);
    if status == 101 {
        // A WebSocket upgrade passes through as is (the core changed nothing).
        return Ok(resp);
    }
    finish(resp, n, &set_cookies)
}

/// Whether the origin at `url` answers a plain `GET /` (for the operator's health
/// detail). It carries the hop mark, so an ORIGIN_URL that points back at this gateway
/// answers 508 at once instead of looping.
pub async fn probe(url: &str, worker: &str) -> OriginCheck {
    let sent = async {
        let init = RequestInit::new();
        init.set_method("GET");
        init.set_redirect(RequestRedirect::Manual);
        let headers = Headers::new()?;
        headers.set(proxy::HOP_HEADER, worker)?;
        init.set_headers(&headers);
        let req = Request::new_with_str_and_init(&format!("{url}/"), &init)?;
        let global: worker::web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
        JsFuture::from(global.fetch_with_request(&req)).await
    };
    match sent.await {
        Ok(resp) => match resp.dyn_into::<Response>() {
            Ok(r) => OriginCheck::Answered(r.status()),
            Err(_) => OriginCheck::Unreachable("not a response".into()),
        },
        Err(e) => OriginCheck::Unreachable(js_error(&e)),
    }
}

/// A thrown JS value's message.
fn js_error(e: &worker::wasm_bindgen::JsValue) -> String {
    e.as_string()
        .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| e.message().into()))
        .unwrap_or_else(|| "unknown error".to_owned())
}

/// Adds this gateway to the hop mark; `false` when the request already carries it (it
/// came back: a loop).
fn mark_hop(headers: &Headers, cfg: &Config) -> Result<bool> {
    let hop = headers.get(proxy::HOP_HEADER)?;
    if proxy::looped(hop.as_deref(), &cfg.worker_name) {
        return Ok(false);
    }
    let name = &cfg.worker_name;
    let hops = hop.map_or_else(|| name.clone(), |h| format!("{h}, {name}"));
    headers.set(proxy::HOP_HEADER, &hops)?;
    Ok(true)
}

/// Takes the session and pending cookies out of the `Cookie` header the origin gets.
fn take_cookies(headers: &Headers, cfg: &Config) -> Result<Inbound> {
    let cookie_header = headers.get("cookie")?;
    let (names, pending) = (&cfg.cookie.name, &cfg.pending_cookie.name);
    let (inbound, forwarded) = Inbound::take(cookie_header.as_deref(), names, pending);
    match forwarded {
        Forwarded::Unchanged => {}
        Forwarded::Rewritten(rest) => headers.set("cookie", &rest)?,
        Forwarded::Removed => headers.delete("cookie")?,
    }
    Ok(inbound)
}

/// Sends the request on to the origin (or its own URL in route mode), body streamed, with
/// the gateway's own forwarding headers. `None` when the origin cannot be reached
/// (logged).
async fn forward(
    req: &Request,
    url: &str,
    headers: Headers,
    target: &str,
) -> Result<Option<Response>> {
    let client_ip = headers.get("cf-connecting-ip")?;
    for (name, value) in proxy::forwarding(url, client_ip.as_deref()) {
        match value {
            Some(v) => headers.set(name, &v)?,
            None => headers.delete(name)?,
        }
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
            let fields = json!({ "target": target, "error": js_error(&e) });
            log::error("origin_unreachable", fields);
            Ok(None)
        }
    }
}

/// The origin's response as the client gets it: untouched unless a cookie is set or a
/// sessiongate header must be removed. A response that sets a cookie is kept out of
/// shared caches.
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
    if !set_cookies.is_empty() {
        if let Some(private) = proxy::private_cache_control(rh.get("cache-control")?.as_deref()) {
            out.set("cache-control", &private)?;
        }
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
