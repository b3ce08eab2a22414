//! Encrypted cookie values: `<tag>.<base64url nonce + ciphertext>`, XChaCha20-Poly1305
//! under a key derived from the cookie key for this purpose, with a random 192-bit nonce
//! (safe to draw at random for every cookie). The version, the cookie name and the tag
//! are the associated data, so a value moved to another name or tag, or any changed
//! byte, does not open. The client can neither read nor change what is inside.

use super::key::Keyring;
use super::sealed::Opened;
use super::CookieError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

const NONCE_LEN: usize = 24;
/// Purpose of the encryption key derived from each cookie key.
const PURPOSE: &str = "cookie-aead";

/// Encrypts `plaintext` under the current key, bound to `version`, cookie `name` and
/// `tag`; `None` only when the system has no randomness for a nonce.
#[must_use]
pub fn seal(
    keys: &Keyring,
    version: &str,
    name: &str,
    tag: &str,
    plaintext: &[u8],
) -> Option<String> {
    let mut nonce = [0u8; NONCE_LEN];
    getrandom::fill(&mut nonce).ok()?;
    let (key, _) = *keys.derived(PURPOSE).first()?;
    let cipher = XChaCha20Poly1305::new(&key.into());
    let aad = aad(version, name, tag);
    let sealed = cipher
        .encrypt(
            &XNonce::from(nonce),
            Payload {
                msg: plaintext,
                aad: &aad,
            },
        )
        .ok()?;
    let mut body = Vec::with_capacity(NONCE_LEN + sealed.len());
    body.extend_from_slice(&nonce);
    body.extend_from_slice(&sealed);
    let mut out = String::with_capacity(tag.len() + 1 + body.len() * 4 / 3 + 4);
    out.push_str(tag);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(body, &mut out);
    Some(out)
}

/// Opens a value of at most `max_len` bytes whose tag `accept` allows: the tag, the
/// plaintext (as [`Opened::body`]) and which key opened it. The signed layout's
/// [`super::sealed::open`] has the same shape on purpose: one reader per layout.
///
/// # Errors
/// [`CookieError::Malformed`] for anything but `<tag>.<base64url>` with an accepted tag
/// and room for a nonce and a tag; [`CookieError::BadSignature`] when no key opens it.
pub fn open<'v>(
    keys: &Keyring,
    version: &str,
    name: &str,
    value: &'v str,
    max_len: usize,
    accept: impl Fn(&str) -> bool,
) -> Result<Opened<'v>, CookieError> {
    use CookieError::{BadSignature, Malformed};
    if value.len() > max_len {
        return Err(Malformed);
    }
    let (tag, body) = value.split_once('.').ok_or(Malformed)?;
    if !accept(tag) || body.contains('.') {
        return Err(Malformed);
    }
    let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| Malformed)?;
    if body.len() < NONCE_LEN + 16 {
        return Err(Malformed);
    }
    let (nonce, sealed) = body.split_at(NONCE_LEN);
    let nonce = XNonce::try_from(nonce).map_err(|_| Malformed)?;
    let aad = aad(version, name, tag);
    for (key, used) in keys.derived(PURPOSE) {
        let cipher = XChaCha20Poly1305::new(&key.into());
        let payload = Payload {
            msg: sealed,
            aad: &aad,
        };
        if let Ok(body) = cipher.decrypt(&nonce, payload) {
            return Ok(Opened {
                tag,
                body,
                key: used,
            });
        }
    }
    Err(BadSignature)
}

fn aad(version: &str, name: &str, tag: &str) -> Vec<u8> {
    [
        version.as_bytes(),
        b"\0",
        name.as_bytes(),
        b"\0",
        tag.as_bytes(),
    ]
    .concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::key::KeyUse;
    use crate::cookie::testing::{keys, ring};

    const V: &str = "test-v1";

    #[test]
    fn round_trip_hides_the_plaintext_and_binds_name_and_tag() {
        let value = seal(keys(), V, "sid", "e1", b"secret data").unwrap();
        assert!(!value.contains("secret"));
        let again = seal(keys(), V, "sid", "e1", b"secret data").unwrap();
        assert_ne!(value, again, "a fresh nonce every time");
        let accept = |t: &str| t == "e1";
        let o = open(keys(), V, "sid", &value, 8192, accept).unwrap();
        assert_eq!(
            (o.tag, o.body.as_slice(), o.key),
            ("e1", &b"secret data"[..], KeyUse::Current)
        );
        assert_eq!(
            open(keys(), V, "other", &value, 8192, accept),
            Err(CookieError::BadSignature)
        );
        assert_eq!(
            open(keys(), "test-v2", "sid", &value, 8192, accept),
            Err(CookieError::BadSignature)
        );
        let retagged = value.replacen("e1.", "e2.", 1);
        assert_eq!(
            open(keys(), V, "sid", &retagged, 8192, |_| true),
            Err(CookieError::BadSignature)
        );
        assert_eq!(
            open(keys(), V, "sid", &value, 10, accept),
            Err(CookieError::Malformed)
        );
    }

    #[test]
    fn every_single_byte_change_and_truncation_is_rejected() {
        let value = seal(keys(), V, "sid", "e1", b"{\"u\":\"ann\"}").unwrap();
        for i in 0..value.len() {
            assert!(
                open(keys(), V, "sid", &value[..i], 8192, |_| true).is_err(),
                "prefix {i}"
            );
            let mut bytes = value.clone().into_bytes();
            bytes[i] = bytes[i].wrapping_add(1);
            if let Ok(changed) = String::from_utf8(bytes) {
                assert!(
                    open(keys(), V, "sid", &changed, 8192, |_| true).is_err(),
                    "byte {i}"
                );
            }
        }
    }

    #[test]
    fn a_retired_key_still_opens_as_fallback() {
        let old = ring(b"old-secret-old-secret-old-secret-!", &[]);
        let new = ring(
            b"new-secret-new-secret-new-secret-!",
            &[b"old-secret-old-secret-old-secret-!"],
        );
        let value = seal(&old, V, "sid", "e1", b"x").unwrap();
        let opened = open(&new, V, "sid", &value, 8192, |_| true).unwrap();
        assert_eq!(opened.key, KeyUse::Fallback);
    }
}
