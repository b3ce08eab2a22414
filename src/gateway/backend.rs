//! The store that serves a request, whichever it is: one [`Store`] type, so the manager
//! and the request path are compiled once rather than once per store.

use crate::session::{Record, SessionId};
use crate::store::cookie::CookieStore;
use crate::store::fallback::FallbackStore;
use crate::store::{Evicted, Listed, Store, StoreError, Update};
use crate::time::Timestamp;

/// The store of one request.
#[derive(Debug)]
pub enum Backend<'a, S> {
    /// D1 (or, natively, any database store).
    D1(&'a S),
    /// The whole session in the request's cookie.
    Cookie(CookieStore<'a>),
    /// D1 is failing: the snapshot and the pending cookie.
    Fallback(FallbackStore<'a>),
}

/// Calls the same method on whichever store is inside.
macro_rules! each {
    ($backend:expr, $s:ident => $call:expr) => {
        match $backend {
            Backend::D1($s) => $call,
            Backend::Cookie($s) => $call,
            Backend::Fallback($s) => $call,
        }
    };
}

impl<S: Store> Store for Backend<'_, S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        each!(self, s => s.load(id).await)
    }

    async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        each!(self, s => s.insert(record).await)
    }

    async fn update(&self, update: &Update) -> Result<bool, StoreError> {
        each!(self, s => s.update(update).await)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        each!(self, s => s.delete(id).await)
    }

    async fn delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        each!(self, s => s.delete_user(user_id).await)
    }

    async fn list_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Listed>, StoreError> {
        each!(self, s => s.list_user(user_id, now).await)
    }

    async fn evict(
        &self,
        user_id: &str,
        except: &SessionId,
        keep: u32,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        each!(self, s => s.evict(user_id, except, keep, now).await)
    }

    async fn insert_evicting(
        &self,
        record: &Record,
        keep: u32,
        now: Timestamp,
    ) -> Result<Evicted, StoreError> {
        each!(self, s => s.insert_evicting(record, keep, now).await)
    }

    async fn update_evicting(
        &self,
        update: &Update,
        keep: u32,
    ) -> Result<Option<Evicted>, StoreError> {
        each!(self, s => s.update_evicting(update, keep).await)
    }

    async fn not_before(&self, user_id: &str) -> Result<Option<Timestamp>, StoreError> {
        each!(self, s => s.not_before(user_id).await)
    }

    async fn revoke_before(&self, user_id: &str, at: Timestamp) -> Result<(), StoreError> {
        each!(self, s => s.revoke_before(user_id, at).await)
    }
}
