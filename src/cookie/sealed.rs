//! Signed cookie values: `<tag>.<base64url body>.<base64url HMAC-SHA256>`, the shape of
//! the full-session and the pending cookies. The MAC covers a version string, the cookie
//! name, the tag and the body; it is checked before the body is decoded.

use super::key::{KeyUse, Keyring};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

const MAC_B64_LEN: usize = 43;
/// Longest value examined at all: twice what a browser stores, so work stays bounded.
const MAX_VALUE_LEN: usize = 8192;

/// Why a sealed value was rejected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealError {
    /// Not `<tag>.<body>.<mac>` with an accepted tag.
    Malformed,
    /// No configured key made the MAC.
    BadSignature,
}

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

/// Opens a sealed value whose tag is one of `tags`: the tag, the body and which key
/// verified it.
///
/// # Errors
/// [`SealError::Malformed`] for anything but `<tag>.<body>.<mac>` with an accepted tag
/// and base64url parts; [`SealError::BadSignature`] when no key made the MAC.
pub fn open<'v>(
    keys: &Keyring,
    version: &str,
    name: &str,
    tags: &[&str],
    value: &'v str,
) -> Result<(&'v str, Vec<u8>, KeyUse), SealError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(SealError::Malformed);
    }
    let mut pieces = value.split('.');
    let (Some(tag), Some(body), Some(mac), None) =
        (pieces.next(), pieces.next(), pieces.next(), pieces.next())
    else {
        return Err(SealError::Malformed);
    };
    if !tags.contains(&tag) || mac.len() != MAC_B64_LEN || body.is_empty() {
        return Err(SealError::Malformed);
    }
    let mac = URL_SAFE_NO_PAD
        .decode(mac)
        .map_err(|_| SealError::Malformed)?;
    let used = keys
        .verify(&parts(version, name, tag, body), &mac)
        .ok_or(SealError::BadSignature)?;
    let body = URL_SAFE_NO_PAD
        .decode(body)
        .map_err(|_| SealError::Malformed)?;
    Ok((tag, body, used))
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
