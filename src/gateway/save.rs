//! The origin's commands applied to the session, and the save policy: nothing is
//! written blind while the store is unavailable, and a write D1 refuses is kept in the
//! pending cookie instead of being lost.

use super::backend::Backend;
use super::journal::Level;
use super::{Exchange, Finished};
use crate::manager::{CookieChange, SaveError};
pub use crate::protocol::RawCommands;
use crate::protocol::{parse_commands, Commands, StoreLabel};
use crate::session::Session;
use crate::signal::{Exception, Reason, Signal};
use crate::store::fallback::FallbackStore;
use crate::store::{Store, StoreError};
use crate::write::Revocation;
use serde_json::json;

impl<'a, S: Store> Exchange<'a, S> {
    /// The origin answered with `status` and `commands`: applies them, saves, and
    /// decides the cookies. A `101` (WebSocket upgrade) cannot carry a `Set-Cookie`, so
    /// it changes nothing. Bad commands are skipped, logged and signalled.
    pub async fn finish(mut self, status: u16, commands: RawCommands<'_>) -> Finished {
        if status == 101 {
            return self.abandon();
        }
        let (cmds, errors) = parse_commands(&commands);
        let session_id = self.session.id();
        for e in &errors {
            let sid = session_id.map(|i| i.to_string());
            let fields = json!({ "session_id": sid, "error": e.to_string() });
            self.cx.journal.log(Level::Warn, "bad_command", fields);
            self.cx.journal.signal(Signal::DataSaveFailed {
                session_id,
                reason: Reason::BadCommand,
                exception: Some(Exception::new("BadCommand", e)),
            });
        }
        // A login refused by the cap drops the response's commands: the session stays
        // as it was.
        let cmds = if self.over_cap(&cmds).await {
            Commands::default()
        } else {
            cmds
        };
        self.apply(&cmds);
        self.evict_with_login(&cmds);
        // Over the creation rate limit (limit.rs): the session is not created.
        self.creation_refused().await;
        let change = self.save().await;
        self.revoke_for_origin(&cmds).await;
        self.applied = cmds;
        let set_cookies = self.set_cookies(change);
        self.finished(set_cookies)
    }

    /// The commands as session operations: clear before the update, so `clear` + an
    /// update leaves exactly the update. A login as another user than the session's
    /// starts from empty data (one user's data never reaches the next on a shared
    /// browser) unless the origin sends `keep-data`; a visitor's login keeps it.
    fn apply(&mut self, cmds: &Commands) {
        let (a, session) = (cmds.actions, &mut self.session);
        let other_user = cmds.login.as_deref().is_some_and(|new| {
            let current = session.record().and_then(|r| r.user_id.as_deref());
            current.is_some_and(|current| current != new)
        });
        if a.clear || (other_user && !a.keep_data) {
            session.clear();
        }
        if let Some(patch) = &cmds.update {
            session.merge(patch);
        }
        if let Some(user) = &cmds.login {
            session.login(user);
        }
        if a.reauthenticated {
            session.reauthenticate();
        }
        if let Some(lifetime) = cmds.lifetime {
            session.set_lifetime(lifetime);
        }
        if a.cycle {
            session.cycle();
        }
        if a.create {
            session.create();
        }
        if a.delete {
            session.delete();
        }
        if a.revoke_user {
            session.revoke_user();
        }
    }

