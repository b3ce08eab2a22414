//! Producing signals: one `send_batch` per request, inside `ctx.wait_until`, never on the
//! response path. A failed or impossible send is logged and never fails the request.

use super::{log, SESSION_SIGNALS};
use crate::config::Config;
use crate::signal::{self, Signal};
use crate::time::Timestamp;
use crate::write::Revocation;
use serde_json::json;
use std::cell::Cell;
use uuid::Uuid;
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::{js_sys, Context, Env, Queue};

thread_local! {
    static INITIALIZED: Cell<bool> = const { Cell::new(false) };
}

/// Whether this is the isolate's first request (it records
/// `session_manager_initialized`).
pub fn first_request() -> bool {
    !INITIALIZED.with(|done| done.replace(true))
}

/// The queue messages of `signals` that SESSION_SIGNAL_FILTER lets through, in batches
/// within the queue's limits (so none is refused for its size).
fn batches(
    cfg: &Config,
    request_id: &str,
    now: Timestamp,
    signals: &[Signal],
) -> Vec<Vec<JsValue>> {
    let mut sizes = Vec::new();
    let mut messages = signals
        .iter()
        .filter(|s| cfg.signals.allows(s))
        .filter_map(|s| {
            let id = Uuid::new_v4().to_string();
            let envelope = s.envelope(&id, now, &cfg.worker_name, request_id);
            let envelope = serde_json::to_string(&envelope).unwrap_or_default();
            // A plain JS object (not a Map), sent as JSON so the dashboard can preview it.
            let body = js_sys::JSON::parse(&envelope).ok()?;
            sizes.push(envelope.len());
            Some(body)
        })
        .collect::<Vec<_>>()
        .into_iter();
    signal::batches(&sizes)
        .into_iter()
        .map(|range| messages.by_ref().take(range.len()).collect())
        .collect()
}

/// Sends `signals` after the response (`ctx.wait_until`), batch by batch.
pub fn dispatch(
    ctx: &Context,
    env: &Env,
    cfg: &Config,
    request_id: Option<String>,
    now: Timestamp,
    signals: Vec<Signal>,
) {
    let request_id = request_id.unwrap_or_else(|| Uuid::new_v4().to_string());
    let batches = batches(cfg, &request_id, now, &signals);
    if batches.is_empty() {
        return;
    }
    let Some(queue) = queue(env, &request_id, &signals) else {
        return;
    };
    ctx.wait_until(async move { send(&queue, batches, &request_id, &signals).await });
}

/// Sends `signals` now (for handlers without a response to answer first).
pub async fn send_now(env: &Env, cfg: &Config, now: Timestamp, signals: Vec<Signal>) {
    let request_id = Uuid::new_v4().to_string();
    send_for(env, cfg, &request_id, now, signals).await;
}

/// Sends `signals` of the request `request_id` now (already after its response).
pub async fn send_for(
    env: &Env,
    cfg: &Config,
    request_id: &str,
    now: Timestamp,
    signals: Vec<Signal>,
) {
    let batches = batches(cfg, request_id, now, &signals);
    if batches.is_empty() {
        return;
    }
    if let Some(queue) = queue(env, request_id, &signals) {
        send(&queue, batches, request_id, &signals).await;
    }
}

async fn send(queue: &Queue, batches: Vec<Vec<JsValue>>, request_id: &str, signals: &[Signal]) {
    for batch in batches {
        if let Err(e) = send_batch(queue, batch).await {
            failed(request_id, signals, &e.to_string());
        }
    }
}

/// Sends the logouts and revoke-users D1 did not take to the queue (never filtered),
/// whose consumer retries them into D1 until they land. Without a queue they cannot be
/// made durable: said in the log.
pub fn revoke(ctx: &Context, env: &Env, now: Timestamp, revocations: Vec<Revocation>) {
    if revocations.is_empty() {
        return;
    }
    let batch: Vec<_> = revocations
        .iter()
        .filter_map(|r| {
            js_sys::JSON::parse(&serde_json::to_string(&r.message(now)).unwrap_or_default()).ok()
        })
        .collect();
    let count = revocations.len();
    let Ok(queue) = env.queue(SESSION_SIGNALS) else {
        let error = format!("binding {SESSION_SIGNALS} is missing");
        log::error(
            "revocation_not_durable",
            json!({ "count": count, "error": error }),
        );
        return;
    };
    ctx.wait_until(async move {
        if let Err(e) = send_batch(&queue, batch).await {
            let fields = json!({ "count": count, "error": e.to_string() });
            log::error("revocation_not_durable", fields);
        }
    });
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

/// Sends `bodies` (plain JS objects) to `queue` as one batch of `json` messages: what
/// workers-rs's `send_raw_batch` sends for them, without the serde-wasm-bindgen
/// serializer it runs for options the gateway never sets (4 KB of wasm).
///
/// # Errors
/// The runtime's refusal, as workers-rs converts it.
async fn send_batch(queue: &Queue, bodies: Vec<JsValue>) -> worker::Result<()> {
    let json = JsValue::from_str("json");
    let messages: js_sys::Array = bodies
        .into_iter()
        .map(|body| {
            let message = js_sys::Object::new();
            // Setting a property of a fresh plain object cannot fail.
            let _ = js_sys::Reflect::set(&message, &"body".into(), &body);
            let _ = js_sys::Reflect::set(&message, &"contentType".into(), &json);
            JsValue::from(message)
        })
        .collect();
    let queue: &JsValue = queue.as_ref();
    let send: js_sys::Function = js_sys::Reflect::get(queue, &"sendBatch".into())?.dyn_into()?;
    let sent: js_sys::Promise = send
        .call2(queue, &messages, &JsValue::UNDEFINED)?
        .dyn_into()?;
    JsFuture::from(sent).await?;
    Ok(())
}
