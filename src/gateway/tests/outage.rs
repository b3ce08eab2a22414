//! D1 failing: the snapshot within its window, the pending cookie, write-back.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{per_store, Client, Fail, Flaky, Reply, T0};
use crate::changes::Changes;
use crate::protocol::StoreLabel;
use crate::signal::{Exception, Reason, Signal};
use crate::store::{Store, Update, UserChange};
use crate::write::{Deferred, Revocation};
use serde_json::{json, Value};

per_store!(
    a_fresh_snapshot_stands_in_for_d1,
    a_stale_snapshot_gives_no_session_and_writes_nothing,
    window_zero_means_no_fallback,
    a_write_during_the_outage_waits_and_lands_when_d1_is_back,
    writes_compose_in_the_pending_cookie,
    a_write_back_that_finds_nothing_is_reported_and_dropped,
    a_failed_write_back_keeps_serving_from_the_cookies,
    a_write_back_can_land_while_reads_still_fail,
    a_write_d1_refuses_is_diverted_to_the_pending_cookie,
    logout_during_the_outage_is_replayed_when_d1_is_back,
    a_session_created_during_the_outage_is_inserted_later,
    an_unusable_pending_cookie_is_cleared,
    a_refused_logout_and_revoke_user_are_queued,
    strict_revocation_serves_no_identity_and_keeps_nothing_without_d1,
    a_session_revoked_while_d1_answered_is_refused_by_the_fallback,
    revoke_user_stops_a_login_still_waiting_in_a_pending_cookie,
    revoke_user_stops_a_pending_login_of_an_existing_session,
    a_logout_within_one_outage_is_not_undone_by_replaying_the_cookies,
    a_pending_cookie_older_than_the_idle_timeout_is_dropped_and_reported,
    a_replayed_insert_never_brings_back_a_session_that_ended,
);

const PENDING: &str = "session_id-pending";

/// The stored data of `id`, as JSON.
fn stored<S: Store>(d1: &Flaky<S>, id: crate::session::SessionId) -> Option<Value> {
    d1.row(id).map(|r| Value::Object(r.data))
}

fn a_fresh_snapshot_stands_in_for_d1<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::All);
    let seen = c.send(900, Reply::OK);
    assert_eq!(seen.label, StoreLabel::CookieFallback);
    assert_eq!(seen.id(), Some(id));
    assert_eq!(seen.header("X-Session-User-Id"), Some("ann"));
    assert_eq!(seen.header("X-Session-Store"), Some("cookie-fallback"));
    let names = seen.signal_names();
    let expected = [
        "session_data_retrieval_failed",
        "session_store_degraded",
        "session_data_retrieved",
    ];
    assert_eq!(names, expected);
    assert_eq!(seen.event_names(), ["store_unavailable"]);
    assert!(
        seen.set_cookies.is_empty(),
        "nothing written, nothing to send"
    );
}

