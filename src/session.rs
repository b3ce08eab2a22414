//! The session model: ids and stored records.

use crate::changes::Changes;
use crate::lifetime::Lifetime;
use crate::time::Timestamp;
use serde_json::Value;
use std::fmt;
use std::str::FromStr;
use thiserror::Error;
use uuid::Uuid;

pub use crate::patch::Data;

/// A session id: a random UUIDv4, public (headers, signals, admin API). What makes a
/// cookie usable is its MAC, not the secrecy of the id.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(Uuid);

impl SessionId {
    /// A fresh random id.
    #[must_use]
    pub fn random() -> Self {
        Self(Uuid::new_v4())
    }

    /// The id's 16 bytes.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8; 16] {
        self.0.as_bytes()
    }

    /// The id with these 16 bytes.
    #[must_use]
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(Uuid::from_bytes(bytes))
    }
}

/// Why a string is not a session id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("session id is not a lower-case hyphenated UUID")]
pub struct ParseIdError;

impl FromStr for SessionId {
    type Err = ParseIdError;

    /// Accepts only the canonical form (36 characters, lower-case, hyphenated), so one
    /// id has exactly one spelling in cookies, SQL and headers.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() != 36 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(ParseIdError);
        }
        Uuid::try_parse(s).map(Self).map_err(|_| ParseIdError)
    }
}

impl serde::Serialize for SessionId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.hyphenated().fmt(f)
    }
}

impl fmt::Debug for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SessionId({self})")
    }
}

/// A stored session, as one row of the `sessions` table.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// The session id.
    pub id: SessionId,
    /// The logged-in user, `None` when anonymous.
    pub user_id: Option<String>,
    /// The session data.
    pub data: Data,
    /// When the session was created.
    pub created_at: Timestamp,
    /// End of the sliding idle timeout.
    pub expires_at: Timestamp,
    /// Hard end of the session, `None` when the absolute timeout is off.
    pub absolute_expires_at: Option<Timestamp>,
    /// Last write.
    pub updated_at: Timestamp,
    /// Incremented by every write.
    pub version: i64,
    /// When the user last proved who they are (a login, or the origin's
    /// `reauthenticated`); `None` when anonymous or not known (a session of an earlier
    /// cookie format, or served from a snapshot during an outage).
    pub auth_time: Option<Timestamp>,
    /// The lifetime the origin chose for it (`X-Session-Lifetime`).
    pub lifetime: Lifetime,
}

/// A session as a handler uses it (Lback's `AppSession`): read the data, change it, log
/// a user in or out. Changes are only recorded here; [`crate::manager::SessionManager::save`]
/// writes them in one store operation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Session {
    /// The stored state as loaded or last saved; `None` until the session exists.
    stored: Option<Record>,
    /// The data with the unsaved changes applied.
    data: Data,
    changes: Changes,
    login: Option<String>,
    cycle: bool,
    delete: bool,
    create: bool,
    revoke_user: bool,
    reauthenticated: bool,
    lifetime: Option<Lifetime>,
    evict_beyond: Option<u32>,
}

impl Session {
    /// A session that does not exist yet; it is stored on the first save that has
    /// something to store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The handle of a stored session.
    #[must_use]
    pub fn from_record(record: Record) -> Self {
        Self {
            data: record.data.clone(),
            stored: Some(record),
            ..Self::default()
        }
    }

    /// The stored state, `None` while the session is new.
    #[must_use]
    pub fn record(&self) -> Option<&Record> {
        self.stored.as_ref()
    }

    /// The session id, `None` while the session is new.
    #[must_use]
    pub fn id(&self) -> Option<SessionId> {
        self.stored.as_ref().map(|r| r.id)
    }

    /// The user: the unsaved login if any, else the stored one.
    #[must_use]
    pub fn user_id(&self) -> Option<&str> {
        self.login
            .as_deref()
            .or_else(|| self.stored.as_ref().and_then(|r| r.user_id.as_deref()))
    }

