//! The Workers Rate Limiting bindings as the core's [`Limiter`]: one binding per purpose
//! (see [`Purpose`]), looked up only when the core consults it, the client address
//! (`CF-Connecting-IP`) read only then too. The decisions are in
//! [`crate::gateway::limit`].

use super::log;
use crate::gateway::journal::Event;
use crate::gateway::limit::{LimitError, Limiter, Limits, Pending, Purpose, Recent, Verdict};
use crate::gateway::Finished;
use crate::signal::Signal;
use crate::time::Timestamp;
use std::rc::Rc;
use worker::js_sys::{Object, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::web_sys::Request;
use worker::worker_sys::RateLimiter as RateLimiterSys;
use worker::Env;

thread_local! {
    /// What this isolate remembers of limits.
    static RECENT: Rc<Recent> = Rc::new(Recent::default());
}

/// The isolate's memory of limits.
pub fn recent() -> Rc<Recent> {
    RECENT.with(Rc::clone)
}

/// The bindings of `env`, for the request `req`.
pub struct Bindings<'a> {
    env: &'a Env,
    req: &'a Request,
}

impl<'a> Bindings<'a> {
    /// The limits of `req` under `env`.
    pub fn new(env: &'a Env, req: &'a Request) -> Self {
        Self { env, req }
    }
}

impl Limiter for Bindings<'_> {
    fn bound(&self, purpose: Purpose) -> bool {
        self.env.rate_limiter(purpose.binding()).is_ok()
    }

    fn client_ip(&self) -> Option<String> {
        self.req.headers().get("cf-connecting-ip").ok().flatten()
    }

    fn limit<'a>(&'a self, purpose: Purpose, key: &'a str) -> Pending<'a> {
        Box::pin(async move {
            let Ok(binding) = self.env.rate_limiter(purpose.binding()) else {
                return Ok(Verdict::Unbound);
            };
            let failed = |e: JsValue| LimitError::Failed {
                binding: purpose.binding(),
                message: super::gateway::js_error(&e),
            };
            // `limit({key})` called directly: workers-rs's `RateLimiter::limit` goes
            // through serde_wasm_bindgen for one string and one boolean (~1.5 KB of wasm).
            let options = Object::new();
            Reflect::set(&options, &JsValue::from_str("key"), &JsValue::from_str(key))
                .map_err(failed)?;
            let sys: &RateLimiterSys = binding.as_ref().unchecked_ref();
            let outcome = JsFuture::from(sys.limit(options).map_err(failed)?)
                .await
                .map_err(failed)?;
            let success = Reflect::get(&outcome, &JsValue::from_str("success")).map_err(failed)?;
            Ok(match success.as_bool() {
                Some(true) => Verdict::Allowed,
                _ => Verdict::Over,
            })
        })
    }
}

/// Every purpose whose binding `env` has (the health detail).
pub fn bound(env: &Env) -> Vec<Purpose> {
    Purpose::ALL
        .into_iter()
        .filter(|p| env.rate_limiter(p.binding()).is_ok())
        .collect()
}

/// Whether `finished` holds a rejected cookie that SESSION_COOKIE_REJECTED_LIMIT may
/// aggregate (its binding is there).
pub fn aggregates(env: &Env, finished: &Finished) -> bool {
    let rejected = |s: &Signal| matches!(s, Signal::CookieRejected { .. });
    finished.signals.iter().any(rejected)
        && env.rate_limiter(Purpose::CookieRejected.binding()).is_ok()
}

/// After the response: the rejected cookie aggregated by client network (see
/// [`Limits::aggregate_rejections`]), then `events` logged and `signals` queued.
pub async fn aggregated(
    env: Env,
    client: Request,
    now: Timestamp,
    request_id: String,
    signals: Vec<Signal>,
    events: Vec<Event>,
) {
    let (recent, bindings) = (recent(), Bindings::new(&env, &client));
    let limits = Limits {
        limiter: &bindings,
        recent: &recent,
    };
    let mut finished = Finished {
        set_cookies: Vec::new(),
        signals,
        events,
        revocations: Vec::new(),
        metric: None,
    };
    limits.aggregate_rejections(&mut finished, now).await;
    log::events(finished.events);
    if let Ok(cfg) = super::entry::config(&env).as_ref() {
        super::signals::send_for(&env, cfg, &request_id, now, finished.signals).await;
    }
}
