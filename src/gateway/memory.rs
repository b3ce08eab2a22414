//! What an isolate remembers of revocations, so the normal path needs no extra D1 read:
//! sessions ended here (refused by the outage fallback afterwards), and per user the
//! "not valid before" time, read from D1 at most once a minute per user (what revokes
//! cookie-store sessions, and older snapshots during an outage). The edge keeps one per
//! isolate; it bounds itself.

use crate::session::SessionId;
use crate::time::Timestamp;
use std::cell::RefCell;
use std::collections::HashMap;

/// How long a user's "not valid before" read from D1 is trusted before it is read again.
pub const USER_TTL_SECS: i64 = 60;
/// Entries kept at most per map (the oldest half is dropped past it).
const MAX_ENTRIES: usize = 10_000;

/// What the memory knows of a user's "not valid before".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// Learned less than a minute ago: the time, or none.
    Fresh(Option<Timestamp>),
    /// Never learned, or too long ago: read D1.
    Stale,
}

/// Revocations this isolate knows of.
#[derive(Debug, Default)]
pub struct Memory {
    /// Sessions ended here, and when.
    ended: RefCell<HashMap<SessionId, Timestamp>>,
    /// Per user: "not valid before" (if any) and when it was read or set.
    users: RefCell<HashMap<String, (Option<Timestamp>, Timestamp)>>,
}

impl Memory {
    /// Remembers that session `id` ended at `now`.
    pub fn ended(&self, id: SessionId, now: Timestamp) {
        bounded_insert(&mut self.ended.borrow_mut(), id, now, |t| *t);
    }

    /// Remembers that `user`'s sessions from before `at` are revoked.
    pub fn revoked_user(&self, user: &str, at: Timestamp) {
        let entry = (Some(at), at);
        bounded_insert(&mut self.users.borrow_mut(), user.to_owned(), entry, |e| {
            e.1
        });
    }

    /// Remembers `user`'s "not valid before" as read from D1 at `now`.
    pub fn learned(&self, user: &str, not_before: Option<Timestamp>, now: Timestamp) {
        bounded_insert(
            &mut self.users.borrow_mut(),
            user.to_owned(),
            (not_before, now),
            |e| e.1,
        );
    }

    /// `user`'s "not valid before", if it was learned less than [`USER_TTL_SECS`] ago.
    #[must_use]
    pub fn user(&self, user: &str, now: Timestamp) -> Known {
        match self.users.borrow().get(user) {
            Some((not_before, at)) if now.seconds_since(*at) < USER_TTL_SECS => {
                Known::Fresh(*not_before)
            }
            _ => Known::Stale,
        }
    }

    /// Whether a session this isolate saw end, or one of a user revoked at or after
    /// `issued_at`,
    /// is refused (checked only where D1 cannot be asked: the outage fallback).
    #[must_use]
    pub fn refuses(&self, id: SessionId, user: Option<&str>, issued_at: Timestamp) -> bool {
        if self.ended.borrow().contains_key(&id) {
            return true;
        }
        let users = self.users.borrow();
        let revoked = user.and_then(|u| users.get(u)).and_then(|(t, _)| *t);
        // Times are whole seconds: one issued in the revocation's second is refused too.
        revoked.is_some_and(|t| issued_at <= t)
    }
}

/// Inserts, dropping the older half (by `when`, counted: equal times cannot empty the
/// map) first when the map is full.
fn bounded_insert<K: std::hash::Hash + Eq + Clone, V>(
    map: &mut HashMap<K, V>,
    key: K,
    value: V,
    when: impl Fn(&V) -> Timestamp,
) {
    if map.len() >= MAX_ENTRIES && !map.contains_key(&key) {
        let mut by_age: Vec<(Timestamp, K)> =
            map.iter().map(|(k, v)| (when(v), k.clone())).collect();
        by_age.sort_unstable_by_key(|(t, _)| *t);
        for (_, old) in by_age.into_iter().take(MAX_ENTRIES / 2) {
            map.remove(&old);
        }
    }
    map.insert(key, value);
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp::from_unix(1_800_000_000);

    #[test]
    fn remembers_ended_sessions_and_user_times() {
        let m = Memory::default();
        let id = SessionId::random();
        assert!(!m.refuses(id, Some("ann"), T));
        m.ended(id, T);
        assert!(m.refuses(id, None, T.plus(100)));
        m.revoked_user("ann", T.plus(10));
        let other = SessionId::random();
        assert!(
            m.refuses(other, Some("ann"), T.plus(9)),
            "issued before the revocation"
        );
        assert!(
            m.refuses(other, Some("ann"), T.plus(10)),
            "or in its second"
        );
        assert!(
            !m.refuses(other, Some("ann"), T.plus(11)),
            "issued after it"
        );
        assert_eq!(
            m.user("ann", T.plus(10 + 59)),
            Known::Fresh(Some(T.plus(10)))
        );
        assert_eq!(
            m.user("ann", T.plus(10 + 60)),
            Known::Stale,
            "read again after a minute"
        );
        m.learned("bo", None, T);
        assert_eq!(m.user("bo", T), Known::Fresh(None));
    }

    #[test]
    fn stays_bounded_and_keeps_the_newest() {
        let m = Memory::default();
        for i in 0..(MAX_ENTRIES as i64 + 10) {
            m.ended(SessionId::random(), T.plus(i));
        }
        assert!(m.ended.borrow().len() <= MAX_ENTRIES);
        assert!(m.ended.borrow().len() > MAX_ENTRIES / 3);
        // A flood in one second cannot wipe what is remembered.
        let flood = Memory::default();
        let kept = SessionId::random();
        flood.ended(kept, T);
        for _ in 0..MAX_ENTRIES + 10 {
            flood.ended(SessionId::random(), T);
        }
        assert!(
            flood.ended.borrow().len() > MAX_ENTRIES / 3,
            "never emptied"
        );
    }
}
