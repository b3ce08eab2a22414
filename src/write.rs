//! Writes to a session as data: [`Update`], one change to a stored session that every
//! store applies atomically; [`Deferred`], a store operation kept through a D1 outage
//! (in the pending cookie) that composes with the next one; and [`Revocation`], a
//! logout D1 refused, made durable through the queue.

use crate::changes::Changes;
use crate::lifetime::Lifetime;
use crate::session::{Record, SessionId};
use crate::time::Timestamp;
use serde_json::{json, Value};

/// What an update does to the session's user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum UserChange {
    /// Leave it.
    #[default]
    Keep,
    /// Log this user in.
    Set(String),
    /// Make the session anonymous.
    Clear,
}

impl UserChange {
    /// This change followed by `next`.
    #[must_use]
    pub fn then(self, next: Self) -> Self {
        match next {
            Self::Keep => self,
            next => next,
        }
    }
}

/// One write to an existing session, applied atomically by the store.
///
/// The data change is applied by the store to whatever is stored *now* (not to the
/// copy this request loaded), so two requests changing different keys both survive.
#[derive(Debug, Clone, PartialEq)]
pub struct Update {
    /// The session to change.
    pub id: SessionId,
    /// A new id for it (cycle / login); `None` keeps the id.
    pub new_id: Option<SessionId>,
    /// What happens to the session's user.
    pub user: UserChange,
    /// The data change, applied to what is stored at write time.
    pub changes: Changes,
    /// The new idle expiry.
    pub expires_at: Timestamp,
    /// Time of the write.
    pub now: Timestamp,
    /// The user proved who they are at `now` (the origin's `reauthenticated`): the auth
    /// time of a session with a user becomes `now`. A login implies it.
    pub reauthenticated: bool,
    /// A new lifetime (the origin's `X-Session-Lifetime`); `None` keeps the stored one.
    pub lifetime: Option<NewLifetime>,
}

/// A lifetime given to a session, with the absolute expiry it starts (its idle expiry
/// is the update's `expires_at`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewLifetime {
    /// The lifetime.
    pub lifetime: Lifetime,
    /// The absolute expiry from the time of the write; `None`: none.
    pub absolute_expires_at: Option<Timestamp>,
}

impl Update {
    /// Applies this update to `record` as a store does. A login sets the auth time to
    /// `now`, a logout to anonymous clears it, and a reauthentication of a session with a
    /// user sets it to `now`.
    pub fn apply_to(&self, record: &mut Record) {
        match &self.user {
            UserChange::Keep => {
                if self.reauthenticated && record.user_id.is_some() {
                    record.auth_time = Some(self.now);
                }
            }
            UserChange::Set(user) => {
                record.user_id = Some(user.clone());
                record.auth_time = Some(self.now);
            }
            UserChange::Clear => {
                record.user_id = None;
                record.auth_time = None;
            }
        }
        if let Some(new) = self.lifetime {
            record.lifetime = new.lifetime;
            record.absolute_expires_at = new.absolute_expires_at;
        }
        self.changes.apply(&mut record.data);
        record.id = self.new_id.unwrap_or(self.id);
        record.expires_at = self.expires_at;
        record.updated_at = self.now;
        record.version += 1;
    }
}

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
                user: a.user.then(b.user),
                changes: a.changes.then(&b.changes),
                expires_at: b.expires_at,
                now: b.now,
                reauthenticated: a.reauthenticated || b.reauthenticated,
                lifetime: b.lifetime.or(a.lifetime),
            })),
            (_, insert @ Self::Insert(_)) => Some(insert),
        }
    }
}

/// A logout or revoke-user that D1 did not take: sent to the queue, whose consumer
/// retries it into D1, so it holds even if the client never comes back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Revocation {
    /// Delete one session.
    Session(SessionId),
    /// Delete every session of a user.
    User(String),
}

impl Revocation {
    /// The queue message: `{"revoke": {"session_id" | "user_id": ...}, "at": <unix
    /// seconds>}`.
    #[must_use]
    pub fn message(&self, at: Timestamp) -> Value {
        let target = match self {
            Self::Session(id) => json!({ "session_id": id.to_string() }),
            Self::User(user) => json!({ "user_id": user }),
        };
        json!({ "revoke": target, "at": at.unix() })
    }

    /// The revocation a queue message holds and when it was made, `None` when the
    /// message is not one.
    #[must_use]
    pub fn from_message(message: &Value) -> Option<(Self, Timestamp)> {
        let target = message.get("revoke")?;
        let at = Timestamp::from_unix(message.get("at")?.as_i64()?);
        if let Some(id) = target.get("session_id").and_then(Value::as_str) {
            return id.parse().ok().map(|id| (Self::Session(id), at));
        }
        let user = target.get("user_id").and_then(Value::as_str)?;
        (!user.is_empty()).then(|| (Self::User(user.to_owned()), at))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn revocations_travel_as_queue_messages() {
        let at = Timestamp::from_unix(1_800_000_000);
        let id = SessionId::random();
        for r in [Revocation::Session(id), Revocation::User("ann".into())] {
            assert_eq!(Revocation::from_message(&r.message(at)), Some((r, at)));
        }
        for other in [
            json!({"signal": "session_deleted"}),
            json!({"revoke": {"session_id": "not-an-id"}, "at": 1}),
            json!({"revoke": {"user_id": ""}, "at": 1}),
            json!({"revoke": {"user_id": "ann"}}),
            json!({"revoke": {}, "at": 1}),
        ] {
            assert_eq!(Revocation::from_message(&other), None, "{other}");
        }
    }
}