fn a_stale_snapshot_gives_no_session_and_writes_nothing<S: Store>(d1: &Flaky<S>) {
    let (mut c, _) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::All);
    let seen = c.send(901, Reply::update(r#"{"a":1}"#));
    assert_eq!(seen.label, StoreLabel::Unavailable);
    assert!(seen.session.is_none());
    let events = [
        "store_unavailable",
        "fallback_refused",
        "session_save_failed",
    ];
    assert_eq!(seen.event_names(), events);
    assert!(seen.signals.contains(&Signal::DataSaveFailed {
        session_id: None,
        reason: Reason::StoreUnavailable,
        exception: None
    }));
    assert!(
        seen.set_cookies.is_empty(),
        "the cookie is kept for when D1 is back"
    );
    assert_eq!(d1.ops(), (1, 0), "nothing written blind");
}

fn window_zero_means_no_fallback<S: Store>(d1: &Flaky<S>) {
    let (mut c, _) = Client::logged_in(d1, &[("SESSION_FALLBACK_WINDOW_SECONDS", "0")], "ann");
    d1.failing(Fail::All);
    let seen = c.send(1, Reply::update(r#"{"a":1}"#));
    assert_eq!(seen.label, StoreLabel::Unavailable);
    assert!(seen.set_cookies.is_empty());
    assert!(
        c.browser.get(PENDING).is_none(),
        "no pending cookie without a window"
    );
}

fn a_write_during_the_outage_waits_and_lands_when_d1_is_back<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    let mut changes = Changes::default();
    changes.set("kept", Some(json!(true)));
    let before = Update {
        id,
        new_id: None,
        user: UserChange::Keep,
        changes,
        expires_at: T0.plus(1800),
        now: T0,
        reauthenticated: false,
        lifetime: None,
    };
    pollster::block_on(d1.inner.update(&before)).expect("data from before the outage");
    d1.failing(Fail::All);
    let seen = c.send(10, Reply::update(r#"{"cart":[1]}"#));
    assert_eq!(seen.label, StoreLabel::CookieFallback);
    assert!(matches!(c.deferred(), Some(Deferred::Update(ref u)) if u.id == id));
    d1.failing(Fail::Nothing);
    let back = c.send(20, Reply::OK);
    assert_eq!(back.label, StoreLabel::D1);
    assert_eq!(back.event_names(), ["pending_written_back"]);
    assert_eq!(c.browser.get(PENDING), None, "cleared once written back");
    assert_eq!(stored(d1, id), Some(json!({"kept": true, "cart": [1]})));
}

fn writes_compose_in_the_pending_cookie<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::All);
    c.send(10, Reply::update(r#"{"a":1}"#));
    let seen = c.send(20, Reply::update(r#"{"b":2}"#));
    let data = seen.session.map(|r| Value::Object(r.data));
    assert_eq!(
        data,
        Some(json!({"a": 1})),
        "the first write is visible to the second"
    );
    d1.failing(Fail::Nothing);
    c.send(30, Reply::OK);
    assert_eq!(stored(d1, id), Some(json!({"a": 1, "b": 2})));
}

fn a_write_back_that_finds_nothing_is_reported_and_dropped<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::All);
    c.send(10, Reply::update(r#"{"a":1}"#));
    pollster::block_on(d1.inner.delete(&id)).expect("deleted elsewhere meanwhile");
    d1.failing(Fail::Nothing);
    let seen = c.send(20, Reply::OK);
    assert!(seen.signals.contains(&Signal::DataSaveFailed {
        session_id: Some(id),
        reason: Reason::NotFound,
        exception: None
    }));
    assert_eq!(seen.event_names()[0], "pending_write_back_found_nothing");
    assert_eq!(c.browser.get(PENDING), None);
    assert_eq!(c.reference(), None, "the session is gone: its cookie too");
}

fn a_failed_write_back_keeps_serving_from_the_cookies<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::All);
    c.send(10, Reply::update(r#"{"a":1}"#));
    let before = c.deferred();
    // Reads work again, writes do not: the read is not even tried.
    d1.failing(Fail::Writes);
    d1.ops();
    let seen = c.send(20, Reply::OK);
    assert_eq!(d1.ops(), (0, 1), "only the write-back reached D1");
    assert_eq!(
        (seen.label, seen.id()),
        (StoreLabel::CookieFallback, Some(id))
    );
    let why = "pending operation could not be written back";
    assert!(seen.signals.contains(&Signal::StoreDegraded {
        reason: Reason::WriteFailed,
        exception: Exception::new("StoreError", why)
    }));
    assert_eq!(seen.event_names(), ["pending_write_back_failed"]);
    assert_eq!(c.deferred(), before, "still pending");
}

fn a_write_back_can_land_while_reads_still_fail<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::Reads);
    c.send(10, Reply::update(r#"{"a":1}"#));
    assert!(c.deferred().is_some(), "served from the cookies: kept");
    let seen = c.send(20, Reply::OK);
    assert_eq!(
        seen.event_names(),
        ["pending_written_back", "store_unavailable"]
    );
    assert_eq!(
        seen.label,
        StoreLabel::CookieFallback,
        "the read still failed"
    );
    assert_eq!(c.browser.get(PENDING), None, "written back: cleared");
    assert_eq!(stored(d1, id), Some(json!({"a": 1})));
}

fn a_write_d1_refuses_is_diverted_to_the_pending_cookie<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::Writes);
    let seen = c.send(10, Reply::update(r#"{"a":1}"#));
    assert_eq!(seen.label, StoreLabel::D1, "the read worked");
    assert_eq!(
        seen.event_names(),
        ["session_save_failed", "session_saved_pending"]
    );
    assert!(seen.signal_names().contains(&"session_store_degraded"));
    assert_eq!(c.deferred().and_then(|op| op.session_id()), Some(id));
    d1.failing(Fail::Nothing);
    c.send(20, Reply::OK);
    assert_eq!(stored(d1, id), Some(json!({"a": 1})), "nothing lost");
}

fn logout_during_the_outage_is_replayed_when_d1_is_back<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::All);
    let seen = c.send(10, Reply::action("delete"));
    assert_eq!(c.reference(), None, "logged out now");
    assert_eq!(c.deferred(), Some(Deferred::Delete(id)), "the delete waits");
    assert!(seen.signal_names().contains(&"session_deleted"));
    assert_eq!(
        seen.revocations,
        [Revocation::Session(id)],
        "and queued: the browser may not return"
    );
    assert!(d1.row(id).is_some(), "still in D1 during the outage");
    d1.failing(Fail::Nothing);
    c.send(20, Reply::OK);
    assert_eq!(d1.row(id), None);
    assert_eq!(c.browser.get(PENDING), None);
}

fn a_session_created_during_the_outage_is_inserted_later<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &[]);
    d1.failing(Fail::All);
    let seen = c.send(0, Reply::login("cy"));
    assert_eq!(seen.label, StoreLabel::D1, "no cookie: D1 was not asked");
    assert_eq!(
        seen.event_names(),
        ["session_save_failed", "session_saved_pending"]
    );
    let id = c.reference().expect("a reference cookie").id;
    let next = c.send(5, Reply::OK);
    assert_eq!(next.label, StoreLabel::CookieFallback);
    assert_eq!(next.header("X-Session-User-Id"), Some("cy"));
    d1.failing(Fail::Nothing);
    c.send(10, Reply::OK);
    let row = d1.row(id).expect("inserted on write-back");
    assert_eq!(row.user_id.as_deref(), Some("cy"));
}

fn an_unusable_pending_cookie_is_cleared<S: Store>(d1: &Flaky<S>) {
    let (mut c, _) = Client::logged_in(d1, &[], "ann");
    c.browser
        .jar
        .insert(PENDING.into(), "p1.forged.value".into());
    let seen = c.send(1, Reply::OK);
    assert_eq!(seen.label, StoreLabel::D1);
    assert_eq!(seen.set_cookies.len(), 1);
    assert!(seen.set_cookies[0].starts_with("session_id-pending=; Max-Age=0"));
    assert_eq!(c.browser.get(PENDING), None);
}

fn a_pending_cookie_older_than_the_idle_timeout_is_dropped_and_reported<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::All);
    c.send(10, Reply::update(r#"{"a":1}"#));
    let copy = c.browser.clone();
    d1.failing(Fail::Nothing);
    // The browser comes back after the idle timeout (30 min) with its pending cookie.
    c.browser = copy;
    let seen = c.send(10 + 1801, Reply::OK);
    assert!(seen.signals.contains(&Signal::DataSaveFailed {
        session_id: Some(id),
        reason: Reason::PendingExpired,
        exception: None
    }));
    assert_eq!(seen.event_names()[0], "pending_expired");
    assert_eq!(c.browser.get(PENDING), None, "dropped");
    assert_eq!(stored(d1, id), Some(json!({})), "never written");
}

fn a_replayed_insert_never_brings_back_a_session_that_ended<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &[]);
    d1.failing(Fail::All);
    c.send(0, Reply::login("cy"));
    let id = c.reference().expect("created during the outage").id;
    // Someone copies both cookies.
    let copy = c.browser.clone();
    d1.failing(Fail::Nothing);
    c.send(5, Reply::OK);
    assert!(d1.row(id).is_some(), "written back");
    c.send(6, Reply::action("delete"));
    assert_eq!(d1.row(id), None, "logged out");
    // The copy is replayed: the insert is refused, the session stays ended.
    c.browser = copy;
    let seen = c.send(7, Reply::OK);
    assert_eq!(d1.row(id), None, "not resurrected");
    assert!(seen.session.is_none());
    assert!(seen.signals.contains(&Signal::DataSaveFailed {
        session_id: Some(id),
        reason: Reason::Revoked,
        exception: None
    }));
    assert_eq!(c.browser.get(PENDING), None);
}

