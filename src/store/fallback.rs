//! The D1-outage fallback: while D1 fails, a request's session comes from the signed
//! snapshot in its reference cookie, and what the origin writes is kept in a signed
//! *pending* cookie as one store operation. When D1 answers again the operation is
//! written back ([`Pending::write_back`]) and the pending cookie cleared.
//!
//! The data that lives only in D1 is not visible during the outage: the origin sees
//! the identity (id, user) and what was written during the outage. Writes are applied
//! to D1 per top-level key on write-back, so nothing stored before the outage is lost.

use super::{Store, StoreError, Update};
use crate::changes::Changes;
use crate::cookie::full::{cookie_bytes, MAX_COOKIE_BYTES};
use crate::cookie::key::{KeyUse, Keyring};
use crate::cookie::sealed::{self, SealError};
use crate::session::{Data, Record, SessionId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::cell::RefCell;

const VERSION: &str = "sessiongate-pending-v1";
const TAG: &str = "p1";

/// The store operation waiting for D1.
#[derive(Debug, Clone, PartialEq)]
pub enum Pending {
    /// A session created during the outage.
    Insert(Record),
    /// Changes to a session that exists in D1.
    Update(Update),
    /// A logout during the outage.
    Delete(SessionId),
}

/// The pending cookie's JSON.
#[derive(Serialize, Deserialize)]
struct Wire {
    /// `insert`, `update` or `delete`.
    op: String,
    /// The session in D1 (for an insert: the new one).
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_id: Option<String>,
    /// `Some(user)` sets the user; `Some(None)` is not used (logout deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default)]
    clear: bool,
    /// Touched keys: a value sets, `null` removes.
    #[serde(default)]
    keys: Data,
    /// Expiry the write-back sets.
    exp: i64,
    /// Absolute expiry of an inserted session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    abs: Option<i64>,
    /// When the operation was first recorded.
    at: i64,
}

impl Pending {
    /// The session this operation leaves in place (after write-back), `None` for a
    /// delete.
    #[must_use]
    pub fn session_id(&self) -> Option<SessionId> {
        match self {
            Self::Insert(r) => Some(r.id),
            Self::Update(u) => Some(u.new_id.unwrap_or(u.id)),
            Self::Delete(_) => None,
        }
    }

    /// This operation followed by `next`, as one operation.
    #[must_use]
    pub fn then(self, next: Self) -> Option<Self> {
        match (self, next) {
            (Self::Insert(_), Self::Delete(_)) => None,
            (Self::Update(u), Self::Delete(_)) => Some(Self::Delete(u.id)),
            // A new session after a logout in the same outage: keeping the new session's
            // writes wins over replaying the logout (see the README's outage section).
            (Self::Delete(_), insert @ Self::Insert(_)) => Some(insert),
            (Self::Delete(id), _) => Some(Self::Delete(id)),
            (Self::Insert(mut r), Self::Update(u)) => {
                u.apply_to(&mut r);
                Some(Self::Insert(r))
            }
            (Self::Update(a), Self::Update(b)) => Some(Self::Update(Update {
                id: a.id,
                new_id: b.new_id.or(a.new_id),
                user_id: b.user_id.or(a.user_id),
                changes: a.changes.then(&b.changes),
                expires_at: b.expires_at,
                now: b.now,
            })),
            (_, insert @ Self::Insert(_)) => Some(insert),
        }
    }

    /// Writes the operation to `store` (D1, once it answers again). Idempotent, since a
    /// pending cookie can arrive again before its clearing reaches the browser: an
    /// insert of a session that exists, or a delete of one that does not, is done.
    /// `Ok(false)` when an update found no session (deleted or expired meanwhile).
    ///
    /// # Errors
    /// The store's error; the operation should then stay pending.
    pub async fn write_back(&self, store: &impl Store) -> Result<bool, StoreError> {
        match self {
            Self::Insert(r) => match store.insert(r).await {
                Ok(()) => Ok(true),
                Err(e) => match store.load(&r.id).await {
                    Ok(Some(_)) => Ok(true),
                    _ => Err(e),
                },
            },
            Self::Update(u) => store.update(u).await,
            Self::Delete(id) => store.delete(id).await.map(|_| true),
        }
    }

    /// The signed pending-cookie value.
    #[must_use]
    pub fn encode(&self, keys: &Keyring, name: &str, since: Timestamp) -> String {
        let wire = match self {
            Self::Insert(r) => Wire {
                op: "insert".into(),
                id: r.id.to_string(),
                new_id: None,
                user: r.user_id.clone(),
                clear: false,
                keys: r.data.clone(),
                exp: r.expires_at.unix(),
                abs: r.absolute_expires_at.map(Timestamp::unix),
                at: since.unix(),
            },
            Self::Update(u) => Wire {
                op: "update".into(),
                id: u.id.to_string(),
                new_id: u.new_id.map(|n| n.to_string()),
                user: u.user_id.clone().flatten(),
                clear: u.changes.clears(),
                keys: u.changes.entries(),
                exp: u.expires_at.unix(),
                abs: None,
                at: since.unix(),
            },
            Self::Delete(id) => Wire {
                op: "delete".into(),
                id: id.to_string(),
                new_id: None,
                user: None,
                clear: false,
                keys: Data::new(),
                exp: 0,
                abs: None,
                at: since.unix(),
            },
        };
        let json = serde_json::to_vec(&wire).unwrap_or_default();
        sealed::seal(keys, VERSION, name, TAG, &json)
    }

    /// The operation a pending-cookie value holds, when it was first recorded, and which
    /// key verified it.
    ///
    /// # Errors
    /// A short reason (`malformed`, `bad_signature`, `bad_payload`).
    pub fn decode(
        keys: &Keyring,
        name: &str,
        value: &str,
    ) -> Result<(Self, Timestamp, KeyUse), &'static str> {
        let (_, body, used) =
            sealed::open(keys, VERSION, name, &[TAG], value).map_err(|e| match e {
                SealError::Malformed => "malformed",
                SealError::BadSignature => "bad_signature",
            })?;
        let w: Wire = serde_json::from_slice(&body).map_err(|_| "bad_payload")?;
        let id: SessionId = w.id.parse().map_err(|_| "bad_payload")?;
        let at = Timestamp::from_unix(w.at);
        let op = match w.op.as_str() {
            "insert" => Self::Insert(Record {
                id,
                user_id: w.user,
                data: w.keys,
                created_at: at,
                expires_at: Timestamp::from_unix(w.exp),
                absolute_expires_at: w.abs.map(Timestamp::from_unix),
                updated_at: at,
                version: 1,
            }),
            "update" => {
                let new_id = w
                    .new_id
                    .map(|n| n.parse())
                    .transpose()
                    .map_err(|_| "bad_payload")?;
                let mut changes = Changes::default();
                if w.clear {
                    changes.clear();
                }
                for (k, v) in w.keys {
                    changes.set(&k, (!v.is_null()).then_some(v));
                }
                Self::Update(Update {
                    id,
                    new_id,
                    user_id: w.user.map(Some),
                    changes,
                    expires_at: Timestamp::from_unix(w.exp),
                    now: at,
                })
            }
            "delete" => Self::Delete(id),
            _ => return Err("bad_payload"),
        };
        Ok((op, at, used))
    }
}

