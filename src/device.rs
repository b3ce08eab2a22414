//! Where a session is used from, as lists show it: a bounded User-Agent, the coarse
//! location Cloudflare gives the request, and the client's network, never its address.
//!
//! Recorded on the writes a session has anyway (its insert, renewals, login), so it
//! costs no write of its own; the time of the last of them is "last seen".

use serde::{Deserialize, Serialize};

/// The longest User-Agent kept, in characters (real ones are under 200; the rest is
/// padding or abuse).
pub const MAX_USER_AGENT: usize = 256;
/// The longest city name kept, in characters.
const MAX_CITY: usize = 64;

/// A request's device context. Every field is optional: a request may lack any of them,
/// and rows from before it was recorded have none.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    /// The User-Agent, control characters dropped, at most [`MAX_USER_AGENT`] characters.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<String>,
    /// ISO 3166 country code (`cf.country`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// City (`cf.city`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub city: Option<String>,
    /// The Cloudflare data center that served the request (`cf.colo`, an IATA code).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub colo: Option<String>,
    /// The client's autonomous system number (`cf.asn`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asn: Option<u32>,
    /// The client's network: its IPv4 /24 or IPv6 /48, never the address itself.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
}

/// The request fields a [`Device`] is made from, as the runtime gives them.
#[derive(Debug, Clone, Copy, Default)]
pub struct Seen<'a> {
    /// `User-Agent`.
    pub user_agent: Option<&'a str>,
    /// `CF-Connecting-IP`.
    pub client_ip: Option<&'a str>,
    /// `cf.country`.
    pub country: Option<&'a str>,
    /// `cf.city`.
    pub city: Option<&'a str>,
    /// `cf.colo`.
    pub colo: Option<&'a str>,
    /// `cf.asn`.
    pub asn: Option<f64>,
}

impl Device {
    /// The device context of a request, each field bounded and checked; what does not
    /// look like its kind is left out.
    #[must_use]
    pub fn from_request(seen: &Seen<'_>) -> Self {
        Self {
            user_agent: seen.user_agent.and_then(|ua| clean(ua, MAX_USER_AGENT)),
            country: seen.country.and_then(|c| code(c, 2, 2)),
            city: seen.city.and_then(|c| clean(c, MAX_CITY)),
            colo: seen.colo.and_then(|c| code(c, 3, 4)),
            asn: seen.asn.and_then(asn),
            network: seen.client_ip.and_then(network),
        }
    }

    /// Whether nothing is known.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// As stored in the `context` column (JSON text); `None` when nothing is known.
    #[must_use]
    pub fn to_column(&self) -> Option<String> {
        if self.is_empty() {
            return None;
        }
        serde_json::to_string(self).ok()
    }

    /// From the `context` column; a value that does not decode is nothing known (a
    /// device context is never worth failing a list over).
    #[must_use]
    pub fn from_column(column: Option<&str>) -> Self {
        column
            .and_then(|text| serde_json::from_slice(text.as_bytes()).ok())
            .unwrap_or_default()
    }
}

/// `text` without control characters, trimmed, at most `max` characters; `None` if empty.
fn clean(text: &str, max: usize) -> Option<String> {
    let kept: String = text.chars().filter(|c| !c.is_control()).take(max).collect();
    let kept = kept.trim();
    (!kept.is_empty()).then(|| kept.to_owned())
}

/// An upper-case ASCII alphanumeric code of `min..=max` characters.
fn code(text: &str, min: usize, max: usize) -> Option<String> {
    let ok = (min..=max).contains(&text.len()) && text.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| text.to_ascii_uppercase())
}

#[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
fn asn(n: f64) -> Option<u32> {
    // JS numbers: only a whole number in range is an ASN.
    (n.fract() == 0.0 && (1.0..=f64::from(u32::MAX)).contains(&n)).then_some(n as u32)
}

/// The /24 (IPv4) or /48 (IPv6) network of `ip` (e.g. `203.0.113.0/24`,
/// `2001:db8:abcd::/48`); `None` when it is not an address. Parsed by hand: std's
/// `IpAddr` parser costs kilobytes of wasm. Rate limits count per network too.
#[must_use]
pub fn network(ip: &str) -> Option<String> {
    let ip = ip.trim();
    let mapped = ip.get(..7).filter(|p| p.eq_ignore_ascii_case("::ffff:"));
    match mapped.map(|p| &ip[p.len()..]) {
        Some(v4) if v4.contains('.') => v4_network(v4),
        _ if ip.contains(':') => v6_network(ip),
        _ => v4_network(ip),
    }
}

fn v4_network(ip: &str) -> Option<String> {
    let octets: Vec<u8> = ip
        .split('.')
        .map(|o| {
            (!o.is_empty() && o.len() <= 3 && o.bytes().all(|b| b.is_ascii_digit()))
                .then(|| o.parse().ok())
                .flatten()
        })
        .collect::<Option<_>>()?;
    match octets[..] {
        [a, b, c, _] => Some(format!("{a}.{b}.{c}.0/24")),
        _ => None,
    }
}

