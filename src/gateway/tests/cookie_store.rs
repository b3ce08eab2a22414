//! The cookie store: the session is the cookie; no D1 binding means this store too.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{config, request, request_in, Browser, Flaky, Memory, Reply, OLD_SECRET, SECRET, T0};
use crate::cookie::full;
use crate::protocol::StoreLabel;
use crate::store::memory::MemoryStore;
use crate::write::Revocation;
use serde_json::{json, Value};

/// No database: the type the edge would pass when the binding is missing.
const NO_D1: Option<&Flaky<MemoryStore>> = None;

#[test]
fn the_session_round_trips_in_the_cookie() {
    let cfg = config(&[("SESSION_STORE", "cookie")]);
    let d1 = Flaky::new(MemoryStore::new());
    let mut b = Browser::default();
    let seen = request(
        &cfg,
        Some(&d1),
        &mut b,
        T0,
        Reply::update(r#"{"cart":[1]}"#),
    );
    assert_eq!(seen.label, StoreLabel::Cookie);
    assert_eq!(
        d1.ops(),
        (0, 0),
        "configured for cookies: D1 is never asked"
    );
    let value = b.get("session_id").expect("the session cookie");
    let (record, _) = full::decode(&cfg.keys, "session_id", value).expect("a full cookie");
    assert_eq!(Value::Object(record.data), json!({"cart": [1]}));
    let next = request(
        &cfg,
        Some(&d1),
        &mut b,
        T0.plus(5),
        Reply::update(r#"{"b":2}"#),
    );
    assert_eq!(next.id(), Some(record.id));
    let value = b.get("session_id").expect("rewritten on every write");
    let (record, _) = full::decode(&cfg.keys, "session_id", value).expect("a full cookie");
    assert_eq!(Value::Object(record.data), json!({"cart": [1], "b": 2}));
}

#[test]
fn without_d1_only_the_cookie_store_serves() {
    let cfg = config(&[("SESSION_STORE", "cookie")]);
    let mut b = Browser::default();
    let seen = request(&cfg, NO_D1, &mut b, T0, Reply::login("ann"));
    assert_eq!(seen.label, StoreLabel::Cookie);
    let next = request(&cfg, NO_D1, &mut b, T0.plus(1), Reply::OK);
    assert_eq!(next.header("X-Session-User-Id"), Some("ann"));
    assert!(
        next.set_cookies.is_empty(),
        "steady state: no cookie rewrite"
    );
    // Configured for D1 without its binding: no silent switch, nothing kept.
    let d1_cfg = config(&[]);
    let seen = request(&d1_cfg, NO_D1, &mut b, T0.plus(2), Reply::login("bob"));
    assert_eq!(seen.label, StoreLabel::Unavailable);
    assert!(seen.set_cookies.is_empty());
    assert_eq!(seen.event_names(), ["session_save_failed"]);
}

#[test]
fn a_session_too_large_for_a_cookie_keeps_the_old_cookie() {
    let cfg = config(&[("SESSION_STORE", "cookie")]);
    let mut b = Browser::default();
    request(&cfg, NO_D1, &mut b, T0, Reply::update(r#"{"small":1}"#));
    let before = b.get("session_id").map(str::to_owned);
    // Random ids deflate to about half: still well over 4096 bytes.
    let big: String = (0..400)
        .map(|_| crate::session::SessionId::random().to_string())
        .collect();
    let update = format!(r#"{{"big":"{big}"}}"#);
    let seen = request(&cfg, NO_D1, &mut b, T0.plus(1), Reply::update(&update));
    assert!(seen.set_cookies.is_empty());
    assert_eq!(b.get("session_id").map(str::to_owned), before);
    assert!(seen.signal_names().contains(&"session_data_save_failed"));
    let event = &seen.events[0];
    assert_eq!(event.name, "session_save_failed");
    assert!(event.fields["error"]
        .as_str()
        .is_some_and(|e| e.ends_with("the limit is 4096")));
}

#[test]
fn a_cookie_under_a_retired_key_is_reissued() {
    let before = config(&[("SESSION_STORE", "cookie"), ("SESSION_SECRET", OLD_SECRET)]);
    let after = config(&[
        ("SESSION_STORE", "cookie"),
        ("SESSION_SECRET_FALLBACKS", OLD_SECRET),
    ]);
    let mut b = Browser::default();
    request(&before, NO_D1, &mut b, T0, Reply::login("ann"));
    let seen = request(&after, NO_D1, &mut b, T0.plus(1), Reply::OK);
    assert_eq!(seen.header("X-Session-User-Id"), Some("ann"));
    let only_new = config(&[("SESSION_SECRET", SECRET)]);
    let value = b.get("session_id").expect("re-issued");
    assert!(full::decode(&only_new.keys, "session_id", value).is_ok());
}

#[test]
fn logout_and_expiry_clear_the_cookie() {
    let cfg = config(&[("SESSION_STORE", "cookie")]);
    let mut b = Browser::default();
    request(&cfg, NO_D1, &mut b, T0, Reply::login("ann"));
    let expired = request(&cfg, NO_D1, &mut b, T0.plus(1800), Reply::OK);
    assert!(expired.session.is_none());
    assert!(expired.signal_names().contains(&"session_expired"));
    assert_eq!(b.get("session_id"), None);
    request(&cfg, NO_D1, &mut b, T0.plus(1801), Reply::login("bo"));
    let out = request(&cfg, NO_D1, &mut b, T0.plus(1802), Reply::action("delete"));
    assert_eq!(
        out.signal_names(),
        ["session_data_retrieved", "session_deleted"]
    );
    assert_eq!(b.get("session_id"), None);
}

#[test]
fn a_forged_cookie_starts_a_fresh_session() {
    let cfg = config(&[("SESSION_STORE", "cookie")]);
    let mut b = Browser::default();
    b.jar.insert(
        "session_id".into(),
        "s1.e30.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
    );
    let seen = request(&cfg, NO_D1, &mut b, T0, Reply::OK);
    assert!(seen.session.is_none());
    assert_eq!(seen.signal_names(), ["session_cookie_rejected"]);
    assert_eq!(b.get("session_id"), None, "cleared");
}

#[test]
fn revoke_user_ends_every_cookie_store_session_of_the_user() {
    let cfg = config(&[("SESSION_STORE", "cookie")]);
    let d1 = Flaky::new(MemoryStore::new());
    let at = |memory: &Memory, browser: &mut Browser, now, reply| {
        request_in(memory, &cfg, Some(&d1), browser, now, reply)
    };
    let (isolate_a, isolate_b) = (Memory::default(), Memory::default());
    let (mut phone, mut laptop) = (Browser::default(), Browser::default());
    at(&isolate_a, &mut phone, T0, Reply::login("ann"));
    at(&isolate_b, &mut laptop, T0, Reply::login("ann"));
    let stolen = laptop.clone();
    let seen = at(&isolate_b, &mut laptop, T0.plus(1), Reply::OK);
    assert_eq!(seen.header("X-Session-User-Id"), Some("ann"));
    d1.ops();
    // "Log out everywhere" from the phone, served by another isolate.
    at(
        &isolate_a,
        &mut phone,
        T0.plus(5),
        Reply::action("revoke-user"),
    );
    assert_eq!(
        d1.ops(),
        (1, 1),
        "the time read (the first of this user here), then written"
    );
    // The laptop's isolate learned "no revocation" at T0+1: it reads D1 again after a minute.
    let mut copy = stolen.clone();
    let within = at(&isolate_b, &mut copy, T0.plus(30), Reply::OK);
    assert_eq!(
        within.header("X-Session-User-Id"),
        Some("ann"),
        "the bound: up to a minute"
    );
    let mut copy = stolen.clone();
    let after = at(&isolate_b, &mut copy, T0.plus(62), Reply::OK);
    assert!(
        after.session.is_none(),
        "refused once the isolate reads D1 again"
    );
    assert_eq!(after.event_names(), ["session_revoked"]);
    assert_eq!(d1.ops(), (1, 0), "one read of the time, then remembered");
    let mut copy = stolen;
    at(&isolate_b, &mut copy, T0.plus(63), Reply::OK);
    assert_eq!(d1.ops(), (0, 0));
    // A new login after the revocation is valid.
    let mut fresh = Browser::default();
    at(&isolate_b, &mut fresh, T0.plus(70), Reply::login("ann"));
    let seen = at(&isolate_b, &mut fresh, T0.plus(71), Reply::OK);
    assert_eq!(seen.header("X-Session-User-Id"), Some("ann"));
}

#[test]
fn a_revoke_user_d1_refuses_goes_to_the_queue() {
    let cfg = config(&[("SESSION_STORE", "cookie")]);
    let d1 = Flaky::new(MemoryStore::new());
    let at = |memory: &Memory, browser: &mut Browser, now, reply| {
        request_in(memory, &cfg, Some(&d1), browser, now, reply)
    };
    let memory = Memory::default();
    let mut b = Browser::default();
    at(&memory, &mut b, T0, Reply::login("ann"));
    d1.failing(super::Fail::Writes);
    let seen = at(&memory, &mut b, T0.plus(1), Reply::action("revoke-user"));
    assert_eq!(seen.revocations, [Revocation::User("ann".into())]);
}

#[test]
fn a_renewal_in_a_stale_isolate_does_not_launder_a_revoked_cookie() {
    let cfg = config(&[("SESSION_STORE", "cookie")]);
    let d1 = Flaky::new(MemoryStore::new());
    let at = |memory: &Memory, browser: &mut Browser, now, reply| {
        request_in(memory, &cfg, Some(&d1), browser, now, reply)
    };
    let (isolate_a, stale) = (Memory::default(), Memory::default());
    let mut thief = Browser::default();
    at(&stale, &mut thief, T0, Reply::login("ann"));
    // The thief's isolate learns "no revocation" for ann at T0+1.
    at(&stale, &mut thief, T0.plus(1), Reply::OK);
    let mut phone = Browser::default();
    at(&isolate_a, &mut phone, T0, Reply::login("ann"));
    let revoke = Reply::action("revoke-user");
    at(&isolate_a, &mut phone, T0.plus(2), revoke);
    // Within the stale isolate's minute, a write re-issues the thief's cookie...
    let write = Reply::update(r#"{"x":1}"#);
    let seen = at(&stale, &mut thief, T0.plus(30), write);
    assert_eq!(
        seen.header("X-Session-User-Id"),
        Some("ann"),
        "the stated bound: a minute"
    );
    assert!(!seen.set_cookies.is_empty(), "re-issued");
    // ...which still began before the revocation: refused in every isolate after that.
    let fresh = Memory::default();
    let seen = at(&fresh, &mut thief, T0.plus(600), Reply::OK);
    assert!(seen.session.is_none(), "not laundered by the re-issue");
}

#[test]
fn strict_mode_does_not_vouch_for_a_cookie_when_d1_cannot_say() {
    let cfg = config(&[
        ("SESSION_STORE", "cookie"),
        ("SESSION_STRICT_REVOCATION", "true"),
    ]);
    let d1 = Flaky::new(MemoryStore::new());
    let mut b = Browser::default();
    request(&cfg, Some(&d1), &mut b, T0, Reply::login("ann"));
    d1.failing(super::Fail::All);
    let seen = request(&cfg, Some(&d1), &mut b, T0.plus(1), Reply::OK);
    assert!(
        seen.session.is_none(),
        "refused without the revocation time"
    );
    let lax = config(&[("SESSION_STORE", "cookie")]);
    let mut b = Browser::default();
    d1.failing(super::Fail::Nothing);
    request(&lax, Some(&d1), &mut b, T0, Reply::login("bo"));
    d1.failing(super::Fail::All);
    let memory = Memory::default();
    let seen = request_in(&memory, &lax, Some(&d1), &mut b, T0.plus(1), Reply::OK);
    assert_eq!(
        seen.header("X-Session-User-Id"),
        Some("bo"),
        "trusted as signed, logged"
    );
    assert_eq!(seen.event_names(), ["not_before_unavailable"]);
    d1.ops();
    request_in(&memory, &lax, Some(&d1), &mut b, T0.plus(2), Reply::OK);
    assert_eq!(d1.ops(), (0, 0), "the failure is remembered for a minute");
}
