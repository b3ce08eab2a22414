//! The gateway's fetch entry and its per-isolate configuration.

use super::{config_from_env, endpoints, gateway, log, respond, RESERVED_PREFIX};
use crate::config::{Config, ConfigErrors};
use crate::gateway::memory::Memory;
use crate::time::Timestamp;
use serde_json::json;
use std::cell::OnceCell;
use std::rc::Rc;
use worker::{event, js_sys, web_sys, Context, Env, Result};

thread_local! {
    /// Parsed once per isolate: vars and secrets cannot change under a running isolate.
    static CONFIG: OnceCell<Rc<Result<Config, ConfigErrors>>> = const { OnceCell::new() };
    /// The revocations this isolate knows of.
    static MEMORY: Rc<Memory> = Rc::new(Memory::default());
}

/// The isolate's revocation memory.
pub fn memory() -> Rc<Memory> {
    MEMORY.with(Rc::clone)
}

pub fn config(env: &Env) -> Rc<Result<Config, ConfigErrors>> {
    CONFIG.with(|cell| {
        cell.get_or_init(|| {
            let parsed = config_from_env(env);
            if let Err(e) = &parsed {
                log::error("config_invalid", json!({ "problems": e.0 }));
            }
            Rc::new(parsed)
        })
        .clone()
    })
}

#[event(fetch)]
async fn fetch(req: web_sys::Request, env: Env, ctx: Context) -> Result<web_sys::Response> {
    let now = Timestamp::from_unix_millis(js_sys::Date::now());
    let cfg = config(&env);
    let url = req.url();
    let path = crate::url::path(&url);
    if path == RESERVED_PREFIX || path.starts_with("/__session/") || path.starts_with("/__session?")
    {
        return endpoints::handle(req, &env, &ctx, &cfg, path, now).await;
    }
    match cfg.as_ref() {
        Ok(cfg) => gateway::handle(req, &env, &ctx, cfg, now).await,
        Err(_) => respond::text(500, "sessiongate is misconfigured: see /__session/health\n"),
    }
}
