//! The behaviour every [`Store`] must have. Each backend's test module expands
//! [`conformance_tests!`], which makes one `#[test]` per case below, so a failure names
//! its store and its case (`store::sqlite::tests::round_trip`).

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{Store, StoreError, Update, UserChange};
use crate::changes::Changes;
use crate::lifetime::Lifetime;
use crate::session::{Record, SessionId};
use crate::time::Timestamp;
use crate::write::NewLifetime;
use serde_json::{json, Value};

const T0: Timestamp = Timestamp::from_unix(1_800_000_000);

/// What a store can hold, for the cases that depend on it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// Holds many sessions at once (a database); else only the request's own.
    pub many_sessions: bool,
    /// Refuses sessions over this many encoded bytes.
    pub max_bytes: Option<usize>,
}

impl Caps {
    pub const DATABASE: Self = Self {
        many_sessions: true,
        max_bytes: None,
    };
    pub const ONE_SESSION_IN_A_COOKIE: Self = Self {
        many_sessions: false,
        max_bytes: Some(4096),
    };
}

pub(crate) fn record(user: Option<&str>, data: Value) -> Record {
    let Value::Object(data) = data else {
        panic!("object")
    };
    Record {
        id: SessionId::random(),
        user_id: user.map(str::to_owned),
        data,
        created_at: T0,
        expires_at: T0.plus(600),
        absolute_expires_at: Some(T0.plus(3600)),
        updated_at: T0,
        version: 1,
        auth_time: user.map(|_| T0.plus(-30)),
        lifetime: Default::default(),
    }
}

/// Changes setting each key of `v` (a `null` value removes the key).
fn patch(v: Value) -> Changes {
    let mut c = Changes::default();
    if let Value::Object(m) = v {
        for (k, v) in m {
            c.set(&k, (!v.is_null()).then_some(v));
        }
    }
    c
}

fn update(id: SessionId) -> Update {
    Update {
        id,
        new_id: None,
        user: UserChange::Keep,
        changes: Changes::default(),
        expires_at: T0.plus(700),
        now: T0.plus(100),
        reauthenticated: false,
        lifetime: None,
    }
}

/// One `#[test] fn <case>()` per conformance case, in the calling module: each runs the
/// case against a fresh store from `$make` (a function or closure returning a
/// [`Store`]) with the store's capabilities `$caps` (a [`Caps`]).
///
/// ```ignore
/// conformance_tests!(SqliteStore::new, Caps::DATABASE);
/// ```
///
/// Every case takes the capabilities; a case that depends on them checks them in its
/// own body (see [`Caps`]). A case left out of this list is dead code, which the lints
/// refuse.
macro_rules! conformance_tests {
    ($make:expr, $caps:expr $(,)?) => {
        $crate::store::conformance::conformance_tests!(@cases $make, $caps;
            round_trip,
            unknown_ids,
            duplicate_insert_fails,
            changes_replace_touched_keys_only,
            concurrent_patches_of_different_keys_both_survive,
            cycle_moves_the_row,
            cycle_onto_a_taken_id_fails_and_changes_nothing,
            login_and_clear,
            the_auth_time_follows_logins_and_reauthentications,
            a_lifetime_is_kept_until_the_next_one,
            delete_and_delete_user,
            an_ended_session_is_never_inserted_again,
            awkward_values_round_trip,
        );
    };
    (@cases $make:expr, $caps:expr; $($case:ident),+ $(,)?) => {
        $(
            #[test]
            fn $case() {
                let make = $make;
                ::pollster::block_on($crate::store::conformance::$case(&make(), $caps));
            }
        )+
    };
}
pub(crate) use conformance_tests;

pub(crate) async fn round_trip(s: &impl Store, _: Caps) {
    let r = record(Some("alice"), json!({"cart": [1, 2], "n": {"deep": true}}));
    s.insert(&r).await.unwrap();
    assert_eq!(s.load(&r.id).await.unwrap(), Some(r));
}

pub(crate) async fn unknown_ids(s: &impl Store, _: Caps) {
    let id = SessionId::random();
    assert_eq!(s.load(&id).await.unwrap(), None);
    assert_eq!(s.update(&update(id)).await, Ok(false));
    assert_eq!(s.delete(&id).await, Ok(false));
    assert_eq!(s.delete_user("nobody").await, Ok(0));
}

