//! The D1 store's cookie: a signed reference `<session id>.<base64url HMAC-SHA256>`.
//!
//! The MAC covers a version tag, the cookie name and the id, so a value copied under
//! another cookie name, or from a future format, does not verify. The id alone (public:
//! it is in headers, signals and the admin API) is useless without the MAC.

use super::key::{KeyUse, Keyring};
use crate::session::SessionId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use std::fmt;

/// Version tag bound into every reference MAC.
const VERSION: &[u8] = b"sessiongate-ref-v1";
/// Length of a base64url (unpadded) HMAC-SHA256.
const MAC_B64_LEN: usize = 43;

/// Why a reference cookie was rejected. Never carries the cookie value itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefCookieError {
    /// Not `<id>.<mac>` with a canonical UUID and a 43-character base64url MAC.
    Malformed,
    /// Well formed, but no configured key made its MAC.
    BadSignature,
}

impl fmt::Display for RefCookieError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Malformed => "reference cookie is malformed",
            Self::BadSignature => "reference cookie signature does not verify",
        })
    }
}

impl std::error::Error for RefCookieError {}

/// The cookie value naming session `id` under cookie `name`, signed with the current key.
#[must_use]
pub fn encode(keys: &Keyring, name: &str, id: &SessionId) -> String {
    let id = id.to_string();
    let mac = keys.sign(&parts(name, &id));
    let mut out = String::with_capacity(id.len() + 1 + MAC_B64_LEN);
    out.push_str(&id);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(mac, &mut out);
    out
}

/// The session id a cookie value names, and which key verified it.
///
/// # Errors
/// [`RefCookieError::Malformed`] for anything but `<uuid>.<mac>`;
/// [`RefCookieError::BadSignature`] when the MAC is not from a configured key for `name`.
pub fn decode(
    keys: &Keyring,
    name: &str,
    value: &str,
) -> Result<(SessionId, KeyUse), RefCookieError> {
    let (id_part, mac_part) = value.split_once('.').ok_or(RefCookieError::Malformed)?;
    if mac_part.len() != MAC_B64_LEN {
        return Err(RefCookieError::Malformed);
    }
    let id: SessionId = id_part.parse().map_err(|_| RefCookieError::Malformed)?;
    let mac = URL_SAFE_NO_PAD
        .decode(mac_part)
        .map_err(|_| RefCookieError::Malformed)?;
    keys.verify(&parts(name, id_part), &mac)
        .map(|used| (id, used))
        .ok_or(RefCookieError::BadSignature)
}

fn parts<'a>(name: &'a str, id: &'a str) -> [&'a [u8]; 5] {
    [VERSION, b"\0", name.as_bytes(), b"\0", id.as_bytes()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::key::Key;

    fn ring(secret: &[u8], old: &[&[u8]]) -> Keyring {
        let k = |s: &[u8]| Key::derive(s, "cookie").unwrap();
        Keyring::new(k(secret), old.iter().map(|s| k(s)).collect())
    }
    const NEW: &[u8] = b"new-secret-new-secret-new-secret-!";
    const OLD: &[u8] = b"old-secret-old-secret-old-secret-!";

    fn id() -> SessionId {
        "9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab".parse().unwrap()
    }

    #[test]
    fn round_trip_with_current_key() {
        let keys = ring(NEW, &[]);
        let v = encode(&keys, "session_id", &id());
        assert!(v.starts_with("9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab."));
        assert_eq!(decode(&keys, "session_id", &v), Ok((id(), KeyUse::Current)));
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let keys = ring(NEW, &[]);
        let v = encode(&keys, "session_id", &id());
        for i in 0..v.len() {
            let mut bytes = v.clone().into_bytes();
            bytes[i] = if bytes[i] == b'A' { b'B' } else { b'A' };
            let Ok(tampered) = String::from_utf8(bytes) else {
                continue;
            };
            assert!(
                decode(&keys, "session_id", &tampered).is_err(),
                "byte {i} accepted"
            );
        }
    }

    #[test]
    fn truncated_and_junk_values_are_malformed() {
        let keys = ring(NEW, &[]);
        let v = encode(&keys, "session_id", &id());
        for cut in 0..v.len() {
            assert!(
                decode(&keys, "session_id", &v[..cut]).is_err(),
                "prefix {cut} accepted"
            );
        }
        for junk in [
            "",
            ".",
            "x.y",
            "🍪.🍪",
            &format!("{v}.extra"),
            &format!("{v}="),
        ] {
            assert_eq!(
                decode(&keys, "session_id", junk),
                Err(RefCookieError::Malformed),
                "{junk}"
            );
        }
    }

    #[test]
    fn a_value_is_bound_to_its_cookie_name() {
        let keys = ring(NEW, &[]);
        let v = encode(&keys, "session_id", &id());
        assert_eq!(
            decode(&keys, "other", &v),
            Err(RefCookieError::BadSignature)
        );
    }

    #[test]
    fn old_key_verifies_as_fallback_and_new_key_signs() {
        let before = ring(OLD, &[]);
        let after = ring(NEW, &[OLD]);
        let old_cookie = encode(&before, "session_id", &id());
        assert_eq!(
            decode(&after, "session_id", &old_cookie),
            Ok((id(), KeyUse::Fallback))
        );
        let reissued = encode(&after, "session_id", &id());
        assert_ne!(reissued, old_cookie);
        assert_eq!(
            decode(&ring(NEW, &[]), "session_id", &reissued),
            Ok((id(), KeyUse::Current))
        );
        // Once the old key is retired entirely, its cookies stop working.
        assert_eq!(
            decode(&ring(NEW, &[]), "session_id", &old_cookie),
            Err(RefCookieError::BadSignature)
        );
    }
}