fn v6_network(ip: &str) -> Option<String> {
    let whole = ip;
    let groups = |s: &str| -> Option<Vec<u16>> {
        if s.is_empty() {
            return Some(Vec::new());
        }
        s.split(':')
            .map(|g| match g.len() {
                1..=4 if g.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u16::from_str_radix(g, 16).ok()
                }
                _ => None,
            })
            .collect()
    };
    // A trailing embedded IPv4 (`64:ff9b::192.0.2.1`) is two groups; it never reaches
    // the first three of a real address, so it only counts.
    let (ip, v4_groups) = match ip.rsplit_once(':') {
        Some((rest, last)) if last.contains('.') => {
            v4_network(last)?;
            (
                if rest.ends_with(':') {
                    ip.get(..rest.len() + 1)?
                } else {
                    rest
                },
                2,
            )
        }
        _ => (ip, 0),
    };
    let full: Vec<u16> = match ip.split_once("::") {
        Some((head, tail)) => {
            let (head, tail) = (groups(head)?, groups(tail)?);
            let known = head.len() + tail.len() + v4_groups;
            if known > 7 {
                return None;
            }
            let mut full = head;
            full.resize(8 - tail.len() - v4_groups, 0);
            full.extend(tail);
            full
        }
        None => {
            let g = groups(ip)?;
            (g.len() + v4_groups == 8).then_some(g)?
        }
    };
    // An IPv4-mapped address in any spelling (`0:0:0:0:0:ffff:1.2.3.4`) is the IPv4
    // client it maps: its /24, as the short `::ffff:` form gets.
    if v4_groups == 2 && full.get(..6) == Some(&[0, 0, 0, 0, 0, 0xffff]) {
        return v4_network(whole.rsplit(':').next()?);
    }
    let mut prefix: Vec<u16> = full.get(..3)?.to_vec();
    while prefix.last() == Some(&0) {
        prefix.pop();
    }
    let shown: Vec<String> = prefix.iter().map(|g| format!("{g:x}")).collect();
    Some(format!("{}::/48", shown.join(":")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(ip: &str) -> Device {
        Device::from_request(&Seen {
            client_ip: Some(ip),
            ..Seen::default()
        })
    }

    #[test]
    fn the_address_is_kept_only_as_its_network() {
        assert_eq!(
            seen("203.0.113.77").network.as_deref(),
            Some("203.0.113.0/24")
        );
        assert_eq!(
            seen("2001:db8:abcd:12:3456::1").network.as_deref(),
            Some("2001:db8:abcd::/48")
        );
        assert_eq!(
            seen("::ffff:198.51.100.9").network.as_deref(),
            Some("198.51.100.0/24")
        );
        for (ip, net) in [
            ("2001:db8::1", "2001:db8::/48"),
            ("2001:0:0:1::", "2001::/48"),
            ("::1", "::/48"),
            ("fe80:0:5::", "fe80:0:5::/48"),
            ("2001:DB8:1:2:3:4:5:6", "2001:db8:1::/48"),
            ("64:ff9b::192.0.2.1", "64:ff9b::/48"),
            ("0:0:0:0:0:ffff:198.51.100.9", "198.51.100.0/24"),
            ("0::FFFF:198.51.100.9", "198.51.100.0/24"),
        ] {
            assert_eq!(seen(ip).network.as_deref(), Some(net), "{ip}");
        }
        for bad in [
            "",
            "nonsense",
            "1.2.3",
            "1.2.3.4.5",
            "256.1.1.1",
            "203.0.113.77, 10.0.0.1",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9",
            "1::2::3",
            "12345::",
            "1:2:3:4:5:6:7::8",
            "+1:2::",
        ] {
            assert_eq!(seen(bad).network, None, "{bad:?}");
        }
    }

    #[test]
    fn fields_are_bounded_and_checked() {
        let long = "M".repeat(5000);
        let d = Device::from_request(&Seen {
            user_agent: Some(&format!(" Mozilla/5.0\r\n\u{7}{long}")),
            country: Some("de"),
            city: Some("Frankfurt am Main"),
            colo: Some("FRA"),
            asn: Some(3320.0),
            client_ip: None,
        });
        let ua = d.user_agent.as_deref().unwrap();
        assert!(ua.starts_with("Mozilla/5.0M"), "{ua}");
        assert_eq!(ua.chars().count(), MAX_USER_AGENT - 1); // the leading space trimmed
        assert_eq!(d.country.as_deref(), Some("DE"));
        assert_eq!(d.colo.as_deref(), Some("FRA"));
        assert_eq!(d.asn, Some(3320));
        let junk = Device::from_request(&Seen {
            user_agent: Some(" \t "),
            country: Some("Germany"),
            colo: Some("F<R"),
            asn: Some(-1.5),
            ..Seen::default()
        });
        assert!(junk.is_empty(), "{junk:?}");
        assert_eq!(junk.to_column(), None);
    }

    #[test]
    fn the_column_round_trips_and_bad_text_is_nothing_known() {
        let d = Device::from_request(&Seen {
            user_agent: Some("curl/8"),
            client_ip: Some("192.0.2.1"),
            ..Seen::default()
        });
        let column = d.to_column().unwrap();
        assert_eq!(
            column,
            r#"{"user_agent":"curl/8","network":"192.0.2.0/24"}"#
        );
        assert_eq!(Device::from_column(Some(&column)), d);
        assert!(Device::from_column(Some("not json")).is_empty());
        assert!(Device::from_column(None).is_empty());
    }
}