pub(crate) async fn duplicate_insert_fails(s: &impl Store, _: Caps) {
    let r = record(None, json!({}));
    s.insert(&r).await.unwrap();
    assert!(matches!(s.insert(&r).await, Err(StoreError::Backend(_))));
}

pub(crate) async fn changes_replace_touched_keys_only(s: &impl Store, _: Caps) {
    let r = record(None, json!({"a": 1, "b": {"x": 1, "y": 2}, "gone": true}));
    s.insert(&r).await.unwrap();
    let u = Update {
        changes: patch(json!({"b": {"y": null, "z": 3}, "gone": null, "c": "new"})),
        ..update(r.id)
    };
    assert_eq!(s.update(&u).await, Ok(true));
    let got = s.load(&r.id).await.unwrap().unwrap();
    assert_eq!(
        Value::Object(got.data),
        json!({"a": 1, "b": {"z": 3}, "c": "new"})
    );
    assert_eq!(
        (got.expires_at, got.updated_at, got.version),
        (T0.plus(700), T0.plus(100), 2)
    );
    assert_eq!(
        (got.created_at, got.absolute_expires_at),
        (T0, Some(T0.plus(3600)))
    );
}

pub(crate) async fn concurrent_patches_of_different_keys_both_survive(s: &impl Store, _: Caps) {
    let r = record(None, json!({}));
    s.insert(&r).await.unwrap();
    // Both requests loaded the empty session before either wrote.
    let first = Update {
        changes: patch(json!({"left": 1})),
        ..update(r.id)
    };
    let second = Update {
        changes: patch(json!({"right": 2})),
        ..update(r.id)
    };
    assert_eq!(s.update(&first).await, Ok(true));
    assert_eq!(s.update(&second).await, Ok(true));
    let got = s.load(&r.id).await.unwrap().unwrap();
    assert_eq!(Value::Object(got.data), json!({"left": 1, "right": 2}));
    assert_eq!(got.version, 3);
}

pub(crate) async fn cycle_moves_the_row(s: &impl Store, _: Caps) {
    cycle(s).await;
}

/// Inserts a session, cycles it to a new id and checks it moved; returns the new id.
async fn cycle(s: &impl Store) -> SessionId {
    let r = record(Some("bob"), json!({"k": "v"}));
    s.insert(&r).await.unwrap();
    let new_id = SessionId::random();
    assert_eq!(
        s.update(&Update {
            new_id: Some(new_id),
            ..update(r.id)
        })
        .await,
        Ok(true)
    );
    assert_eq!(s.load(&r.id).await.unwrap(), None);
    let got = s.load(&new_id).await.unwrap().unwrap();
    assert_eq!(
        (got.user_id.as_deref(), Value::Object(got.data)),
        (Some("bob"), json!({"k": "v"}))
    );
    new_id
}

pub(crate) async fn cycle_onto_a_taken_id_fails_and_changes_nothing(s: &impl Store, caps: Caps) {
    if !caps.many_sessions {
        // A store of one session has no other id to collide with.
        return;
    }
    let new_id = cycle(s).await;
    // Cycling onto an id that exists fails and changes nothing.
    let other = record(None, json!({}));
    s.insert(&other).await.unwrap();
    assert!(s
        .update(&Update {
            new_id: Some(other.id),
            ..update(new_id)
        })
        .await
        .is_err());
    assert!(s.load(&new_id).await.unwrap().is_some());
}

pub(crate) async fn login_and_clear(s: &impl Store, _: Caps) {
    let r = record(None, json!({"cart": [1], "tmp": 1}));
    s.insert(&r).await.unwrap();
    let u = Update {
        user: UserChange::Set("carol".into()),
        changes: {
            let mut c = Changes::default();
            c.clear();
            c.set("fresh", Some(json!(true)));
            c
        },
        ..update(r.id)
    };
    assert_eq!(s.update(&u).await, Ok(true));
    let got = s.load(&r.id).await.unwrap().unwrap();
    assert_eq!(
        (got.user_id.as_deref(), Value::Object(got.data)),
        (Some("carol"), json!({"fresh": true}))
    );
    let logout_user = Update {
        user: UserChange::Clear,
        ..update(r.id)
    };
    assert_eq!(s.update(&logout_user).await, Ok(true));
    assert_eq!(s.load(&r.id).await.unwrap().unwrap().user_id, None);
}