fn a_refused_logout_and_revoke_user_are_queued<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    d1.failing(Fail::Writes);
    let seen = c.send(10, Reply::action("delete"));
    assert_eq!(
        seen.revocations,
        [Revocation::Session(id)],
        "D1 refused the delete"
    );
    let (mut c, _) = Client::logged_in(d1, &[], "bo");
    d1.failing(Fail::All);
    let seen = c.send(10, Reply::action("revoke-user"));
    assert_eq!(seen.label, StoreLabel::CookieFallback);
    assert_eq!(
        seen.revocations,
        [Revocation::User("bo".into())],
        "every session, later"
    );
    d1.failing(Fail::Nothing);
    let (mut c, _) = Client::logged_in(d1, &[], "cy");
    let seen = c.send(10, Reply::action("delete"));
    assert!(seen.revocations.is_empty(), "D1 took it: nothing to queue");
}

fn strict_revocation_serves_no_identity_and_keeps_nothing_without_d1<S: Store>(d1: &Flaky<S>) {
    let strict = [("SESSION_STRICT_REVOCATION", "true")];
    let (mut c, id) = Client::logged_in(d1, &strict, "ann");
    d1.failing(Fail::All);
    let seen = c.send(1, Reply::update(r#"{"a":1}"#));
    assert_eq!(
        seen.label,
        StoreLabel::Unavailable,
        "a fresh snapshot does not stand in"
    );
    assert!(seen.session.is_none());
    d1.failing(Fail::Writes);
    let seen = c.send(2, Reply::update(r#"{"a":1}"#));
    assert_eq!(seen.label, StoreLabel::D1);
    assert_eq!(
        c.browser.get(PENDING),
        None,
        "a refused write is not kept in the browser"
    );
    let seen = c.send(3, Reply::action("delete"));
    assert_eq!(
        seen.revocations,
        [Revocation::Session(id)],
        "the queue still carries a logout"
    );
    assert_eq!(c.browser.get(PENDING), None);
}

fn a_session_revoked_while_d1_answered_is_refused_by_the_fallback<S: Store>(d1: &Flaky<S>) {
    let (mut c, _) = Client::logged_in(d1, &[], "ann");
    let stolen = c.browser.clone();
    c.send(5, Reply::action("delete"));
    d1.failing(Fail::All);
    // The copy, in the isolate that saw the logout: no snapshot stands in for it.
    c.browser = stolen.clone();
    let seen = c.send(10, Reply::OK);
    assert_eq!(seen.label, StoreLabel::Unavailable);
    assert!(seen.event_names().contains(&"fallback_refused"));
    // In an isolate that did not see it, the documented bound: the fallback window.
    let (mut other, _) = (Client::new(d1, &[]), ());
    other.browser = stolen;
    let seen = other.send(10, Reply::OK);
    assert_eq!(seen.label, StoreLabel::CookieFallback);
}

/// A login during an outage waits in the pending cookie; the user then logs out
/// everywhere from another device while D1 answers; the first browser comes back.
fn pending_login_after_revoke_user<S: Store>(d1: &Flaky<S>, with_row: bool) {
    let mut cafe = Client::new(d1, &[]);
    if with_row {
        cafe.send(0, Reply::update(r#"{"cart":1}"#));
    }
    d1.failing(Fail::All);
    cafe.send(10, Reply::login("ann"));
    assert!(cafe.deferred().is_some());
    d1.failing(Fail::Nothing);
    let (mut home, _) = Client::logged_in(d1, &[], "ann");
    let seen = home.send(100, Reply::action("revoke-user"));
    assert!(seen.revocations.is_empty(), "D1 took it");
    let mut next = Client::new(d1, &[]);
    next.browser = cafe.browser.clone();
    let seen = next.send(400, Reply::OK);
    assert_eq!(seen.header("X-Session-User-Id"), None, "revoke-user holds");
    assert!(seen.session.is_none());
}

fn revoke_user_stops_a_login_still_waiting_in_a_pending_cookie<S: Store>(d1: &Flaky<S>) {
    pending_login_after_revoke_user(d1, false);
}

fn revoke_user_stops_a_pending_login_of_an_existing_session<S: Store>(d1: &Flaky<S>) {
    pending_login_after_revoke_user(d1, true);
}

fn a_logout_within_one_outage_is_not_undone_by_replaying_the_cookies<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &[]);
    d1.failing(Fail::All);
    c.send(0, Reply::login("cy"));
    let copy = c.browser.clone();
    let seen = c.send(5, Reply::action("delete"));
    assert_eq!(
        c.deferred(),
        None,
        "a created-then-deleted session leaves nothing pending"
    );
    d1.failing(Fail::Nothing);
    // The queue consumer applies the logout: nothing to delete, but the id is remembered.
    for r in &seen.revocations {
        if let Revocation::Session(id) = r {
            pollster::block_on(d1.inner.delete(id)).expect("delete");
        }
    }
    assert!(!seen.revocations.is_empty(), "the logout was queued");
    let mut thief = Client::new(d1, &[]);
    thief.browser = copy;
    let seen = thief.send(60, Reply::OK);
    assert_eq!(seen.header("X-Session-User-Id"), None, "not brought back");
}
