//! [`SessionManager`]: load, save, renew and delete sessions in a [`Store`], each step
//! recording its lifecycle [`Signal`]. The gateway is built on it, and a workers-rs app
//! can use it directly in its own handlers:
//!
//! ```
//! use sessiongate::expiry::ExpiryPolicy;
//! use sessiongate::manager::{CookieChange, SessionManager};
//! use sessiongate::session::Session;
//! use sessiongate::store::memory::MemoryStore;
//! use sessiongate::time::Timestamp;
//! use serde_json::json;
//!
//! # async fn handler() -> Result<(), sessiongate::store::StoreError> {
//! let policy = ExpiryPolicy::fixed(1800, 0, 60);
//! // In a worker: `D1Store` over `env.d1("SESSIONS_DB")?`, and the time from `Date::now()`.
//! let manager = SessionManager::new(MemoryStore::new(), policy);
//! let now = Timestamp::from_unix(1_800_000_000);
//!
//! let mut session = Session::new(); // or manager.load(&id, now).await?.unwrap_or_default()
//! session.insert("cart", json!(["apple"]));
//! session.login("alice");
//! let saved = manager.save(&mut session, now).await;
//! assert!(matches!(saved.cookie, CookieChange::Set { .. }));
//! assert_eq!(session.user_id(), Some("alice"));
//! for signal in manager.take_signals() {
//!     // send to the queue: signal.envelope(...)
//!     let _ = signal.name(); // "session_created", "session_data_saved"
//! }
//! # Ok(()) }
//! # assert!(pollster::block_on(handler()).is_ok());
//! ```

use crate::expiry::ExpiryPolicy;
use crate::session::{Record, Session, SessionId};
use crate::signal::{Exception, Reason, Signal, SignalLog};
use crate::store::{Evicted, Store, StoreError, Update, UserChange};
use crate::time::Timestamp;
use crate::write::NewLifetime;
use thiserror::Error;

/// What happens to the session cookie after a save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieChange {
    /// Send no `Set-Cookie`.
    Keep,
    /// Point the cookie at `id` for `max_age` seconds (`None`: until the browser ends).
    Set {
        /// Session the cookie references.
        id: SessionId,
        /// Cookie lifetime in seconds; `None` for a session that ends with the browser.
        max_age: Option<i64>,
    },
    /// Delete the cookie.
    Clear,
}

/// Why a save did not (fully) happen.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SaveError {
    /// The session vanished between load and save (deleted or cycled concurrently).
    #[error("session not found")]
    NotFound,
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The result of [`SessionManager::save`].
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    /// The cookie change to send.
    pub cookie: CookieChange,
    /// The failure, if any; the session then keeps its unsaved changes.
    pub error: Option<SaveError>,
    /// The sessions a login evicted ([`Session::evict_others_beyond`]), each signalled
    /// `session_deleted` with reason `evicted`; or why evicting failed after the login
    /// was written.
    pub evicted: Evicted,
}

impl Saved {
    const NOTHING: Self = Self {
        cookie: CookieChange::Keep,
        error: None,
        evicted: Ok(Vec::new()),
    };

    fn failed(cookie: CookieChange, error: SaveError) -> Self {
        Self {
            cookie,
            error: Some(error),
            evicted: Ok(Vec::new()),
        }
    }

    fn done(cookie: CookieChange) -> Self {
        Self {
            cookie,
            ..Self::NOTHING
        }
    }
}

/// Sessions in a store under one expiry policy, with the signals of every step.
#[derive(Debug)]
pub struct SessionManager<S> {
    store: S,
    policy: ExpiryPolicy,
    signals: SignalLog,
}

impl<S: Store> SessionManager<S> {
    /// A manager over `store`, with a signal log of its own.
    pub fn new(store: S, policy: ExpiryPolicy) -> Self {
        Self::with_log(store, policy, SignalLog::default())
    }

    /// A manager over `store` that records its signals in `signals` (shared with
    /// whatever else works on the same request).
    pub fn with_log(store: S, policy: ExpiryPolicy, signals: SignalLog) -> Self {
        Self {
            store,
            policy,
            signals,
        }
    }

