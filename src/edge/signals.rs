//! Producing signals: one `send_batch` per request, inside `ctx.wait_until`, never on the
//! response path. A failed or impossible send is logged and never fails the request.

use super::{log, SESSION_SIGNALS};
use crate::config::Config;
use crate::signal::Signal;
use crate::time::Timestamp;
use serde_json::json;
use std::cell::Cell;
use uuid::Uuid;
use worker::wasm_bindgen::JsValue;
use worker::{js_sys, Context, Env, Queue, QueueContentType, RawMessageBuilder, SendMessage};

thread_local! {
    static INITIALIZED: Cell<bool> = const { Cell::new(false) };
}

/// Whether this is the isolate's first request (it records
/// `session_manager_initialized`).
pub fn first_request() -> bool {
    !INITIALIZED.with(|done| done.replace(true))
}

/// The queue messages of `signals` that SESSION_SIGNALS lets through.
fn messages(
    cfg: &Config,
    request_id: &str,
    now: Timestamp,
    signals: &[Signal],
) -> Vec<SendMessage<JsValue>> {
    signals
        .iter()
        .filter(|s| cfg.signals.allows(s))
        .filter_map(|s| {
            let envelope = s.envelope(
                &Uuid::new_v4().to_string(),
                now,
                &cfg.worker_name,
                request_id,
            );
            // A plain JS object (not a Map), sent as JSON so the dashboard can preview it.
            let body = js_sys::JSON::parse(&envelope.to_string()).ok()?;
            Some(RawMessageBuilder::new(body).build_with_content_type(QueueContentType::Json))
        })
        .collect()
}

/// Sends `signals` in one batch after the response (`ctx.wait_until`).
pub fn dispatch(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    request_id: Option<String>,
    now: Timestamp,
    signals: Vec<Signal>,
) {
    let request_id = request_id.unwrap_or_else(|| Uuid::new_v4().to_string());
    let batch = messages(cfg, &request_id, now, &signals);
    if batch.is_empty() {
        return;
    }
    let Some(queue) = queue(env, &request_id, &signals) else {
        return;
    };
    ctx.wait_until(async move {
        if let Err(e) = queue.send_raw_batch(batch).await {
            failed(&request_id, &signals, &e.to_string());
        }
    });
}

/// Sends `signals` now (for handlers without a response to answer first).
pub async fn send_now(env: &Env, cfg: &Config, now: Timestamp, signals: Vec<Signal>) {
    let request_id = Uuid::new_v4().to_string();
    let batch = messages(cfg, &request_id, now, &signals);
    if batch.is_empty() {
        return;
    }
    if let Some(queue) = queue(env, &request_id, &signals) {
        if let Err(e) = queue.send_raw_batch(batch).await {
            failed(&request_id, &signals, &e.to_string());
        }
    }
}

fn queue(env: &Env, request_id: &str, signals: &[Signal]) -> Option<Queue> {
    match env.queue(SESSION_SIGNALS) {
        Ok(q) => Some(q),
        Err(_) => {
            failed(
                request_id,
                signals,
                &format!("binding {SESSION_SIGNALS} is missing"),
            );
            None
        }
    }
}

fn failed(request_id: &str, signals: &[Signal], error: &str) {
    let names: Vec<&str> = signals.iter().map(Signal::name).collect();
    log::error(
        "signal_send_failed",
        json!({ "request_id": request_id, "signals": names, "error": error }),
    );
}
