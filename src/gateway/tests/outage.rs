//! D1 failing: the snapshot within its window, the pending cookie, write-back.

use super::{config, per_store, request, Browser, Fail, Flaky, Reply, T0};
use crate::cookie::{pending, reference};
use crate::protocol::StoreLabel;
use crate::session::SessionId;
use crate::signal::{Reason, Signal};
use crate::store::deferred::Deferred;
use crate::store::Store;
use serde_json::{json, Value};

per_store!(
    a_fresh_snapshot_stands_in_for_d1,
    a_stale_snapshot_gives_no_session_and_writes_nothing,
    window_zero_means_no_fallback,
    a_write_during_the_outage_waits_and_lands_when_d1_is_back,
    writes_compose_in_the_pending_cookie,
    a_write_back_that_finds_nothing_is_reported_and_dropped,
    a_failed_write_back_keeps_serving_from_the_cookies,
    a_write_d1_refuses_is_diverted_to_the_pending_cookie,
    logout_during_the_outage_is_replayed_when_d1_is_back,
    a_session_created_during_the_outage_is_inserted_later,
    an_unusable_pending_cookie_is_cleared,
    a_write_back_can_land_while_reads_still_fail,
);

/// A logged-in session for `user`, its cookie in a new browser at `T0`.
fn logged_in<S: Store>(
    cfg: &crate::config::Config,
    d1: &Flaky<S>,
    user: &str,
) -> (Browser, SessionId) {
    let mut b = Browser::default();
    request(cfg, Some(d1), &mut b, T0, Reply::login(user));
    let r = reference::decode(
        &cfg.keys,
        "session_id",
        b.get("session_id").unwrap_or_default(),
    )
    .expect("a reference cookie");
    d1.ops();
    (b, r.id)
}

fn a_fresh_snapshot_stands_in_for_d1<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1, "ann");
    d1.failing(Fail::All);
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(900), Reply::OK);
    assert_eq!(seen.label, StoreLabel::CookieFallback);
    assert_eq!(seen.id(), Some(id));
    assert_eq!(seen.header("X-Session-User-Id"), Some("ann"));
    assert_eq!(seen.header("X-Session-Store"), Some("cookie-fallback"));
    assert_eq!(
        seen.signal_names(),
        [
            "session_data_retrieval_failed",
            "session_store_degraded",
            "session_data_retrieved"
        ]
    );
    assert_eq!(seen.event_names(), ["store_unavailable"]);
    assert!(
        seen.set_cookies.is_empty(),
        "nothing written, nothing to send"
    );
}

fn a_stale_snapshot_gives_no_session_and_writes_nothing<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, _) = logged_in(&cfg, d1, "ann");
    d1.failing(Fail::All);
    let seen = request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(901),
        Reply::update(r#"{"a":1}"#),
    );
    assert_eq!(seen.label, StoreLabel::Unavailable);
    assert!(seen.session.is_none());
    assert_eq!(
        seen.event_names(),
        [
            "store_unavailable",
            "fallback_refused",
            "session_save_failed"
        ]
    );
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
    let cfg = config(&[("SESSION_FALLBACK_WINDOW_SECONDS", "0")]);
    let (mut b, _) = logged_in(&cfg, d1, "ann");
    d1.failing(Fail::All);
    let seen = request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(1),
        Reply::update(r#"{"a":1}"#),
    );
    assert_eq!(seen.label, StoreLabel::Unavailable);
    assert!(seen.set_cookies.is_empty());
    assert!(
        b.get("session_id-pending").is_none(),
        "no pending cookie without a window"
    );
}