    /// The store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The expiry policy.
    pub fn policy(&self) -> &ExpiryPolicy {
        &self.policy
    }

    /// Records a signal raised outside the manager (a rejected cookie, a bad command).
    pub fn signal(&self, signal: Signal) {
        self.signals.push(signal);
    }

    /// Every signal recorded since the last call, in order.
    pub fn take_signals(&self) -> Vec<Signal> {
        self.signals.take()
    }

    /// The valid session stored under `id`; `Ok(None)` when it is unknown, expired or
    /// unreadable. Signals `session_data_retrieved`, or `session_data_retrieval_failed`
    /// (plus `session_expired` or `session_store_degraded`).
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails: the caller decides how to degrade.
    pub async fn load(
        &self,
        id: &SessionId,
        now: Timestamp,
    ) -> Result<Option<Session>, StoreError> {
        let failed = |reason| Signal::DataRetrievalFailed {
            session_id: *id,
            reason,
        };
        match self.store.load(id).await {
            Ok(Some(r)) if !self.policy.is_expired(&r, now) => {
                let data_keys = r.data.keys().cloned().collect();
                self.signal(Signal::DataRetrieved {
                    session_id: *id,
                    data_keys,
                });
                Ok(Some(Session::from_record(r)))
            }
            Ok(Some(r)) => {
                let expired_at = r
                    .absolute_expires_at
                    .map_or(r.expires_at, |a| a.min(r.expires_at));
                self.signal(Signal::Expired {
                    session_id: *id,
                    expired_at,
                });
                self.signal(failed(Reason::NotFoundOrExpired));
                Ok(None)
            }
            Ok(None) => {
                self.signal(failed(Reason::NotFoundOrExpired));
                Ok(None)
            }
            // An unreadable row is treated as unknown: a fresh session, signalled.
            Err(StoreError::Corrupt(_)) => {
                self.signal(failed(Reason::Corrupt));
                Ok(None)
            }
            Err(e) => {
                self.signal(failed(Reason::DbError));
                self.signal(Signal::StoreDegraded {
                    reason: Reason::ReadFailed,
                    exception: exception(&e),
                });
                Err(e)
            }
        }
    }

    /// Creates and stores a new session now (Django's `create()`), logged in as `user`
    /// when given. Signals `session_created` or `session_creation_failed`.
    ///
    /// # Errors
    /// [`SaveError::Store`] when the store refuses the insert.
    pub async fn create(&self, user: Option<&str>, now: Timestamp) -> Result<Session, SaveError> {
        let mut session = Session::new();
        match user {
            Some(user) => session.login(user),
            None => session.create(),
        }
        match self.save(&mut session, now).await.error {
            None => Ok(session),
            Some(e) => Err(e),
        }
    }

    /// Writes what `session` has unsaved, in one store operation: create, update (data,
    /// user, id, renewed expiry) or delete. A stored session is also renewed when the
    /// policy says it is due. Never fails the caller: failures are in [`Saved::error`]
    /// and signalled.
    pub async fn save(&self, session: &mut Session, now: Timestamp) -> Saved {
        self.write(session, now, false).await
    }

    /// Renews `session` now, ignoring the throttle (other unsaved changes are saved too).
    pub async fn renew(&self, session: &mut Session, now: Timestamp) -> Saved {
        self.write(session, now, true).await
    }

    /// Deletes the session `id`, ended for `reason` (`logout`, `revoked_by_user`,
    /// `revoked_by_origin`). Signals `session_deleted` (with the reason) or
    /// `session_deletion_failed`.
    ///
    /// # Errors
    /// [`SaveError::NotFound`] when there was no such session, [`SaveError::Store`] when
    /// the store fails.
    pub async fn delete(&self, id: &SessionId, reason: Reason) -> Result<(), SaveError> {
        let result = self.store.delete(id).await;
        self.signal(match &result {
            Ok(true) => Signal::Deleted {
                session_id: *id,
                reason,
            },
            Ok(false) => Signal::DeletionFailed {
                session_id: *id,
                reason: Reason::NotFound,
            },
            Err(_) => Signal::DeletionFailed {
                session_id: *id,
                reason: Reason::DbError,
            },
        });
        match result {
            Ok(true) => Ok(()),
            Ok(false) => Err(SaveError::NotFound),
            Err(e) => Err(SaveError::Store(e)),
        }
    }

