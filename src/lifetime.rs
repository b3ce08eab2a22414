//! A session's own lifetime: what the origin's `X-Session-Lifetime` chose for it.
//!
//! The kind is stored with the session (the `lifetime` column, the cookie store's
//! payload) and read back on every request, so a renewal slides the session by its own
//! idle timeout, and the cookie of a `browser` session never gets a `Max-Age`. The
//! seconds a kind stands for come from the [`crate::expiry::ExpiryPolicy`] of the moment:
//! lowering an operator bound shortens the sessions already out there at their next
//! renewal.

use std::fmt;
use thiserror::Error;

/// The largest number of seconds a lifetime command may name (about 100 years); the
/// operator's bounds clamp far below it. Keeps every sum with a timestamp in range.
const MAX_SECS: i64 = 3_153_600_000;

/// The lifetime of one session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lifetime {
    /// The operator's timeouts (SESSION_TIMEOUT_MINUTES, SESSION_ABSOLUTE_TIMEOUT_MINUTES)
    /// and a cookie with `Max-Age`.
    #[default]
    Default,
    /// The default timeouts, and a cookie without `Max-Age`: it ends when the browser
    /// does, and the server-side idle expiry still applies.
    Browser,
    /// Idle SESSION_REMEMBER_MINUTES, absolute SESSION_MAX_ABSOLUTE_MINUTES.
    Remember,
    /// Timeouts the origin named, in seconds, each within the operator's bounds.
    Custom {
        /// Idle timeout.
        idle_secs: i64,
        /// Absolute timeout from when the command applied; `None`: the default one.
        absolute_secs: Option<i64>,
    },
}

/// Why an `X-Session-Lifetime` value is not a lifetime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum LifetimeError {
    /// Not `browser`, `remember`, `default` or seconds.
    #[error("expected `browser`, `remember`, `default` or `<idle seconds>[,<absolute seconds>]`")]
    Syntax,
    /// A number of seconds that is 0, negative or past 100 years.
    #[error("seconds must be between 1 and 3153600000")]
    Range,
}

impl Lifetime {
    /// Parses the origin's `X-Session-Lifetime` (case-insensitive, spaces around parts
    /// allowed): `browser`, `remember`, `default`, or `<idle>[,<absolute>]` in seconds.
    ///
    /// # Errors
    /// [`LifetimeError::Syntax`] for anything else, [`LifetimeError::Range`] for a
    /// number of seconds outside 1..=100 years.
    pub fn parse(raw: &str) -> Result<Self, LifetimeError> {
        let raw = raw.trim();
        if raw.eq_ignore_ascii_case("browser") {
            return Ok(Self::Browser);
        }
        if raw.eq_ignore_ascii_case("remember") {
            return Ok(Self::Remember);
        }
        if raw.eq_ignore_ascii_case("default") {
            return Ok(Self::Default);
        }
        let (idle, absolute) = match raw.split_once(',') {
            Some((idle, absolute)) => (idle, Some(seconds(absolute)?)),
            None => (raw, None),
        };
        Ok(Self::Custom {
            idle_secs: seconds(idle)?,
            absolute_secs: absolute,
        })
    }

    /// The stored form (the `lifetime` column, the cookie payload): `None` for
    /// [`Lifetime::Default`], so rows and cookies from before lifetimes read as it.
    #[must_use]
    pub fn to_column(self) -> Option<String> {
        (self != Self::Default).then(|| self.to_string())
    }

    /// The lifetime a stored value names; what does not parse is the default (a safe
    /// reading: the operator's own timeouts).
    #[must_use]
    pub fn from_column(stored: Option<&str>) -> Self {
        stored.and_then(|s| Self::parse(s).ok()).unwrap_or_default()
    }

    /// Whether the session's cookie ends with the browser (no `Max-Age`).
    #[must_use]
    pub fn ends_with_browser(self) -> bool {
        self == Self::Browser
    }
}

impl fmt::Display for Lifetime {
    /// `default`, `browser`, `remember`, or `<idle>[,<absolute>]`: what the origin sees
    /// in `X-Session-Lifetime`, in the syntax it sends.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::Browser => f.write_str("browser"),
            Self::Remember => f.write_str("remember"),
            Self::Custom {
                idle_secs,
                absolute_secs: None,
            } => write!(f, "{idle_secs}"),
            Self::Custom {
                idle_secs,
                absolute_secs: Some(a),
            } => write!(f, "{idle_secs},{a}"),
        }
    }
}

fn seconds(raw: &str) -> Result<i64, LifetimeError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 12 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(LifetimeError::Syntax);
    }
    match raw.parse::<i64>() {
        Ok(n) if (1..=MAX_SECS).contains(&n) => Ok(n),
        _ => Err(LifetimeError::Range),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contract_syntax_parses() {
        assert_eq!(Lifetime::parse("browser"), Ok(Lifetime::Browser));
        assert_eq!(Lifetime::parse(" Remember "), Ok(Lifetime::Remember));
        assert_eq!(Lifetime::parse("DEFAULT"), Ok(Lifetime::Default));
        assert_eq!(
            Lifetime::parse("3600"),
            Ok(Lifetime::Custom {
                idle_secs: 3600,
                absolute_secs: None
            })
        );
        assert_eq!(
            Lifetime::parse("3600, 86400"),
            Ok(Lifetime::Custom {
                idle_secs: 3600,
                absolute_secs: Some(86_400)
            })
        );
    }

    #[test]
    fn bad_values_are_errors_not_panics() {
        for bad in [
            "", "forever", "-1", "+5", "1.5", "1,", ",1", "1,2,3", "0x10", "١٢", "1 2",
        ] {
            assert_eq!(Lifetime::parse(bad), Err(LifetimeError::Syntax), "{bad:?}");
        }
        for out in ["0", "3600,0", "3153600001", "999999999999"] {
            assert_eq!(Lifetime::parse(out), Err(LifetimeError::Range), "{out:?}");
        }
        assert_eq!(
            Lifetime::parse("9999999999999"),
            Err(LifetimeError::Syntax),
            "too many digits"
        );
    }

    #[test]
    fn the_stored_form_round_trips_and_defaults_safely() {
        for l in [
            Lifetime::Browser,
            Lifetime::Remember,
            Lifetime::Custom {
                idle_secs: 60,
                absolute_secs: None,
            },
            Lifetime::Custom {
                idle_secs: 60,
                absolute_secs: Some(120),
            },
        ] {
            let stored = l.to_column();
            assert_eq!(Lifetime::from_column(stored.as_deref()), l);
        }
        assert_eq!(Lifetime::Default.to_column(), None);
        assert_eq!(Lifetime::from_column(None), Lifetime::Default);
        assert_eq!(Lifetime::from_column(Some("garbage")), Lifetime::Default);
        assert!(Lifetime::Browser.ends_with_browser());
        assert!(!Lifetime::Remember.ends_with_browser());
    }
}
