//! The queue consumer: each signal becomes one row of `session_signals` (INSERT OR
//! IGNORE on the event id: delivery is at-least-once) and one JSON log line.

use super::d1::{backend, int, D1Store};
use super::log;
use crate::signal::AuditRow;
use crate::store::sql;
use serde_json::{json, Value};
use worker::wasm_bindgen::JsValue;
use worker::{
    event, js_sys, Context, Env, MessageBatch, MessageExt, QueueRetryOptionsBuilder, Result,
};

/// Seconds before a batch that D1 refused is delivered again, when the configuration
/// itself is unreadable.
const DEFAULT_RETRY_SECS: u32 = 30;

#[event(queue)]
async fn consume(batch: MessageBatch<Value>, env: Env, _ctx: Context) -> Result<()> {
    let store = D1Store::from_env(&env);
    let mut rows = Vec::new();
    for message in batch.raw_iter() {
        let envelope = js_sys::JSON::stringify(&message.body())
            .ok()
            .and_then(|s| s.as_string())
            .and_then(|s| serde_json::from_str::<Value>(&s).ok())
            .unwrap_or(Value::Null);
        match AuditRow::from_envelope(&envelope) {
            Ok(row) => rows.push((message, row)),
            Err(problem) => {
                // It can never succeed: drop it loudly rather than retry it forever.
                log::error(
                    "signal_rejected",
                    json!({ "message_id": message.id(), "problem": problem.to_string() }),
                );
                message.ack();
            }
        }
    }
    if rows.is_empty() {
        return Ok(());
    }
    let statements: std::result::Result<Vec<_>, _> = rows
        .iter()
        .map(|(_, r)| {
            let args = [
                JsValue::from_str(&r.id),
                JsValue::from_str(&r.name),
                r.session_id
                    .as_deref()
                    .map_or(JsValue::NULL, JsValue::from_str),
                r.user_id
                    .as_deref()
                    .map_or(JsValue::NULL, JsValue::from_str),
                JsValue::from_str(&r.payload),
                int(r.at.unix()),
            ];
            store.statement(sql::INSERT_SIGNAL, &args)
        })
        .collect();
    let written = match statements {
        Ok(statements) => match store.db() {
            Ok(db) => db.batch(statements).await.map(drop).map_err(backend),
            Err(e) => Err(e),
        },
        Err(e) => Err(e),
    };
    match written {
        Ok(()) => {
            for (message, row) in &rows {
                let payload: Value = serde_json::from_str(&row.payload).unwrap_or(Value::Null);
                log::info("signal", payload);
                message.ack();
            }
        }
        Err(e) => {
            log::error(
                "signal_store_failed",
                json!({ "count": rows.len(), "error": e.to_string() }),
            );
            let cfg = super::entry::config(&env);
            let delay = cfg
                .as_ref()
                .as_ref()
                .map_or(DEFAULT_RETRY_SECS, |c| c.signal_retry_secs);
            let retry = QueueRetryOptionsBuilder::new()
                .with_delay_seconds(delay)
                .build();
            for (message, _) in &rows {
                message.retry_with_options(&retry);
            }
        }
    }
    Ok(())
}
