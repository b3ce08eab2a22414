//! The self-service API of the logged-in user (`/__session/api/sessions`): list my
//! sessions, revoke one by its handle, revoke every other. A session is named by its
//! public [`handle`], never its id: a list cannot be turned into cookies.

use super::backend::Backend;
use super::journal::Level;
use super::resolve::Inbound;
use super::{Context, Exchange, Finished};
use crate::cookie::key::Keyring;
use crate::cookie::{reference, set_cookie};
use crate::handle;
use crate::manager::SaveError;
use crate::protocol::Commands;
use crate::session::{Record, SessionId};
use crate::signal::Reason;
use crate::store::{Listed, Store};
use crate::write::Revocation;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde_json::{json, Value};

/// What the API answers: a status, a JSON body, and the request's journal and cookies.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// JSON body (`null`: none).
    pub body: Value,
    /// Cookies, signals, log events, revocations for the queue.
    pub finished: Finished,
    /// The method the endpoint takes, for the `Allow` header of a 405.
    pub allow: Option<&'static str>,
}

impl Context<'_> {
    /// `GET /__session/api/sessions`: the caller's user's live sessions, newest first,
    /// the caller's marked `current`. 401 without a logged-in session.
    pub async fn list_sessions<S: Store>(self, d1: &S, inbound: &Inbound) -> Answer {
        let (me, sessions) = match self.mine(d1, inbound).await {
            Ok(mine) => mine,
            Err(refused) => return refused,
        };
        let list = listed(&self.cfg.keys, &sessions, me);
        self.answer(200, json!({ "sessions": list }), Vec::new())
    }

    /// `POST /__session/api/sessions/{handle}/revoke`: ends one of the caller's user's
    /// sessions (204; 404 for a handle that is not theirs). Revoking the caller's own
    /// session clears its cookie. A delete D1 refuses goes to the queue (202).
    pub async fn revoke_session<S: Store>(self, d1: &S, inbound: &Inbound, wanted: &str) -> Answer {
        let (me, sessions) = match self.mine(d1, inbound).await {
            Ok(mine) => mine,
            Err(refused) => return refused,
        };
        let wanted = handle::open(&self.cfg.keys, wanted);
        let found = sessions
            .iter()
            .map(|l| &l.record)
            .find(|r| Some(r.id) == wanted);
        let Some(target) = found else {
            return self.answer(
                404,
                json!({ "error": "no such session of yours" }),
                Vec::new(),
            );
        };
        let queued = self.end(d1, target, Reason::RevokedByUser).await;
        let cookies = if target.id == me {
            vec![set_cookie::clear(&self.cfg.cookie)]
        } else {
            Vec::new()
        };
        self.answer(if queued { 202 } else { 204 }, Value::Null, cookies)
    }

    /// `POST /__session/api/sessions/revoke-others`: ends every session of the caller's
    /// user but the caller's own: `{"revoked": n}`.
    pub async fn revoke_others<S: Store>(self, d1: &S, inbound: &Inbound) -> Answer {
        let (me, sessions) = match self.mine(d1, inbound).await {
            Ok(mine) => mine,
            Err(refused) => return refused,
        };
        let mut revoked = 0;
        for target in sessions.iter().map(|l| &l.record).filter(|r| r.id != me) {
            self.end(d1, target, Reason::RevokedByUser).await;
            revoked += 1;
        }
        self.answer(200, json!({ "revoked": revoked }), Vec::new())
    }

    /// The caller's session id and its user's live sessions; else the answer: 401 when
    /// anonymous, 503 when D1 fails.
    async fn mine<S: Store>(
        &self,
        d1: &S,
        inbound: &Inbound,
    ) -> Result<(SessionId, Vec<Listed>), Answer> {
        let (me, user) = match self.caller(d1, inbound).await {
            Ok(found) => found,
            Err(status) => return Err(self.answer(status, Value::Null, Vec::new())),
        };
        match d1.list_user(&user, self.now).await {
            Ok(sessions) => Ok((me, sessions)),
            Err(e) => Err(self.unavailable(&e.to_string())),
        }
    }

    /// The caller's live session id and its user: 401 when anonymous, 503 when D1 fails.
    async fn caller<S: Store>(
        &self,
        d1: &S,
        inbound: &Inbound,
    ) -> Result<(SessionId, String), u16> {
        let (keys, name) = (&self.cfg.keys, &self.cfg.cookie.name);
        let found = self.first_valid(&inbound.session, |v| reference::decode(keys, name, v));
        let Some(found) = found else {
            return Err(401);
        };
        match self
            .manager(Backend::D1(d1))
            .load(&found.id, self.now)
            .await
        {
            Ok(Some(session)) => match session.user_id() {
                Some(user) => Ok((found.id, user.to_owned())),
                None => Err(401),
            },
            Ok(None) => Err(401),
            Err(_) => Err(503),
        }
    }

    /// Ends `target`, remembered by this isolate; `true` when D1 refused and the queue
    /// carries it.
    pub(super) async fn end<S: Store>(&self, d1: &S, target: &Record, why: Reason) -> bool {
        self.memory.ended(target.id, self.now);
        let deleted = self.manager(Backend::D1(d1)).delete(&target.id, why).await;
        if matches!(deleted, Ok(()) | Err(SaveError::NotFound)) {
            return false;
        }
        self.journal.revoke(Revocation::Session(target.id));
        true
    }

    pub(super) fn unavailable(&self, error: &str) -> Answer {
        self.journal.log(
            Level::Error,
            "sessions_unavailable",
            json!({ "error": error }),
        );
        self.answer(
            503,
            json!({ "error": "sessions cannot be read now" }),
            Vec::new(),
        )
    }

    pub(super) fn answer(&self, status: u16, body: Value, set_cookies: Vec<String>) -> Answer {
        Answer {
            status,
            body,
            finished: self.finished(set_cookies),
            allow: None,
        }
    }
}