    async fn write(&self, session: &mut Session, now: Timestamp, force_renew: bool) -> Saved {
        let p = session.unsaved();
        let Some(current) = session.record().cloned() else {
            // Nothing to store, or a logout of a session that never existed.
            if p.delete || (!p.create && p.login.is_none() && p.changes.is_empty()) {
                return Saved::NOTHING;
            }
            return self.insert_new(session, now).await;
        };
        if p.delete {
            return self.remove(session, &current, p.revoke_user, now).await;
        }
        let renewal = if force_renew {
            Some(self.policy.renewed(&current, now)).filter(|t| *t > current.expires_at)
        } else {
            self.policy.renewal(&current, now)
        };
        let cycle = p.cycle || p.login.is_some();
        let data_changed = !p.changes.is_empty();
        // A reauthentication writes only for a session with a user (an anonymous one has
        // no auth time to refresh).
        let reauthenticated = p.reauthenticated && current.user_id.is_some();
        // A new lifetime restarts the idle timer now (it replaces a renewal); the
        // absolute one runs from the login: this response's, else the stored one (or the
        // creation). The lifetime the session already has, without a login, is nothing
        // to write (an origin re-sending it on every response).
        let lifetime = p
            .lifetime
            .filter(|l| *l != current.lifetime || p.login.is_some());
        let lifetime = lifetime.map(|lifetime| {
            let anchor = match p.login {
                Some(_) => now,
                None => current.auth_time.unwrap_or(current.created_at),
            };
            let (expires_at, absolute_expires_at) = self.policy.start_at(lifetime, anchor, now);
            (
                NewLifetime {
                    lifetime,
                    absolute_expires_at,
                },
                expires_at,
            )
        });
        let renewal = renewal.filter(|_| lifetime.is_none());
        if !cycle
            && !data_changed
            && p.login.is_none()
            && renewal.is_none()
            && !reauthenticated
            && lifetime.is_none()
        {
            return Saved::NOTHING;
        }
        let update = Update {
            id: current.id,
            new_id: cycle.then(SessionId::random),
            user: p
                .login
                .map_or(UserChange::Keep, |u| UserChange::Set(u.to_owned())),
            changes: p.changes.clone(),
            expires_at: lifetime
                .map(|(_, expires_at)| expires_at)
                .or(renewal)
                .unwrap_or(current.expires_at),
            now,
            reauthenticated,
            lifetime: lifetime.map(|(new, _)| new),
        };
        let written = match p.evict_beyond {
            Some(keep) => self.store.update_evicting(&update, keep).await,
            None => self
                .store
                .update(&update)
                .await
                .map(|found| found.then(|| Ok(Vec::new()))),
        };
        match written {
            Ok(Some(evicted)) => {
                let saved = self.updated(session, current, &update, renewal, now);
                Saved {
                    evicted: self.evicted(evicted),
                    ..saved
                }
            }
            Ok(None) => {
                self.signal(update_failed(&update, Reason::NotFound, None));
                session.saved(None);
                Saved::failed(CookieChange::Clear, SaveError::NotFound)
            }
            Err(e) => {
                let exception = Some(exception(&e));
                self.signal(update_failed(&update, failure_reason(&e), exception));
                Saved::failed(CookieChange::Keep, SaveError::Store(e))
            }
        }
    }

