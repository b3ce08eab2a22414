//! An in-memory store: for tests and for apps that want sessions without persistence.

use super::{Listed, Store, StoreError, Update, UserChange};
use crate::session::{Record, SessionId};
use crate::time::Timestamp;
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

/// Sessions in a `HashMap`, lost with the isolate.
#[derive(Debug, Default)]
pub struct MemoryStore {
    rows: RefCell<HashMap<SessionId, Record>>,
    /// Ids of sessions that ended (deleted or moved): never inserted again.
    ended: RefCell<HashSet<SessionId>>,
    /// Per user, when sessions stop being valid.
    not_before: RefCell<HashMap<String, Timestamp>>,
}

impl MemoryStore {
    /// An empty store.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }
}

impl Store for MemoryStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        Ok(self.rows.borrow().get(id).cloned())
    }

    async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        let user_revoked = record.user_id.as_ref().is_some_and(|u| {
            self.not_before
                .borrow()
                .get(u)
                .is_some_and(|t| *t >= record.created_at)
        });
        if self.ended.borrow().contains(&record.id) || user_revoked {
            return Err(StoreError::Revoked(record.id));
        }
        let mut rows = self.rows.borrow_mut();
        if rows.contains_key(&record.id) {
            return Err(StoreError::Backend(format!(
                "session {} already exists",
                record.id
            )));
        }
        rows.insert(record.id, record.clone());
        Ok(())
    }

    async fn update(&self, u: &Update) -> Result<bool, StoreError> {
        let mut rows = self.rows.borrow_mut();
        if let Some(new_id) = u.new_id.filter(|n| *n != u.id) {
            if rows.contains_key(&new_id) {
                return Err(StoreError::Backend(format!(
                    "session {new_id} already exists"
                )));
            }
        }
        if let UserChange::Set(user) = &u.user {
            if self
                .not_before
                .borrow()
                .get(user)
                .is_some_and(|t| *t >= u.now)
            {
                return Ok(false);
            }
        }
        let Some(mut r) = rows.remove(&u.id) else {
            return Ok(false);
        };
        if u.new_id.is_some_and(|n| n != u.id) {
            self.ended.borrow_mut().insert(u.id);
        }
        u.apply_to(&mut r);
        rows.insert(r.id, r);
        Ok(true)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.ended.borrow_mut().insert(*id);
        Ok(self.rows.borrow_mut().remove(id).is_some())
    }

    async fn delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        let mut rows = self.rows.borrow_mut();
        let mut ended = self.ended.borrow_mut();
        let before = rows.len();
        rows.retain(|id, r| {
            let keep = r.user_id.as_deref() != Some(user_id);
            if !keep {
                ended.insert(*id);
            }
            keep
        });
        Ok((before - rows.len()) as u64)
    }

    async fn not_before(&self, user_id: &str) -> Result<Option<Timestamp>, StoreError> {
        Ok(self.not_before.borrow().get(user_id).copied())
    }

    async fn list_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Listed>, StoreError> {
        let mut live: Vec<Record> = self
            .rows
            .borrow()
            .values()
            .filter(|r| r.user_id.as_deref() == Some(user_id) && r.expires_at > now)
            .filter(|r| r.absolute_expires_at.is_none_or(|a| a > now))
            .cloned()
            .collect();
        live.sort_by(|a, b| {
            b.created_at
                .cmp(&a.created_at)
                .then(a.id.to_string().cmp(&b.id.to_string()))
        });
        live.truncate(100);
        Ok(live.into_iter().map(Listed::from).collect())
    }

    async fn evict(
        &self,
        user_id: &str,
        except: &SessionId,
        keep: u32,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        // Only once the login landed: `except` is the user's (as the SQL checks).
        let landed =
            self.rows.borrow().get(except).map(|r| r.user_id.as_deref()) == Some(Some(user_id));
        if !landed {
            return Ok(Vec::new());
        }
        // Insertion order is creation order here (a login keeps `created_at`).
        let mut live: Vec<(Timestamp, String, SessionId)> = self
            .rows
            .borrow()
            .values()
            .filter(|r| r.user_id.as_deref() == Some(user_id) && r.id != *except)
            .filter(|r| r.expires_at > now && r.absolute_expires_at.is_none_or(|a| a > now))
            .map(|r| (r.created_at, r.id.to_string(), r.id))
            .collect();
        live.sort();
        let beyond = live.len().saturating_sub(keep as usize);
        let mut evicted = Vec::with_capacity(beyond);
        for (_, _, id) in live.into_iter().take(beyond) {
            self.delete(&id).await?;
            evicted.push(id);
        }
        Ok(evicted)
    }

    async fn revoke_before(&self, user_id: &str, at: Timestamp) -> Result<(), StoreError> {
        let mut times = self.not_before.borrow_mut();
        let t = times.entry(user_id.to_owned()).or_insert(at);
        *t = (*t).max(at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryStore;
    use crate::store::conformance::{conformance_tests, Caps};

    conformance_tests!(MemoryStore::new, Caps::DATABASE);
}
