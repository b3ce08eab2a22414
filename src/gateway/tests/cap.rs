//! The cap on sessions per user: `evict_oldest` deletes the oldest beyond it at login,
//! `reject` refuses the login; off (0) it changes nothing.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{per_store, Client, Flaky, Reply};
use crate::config::Config;
use crate::session::SessionId;
use crate::signal::{Reason, Signal};
use crate::store::Store;

per_store!(
    a_login_beyond_the_cap_evicts_exactly_the_oldest,
    the_evicted_browser_is_anonymous_on_its_next_request,
    the_session_logging_in_is_never_evicted,
    nothing_is_evicted_unless_the_login_landed,
    reject_leaves_the_old_sessions_alone_and_performs_no_login,
    reject_writes_nothing_for_a_visitor,
    a_relogin_under_reject_of_a_counted_session_passes,
    off_changes_nothing,
    steady_state_with_a_cap_is_one_read_and_no_write,
);

const EVICT: [(&str, &str); 1] = [("SESSION_MAX_PER_USER", "2")];
const REJECT: [(&str, &str); 2] = [
    ("SESSION_MAX_PER_USER", "2"),
    ("SESSION_LIMIT_STRATEGY", "reject"),
];

/// A client of `vars` logged in as `user` at `T0 + secs`, and its session id.
fn login<'d, S: Store>(
    d1: &'d Flaky<S>,
    vars: &[(&str, &str)],
    user: &str,
    secs: i64,
) -> (Client<'d, S>, SessionId) {
    let mut c = Client::new(d1, vars);
    c.send(secs, Reply::login(user));
    let id = c.reference().map(|r| r.id).expect("a reference cookie");
    (c, id)
}

fn evicted(signals: &[Signal]) -> Vec<SessionId> {
    signals
        .iter()
        .filter_map(|s| match s {
            Signal::Deleted {
                session_id,
                reason: Reason::Evicted,
            } => Some(*session_id),
            _ => None,
        })
        .collect()
}

fn a_login_beyond_the_cap_evicts_exactly_the_oldest<S: Store>(d1: &Flaky<S>) {
    let (_, first) = login(d1, &EVICT, "ann", 0);
    let (_, bob) = login(d1, &EVICT, "bob", 5);
    let (_, second) = login(d1, &EVICT, "ann", 10);
    let mut third = Client::new(d1, &EVICT);
    let seen = third.send(20, Reply::login("ann"));
    let newest = third.reference().unwrap().id;
    assert_eq!(evicted(&seen.signals), [first], "exactly the oldest");
    assert!(seen.signal_names().contains(&"session_deleted"));
    assert!(d1.row(first).is_none());
    assert!(d1.row(second).is_some() && d1.row(newest).is_some());
    assert!(d1.row(bob).is_some(), "other users untouched");
    // Under the cap, a login evicts nothing.
    let (_, bob2) = login(d1, &EVICT, "bob", 30);
    assert!(d1.row(bob).is_some() && d1.row(bob2).is_some());
}

fn the_evicted_browser_is_anonymous_on_its_next_request<S: Store>(d1: &Flaky<S>) {
    let (mut first, _) = login(d1, &EVICT, "ann", 0);
    login(d1, &EVICT, "ann", 10);
    login(d1, &EVICT, "ann", 20);
    let seen = first.send(30, Reply::OK);
    assert_eq!(seen.header("X-Session-User-Id"), None);
    assert!(seen.session.is_none());
}

