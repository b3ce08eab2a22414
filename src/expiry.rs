//! The expiry rules: sliding idle timeout, absolute cap, throttled renewal, and the
//! per-session lifetimes the origin may choose within the operator's bounds.

use crate::lifetime::Lifetime;
use crate::session::Record;
use crate::time::Timestamp;

/// The shortest idle timeout a custom lifetime gets, in seconds.
pub const MIN_CUSTOM_IDLE_SECS: i64 = 60;

/// The expiry rules, from SESSION_TIMEOUT_MINUTES, SESSION_ABSOLUTE_TIMEOUT_MINUTES,
/// SESSION_RENEW_AFTER_SECONDS, SESSION_REMEMBER_MINUTES, SESSION_MAX_IDLE_MINUTES and
/// SESSION_MAX_ABSOLUTE_MINUTES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExpiryPolicy {
    /// Idle timeout in seconds (> 0).
    pub idle_secs: i64,
    /// Absolute timeout from creation in seconds; 0 = off.
    pub absolute_secs: i64,
    /// Minimum gain, in seconds, before an expiry is renewed (written).
    pub renew_after_secs: i64,
    /// Idle timeout of a `remember` session, in seconds.
    pub remember_secs: i64,
    /// The longest idle timeout a lifetime command gets, in seconds.
    pub max_idle_secs: i64,
    /// The longest absolute timeout a lifetime command gets, in seconds (also what a
    /// `remember` session gets); 0 = no bound.
    pub max_absolute_secs: i64,
}

impl ExpiryPolicy {
    /// The policy with these timeouts and no lifetime beyond them: `remember` and the
    /// bounds are the default timeouts.
    #[must_use]
    pub const fn fixed(idle_secs: i64, absolute_secs: i64, renew_after_secs: i64) -> Self {
        Self {
            idle_secs,
            absolute_secs,
            renew_after_secs,
            remember_secs: idle_secs,
            max_idle_secs: idle_secs,
            max_absolute_secs: absolute_secs,
        }
    }

    /// `(expires_at, absolute_expires_at)` of a session created at `now`.
    #[must_use]
    pub fn new_session(&self, now: Timestamp) -> (Timestamp, Option<Timestamp>) {
        self.start(Lifetime::Default, now)
    }

    /// `(expires_at, absolute_expires_at)` of a session whose `lifetime` starts at `now`
    /// (created, or given a lifetime by the origin): both timers run from `now`.
    #[must_use]
    pub fn start(&self, lifetime: Lifetime, now: Timestamp) -> (Timestamp, Option<Timestamp>) {
        self.start_at(lifetime, now, now)
    }

    /// `(expires_at, absolute_expires_at)` of a session given `lifetime` at `now` whose
    /// absolute timer runs from `anchor` (its login, or its creation): the idle timer
    /// restarts, the absolute one never does without a login, so re-sending a lifetime
    /// cannot keep a session alive past its cap.
    #[must_use]
    pub fn start_at(
        &self,
        lifetime: Lifetime,
        anchor: Timestamp,
        now: Timestamp,
    ) -> (Timestamp, Option<Timestamp>) {
        let absolute_secs = self.absolute_of(lifetime);
        let absolute = (absolute_secs > 0).then(|| anchor.plus(absolute_secs));
        (cap(now.plus(self.idle_of(lifetime)), absolute), absolute)
    }

    /// The idle timeout of a session with `lifetime`, in seconds, within the bounds; a
    /// custom one is at least [`MIN_CUSTOM_IDLE_SECS`] (shorter would cost a renewal
    /// write on nearly every request).
    #[must_use]
    pub fn idle_of(&self, lifetime: Lifetime) -> i64 {
        match lifetime {
            Lifetime::Default | Lifetime::Browser => self.idle_secs,
            Lifetime::Remember => self.remember_secs.min(self.max_idle_secs),
            Lifetime::Custom { idle_secs, .. } => idle_secs
                .max(MIN_CUSTOM_IDLE_SECS)
                .min(self.max_idle_secs.max(MIN_CUSTOM_IDLE_SECS)),
        }
    }

    /// The absolute timeout of a session with `lifetime`, in seconds (0 = none), within
    /// the bounds: a custom one without its own is the default one; `remember` is the
    /// bound, or the default one when there is no bound (never none).
    #[must_use]
    pub fn absolute_of(&self, lifetime: Lifetime) -> i64 {
        let bound = |secs: i64| match (self.max_absolute_secs, secs) {
            (0, secs) => secs,
            (max, 0) => max,
            (max, secs) => secs.min(max),
        };
        match lifetime {
            Lifetime::Default | Lifetime::Browser => self.absolute_secs,
            Lifetime::Remember if self.max_absolute_secs > 0 => self.max_absolute_secs,
            Lifetime::Remember => self.absolute_secs,
            Lifetime::Custom { absolute_secs, .. } => {
                bound(absolute_secs.unwrap_or(self.absolute_secs))
            }
        }
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
        // A session's own idle timeout may be shorter than the throttle: renew it at
        // half of it at the latest, or it would expire between renewals.
        let throttle = self.renew_after_secs.min(self.idle_of(record.lifetime) / 2);
        (gain > 0 && gain >= throttle).then_some(next)
    }

    /// The idle expiry `record` gets if renewed at `now`, throttle aside: `now` plus its
    /// own idle timeout, never past the absolute cap.
    #[must_use]
    pub fn renewed(&self, record: &Record, now: Timestamp) -> Timestamp {
        cap(
            now.plus(self.idle_of(record.lifetime)),
            record.absolute_expires_at,
        )
    }

    /// Seconds from `now` until `expires_at`: the cookie's `Max-Age`.
    #[must_use]
    pub fn max_age(expires_at: Timestamp, now: Timestamp) -> i64 {
        expires_at.seconds_since(now).max(0)
    }

