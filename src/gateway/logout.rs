//! `POST /__session/logout` once the edge has checked it is same-origin: the session is
//! deleted server-side and both cookies cleared. A delete D1 refuses goes to the queue,
//! which retries it into D1, and (unless strict) waits in the pending cookie too, like any
//! write during an outage.

use super::backend::Backend;
use super::journal::Level;
use super::resolve::Inbound;
use super::{Context, Finished};
use crate::config::StoreKind;
use crate::cookie::{pending, reference, set_cookie};
use crate::manager::SaveError;
use crate::signal::Reason;
use crate::store::deferred::Deferred;
use crate::store::Store;
use crate::write::Revocation;
use serde_json::json;

impl Context<'_> {
    /// Logs the request's session out: `d1` is the D1 store, `None` when its binding is
    /// missing (the cookie store then has nothing server-side to delete).
    pub async fn logout<S: Store>(self, d1: Option<&S>, inbound: &Inbound) -> Finished {
        let cfg = self.cfg;
        let mut pending_cookie = set_cookie::clear(&cfg.pending_cookie);
        let found = inbound
            .session
            .iter()
            .find_map(|v| reference::decode(&cfg.keys, &cfg.cookie.name, v).ok());
        if let (Some(d1), Some(found), StoreKind::D1) = (d1, found, cfg.store) {
            let manager = self.manager(Backend::D1(d1));
            if let Err(SaveError::Store(e)) = manager.delete(&found.id, Reason::Logout).await {
                let fields = json!({ "session_id": found.id.to_string(), "error": e.to_string() });
                self.journal
                    .log(Level::Error, "logout_delete_failed", fields);
                if !cfg.strict_revocation {
                    let name = &cfg.pending_cookie.name;
                    let op =
                        pending::encode(&cfg.keys, name, &Deferred::Delete(found.id), self.now);
                    pending_cookie =
                        set_cookie::set(&cfg.pending_cookie, &op, Some(cfg.expiry.idle_secs));
                }
                // The browser may never come back with it: the queue retries it too.
                self.journal.revoke(Revocation::Session(found.id));
            }
        }
        self.finished(vec![set_cookie::clear(&cfg.cookie), pending_cookie])
    }
}