fn the_session_logging_in_is_never_evicted<S: Store>(d1: &Flaky<S>) {
    // A visitor's session, older than every session of ann, logs in last.
    let mut visitor = Client::new(d1, &EVICT);
    visitor.send(0, Reply::update(r#"{"cart":[1]}"#));
    let (_, a) = login(d1, &EVICT, "ann", 10);
    let (_, b) = login(d1, &EVICT, "ann", 20);
    let seen = visitor.send(30, Reply::login("ann"));
    let me = visitor.reference().unwrap().id;
    assert_eq!(evicted(&seen.signals), [a]);
    assert!(d1.row(me).is_some() && d1.row(b).is_some());
    let next = visitor.send(40, Reply::OK);
    assert_eq!(next.header("X-Session-User-Id"), Some("ann"));
    // A cap of one: a login keeps only itself.
    let one = [("SESSION_MAX_PER_USER", "1")];
    let (_, only) = login(d1, &one, "ann", 50);
    assert!(d1.row(me).is_none() && d1.row(b).is_none());
    assert!(d1.row(only).is_some());
}

fn nothing_is_evicted_unless_the_login_landed<S: Store>(d1: &Flaky<S>) {
    let (_, a) = login(d1, &EVICT, "ann", 0);
    let (_, b) = login(d1, &EVICT, "ann", 10);
    let (_, bob) = login(d1, &EVICT, "bob", 20);
    let now = super::T0.plus(30);
    // The session said to have logged in is not ann's (her login was refused or lost).
    for not_hers in [bob, SessionId::random()] {
        let evicted = pollster::block_on(d1.evict("ann", &not_hers, 0, now));
        assert_eq!(evicted, Ok(vec![]));
    }
    assert!(d1.row(a).is_some() && d1.row(b).is_some());
    assert_eq!(pollster::block_on(d1.evict("ann", &b, 0, now)), Ok(vec![a]));
}

fn reject_leaves_the_old_sessions_alone_and_performs_no_login<S: Store>(d1: &Flaky<S>) {
    let (_, a) = login(d1, &REJECT, "ann", 0);
    let (_, b) = login(d1, &REJECT, "ann", 10);
    let mut late = Client::new(d1, &REJECT);
    late.send(15, Reply::update(r#"{"cart":[1]}"#));
    let before = late.reference().unwrap().id;
    let reply = Reply {
        update: Some(r#"{"name":"Ann"}"#),
        ..Reply::login("ann")
    };
    let seen = late.send(20, reply);
    assert!(seen.signals.iter().any(|s| matches!(
        s,
        Signal::DataSaveFailed {
            reason: Reason::LimitReached,
            ..
        }
    )));
    assert!(seen.event_names().contains(&"session_login_refused"));
    assert!(evicted(&seen.signals).is_empty());
    assert!(d1.row(a).is_some() && d1.row(b).is_some());
    let row = d1.row(before).expect("the session stays as it was");
    assert_eq!(row.user_id, None);
    assert_eq!(
        serde_json::Value::Object(row.data),
        serde_json::json!({"cart":[1]})
    );
    let next = late.send(30, Reply::OK);
    assert_eq!(next.header("X-Session-User-Id"), None);
    assert_eq!(next.id(), Some(before));
    // Another user is not capped by ann's sessions.
    let (_, bob) = login(d1, &REJECT, "bob", 40);
    assert_eq!(d1.row(bob).unwrap().user_id.as_deref(), Some("bob"));
}

fn reject_writes_nothing_for_a_visitor<S: Store>(d1: &Flaky<S>) {
    login(d1, &REJECT, "ann", 0);
    login(d1, &REJECT, "ann", 10);
    d1.ops();
    let mut visitor = Client::new(d1, &REJECT);
    let seen = visitor.send(20, Reply::login("ann"));
    assert_eq!(d1.ops(), (1, 0), "the count, and no write");
    assert!(seen.set_cookies.is_empty());
    assert!(visitor.reference().is_none());
}

fn a_relogin_under_reject_of_a_counted_session_passes<S: Store>(d1: &Flaky<S>) {
    let (mut a, _) = login(d1, &REJECT, "ann", 0);
    login(d1, &REJECT, "ann", 10);
    // Ann logs in again on a session she holds: she does not gain one.
    let seen = a.send(20, Reply::login("ann"));
    assert!(!seen.signal_names().contains(&"session_data_save_failed"));
    let id = a.reference().unwrap().id;
    assert_eq!(d1.row(id).unwrap().user_id.as_deref(), Some("ann"));
}

fn off_changes_nothing<S: Store>(d1: &Flaky<S>) {
    let ids: Vec<SessionId> = (0..4).map(|i| login(d1, &[], "ann", i * 10).1).collect();
    assert!(ids.iter().all(|id| d1.row(*id).is_some()));
    let zero = [
        ("SESSION_MAX_PER_USER", "0"),
        ("SESSION_LIMIT_STRATEGY", "reject"),
    ];
    let (_, fifth) = login(d1, &zero, "ann", 50);
    assert!(d1.row(fifth).is_some());
    d1.ops();
    let mut c = Client::new(d1, &[]);
    c.send(60, Reply::login("ann"));
    assert_eq!(d1.ops(), (0, 1), "a login is one write, no count");
}

fn steady_state_with_a_cap_is_one_read_and_no_write<S: Store>(d1: &Flaky<S>) {
    for vars in [&EVICT[..], &REJECT[..]] {
        let (mut c, _) = login(d1, vars, "carl", 0);
        d1.ops();
        c.send(1, Reply::OK);
        assert_eq!(d1.ops(), (1, 0));
    }
}

#[test]
fn the_settings_are_checked() {
    let parse = |vars: &[(&str, &str)]| {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| (name == "SESSION_SECRET").then(|| super::SECRET.to_owned()))
                .or_else(|| (name == "SESSION_TIMEOUT_MINUTES").then(|| "30".to_owned()))
        })
    };
    assert_eq!(parse(&[]).unwrap().cap, None, "off by default");
    let cap = parse(&[("SESSION_MAX_PER_USER", "3")])
        .unwrap()
        .cap
        .unwrap();
    assert_eq!(
        (cap.max, cap.strategy),
        (3, crate::config::LimitStrategy::EvictOldest)
    );
    let cap = parse(&REJECT).unwrap().cap.unwrap();
    assert_eq!(cap.strategy, crate::config::LimitStrategy::Reject);
    let settings = |vars: &[(&str, &str)]| -> Vec<&'static str> {
        parse(vars)
            .unwrap_err()
            .0
            .iter()
            .map(|e| e.setting)
            .collect()
    };
    let cookie = [("SESSION_MAX_PER_USER", "2"), ("SESSION_STORE", "cookie")];
    assert_eq!(settings(&cookie), ["SESSION_MAX_PER_USER"]);
    assert_eq!(
        settings(&[("SESSION_MAX_PER_USER", "101")]),
        ["SESSION_MAX_PER_USER"]
    );
    assert_eq!(
        settings(&[
            ("SESSION_MAX_PER_USER", "2"),
            ("SESSION_LIMIT_STRATEGY", "lru")
        ]),
        ["SESSION_LIMIT_STRATEGY"]
    );
    // Off in the cookie store is fine.
    let off = [("SESSION_MAX_PER_USER", "0"), ("SESSION_STORE", "cookie")];
    assert!(parse(&off).is_ok());
}