fn a_write_during_the_outage_waits_and_lands_when_d1_is_back<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1, "ann");
    pollster::block_on(d1.inner.update(&crate::store::Update {
        id,
        new_id: None,
        user: crate::store::UserChange::Keep,
        changes: {
            let mut c = crate::changes::Changes::default();
            c.set("kept", Some(json!(true)));
            c
        },
        expires_at: T0.plus(1800),
        now: T0,
    }))
    .expect("seed");
    d1.failing(Fail::All);
    let seen = request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(10),
        Reply::update(r#"{"cart":[1]}"#),
    );
    assert_eq!(seen.label, StoreLabel::CookieFallback);
    let value = b
        .get("session_id-pending")
        .expect("the write waits in the pending cookie");
    let carried = pending::decode(&cfg.keys, "session_id-pending", value).expect("valid");
    assert!(matches!(carried.op, Deferred::Update(ref u) if u.id == id));
    d1.failing(Fail::Nothing);
    let back = request(&cfg, Some(d1), &mut b, T0.plus(20), Reply::OK);
    assert_eq!(back.label, StoreLabel::D1);
    assert_eq!(back.event_names(), ["pending_written_back"]);
    assert_eq!(
        b.get("session_id-pending"),
        None,
        "cleared once written back"
    );
    let row = d1.row(id).expect("row");
    assert_eq!(Value::Object(row.data), json!({"kept": true, "cart": [1]}));
}

fn writes_compose_in_the_pending_cookie<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1, "ann");
    d1.failing(Fail::All);
    request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(10),
        Reply::update(r#"{"a":1}"#),
    );
    let seen = request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(20),
        Reply::update(r#"{"b":2}"#),
    );
    assert_eq!(
        seen.session.as_ref().map(|r| Value::Object(r.data.clone())),
        Some(json!({"a": 1})),
        "the first write is visible to the second request"
    );
    d1.failing(Fail::Nothing);
    request(&cfg, Some(d1), &mut b, T0.plus(30), Reply::OK);
    let row = d1.row(id).expect("row");
    assert_eq!(Value::Object(row.data), json!({"a": 1, "b": 2}));
}

fn a_write_back_that_finds_nothing_is_reported_and_dropped<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1, "ann");
    d1.failing(Fail::All);
    request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(10),
        Reply::update(r#"{"a":1}"#),
    );
    pollster::block_on(d1.inner.delete(&id)).expect("deleted elsewhere meanwhile");
    d1.failing(Fail::Nothing);
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(20), Reply::OK);
    assert!(seen.signals.contains(&Signal::DataSaveFailed {
        session_id: Some(id),
        reason: Reason::NotFound,
        exception: None
    }));
    assert_eq!(seen.event_names()[0], "pending_write_back_found_nothing");
    assert_eq!(b.get("session_id-pending"), None);
    assert_eq!(
        b.get("session_id"),
        None,
        "the session is gone: its cookie too"
    );
}

fn a_failed_write_back_keeps_serving_from_the_cookies<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1, "ann");
    d1.failing(Fail::All);
    request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(10),
        Reply::update(r#"{"a":1}"#),
    );
    let before = b.get("session_id-pending").map(str::to_owned);
    // Reads work again, writes do not: the read is not even tried.
    d1.failing(Fail::Writes);
    d1.ops();
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(20), Reply::OK);
    assert_eq!(d1.ops(), (0, 1), "only the write-back reached D1");
    assert_eq!(seen.label, StoreLabel::CookieFallback);
    assert_eq!(seen.id(), Some(id));
    assert!(seen.signals.contains(&Signal::StoreDegraded {
        reason: Reason::WriteFailed,
        exception: crate::signal::Exception::new(
            "StoreError",
            "pending operation could not be written back"
        )
    }));
    assert_eq!(seen.event_names(), ["pending_write_back_failed"]);
    assert_eq!(
        b.get("session_id-pending").map(str::to_owned),
        before,
        "still pending"
    );
}

