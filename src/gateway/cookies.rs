//! Every cookie decision of a request: set, re-issue under the current key, clear or
//! keep the session cookie, and set, clear or keep the pending cookie.

use super::backend::Backend;
use super::Exchange;
use crate::cookie::reference::{self, Snapshot};
use crate::cookie::{full, set_cookie, Outgoing};
use crate::expiry::ExpiryPolicy;
use crate::manager::{CookieChange, Saved};
use crate::store::Store;

impl<S: Store> Exchange<'_, S> {
    /// The `Set-Cookie` values once the save decided `change`.
    pub(super) fn set_cookies(&self, change: CookieChange) -> Vec<String> {
        let cfg = self.cx.cfg;
        let mut out = Vec::new();
        match change {
            CookieChange::Keep => {}
            CookieChange::Set { max_age, .. } => {
                if let Some(value) = self.session_cookie_value() {
                    out.push(set_cookie::set(&cfg.cookie, &value, max_age));
                }
            }
            CookieChange::Clear => out.push(set_cookie::clear(&cfg.cookie)),
        }
        // The pending cookie of a session that ends with the browser ends with it too.
        let browser = self
            .session
            .record()
            .is_some_and(|r| r.lifetime.ends_with_browser());
        let pending_age = (!browser).then_some(cfg.expiry.idle_secs);
        match self.pending_cookie() {
            Outgoing::Keep => {}
            Outgoing::Set(value) => {
                out.push(set_cookie::set(&cfg.pending_cookie, &value, pending_age));
            }
            Outgoing::Clear => out.push(set_cookie::clear(&cfg.pending_cookie)),
        }
        out
    }

    /// The session cookie change after `saved`, as the serving store sees it.
    pub(super) fn next_cookie(&self, saved: &Saved) -> CookieChange {
        let record = self.session.record();
        match self.manager.store() {
            Backend::D1(_) => match (saved.cookie, record) {
                (CookieChange::Keep, Some(_)) => self.reissued().unwrap_or(CookieChange::Keep),
                // A cookie naming no usable session: stop the browser sending it.
                (CookieChange::Keep, None) if self.cookie_seen => CookieChange::Clear,
                (cookie, _) => cookie,
            },
            Backend::Fallback(_) => saved.cookie,
            // Every write changes the cookie: it is the store.
            Backend::Cookie(store) => match (store.outgoing(), record) {
                (Outgoing::Set(_), Some(rec)) => CookieChange::Set {
                    id: rec.id,
                    max_age: ExpiryPolicy::cookie_max_age(rec, self.cx.now),
                },
                (Outgoing::Set(_) | Outgoing::Clear, _) => CookieChange::Clear,
                (Outgoing::Keep, Some(_)) => self.reissued().unwrap_or(CookieChange::Keep),
                (Outgoing::Keep, None) if self.cookie_seen => CookieChange::Clear,
                (Outgoing::Keep, None) => CookieChange::Keep,
            },
        }
    }

    /// The same cookie under the current key, when a fallback key verified it.
    fn reissued(&self) -> Option<CookieChange> {
        let rec = self.session.record().filter(|_| self.reissue)?;
        Some(CookieChange::Set {
            id: rec.id,
            max_age: ExpiryPolicy::cookie_max_age(rec, self.cx.now),
        })
    }

    /// The session cookie's value: the whole session (cookie store), or a reference
    /// with a snapshot taken now.
    fn session_cookie_value(&self) -> Option<String> {
        let cfg = self.cx.cfg;
        if let Backend::Cookie(store) = self.manager.store() {
            return match store.outgoing() {
                Outgoing::Set(value) => Some(value),
                Outgoing::Clear => None,
                Outgoing::Keep => self
                    .session
                    .record()
                    .and_then(|rec| full::encode(&cfg.keys, &cfg.cookie.name, rec)),
            };
        }
        let id = self.session.id()?;
        let snapshot = Snapshot {
            user_id: self.session.user_id().map(str::to_owned),
            issued_at: self.cx.now,
            absolute_expires_at: self.session.record().and_then(|r| r.absolute_expires_at),
            lifetime: self.session.record().and_then(|r| r.lifetime.to_column()),
        };
        Some(reference::encode(
            &cfg.keys,
            &cfg.cookie.name,
            &id,
            &snapshot,
        ))
    }

    /// The pending cookie: what the fallback store deferred this request, else what the
    /// resolution decided (cleared once written back or when unusable).
    fn pending_cookie(&self) -> Outgoing {
        match self.manager.store() {
            Backend::Fallback(store) => match store.outgoing() {
                Outgoing::Keep => self.pending.clone(),
                changed => changed,
            },
            _ => self.pending.clone(),
        }
    }
}
