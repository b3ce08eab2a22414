//! A write deferred through a D1 outage: one store operation that composes with the
//! next, and is written back when D1 answers again. It travels in the pending cookie
//! ([`crate::cookie::pending`]).

use super::{Store, StoreError, Update};
use crate::session::{Record, SessionId};

/// The store operation waiting for D1.
#[derive(Debug, Clone, PartialEq)]
pub enum Deferred {
    /// A session created during the outage.
    Insert(Record),
    /// Changes to a session that exists in D1.
    Update(Update),
    /// A logout during the outage.
    Delete(SessionId),
}

/// What a write-back of a deferred operation did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteBack {
    /// Written (or found already written: the write-back is idempotent).
    Written,
    /// An update found no session (deleted or expired meanwhile).
    NothingToUpdate,
}

impl Deferred {
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

    /// This operation followed by `next`, as one operation (`None`: nothing is left to
    /// do, a session created and deleted during the outage).
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
    ///
    /// # Errors
    /// The store's error; the operation should then stay deferred.
    pub async fn write_back(&self, store: &impl Store) -> Result<WriteBack, StoreError> {
        let written = match self {
            Self::Insert(r) => match store.insert(r).await {
                Ok(()) => true,
                Err(e) => match store.load(&r.id).await {
                    Ok(Some(_)) => true,
                    _ => return Err(e),
                },
            },
            Self::Update(u) => store.update(u).await?,
            Self::Delete(id) => store.delete(id).await.map(|_| true)?,
        };
        Ok(if written {
            WriteBack::Written
        } else {
            WriteBack::NothingToUpdate
        })
    }
}
