//! The admin API (`/__session/admin/api/...`): an operator lists, shows and revokes
//! sessions, revokes every session of a user, purges expired ones, reads the signals and
//! the counts. Enabled only when SESSION_ADMIN_TOKEN is set; every call carries it as a
//! bearer token, compared in constant time. Sessions are named by their handle, never
//! their id, here as everywhere.

use super::api::{view, Answer};
use super::journal::Level;
use super::Context;
use crate::admin::bearer_matches;
use crate::config::StoreKind;
use crate::handle;
use crate::session::SessionId;
use crate::signal::{AuditRow, Reason, Signal, SignalFilter};
use crate::store::{Directory, SessionQuery, SignalQuery, Store};
use crate::url::{decode_segment, query_param};
use crate::write::Revocation;
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
            ["users", u, "revoke"] => (
                Self::RevokeUser(decode_segment(u).unwrap_or_default()),
                "POST",
            ),
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
            return Answer {
                allow: Some(method),
                ..self.refuse(405, &format!("use {method}"))
            };
        }
        let Some(d1) = d1 else {
            return self.refuse(501, "the admin API needs the D1 binding (SESSIONS_DB)");
        };
        let listed = self.cfg.store == StoreKind::D1;
        match route {
            Route::RevokeUser(user) if user.is_empty() => {
                self.refuse(400, "the user id is empty or not UTF-8 once decoded")
            }
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
    /// every row of the user in one statement, each with its signal. What D1 refuses
    /// goes to the queue (202), never dropped.
    async fn revoke_user<S: Store + Directory>(&self, d1: &S, user: &str, listed: bool) -> Answer {
        self.memory.revoked_user(user, self.now);
        let ended = match d1.revoke_before(user, self.now).await {
            Ok(()) if listed => d1.end_user(user).await,
            Ok(()) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        let ids = match ended {
            Ok(ids) => ids,
            Err(e) => {
                let fields = json!({ "user_id": user, "error": e.to_string() });
                self.journal.log(Level::Error, "revoke_user_queued", fields);
                self.journal.revoke(Revocation::User(user.to_owned()));
                let body = json!({ "revoked": null, "user_id": user, "queued": true });
                return self.answer(202, body, Vec::new());
            }
        };
        for id in &ids {
            self.memory.ended(*id, self.now);
            self.journal.signal(Signal::Deleted {
                session_id: *id,
                reason: Reason::RevokedByAdmin,
            });
        }
        // The cookie store holds no rows: its sessions end by the time alone.
        let revoked = listed.then_some(ids.len());
        let body = json!({ "revoked": revoked, "user_id": user, "queued": false });
        self.answer(200, body, Vec::new())
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
        // The hour's counts come from the audit table: with no signals sent, it has none.
        let counts = if self.cfg.signals == SignalFilter::None {
            None
        } else {
            match d1.count_signals(self.now.plus(-3600)).await {
                Ok(c) => Some(c),
                Err(e) => return self.unavailable(&e.to_string()),
            }
        };
        let body = json!({
            "active": active,
            "created_last_hour": counts.map(|c| c.created),
            "ended_last_hour": counts.map(|c| c.ended),
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
    let mut payload: Value = serde_json::from_slice(r.payload.as_bytes()).unwrap_or(Value::Null);
    if let Some(kwargs) = payload.get_mut("kwargs").and_then(Value::as_object_mut) {
        for (key, shown) in [("session_id", "session"), ("old_session_id", "old_session")] {
            if let Some(id) = kwargs.remove(key) {
                let h = id.as_str().and_then(to_handle);
                kwargs.insert(shown.to_owned(), json!(h));
            }
        }
        for value in kwargs.values_mut() {
            without_ids(keys, value);
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

/// Every session id inside the strings of `value` (an error message that names one)
/// replaced by its handle.
fn without_ids(keys: &crate::cookie::key::Keyring, value: &mut Value) {
    match value {
        Value::String(text) => {
            let mut out = String::with_capacity(text.len());
            let mut rest = text.as_str();
            while let Some(found) = next_id(rest) {
                out.push_str(&rest[..found]);
                let id = &rest[found..found + 36];
                match id.parse::<SessionId>() {
                    Ok(id) => out.push_str(&handle::of(keys, &id)),
                    Err(_) => out.push_str(id),
                }
                rest = &rest[found + 36..];
            }
            out.push_str(rest);
            *text = out;
        }
        Value::Array(items) => items.iter_mut().for_each(|v| without_ids(keys, v)),
        Value::Object(map) => map.values_mut().for_each(|v| without_ids(keys, v)),
        _ => {}
    }
}

/// Where the next UUID-shaped run (8-4-4-4-12 lower-case hex) starts in `text`.
fn next_id(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let shaped = |at: usize| {
        b.get(at..at + 36).is_some_and(|w| {
            w.iter().enumerate().all(|(i, c)| match i {
                8 | 13 | 18 | 23 => *c == b'-',
                _ => c.is_ascii_digit() || (b'a'..=b'f').contains(c),
            })
        })
    };
    (0..b.len()).find(|at| shaped(*at))
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
        Some(c) if c.bytes().all(|b| b.is_ascii_digit()) => {
            c.parse::<i64>().ok().filter(|n| *n > 0).map(Some)
        }
        Some(_) => None,
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
