//! `X-Session-Assertion`: a compact JWT (HS256, key ORIGIN_SECRET) that lets the origin
//! check that the session headers come from sessiongate, for this request, now.
//!
//! Claims: `iss` (the worker), `aud` (the origin host), `sub` (user id, absent when
//! anonymous), `sid` (session id, absent when none), `iat`, `exp` (`iat` + 60 s),
//! `method`, `path` (path and query), `data_sha256` (base64url SHA-256 of the exact
//! `X-Session-Data` value), `auth_time` (when the user last logged in or reauthenticated,
//! Unix seconds, as in OpenID Connect; absent when unknown). Any standard JWT library
//! verifies it.

use crate::time::Timestamp;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Lifetime of an assertion in seconds.
pub const LIFETIME_SECS: i64 = 60;

/// The claims of one request's assertion.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Claims<'a> {
    /// Issuer: the worker name.
    pub iss: &'a str,
    /// Audience: the origin host (with port).
    pub aud: &'a str,
    /// The user, absent when anonymous.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sub: Option<&'a str>,
    /// The session id, absent when the request has no session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
    /// Issued at (Unix seconds).
    pub iat: i64,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Request method.
    pub method: &'a str,
    /// Request path and query.
    pub path: &'a str,
    /// base64url SHA-256 of the `X-Session-Data` header value.
    pub data_sha256: String,
    /// When the user last logged in or reauthenticated (Unix seconds), absent when
    /// unknown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
}

impl<'a> Claims<'a> {
    /// The claims for a request at `now` carrying `data_header` as `X-Session-Data`.
    #[allow(clippy::too_many_arguments)]
    #[must_use]
    pub fn new(
        iss: &'a str,
        aud: &'a str,
        sub: Option<&'a str>,
        sid: Option<String>,
        method: &'a str,
        path: &'a str,
        data_header: &str,
        now: Timestamp,
    ) -> Self {
        Self {
            iss,
            aud,
            sub,
            sid,
            iat: now.unix(),
            exp: now.plus(LIFETIME_SECS).unix(),
            method,
            path,
            data_sha256: URL_SAFE_NO_PAD.encode(Sha256::digest(data_header.as_bytes())),
            auth_time: None,
        }
    }

    /// These claims with `auth_time` (the session's auth time, when known).
    #[must_use]
    pub fn authenticated_at(mut self, auth_time: Option<Timestamp>) -> Self {
        self.auth_time = auth_time.map(Timestamp::unix);
        self
    }
}

/// The signed JWT for `claims` under `secret` (HS256 over the raw secret bytes, as JWT
/// libraries expect).
#[must_use]
pub fn sign(secret: &[u8], claims: &Claims<'_>) -> String {
    // base64url of {"alg":"HS256","typ":"JWT"}
    const HEADER: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9";
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let mut token = String::with_capacity(HEADER.len() + payload.len() * 4 / 3 + 48);
    token.push_str(HEADER);
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(payload, &mut token);
    // HMAC takes keys of every length: `new_from_slice` cannot fail for it.
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
        return token;
    };
    mac.update(token.as_bytes());
    token.push('.');
    URL_SAFE_NO_PAD.encode_string(mac.finalize().into_bytes(), &mut token);
    token
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const SECRET: &[u8] = b"origin-secret-origin-secret-0123456789";

    fn part(token: &str, i: usize) -> Value {
        let p = token.split('.').nth(i).unwrap();
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(p).unwrap()).unwrap()
    }

    #[test]
    fn a_standard_hs256_jwt() {
        let now = Timestamp::from_unix(1_800_000_000);
        let c = Claims::new(
            "sessiongate",
            "app.internal:8080",
            Some("alice"),
            Some("sid-1".into()),
            "POST",
            "/cart?x=1",
            "eyJhIjoxfQ",
            now,
        );
        let token = sign(SECRET, &c);
        assert_eq!(part(&token, 0), json!({"alg": "HS256", "typ": "JWT"}));
        assert_eq!(
            part(&token, 1),
            json!({
                "iss": "sessiongate", "aud": "app.internal:8080", "sub": "alice", "sid": "sid-1",
                "iat": 1_800_000_000, "exp": 1_800_000_060, "method": "POST", "path": "/cart?x=1",
                "data_sha256": URL_SAFE_NO_PAD.encode(Sha256::digest(b"eyJhIjoxfQ")),
            })
        );
        // The signature is HMAC-SHA256 over `header.payload` with the raw secret.
        let (signed, sig) = token.rsplit_once('.').unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).unwrap();
        mac.update(signed.as_bytes());
        mac.verify_slice(&URL_SAFE_NO_PAD.decode(sig).unwrap())
            .unwrap();
    }

    #[test]
    fn auth_time_is_a_claim_when_known() {
        let now = Timestamp::from_unix(1_800_000_000);
        let c = |at| {
            Claims::new("g", "o", Some("ann"), None, "GET", "/", "e30", now).authenticated_at(at)
        };
        let token = sign(SECRET, &c(Some(now.plus(-90))));
        assert_eq!(part(&token, 1)["auth_time"], 1_799_999_910);
        let token = sign(SECRET, &c(None));
        assert!(part(&token, 1).get("auth_time").is_none());
    }

    #[test]
    fn anonymous_requests_have_no_sub_or_sid() {
        let c = Claims::new(
            "g",
            "o",
            None,
            None,
            "GET",
            "/",
            "e30",
            Timestamp::from_unix(0),
        );
        let body = part(&sign(SECRET, &c), 1);
        assert!(body.get("sub").is_none() && body.get("sid").is_none());
    }
}
