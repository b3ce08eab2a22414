//! The cookie store's cookie: the whole session, encrypted.
//!
//! `<tag>.<base64url nonce + ciphertext>` ([`super::private`]), where `tag` is `e1` (JSON)
//! or `e1z` (deflated JSON, used only when it is shorter): the client can neither read
//! nor change the data, the user or the expiries, and the compression flag is bound in
//! as associated data. The signed-only format of earlier versions (`s1`/`s1z`,
//! [`super::sealed`], readable by the client) is still accepted, so sessions survive
//! the upgrade; every write re-sends the cookie encrypted. Nothing is decompressed or
//! parsed before the value authenticates; decompression is capped.

use super::key::{KeyUse, Keyring};
use super::{private, sealed, CookieError};
use crate::lifetime::Lifetime;
use crate::session::{Data, Record, SessionId};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Version string bound into every encrypted full-session cookie.
const VERSION: &str = "sessiongate-full-v2";
const PLAIN: &str = "e1";
const DEFLATED: &str = "e1z";
/// The signed-only format (read, never written).
const SIGNED_VERSION: &str = "sessiongate-full-v1";
const SIGNED_PLAIN: &str = "s1";
const SIGNED_DEFLATED: &str = "s1z";
/// Cap on the decompressed payload (a deflate bomb stops here).
const MAX_JSON_LEN: usize = 64 * 1024;
/// Payloads shorter than this (JSON bytes) are never deflated.
const DEFLATE_FROM: usize = 512;
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
    /// When the user last authenticated (absent in cookies of earlier versions, and for
    /// anonymous sessions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    t: Option<i64>,
    /// The session's lifetime when not the default (absent in cookies of earlier
    /// versions).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    l: Option<String>,
}

/// The cookie value holding `record` under cookie `name`, encrypted with the current key;
/// `None` only when the system has no randomness for the nonce.
#[must_use]
pub fn encode(keys: &Keyring, name: &str, record: &Record) -> Option<String> {
    let payload = Payload {
        id: record.id.to_string(),
        u: record.user_id.clone(),
        d: record.data.clone(),
        c: record.created_at.unix(),
        e: record.expires_at.unix(),
        a: record.absolute_expires_at.map(Timestamp::unix),
        v: record.version,
        t: record.auth_time.map(Timestamp::unix),
        l: record.lifetime.to_column(),
    };
    // Serializing plain JSON values cannot fail; an empty body would fail to decode.
    let json = serde_json::to_vec(&payload).unwrap_or_default();
    // A small payload is sealed as it is: deflate would save it a few bytes and cost
    // the deflate here and an inflate on every request that reads it (a quarter of the
    // cookie store's native request time, measured). A larger one is deflated when
    // that saves at least an eighth.
    let deflated = (json.len() >= DEFLATE_FROM)
        .then(|| miniz_oxide::deflate::compress_to_vec(&json, 6))
        .filter(|d| d.len() * 8 <= json.len() * 7);
    let (tag, body) = match deflated {
        Some(deflated) => (DEFLATED, deflated),
        None => (PLAIN, json),
    };
    private::seal(keys, VERSION, name, tag, &body)
}

