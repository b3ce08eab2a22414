//! The queue consumer: each signal becomes one row of `session_signals` (INSERT OR
//! IGNORE on the event id: delivery is at-least-once) and one JSON log line; each
//! revocation the request path could not write is retried into D1 until it lands.

use super::d1::{backend, int, D1Store};
use super::log;
use crate::signal::AuditRow;
use crate::store::{sql, Store};
use crate::time::Timestamp;
use crate::write::Revocation;
use serde_json::{json, Value};
use worker::wasm_bindgen::JsValue;
use worker::{
    event, js_sys, Context, Env, MessageBatch, MessageExt, QueueRetryOptions,
    QueueRetryOptionsBuilder, RawMessage, Result,
};

/// Seconds before a batch that D1 refused is delivered again, when the configuration
/// itself is unreadable.
const DEFAULT_RETRY_SECS: u32 = 30;

#[event(queue)]
async fn consume(batch: MessageBatch<Value>, env: Env, _ctx: Context) -> Result<()> {
    let store = D1Store::from_env(&env);
    let mut rows = Vec::new();
    let mut revocations = Vec::new();
    for message in batch.raw_iter() {
        let envelope = js_sys::JSON::stringify(&message.body())
            .ok()
            .and_then(|s| s.as_string())
            .and_then(|s| serde_json::from_slice::<Value>(s.as_bytes()).ok())
            .unwrap_or(Value::Null);
        if let Some((revocation, at)) = Revocation::from_message(&envelope) {
            revocations.push((message, revocation, at));
            continue;
        }
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
    let retry = retry_options(&env);
    store_signals(&store, &rows, &retry).await;
    revoke(&store, &revocations, &retry).await;
    Ok(())
}

/// The delay before a message D1 refused is delivered again.
fn retry_options(env: &Env) -> QueueRetryOptions {
    let cfg = super::entry::config(env);
    let delay = cfg
        .as_ref()
        .as_ref()
        .map_or(DEFAULT_RETRY_SECS, |c| c.signal_retry_secs);
    QueueRetryOptionsBuilder::new()
        .with_delay_seconds(delay)
        .build()
}

/// Writes the audit rows in one D1 batch; all are retried if D1 refuses it.
async fn store_signals(
    store: &D1Store,
    rows: &[(RawMessage, AuditRow)],
    retry: &QueueRetryOptions,
) {
    if rows.is_empty() {
        return;
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
            for (message, row) in rows {
                let payload: Value =
                    serde_json::from_slice(row.payload.as_bytes()).unwrap_or(Value::Null);
                log::info("signal", payload);
                message.ack();
            }
        }
        Err(e) => {
            log::error(
                "signal_store_failed",
                json!({ "count": rows.len(), "error": e.to_string() }),
            );
            for (message, _) in rows {
                message.retry_with_options(retry);
            }
        }
    }
}

/// Applies the logouts and revoke-users the request path could not write: each is
/// acknowledged once D1 took it, retried (then dead-lettered) while D1 refuses.
async fn revoke(
    store: &D1Store,
    revocations: &[(RawMessage, Revocation, Timestamp)],
    retry: &QueueRetryOptions,
) {
    for (message, revocation, at) in revocations {
        let (target, result) = match revocation {
            Revocation::Session(id) => (
                json!({ "session_id": id.to_string() }),
                store.delete(id).await.map(u64::from),
            ),
            // Its rows in D1, and its cookie-store sessions issued before the revocation.
            Revocation::User(user) => {
                let removed = store.delete_user(user).await;
                let result = match removed {
                    Ok(n) => store.revoke_before(user, *at).await.map(|()| n),
                    Err(e) => Err(e),
                };
                (json!({ "user_id": user }), result)
            }
        };
        match result {
            Ok(removed) => {
                log::info(
                    "revocation_completed",
                    json!({ "revoke": target, "removed": removed }),
                );
                message.ack();
            }
            Err(e) => {
                let fields = json!({ "revoke": target, "error": e.to_string() });
                log::warn("revocation_retry", fields);
                message.retry_with_options(retry);
            }
        }
    }
}