impl<'a, S: Store> Exchange<'a, S> {
    /// `<prefix>List` for a request to `path`, when SESSION_LIST_PATHS names it and the
    /// session has a user in the D1 store: the user's sessions as the API lists them,
    /// base64url JSON (one D1 read, on those paths only). Over the header budget it is
    /// left out and logged.
    pub async fn session_list(&self, path: &str) -> Option<(&'a str, String)> {
        let cfg = self.cx.cfg;
        if !cfg.list_paths.iter().any(|p| path.starts_with(p.as_str())) {
            return None;
        }
        let Ok((_, me, sessions)) = self.users_sessions().await else {
            return None;
        };
        let json = json!({ "sessions": listed(&cfg.keys, &sessions, me) });
        let json = serde_json::to_string(&json).unwrap_or_default();
        let value = URL_SAFE_NO_PAD.encode(json);
        if value.len() > cfg.header_budget {
            let fields = json!({ "bytes": value.len(), "budget": cfg.header_budget });
            self.cx
                .journal
                .log(Level::Warn, "session_list_over_header_budget", fields);
            return None;
        }
        Some((cfg.headers.list.as_str(), value))
    }

    /// The origin's `revoke-others` action and `<prefix>Revoke: <handle>` command, for the
    /// user of the session as saved: the other sessions, or the one named, are ended
    /// (D1 store only; a handle that is not the user's is ignored and logged).
    pub(super) async fn revoke_for_origin(&self, cmds: &Commands) {
        if !cmds.actions.revoke_others && cmds.revoke.is_none() {
            return;
        }
        let (d1, me, sessions) = match self.users_sessions().await {
            Ok(found) => found,
            Err(Unlisted::NoUser) => {
                let fields = json!({ "error": "needs a logged-in session in the D1 store" });
                self.cx
                    .journal
                    .log(Level::Warn, "revoke_command_ignored", fields);
                return;
            }
            Err(Unlisted::Unavailable) => return,
        };
        let named = cmds
            .revoke
            .as_ref()
            .and_then(|h| handle::open(&self.cx.cfg.keys, h));
        let targets = sessions
            .iter()
            .map(|l| &l.record)
            .filter(|r| r.id != me)
            .filter(|r| cmds.actions.revoke_others || Some(r.id) == named);
        let mut ended = 0;
        for target in targets {
            self.cx.end(d1, target, Reason::RevokedByOrigin).await;
            ended += 1;
        }
        if cmds.revoke.is_some() && ended == 0 && !cmds.actions.revoke_others {
            let fields = json!({ "error": "no other session of the user has that handle" });
            self.cx
                .journal
                .log(Level::Warn, "revoke_command_ignored", fields);
        }
    }
}

/// Sessions as the API and `<prefix>List` show them: by handle, `me` marked current.
fn listed(keys: &Keyring, sessions: &[Listed], me: SessionId) -> Vec<Value> {
    sessions
        .iter()
        .map(|l| {
            let mut shown = view(keys, l);
            shown["current"] = json!(l.record.id == me);
            shown
        })
        .collect()
}

/// One session as lists show it: its handle, times and device context (never its id or
/// data).
pub(super) fn view(keys: &Keyring, l: &Listed) -> Value {
    let (r, d) = (&l.record, &l.device);
    json!({
        "handle": handle::of(keys, &r.id),
        "created_at": r.created_at.to_rfc3339(),
        "authenticated_at": l.record.auth_time.map(|t| t.to_rfc3339()),
        "last_seen_at": r.updated_at.to_rfc3339(),
        "expires_at": r.expires_at.to_rfc3339(),
        "lifetime": r.lifetime.to_string(),
        "user_agent": d.user_agent,
        "country": d.country,
        "city": d.city,
        "colo": d.colo,
        "asn": d.asn,
        "network": d.network,
    })
}

/// Why the session's user's list could not be had.
enum Unlisted {
    /// No logged-in session in the D1 store.
    NoUser,
    /// D1 did not answer (logged).
    Unavailable,
}

impl<'a, S: Store> Exchange<'a, S> {
    /// The D1 store, this session's id and its user's live sessions.
    async fn users_sessions(&self) -> Result<(&'a S, SessionId, Vec<Listed>), Unlisted> {
        let (Backend::D1(d1), Some(me), Some(user)) = (
            self.manager.store(),
            self.session.id(),
            self.session.user_id(),
        ) else {
            return Err(Unlisted::NoUser);
        };
        match d1.list_user(user, self.cx.now).await {
            Ok(sessions) => Ok((*d1, me, sessions)),
            Err(e) => {
                let fields = json!({ "error": e.to_string() });
                self.cx
                    .journal
                    .log(Level::Error, "sessions_unavailable", fields);
                Err(Unlisted::Unavailable)
            }
        }
    }
}