/// The session a cookie value holds, and which key opened it. Encrypted values and the
/// signed-only values of earlier versions are both read.
///
/// # Errors
/// [`CookieError::Malformed`] for anything but `<tag>.<body>` (encrypted) or
/// `<tag>.<payload>.<mac>` (signed), [`CookieError::BadSignature`] when no configured
/// key opens or made it for `name`, [`CookieError::BadPayload`] when an authenticated
/// payload does not decode.
pub fn decode(keys: &Keyring, name: &str, value: &str) -> Result<(Record, KeyUse), CookieError> {
    use CookieError::BadPayload;
    let max = sealed::MAX_VALUE_LEN;
    let opened = match value.split('.').count() {
        2 => private::open(keys, VERSION, name, value, max, |t| {
            t == PLAIN || t == DEFLATED
        })?,
        _ => {
            let accept = |t: &str| t == SIGNED_PLAIN || t == SIGNED_DEFLATED;
            sealed::open(keys, SIGNED_VERSION, name, value, max, accept)?
        }
    };
    let deflated = opened.tag == DEFLATED || opened.tag == SIGNED_DEFLATED;
    let signed_only = opened.tag == SIGNED_PLAIN || opened.tag == SIGNED_DEFLATED;
    // A readable cookie of an earlier version is re-issued encrypted on its first use,
    // as one under a retired key is: it does not linger until its next write.
    let key = if signed_only {
        KeyUse::Fallback
    } else {
        opened.key
    };
    let body = opened.body;
    let json = if deflated {
        miniz_oxide::inflate::decompress_to_vec_with_limit(&body, MAX_JSON_LEN)
            .map_err(|_| BadPayload)?
    } else {
        body
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
        auth_time: p.t.map(Timestamp::from_unix),
        lifetime: Lifetime::from_column(p.l.as_deref()),
    };
    Ok((record, key))
}

