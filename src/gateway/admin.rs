//! The admin API (`/__session/admin/api/...`): an operator lists, shows and revokes
//! sessions, revokes every session of a user, purges expired ones, reads the signals and
//! the counts. Enabled only when SESSION_ADMIN_TOKEN is set; every call carries it as a
//! bearer token, compared in constant time. Sessions are named by their handle, never
//! their id, here as everywhere.

use super::api::{view, Answer};
use super::Context;
use crate::admin::bearer_matches;
use crate::config::StoreKind;
use crate::handle;
use crate::session::SessionId;
use crate::signal::{AuditRow, Reason, Signal};
use crate::store::{Directory, SessionQuery, SignalQuery, Store};
use crate::url::{decode_segment, query_param};
use serde_json::{json, Value};

/// Rows per page when the caller does not say.
const DEFAULT_LIMIT: u32 = 50;
/// Most rows per page.
const MAX_LIMIT: u32 = 200;
/// Expired sessions one purge call deletes at most (in chunks, as the cron does).
const PURGE_CHUNK: u32 = 500;
const PURGE_CHUNKS: u32 = 10;

/// One admin API call as the runtime received it.
#[derive(Debug, Clone, Copy)]
pub struct AdminCall<'r> {
    /// The HTTP method.
    pub method: &'r str,
    /// The request URL (absolute).
    pub url: &'r str,
    /// The `Authorization` header.
    pub authorization: Option<&'r str>,
    /// SESSION_ADMIN_TOKEN, when set.
    pub token: Option<&'r str>,
}

/// The admin API's routes, below `/__session/admin/api`.
#[derive(Debug, PartialEq, Eq)]
enum Route {
    Sessions,
    Show(String),
    Revoke(String),
    RevokeUser(String),
    Purge,
    Signals,
    Stats,
}

impl Route {
    /// The route of `path` and the method it takes; `None` for no such endpoint.
    fn of(path: &str) -> Option<(Self, &'static str)> {
        let rest = path.strip_prefix("/__session/admin/api/")?;
        let parts: Vec<&str> = rest.trim_end_matches('/').split('/').collect();
        Some(match parts.as_slice() {
            ["sessions"] => (Self::Sessions, "GET"),
            ["sessions", h] => (Self::Show((*h).to_owned()), "GET"),
            ["sessions", h, "revoke"] => (Self::Revoke((*h).to_owned()), "POST"),
            ["users", u, "revoke"] => (Self::RevokeUser(decode_segment(u)?), "POST"),
            ["purge"] => (Self::Purge, "POST"),
            ["signals"] => (Self::Signals, "GET"),
            ["stats"] => (Self::Stats, "GET"),
            _ => return None,
        })
    }
}

