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

/// The sessions a login's write evicted, or why the eviction failed after the write.
pub type Evicted = Result<Vec<SessionId>, StoreError>;

#[cfg(test)]
pub(crate) mod conformance;

#[cfg(test)]
pub(crate) mod sqlite;

#[cfg(test)]
mod directory_tests;

use crate::device::Device;
use crate::session::{Record, SessionId};
use crate::signal::AuditRow;
use crate::time::Timestamp;
use thiserror::Error;

/// A session as lists show it: its record (with when its user last logged in) and where
/// it was last used from (stores that do not record it give nothing).
#[derive(Debug, Clone, PartialEq)]
pub struct Listed {
    /// The session.
    pub record: Record,
    /// Where it was last written from.
    pub device: Device,
    /// Its place in insertion order (what pages go by; 0 where a store keeps none).
    pub seq: i64,
}

impl From<Record> for Listed {
    fn from(record: Record) -> Self {
        Self {
            record,
            device: Device::default(),
            seq: 0,
        }
    }
}

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
    async fn list_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Listed>, StoreError> {
        let _ = (user_id, now);
        Ok(Vec::new())
    }

    /// Deletes the live sessions of `user_id` at `now` other than `except` beyond the
    /// newest `keep`, oldest first by insertion; returns their ids. Nothing unless
    /// `except` is a session of `user_id` (the login it follows landed). A store that
    /// holds only the request's own session deletes nothing.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn evict(
        &self,
        user_id: &str,
        except: &SessionId,
        keep: u32,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        let _ = (user_id, except, keep, now);
        Ok(Vec::new())
    }

    /// Stores `record`, a session created logged in, and deletes its user's other live
    /// sessions beyond the newest `keep` (SESSION_MAX_PER_USER's `evict_oldest`): the
    /// outer result is the insert's, the inner the eviction's. D1 runs both in one batch
    /// (one transaction, one round trip); the default runs them one after the other.
    ///
    /// # Errors
    /// As [`Store::insert`]; an eviction that failed after the insert is the inner error.
    async fn insert_evicting(
        &self,
        record: &Record,
        keep: u32,
        now: Timestamp,
    ) -> Result<Evicted, StoreError> {
        self.insert(record).await?;
        Ok(match &record.user_id {
            Some(user) => self.evict(user, &record.id, keep, now).await,
            None => Ok(Vec::new()),
        })
    }

    /// Applies `update`, a login, and deletes the user's other live sessions beyond the
    /// newest `keep`, as [`Store::insert_evicting`]; `Ok(None)` when the session no
    /// longer exists (nothing is evicted then).
    ///
    /// # Errors
    /// As [`Store::update`]; an eviction that failed after the update is the inner error.
    async fn update_evicting(
        &self,
        update: &Update,
        keep: u32,
    ) -> Result<Option<Evicted>, StoreError> {
        if !self.update(update).await? {
            return Ok(None);
        }
        let id = update.new_id.unwrap_or(update.id);
        Ok(Some(match &update.user {
            UserChange::Set(user) => self.evict(user, &id, keep, update.now).await,
            UserChange::Keep | UserChange::Clear => Ok(Vec::new()),
        }))
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

/// Which sessions a page lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionQuery {
    /// Only this user's.
    pub user_id: Option<String>,
    /// Below this place in insertion order (the last row's `seq` of the page before).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// Which audit rows a page lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignalQuery {
    /// Only this session's.
    pub session_id: Option<SessionId>,
    /// Only this user's.
    pub user_id: Option<String>,
    /// Only signals of this name.
    pub name: Option<String>,
    /// Below this place in insertion order (the last row's `seq` of the page before).
    pub before: Option<i64>,
    /// At most this many.
    pub limit: u32,
}

/// Audit counts since a time.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Counts {
    /// `session_created` signals.
    pub created: u64,
    /// `session_deleted` and `session_expired` signals.
    pub ended: u64,
}

/// What an operator sees across users: the D1 store and its audit table (the admin API).
#[allow(async_fn_in_trait)]
pub trait Directory {
    /// Live sessions at `now`, newest inserted first, as `query` asks.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails, [`StoreError::Corrupt`] for a row
    /// that does not decode.
    async fn page(&self, query: &SessionQuery, now: Timestamp) -> Result<Vec<Listed>, StoreError>;

    /// The live session `id` at `now`.
    ///
    /// # Errors
    /// As [`Directory::page`].
    async fn show(&self, id: &SessionId, now: Timestamp) -> Result<Option<Listed>, StoreError>;

    /// How many sessions are live at `now`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError>;

    /// Audit counts since `since`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn count_signals(&self, since: Timestamp) -> Result<Counts, StoreError>;

    /// Audit rows, newest recorded first, as `query` asks, each with its place in
    /// insertion order.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn signals(&self, query: &SignalQuery) -> Result<Vec<(i64, AuditRow)>, StoreError>;

    /// Deletes every session of `user_id` in one statement; returns their ids.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn end_user(&self, user_id: &str) -> Result<Vec<SessionId>, StoreError>;

    /// Deletes up to `limit` sessions expired at `now`; returns how many.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the store fails.
    async fn purge_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError>;
}
