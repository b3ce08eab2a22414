//! The cron trigger: `clear_expired` in bounded chunks, audit retention, revocation
//! records past any pending cookie's age, and a `sessions_purged` signal with the counts.

use super::d1::{int, D1Store};
use super::entry::config;
use super::{log, signals};
use crate::signal::Signal;
use crate::store::{sql, StoreError};
use crate::time::Timestamp;
use serde_json::json;
use worker::{event, js_sys, Env, ScheduleContext, ScheduledEvent};

/// Rows deleted per statement.
const CHUNK: i64 = 500;
/// Statements per run at most (a larger backlog is finished by the next runs).
const MAX_CHUNKS: u32 = 40;

#[event(scheduled)]
async fn scheduled(_event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    let now = Timestamp::from_unix_millis(js_sys::Date::now());
    let cfg = config(&env);
    let Ok(cfg) = cfg.as_ref() else { return };
    let store = D1Store::from_env(&env);
    let sessions = purge(&store, sql::PURGE_EXPIRED, now).await;
    let retention = cfg.signal_retention_days;
    let pruned = if retention > 0 {
        purge(&store, sql::PRUNE_SIGNALS, now.plus(-retention * 86_400)).await
    } else {
        Ok(0)
    };
    // No pending cookie older than the idle timeout is accepted: past it (and a minute
    // of clock skew), a revocation record has nothing left to stop.
    let revocations_cutoff = now.plus(-cfg.expiry.idle_secs - 60);
    let revocations = purge(&store, sql::PRUNE_REVOCATIONS, revocations_cutoff).await;
    match (&sessions, &pruned, &revocations) {
        (Ok(count), Ok(signals_pruned), Ok(revocations_pruned)) => {
            log::info(
                "sessions_purged",
                json!({ "count": count, "signals_pruned": signals_pruned, "revocations_pruned": revocations_pruned }),
            );
            let signal = Signal::SessionsPurged {
                count: *count,
                signals_pruned: *signals_pruned,
            };
            signals::send_now(&env, cfg, now, vec![signal]).await;
        }
        _ => {
            let errors: Vec<String> = [sessions.err(), pruned.err(), revocations.err()]
                .into_iter()
                .flatten()
                .map(|e| e.to_string())
                .collect();
            log::error("purge_failed", json!({ "errors": errors }));
        }
    }
}

/// Runs a chunked delete (`?1` cutoff, `?2` chunk) until a chunk comes back short.
async fn purge(store: &D1Store, query: &str, cutoff: Timestamp) -> Result<u64, StoreError> {
    let mut total = 0;
    for _ in 0..MAX_CHUNKS {
        let n = store
            .count(query, &[int(cutoff.unix()), int(CHUNK)])
            .await?;
        total += n;
        if n < CHUNK as u64 {
            break;
        }
    }
    Ok(total)
}