pub(crate) async fn a_lifetime_is_kept_until_the_next_one(s: &impl Store, _: Caps) {
    let r = Record {
        lifetime: Lifetime::Browser,
        ..record(Some("eve"), json!({}))
    };
    s.insert(&r).await.unwrap();
    let load = || async { s.load(&r.id).await.unwrap().unwrap() };
    assert_eq!(load().await.lifetime, Lifetime::Browser, "inserted");
    assert_eq!(s.update(&update(r.id)).await, Ok(true));
    let kept = load().await;
    assert_eq!(
        (kept.lifetime, kept.absolute_expires_at),
        (Lifetime::Browser, Some(T0.plus(3600))),
        "an update without one keeps both"
    );
    let custom = Lifetime::Custom {
        idle_secs: 900,
        absolute_secs: Some(86_400),
    };
    let set = Update {
        lifetime: Some(NewLifetime {
            lifetime: custom,
            absolute_expires_at: Some(T0.plus(86_500)),
        }),
        ..update(r.id)
    };
    assert_eq!(s.update(&set).await, Ok(true));
    let got = load().await;
    assert_eq!(
        (got.lifetime, got.absolute_expires_at),
        (custom, Some(T0.plus(86_500)))
    );
    let back = Update {
        lifetime: Some(NewLifetime {
            lifetime: Lifetime::Default,
            absolute_expires_at: None,
        }),
        ..update(r.id)
    };
    assert_eq!(s.update(&back).await, Ok(true));
    let got = load().await;
    assert_eq!(
        (got.lifetime, got.absolute_expires_at),
        (Lifetime::Default, None)
    );
}

pub(crate) async fn the_auth_time_follows_logins_and_reauthentications(s: &impl Store, _: Caps) {
    let r = record(Some("dora"), json!({}));
    s.insert(&r).await.unwrap();
    let at = |s_: Option<Record>| s_.unwrap().auth_time;
    assert_eq!(
        at(s.load(&r.id).await.unwrap()),
        Some(T0.plus(-30)),
        "inserted"
    );
    let reauth = Update {
        reauthenticated: true,
        ..update(r.id)
    };
    assert_eq!(s.update(&reauth).await, Ok(true));
    assert_eq!(
        at(s.load(&r.id).await.unwrap()),
        Some(T0.plus(100)),
        "refreshed"
    );
    let logout_user = Update {
        user: UserChange::Clear,
        ..update(r.id)
    };
    assert_eq!(s.update(&logout_user).await, Ok(true));
    assert_eq!(at(s.load(&r.id).await.unwrap()), None, "anonymous again");
    let anonymous_reauth = Update {
        now: T0.plus(150),
        ..reauth.clone()
    };
    assert_eq!(s.update(&anonymous_reauth).await, Ok(true));
    assert_eq!(
        at(s.load(&r.id).await.unwrap()),
        None,
        "nobody to reauthenticate"
    );
    let login = Update {
        user: UserChange::Set("erin".into()),
        now: T0.plus(200),
        ..update(r.id)
    };
    assert_eq!(s.update(&login).await, Ok(true));
    assert_eq!(
        at(s.load(&r.id).await.unwrap()),
        Some(T0.plus(200)),
        "a login"
    );
    let anon = record(None, json!({}));
    s.insert(&anon).await.unwrap();
    assert_eq!(
        at(s.load(&anon.id).await.unwrap()),
        None,
        "never authenticated"
    );
}

/// A database deletes one session or all of a user's; a store of one session deletes
/// that one.
pub(crate) async fn delete_and_delete_user(s: &impl Store, caps: Caps) {
    if caps.many_sessions {
        delete_and_delete_user_of_many_sessions(s).await;
    } else {
        delete_and_delete_user_of_the_one_session(s).await;
    }
}

