//! The cap on live sessions per user (SESSION_MAX_PER_USER), checked only when the
//! origin logs a user in, and only in the D1 store: the steady state costs nothing.
//!
//! - `evict_oldest`: the login's write and one statement deleting the user's oldest live
//!   sessions beyond the cap (never the one that just logged in, and nothing unless the
//!   login landed) run in one D1 batch, a single transaction; each evicted session is
//!   signalled `session_deleted` with reason `evicted` and remembered by the isolate.
//! - `reject`: before anything is written, the user's live sessions are listed (one
//!   read); at the cap, the response's commands are dropped (the session stays as it
//!   was), logged as `session_login_refused` and signalled `session_data_save_failed`
//!   with reason `limit_reached`.
//!
//! Two concurrent logins of one user can each see the other's row missing: with
//! `evict_oldest` each keeps the newest N besides itself, so the user may hold N + 1
//! until the next login; with `reject` both may pass, leaving N + 1. Never more than
//! one over per concurrent login, and the next login of that user restores the bound.

use super::backend::Backend;
use super::journal::Level;
use super::Exchange;
use crate::config::{LimitStrategy, SessionCap};
use crate::protocol::{Commands, StoreLabel};
use crate::signal::{Exception, Reason, Signal};
use crate::store::{Evicted, Store};
use serde_json::json;

impl<S: Store> Exchange<'_, S> {
    /// The cap when this response logs a user in through D1 (`None`: nothing to check).
    fn cap_for<'c>(&self, cmds: &'c Commands) -> Option<(SessionCap, &'c str)> {
        let cap = self.cx.cfg.cap?;
        let user = cmds.login.as_deref()?;
        let through_d1 = matches!(self.manager.store(), Backend::D1(_));
        (through_d1 && self.label == StoreLabel::D1).then_some((cap, user))
    }

    /// With `reject`: whether this response's login must be refused, the user already
    /// holding the cap's sessions besides this one. A failed count lets the login
    /// through (logged): the cap is not worth refusing every login during a D1 fault.
    pub(super) async fn over_cap(&self, cmds: &Commands) -> bool {
        let Some((cap, user)) = self.cap_for(cmds) else {
            return false;
        };
        if cap.strategy != LimitStrategy::Reject {
            return false;
        }
        let (journal, now) = (&self.cx.journal, self.cx.now);
        let me = self.session.id();
        let held = match self.manager.store().list_user(user, now).await {
            Ok(listed) => listed.iter().filter(|l| Some(l.record.id) != me).count(),
            Err(e) => {
                let fields = json!({ "user_id": user, "error": e.to_string() });
                journal.log(Level::Error, "session_cap_unchecked", fields);
                return false;
            }
        };
        if held < cap.max as usize {
            return false;
        }
        let sid = me.map(|i| i.to_string());
        let fields = json!({ "session_id": sid, "user_id": user, "held": held, "max": cap.max });
        journal.log(Level::Warn, "session_login_refused", fields);
        journal.signal(Signal::DataSaveFailed {
            session_id: me,
            reason: Reason::LimitReached,
            exception: Some(Exception::new(
                "LimitReached",
                format!(
                    "the user already holds {held} sessions (SESSION_MAX_PER_USER={})",
                    cap.max
                ),
            )),
        });
        true
    }

    /// With `evict_oldest`: makes this response's login also evict the user's oldest
    /// live sessions beyond the cap, in the login's own D1 batch.
    pub(super) fn evict_with_login(&mut self, cmds: &Commands) {
        if let Some((cap, _)) = self.cap_for(cmds) {
            if cap.strategy == LimitStrategy::EvictOldest {
                self.session.evict_others_beyond(cap.max.saturating_sub(1));
            }
        }
    }

    /// After the save: the isolate remembers each evicted session (signalled by the
    /// manager); an eviction that failed after the login is logged, and the user's next
    /// login evicts them.
    pub(super) fn evicted(&self, evicted: &Evicted) {
        let (journal, memory, now) = (&self.cx.journal, self.cx.memory, self.cx.now);
        match evicted {
            Ok(ids) => ids.iter().for_each(|id| memory.ended(*id, now)),
            Err(e) => {
                let user = self.session.user_id();
                let fields = json!({ "user_id": user, "error": e.to_string() });
                journal.log(Level::Error, "session_evict_failed", fields);
            }
        }
    }
}
