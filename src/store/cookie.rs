//! The cookie store: the whole session travels in a signed cookie (Django's
//! `signed_cookies` SessionStore). A store instance lives for one request: it starts
//! from the session the request's cookie held and ends with the cookie to send back.
//!
//! How Django's methods map: `load()` → [`Store::load`] of the id the cookie holds (a bad
//! signature never gets here: the cookie is decoded first and a bad one starts an empty
//! session, signalled); `save(must_create)` → [`Store::insert`] / [`Store::update`],
//! both refusing a cookie over 4096 bytes; `create()` → insert of a new id; `exists()` →
//! always false for an id this cookie does not hold (there is nothing else to look in);
//! `delete()` → clears the cookie; `cycle_key()` → update with a new id, same data;
//! `clear_expired()` → nothing to do (an expired cookie fails its expiry check).
//!
//! Limits: no server-side revocation. `delete_user` can only clear this browser's
//! cookie, and a copied cookie stays valid until its expiry (see the README).

use super::{Store, StoreError, Update, UserChange};
use crate::cookie::full::{self, cookie_bytes, MAX_COOKIE_BYTES};
use crate::cookie::key::Keyring;
use crate::cookie::Outgoing;
use crate::session::{Record, SessionId};
use std::cell::RefCell;

/// The session of one request's cookie.
#[derive(Debug)]
pub struct CookieStore<'k> {
    keys: &'k Keyring,
    name: &'k str,
    slot: RefCell<Option<Record>>,
    /// The cookie to send: [`Outgoing::Keep`] until a write changes it.
    outgoing: RefCell<Outgoing>,
}

impl<'k> CookieStore<'k> {
    /// A store holding `current` (the session the request's cookie carried, if any),
    /// writing cookies called `name` signed with `keys`.
    #[must_use]
    pub fn new(keys: &'k Keyring, name: &'k str, current: Option<Record>) -> Self {
        Self {
            keys,
            name,
            slot: RefCell::new(current),
            outgoing: RefCell::new(Outgoing::Keep),
        }
    }

    /// The cookie to send: the new value, a clear, or [`Outgoing::Keep`] when no write
    /// changed it.
    #[must_use]
    pub fn outgoing(&self) -> Outgoing {
        self.outgoing.borrow().clone()
    }

    /// Encodes `record`, refusing what a browser would not store.
    fn encode(&self, record: &Record) -> Result<String, StoreError> {
        let value = full::encode(self.keys, self.name, record)
            .ok_or_else(|| StoreError::Backend("no randomness for the cookie's nonce".into()))?;
        let bytes = cookie_bytes(self.name, &value);
        if bytes > MAX_COOKIE_BYTES {
            return Err(StoreError::TooLarge {
                bytes,
                limit: MAX_COOKIE_BYTES,
            });
        }
        Ok(value)
    }

    fn holds(&self, id: &SessionId) -> bool {
        self.slot.borrow().as_ref().is_some_and(|r| r.id == *id)
    }
}

impl Store for CookieStore<'_> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(self.slot.borrow().clone().filter(|r| r.id == *id))
    }

    async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        if self.holds(&record.id) {
            return Err(StoreError::Backend(format!(
                "session {} already exists",
                record.id
            )));
        }
        let value = self.encode(record)?;
        *self.slot.borrow_mut() = Some(record.clone());
        *self.outgoing.borrow_mut() = Outgoing::Set(value);
        Ok(())
    }

    async fn update(&self, u: &Update) -> Result<bool, StoreError> {
        let Some(mut r) = self.slot.borrow().clone().filter(|r| r.id == u.id) else {
            return Ok(false);
        };
        u.apply_to(&mut r);
        // A login starts the session anew for revocation: "not valid before" compares
        // with this, which renewals and writes never move (the absolute cap stays).
        if let UserChange::Set(_) = u.user {
            r.created_at = u.now;
        }
        // Too large: nothing changes, the old cookie stays.
        let value = self.encode(&r)?;
        *self.slot.borrow_mut() = Some(r);
        *self.outgoing.borrow_mut() = Outgoing::Set(value);
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        if !self.holds(id) {
            return Ok(false);
        }
        *self.slot.borrow_mut() = None;
        *self.outgoing.borrow_mut() = Outgoing::Clear;
        Ok(true)
    }

    async fn delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let held = self.slot.borrow().as_ref().map(|r| r.id).filter(|_| {
            self.slot
                .borrow()
                .as_ref()
                .and_then(|r| r.user_id.as_deref())
                == Some(user_id)
        });
        match held {
            Some(id) => self.delete(&id).await.map(u64::from),
            None => Ok(0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::testing::keys;
    use crate::store::conformance::{self, conformance_tests, Caps};

    conformance_tests!(
        || CookieStore::new(keys(), "session_id", None),
        Caps::ONE_SESSION_IN_A_COOKIE
    );

    #[test]
    fn writes_produce_the_cookie_and_round_trip() {
        use pollster::block_on;
        let store = CookieStore::new(keys(), "session_id", None);
        assert_eq!(store.outgoing(), Outgoing::Keep);
        let r = conformance::record(Some("ann"), serde_json::json!({"k": 1}));
        block_on(store.insert(&r)).unwrap();
        let Outgoing::Set(value) = store.outgoing() else {
            panic!("the insert sets the cookie")
        };
        let (back, _) = full::decode(keys(), "session_id", &value).unwrap();
        assert_eq!(back.data, r.data);
        block_on(store.delete(&r.id)).unwrap();
        assert_eq!(store.outgoing(), Outgoing::Clear);
    }
}
