//! The D1 store's cookie: a signed reference `<session id>.<snapshot>.<base64url
//! HMAC-SHA256>`, the [`sealed`] layout with the session id as its tag.
//!
//! The snapshot (base64url JSON `{"u": user id or null, "t": issued-at}`) is what lets
//! a logged-in user through a D1 outage: identity for a bounded window after the cookie
//! was issued, without a read. The MAC covers a version tag, the cookie name, the id and
//! the snapshot, so a value copied under another cookie name, or from a future format,
//! does not verify. The id alone (public: it is in headers, signals and the admin API)
//! is useless without the MAC.

use super::key::{KeyUse, Keyring};
use super::{sealed, CookieError};
use crate::lifetime::Lifetime;
use crate::protocol::MAX_USER_ID_LEN;
use crate::session::SessionId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Version string bound into every reference MAC.
const VERSION: &str = "sessiongate-ref-v1";
/// Longest value examined at all (a snapshot holds at most a 256-byte user id).
const MAX_VALUE_LEN: usize = 1024;

/// Who the cookie was issued to, and when: signed, so it can stand in for a D1 read
/// while D1 is down.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// The user when the cookie was issued.
    #[serde(rename = "u")]
    pub user_id: Option<String>,
    /// When the cookie was issued.
    #[serde(rename = "t", with = "unix")]
    pub issued_at: Timestamp,
    /// The session's absolute expiry, so a fallback never outlives it.
    #[serde(
        rename = "a",
        default,
        skip_serializing_if = "Option::is_none",
        with = "unix_opt"
    )]
    pub absolute_expires_at: Option<Timestamp>,
    /// The session's lifetime in its stored form, when not the default (absent in
    /// cookies of earlier versions): through an outage a `browser` session's cookie
    /// keeps no `Max-Age` and a short lifetime stays short.
    #[serde(rename = "l", default, skip_serializing_if = "Option::is_none")]
    pub lifetime: Option<String>,
}

impl Snapshot {
    /// Whether the snapshot may stand in for D1 at `now`: issued at most `window`
    /// seconds ago (and not more than 60 s in the future: clock skew), session not past
    /// its absolute expiry.
    #[must_use]
    pub fn usable(&self, now: Timestamp, window: i64) -> bool {
        let age = now.seconds_since(self.issued_at);
        window > 0
            && (-60..=window).contains(&age)
            && self.absolute_expires_at.is_none_or(|a| now < a)
    }
}

impl Snapshot {
    /// The session's lifetime (the default one when absent or unreadable).
    #[must_use]
    pub fn lifetime(&self) -> Lifetime {
        Lifetime::from_column(self.lifetime.as_deref())
    }
}

mod unix {
    use crate::time::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_i64(t.unix())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        i64::deserialize(d).map(Timestamp::from_unix)
    }
}

mod unix_opt {
    use crate::time::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    // serde's `skip_serializing_if` keeps `None` from reaching this.
    #[allow(clippy::ref_option)]
    pub fn serialize<S: Serializer>(t: &Option<Timestamp>, s: S) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_i64(t.unix()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Timestamp>, D::Error> {
        Option::<i64>::deserialize(d).map(|t| t.map(Timestamp::from_unix))
    }
}

/// A reference cookie, decoded and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    /// The session it names.
    pub id: SessionId,
    /// Its signed snapshot.
    pub snapshot: Snapshot,
    /// Which key verified it.
    pub key: KeyUse,
}

/// The cookie value naming session `id` under cookie `name`, with `snapshot`, signed
/// with the current key.
#[must_use]
pub fn encode(keys: &Keyring, name: &str, id: &SessionId, snapshot: &Snapshot) -> String {
    // A struct of strings and integers always serializes.
    let json = serde_json::to_vec(snapshot).unwrap_or_default();
    sealed::seal(keys, VERSION, name, &id.to_string(), &json)
}

