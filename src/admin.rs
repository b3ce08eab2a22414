//! Who may see operator detail (health's configuration, origin and D1 errors): a caller
//! with `Authorization: Bearer <SESSION_ADMIN_TOKEN>`, or any caller in local
//! development, where the worker is reached on a loopback host.

use crate::url;
use subtle::ConstantTimeEq;

/// Whether a request to `request_url` carrying `authorization` may see operator detail,
/// given the configured admin token (compared in constant time).
#[must_use]
pub fn may_see_detail(authorization: Option<&str>, token: Option<&str>, request_url: &str) -> bool {
    bearer_matches(authorization, token) || is_loopback(request_url)
}

/// Whether `authorization` is `Bearer <token>` (any case of `Bearer`) for a configured,
/// non-empty token.
#[must_use]
pub fn bearer_matches(authorization: Option<&str>, token: Option<&str>) -> bool {
    let (Some(given), Some(token)) = (authorization, token.filter(|t| !t.is_empty())) else {
        return false;
    };
    // The scheme is case-insensitive (RFC 9110 11.1).
    let Some(given) = given
        .get(..7)
        .filter(|scheme| scheme.eq_ignore_ascii_case("bearer "))
        .and_then(|_| given.get(7..))
    else {
        return false;
    };
    given.as_bytes().ct_eq(token.as_bytes()).into()
}

/// Whether the URL's host is a loopback name: `wrangler dev`, never a deployed worker
/// (Cloudflare routes a request to a worker by a public host name).
#[must_use]
pub fn is_loopback(request_url: &str) -> bool {
    let host = url::host(request_url);
    let name = match host.strip_prefix('[') {
        Some(v6) => v6.split(']').next().unwrap_or(v6),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    // Parsed by hand: std's IpAddr parser costs kilobytes of wasm.
    let octets: Vec<Option<u8>> = name.split('.').map(|o| o.parse().ok()).collect();
    let v4_loopback =
        octets.len() == 4 && octets.iter().all(Option::is_some) && octets[0] == Some(127);
    name.eq_ignore_ascii_case("localhost") || name == "::1" || v4_loopback
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detail_needs_the_token_or_a_loopback_host() {
        let public = "https://app.example/__session/health";
        assert!(!may_see_detail(None, Some("t0ken"), public));
        assert!(!may_see_detail(Some("Bearer wrong"), Some("t0ken"), public));
        assert!(
            !may_see_detail(Some("t0ken"), Some("t0ken"), public),
            "scheme required"
        );
        assert!(
            !may_see_detail(Some("Bearer "), Some(""), public),
            "an empty token is none"
        );
        assert!(!may_see_detail(Some("Bearer t0ken"), None, public));
        assert!(may_see_detail(Some("Bearer t0ken"), Some("t0ken"), public));
        for local in [
            "http://127.0.0.1:8787/__session/health",
            "http://localhost:8787/x",
            "http://[::1]:8787/x",
        ] {
            assert!(may_see_detail(None, None, local), "{local}");
        }
        for other in [
            "https://localhost.evil.example/x",
            "https://127.example/x",
            "https://[::2]/",
        ] {
            assert!(!is_loopback(other), "{other}");
        }
    }
}
