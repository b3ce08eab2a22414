//! The one signed-value layout every sessiongate cookie uses:
//! `<tag>.<base64url body>.<base64url HMAC-SHA256>`. The MAC covers a version string,
//! the cookie name, the tag and the encoded body (NUL-separated), and is checked in
//! constant time before the body is decoded. The full-session cookie's tag says whether
//! the body is deflated, the pending cookie's is fixed, the reference cookie's is the
//! session id.

use super::key::{KeyUse, Keyring};
use super::CookieError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

/// Length of a base64url (unpadded) HMAC-SHA256.
pub const MAC_B64_LEN: usize = 43;
/// Longest browser-sized value examined at all: twice what a browser stores, so work
/// stays bounded.
pub const MAX_VALUE_LEN: usize = 8192;

/// Seals `body` under `version`, cookie `name` and `tag`.
#[must_use]
pub fn seal(keys: &Keyring, version: &str, name: &str, tag: &str, body: &[u8]) -> String {
    let body = URL_SAFE_NO_PAD.encode(body);
    let mac = keys.sign(&parts(version, name, tag, &body));
    let mut out = String::with_capacity(tag.len() + body.len() + MAC_B64_LEN + 2);
    out.push_str(tag);
    out.push('.');
    out.push_str(&body);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(mac, &mut out);
    out
}

/// A sealed value, opened: its tag, its decoded body and which key verified it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Opened<'v> {
    /// The tag, as the value spelled it.
    pub tag: &'v str,
    /// The body: base64url-decoded (signed layout), or decrypted (encrypted layout).
    pub body: Vec<u8>,
    /// Which key verified the MAC.
    pub key: KeyUse,
}

/// Opens a sealed value of at most `max_len` bytes whose tag `accept` allows.
///
/// # Errors
/// [`CookieError::Malformed`] for anything but `<tag>.<body>.<mac>` with an accepted tag
/// and base64url parts; [`CookieError::BadSignature`] when no key made the MAC.
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
    let mut pieces = value.split('.');
    let (Some(tag), Some(body), Some(mac), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(Malformed);
    };
    if mac.len() != MAC_B64_LEN || body.is_empty() || !accept(tag) {
        return Err(Malformed);
    }
    let mac = URL_SAFE_NO_PAD.decode(mac).map_err(|_| Malformed)?;
    let key = keys
        .verify(&parts(version, name, tag, body), &mac)
        .ok_or(BadSignature)?;
    let body = URL_SAFE_NO_PAD.decode(body).map_err(|_| Malformed)?;
    Ok(Opened { tag, body, key })
}

fn parts<'a>(version: &'a str, name: &'a str, tag: &'a str, body: &'a str) -> [&'a [u8]; 7] {
    [
        version.as_bytes(),
        b"\0",
        name.as_bytes(),
        b"\0",
        tag.as_bytes(),
        b"\0",
        body.as_bytes(),
    ]
}