    /// The data, unsaved changes included.
    #[must_use]
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// The value under `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        self.data.get(key)
    }

    /// Sets `key` to `value`, replacing what was there.
    pub fn insert(&mut self, key: &str, value: Value) {
        self.changes.set(key, Some(value));
        self.refresh(key);
    }

    /// Removes `key`; returns what it held.
    pub fn remove(&mut self, key: &str) -> Option<Value> {
        self.changes.set(key, None);
        self.data.remove(key)
    }

    /// Empties the data; the session itself stays.
    pub fn clear(&mut self) {
        self.changes.clear();
        self.data.clear();
    }

    /// Applies a JSON merge patch (RFC 7396) to the data, one top-level key at a time:
    /// each key the patch touches is written whole.
    pub fn merge(&mut self, patch: &Data) {
        for (key, value) in patch {
            let mut merged = Data::new();
            if let Some(current) = self.data.get(key) {
                merged.insert(key.clone(), current.clone());
            }
            let mut one = Data::new();
            one.insert(key.clone(), value.clone());
            crate::patch::merge(&mut merged, &one);
            self.changes.set(key, merged.remove(key));
            self.refresh(key);
        }
    }

    /// Logs `user` in: sets the user and moves the session to a new id on save (session
    /// fixation defence).
    pub fn login(&mut self, user: &str) {
        self.login = Some(user.to_owned());
        self.cycle = true;
    }

    /// Moves the session to a new id on save, keeping its data.
    pub fn cycle(&mut self) {
        self.cycle = true;
    }

    /// Deletes the session on save (logout).
    pub fn delete(&mut self) {
        self.delete = true;
    }

    /// Deletes every session of this session's user on save.
    pub fn revoke_user(&mut self) {
        self.revoke_user = true;
    }

    /// Stores the session on save even if nothing was written to it.
    pub fn create(&mut self) {
        self.create = true;
    }

    /// Records on save that the session's user proved who they are now (the origin's
    /// `reauthenticated`): the auth time becomes the save's time. A session without a
    /// user has no auth time, so it ignores this.
    pub fn reauthenticate(&mut self) {
        self.reauthenticated = true;
    }

    /// Gives the session `lifetime` on save; its timers restart then (the origin's
    /// `X-Session-Lifetime`, usually sent with a login).
    pub fn set_lifetime(&mut self, lifetime: Lifetime) {
        self.lifetime = Some(lifetime);
    }

    /// Makes the unsaved login also end the user's other live sessions beyond the newest
    /// `keep` (SESSION_MAX_PER_USER's `evict_oldest`), in the same store operation
    /// where the store can. Without a login it does nothing.
    pub fn evict_others_beyond(&mut self, keep: u32) {
        self.evict_beyond = Some(keep);
    }

    /// The session's lifetime: the unsaved one if any, else the stored one.
    #[must_use]
    pub fn lifetime(&self) -> Lifetime {
        self.lifetime
            .or_else(|| self.stored.as_ref().map(|r| r.lifetime))
            .unwrap_or_default()
    }

    /// When the user last proved who they are, as stored (`None`: anonymous or unknown).
    #[must_use]
    pub fn auth_time(&self) -> Option<Timestamp> {
        self.stored.as_ref().and_then(|r| r.auth_time)
    }

    /// Whether the session does not exist in the store yet.
    #[must_use]
    pub fn is_new(&self) -> bool {
        self.stored.is_none()
    }

    /// Whether a save has anything to do besides renewal.
    #[must_use]
    pub fn modified(&self) -> bool {
        !self.changes.is_empty()
            || self.login.is_some()
            || self.cycle
            || self.delete
            || self.create
            || self.revoke_user
            || self.reauthenticated
            || self.lifetime.is_some()
    }

    pub(crate) fn unsaved(&self) -> Unsaved<'_> {
        Unsaved {
            changes: &self.changes,
            login: self.login.as_deref(),
            cycle: self.cycle,
            delete: self.delete || self.revoke_user,
            revoke_user: self.revoke_user,
            create: self.create,
            reauthenticated: self.reauthenticated,
            lifetime: self.lifetime,
            evict_beyond: self.evict_beyond.filter(|_| self.login.is_some()),
        }
    }

    /// After a successful save: `stored` is the new state, nothing is unsaved.
    pub(crate) fn saved(&mut self, stored: Option<Record>) {
        *self = stored.map_or_else(Self::new, Self::from_record);
    }

    /// Brings the data's copy of `key` in line with the unsaved change to it.
    fn refresh(&mut self, key: &str) {
        self.changes.only(key).apply(&mut self.data);
    }
}

/// What a save has to do, borrowed from a [`Session`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Unsaved<'a> {
    pub changes: &'a Changes,
    pub login: Option<&'a str>,
    pub cycle: bool,
    pub delete: bool,
    pub revoke_user: bool,
    pub create: bool,
    pub reauthenticated: bool,
    pub lifetime: Option<Lifetime>,
    pub evict_beyond: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn app_session_behaviour() {
        let mut s = Session::new();
        assert!(s.is_new() && !s.modified() && s.id().is_none());
        s.insert("cart", json!({"items": [1], "note": null}));
        assert_eq!(s.get("cart"), Some(&json!({"items": [1]})));
        s.insert("n", json!(1));
        assert_eq!(s.remove("n"), Some(json!(1)));
        assert!(s.modified());
        let mut patch = Data::new();
        patch.insert("cart".into(), json!({"items": null, "coupon": "X"}));
        patch.insert("theme".into(), json!("dark"));
        s.merge(&patch);
        assert_eq!(
            Value::Object(s.data().clone()),
            json!({"cart": {"coupon": "X"}, "theme": "dark"})
        );
        s.login("alice");
        assert_eq!(s.user_id(), Some("alice"));
        s.clear();
        assert!(s.data().is_empty());
        let p = s.unsaved();
        assert!(p.changes.clears() && p.cycle && p.login == Some("alice") && !p.delete);
    }

    #[test]
    fn ids_parse_only_in_canonical_form() {
        let id = SessionId::random();
        assert_eq!(id.to_string().parse::<SessionId>(), Ok(id));
        let s = "9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab";
        assert!(s.parse::<SessionId>().is_ok());
        for bad in [
            "9F1C2D3E-4A5B-4C6D-8E7F-0123456789AB",
            "9f1c2d3e4a5b4c6d8e7f0123456789ab",
            "{9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab}",
            "9f1c2d3e-4a5b-4c6d-8e7f-0123456789a'",
            "",
            "' OR 1=1 --",
        ] {
            assert!(bad.parse::<SessionId>().is_err(), "{bad}");
        }
    }
}
