//! `Set-Cookie` values: attributes always explicit, the same on the clearing cookie.

use super::CookieConfig;
use std::fmt::Write as _;

/// `Set-Cookie` that stores `value` for `max_age` seconds, or until the browser ends
/// (`None`: no `Max-Age`).
#[must_use]
pub fn set(cfg: &CookieConfig, value: &str, max_age: Option<i64>) -> String {
    let mut out = format!("{}={value}", cfg.name);
    attributes(cfg, max_age.map(|s| s.max(0)), &mut out);
    out
}

/// `Set-Cookie` that deletes the cookie (`Max-Age=0`, same attributes as when set).
#[must_use]
pub fn clear(cfg: &CookieConfig) -> String {
    let mut out = format!("{}=", cfg.name);
    attributes(cfg, Some(0), &mut out);
    out
}

fn attributes(cfg: &CookieConfig, max_age: Option<i64>, out: &mut String) {
    if let Some(max_age) = max_age {
        let _ = write!(out, "; Max-Age={max_age}");
    }
    let _ = write!(out, "; Path={}", cfg.path);
    if let Some(domain) = &cfg.domain {
        let _ = write!(out, "; Domain={domain}");
    }
    out.push_str("; HttpOnly");
    if cfg.secure {
        out.push_str("; Secure");
    }
    let _ = write!(out, "; SameSite={}", cfg.same_site.as_str());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::SameSite;

    fn cfg() -> CookieConfig {
        CookieConfig {
            name: "__Host-sid".into(),
            secure: true,
            same_site: SameSite::Lax,
            domain: None,
            path: "/".into(),
        }
    }

    #[test]
    fn set_has_every_attribute() {
        assert_eq!(
            set(&cfg(), "abc.def", Some(10800)),
            "__Host-sid=abc.def; Max-Age=10800; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn a_browser_session_cookie_has_no_max_age() {
        assert_eq!(
            set(&cfg(), "abc.def", None),
            "__Host-sid=abc.def; Path=/; HttpOnly; Secure; SameSite=Lax"
        );
    }

    #[test]
    fn clear_repeats_the_attributes() {
        let mut c = cfg();
        c.name = "sid".into();
        c.domain = Some("example.com".into());
        c.same_site = SameSite::Strict;
        assert_eq!(
            clear(&c),
            "sid=; Max-Age=0; Path=/; Domain=example.com; HttpOnly; Secure; SameSite=Strict"
        );
    }
}
