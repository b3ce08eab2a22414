//! Time as the core sees it: whole Unix seconds, always passed in by the caller.
//!
//! The core never reads a clock (`SystemTime::now()` does not even work on
//! `wasm32-unknown-unknown`); the edge takes the time from JS `Date.now()` and
//! native tests pick whatever instant they need.

use std::fmt;

/// An instant, in whole seconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// The instant `secs` seconds after the Unix epoch.
    #[must_use]
    pub const fn from_unix(secs: i64) -> Self {
        Self(secs)
    }

    /// The instant `millis` milliseconds after the Unix epoch, rounded down to a second
    /// (the unit of JS `Date.now()`).
    #[must_use]
    pub fn from_unix_millis(millis: f64) -> Self {
        // `as` saturates on out-of-range floats and maps NaN to 0: never a panic.
        Self((millis / 1000.0).floor() as i64)
    }

    /// Seconds since the Unix epoch.
    #[must_use]
    pub const fn unix(self) -> i64 {
        self.0
    }

    /// This instant moved `secs` seconds later (earlier when negative), saturating.
    #[must_use]
    pub const fn plus(self, secs: i64) -> Self {
        Self(self.0.saturating_add(secs))
    }

    /// Seconds from `earlier` to `self` (negative when `earlier` is later).
    #[must_use]
    pub const fn seconds_since(self, earlier: Self) -> i64 {
        self.0.saturating_sub(earlier.0)
    }

    /// RFC 3339 in UTC with a `Z` suffix, e.g. `2026-11-23T23:26:35Z`; the format every
    /// time has when it leaves the worker (headers, signals, admin API).
    #[must_use]
    pub fn to_rfc3339(self) -> String {
        match chrono::DateTime::from_timestamp(self.0, 0) {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            // Outside chrono's range (±262,000 years): clamp rather than panic.
            None if self.0 < 0 => "0000-01-01T00:00:00Z".to_owned(),
            None => "9999-12-31T23:59:59Z".to_owned(),
        }
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_is_utc_with_z() {
        assert_eq!(Timestamp::from_unix(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_unix(1_795_476_395).to_rfc3339(),
            "2026-11-23T23:26:35Z"
        );
    }

    #[test]
    fn out_of_range_times_clamp_instead_of_panicking() {
        assert_eq!(
            Timestamp::from_unix(i64::MAX).to_rfc3339(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp::from_unix(i64::MIN).to_rfc3339(),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(i64::MAX).plus(1),
            Timestamp::from_unix(i64::MAX)
        );
    }

    #[test]
    fn millis_round_down_and_nan_is_safe() {
        assert_eq!(Timestamp::from_unix_millis(1999.9).unix(), 1);
        assert_eq!(Timestamp::from_unix_millis(f64::NAN).unix(), 0);
    }
}
