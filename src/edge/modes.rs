//! What differs between the stores on the request path: the label the origin sees and
//! the cookies that go back.

use super::d1::D1Store;
use crate::config::Config;
use crate::cookie::full;
use crate::cookie::reference::{self, Snapshot};
use crate::expiry::ExpiryPolicy;
use crate::manager::{CookieChange, Saved};
use crate::protocol::StoreLabel;
use crate::session::Session;
use crate::store::cookie::CookieStore;
use crate::store::fallback::FallbackStore;
use crate::store::Store;
use crate::time::Timestamp;

/// The session a request arrived with.
pub struct Resolved {
    /// The session (new when none was found).
    pub session: Session,
    /// `X-Session-Store`.
    pub label: StoreLabel,
    /// A session cookie was sent, valid or not.
    pub cookie_seen: bool,
    /// The cookie verified under a fallback key: re-issue it.
    pub reissue: bool,
    /// The pending cookie to send regardless of the store: `Some(None)` clears it
    /// (written back, or unusable).
    pub pending: Option<Option<String>>,
}

impl Resolved {
    /// Nothing found yet.
    pub fn new(label: StoreLabel, cookie_seen: bool) -> Self {
        Self {
            session: Session::new(),
            label,
            cookie_seen,
            reissue: false,
            pending: None,
        }
    }

    fn reissued(&self, now: Timestamp) -> Option<CookieChange> {
        let rec = self.session.record().filter(|_| self.reissue)?;
        Some(CookieChange::Set {
            id: rec.id,
            max_age: ExpiryPolicy::max_age(rec.expires_at, now),
        })
    }
}

/// A store as the gateway drives it.
pub trait CookieMode: Store {
    /// `X-Session-Store` while the store works.
    const LABEL: StoreLabel;
    /// The session cookie change after `saved`.
    fn next_cookie(&self, saved: &Saved, r: &Resolved, now: Timestamp) -> CookieChange;
    /// The session cookie value after a save.
    fn cookie_value(&self, cfg: &Config, session: &Session, now: Timestamp) -> Option<String>;
    /// The pending cookie change: `Some(Some(value))` set, `Some(None)` clear.
    fn pending_cookie(&self, r: &Resolved) -> Option<Option<String>> {
        r.pending.clone()
    }
}

/// The reference cookie of `session`, its snapshot taken `now`.
fn reference_value(cfg: &Config, session: &Session, now: Timestamp) -> Option<String> {
    let id = session.id()?;
    let snapshot = Snapshot {
        user_id: session.user_id().map(str::to_owned),
        issued_at: now,
        absolute_expires_at: session.record().and_then(|r| r.absolute_expires_at),
    };
    Some(reference::encode(
        &cfg.keys,
        &cfg.cookie.name,
        &id,
        &snapshot,
    ))
}

impl CookieMode for D1Store {
    const LABEL: StoreLabel = StoreLabel::D1;

    fn next_cookie(&self, saved: &Saved, r: &Resolved, now: Timestamp) -> CookieChange {
        match (saved.cookie, r.session.record()) {
            (CookieChange::Keep, Some(_)) => r.reissued(now).unwrap_or(CookieChange::Keep),
            // A cookie naming no usable session: stop the browser sending it (unless D1
            // could not be asked).
            (CookieChange::Keep, None) if r.cookie_seen && r.label == Self::LABEL => {
                CookieChange::Clear
            }
            (cookie, _) => cookie,
        }
    }

    fn cookie_value(&self, cfg: &Config, session: &Session, now: Timestamp) -> Option<String> {
        reference_value(cfg, session, now)
    }
}

impl CookieMode for FallbackStore<'_> {
    const LABEL: StoreLabel = StoreLabel::CookieFallback;

    fn next_cookie(&self, saved: &Saved, _r: &Resolved, _now: Timestamp) -> CookieChange {
        saved.cookie
    }

    fn cookie_value(&self, cfg: &Config, session: &Session, now: Timestamp) -> Option<String> {
        reference_value(cfg, session, now)
    }

    fn pending_cookie(&self, r: &Resolved) -> Option<Option<String>> {
        self.outgoing().or_else(|| r.pending.clone())
    }
}

impl CookieMode for CookieStore<'_> {
    const LABEL: StoreLabel = StoreLabel::Cookie;

    fn next_cookie(&self, _saved: &Saved, r: &Resolved, now: Timestamp) -> CookieChange {
        match (self.outgoing(), r.session.record()) {
            // Every write changes the cookie: it is the store.
            (Some(Some(_)), Some(rec)) => CookieChange::Set {
                id: rec.id,
                max_age: ExpiryPolicy::max_age(rec.expires_at, now),
            },
            (Some(_), _) => CookieChange::Clear,
            (None, Some(_)) => r.reissued(now).unwrap_or(CookieChange::Keep),
            (None, None) if r.cookie_seen => CookieChange::Clear,
            (None, None) => CookieChange::Keep,
        }
    }

    fn cookie_value(&self, cfg: &Config, session: &Session, _now: Timestamp) -> Option<String> {
        match self.outgoing() {
            Some(value) => value,
            None => session
                .record()
                .map(|rec| full::encode(&cfg.keys, &cfg.cookie.name, rec)),
        }
    }
}