    /// Saves the session and decides the session cookie. A logout or revoke-user that
    /// does not reach D1 (refused, or served from the cookies during an outage) is also
    /// recorded for the queue, which retries it into D1.
    async fn save(&mut self) -> CookieChange {
        let journal = &self.cx.journal;
        if self.label == StoreLabel::Unavailable {
            // Writing blind while the store is failing could replace a live session:
            // keep the cookie.
            if self.session.modified() {
                let fields = json!({ "error": "session store unavailable on read" });
                journal.log(Level::Error, "session_save_failed", fields);
                journal.signal(Signal::DataSaveFailed {
                    session_id: None,
                    reason: Reason::StoreUnavailable,
                    exception: None,
                });
            }
            return CookieChange::Keep;
        }
        let ending = ending(&self.session);
        let before = self.session.id().map(|i| i.to_string());
        let saved = self.manager.save(&mut self.session, self.cx.now).await;
        self.evicted(&saved.evicted);
        let reached_d1 = matches!(self.manager.store(), Backend::D1(_)) && saved.error.is_none();
        if let Some(revocation) = ending {
            self.revoked(revocation, reached_d1).await;
        }
        let journal = &self.cx.journal;
        let Some(e) = &saved.error else {
            return self.next_cookie(&saved);
        };
        let error = match e {
            SaveError::NotFound => "not_found".to_owned(),
            SaveError::Store(e) => e.to_string(),
        };
        let fields = json!({ "session_id": before, "error": error });
        journal.log(Level::Error, "session_save_failed", fields);
        let refused = matches!(e, SaveError::Store(StoreError::Backend(_)));
        if refused && self.cx.cfg.fallback_window_secs > 0 {
            if let Backend::D1(_) = self.manager.store() {
                // D1 refused the write: keep it in the pending cookie instead of losing it.
                return self.divert().await.unwrap_or(CookieChange::Keep);
            }
        }
        self.next_cookie(&saved)
    }

    /// After a logout or revoke-user: the isolate remembers it (so the outage fallback
    /// and the cookie store refuse what it ended); D1 records a revoke-user of
    /// cookie-store sessions; and what D1 did not take goes to the queue.
    async fn revoked(&self, revocation: Revocation, reached_d1: bool) {
        let (memory, now) = (self.cx.memory, self.cx.now);
        match &revocation {
            Revocation::Session(id) => memory.ended(*id, now),
            Revocation::User(user) => memory.revoked_user(user, now),
        }
        let taken = match (&revocation, self.manager.store(), self.d1) {
            (_, Backend::D1(_), _) => reached_d1,
            // The cookie store's sessions are ended by a per-user time in D1, if bound.
            (Revocation::User(user), Backend::Cookie(_), Some(d1)) => {
                d1.revoke_before(user, now).await.is_ok()
            }
            // A logout in the cookie store clears the cookie; nothing is kept server-side.
            (_, Backend::Cookie(_), _) => true,
            (_, Backend::Fallback(_), _) => false,
        };
        if !taken {
            self.cx.journal.revoke(revocation);
        }
    }

    /// Saves the session into the pending cookie after D1 refused the write; `None` when
    /// even that fails (the session cookie is then kept).
    async fn divert(&mut self) -> Option<CookieChange> {
        let (cfg, now) = (self.cx.cfg, self.cx.now);
        self.cx.journal.signal(Signal::StoreDegraded {
            reason: Reason::WriteFailed,
            exception: Exception::new(
                "StoreError",
                "D1 refused the write; kept in the pending cookie",
            ),
        });
        let current = self.session.record().cloned();
        let name = &cfg.pending_cookie.name;
        let store = FallbackStore::new(&cfg.keys, name, current, None, now);
        self.manager = self.cx.manager(Backend::Fallback(store));
        let saved = self.manager.save(&mut self.session, now).await;
        if saved.error.is_some() {
            return None;
        }
        let sid = self.session.id().map(|i| i.to_string());
        let fields = json!({ "session_id": sid });
        self.cx
            .journal
            .log(Level::Warn, "session_saved_pending", fields);
        self.label = StoreLabel::CookieFallback;
        Some(saved.cookie)
    }
}

/// What a session's unsaved logout or revoke-user ends, `None` when it ends nothing.
fn ending(session: &Session) -> Option<Revocation> {
    let stored = session.record()?;
    let unsaved = session.unsaved();
    match (&stored.user_id, unsaved.revoke_user, unsaved.delete) {
        (Some(user), true, _) => Some(Revocation::User(user.clone())),
        (_, _, true) => Some(Revocation::Session(stored.id)),
        _ => None,
    }
}