    /// The `Max-Age` of `record`'s cookie at `now`; `None` for a session that ends with
    /// the browser.
    #[must_use]
    pub fn cookie_max_age(record: &Record, now: Timestamp) -> Option<i64> {
        (!record.lifetime.ends_with_browser()).then(|| Self::max_age(record.expires_at, now))
    }
}

fn cap(t: Timestamp, absolute: Option<Timestamp>) -> Timestamp {
    absolute.map_or(t, |a| t.min(a))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::{Data, SessionId};

    const POLICY: ExpiryPolicy = ExpiryPolicy::fixed(1800, 7200, 60);

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
            lifetime: Lifetime::Default,
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

    /// Default 30 min idle and 2 h absolute; remember 1 day, bounds 2 days idle and
    /// 7 days absolute.
    const BOUNDED: ExpiryPolicy = ExpiryPolicy {
        remember_secs: 86_400,
        max_idle_secs: 172_800,
        max_absolute_secs: 604_800,
        ..POLICY
    };

    #[test]
    fn remember_outlives_the_default_and_stops_at_its_absolute_cap() {
        let t0 = Timestamp::from_unix(1_000_000);
        let (exp, abs) = BOUNDED.start(Lifetime::Remember, t0);
        assert_eq!((exp, abs), (t0.plus(86_400), Some(t0.plus(604_800))));
        let mut r = record_at(t0);
        (r.expires_at, r.absolute_expires_at, r.lifetime) = (exp, abs, Lifetime::Remember);
        // Renewed by its own idle timeout, a day past the default's 2 h cap...
        let later = t0.plus(86_000);
        assert_eq!(BOUNDED.renewal(&r, later), Some(later.plus(86_400)));
        // ...and never past its own absolute cap.
        r.expires_at = t0.plus(604_000);
        assert_eq!(BOUNDED.renewed(&r, t0.plus(600_000)), t0.plus(604_800));
        assert!(BOUNDED.is_expired(&r, t0.plus(604_800)));
    }

    #[test]
    fn custom_lifetimes_stay_within_the_bounds() {
        let t0 = Timestamp::from_unix(0);
        let custom = |idle_secs, absolute_secs| Lifetime::Custom {
            idle_secs,
            absolute_secs,
        };
        assert_eq!(
            BOUNDED.start(custom(600, Some(3600)), t0),
            (t0.plus(600), Some(t0.plus(3600)))
        );
        // Over the bounds: clamped to them.
        assert_eq!(
            BOUNDED.start(custom(999_999, Some(9_999_999)), t0),
            (t0.plus(172_800), Some(t0.plus(604_800)))
        );
        // No absolute named: the default one.
        assert_eq!(BOUNDED.absolute_of(custom(600, None)), 7200);
        // No absolute bound: what was asked; no default absolute either: none.
        let unbounded = ExpiryPolicy {
            max_absolute_secs: 0,
            absolute_secs: 0,
            ..BOUNDED
        };
        assert_eq!(unbounded.start(custom(600, None), t0), (t0.plus(600), None));
        assert_eq!(unbounded.absolute_of(custom(600, Some(5))), 5);
        // A bound but no default absolute: the bound.
        let capped = ExpiryPolicy {
            absolute_secs: 0,
            ..BOUNDED
        };
        assert_eq!(capped.absolute_of(custom(600, None)), 604_800);
        assert_eq!(capped.absolute_of(Lifetime::Default), 0);
    }

    #[test]
    fn browser_sessions_keep_the_default_timeouts_and_drop_max_age() {
        let t0 = Timestamp::from_unix(0);
        assert_eq!(
            BOUNDED.start(Lifetime::Browser, t0),
            BOUNDED.new_session(t0)
        );
        let mut r = record_at(t0);
        assert_eq!(ExpiryPolicy::cookie_max_age(&r, t0.plus(100)), Some(1700));
        r.lifetime = Lifetime::Browser;
        assert_eq!(ExpiryPolicy::cookie_max_age(&r, t0.plus(100)), None);
        assert!(
            POLICY.is_expired(&r, r.expires_at),
            "still expires server-side"
        );
    }

    #[test]
    fn remember_without_a_bound_keeps_the_default_cap_and_custom_idles_have_a_floor() {
        let unbounded = ExpiryPolicy {
            max_absolute_secs: 0,
            ..BOUNDED
        };
        assert_eq!(
            unbounded.absolute_of(Lifetime::Remember),
            7200,
            "never none"
        );
        let custom = |idle_secs| Lifetime::Custom {
            idle_secs,
            absolute_secs: None,
        };
        assert_eq!(BOUNDED.idle_of(custom(1)), MIN_CUSTOM_IDLE_SECS);
        assert_eq!(BOUNDED.idle_of(custom(90)), 90);
        let t0 = Timestamp::from_unix(0);
        assert_eq!(
            BOUNDED.start_at(Lifetime::Remember, t0, t0.plus(500)),
            (t0.plus(500 + 86_400), Some(t0.plus(604_800))),
            "the idle timer from now, the cap from the anchor"
        );
    }

    #[test]
    fn a_short_lifetime_is_renewed_before_it_runs_out() {
        let t0 = Timestamp::from_unix(0);
        let policy = ExpiryPolicy {
            renew_after_secs: 600,
            ..BOUNDED
        };
        let mut r = record_at(t0);
        r.lifetime = Lifetime::Custom {
            idle_secs: 120,
            absolute_secs: None,
        };
        r.expires_at = t0.plus(120);
        assert_eq!(policy.renewal(&r, t0.plus(59)), None);
        assert_eq!(policy.renewal(&r, t0.plus(60)), Some(t0.plus(180)));
    }
}
