//! The D1-outage fallback: while D1 fails, a request's session comes from the signed
//! snapshot in its reference cookie, and what the origin writes is kept in a signed
//! *pending* cookie as one [`Deferred`] store operation. When D1 answers again the
//! operation is written back ([`write_back`](super::deferred::write_back)) and the pending cookie cleared.
//!
//! The data that lives only in D1 is not visible during the outage: the origin sees
//! the identity (id, user) and what was written during the outage. Writes are applied
//! to D1 per top-level key on write-back, so nothing stored before the outage is lost.

use super::{Store, StoreError, Update};
use crate::cookie::full::{cookie_bytes, MAX_COOKIE_BYTES};
use crate::cookie::key::Keyring;
use crate::cookie::{pending, Outgoing};
use crate::lifetime::Lifetime;
use crate::session::{Data, Record, SessionId};
use crate::time::Timestamp;
use crate::write::Deferred;
use std::cell::RefCell;

/// The store of one request during a D1 outage: the snapshot's session, plus what is
/// pending.
#[derive(Debug)]
pub struct FallbackStore<'k> {
    keys: &'k Keyring,
    /// Name of the pending cookie.
    name: &'k str,
    slot: RefCell<Option<Record>>,
    deferred: RefCell<Option<Deferred>>,
    /// Whether this request changed the deferred operation.
    changed: RefCell<bool>,
    since: Timestamp,
}

impl<'k> FallbackStore<'k> {
    /// The store for a request whose cookie named `current` (built from the snapshot)
    /// and carried `deferred` (recorded since `since`); pending cookies are called `name`
    /// and signed with `keys`.
    #[must_use]
    pub fn new(
        keys: &'k Keyring,
        name: &'k str,
        current: Option<Record>,
        deferred: Option<Deferred>,
        since: Timestamp,
    ) -> Self {
        let slot = match (&deferred, current) {
            // A session created during the outage exists only in the pending cookie.
            (Some(Deferred::Insert(r)), _) => Some(r.clone()),
            (Some(Deferred::Delete(_)), _) => None,
            (Some(Deferred::Update(u)), Some(mut r)) => {
                u.changes.apply(&mut r.data);
                if let Some(new) = u.lifetime {
                    r.lifetime = new.lifetime;
                    r.absolute_expires_at = new.absolute_expires_at;
                }
                Some(r)
            }
            (_, current) => current,
        };
        Self {
            keys,
            name,
            slot: RefCell::new(slot),
            deferred: RefCell::new(deferred),
            changed: RefCell::new(false),
            since,
        }
    }

    /// The pending cookie this request leaves: [`Outgoing::Keep`] when it changed
    /// nothing deferred, else the new value, or a clear when nothing is left deferred.
    #[must_use]
    pub fn outgoing(&self) -> Outgoing {
        if !*self.changed.borrow() {
            return Outgoing::Keep;
        }
        match self.deferred.borrow().as_ref() {
            Some(op) => Outgoing::Set(pending::encode(self.keys, self.name, op, self.since)),
            None => Outgoing::Clear,
        }
    }

    /// When the deferred operation was first recorded.
    #[must_use]
    pub fn since(&self) -> Timestamp {
        self.since
    }

    /// Adds `op` to what is deferred, refusing a pending cookie a browser would not keep.
    fn record(&self, op: Deferred) -> Result<(), StoreError> {
        let combined = match self.deferred.borrow().clone() {
            Some(before) => before.then(op),
            None => Some(op),
        };
        if let Some(p) = &combined {
            let bytes = cookie_bytes(
                self.name,
                &pending::encode(self.keys, self.name, p, self.since),
            );
            if bytes > MAX_COOKIE_BYTES {
                return Err(StoreError::TooLarge {
                    bytes,
                    limit: MAX_COOKIE_BYTES,
                });
            }
        }
        *self.deferred.borrow_mut() = combined;
        *self.changed.borrow_mut() = true;
        Ok(())
    }
}

impl Store for FallbackStore<'_> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(self.slot.borrow().clone().filter(|r| r.id == *id))
    }

    async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        if self
            .slot
            .borrow()
            .as_ref()
            .is_some_and(|r| r.id == record.id)
        {
            return Err(StoreError::Backend(format!(
                "session {} already exists",
                record.id
            )));
        }
        self.record(Deferred::Insert(record.clone()))?;
        *self.slot.borrow_mut() = Some(record.clone());
        Ok(())
    }

    async fn update(&self, u: &Update) -> Result<bool, StoreError> {
        let Some(mut r) = self.slot.borrow().clone().filter(|r| r.id == u.id) else {
            return Ok(false);
        };
        self.record(Deferred::Update(u.clone()))?;
        u.apply_to(&mut r);
        *self.slot.borrow_mut() = Some(r);
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        if self.slot.borrow().as_ref().is_none_or(|r| r.id != *id) {
            return Ok(false);
        }
        self.record(Deferred::Delete(*id))?;
        *self.slot.borrow_mut() = None;
        Ok(true)
    }

    /// Only this browser's session can be reached during an outage.
    async fn delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let id = self
            .slot
            .borrow()
            .as_ref()
            .filter(|r| r.user_id.as_deref() == Some(user_id))
            .map(|r| r.id);
        match id {
            Some(id) => self.delete(&id).await.map(u64::from),
            None => Ok(0),
        }
    }
}