impl Context<'_> {
    /// Answers one admin API call. `d1` is the D1 store when bound (the cookie store
    /// keeps no list: those endpoints say so with 501).
    pub async fn admin<S: Store + Directory>(self, d1: Option<&S>, call: AdminCall<'_>) -> Answer {
        if call.token.is_none_or(str::is_empty) {
            let error = "the admin API is off: set SESSION_ADMIN_TOKEN to enable it";
            return self.refuse(404, error);
        }
        if !bearer_matches(call.authorization, call.token) {
            return self.refuse(
                401,
                "a valid admin token is required: Authorization: Bearer <SESSION_ADMIN_TOKEN>",
            );
        }
        let path = crate::url::path(call.url);
        let path = path.split('?').next().unwrap_or(path);
        let Some((route, method)) = Route::of(path) else {
            return self.refuse(404, "no such endpoint");
        };
        if call.method != method {
            return self.refuse(405, &format!("use {method}"));
        }
        let Some(d1) = d1 else {
            return self.refuse(501, "the admin API needs the D1 binding (SESSIONS_DB)");
        };
        let listed = self.cfg.store == StoreKind::D1;
        match route {
            Route::RevokeUser(user) => self.revoke_user(d1, &user, listed).await,
            Route::Signals => self.signals(d1, call.url).await,
            Route::Stats => self.stats(d1, listed).await,
            _ if !listed => self.refuse(
                501,
                "the cookie store keeps no list of sessions: with SESSION_STORE=cookie only \
                 revoking a user's sessions, signals and counts work",
            ),
            Route::Sessions => self.sessions(d1, call.url).await,
            Route::Show(h) => self.show(d1, &h).await,
            Route::Revoke(h) => self.revoke(d1, &h).await,
            Route::Purge => self.purge(d1).await,
        }
    }

    async fn sessions<S: Directory>(&self, d1: &S, url: &str) -> Answer {
        let Some(before) = cursor(url) else {
            return self.refuse(400, "cursor is not one this API gave");
        };
        let limit = limit(url);
        let query = SessionQuery {
            user_id: query_param(url, "user"),
            before,
            limit: limit + 1,
        };
        let mut rows = match d1.page(&query, self.now).await {
            Ok(rows) => rows,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let next = next(&mut rows, limit, |l| l.seq);
        let sessions: Vec<Value> = rows.iter().map(|l| admin_view(self, l)).collect();
        self.answer(
            200,
            json!({ "sessions": sessions, "next": next }),
            Vec::new(),
        )
    }

    async fn show<S: Directory>(&self, d1: &S, h: &str) -> Answer {
        let Some(id) = handle::open(&self.cfg.keys, h) else {
            return self.refuse(404, "no such session");
        };
        match d1.show(&id, self.now).await {
            Ok(Some(l)) => self.answer(200, json!({ "session": admin_view(self, &l) }), Vec::new()),
            Ok(None) => self.refuse(404, "no such session"),
            Err(e) => self.unavailable(&e.to_string()),
        }
    }

    async fn revoke<S: Store + Directory>(&self, d1: &S, h: &str) -> Answer {
        let Some(id) = handle::open(&self.cfg.keys, h) else {
            return self.refuse(404, "no such session");
        };
        let target = match d1.show(&id, self.now).await {
            Ok(Some(l)) => l.record,
            Ok(None) => return self.refuse(404, "no such session"),
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let queued = self.end(d1, &target, Reason::RevokedByAdmin).await;
        let status = if queued { 202 } else { 200 };
        self.answer(
            status,
            json!({ "revoked": 1, "queued": queued }),
            Vec::new(),
        )
    }

    /// Every session of `user` ends: the per-user "not valid before" time first (it also
    /// stops the cookie store's sessions and logins waiting in pending cookies), then
    /// each listed session with its signal.
    async fn revoke_user<S: Store>(&self, d1: &S, user: &str, listed: bool) -> Answer {
        self.memory.revoked_user(user, self.now);
        if let Err(e) = d1.revoke_before(user, self.now).await {
            return self.unavailable(&e.to_string());
        }
        if !listed {
            return self.answer(200, json!({ "revoked": null, "user_id": user }), Vec::new());
        }
        let sessions = match d1.list_user(user, self.now).await {
            Ok(sessions) => sessions,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let mut queued = false;
        for l in &sessions {
            queued |= self.end(d1, &l.record, Reason::RevokedByAdmin).await;
        }
        // Past the list's 100, or expired ones: removed without a signal each.
        let rest = d1.delete_user(user).await.unwrap_or(0);
        let revoked = sessions.len() as u64 + rest;
        let body = json!({ "revoked": revoked, "user_id": user, "queued": queued });
        self.answer(if queued { 202 } else { 200 }, body, Vec::new())
    }

    async fn purge<S: Directory>(&self, d1: &S) -> Answer {
        let mut purged = 0;
        for _ in 0..PURGE_CHUNKS {
            match d1.purge_expired(self.now, PURGE_CHUNK).await {
                Ok(n) => {
                    purged += n;
                    if n < u64::from(PURGE_CHUNK) {
                        break;
                    }
                }
                Err(e) => return self.unavailable(&e.to_string()),
            }
        }
        self.journal.signal(Signal::SessionsPurged {
            count: purged,
            signals_pruned: 0,
        });
        self.answer(200, json!({ "purged": purged }), Vec::new())
    }

    async fn signals<S: Directory>(&self, d1: &S, url: &str) -> Answer {
        let session_id = match query_param(url, "session") {
            None => None,
            Some(h) => match handle::open(&self.cfg.keys, &h) {
                Some(id) => Some(id),
                None => return self.refuse(400, "session is not a session handle"),
            },
        };
        let Some(before) = cursor(url) else {
            return self.refuse(400, "cursor is not one this API gave");
        };
        let limit = limit(url);
        let query = SignalQuery {
            session_id,
            user_id: query_param(url, "user"),
            name: query_param(url, "name"),
            before,
            limit: limit + 1,
        };
        let mut rows = match d1.signals(&query).await {
            Ok(rows) => rows,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let next = next(&mut rows, limit, |(seq, _)| *seq);
        let signals: Vec<Value> = rows.iter().map(|(_, r)| audit_view(self, r)).collect();
        self.answer(200, json!({ "signals": signals, "next": next }), Vec::new())
    }

    async fn stats<S: Directory>(&self, d1: &S, listed: bool) -> Answer {
        let active = if listed {
            match d1.count_live(self.now).await {
                Ok(n) => Some(n),
                Err(e) => return self.unavailable(&e.to_string()),
            }
        } else {
            None
        };
        let counts = match d1.count_signals(self.now.plus(-3600)).await {
            Ok(c) => c,
            Err(e) => return self.unavailable(&e.to_string()),
        };
        let body = json!({
            "active": active,
            "created_last_hour": counts.created,
            "ended_last_hour": counts.ended,
        });
        self.answer(200, body, Vec::new())
    }

    fn refuse(&self, status: u16, error: &str) -> Answer {
        self.answer(status, json!({ "error": error }), Vec::new())
    }
}

/// A session as the admin API shows it: the list's view and its user.
fn admin_view(cx: &Context<'_>, l: &crate::store::Listed) -> Value {
    let mut shown = view(&cx.cfg.keys, l);
    shown["user_id"] = json!(l.record.user_id);
    shown
}

/// An audit row as the admin API shows it: session ids replaced by handles, in the row
/// and in the signal's arguments.
fn audit_view(cx: &Context<'_>, r: &AuditRow) -> Value {
    let keys = &cx.cfg.keys;
    let to_handle = |id: &str| id.parse::<SessionId>().ok().map(|id| handle::of(keys, &id));
    let mut payload: Value = serde_json::from_str(&r.payload).unwrap_or(Value::Null);
    if let Some(kwargs) = payload.get_mut("kwargs").and_then(Value::as_object_mut) {
        for (key, shown) in [("session_id", "session"), ("old_session_id", "old_session")] {
            if let Some(id) = kwargs.remove(key) {
                let h = id.as_str().and_then(to_handle);
                kwargs.insert(shown.to_owned(), json!(h));
            }
        }
    }
    let reason = payload
        .pointer("/kwargs/reason")
        .cloned()
        .unwrap_or(Value::Null);
    json!({
        "id": r.id,
        "name": r.name,
        "at": r.at.to_rfc3339(),
        "session": r.session_id.as_deref().and_then(to_handle),
        "user_id": r.user_id,
        "reason": reason,
        "payload": payload,
    })
}

/// `limit` of the query, within 1..=[`MAX_LIMIT`].
fn limit(url: &str) -> u32 {
    query_param(url, "limit")
        .and_then(|l| l.parse::<u32>().ok())
        .map_or(DEFAULT_LIMIT, |l| l.clamp(1, MAX_LIMIT))
}

/// The `cursor` of the query: `Some(None)` when absent, `None` when it is not a cursor
/// this API gave (a positive place in insertion order).
fn cursor(url: &str) -> Option<Option<i64>> {
    match query_param(url, "cursor") {
        None => Some(None),
        Some(c) => c.parse::<i64>().ok().filter(|n| *n > 0).map(Some),
    }
}

/// Cuts `rows` (fetched one over `limit`) to `limit`; the cursor of the next page, when
/// there is one, as the API hands it out.
fn next<T>(rows: &mut Vec<T>, limit: u32, seq: impl Fn(&T) -> i64) -> Option<String> {
    if rows.len() <= limit as usize {
        return None;
    }
    rows.truncate(limit as usize);
    rows.last().map(|r| seq(r).to_string())
}