/// Bytes a browser counts for the cookie: name, `=`, value.
#[must_use]
pub fn cookie_bytes(name: &str, value: &str) -> usize {
    name.len() + 1 + value.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::testing::ring;
    use serde_json::json;

    const NEW: &[u8] = b"new-secret-new-secret-new-secret-!";
    const OLD: &[u8] = b"old-secret-old-secret-old-secret-!";

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
            auth_time: None,
            lifetime: Lifetime::Default,
        }
    }

    fn cookie(keys: &Keyring, r: &Record) -> String {
        encode(keys, "sid", r).unwrap()
    }

    #[test]
    fn round_trip_plain_and_deflated_and_unreadable() {
        let keys = ring(NEW, &[]);
        let small = record(json!({"n": 1}));
        let json = serde_json::to_vec(&json!({
            "id": small.id.to_string(), "u": "alice", "d": {"n": 1},
            "c": 1_800_000_000, "e": 1_800_000_600, "a": 1_800_003_600, "v": 3
        }))
        .unwrap();
        // The plain form opens too (the encoder picks it when deflate does not help).
        let plain = private::seal(&keys, VERSION, "sid", PLAIN, &json).unwrap();
        assert_eq!(
            decode(&keys, "sid", &plain),
            Ok((small.clone(), KeyUse::Current))
        );
        let chosen = cookie(&keys, &small);
        assert!(chosen.len() <= plain.len(), "never longer than plain");
        assert!(chosen.starts_with("e1."), "a small session is not deflated");
        assert_eq!(decode(&keys, "sid", &chosen), Ok((small, KeyUse::Current)));
        let big = record(json!({"cart": vec!["the same item"; 100]}));
        let v = cookie(&keys, &big);
        assert!(v.starts_with("e1z."), "repetitive data is deflated");
        assert!(v.len() < 600, "{}", v.len());
        assert_eq!(decode(&keys, "sid", &v), Ok((big, KeyUse::Current)));
        for secret in ["alice", "the same item", "cart"] {
            let b64 =
                base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret);
            assert!(
                !v.contains(secret) && !v.contains(&b64[..b64.len() - 1]),
                "{secret} readable"
            );
        }
    }

    #[test]
    fn signed_only_cookies_of_earlier_versions_still_open() {
        let keys = ring(NEW, &[]);
        let r = record(json!({"n": 1}));
        let json = serde_json::to_vec(&json!({
            "id": r.id.to_string(), "u": "alice", "d": {"n": 1},
            "c": 1_800_000_000, "e": 1_800_000_600, "a": 1_800_003_600, "v": 3
        }))
        .unwrap();
        let old = sealed::seal(&keys, SIGNED_VERSION, "sid", SIGNED_PLAIN, &json);
        assert_eq!(
            decode(&keys, "sid", &old),
            Ok((r, KeyUse::Fallback)),
            "opened, and to be re-issued encrypted"
        );
        let forged = sealed::seal(&keys, VERSION, "sid", SIGNED_PLAIN, &json);
        assert_eq!(
            decode(&keys, "sid", &forged),
            Err(CookieError::BadSignature)
        );
    }

    #[test]
    fn bound_to_name_and_key_and_rotation_works() {
        let r = record(json!({}));
        let old_cookie = cookie(&ring(OLD, &[]), &r);
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
    fn switching_the_compression_flag_breaks_the_seal() {
        let keys = ring(NEW, &[]);
        for data in [json!({}), json!({"cart": vec!["x"; 50]})] {
            let v = cookie(&keys, &record(data));
            let flipped = match v.strip_prefix("e1z.") {
                Some(rest) => format!("e1.{rest}"),
                None => v.replacen("e1.", "e1z.", 1),
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
            let v = cookie(&keys, &record(data));
            for i in 0..v.len() {
                // Random deltas: `properties::single_byte_mutations_never_verify`.
                for delta in [1u8, 7, 64, 255] {
                    let mut bytes = v.clone().into_bytes();
                    bytes[i] = bytes[i].wrapping_add(delta);
                    let Ok(mutated) = String::from_utf8(bytes) else {
                        continue;
                    };
                    assert!(
                        decode(&keys, "sid", &mutated).is_err(),
                        "mutation at {i} +{delta} accepted"
                    );
                }
            }
        }
    }

    #[test]
    fn every_truncation_is_rejected_and_a_huge_value_is_malformed() {
        // Random values, truncations and mutations: the `properties` module below.
        let keys = ring(NEW, &[]);
        let v = cookie(&keys, &record(json!({"cart": vec!["x"; 50]})));
        for cut in 0..v.len() {
            assert!(decode(&keys, "sid", &v[..cut]).is_err());
        }
        assert_eq!(
            decode(&keys, "sid", &"a".repeat(100_000)),
            Err(CookieError::Malformed)
        );
    }

    #[test]
    fn a_deflate_bomb_is_capped() {
        let keys = ring(NEW, &[]);
        // Authentic payloads that inflate past the cap, in both formats.
        let bomb = miniz_oxide::deflate::compress_to_vec(&vec![b' '; MAX_JSON_LEN + 1], 9);
        let v = private::seal(&keys, VERSION, "sid", DEFLATED, &bomb).unwrap();
        assert_eq!(decode(&keys, "sid", &v), Err(CookieError::BadPayload));
        let v = sealed::seal(&keys, SIGNED_VERSION, "sid", SIGNED_DEFLATED, &bomb);
        assert_eq!(decode(&keys, "sid", &v), Err(CookieError::BadPayload));
    }

    /// Property tests (proptest). A failure prints the minimal input and its seed
    /// (`cc …`), and appends the seed to `proptest-regressions/cookie/full.txt`, which
    /// later runs replay first: commit that file with the fix.
    mod properties {
        use super::*;
        use crate::cookie::testing::{base64url, base64url_or_dot, keys, text};
        use proptest::collection::{btree_map, vec};
        use proptest::prelude::*;
        use proptest::sample::Index;
        use serde_json::Value;

        /// What a session holds: scalars, text (some repetitive, so it is deflated),
        /// nesting.
        fn value() -> impl Strategy<Value = Value> {
            let leaf = prop_oneof![
                Just(Value::Null),
                any::<bool>().prop_map(Value::from),
                any::<i64>().prop_map(Value::from),
                text(any::<char>(), 0..24).prop_map(Value::from),
                (0..200_usize).prop_map(|n| Value::from("ab".repeat(n))),
            ];
            leaf.prop_recursive(2, 16, 4, |inner| {
                prop_oneof![
                    vec(inner.clone(), 0..4).prop_map(Value::from),
                    btree_map(text(base64url(), 1..6), inner, 0..4)
                        .prop_map(|m| Value::Object(m.into_iter().collect())),
                ]
            })
        }

        fn any_record() -> impl Strategy<Value = Record> {
            (
                any::<u128>(),
                proptest::option::of(text(any::<char>(), 0..32)),
                btree_map(text(any::<char>(), 1..12), value(), 0..6),
                0..4_000_000_000_i64,
                1..100_000_i64,
                proptest::option::of(1..1_000_000_i64),
                1..1_000_i64,
            )
                .prop_map(|(id, user, data, created, idle, absolute, version)| {
                    let t = Timestamp::from_unix(created);
                    Record {
                        id: uuid::Uuid::from_u128(id).to_string().parse().unwrap(),
                        auth_time: user.as_ref().map(|_| t.plus(version)),
                        user_id: user,
                        data: data.into_iter().collect(),
                        created_at: t,
                        expires_at: t.plus(idle),
                        absolute_expires_at: absolute.map(|a| t.plus(a)),
                        updated_at: t,
                        version,
                        lifetime: Default::default(),
                    }
                })
        }

        /// The cookie holding `r`, checked to round-trip. `encode` deflates nearly every
        /// session these strategies make, so with `plain` it is sealed again as plain
        /// JSON, the form `encode` picks when deflate does not help.
        fn valid_cookie(r: &Record, plain: bool) -> Result<String, TestCaseError> {
            let mut v = encode(keys(), "sid", r).unwrap();
            if plain && v.starts_with("e1z.") {
                let opened = private::open(keys(), VERSION, "sid", &v, 8192, |_| true).unwrap();
                assert_eq!(opened.tag, DEFLATED);
                let json = miniz_oxide::inflate::decompress_to_vec(&opened.body).unwrap();
                v = private::seal(keys(), VERSION, "sid", PLAIN, &json).unwrap();
            }
            prop_assert_eq!(decode(keys(), "sid", &v), Ok((r.clone(), KeyUse::Current)));
            Ok(v)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(5_000))]

            #[test]
            fn random_text_never_verifies(s in text(any::<char>(), 0..300)) {
                prop_assert!(decode(keys(), "sid", &s).is_err());
            }

            #[test]
            fn random_base64url_and_dots_never_verify(s in text(base64url_or_dot(), 0..300)) {
                prop_assert!(decode(keys(), "sid", &s).is_err());
            }

            /// Shaped like a cookie of either format, so the seal or the MAC is checked.
            #[test]
            fn random_cookie_shaped_values_never_verify(
                deflated in any::<bool>(),
                body in text(base64url(), 0..200),
                mac in text(base64url(), 43..44),
            ) {
                let tag = if deflated { DEFLATED } else { PLAIN };
                prop_assert!(decode(keys(), "sid", &[tag, &body].join(".")).is_err());
                let tag = if deflated { SIGNED_DEFLATED } else { SIGNED_PLAIN };
                prop_assert!(decode(keys(), "sid", &[tag, &body, &mac].join(".")).is_err());
            }

            #[test]
            fn random_bytes_never_verify(bytes in vec(any::<u8>(), 0..300)) {
                prop_assert!(decode(keys(), "sid", &String::from_utf8_lossy(&bytes)).is_err());
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(1_000))]

            #[test]
            fn truncations_of_a_valid_cookie_never_verify(
                r in any_record(),
                plain in any::<bool>(),
                cut in any::<Index>(),
            ) {
                let v = valid_cookie(&r, plain)?;
                let cut = cut.index(v.len());
                prop_assert!(decode(keys(), "sid", &v[..cut]).is_err());
            }

            #[test]
            fn single_byte_mutations_never_verify(
                r in any_record(),
                plain in any::<bool>(),
                at in any::<Index>(),
                delta in 1..=255_u8,
            ) {
                let mut bytes = valid_cookie(&r, plain)?.into_bytes();
                let at = at.index(bytes.len());
                bytes[at] = bytes[at].wrapping_add(delta);
                // A byte that is no longer UTF-8 becomes U+FFFD: still a mutation.
                let mutated = String::from_utf8_lossy(&bytes);
                prop_assert!(decode(keys(), "sid", &mutated).is_err(), "byte {} +{}", at, delta);
            }
        }
    }
}