/// A session as the snapshot describes it: id, user and lifetime; data, times and the
/// auth time unknown until D1 answers.
#[must_use]
pub fn snapshot_record(
    id: SessionId,
    user_id: Option<String>,
    expires_at: Timestamp,
    lifetime: Lifetime,
    now: Timestamp,
) -> Record {
    Record {
        id,
        user_id,
        data: Data::new(),
        created_at: now,
        expires_at,
        absolute_expires_at: None,
        updated_at: now,
        version: 0,
        // The snapshot does not carry it: a fresh-only path asks for a new login.
        auth_time: None,
        lifetime,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::changes::Changes;
    use crate::cookie::testing::keys;
    use crate::store::conformance::{self, conformance_tests, Caps};
    use crate::store::deferred::{write_back, WriteBack};
    use crate::store::memory::MemoryStore;
    use crate::store::UserChange;
    use pollster::block_on;
    use serde_json::json;

    const T: Timestamp = Timestamp::from_unix(1_800_000_000);

    conformance_tests!(
        || FallbackStore::new(keys(), "p", None, None, T),
        Caps::ONE_SESSION_IN_A_COOKIE
    );

    /// The pending cookie value a store sets.
    fn set_value(store: &FallbackStore<'_>) -> String {
        match store.outgoing() {
            Outgoing::Set(v) => v,
            other => panic!("expected a pending cookie, got {other:?}"),
        }
    }

    fn changes(v: serde_json::Value) -> Changes {
        let mut c = Changes::default();
        for (k, v) in v.as_object().unwrap() {
            c.set(k, (!v.is_null()).then(|| v.clone()));
        }
        c
    }

    #[test]
    fn pending_updates_compose_and_write_back_per_key() {
        // In D1 before the outage.
        let d1 = MemoryStore::new();
        let mut r = conformance::record(Some("ann"), json!({"kept": 1, "cart": [1], "old": true}));
        r.expires_at = T.plus(600);
        block_on(d1.insert(&r)).unwrap();
        // Two requests during the outage, each carrying the pending cookie of the last.
        let snapshot = snapshot_record(r.id, Some("ann".into()), T.plus(600), Lifetime::Default, T);
        let first = FallbackStore::new(keys(), "p", Some(snapshot.clone()), None, T);
        let u1 = Update {
            id: r.id,
            new_id: None,
            user: UserChange::Keep,
            changes: changes(json!({"cart": [1, 2]})),
            expires_at: T.plus(600),
            now: T,
            reauthenticated: false,
            lifetime: None,
        };
        assert_eq!(block_on(first.update(&u1)), Ok(true));
        let carried = pending::decode(keys(), "p", &set_value(&first)).unwrap();
        assert_eq!(carried.since, T);
        let second = FallbackStore::new(keys(), "p", Some(snapshot), Some(carried.op), T);
        assert_eq!(
            block_on(second.load(&r.id))
                .unwrap()
                .unwrap()
                .data
                .get("cart"),
            Some(&json!([1, 2])),
            "what was written during the outage is visible"
        );
        let new_id = SessionId::random();
        let u2 = Update {
            id: r.id,
            new_id: Some(new_id),
            user: UserChange::Set("bob".into()),
            changes: changes(json!({"old": null})),
            expires_at: T.plus(700),
            now: T.plus(5),
            reauthenticated: false,
            lifetime: None,
        };
        assert_eq!(block_on(second.update(&u2)), Ok(true));
        let op = pending::decode(keys(), "p", &set_value(&second))
            .unwrap()
            .op;
        assert_eq!(op.session_id(), Some(new_id));
        // D1 is back.
        assert_eq!(block_on(write_back(&op, &d1)), Ok(WriteBack::Written));
        assert_eq!(block_on(d1.load(&r.id)).unwrap(), None);
        let back = block_on(d1.load(&new_id)).unwrap().unwrap();
        assert_eq!(back.user_id.as_deref(), Some("bob"));
        assert_eq!(
            serde_json::Value::Object(back.data),
            json!({"kept": 1, "cart": [1, 2]})
        );
    }

    #[test]
    fn a_session_created_during_the_outage_is_inserted_later() {
        let store = FallbackStore::new(keys(), "p", None, None, T);
        let r = conformance::record(Some("cy"), json!({"a": 1}));
        block_on(store.insert(&r)).unwrap();
        let op = pending::decode(keys(), "p", &set_value(&store)).unwrap().op;
        let d1 = MemoryStore::new();
        block_on(write_back(&op, &d1)).unwrap();
        let back = block_on(d1.load(&r.id)).unwrap().unwrap();
        assert_eq!(
            (back.user_id, back.data, back.expires_at),
            (r.user_id, r.data, r.expires_at)
        );
    }

    #[test]
    fn logout_during_the_outage_deletes_later_and_cancels_an_unsaved_insert() {
        let d1 = MemoryStore::new();
        let r = conformance::record(None, json!({}));
        block_on(d1.insert(&r)).unwrap();
        let store = FallbackStore::new(
            keys(),
            "p",
            Some(snapshot_record(
                r.id,
                None,
                T.plus(60),
                Lifetime::Default,
                T,
            )),
            None,
            T,
        );
        block_on(store.delete(&r.id)).unwrap();
        let op = pending::decode(keys(), "p", &set_value(&store)).unwrap().op;
        assert_eq!(op, Deferred::Delete(r.id));
        block_on(write_back(&op, &d1)).unwrap();
        assert_eq!(block_on(d1.load(&r.id)).unwrap(), None);
        let fresh = conformance::record(None, json!({}));
        assert_eq!(
            Deferred::Insert(fresh.clone()).then(Deferred::Delete(fresh.id)),
            None
        );
    }
}
