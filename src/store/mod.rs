//! The store trait every session backend implements, and the backends that run natively.
//!
//! The D1 store lives in the edge layer (it needs the JS binding); its SQL lives in
//! [`sql`] so the native SQLite twin used in tests runs exactly the same statements.

pub mod cookie;
pub mod deferred;
pub mod fallback;
pub mod memory;
pub mod row;
pub mod sql;

pub use crate::write::{Update, UserChange};

#[cfg(test)]
pub(crate) mod conformance;

#[cfg(test)]
pub(crate) mod sqlite;

use crate::session::{Record, SessionId};
use crate::time::Timestamp;
use thiserror::Error;

/// A store operation that failed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum StoreError {
    /// The backend failed (D1 down, SQL error, binding missing).
    #[error("store backend error: {0}")]
    Backend(String),
    /// A stored row could not be read back (not a JSON object, bad id, bad time).
    #[error("stored session is corrupt: {0}")]
    Corrupt(String),
    /// The session ended before (deleted or moved to a new id): it is not created again.
    #[error("session {0} ended before: it is not created again")]
    Revoked(SessionId),
    /// The session does not fit its medium (the cookie store's 4096-byte cookie).
    #[error("session is too large: {bytes} bytes, the limit is {limit}")]
    TooLarge {
        /// Bytes it would take.
        bytes: usize,
        /// Bytes allowed.
        limit: usize,
    },
}

/// A session backend. Async because D1 is; no `Send` bound because workers are
/// single-threaded.
#[allow(async_fn_in_trait)]
pub trait Store {
    /// The session stored under `id`, expired or not (the caller applies the expiry
    /// rules, so it can tell "expired" from "unknown").
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails, [`StoreError::Corrupt`] when the row
    /// cannot be decoded.
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError>;

    /// Stores a new session.
    ///
    /// # Errors
    /// [`StoreError::Backend`], including when `record.id` is already taken;
    /// [`StoreError::Revoked`] when a store that remembers ended sessions has seen this
    /// id end.
    async fn insert(&self, record: &Record) -> Result<(), StoreError>;

    /// Applies `update`; `Ok(false)` when the session no longer exists.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails or the new id is taken.
    async fn update(&self, update: &Update) -> Result<bool, StoreError>;

    /// Deletes one session; `Ok(false)` when it did not exist.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError>;

    /// Deletes every session of `user_id`; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn delete_user(&self, user_id: &str) -> Result<u64, StoreError>;

    /// The live sessions of `user_id` at `now`, newest first (at most 100). A store that
    /// holds only the request's own session lists nothing.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails, [`StoreError::Corrupt`] for a row
    /// that does not decode.
    async fn list_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Record>, StoreError> {
        let _ = (user_id, now);
        Ok(Vec::new())
    }

    /// When `user_id`'s sessions stop being valid: one created before it is refused. A
    /// store that keeps no such time answers `None`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn not_before(&self, user_id: &str) -> Result<Option<Timestamp>, StoreError> {
        let _ = user_id;
        Ok(None)
    }

    /// Refuses every session of `user_id` created before `at`, including those the store
    /// does not hold (the cookie store's). A store that keeps no such time does nothing.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn revoke_before(&self, user_id: &str, at: Timestamp) -> Result<(), StoreError> {
        let _ = (user_id, at);
        Ok(())
    }
}