/// The store of one request during a D1 outage: the snapshot's session, plus what is
/// pending.
#[derive(Debug)]
pub struct FallbackStore<'k> {
    keys: &'k Keyring,
    /// Name of the pending cookie.
    name: &'k str,
    slot: RefCell<Option<Record>>,
    pending: RefCell<Option<Pending>>,
    /// Whether this request changed the pending operation.
    changed: RefCell<bool>,
    since: Timestamp,
}

impl<'k> FallbackStore<'k> {
    /// The store for a request whose cookie named `current` (built from the snapshot)
    /// and carried `pending` (recorded since `since`); pending cookies are called `name`
    /// and signed with `keys`.
    #[must_use]
    pub fn new(
        keys: &'k Keyring,
        name: &'k str,
        current: Option<Record>,
        pending: Option<Pending>,
        since: Timestamp,
    ) -> Self {
        let slot = match (&pending, current) {
            // A session created during the outage exists only in the pending cookie.
            (Some(Pending::Insert(r)), _) => Some(r.clone()),
            (Some(Pending::Delete(_)), _) => None,
            (Some(Pending::Update(u)), Some(mut r)) => {
                u.changes.apply(&mut r.data);
                Some(r)
            }
            (_, current) => current,
        };
        Self {
            keys,
            name,
            slot: RefCell::new(slot),
            pending: RefCell::new(pending),
            changed: RefCell::new(false),
            since,
        }
    }

    /// The pending cookie to send when this request changed what is pending:
    /// `Some(Some(value))` to set, `Some(None)` to clear.
    #[must_use]
    pub fn outgoing(&self) -> Option<Option<String>> {
        (*self.changed.borrow()).then(|| {
            self.pending
                .borrow()
                .as_ref()
                .map(|p| p.encode(self.keys, self.name, self.since))
        })
    }

    /// When the pending operation was first recorded.
    #[must_use]
    pub fn since(&self) -> Timestamp {
        self.since
    }

