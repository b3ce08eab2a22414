//! The expiry rules: sliding idle timeout, absolute cap, throttled renewal.

use crate::session::Record;
use crate::time::Timestamp;

/// The expiry rules, from SESSION_TIMEOUT_MINUTES, SESSION_ABSOLUTE_TIMEOUT_MINUTES and
/// SESSION_RENEW_AFTER_SECONDS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// Idle timeout in seconds (> 0).
    pub idle_secs: i64,
    /// Absolute timeout from creation in seconds; 0 = off.
    pub absolute_secs: i64,
    /// Minimum gain, in seconds, before an expiry is renewed (written).
    pub renew_after_secs: i64,
}

impl ExpiryPolicy {
    /// `(expires_at, absolute_expires_at)` of a session created at `now`.
    #[must_use]
    pub fn new_session(&self, now: Timestamp) -> (Timestamp, Option<Timestamp>) {
        let absolute = (self.absolute_secs > 0).then(|| now.plus(self.absolute_secs));
        (cap(now.plus(self.idle_secs), absolute), absolute)
    }

    /// Whether `record` is expired at `now`. A session expiring at T is valid at T-1 and
    /// expired from T on.
    #[must_use]
    pub fn is_expired(&self, record: &Record, now: Timestamp) -> bool {
        now >= record.expires_at || record.absolute_expires_at.is_some_and(|a| now >= a)
    }

    /// The new idle expiry if `record` is due for renewal at `now`, else `None`.
    ///
    /// Renewal slides the expiry to `now + idle` (never past the absolute cap), but only
    /// when that moves it by at least `renew_after_secs`: a busy session costs one write
    /// per `renew_after_secs`, not one per request, and a session at its cap none.
    #[must_use]
    pub fn renewal(&self, record: &Record, now: Timestamp) -> Option<Timestamp> {
        let next = self.renewed(record, now);
        let gain = next.seconds_since(record.expires_at);
        (gain > 0 && gain >= self.renew_after_secs).then_some(next)
    }

    /// The idle expiry `record` gets if renewed at `now`, throttle aside: `now + idle`,
    /// never past the absolute cap.
    #[must_use]
    pub fn renewed(&self, record: &Record, now: Timestamp) -> Timestamp {
        cap(now.plus(self.idle_secs), record.absolute_expires_at)
    }

    /// Seconds from `now` until `expires_at`: the cookie's `Max-Age`.
    #[must_use]
    pub fn max_age(expires_at: Timestamp, now: Timestamp) -> i64 {
        expires_at.seconds_since(now).max(0)
    }
}

fn cap(t: Timestamp, absolute: Option<Timestamp>) -> Timestamp {
    absolute.map_or(t, |a| t.min(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Data, SessionId};

    const POLICY: ExpiryPolicy = ExpiryPolicy {
        idle_secs: 1800,
        absolute_secs: 7200,
        renew_after_secs: 60,
    };

    fn record_at(now: Timestamp) -> Record {
        let (expires_at, absolute_expires_at) = POLICY.new_session(now);
        Record {
            id: SessionId::random(),
            user_id: None,
            data: Data::new(),
            created_at: now,
            expires_at,
            absolute_expires_at,
            updated_at: now,
            version: 1,
            auth_time: None,
        }
    }

    #[test]
    fn idle_expiry_boundary() {
        let t0 = Timestamp::from_unix(1_000_000);
        let r = record_at(t0);
        let t = r.expires_at;
        assert_eq!(t, t0.plus(1800));
        assert!(!POLICY.is_expired(&r, t.plus(-1)));
        assert!(POLICY.is_expired(&r, t));
        assert!(POLICY.is_expired(&r, t.plus(1)));
    }

    #[test]
    fn absolute_expiry_boundary_even_when_idle_is_later() {
        let t0 = Timestamp::from_unix(1_000_000);
        let mut r = record_at(t0);
        let t = t0.plus(7200);
        r.expires_at = t.plus(500); // as if renewed past the cap by an older writer
        assert!(!POLICY.is_expired(&r, t.plus(-1)));
        assert!(POLICY.is_expired(&r, t));
        assert!(POLICY.is_expired(&r, t.plus(1)));
    }

    #[test]
    fn absolute_zero_means_no_cap() {
        let policy = ExpiryPolicy {
            absolute_secs: 0,
            ..POLICY
        };
        let t0 = Timestamp::from_unix(0);
        let (exp, abs) = policy.new_session(t0);
        assert_eq!((exp, abs), (t0.plus(1800), None));
    }

    #[test]
    fn renewal_is_throttled() {
        let t0 = Timestamp::from_unix(1_000_000);
        let r = record_at(t0);
        assert_eq!(POLICY.renewal(&r, t0), None);
        assert_eq!(POLICY.renewal(&r, t0.plus(59)), None);
        assert_eq!(POLICY.renewal(&r, t0.plus(60)), Some(t0.plus(1860)));
        assert_eq!(POLICY.renewal(&r, t0.plus(61)), Some(t0.plus(1861)));
    }

    #[test]
    fn renewal_stops_at_the_absolute_cap() {
        let t0 = Timestamp::from_unix(1_000_000);
        let mut r = record_at(t0);
        // Last renewed 30 s before the cap can be reached: a renewal would gain only 30 s.
        r.expires_at = t0.plus(7200 - 30);
        assert_eq!(POLICY.renewal(&r, t0.plus(7000)), None);
        r.expires_at = t0.plus(7200 - 90);
        assert_eq!(POLICY.renewal(&r, t0.plus(7000)), Some(t0.plus(7200)));
        r.expires_at = t0.plus(7200);
        assert_eq!(POLICY.renewal(&r, t0.plus(7100)), None);
    }

    #[test]
    fn zero_throttle_renews_whenever_time_moved() {
        let policy = ExpiryPolicy {
            renew_after_secs: 0,
            ..POLICY
        };
        let t0 = Timestamp::from_unix(1_000_000);
        let r = record_at(t0);
        assert_eq!(policy.renewal(&r, t0), None);
        assert_eq!(policy.renewal(&r, t0.plus(1)), Some(t0.plus(1801)));
    }
}
