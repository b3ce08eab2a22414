//! The cookie store's cookie: the whole session, signed.
//!
//! `<tag>.<base64url payload>.<base64url HMAC-SHA256>`, where `tag` is `s1` (JSON) or
//! `s1z` (deflated JSON, used only when it is shorter). The MAC covers a version string,
//! the cookie name, the tag and the payload, so the compression flag, the idle and
//! absolute expiry and the data are all authenticated. The MAC is checked before
//! anything is decompressed or parsed; decompression is capped.

use super::key::{KeyUse, Keyring};
use super::{sealed, CookieError};
use crate::session::{Data, Record, SessionId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Version string bound into every full-session MAC.
const VERSION: &str = "sessiongate-full-v1";
const PLAIN: &str = "s1";
const DEFLATED: &str = "s1z";
/// Cap on the decompressed payload (a deflate bomb stops here).
const MAX_JSON_LEN: usize = 64 * 1024;
/// Browsers keep cookies up to 4096 bytes of name + value.
pub const MAX_COOKIE_BYTES: usize = 4096;

#[derive(Serialize, Deserialize)]
struct Payload {
    id: String,
    u: Option<String>,
    d: Data,
    c: i64,
    e: i64,
    a: Option<i64>,
    v: i64,
}

/// The cookie value holding `record` under cookie `name`, signed with the current key.
#[must_use]
pub fn encode(keys: &Keyring, name: &str, record: &Record) -> String {
    let payload = Payload {
        id: record.id.to_string(),
        u: record.user_id.clone(),
        d: record.data.clone(),
        c: record.created_at.unix(),
        e: record.expires_at.unix(),
        a: record.absolute_expires_at.map(Timestamp::unix),
        v: record.version,
    };
    // Serializing plain JSON values cannot fail; an empty body would fail to decode.
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    let deflated = miniz_oxide::deflate::compress_to_vec(&json, 6);
    let (tag, body) = if deflated.len() < json.len() {
        (DEFLATED, deflated)
    } else {
        (PLAIN, json)
    };
    sealed::seal(keys, VERSION, name, tag, &body)
}

/// The session a cookie value holds, and which key verified it.
///
/// # Errors
/// [`CookieError::Malformed`] for anything but `<tag>.<payload>.<mac>`,
/// [`CookieError::BadSignature`] when no configured key made the MAC for `name`,
/// [`CookieError::BadPayload`] when a verified payload does not decode.
pub fn decode(keys: &Keyring, name: &str, value: &str) -> Result<(Record, KeyUse), CookieError> {
    use CookieError::BadPayload;
    let opened = sealed::open(keys, VERSION, name, value, sealed::MAX_VALUE_LEN, |tag| {
        tag == PLAIN || tag == DEFLATED
    })?;
    let json = if opened.tag == DEFLATED {
        miniz_oxide::inflate::decompress_to_vec_with_limit(&opened.body, MAX_JSON_LEN)
            .map_err(|_| BadPayload)?
    } else {
        opened.body
    };
    let p: Payload = serde_json::from_slice(&json).map_err(|_| BadPayload)?;
    let id: SessionId = p.id.parse().map_err(|_| BadPayload)?;
    let record = Record {
        id,
        user_id: p.u,
        data: p.d,
        created_at: Timestamp::from_unix(p.c),
        expires_at: Timestamp::from_unix(p.e),
        absolute_expires_at: p.a.map(Timestamp::from_unix),
        updated_at: Timestamp::from_unix(p.c),
        version: p.v,
    };
    Ok((record, opened.key))
}

/// Bytes a browser counts for the cookie: name, `=`, value.
#[must_use]
pub fn cookie_bytes(name: &str, value: &str) -> usize {
    name.len() + 1 + value.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::key::Key;
    use serde_json::json;

    const NEW: &[u8] = b"new-secret-new-secret-new-secret-!";
    const OLD: &[u8] = b"old-secret-old-secret-old-secret-!";

    fn ring(current: &[u8], old: &[&[u8]]) -> Keyring {
        let k = |s: &[u8]| Key::derive(s, "cookie").unwrap();
        Keyring::new(k(current), old.iter().map(|s| k(s)).collect())
    }

    fn record(data: serde_json::Value) -> Record {
        let serde_json::Value::Object(data) = data else {
            panic!()
        };
        let t = Timestamp::from_unix(1_800_000_000);
        Record {
            id: SessionId::random(),
            user_id: Some("alice".into()),
            data,
            created_at: t,
            expires_at: t.plus(600),
            absolute_expires_at: Some(t.plus(3600)),
            updated_at: t,
            version: 3,
        }
    }

    /// A deterministic xorshift stream: property tests without a dependency.
    fn rng(mut s: u64) -> impl FnMut() -> u64 {
        move || {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s
        }
    }

    #[test]
    fn round_trip_plain_and_deflated() {
        let keys = ring(NEW, &[]);
        // The plain form decodes too (the encoder picks it when deflate does not help).
        let small = record(json!({"n": 1}));
        let json = serde_json::to_vec(&json!({
            "id": small.id.to_string(), "u": "alice", "d": {"n": 1},
            "c": 1_800_000_000, "e": 1_800_000_600, "a": 1_800_003_600, "v": 3
        }))
        .unwrap();
        let plain = sealed::seal(&keys, VERSION, "sid", PLAIN, &json);
        assert_eq!(
            decode(&keys, "sid", &plain),
            Ok((small.clone(), KeyUse::Current))
        );
        let chosen = encode(&keys, "sid", &small);
        assert!(chosen.len() <= plain.len(), "never longer than plain");
        assert_eq!(decode(&keys, "sid", &chosen), Ok((small, KeyUse::Current)));
        let big = record(json!({"cart": vec!["the same item"; 100]}));
        let v = encode(&keys, "sid", &big);
        assert!(v.starts_with("s1z."), "repetitive data is deflated");
        assert!(v.len() < 600, "{}", v.len());
        assert_eq!(decode(&keys, "sid", &v), Ok((big, KeyUse::Current)));
    }

    #[test]
    fn bound_to_name_and_key_and_rotation_works() {
        let r = record(json!({}));
        let old_cookie = encode(&ring(OLD, &[]), "sid", &r);
        assert_eq!(
            decode(&ring(NEW, &[OLD]), "sid", &old_cookie).map(|x| x.1),
            Ok(KeyUse::Fallback)
        );
        assert_eq!(
            decode(&ring(NEW, &[]), "sid", &old_cookie),
            Err(CookieError::BadSignature)
        );
        assert_eq!(
            decode(&ring(OLD, &[]), "other", &old_cookie),
            Err(CookieError::BadSignature)
        );
    }

    #[test]
    fn switching_the_compression_flag_breaks_the_mac() {
        let keys = ring(NEW, &[]);
        for data in [json!({}), json!({"cart": vec!["x"; 50]})] {
            let v = encode(&keys, "sid", &record(data));
            let flipped = match v.strip_prefix("s1z.") {
                Some(rest) => format!("s1.{rest}"),
                None => v.replacen("s1.", "s1z.", 1),
            };
            assert_ne!(flipped, v);
            assert_eq!(
                decode(&keys, "sid", &flipped),
                Err(CookieError::BadSignature)
            );
        }
    }

    #[test]
    fn every_single_byte_mutation_is_rejected() {
        let keys = ring(NEW, &[]);
        for data in [json!({"n": 1}), json!({"cart": vec!["x"; 200]})] {
            let v = encode(&keys, "sid", &record(data));
            let mut next = rng(0x5eed);
            for i in 0..v.len() {
                for _ in 0..4 {
                    let mut bytes = v.clone().into_bytes();
                    let delta = (next() % 255 + 1) as u8;
                    bytes[i] = bytes[i].wrapping_add(delta);
                    let Ok(mutated) = String::from_utf8(bytes) else {
                        continue;
                    };
                    assert!(
                        decode(&keys, "sid", &mutated).is_err(),
                        "mutation at {i} accepted"
                    );
                }
            }
        }
    }

    #[test]
    fn truncations_and_random_bytes_never_panic_and_never_verify() {
        let keys = ring(NEW, &[]);
        let v = encode(&keys, "sid", &record(json!({"cart": vec!["x"; 50]})));
        for cut in 0..v.len() {
            assert!(decode(&keys, "sid", &v[..cut]).is_err());
        }
        let mut next = rng(42);
        let alphabet = b"s1z.ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        for round in 0..20_000 {
            let len = (next() % 200) as usize;
            let s: String = (0..len)
                .map(|_| {
                    let r = next();
                    if round % 2 == 0 {
                        char::from(alphabet[(r % alphabet.len() as u64) as usize])
                    } else {
                        char::from_u32((r % 0x800) as u32).unwrap_or('?')
                    }
                })
                .collect();
            assert!(decode(&keys, "sid", &s).is_err());
        }
        assert_eq!(
            decode(&keys, "sid", &"a".repeat(100_000)),
            Err(CookieError::Malformed)
        );
    }

    #[test]
    fn a_deflate_bomb_is_capped() {
        let keys = ring(NEW, &[]);
        // A validly signed payload that inflates past the cap.
        let bomb = miniz_oxide::deflate::compress_to_vec(&vec![b' '; MAX_JSON_LEN + 1], 9);
        let v = sealed::seal(&keys, VERSION, "sid", DEFLATED, &bomb);
        assert_eq!(decode(&keys, "sid", &v), Err(CookieError::BadPayload));
    }
}