    /// Adds `op` to what is pending, refusing a pending cookie a browser would not keep.
    fn record(&self, op: Pending) -> Result<(), StoreError> {
        let combined = match self.pending.borrow().clone() {
            Some(before) => before.then(op),
            None => Some(op),
        };
        if let Some(p) = &combined {
            let bytes = cookie_bytes(self.name, &p.encode(self.keys, self.name, self.since));
            if bytes > MAX_COOKIE_BYTES {
                return Err(StoreError::TooLarge {
                    bytes,
                    limit: MAX_COOKIE_BYTES,
                });
            }
        }
        *self.pending.borrow_mut() = combined;
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
        self.record(Pending::Insert(record.clone()))?;
        *self.slot.borrow_mut() = Some(record.clone());
        Ok(())
    }

    async fn update(&self, u: &Update) -> Result<bool, StoreError> {
        let Some(mut r) = self.slot.borrow().clone().filter(|r| r.id == u.id) else {
            return Ok(false);
        };
        self.record(Pending::Update(u.clone()))?;
        u.apply_to(&mut r);
        *self.slot.borrow_mut() = Some(r);
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        if self.slot.borrow().as_ref().is_none_or(|r| r.id != *id) {
            return Ok(false);
        }
        self.record(Pending::Delete(*id))?;
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

/// A session as the snapshot describes it: id and user; data and times unknown until D1
/// answers.
#[must_use]
pub fn snapshot_record(
    id: SessionId,
    user_id: Option<String>,
    expires_at: Timestamp,
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
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::key::Key;
    use crate::store::conformance::{self, conformance_tests, Caps};
    use crate::store::memory::MemoryStore;
    use pollster::block_on;
    use serde_json::json;
    use std::sync::OnceLock;

    fn keys() -> &'static Keyring {
        static KEYS: OnceLock<Keyring> = OnceLock::new();
        KEYS.get_or_init(|| Keyring::new(Key::derive(&[9; 32], "cookie").unwrap(), vec![]))
    }

    const T: Timestamp = Timestamp::from_unix(1_800_000_000);

    conformance_tests!(
        || FallbackStore::new(keys(), "p", None, None, T),
        Caps::ONE_SESSION_IN_A_COOKIE
    );

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
        let snapshot = snapshot_record(r.id, Some("ann".into()), T.plus(600), T);
        let first = FallbackStore::new(keys(), "p", Some(snapshot.clone()), None, T);
        let u1 = Update {
            id: r.id,
            new_id: None,
            user_id: None,
            changes: changes(json!({"cart": [1, 2]})),
            expires_at: T.plus(600),
            now: T,
        };
        assert_eq!(block_on(first.update(&u1)), Ok(true));
        let cookie = first.outgoing().flatten().unwrap();
        let (pending, since, _) = Pending::decode(keys(), "p", &cookie).unwrap();
        assert_eq!(since, T);
        let second = FallbackStore::new(keys(), "p", Some(snapshot), Some(pending), since);
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
            user_id: Some(Some("bob".into())),
            changes: changes(json!({"old": null})),
            expires_at: T.plus(700),
            now: T.plus(5),
        };
        assert_eq!(block_on(second.update(&u2)), Ok(true));
        let (pending, _, _) =
            Pending::decode(keys(), "p", &second.outgoing().flatten().unwrap()).unwrap();
        assert_eq!(pending.session_id(), Some(new_id));
        // D1 is back.
        assert_eq!(block_on(pending.write_back(&d1)), Ok(true));
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
        let (pending, _, _) =
            Pending::decode(keys(), "p", &store.outgoing().flatten().unwrap()).unwrap();
        let d1 = MemoryStore::new();
        block_on(pending.write_back(&d1)).unwrap();
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
            Some(snapshot_record(r.id, None, T.plus(60), T)),
            None,
            T,
        );
        block_on(store.delete(&r.id)).unwrap();
        let (pending, _, _) =
            Pending::decode(keys(), "p", &store.outgoing().flatten().unwrap()).unwrap();
        assert_eq!(pending, Pending::Delete(r.id));
        block_on(pending.write_back(&d1)).unwrap();
        assert_eq!(block_on(d1.load(&r.id)).unwrap(), None);
        let fresh = conformance::record(None, json!({}));
        assert_eq!(
            Pending::Insert(fresh.clone()).then(Pending::Delete(fresh.id)),
            None
        );
    }

    #[test]
    fn forged_or_foreign_pending_cookies_are_refused() {
        let v = Pending::Delete(SessionId::random()).encode(keys(), "p", T);
        assert!(Pending::decode(keys(), "p", &v).is_ok());
        assert_eq!(
            Pending::decode(keys(), "other", &v).unwrap_err(),
            "bad_signature"
        );
        assert_eq!(
            Pending::decode(keys(), "p", &v[1..]).unwrap_err(),
            "malformed"
        );
        let forged = sealed::seal(
            keys(),
            VERSION,
            "p",
            TAG,
            br#"{"op":"drop-tables","id":"x","exp":0,"at":0}"#,
        );
        assert_eq!(
            Pending::decode(keys(), "p", &forged).unwrap_err(),
            "bad_payload"
        );
    }
}