    /// After the store applied `update` to `current`: the signals, the session's new
    /// state and the cookie (sent again when the id or the expiry changed).
    fn updated(
        &self,
        session: &mut Session,
        mut record: Record,
        update: &Update,
        renewal: Option<Timestamp>,
        now: Timestamp,
    ) -> Saved {
        let (old, id) = (record.id, update.new_id.unwrap_or(record.id));
        if !update.changes.is_empty() {
            self.signal(Signal::DataSaved {
                session_id: id,
                saved_keys: update.changes.keys(),
            });
        }
        update.apply_to(&mut record);
        if update.new_id.is_some() {
            self.signal(Signal::Cycled {
                old_session_id: old,
                session_id: id,
                user_id: record.user_id.clone(),
            });
        }
        if let Some(expires_at) = renewal {
            self.signal(Signal::Renewed {
                session_id: id,
                expires_at,
            });
        }
        let cookie = if update.new_id.is_some() || renewal.is_some() || update.lifetime.is_some() {
            CookieChange::Set {
                id,
                max_age: ExpiryPolicy::cookie_max_age(&record, now),
            }
        } else {
            CookieChange::Keep
        };
        session.saved(Some(record));
        Saved::done(cookie)
    }

    /// Signals each session a login evicted.
    fn evicted(&self, evicted: Evicted) -> Evicted {
        for id in evicted.iter().flatten() {
            self.signal(Signal::Deleted {
                session_id: *id,
                reason: Reason::Evicted,
            });
        }
        evicted
    }

    async fn insert_new(&self, session: &mut Session, now: Timestamp) -> Saved {
        let p = session.unsaved();
        let lifetime = p.lifetime.unwrap_or_default();
        let (expires_at, absolute_expires_at) = self.policy.start(lifetime, now);
        let record = Record {
            id: SessionId::random(),
            user_id: p.login.map(str::to_owned),
            data: session.data().clone(),
            created_at: now,
            expires_at,
            absolute_expires_at,
            updated_at: now,
            version: 1,
            auth_time: p.login.map(|_| now),
            lifetime,
        };
        let written = match p.evict_beyond {
            Some(keep) => self.store.insert_evicting(&record, keep, now).await,
            None => self.store.insert(&record).await.map(|()| Ok(Vec::new())),
        };
        match written {
            Ok(evicted) => {
                let (id, user_id) = (record.id, record.user_id.clone());
                self.signal(Signal::Created {
                    session_id: id,
                    user_id,
                });
                if !p.changes.is_empty() {
                    self.signal(Signal::DataSaved {
                        session_id: id,
                        saved_keys: p.changes.keys(),
                    });
                }
                let max_age = ExpiryPolicy::cookie_max_age(&record, now);
                session.saved(Some(record));
                Saved {
                    evicted: self.evicted(evicted),
                    ..Saved::done(CookieChange::Set { id, max_age })
                }
            }
            Err(e) => {
                self.signal(Signal::CreationFailed {
                    user_id: record.user_id,
                    exception: exception(&e),
                });
                if let StoreError::TooLarge { .. } = e {
                    self.signal(Signal::DataSaveFailed {
                        session_id: None,
                        reason: failure_reason(&e),
                        exception: Some(exception(&e)),
                    });
                }
                Saved::failed(CookieChange::Keep, SaveError::Store(e))
            }
        }
    }

    async fn remove(
        &self,
        session: &mut Session,
        current: &Record,
        revoke_user: bool,
        now: Timestamp,
    ) -> Saved {
        let result = match (&current.user_id, revoke_user) {
            // The per-user time first: it also stops sessions not written yet (a login
            // waiting in a pending cookie) from landing later.
            (Some(user), true) => match self.store.revoke_before(user, now).await {
                Ok(()) => self.store.delete_user(user).await.map(|n| n > 0),
                Err(e) => Err(e),
            },
            _ => self.store.delete(&current.id).await,
        };
        let id = current.id;
        match result {
            Ok(true) => {
                // The origin's `delete` is a logout; its `revoke-user` ends every session.
                let reason = if revoke_user {
                    Reason::RevokedByOrigin
                } else {
                    Reason::Logout
                };
                self.signal(Signal::Deleted {
                    session_id: id,
                    reason,
                });
                session.saved(None);
                Saved::done(CookieChange::Clear)
            }
            // Already gone: the user asked to be logged out, and is.
            Ok(false) => {
                self.signal(Signal::DeletionFailed {
                    session_id: id,
                    reason: Reason::NotFound,
                });
                session.saved(None);
                Saved::done(CookieChange::Clear)
            }
            Err(e) => {
                self.signal(Signal::DeletionFailed {
                    session_id: id,
                    reason: Reason::DbError,
                });
                Saved::failed(CookieChange::Clear, SaveError::Store(e))
            }
        }
    }
}

