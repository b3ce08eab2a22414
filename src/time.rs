//! Time as the core sees it: whole Unix seconds, always passed in by the caller.
//!
//! The core never reads a clock (`SystemTime::now()` does not even work on
//! `wasm32-unknown-unknown`); the edge takes the time from JS `Date.now()` and
//! native tests pick whatever instant they need.
//!
//! RFC 3339 is formatted and parsed here by hand (proleptic Gregorian calendar, days
//! from the epoch by Howard Hinnant's `civil_from_days` / `days_from_civil`), with the
//! exact output and acceptance of chrono 0.4's `to_rfc3339_opts(Secs, true)` and
//! `parse_from_rfc3339`, which it replaced: chrono cost the wasm about 5 KB raw.

use std::fmt;
use std::str::FromStr;

/// An instant, in whole seconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

/// A string that is not an RFC 3339 date-time (see [`Timestamp::from_str`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NotRfc3339;

impl fmt::Display for NotRfc3339 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("not an RFC 3339 date-time")
    }
}

impl std::error::Error for NotRfc3339 {}

const SECS_PER_DAY: i64 = 86_400;
/// The years chrono could represent; instants outside clamp (see `to_rfc3339`).
const MIN_YEAR: i64 = -262_143;
const MAX_YEAR: i64 = 262_142;

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
    /// time has when it leaves the worker (headers, signals, admin API). Years past 9999
    /// or before 0 carry a sign (`+10000-01-01T00:00:00Z`, ISO 8601); beyond ±262,000
    /// years the text clamps to `0000-01-01T00:00:00Z` / `9999-12-31T23:59:59Z`.
    #[must_use]
    pub fn to_rfc3339(self) -> String {
        let days = self.0.div_euclid(SECS_PER_DAY);
        let secs = self.0.rem_euclid(SECS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if year < MIN_YEAR {
            return "0000-01-01T00:00:00Z".to_owned();
        }
        if year > MAX_YEAR {
            return "9999-12-31T23:59:59Z".to_owned();
        }
        let mut out = Vec::with_capacity(20);
        if (0..=9999).contains(&year) {
            digits(&mut out, year.unsigned_abs(), 4);
        } else {
            out.push(if year < 0 { b'-' } else { b'+' });
            digits(&mut out, year.unsigned_abs(), 4);
        }
        for (sep, n) in [
            (b'-', month),
            (b'-', day),
            (b'T', secs / 3600),
            (b':', secs / 60 % 60),
            (b':', secs % 60),
        ] {
            out.push(sep);
            digits(&mut out, n.unsigned_abs(), 2);
        }
        out.push(b'Z');
        // Only ASCII digits and separators were pushed.
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Pushes `n` in decimal, zero-padded to at least `width` digits.
fn digits(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    let start = i.min(buf.len().saturating_sub(width));
    out.extend_from_slice(&buf[start..]);
}

/// `(year, month 1-12, day 1-31)` of the day `days` after 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    // Shifted so that the 400-year era starts on 0000-03-01; `days` is at most
    // i64::MAX / 86,400, far from overflowing here.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11], March first
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days from 1970-01-01 to `year-month-day` (a valid date).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// The value of the ASCII digits `b` (all of them must be digits).
fn number(b: &[u8]) -> Result<i64, NotRfc3339> {
    b.iter().try_fold(0, |n, &c| match c {
        b'0'..=b'9' => Ok(n * 10 + i64::from(c - b'0')),
        _ => Err(NotRfc3339),
    })
}

impl FromStr for Timestamp {
    type Err = NotRfc3339;

    /// Parses an RFC 3339 date-time with any offset, e.g. `2026-11-23T23:26:35Z` or
    /// `2026-11-24T00:26:35.5+01:00`, into the instant it names (fractions of a
    /// second dropped). Accepted as chrono 0.4's `parse_from_rfc3339` did: a four-digit
    /// year, `T`, `t` or a space between date and time, second 60 (a leap second, read
    /// as 59), any number of fraction digits, `Z`, `z` or an offset under 24 hours
    /// (`+hh:mm`, `-hh:mm`, or U+2212 as the minus).
    ///
    /// # Errors
    /// [`NotRfc3339`] for anything else: a wrong length or separator, a non-digit, a
    /// date that does not exist (Feb 29 of a common year), an hour over 23, a minute over
    /// 59, a second over 60, trailing text.
    fn from_str(s: &str) -> Result<Self, NotRfc3339> {
        let b = s.as_bytes();
        let (head, rest) = b.split_at_checked(19).ok_or(NotRfc3339)?;
        let sep = |i: usize, ok: &[u8]| match head.get(i) {
            Some(c) if ok.contains(c) => Ok(()),
            _ => Err(NotRfc3339),
        };
        let field = |from: usize, to: usize| head.get(from..to).ok_or(NotRfc3339).and_then(number);
        let (year, month, day) = (field(0, 4)?, field(5, 7)?, field(8, 10)?);
        let (hour, minute, second) = (field(11, 13)?, field(14, 16)?, field(17, 19)?);
        sep(4, b"-")?;
        sep(7, b"-")?;
        sep(10, b"Tt ")?;
        sep(13, b":")?;
        sep(16, b":")?;
        if !(1..=12).contains(&month) || !(1..=days_in_month(year, month)).contains(&day) {
            return Err(NotRfc3339);
        }
        // 60 is a leap second: chrono reads it as 59 plus a second of nanoseconds, and
        // whole seconds drop those.
        let second = if second == 60 { 59 } else { second };
        if hour > 23 || minute > 59 || second > 59 {
            return Err(NotRfc3339);
        }
        let rest = match rest.split_first() {
            Some((b'.', fraction)) => {
                let digits = fraction.iter().take_while(|c| c.is_ascii_digit()).count();
                if digits == 0 {
                    return Err(NotRfc3339);
                }
                fraction.get(digits..).ok_or(NotRfc3339)?
            }
            _ => rest,
        };
        let offset = offset(rest)?;
        let local =
            days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second;
        Ok(Self(local - offset))
    }
}

/// The offset `Z`, `z` or `±hh:mm` (U+2212 also a minus) that must end the text, in
/// seconds east of UTC.
fn offset(b: &[u8]) -> Result<i64, NotRfc3339> {
    let (sign, hhmm) = match b {
        [b'Z' | b'z'] => return Ok(0),
        [b'+', hhmm @ ..] => (1, hhmm),
        [b'-', hhmm @ ..] => (-1, hhmm),
        [0xE2, 0x88, 0x92, hhmm @ ..] => (-1, hhmm),
        _ => return Err(NotRfc3339),
    };
    let [h1, h2, b':', m1 @ b'0'..=b'5', m2] = *hhmm else {
        return Err(NotRfc3339);
    };
    let (hours, minutes) = (number(&[h1, h2])?, number(&[m1, m2])?);
    let secs = hours * 3600 + minutes * 60;
    // chrono's FixedOffset takes less than a day either way.
    if secs >= SECS_PER_DAY {
        return Err(NotRfc3339);
    }
    Ok(sign * secs)
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<i64, NotRfc3339> {
        s.parse::<Timestamp>().map(Timestamp::unix)
    }

    #[test]
    fn rfc3339_is_utc_with_z() {
        assert_eq!(Timestamp::from_unix(0).to_rfc3339(), "1970-01-01T00:00:00Z");
        assert_eq!(
            Timestamp::from_unix(1_795_476_395).to_rfc3339(),
            "2026-11-23T23:26:35Z"
        );
        assert_eq!(
            Timestamp::from_unix(-1).to_rfc3339(),
            "1969-12-31T23:59:59Z"
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
    fn years_outside_four_digits_carry_a_sign() {
        // 9999-12-31T23:59:59Z and the second after it.
        assert_eq!(
            Timestamp::from_unix(253_402_300_799).to_rfc3339(),
            "9999-12-31T23:59:59Z"
        );
        assert_eq!(
            Timestamp::from_unix(253_402_300_800).to_rfc3339(),
            "+10000-01-01T00:00:00Z"
        );
        // 0000-01-01T00:00:00Z and the second before it.
        assert_eq!(
            Timestamp::from_unix(-62_167_219_200).to_rfc3339(),
            "0000-01-01T00:00:00Z"
        );
        assert_eq!(
            Timestamp::from_unix(-62_167_219_201).to_rfc3339(),
            "-0001-12-31T23:59:59Z"
        );
    }

    #[test]
    fn leap_years_follow_the_gregorian_rule() {
        assert_eq!(parse("2024-02-29T12:00:00Z"), Ok(1_709_208_000));
        assert_eq!(
            Timestamp::from_unix(1_709_208_000).to_rfc3339(),
            "2024-02-29T12:00:00Z"
        );
        assert_eq!(parse("2000-02-29T00:00:00Z"), Ok(951_782_400));
        assert_eq!(parse("2100-02-29T00:00:00Z"), Err(NotRfc3339));
        assert_eq!(parse("2023-02-29T00:00:00Z"), Err(NotRfc3339));
        assert_eq!(parse("2023-04-31T00:00:00Z"), Err(NotRfc3339));
        assert_eq!(parse("2023-12-31T00:00:00Z"), Ok(1_703_980_800));
        // The day after Feb 28 of a century that is not a leap year is Mar 1.
        assert_eq!(
            Timestamp::from_unix(parse("2100-02-28T00:00:00Z").unwrap() + 86_400).to_rfc3339(),
            "2100-03-01T00:00:00Z"
        );
    }

    #[test]
    fn parses_offsets_fractions_and_the_leap_second() {
        let t = 1_795_476_395;
        assert_eq!(parse("2026-11-23T23:26:35Z"), Ok(t));
        assert_eq!(parse("2026-11-23t23:26:35z"), Ok(t));
        assert_eq!(parse("2026-11-23 23:26:35Z"), Ok(t));
        assert_eq!(parse("2026-11-24T00:26:35+01:00"), Ok(t));
        assert_eq!(parse("2026-11-23T22:26:35-01:00"), Ok(t));
        assert_eq!(parse("2026-11-23T22:26:35\u{2212}01:00"), Ok(t));
        assert_eq!(parse("2026-11-23T23:26:35.999999999999Z"), Ok(t));
        assert_eq!(parse("2026-11-23T23:26:35.1+00:00"), Ok(t));
        assert_eq!(parse("2016-12-31T23:59:60Z"), parse("2016-12-31T23:59:59Z"));
        assert_eq!(parse("9999-12-31T23:59:59Z"), Ok(253_402_300_799));
        assert_eq!(parse("0000-01-01T00:00:00Z"), Ok(-62_167_219_200));
        assert_eq!(
            parse("0000-01-01T00:00:00+23:59"),
            Ok(-62_167_219_200 - 86_340)
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bad in [
            "",
            "2026",
            "2026-11-23T23:26:35",
            "2026-11-23T23:26:35Y",
            "2026-11-23T23:26:35Z ",
            "2026-11-23T23:26:35.Z",
            "2026-11-23T23:26:35+01",
            "2026-11-23T23:26:35+0100",
            "2026-11-23T23:26:35+01:60",
            "2026-11-23T23:26:35+24:00",
            "2026-11-23T23:26:35+1:00",
            "2026-13-01T00:00:00Z",
            "2026-00-01T00:00:00Z",
            "2026-01-00T00:00:00Z",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:60:00Z",
            "2026-01-01T00:00:61Z",
            "2026/01/01T00:00:00Z",
            "2026-01-01X00:00:00Z",
            "+2026-01-01T00:00:00Z",
            "-001-01-01T00:00:00Z",
            "+10000-01-01T00:00:00Z",
            "2026-01-01T00:00:00\u{e9}",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
            "20x6-01-01T00:00:00Z",
        ] {
            assert_eq!(parse(bad), Err(NotRfc3339), "{bad:?}");
        }
    }

    #[test]
    fn millis_round_down_and_nan_is_safe() {
        assert_eq!(Timestamp::from_unix_millis(1999.9).unix(), 1);
        assert_eq!(Timestamp::from_unix_millis(f64::NAN).unix(), 0);
    }

    /// chrono 0.4 (a dev-dependency now), whose behaviour this module keeps.
    fn chrono_format(secs: i64) -> String {
        match chrono::DateTime::from_timestamp(secs, 0) {
            Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            None if secs < 0 => "0000-01-01T00:00:00Z".to_owned(),
            None => "9999-12-31T23:59:59Z".to_owned(),
        }
    }

    fn chrono_parse(s: &str) -> Option<i64> {
        chrono::DateTime::parse_from_rfc3339(s)
            .ok()
            .map(|t| t.timestamp())
    }

    /// Strings near the format: valid ones, then one byte replaced by a character that
    /// often matters (digits, separators, signs, letters, a multi-byte char).
    fn near_rfc3339() -> impl Strategy<Value = String> {
        let valid = (
            0..=9999i64,
            1..=12i64,
            1..=31i64,
            0..=24i64,
            0..=60i64,
            0..=61i64,
            prop::option::of("[0-9]{0,12}"),
            prop_oneof![
                Just("Z".to_owned()),
                Just("z".to_owned()),
                "[-+\u{2212}][0-9]{2}:[0-9]{2}",
            ],
            prop::sample::select(vec!['T', 't', ' ']),
        )
            .prop_map(|(y, mo, d, h, mi, s, frac, off, sep)| {
                let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
                format!("{y:04}-{mo:02}-{d:02}{sep}{h:02}:{mi:02}:{s:02}{frac}{off}")
            });
        let mutation = prop::option::of((
            any::<prop::sample::Index>(),
            prop::sample::select(vec![
                "0", "9", "-", ":", "T", "Z", "+", ".", " ", "x", "\u{e9}", "",
            ]),
        ));
        (valid, mutation).prop_map(|(s, mutation)| {
            let Some((at, with)) = mutation else {
                return s;
            };
            let chars: Vec<char> = s.chars().collect();
            let i = at.index(chars.len() + 1);
            let mut out: String = chars.iter().take(i).collect();
            out.push_str(with);
            out.extend(chars.iter().skip(i + 1));
            out
        })
    }

    proptest! {
        #[test]
        fn formats_as_chrono_did(secs in any::<i64>()) {
            prop_assert_eq!(Timestamp::from_unix(secs).to_rfc3339(), chrono_format(secs));
        }

        #[test]
        fn formats_as_chrono_did_within_ten_thousand_years(
            secs in -62_167_219_200i64 * 2..=253_402_300_799 * 2
        ) {
            prop_assert_eq!(Timestamp::from_unix(secs).to_rfc3339(), chrono_format(secs));
        }

        #[test]
        fn round_trips_from_year_0_to_9999(secs in -62_167_219_200i64..=253_402_300_799) {
            let text = Timestamp::from_unix(secs).to_rfc3339();
            prop_assert_eq!(parse(&text), Ok(secs));
        }

        #[test]
        fn parses_as_chrono_did(s in near_rfc3339()) {
            prop_assert_eq!(parse(&s).ok(), chrono_parse(&s), "{:?}", s);
        }

        #[test]
        fn random_text_never_panics(s in "\\PC{0,40}") {
            prop_assert_eq!(parse(&s).ok(), chrono_parse(&s));
        }
    }
}
