//! Signing keys: derived from SESSION_SECRET (and its fallbacks), compared in constant
//! time, never printed.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use std::fmt;
use subtle::ConstantTimeEq;
use thiserror::Error;

type HmacSha256 = Hmac<Sha256>;

/// Shortest secret accepted, in bytes (the output size of HMAC-SHA256).
pub const MIN_SECRET_LEN: usize = 32;

/// Why a secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The secret has fewer than [`MIN_SECRET_LEN`] bytes.
    #[error("key is too short: expected >= {MIN_SECRET_LEN} bytes, got {got}")]
    TooShort {
        /// Length of the refused secret, in bytes.
        got: usize,
    },
}

/// A 256-bit MAC key derived from a secret for one purpose (domain separation: the raw
/// secret never keys a MAC directly, so one secret cannot be confused across uses).
#[derive(Clone)]
pub struct Key([u8; 32]);

impl Key {
    /// Derives the key for `purpose` from `secret`.
    ///
    /// # Errors
    /// [`KeyError::TooShort`] when `secret` has fewer than [`MIN_SECRET_LEN`] bytes.
    pub fn derive(secret: &[u8], purpose: &str) -> Result<Self, KeyError> {
        if secret.len() < MIN_SECRET_LEN {
            return Err(KeyError::TooShort { got: secret.len() });
        }
        let mut mac = new_mac(secret);
        mac.update(b"sessiongate/v1/");
        mac.update(purpose.as_bytes());
        Ok(Self(mac.finalize().into_bytes().into()))
    }

    /// HMAC-SHA256 of the concatenation of `parts` under this key.
    #[must_use]
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        let mut mac = new_mac(&self.0);
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes().into()
    }

    /// Whether `tag` is the MAC of `parts`, checked in constant time.
    #[must_use]
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> bool {
        let mut mac = new_mac(&self.0);
        for part in parts {
            mac.update(part);
        }
        mac.verify_slice(tag).is_ok()
    }
}

fn derive(key: &Key, purpose: &str) -> [u8; 32] {
    key.sign(&[b"sessiongate/v1/derive/", purpose.as_bytes()])
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length; `new_from_slice` cannot fail for it.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for Key {}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(<redacted>)")
    }
}

/// Which key of a [`Keyring`] verified a MAC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUse {
    /// The current key: nothing to do.
    Current,
    /// A fallback key, or a format of an earlier version: the value should be re-issued
    /// under the current key and format.
    Fallback,
}

/// The current signing key and the retired ones still accepted for verification.
#[derive(Clone, PartialEq, Eq)]
pub struct Keyring {
    current: Key,
    fallbacks: Vec<Key>,
}

impl Keyring {
    /// A keyring that signs with `current` and also verifies with `fallbacks`.
    #[must_use]
    pub fn new(current: Key, fallbacks: Vec<Key>) -> Self {
        Self { current, fallbacks }
    }

    /// How many retired keys are still accepted.
    #[must_use]
    pub fn fallbacks(&self) -> usize {
        self.fallbacks.len()
    }

    /// MAC of `parts` under the current key.
    #[must_use]
    pub fn sign(&self, parts: &[&[u8]]) -> [u8; 32] {
        self.current.sign(parts)
    }

    /// The encryption key derived from each key for `purpose` (the MAC keys themselves
    /// never encrypt), current first, each with its use.
    #[must_use]
    pub fn derived(&self, purpose: &str) -> Vec<([u8; 32], KeyUse)> {
        let mut out = vec![(self.derived_current(purpose), KeyUse::Current)];
        out.extend(
            self.fallbacks
                .iter()
                .map(|k| (derive(k, purpose), KeyUse::Fallback)),
        );
        out
    }

    /// The key derived from the current key for `purpose` (what new values use).
    #[must_use]
    pub fn derived_current(&self, purpose: &str) -> [u8; 32] {
        derive(&self.current, purpose)
    }

    /// Which key, if any, made `tag` over `parts`, each compared in constant time (the
    /// first match ends the search: that reveals which key, never a secret).
    #[must_use]
    pub fn verify(&self, parts: &[&[u8]], tag: &[u8]) -> Option<KeyUse> {
        if self.current.verify(parts, tag) {
            return Some(KeyUse::Current);
        }
        self.fallbacks
            .iter()
            .any(|k| k.verify(parts, tag))
            .then_some(KeyUse::Fallback)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Keyring")
            .field("current", &self.current)
            .field("fallbacks", &self.fallbacks.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"0123456789abcdef0123456789abcdef";

    #[test]
    fn short_secret_is_refused_with_its_length() {
        let err = Key::derive(b"twelve bytes", "cookie").unwrap_err();
        assert_eq!(
            err.to_string(),
            "key is too short: expected >= 32 bytes, got 12"
        );
    }

    #[test]
    fn purposes_give_different_keys() {
        let a = Key::derive(SECRET, "cookie").unwrap();
        let b = Key::derive(SECRET, "other").unwrap();
        assert_ne!(a, b);
        assert_eq!(a, Key::derive(SECRET, "cookie").unwrap());
    }

    #[test]
    fn debug_never_shows_key_bytes() {
        let k = Key::derive(SECRET, "cookie").unwrap();
        let ring = Keyring::new(k.clone(), vec![k]);
        let shown = format!("{ring:?}");
        assert!(shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains('['), "{shown}");
    }

    #[test]
    fn keyring_reports_which_key_verified() {
        let old = Key::derive(b"an old secret that is long enough!!", "c").unwrap();
        let new = Key::derive(SECRET, "c").unwrap();
        let ring = Keyring::new(new.clone(), vec![old.clone()]);
        let msg: &[&[u8]] = &[b"hello"];
        assert_eq!(ring.verify(msg, &new.sign(msg)), Some(KeyUse::Current));
        assert_eq!(ring.verify(msg, &old.sign(msg)), Some(KeyUse::Fallback));
        let mut bad = new.sign(msg);
        bad[0] ^= 1;
        assert_eq!(ring.verify(msg, &bad), None);
        assert_eq!(ring.verify(msg, &bad[..31]), None);
        assert_eq!(ring.sign(msg), new.sign(msg));
    }
}
