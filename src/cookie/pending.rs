//! The pending cookie: a [`Deferred`] write kept through a D1 outage, sealed as
//! `p1.<base64url JSON>.<mac>`, with when it was first recorded.

use super::key::{KeyUse, Keyring};
use super::{sealed, CookieError};
use crate::changes::Changes;
use crate::lifetime::Lifetime;
use crate::session::{Data, Record, SessionId};
use crate::time::Timestamp;
use crate::write::{Deferred, NewLifetime, Update, UserChange};
use serde::{Deserialize, Serialize};

const VERSION: &str = "sessiongate-pending-v1";
const TAG: &str = "p1";

/// The pending cookie's JSON.
#[derive(Serialize, Deserialize)]
struct Wire {
    /// `insert`, `update` or `delete`.
    op: String,
    /// The session in D1 (for an insert: the new one).
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_id: Option<String>,
    /// `Some(user)` sets the user; `Some(None)` is not used (logout deletes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default)]
    clear: bool,
    /// Touched keys: a value sets, `null` removes.
    #[serde(default)]
    keys: Data,
    /// Expiry the write-back sets.
    exp: i64,
    /// Absolute expiry of an inserted session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    abs: Option<i64>,
    /// When the operation was first recorded.
    at: i64,
    /// An insert: when its user authenticated (absent in cookies of earlier versions:
    /// the creation time then counts for a session with a user).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    auth: Option<i64>,
    /// An update: the user reauthenticated (absent: did not).
    #[serde(default, skip_serializing_if = "is_false")]
    reauth: bool,
    /// The session's lifetime (an insert's when not the default; an update's when it
    /// sets one, with `abs` its absolute expiry). Absent in earlier cookies.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    life: Option<String>,
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_false(b: &bool) -> bool {
    !*b
}

/// A pending cookie, decoded and verified.
#[derive(Debug, Clone, PartialEq)]
pub struct Carried {
    /// The deferred write.
    pub op: Deferred,
    /// When it was first recorded.
    pub since: Timestamp,
    /// Which key verified it.
    pub key: KeyUse,
}

/// The signed pending-cookie value of `op`, recorded since `since`.
#[must_use]
pub fn encode(keys: &Keyring, name: &str, op: &Deferred, since: Timestamp) -> String {
    let wire = match op {
        Deferred::Insert(r) => Wire {
            op: "insert".into(),
            id: r.id.to_string(),
            new_id: None,
            user: r.user_id.clone(),
            clear: false,
            keys: r.data.clone(),
            exp: r.expires_at.unix(),
            abs: r.absolute_expires_at.map(Timestamp::unix),
            at: since.unix(),
            auth: r.auth_time.map(Timestamp::unix),
            reauth: false,
            life: r.lifetime.to_column(),
        },
        Deferred::Update(u) => Wire {
            op: "update".into(),
            id: u.id.to_string(),
            new_id: u.new_id.map(|n| n.to_string()),
            user: match &u.user {
                UserChange::Set(user) => Some(user.clone()),
                // A logout deletes: an update never clears the user.
                UserChange::Keep | UserChange::Clear => None,
            },
            clear: u.changes.clears(),
            keys: u.changes.entries(),
            exp: u.expires_at.unix(),
            abs: u
                .lifetime
                .and_then(|l| l.absolute_expires_at.map(Timestamp::unix)),
            at: since.unix(),
            auth: None,
            reauth: u.reauthenticated,
            life: u.lifetime.map(|l| l.lifetime.to_string()),
        },
        Deferred::Delete(id) => Wire {
            op: "delete".into(),
            id: id.to_string(),
            new_id: None,
            user: None,
            clear: false,
            keys: Data::new(),
            exp: 0,
            abs: None,
            at: since.unix(),
            auth: None,
            reauth: false,
            life: None,
        },
    };
    // Strings, integers and JSON values always serialize.
    let json = serde_json::to_vec(&wire).unwrap_or_default();
    sealed::seal(keys, VERSION, name, TAG, &json)
}

/// The deferred write a pending-cookie value holds.
///
/// # Errors
/// [`CookieError::Malformed`], [`CookieError::BadSignature`], or
/// [`CookieError::BadPayload`] when a verified body is not an operation.
pub fn decode(keys: &Keyring, name: &str, value: &str) -> Result<Carried, CookieError> {
    use CookieError::BadPayload;
    let opened = sealed::open(keys, VERSION, name, value, sealed::MAX_VALUE_LEN, |t| {
        t == TAG
    })?;
    let w: Wire = serde_json::from_slice(&opened.body).map_err(|_| BadPayload)?;
    let id: SessionId = w.id.parse().map_err(|_| BadPayload)?;
    let at = Timestamp::from_unix(w.at);
    let op = match w.op.as_str() {
        "insert" => Deferred::Insert(Record {
            id,
            user_id: w.user,
            data: w.keys,
            created_at: at,
            expires_at: Timestamp::from_unix(w.exp),
            absolute_expires_at: w.abs.map(Timestamp::from_unix),
            updated_at: at,
            version: 1,
            auth_time: w.auth.map(Timestamp::from_unix),
            lifetime: Lifetime::from_column(w.life.as_deref()),
        }),
        "update" => {
            let new_id = w
                .new_id
                .map(|n| n.parse())
                .transpose()
                .map_err(|_| BadPayload)?;
            let mut changes = Changes::default();
            if w.clear {
                changes.clear();
            }
            for (k, v) in w.keys {
                changes.set(&k, (!v.is_null()).then_some(v));
            }
            Deferred::Update(Update {
                id,
                new_id,
                user: w.user.map_or(UserChange::Keep, UserChange::Set),
                changes,
                expires_at: Timestamp::from_unix(w.exp),
                now: at,
                reauthenticated: w.reauth,
                lifetime: w.life.map(|l| NewLifetime {
                    lifetime: Lifetime::from_column(Some(&l)),
                    absolute_expires_at: w.abs.map(Timestamp::from_unix),
                }),
            })
        }
        "delete" => Deferred::Delete(id),
        _ => return Err(BadPayload),
    };
    Ok(Carried {
        op,
        since: at,
        key: opened.key,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cookie::testing::keys;

    const T: Timestamp = Timestamp::from_unix(1_800_000_000);

    #[test]
    fn forged_or_foreign_pending_cookies_are_refused() {
        let v = encode(keys(), "p", &Deferred::Delete(SessionId::random()), T);
        assert!(decode(keys(), "p", &v).is_ok());
        assert_eq!(decode(keys(), "other", &v), Err(CookieError::BadSignature));
        assert_eq!(decode(keys(), "p", &v[1..]), Err(CookieError::Malformed));
        let forged = sealed::seal(
            keys(),
            VERSION,
            "p",
            TAG,
            br#"{"op":"drop-tables","id":"x","exp":0,"at":0}"#,
        );
        assert_eq!(decode(keys(), "p", &forged), Err(CookieError::BadPayload));
    }

    #[test]
    fn the_auth_time_and_a_reauthentication_travel_under_the_mac() {
        let insert = Deferred::Insert(Record {
            id: SessionId::random(),
            user_id: Some("ann".into()),
            data: Data::new(),
            created_at: T,
            expires_at: T.plus(600),
            absolute_expires_at: None,
            updated_at: T,
            version: 1,
            auth_time: Some(T.plus(-5)),
            lifetime: Default::default(),
        });
        let update = Deferred::Update(Update {
            id: SessionId::random(),
            new_id: None,
            user: UserChange::Keep,
            changes: Changes::default(),
            expires_at: T.plus(600),
            now: T,
            reauthenticated: true,
            lifetime: None,
        });
        for op in [insert, update] {
            let v = encode(keys(), "p", &op, T);
            assert_eq!(decode(keys(), "p", &v).map(|c| c.op), Ok(op));
        }
        // Without them (cookies of earlier versions): no auth time, no reauthentication.
        let id = SessionId::random();
        let old = format!(r#"{{"op":"update","id":"{id}","exp":1,"at":1}}"#);
        let v = sealed::seal(keys(), VERSION, "p", TAG, old.as_bytes());
        let Ok(Carried {
            op: Deferred::Update(u),
            ..
        }) = decode(keys(), "p", &v)
        else {
            panic!("an update")
        };
        assert!(!u.reauthenticated);
    }
}
