//! What the cookie codecs' tests share: keyrings and proptest strategies for
//! cookie-shaped text.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::key::{Key, Keyring};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::select;
use std::sync::OnceLock;

/// A keyring signing with `secret` and also accepting the `old` ones.
pub fn ring(secret: &[u8], old: &[&[u8]]) -> Keyring {
    let k = |s: &[u8]| Key::derive(s, "cookie").unwrap();
    Keyring::new(k(secret), old.iter().map(|s| k(s)).collect())
}

/// One keyring for tests that need any valid key.
pub fn keys() -> &'static Keyring {
    static KEYS: OnceLock<Keyring> = OnceLock::new();
    KEYS.get_or_init(|| ring(b"test-secret-test-secret-test-secret!", &[]))
}

/// Strings of `len` characters from `chars` (much cheaper than a regex).
pub fn text(
    chars: impl Strategy<Value = char>,
    len: std::ops::Range<usize>,
) -> impl Strategy<Value = String> {
    vec(chars, len).prop_map(String::from_iter)
}

/// The characters of a cookie value: base64url and the `.` separator (last).
const COOKIE_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.";

/// A base64url character.
pub fn base64url() -> impl Strategy<Value = char> {
    select(&COOKIE_CHARS[..COOKIE_CHARS.len() - 1]).prop_map(char::from)
}

/// A base64url character or the `.` separator.
pub fn base64url_or_dot() -> impl Strategy<Value = char> {
    select(COOKIE_CHARS).prop_map(char::from)
}
