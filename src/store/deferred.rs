//! Writing a [`Deferred`] operation back when D1 answers again.

use super::{Store, StoreError};
pub use crate::write::Deferred;

/// What a write-back of a deferred operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteBack {
    /// Written (or found already written: the write-back is idempotent).
    Written,
    /// An update found no session (deleted or expired meanwhile).
    NothingToUpdate,
    /// An insert of a session that ended since (a replayed pending cookie): not done.
    Revoked,
}

/// Writes `op` to `store` (D1, once it answers again). Idempotent, since a pending
/// cookie can arrive again before its clearing reaches the browser: an insert of a
/// session that exists, or a delete of one that does not, is done.
///
/// # Errors
/// The store's error; the operation should then stay deferred.
pub async fn write_back(op: &Deferred, store: &impl Store) -> Result<WriteBack, StoreError> {
    let written = match op {
        Deferred::Insert(r) => match store.insert(r).await {
            Ok(()) => true,
            Err(StoreError::Revoked(_)) => return Ok(WriteBack::Revoked),
            Err(e) => match store.load(&r.id).await {
                Ok(Some(_)) => true,
                _ => return Err(e),
            },
        },
        Deferred::Update(u) => store.update(u).await?,
        Deferred::Delete(id) => store.delete(id).await.map(|_| true)?,
    };
    Ok(if written {
        WriteBack::Written
    } else {
        WriteBack::NothingToUpdate
    })
}
