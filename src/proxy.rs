//! Proxy hygiene around the session: the forwarding headers the gateway owns, the mark
//! that stops a request looping through the gateway, and keeping a response that sets a
//! session cookie out of shared caches.

use crate::url;

/// Marks a request this gateway forwarded; one that comes back carrying it is a loop.
pub const HOP_HEADER: &str = "sessiongate-hop";

/// The forwarding headers (`Forwarded`, `X-Forwarded-For`, `-Host`, `-Proto`) for a
/// request to `request_url` from `client_ip` (Cloudflare's `CF-Connecting-IP`, which
/// clients cannot set), replacing whatever the client sent: each name with its value,
/// `None` to remove the header.
#[must_use]
pub fn forwarding(
    request_url: &str,
    client_ip: Option<&str>,
) -> [(&'static str, Option<String>); 4] {
    let (host, proto) = (url::host(request_url), url::scheme(request_url));
    let ip = client_ip.filter(|ip| {
        !ip.is_empty()
            && ip
                .bytes()
                .all(|b| b.is_ascii_hexdigit() || b == b'.' || b == b':')
    });
    let node = ip.map(|ip| {
        if ip.contains(':') {
            format!("\"[{ip}]\"")
        } else {
            ip.to_owned()
        }
    });
    let forwarded = match &node {
        Some(node) => format!("for={node};host=\"{host}\";proto={proto}"),
        None => format!("host=\"{host}\";proto={proto}"),
    };
    [
        ("forwarded", Some(forwarded)),
        ("x-forwarded-for", ip.map(str::to_owned)),
        ("x-forwarded-host", Some(host.to_owned())),
        ("x-forwarded-proto", Some(proto.to_owned())),
    ]
}

/// Whether a request carrying `hop` (the [`HOP_HEADER`] value) already passed through
/// the gateway called `worker`.
#[must_use]
pub fn looped(hop: Option<&str>, worker: &str) -> bool {
    hop.is_some_and(|h| h.split(',').any(|w| w.trim() == worker))
}

/// The `Cache-Control` a response needs when it sets a session cookie: `None` when it
/// may stay as the origin sent it (`private` or `no-store` already), else the origin's
/// directives made private (`public` and `s-maxage` dropped; `private` alone when it
/// sent none, against heuristic caching), so no shared cache stores one user's cookie
/// for another.
#[must_use]
pub fn private_cache_control(origin: Option<&str>) -> Option<String> {
    let origin = origin.unwrap_or_default();
    let name = |d: &str| d.split('=').next().unwrap_or(d).trim().to_ascii_lowercase();
    let directives: Vec<&str> = origin
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .collect();
    if directives
        .iter()
        .any(|d| matches!(name(d).as_str(), "private" | "no-store"))
    {
        return None;
    }
    let shared = ["public", "s-maxage", "proxy-revalidate"];
    let kept = directives
        .iter()
        .filter(|d| !shared.contains(&name(d).as_str()));
    let mut out = String::from("private");
    for d in kept {
        out.push_str(", ");
        out.push_str(d);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarding_headers_are_the_gateways() {
        let h = forwarding("https://app.example:8443/x", Some("203.0.113.7"));
        assert_eq!(
            h,
            [
                (
                    "forwarded",
                    Some("for=203.0.113.7;host=\"app.example:8443\";proto=https".into())
                ),
                ("x-forwarded-for", Some("203.0.113.7".into())),
                ("x-forwarded-host", Some("app.example:8443".into())),
                ("x-forwarded-proto", Some("https".into())),
            ]
        );
        let v6 = forwarding("http://h/", Some("2001:db8::1"));
        assert_eq!(
            v6[0].1.as_deref(),
            Some("for=\"[2001:db8::1]\";host=\"h\";proto=http")
        );
        for unknown in [None, Some(""), Some("1.2.3.4, 6.6.6.6"), Some("x\r\ny")] {
            let h = forwarding("http://h/", unknown);
            assert_eq!(
                h[1].1, None,
                "{unknown:?}: no client address the gateway can vouch for"
            );
            assert_eq!(h[0].1.as_deref(), Some("host=\"h\";proto=http"));
        }
    }

    #[test]
    fn a_hop_mark_names_the_worker() {
        assert!(looped(Some("sessiongate"), "sessiongate"));
        assert!(looped(Some("other, sessiongate"), "sessiongate"));
        assert!(!looped(Some("other"), "sessiongate"));
        assert!(!looped(None, "sessiongate"));
    }

    #[test]
    fn a_cookie_never_rides_a_shared_cache() {
        assert_eq!(private_cache_control(None), Some("private".into()));
        assert_eq!(private_cache_control(Some("private, max-age=60")), None);
        assert_eq!(private_cache_control(Some("No-Store")), None);
        assert_eq!(
            private_cache_control(Some("public, max-age=3600, s-maxage=86400")),
            Some("private, max-age=3600".into())
        );
        assert_eq!(
            private_cache_control(Some("max-age=60")),
            Some("private, max-age=60".into())
        );
        assert_eq!(
            private_cache_control(Some("no-cache")),
            Some("private, no-cache".into())
        );
    }
}