/// The session a cookie value names, its snapshot and which key verified it.
///
/// # Errors
/// [`CookieError::Malformed`] for anything but `<uuid>.<snapshot>.<mac>` (a verified
/// snapshot that does not decode included: the format has always said so);
/// [`CookieError::BadSignature`] when the MAC is not from a configured key for `name`.
pub fn decode(keys: &Keyring, name: &str, value: &str) -> Result<Reference, CookieError> {
    let opened = sealed::open(keys, VERSION, name, value, MAX_VALUE_LEN, |tag| {
        tag.parse::<SessionId>().is_ok()
    })?;
    let id: SessionId = opened.tag.parse().map_err(|_| CookieError::Malformed)?;
    let snapshot = serde_json::from_slice::<Snapshot>(&opened.body)
        .ok()
        .filter(|s| {
            s.user_id
                .as_ref()
                .is_none_or(|u| u.len() <= MAX_USER_ID_LEN)
        })
        .ok_or(CookieError::Malformed)?;
    Ok(Reference {
        id,
        snapshot,
        key: opened.key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::testing::ring;

    const NEW: &[u8] = b"new-secret-new-secret-new-secret-!";
    const OLD: &[u8] = b"old-secret-old-secret-old-secret-!";

    fn id() -> SessionId {
        "9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab".parse().unwrap()
    }

    fn snap() -> Snapshot {
        Snapshot {
            user_id: Some("alice".into()),
            issued_at: Timestamp::from_unix(1_800_000_000),
            absolute_expires_at: Some(Timestamp::from_unix(1_800_003_600)),
            lifetime: None,
        }
    }

    #[test]
    fn snapshot_window_and_absolute_cap() {
        let s = snap();
        let t = s.issued_at;
        assert!(s.usable(t, 900));
        assert!(s.usable(t.plus(900), 900));
        assert!(!s.usable(t.plus(901), 900));
        assert!(s.usable(t.plus(-60), 900), "small clock skew");
        assert!(!s.usable(t.plus(-61), 900));
        assert!(!s.usable(t, 0), "window 0: no fallback");
        let capped = Snapshot {
            absolute_expires_at: Some(t.plus(10)),
            ..s
        };
        assert!(capped.usable(t.plus(9), 900));
        assert!(
            !capped.usable(t.plus(10), 900),
            "never past the absolute cap"
        );
    }

    #[test]
    fn round_trip_with_current_key() {
        let keys = ring(NEW, &[]);
        let v = encode(&keys, "session_id", &id(), &snap());
        assert!(v.starts_with("9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab."));
        assert_eq!(
            decode(&keys, "session_id", &v),
            Ok(Reference {
                id: id(),
                snapshot: snap(),
                key: KeyUse::Current
            })
        );
        let anon = Snapshot {
            user_id: None,
            issued_at: Timestamp::from_unix(5),
            absolute_expires_at: None,
            lifetime: None,
        };
        let v = encode(&keys, "session_id", &id(), &anon);
        assert_eq!(
            decode(&keys, "session_id", &v).map(|r| r.snapshot),
            Ok(anon)
        );
    }

    #[test]
    fn every_single_byte_change_is_rejected() {
        let keys = ring(NEW, &[]);
        let v = encode(&keys, "session_id", &id(), &snap());
        for i in 0..v.len() {
            for delta in [1u8, 7, 128] {
                let mut bytes = v.clone().into_bytes();
                bytes[i] = bytes[i].wrapping_add(delta);
                let Ok(tampered) = String::from_utf8(bytes) else {
                    continue;
                };
                assert!(
                    decode(&keys, "session_id", &tampered).is_err(),
                    "byte {i} +{delta} accepted"
                );
            }
        }
    }

    #[test]
    fn truncated_and_junk_values_are_malformed() {
        let keys = ring(NEW, &[]);
        let v = encode(&keys, "session_id", &id(), &snap());
        for cut in 0..v.len() {
            assert!(
                decode(&keys, "session_id", &v[..cut]).is_err(),
                "prefix {cut} accepted"
            );
        }
        let long = "a".repeat(5000);
        for junk in [
            "",
            ".",
            "x.y",
            "x.y.z",
            "🍪.🍪.🍪",
            &format!("{v}.extra"),
            &format!("{v}="),
            &long,
        ] {
            assert_eq!(
                decode(&keys, "session_id", junk),
                Err(CookieError::Malformed),
                "{junk}"
            );
        }
    }

    #[test]
    fn a_value_is_bound_to_its_cookie_name() {
        let keys = ring(NEW, &[]);
        let v = encode(&keys, "session_id", &id(), &snap());
        assert_eq!(decode(&keys, "other", &v), Err(CookieError::BadSignature));
    }

    #[test]
    fn old_key_verifies_as_fallback_and_new_key_signs() {
        let before = ring(OLD, &[]);
        let after = ring(NEW, &[OLD]);
        let old_cookie = encode(&before, "session_id", &id(), &snap());
        assert_eq!(
            decode(&after, "session_id", &old_cookie).map(|r| r.key),
            Ok(KeyUse::Fallback)
        );
        let reissued = encode(&after, "session_id", &id(), &snap());
        assert_ne!(reissued, old_cookie);
        assert_eq!(
            decode(&ring(NEW, &[]), "session_id", &reissued).map(|r| r.key),
            Ok(KeyUse::Current)
        );
        // Once the old key is retired entirely, its cookies stop working.
        assert_eq!(
            decode(&ring(NEW, &[]), "session_id", &old_cookie),
            Err(CookieError::BadSignature)
        );
    }

    /// Property tests (proptest); a failure's seed is kept as in `cookie::full`'s.
    mod properties {
        use super::*;
        use crate::cookie::testing::{base64url, base64url_or_dot, keys, text};
        use proptest::prelude::*;
        use proptest::sample::Index;

        fn any_id() -> impl Strategy<Value = SessionId> {
            any::<u128>().prop_map(|n| uuid::Uuid::from_u128(n).to_string().parse().unwrap())
        }

        fn any_snapshot() -> impl Strategy<Value = Snapshot> {
            (
                proptest::option::of(text(any::<char>(), 0..64)),
                any::<i64>(),
                proptest::option::of(any::<i64>()),
            )
                .prop_map(|(user_id, t, a)| Snapshot {
                    user_id,
                    issued_at: Timestamp::from_unix(t),
                    absolute_expires_at: a.map(Timestamp::from_unix),
                    lifetime: None,
                })
        }

        /// The value naming `id` with `snapshot`, checked to round-trip.
        fn valid_value(id: &SessionId, snapshot: &Snapshot) -> Result<String, TestCaseError> {
            let v = encode(keys(), "session_id", id, snapshot);
            prop_assert_eq!(
                decode(keys(), "session_id", &v).map(|r| (r.id, r.snapshot)),
                Ok((*id, snapshot.clone()))
            );
            Ok(v)
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(5_000))]

            #[test]
            fn arbitrary_strings_never_verify(
                s in prop_oneof![
                    text(any::<char>(), 0..300),
                    text(base64url_or_dot(), 0..200),
                    // Shaped like a value (a 43-character MAC), so the MAC is checked.
                    (any_id(), text(base64url(), 0..120), text(base64url(), 43..44))
                        .prop_map(|(id, snap, mac)| format!("{id}.{snap}.{mac}")),
                ]
            ) {
                prop_assert!(decode(keys(), "session_id", &s).is_err());
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2_000))]

            #[test]
            fn truncations_of_a_valid_value_never_verify(
                id in any_id(),
                snapshot in any_snapshot(),
                cut in any::<Index>(),
            ) {
                let v = valid_value(&id, &snapshot)?;
                let cut = cut.index(v.len());
                prop_assert!(decode(keys(), "session_id", &v[..cut]).is_err());
            }

            #[test]
            fn single_byte_mutations_of_a_valid_value_never_verify(
                id in any_id(),
                snapshot in any_snapshot(),
                at in any::<Index>(),
                delta in 1..=255_u8,
            ) {
                let mut bytes = valid_value(&id, &snapshot)?.into_bytes();
                let at = at.index(bytes.len());
                bytes[at] = bytes[at].wrapping_add(delta);
                // A byte that is no longer UTF-8 becomes U+FFFD: still a mutation.
                let mutated = String::from_utf8_lossy(&bytes);
                prop_assert!(
                    decode(keys(), "session_id", &mutated).is_err(),
                    "byte {} +{}", at, delta
                );
            }
        }
    }
}
