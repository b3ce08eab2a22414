//! Public session handles: what lists show instead of session ids.
//!
//! A handle is the id encrypted deterministically under a purpose key (an SIV
//! construction built from HMAC-SHA256): `siv = MAC(k, "mac" ‖ id)[..16]`, then
//! `id ⊕ MAC(k, "enc" ‖ siv)[..16]`, base64url of both (43 characters). It is stable for
//! a key, reveals nothing about the id, is never accepted as a cookie, and opens back to
//! its id, so the gateway finds a session by handle without storing another column. A
//! handle from a retired key (SESSION_SECRET_FALLBACKS) still opens.

use crate::cookie::key::Keyring;
use crate::session::SessionId;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

const PURPOSE: &str = "handle";
const HALF: usize = 16;

/// A handle's length in characters (32 bytes, base64url unpadded).
pub const LEN: usize = 43;

/// The public handle of session `id` under the current key.
#[must_use]
pub fn of(keys: &Keyring, id: &SessionId) -> String {
    let key = keys.derived_current(PURPOSE);
    let siv = prf(&key, b"mac", id.as_bytes());
    let mut sealed = [0u8; 2 * HALF];
    sealed[..HALF].copy_from_slice(&siv);
    sealed[HALF..].copy_from_slice(&xor(id.as_bytes(), &prf(&key, b"enc", &siv)));
    URL_SAFE_NO_PAD.encode(sealed)
}

/// The session id `handle` names, when a key of `keys` made it; `None` for anything
/// else (malformed, forged, another deployment's).
#[must_use]
pub fn open(keys: &Keyring, handle: &str) -> Option<SessionId> {
    let mut sealed = [0u8; 2 * HALF];
    match URL_SAFE_NO_PAD.decode_slice(handle.as_bytes(), &mut sealed) {
        Ok(n) if n == sealed.len() && handle.len() == LEN => {}
        _ => return None,
    }
    let (siv, body) = sealed.split_at(HALF);
    keys.derived(PURPOSE).into_iter().find_map(|(key, _)| {
        let bytes = xor(body, &prf(&key, b"enc", siv));
        let valid: bool = prf(&key, b"mac", &bytes).ct_eq(siv).into();
        valid.then(|| SessionId::from_bytes(bytes))
    })
}

fn prf(key: &[u8; 32], label: &[u8], input: &[u8]) -> [u8; HALF] {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        unreachable!("HMAC accepts keys of every length")
    };
    mac.update(label);
    mac.update(input);
    let full = mac.finalize().into_bytes();
    let mut out = [0u8; HALF];
    out.copy_from_slice(&full[..HALF]);
    out
}

fn xor(a: &[u8], b: &[u8; HALF]) -> [u8; HALF] {
    let mut out = [0u8; HALF];
    for (o, (x, y)) in out.iter_mut().zip(a.iter().zip(b)) {
        *o = x ^ y;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::key::Key;
    use crate::cookie::testing::keys as ring;

    #[test]
    fn a_handle_opens_to_its_id_and_is_stable() {
        let keys = ring().clone();
        let id = SessionId::random();
        let h = of(&keys, &id);
        assert_eq!(h.len(), LEN);
        assert_eq!(h, of(&keys, &id));
        assert_eq!(open(&keys, &h), Some(id));
        assert!(!h.contains(&id.to_string()));
        assert_ne!(of(&keys, &SessionId::random()), h);
    }

    #[test]
    fn a_changed_or_foreign_handle_opens_to_nothing() {
        let keys = ring().clone();
        let h = of(&keys, &SessionId::random());
        for i in 0..h.len() {
            let mut b = h.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let changed = String::from_utf8(b).unwrap();
            assert_eq!(open(&keys, &changed), None, "byte {i}");
        }
        let other = Keyring::new(Key::derive(&[7; 32], "c").unwrap(), vec![]);
        assert_eq!(open(&other, &h), None);
        for bad in ["", "x", &h[..42], &format!("{h}A"), &"=".repeat(43)] {
            assert_eq!(open(&keys, bad), None, "{bad:?}");
        }
    }

    #[test]
    fn a_handle_of_a_retired_key_still_opens() {
        let old = Keyring::new(Key::derive(&[1; 32], "c").unwrap(), vec![]);
        let id = SessionId::random();
        let h = of(&old, &id);
        let rotated = Keyring::new(
            Key::derive(&[2; 32], "c").unwrap(),
            vec![Key::derive(&[1; 32], "c").unwrap()],
        );
        assert_eq!(open(&rotated, &h), Some(id));
        assert_ne!(of(&rotated, &id), h);
    }
}