async fn delete_and_delete_user_of_many_sessions(s: &impl Store) {
    let a1 = record(Some("dave"), json!({}));
    let a2 = record(Some("dave"), json!({}));
    let b = record(Some("erin"), json!({}));
    for r in [&a1, &a2, &b] {
        s.insert(r).await.unwrap();
    }
    assert_eq!(s.delete(&b.id).await, Ok(true));
    assert_eq!(s.load(&b.id).await.unwrap(), None);
    assert_eq!(s.delete_user("dave").await, Ok(2));
    assert_eq!(s.load(&a1.id).await.unwrap(), None);
    assert_eq!(s.load(&a2.id).await.unwrap(), None);
}

async fn delete_and_delete_user_of_the_one_session(s: &impl Store) {
    let a = record(Some("dave"), json!({}));
    s.insert(&a).await.unwrap();
    assert_eq!(s.delete_user("erin").await, Ok(0));
    assert_eq!(s.delete_user("dave").await, Ok(1));
    assert_eq!(s.load(&a.id).await.unwrap(), None);
    let b = record(None, json!({}));
    s.insert(&b).await.unwrap();
    assert_eq!(s.delete(&b.id).await, Ok(true));
    assert_eq!(s.delete(&b.id).await, Ok(false));
}

/// Text that no compression shrinks much, so size limits really apply.
/// A deleted or cycled-away id is refused by a later insert (a replayed pending cookie):
/// what a database store remembers; a single-slot store starts over with each request.
pub(crate) async fn an_ended_session_is_never_inserted_again(s: &impl Store, caps: Caps) {
    if !caps.many_sessions {
        return;
    }
    let r = record(Some("ann"), json!({"a": 1}));
    s.insert(&r).await.unwrap();
    assert!(s.delete(&r.id).await.unwrap());
    assert_eq!(s.insert(&r).await, Err(StoreError::Revoked(r.id)));
    assert_eq!(s.load(&r.id).await.unwrap(), None);
    let old = record(None, json!({}));
    s.insert(&old).await.unwrap();
    let mut u = update(old.id);
    u.new_id = Some(SessionId::random());
    assert!(s.update(&u).await.unwrap());
    assert_eq!(
        s.insert(&old).await,
        Err(StoreError::Revoked(old.id)),
        "cycled away"
    );
    let gone = record(Some("bo"), json!({}));
    s.insert(&gone).await.unwrap();
    assert_eq!(s.delete_user("bo").await.unwrap(), 1);
    assert_eq!(
        s.insert(&gone).await,
        Err(StoreError::Revoked(gone.id)),
        "revoked"
    );
}

fn noise(len: usize) -> String {
    let mut s: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            char::from(b'!' + (s % 90) as u8)
        })
        .collect()
}

pub(crate) async fn awkward_values_round_trip(s: &impl Store, caps: Caps) {
    let nasty = "'; DROP TABLE sessions; --\u{0}\r\n\"\\";
    let big = record(
        Some(nasty),
        json!({nasty: nasty, "big": noise(10_240), "uni": "日本 🍪"}),
    );
    let Some(limit) = caps.max_bytes else {
        s.insert(&big).await.unwrap();
        assert_eq!(s.load(&big.id).await.unwrap(), Some(big.clone()));
        assert_eq!(s.delete_user(nasty).await, Ok(1));
        return;
    };
    match s.insert(&big).await {
        Err(StoreError::TooLarge { bytes, limit: l }) => assert!(bytes > limit && l == limit),
        other => panic!("a 10 KB session was accepted: {other:?}"),
    }
    assert_eq!(s.load(&big.id).await.unwrap(), None, "nothing stored");
    let small = record(Some(nasty), json!({nasty: nasty, "uni": "日本 🍪"}));
    s.insert(&small).await.unwrap();
    assert_eq!(s.load(&small.id).await.unwrap(), Some(small.clone()));
    // Growing past the limit fails and keeps the old state.
    let mut grow = Changes::default();
    grow.set("big", Some(json!(noise(limit))));
    let refused = s
        .update(&Update {
            changes: grow,
            ..update(small.id)
        })
        .await;
    assert!(
        matches!(refused, Err(StoreError::TooLarge { .. })),
        "{refused:?}"
    );
    assert_eq!(s.load(&small.id).await.unwrap(), Some(small));
}