/// The signal of a failed update: a renewal's, or a data save's (which carries the
/// error).
fn update_failed(update: &Update, reason: Reason, exception: Option<Exception>) -> Signal {
    if update.new_id.is_none()
        && update.changes.is_empty()
        && !update.reauthenticated
        && update.lifetime.is_none()
    {
        Signal::RenewalFailed {
            session_id: update.id,
            reason,
        }
    } else {
        Signal::DataSaveFailed {
            session_id: Some(update.id),
            reason,
            exception,
        }
    }
}

fn exception(e: &StoreError) -> Exception {
    Exception::new("StoreError", e)
}

/// The `reason` of a failed write.
fn failure_reason(e: &StoreError) -> Reason {
    match e {
        StoreError::TooLarge { .. } => Reason::CookieTooLarge,
        _ => Reason::DbError,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::memory::MemoryStore;
    use pollster::block_on;
    use serde_json::{json, Value};

    const POLICY: ExpiryPolicy = ExpiryPolicy::fixed(600, 3600, 60);
    const T0: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn manager() -> SessionManager<MemoryStore> {
        SessionManager::new(MemoryStore::new(), POLICY)
    }

    fn names(m: &SessionManager<impl Store>) -> Vec<&'static str> {
        m.take_signals().iter().map(Signal::name).collect()
    }

    /// A stored session with `data`, signals drained.
    fn stored(m: &SessionManager<MemoryStore>, data: Value) -> Session {
        let mut s = Session::new();
        for (k, v) in data.as_object().unwrap() {
            s.insert(k, v.clone());
        }
        s.create();
        block_on(m.save(&mut s, T0));
        m.take_signals();
        s
    }

    /// A store whose every operation fails.
    struct Broken;
    impl Store for Broken {
        async fn load(&self, _: &SessionId) -> Result<Option<Record>, StoreError> {
            Err(StoreError::Backend("D1 down".into()))
        }
        async fn insert(&self, _: &Record) -> Result<(), StoreError> {
            Err(StoreError::Backend("D1 down".into()))
        }
        async fn update(&self, _: &Update) -> Result<bool, StoreError> {
            Err(StoreError::Backend("D1 down".into()))
        }
        async fn delete(&self, _: &SessionId) -> Result<bool, StoreError> {
            Err(StoreError::Backend("D1 down".into()))
        }
        async fn delete_user(&self, _: &str) -> Result<u64, StoreError> {
            Err(StoreError::Backend("D1 down".into()))
        }
    }

    #[test]
    fn nothing_to_save_writes_nothing() {
        let m = manager();
        let saved = block_on(m.save(&mut Session::new(), T0));
        assert_eq!(saved, Saved::NOTHING);
        assert!(m.take_signals().is_empty());
        // Login and logout in one response for a visitor: nothing is created.
        let mut s = Session::new();
        s.login("x");
        s.delete();
        assert_eq!(block_on(m.save(&mut s, T0)), Saved::NOTHING);
        assert!(s.is_new());
    }

    #[test]
    fn first_write_creates_the_session() {
        let m = manager();
        let mut s = Session::new();
        s.insert("cart", json!([1]));
        let saved = block_on(m.save(&mut s, T0));
        let id = s.id().unwrap();
        assert_eq!(
            saved.cookie,
            CookieChange::Set {
                id,
                max_age: Some(600)
            }
        );
        assert_eq!(names(&m), ["session_created", "session_data_saved"]);
        let r = block_on(m.store().load(&id)).unwrap().unwrap();
        assert_eq!(Value::Object(r.data), json!({"cart": [1]}));
        assert_eq!(
            (r.expires_at, r.absolute_expires_at),
            (T0.plus(600), Some(T0.plus(3600)))
        );
        assert!(!s.is_new() && !s.modified());
    }

    #[test]
    fn create_stores_at_once() {
        let m = manager();
        let s = block_on(m.create(Some("eve"), T0)).unwrap();
        let r = block_on(m.store().load(&s.id().unwrap())).unwrap().unwrap();
        assert_eq!(r.user_id.as_deref(), Some("eve"));
        assert_eq!(names(&m), ["session_created"]);
        let anon = block_on(m.create(None, T0)).unwrap();
        assert!(!anon.is_new() && anon.user_id().is_none());
        let broken = SessionManager::new(Broken, POLICY);
        assert!(matches!(
            block_on(broken.create(None, T0)),
            Err(SaveError::Store(_))
        ));
        assert_eq!(names(&broken), ["session_creation_failed"]);
    }

    #[test]
    fn steady_state_load_and_save_write_nothing() {
        let m = manager();
        let s = stored(&m, json!({"a": 1}));
        let mut loaded = block_on(m.load(&s.id().unwrap(), T0.plus(59)))
            .unwrap()
            .unwrap();
        assert_eq!(names(&m), ["session_data_retrieved"]);
        assert_eq!(block_on(m.save(&mut loaded, T0.plus(59))), Saved::NOTHING);
        assert!(m.take_signals().is_empty());
        assert_eq!(loaded.record().unwrap().version, 1);
    }

    #[test]
    fn renewal_is_throttled_and_resends_the_cookie() {
        let m = manager();
        let mut s = stored(&m, json!({}));
        let id = s.id().unwrap();
        let saved = block_on(m.save(&mut s, T0.plus(60)));
        assert_eq!(
            saved.cookie,
            CookieChange::Set {
                id,
                max_age: Some(600)
            }
        );
        assert_eq!(
            m.take_signals(),
            [Signal::Renewed {
                session_id: id,
                expires_at: T0.plus(660)
            }]
        );
        // Forced renewal ignores the throttle.
        let saved = block_on(m.renew(&mut s, T0.plus(70)));
        assert_eq!(
            saved.cookie,
            CookieChange::Set {
                id,
                max_age: Some(600)
            }
        );
        assert_eq!(names(&m), ["session_renewed"]);
    }

    #[test]
    fn data_change_without_renewal_keeps_the_cookie() {
        let m = manager();
        let mut s = stored(&m, json!({"a": 1}));
        s.insert("b", json!(2));
        assert_eq!(
            block_on(m.save(&mut s, T0.plus(5))).cookie,
            CookieChange::Keep
        );
        assert_eq!(
            m.take_signals(),
            [Signal::DataSaved {
                session_id: s.id().unwrap(),
                saved_keys: vec!["b".into()]
            }]
        );
    }

    #[test]
    fn login_cycles_the_id() {
        let m = manager();
        let mut s = stored(&m, json!({"cart": [1]}));
        let old = s.id().unwrap();
        s.login("bob");
        let saved = block_on(m.save(&mut s, T0.plus(5)));
        let new = s.id().unwrap();
        assert_ne!(old, new);
        assert_eq!(
            saved.cookie,
            CookieChange::Set {
                id: new,
                max_age: Some(595)
            }
        );
        assert_eq!(
            m.take_signals(),
            [Signal::Cycled {
                old_session_id: old,
                session_id: new,
                user_id: Some("bob".into())
            }]
        );
        assert_eq!(block_on(m.store().load(&old)).unwrap(), None);
        let r = block_on(m.store().load(&new)).unwrap().unwrap();
        assert_eq!(
            (r.user_id.as_deref(), Value::Object(r.data)),
            (Some("bob"), json!({"cart": [1]}))
        );
    }

    #[test]
    fn delete_and_revoke_user() {
        let m = manager();
        let mut a = stored(&m, json!({}));
        a.login("carol");
        block_on(m.save(&mut a, T0));
        let mut b = stored(&m, json!({}));
        b.login("carol");
        block_on(m.save(&mut b, T0));
        m.take_signals();
        let b_id = b.id().unwrap();
        a.revoke_user();
        assert_eq!(block_on(m.save(&mut a, T0)).cookie, CookieChange::Clear);
        assert!(a.is_new());
        assert_eq!(
            block_on(m.store().load(&b_id)).unwrap(),
            None,
            "every session of the user"
        );
        assert_eq!(names(&m), ["session_deleted"]);
        assert_eq!(
            block_on(m.delete(&b_id, Reason::Logout)),
            Err(SaveError::NotFound)
        );
        assert_eq!(names(&m), ["session_deletion_failed"]);
    }

    #[test]
    fn unknown_and_expired_ids() {
        let m = manager();
        let s = stored(&m, json!({}));
        let id = s.id().unwrap();
        assert_eq!(block_on(m.load(&SessionId::random(), T0)).unwrap(), None);
        assert_eq!(names(&m), ["session_data_retrieval_failed"]);
        assert_eq!(block_on(m.load(&id, T0.plus(600))).unwrap(), None);
        assert_eq!(
            m.take_signals(),
            [
                Signal::Expired {
                    session_id: id,
                    expired_at: T0.plus(600)
                },
                Signal::DataRetrievalFailed {
                    session_id: id,
                    reason: Reason::NotFoundOrExpired
                },
            ]
        );
    }

    #[test]
    fn a_vanished_session_clears_the_cookie() {
        let m = manager();
        let mut s = stored(&m, json!({}));
        block_on(m.store().delete(&s.id().unwrap())).unwrap();
        s.insert("x", json!(1));
        let saved = block_on(m.save(&mut s, T0));
        assert_eq!(
            saved,
            Saved::failed(CookieChange::Clear, SaveError::NotFound)
        );
        assert_eq!(names(&m), ["session_data_save_failed"]);
    }

    #[test]
    fn store_failures_are_signalled_and_keep_the_cookie() {
        let m = SessionManager::new(Broken, POLICY);
        assert!(block_on(m.load(&SessionId::random(), T0)).is_err());
        assert_eq!(
            names(&m),
            ["session_data_retrieval_failed", "session_store_degraded"]
        );

        let mut fresh = Session::new();
        fresh.login("dave");
        let saved = block_on(m.save(&mut fresh, T0));
        assert_eq!(saved.cookie, CookieChange::Keep);
        assert_eq!(
            m.take_signals(),
            [Signal::CreationFailed {
                user_id: Some("dave".into()),
                exception: Exception::new("StoreError", "store backend error: D1 down"),
            }]
        );
        assert!(fresh.modified(), "unsaved changes are kept");

        let record = Record {
            id: SessionId::random(),
            user_id: None,
            data: crate::session::Data::new(),
            created_at: T0,
            expires_at: T0.plus(600),
            absolute_expires_at: None,
            updated_at: T0,
            version: 1,
            auth_time: None,
            lifetime: Default::default(),
        };
        let mut s = Session::from_record(record.clone());
        s.insert("k", json!(1));
        assert_eq!(block_on(m.save(&mut s, T0)).cookie, CookieChange::Keep);
        let sig = m.take_signals();
        assert!(matches!(
            &sig[..],
            [Signal::DataSaveFailed {
                reason: Reason::DbError,
                exception: Some(_),
                ..
            }]
        ));
        let mut idle = Session::from_record(record);
        assert_eq!(
            block_on(m.save(&mut idle, T0.plus(120))).cookie,
            CookieChange::Keep
        );
        assert_eq!(names(&m), ["session_renewal_failed"]);
        idle.delete();
        assert_eq!(block_on(m.save(&mut idle, T0)).cookie, CookieChange::Clear);
        assert_eq!(names(&m), ["session_deletion_failed"]);
    }
}