fn a_write_d1_refuses_is_diverted_to_the_pending_cookie<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1, "ann");
    d1.failing(Fail::Writes);
    let seen = request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(10),
        Reply::update(r#"{"a":1}"#),
    );
    assert_eq!(seen.label, StoreLabel::D1, "the read worked");
    assert_eq!(
        seen.event_names(),
        ["session_save_failed", "session_saved_pending"]
    );
    assert!(seen.signal_names().contains(&"session_store_degraded"));
    let value = b.get("session_id-pending").expect("diverted");
    let carried = pending::decode(&cfg.keys, "session_id-pending", value).expect("valid");
    assert_eq!(carried.op.session_id(), Some(id));
    d1.failing(Fail::Nothing);
    request(&cfg, Some(d1), &mut b, T0.plus(20), Reply::OK);
    let row = d1.row(id).expect("row");
    assert_eq!(Value::Object(row.data), json!({"a": 1}), "nothing lost");
}

fn logout_during_the_outage_is_replayed_when_d1_is_back<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1, "ann");
    d1.failing(Fail::All);
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(10), Reply::action("delete"));
    assert_eq!(b.get("session_id"), None, "logged out now");
    let value = b.get("session_id-pending").expect("the delete waits");
    let carried = pending::decode(&cfg.keys, "session_id-pending", value).expect("valid");
    assert_eq!(carried.op, Deferred::Delete(id));
    assert!(seen.signal_names().contains(&"session_deleted"));
    assert!(d1.row(id).is_some(), "still in D1 during the outage");
    d1.failing(Fail::Nothing);
    request(&cfg, Some(d1), &mut b, T0.plus(20), Reply::OK);
    assert_eq!(d1.row(id), None);
    assert_eq!(b.get("session_id-pending"), None);
}

fn a_session_created_during_the_outage_is_inserted_later<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    d1.failing(Fail::All);
    let seen = request(&cfg, Some(d1), &mut b, T0, Reply::login("cy"));
    assert_eq!(seen.label, StoreLabel::D1, "no cookie: D1 was not asked");
    assert_eq!(
        seen.event_names(),
        ["session_save_failed", "session_saved_pending"]
    );
    let value = b.get("session_id").expect("a reference cookie");
    let id = reference::decode(&cfg.keys, "session_id", value)
        .expect("ref")
        .id;
    let next = request(&cfg, Some(d1), &mut b, T0.plus(5), Reply::OK);
    assert_eq!(next.label, StoreLabel::CookieFallback);
    assert_eq!(next.header("X-Session-User-Id"), Some("cy"));
    d1.failing(Fail::Nothing);
    request(&cfg, Some(d1), &mut b, T0.plus(10), Reply::OK);
    let row = d1.row(id).expect("inserted on write-back");
    assert_eq!(row.user_id.as_deref(), Some("cy"));
}

fn an_unusable_pending_cookie_is_cleared<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, _) = logged_in(&cfg, d1, "ann");
    b.jar
        .insert("session_id-pending".into(), "p1.forged.value".into());
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(1), Reply::OK);
    assert_eq!(seen.label, StoreLabel::D1);
    assert_eq!(seen.set_cookies.len(), 1);
    assert!(seen.set_cookies[0].starts_with("session_id-pending=; Max-Age=0"));
    assert_eq!(b.get("session_id-pending"), None);
}

fn a_write_back_can_land_while_reads_still_fail<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1, "ann");
    d1.failing(Fail::Reads);
    request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(10),
        Reply::update(r#"{"a":1}"#),
    );
    assert!(
        b.get("session_id-pending").is_some(),
        "served from the cookies: kept"
    );
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(20), Reply::OK);
    assert_eq!(
        seen.event_names(),
        ["pending_written_back", "store_unavailable"]
    );
    assert_eq!(
        seen.label,
        StoreLabel::CookieFallback,
        "the read still failed"
    );
    assert_eq!(b.get("session_id-pending"), None, "written back: cleared");
    assert_eq!(
        d1.row(id).map(|r| Value::Object(r.data)),
        Some(json!({"a": 1}))
    );
}
