//! The Workers Rate Limiting bindings as the core's [`Limiter`]: one binding per purpose
//! (see [`Purpose`]), looked up only when the core consults it, the client address
//! (`CF-Connecting-IP`) read only then too. The decisions are in
//! [`crate::gateway::limit`].

use super::gateway::Call;
use crate::gateway::limit::{LimitError, Limiter, Limits, Pending, Purpose, Recent, Verdict};
use crate::gateway::Finished;
use crate::time::Timestamp;
use std::rc::Rc;
use worker::web_sys::Request;
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
            match binding.limit(key.to_owned()).await {
                Ok(outcome) if outcome.success => Ok(Verdict::Allowed),
                Ok(_) => Ok(Verdict::Over),
                Err(e) => Err(LimitError::Failed {
                    binding: purpose.binding(),
                    message: e.to_string(),
                }),
            }
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

/// [`Call::report`] after the forged-cookie aggregation (one `session_cookie_rejected`
/// per network per window, when its binding is there); returns the `Set-Cookie` values.
pub async fn report(
    call: Call<'_>,
    limits: Limits<'_>,
    now: Timestamp,
    mut finished: Finished,
) -> Vec<String> {
    limits.aggregate_rejections(&mut finished, now).await;
    call.report(finished)
}
