//! D1 answering: creation, the steady state, renewal, rotation, commands, upgrades.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{config, per_store, request, Browser, Fail, Flaky, Reply, OLD_SECRET, SECRET, T0};
use crate::cookie::reference;
use crate::protocol::StoreLabel;
use crate::signal::{Reason, Signal};
use crate::store::Store;
use serde_json::{json, Value};

per_store!(
    a_visitor_who_writes_nothing_gets_no_session,
    the_first_write_creates_the_session_and_its_cookie,
    the_steady_state_is_one_read_and_no_write,
    renewal_rewrites_the_cookie_after_the_throttle,
    a_cookie_for_an_unknown_session_is_cleared,
    forged_cookies_are_rejected_and_the_first_valid_one_wins,
    a_cookie_under_a_retired_key_is_reissued_under_the_current_one,
    login_cycles_the_id_and_logout_clears_the_cookie,
    bad_commands_are_signalled_and_the_rest_applies,
    a_websocket_upgrade_changes_nothing,
    an_unreadable_row_starts_a_fresh_session,
    a_flood_of_junk_cookies_is_one_signal,
    another_users_login_starts_from_empty_data,
    a_doubled_login_header_logs_nobody_in,
    every_request_leaves_a_data_point,
);

fn every_request_leaves_a_data_point<S: Store>(d1: &Flaky<S>) {
    use crate::gateway::metrics::Outcome;
    let cfg = config(&[]);
    let mut b = Browser::default();
    let point = |seen: super::Seen| seen.metric.expect("a data point");
    let first = point(request(&cfg, Some(d1), &mut b, T0, Reply::login("ann")));
    assert_eq!((first.outcome, first.store), (Outcome::New, StoreLabel::D1));
    assert_eq!(first.commands_text(), "login");
    assert!(first.created && !first.renewed);
    let steady = point(request(&cfg, Some(d1), &mut b, T0.plus(1), Reply::OK));
    assert_eq!(
        (steady.outcome, steady.commands_text().as_str()),
        (Outcome::Hit, "")
    );
    let renewed = point(request(&cfg, Some(d1), &mut b, T0.plus(120), Reply::OK));
    assert!(renewed.renewed && !renewed.created);
    let mut forger = Browser::default();
    forger.apply(&["session_id=not.a.cookie; Path=/".to_owned()]);
    let forged = point(request(&cfg, Some(d1), &mut forger, T0, Reply::OK));
    assert_eq!(forged.outcome, Outcome::Forged);
    let expired = point(request(&cfg, Some(d1), &mut b, T0.plus(100_000), Reply::OK));
    assert_eq!(expired.outcome, Outcome::Expired);
}

fn a_visitor_who_writes_nothing_gets_no_session<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    let seen = request(&cfg, Some(d1), &mut b, T0, Reply::OK);
    assert_eq!(seen.label, StoreLabel::D1);
    assert_eq!(seen.header("X-Session-New"), Some("1"));
    assert!(seen.set_cookies.is_empty());
    assert_eq!(d1.ops(), (0, 0), "no cookie: D1 is not asked");
}

fn the_first_write_creates_the_session_and_its_cookie<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    let seen = request(&cfg, Some(d1), &mut b, T0, Reply::update(r#"{"cart":[1]}"#));
    assert_eq!(
        seen.signal_names(),
        ["session_created", "session_data_saved"]
    );
    let value = b.get("session_id").expect("the session cookie is set");
    let r = reference::decode(&cfg.keys, "session_id", value).expect("a valid reference");
    let row = d1.row(r.id).expect("the row exists");
    assert_eq!(Value::Object(row.data), json!({"cart": [1]}));
    assert_eq!(r.snapshot.issued_at, T0);

    let next = request(&cfg, Some(d1), &mut b, T0.plus(5), Reply::OK);
    assert_eq!(next.id(), Some(r.id));
    assert_eq!(next.header("X-Session-New"), Some("0"));
    assert_eq!(next.header("X-Session-Id"), Some(r.id.to_string().as_str()));
}

fn the_steady_state_is_one_read_and_no_write<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    request(&cfg, Some(d1), &mut b, T0, Reply::update(r#"{"a":1}"#));
    d1.ops();
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(30), Reply::OK);
    assert_eq!(d1.ops(), (1, 0));
    assert!(seen.set_cookies.is_empty(), "nothing to send back");
    assert_eq!(seen.signal_names(), ["session_data_retrieved"]);
}

fn renewal_rewrites_the_cookie_after_the_throttle<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    request(&cfg, Some(d1), &mut b, T0, Reply::action("create"));
    d1.ops();
    let quiet = request(&cfg, Some(d1), &mut b, T0.plus(59), Reply::OK);
    assert!(quiet.set_cookies.is_empty(), "within the throttle");
    assert_eq!(d1.ops(), (1, 0));
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(61), Reply::OK);
    assert_eq!(d1.ops(), (1, 1), "one read, one renewal write");
    assert_eq!(
        seen.signal_names(),
        ["session_data_retrieved", "session_renewed"]
    );
    assert!(seen.set_cookies[0].contains("Max-Age=1800"));
    let row = d1.row(seen.id().expect("loaded")).expect("row");
    assert_eq!(row.expires_at, T0.plus(61 + 1800));
    let value = b.get("session_id").expect("cookie");
    let r = reference::decode(&cfg.keys, "session_id", value).expect("ref");
    assert_eq!(
        r.snapshot.issued_at,
        T0.plus(61),
        "the snapshot is renewed too"
    );
}

fn a_cookie_for_an_unknown_session_is_cleared<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    let seen = request(&cfg, Some(d1), &mut b, T0, Reply::action("create"));
    let v = b.get("session_id").expect("cookie").to_owned();
    let id = reference::decode(&cfg.keys, "session_id", &v)
        .expect("ref")
        .id;
    assert!(seen.set_cookies.len() == 1);
    pollster::block_on(d1.inner.delete(&id)).expect("delete");
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(1), Reply::OK);
    assert_eq!(seen.label, StoreLabel::D1);
    assert_eq!(seen.header("X-Session-New"), Some("1"));
    assert_eq!(seen.event_names(), ["session_not_loaded"]);
    assert!(seen.set_cookies[0].starts_with("session_id=; Max-Age=0"));
    assert_eq!(b.get("session_id"), None);
}

fn forged_cookies_are_rejected_and_the_first_valid_one_wins<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    request(&cfg, Some(d1), &mut b, T0, Reply::action("create"));
    let good = b.get("session_id").expect("cookie").to_owned();
    // The same value under another secret: well formed, but no key of ours made it.
    let foreign = config(&[("SESSION_SECRET", OLD_SECRET)]);
    let r = reference::decode(&cfg.keys, "session_id", &good).expect("ref");
    let forged = reference::encode(&foreign.keys, "session_id", &r.id, &r.snapshot);
    let header = format!("session_id=junk; session_id={forged}; session_id={good}");
    let (inbound, _) = super::Inbound::take(Some(&header), "session_id", "session_id-pending");
    assert_eq!(inbound.session.len(), 3);
    let seen = pollster::block_on(async {
        let memory = super::Memory::default();
        let cx = super::Context::new(&cfg, T0.plus(1), false, &memory);
        let ex = super::Exchange::begin(cx, Some(d1), &inbound).await;
        let id = ex.session().id();
        (id, ex.abandon())
    });
    assert!(
        seen.0.is_some(),
        "the valid cookie after two bad ones is used"
    );
    let rejected: Vec<_> = seen
        .1
        .signals
        .iter()
        .filter_map(|s| match s {
            Signal::CookieRejected { reason, count, .. } => Some((*reason, *count)),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejected,
        [(Reason::Malformed, 2)],
        "one signal, with a count"
    );
}

fn a_cookie_under_a_retired_key_is_reissued_under_the_current_one<S: Store>(d1: &Flaky<S>) {
    let before = config(&[("SESSION_SECRET", OLD_SECRET)]);
    let after = config(&[("SESSION_SECRET_FALLBACKS", OLD_SECRET)]);
    let mut b = Browser::default();
    request(&before, Some(d1), &mut b, T0, Reply::login("ann"));
    let old = b.get("session_id").expect("cookie").to_owned();
    let seen = request(&after, Some(d1), &mut b, T0.plus(2), Reply::OK);
    assert_eq!(seen.header("X-Session-User-Id"), Some("ann"));
    let new = b.get("session_id").expect("re-issued");
    assert_ne!(new, old);
    let only_new = config(&[("SESSION_SECRET", SECRET)]);
    let r = reference::decode(&only_new.keys, "session_id", new).expect("current key");
    assert_eq!(Some(r.id), seen.id());
    assert!(reference::decode(&only_new.keys, "session_id", &old).is_err());
    // Re-issued once: the next request keeps the cookie.
    let again = request(&after, Some(d1), &mut b, T0.plus(3), Reply::OK);
    assert!(again.set_cookies.is_empty());
}

fn login_cycles_the_id_and_logout_clears_the_cookie<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    let first = request(&cfg, Some(d1), &mut b, T0, Reply::update(r#"{"cart":[1]}"#));
    assert!(first.id().is_none());
    let anon = request(&cfg, Some(d1), &mut b, T0.plus(1), Reply::login("bob"));
    let old = anon.id().expect("the anonymous session");
    assert!(anon.signal_names().contains(&"session_cycled"));
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(2), Reply::OK);
    let new = seen.id().expect("logged in");
    assert_ne!(old, new, "a login moves the session to a new id");
    assert_eq!(d1.row(old), None);
    assert_eq!(seen.header("X-Session-User-Id"), Some("bob"));
    assert_eq!(
        seen.session.as_ref().map(|r| Value::Object(r.data.clone())),
        Some(json!({"cart": [1]}))
    );
    let out = request(&cfg, Some(d1), &mut b, T0.plus(3), Reply::action("delete"));
    assert_eq!(
        out.signal_names(),
        ["session_data_retrieved", "session_deleted"]
    );
    assert_eq!(b.get("session_id"), None);
    assert_eq!(d1.row(new), None);
}

fn bad_commands_are_signalled_and_the_rest_applies<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    let reply = Reply {
        update: Some("[1,2]"),
        action: Some("explode, create"),
        ..Reply::OK
    };
    let seen = request(&cfg, Some(d1), &mut b, T0, reply);
    let bad: Vec<_> = seen
        .signals
        .iter()
        .filter(|s| {
            matches!(
                s,
                Signal::DataSaveFailed {
                    reason: Reason::BadCommand,
                    ..
                }
            )
        })
        .collect();
    assert_eq!(bad.len(), 2, "{:?}", seen.signals);
    assert_eq!(seen.event_names(), ["bad_command", "bad_command"]);
    assert!(b.get("session_id").is_some(), "`create` still applied");
}

fn a_websocket_upgrade_changes_nothing<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    let reply = Reply {
        status: 101,
        ..Reply::update(r#"{"a":1}"#)
    };
    let seen = request(&cfg, Some(d1), &mut b, T0, reply);
    assert!(seen.set_cookies.is_empty());
    assert!(seen.signals.is_empty());
    assert_eq!(d1.ops(), (0, 0));
}

fn an_unreadable_row_starts_a_fresh_session<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    request(&cfg, Some(d1), &mut b, T0, Reply::action("create"));
    let value = b.get("session_id").expect("cookie");
    let id = reference::decode(&cfg.keys, "session_id", value)
        .expect("ref")
        .id;
    d1.failing(Fail::Corrupt);
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(1), Reply::OK);
    assert_eq!(seen.label, StoreLabel::D1, "a corrupt row is not an outage");
    assert!(seen.session.is_none());
    assert_eq!(
        seen.signals,
        [Signal::DataRetrievalFailed {
            session_id: id,
            reason: Reason::Corrupt
        }]
    );
    assert_eq!(b.get("session_id"), None, "the cookie naming it is cleared");
}

fn a_flood_of_junk_cookies_is_one_signal<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    request(&cfg, Some(d1), &mut b, T0, Reply::action("create"));
    let good = b.get("session_id").expect("cookie").to_owned();
    let junk: Vec<String> = (0..150).map(|i| format!("session_id=junk{i}")).collect();
    for (valid_at_end, count) in [(false, 150), (true, 150)] {
        let mut header = junk.join("; ");
        if valid_at_end {
            // Past the few examined: not found, like the junk before it.
            header.push_str(&format!("; session_id={good}"));
        }
        let (inbound, _) = super::Inbound::take(Some(&header), "session_id", "session_id-pending");
        let finished = pollster::block_on(async {
            let memory = super::Memory::default();
            let cx = super::Context::new(&cfg, T0.plus(1), false, &memory);
            let ex = super::Exchange::begin(cx, Some(d1), &inbound).await;
            assert!(ex.session().id().is_none());
            ex.abandon()
        });
        let expected = u32::try_from(count + usize::from(valid_at_end)).unwrap_or(0);
        assert_eq!(
            finished.signals,
            [Signal::CookieRejected {
                reason: Reason::Malformed,
                count: expected,
                network: None,
                requests: None,
            }]
        );
        assert_eq!(finished.events.len(), 1, "one log line");
    }
}

fn another_users_login_starts_from_empty_data<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    request(&cfg, Some(d1), &mut b, T0, Reply::update(r#"{"cart":[1]}"#));
    request(&cfg, Some(d1), &mut b, T0.plus(1), Reply::login("ann"));
    let ann = request(
        &cfg,
        Some(d1),
        &mut b,
        T0.plus(2),
        Reply::update(r#"{"role":"admin"}"#),
    );
    let data = ann.session.map(|r| Value::Object(r.data));
    assert_eq!(
        data,
        Some(json!({"cart": [1]})),
        "a visitor's login keeps the cart"
    );
    let reply = Reply {
        update: Some(r#"{"theme":"dark"}"#),
        ..Reply::login("bob")
    };
    request(&cfg, Some(d1), &mut b, T0.plus(3), reply);
    let bob = request(&cfg, Some(d1), &mut b, T0.plus(4), Reply::OK);
    assert_eq!(bob.header("X-Session-User-Id"), Some("bob"));
    let data = bob.session.map(|r| Value::Object(r.data));
    assert_eq!(
        data,
        Some(json!({"theme": "dark"})),
        "nothing of ann's, bob's own update kept"
    );
    let reply = Reply {
        user_id: Some("cy"),
        action: Some("keep-data"),
        ..Reply::OK
    };
    request(&cfg, Some(d1), &mut b, T0.plus(5), reply);
    let cy = request(&cfg, Some(d1), &mut b, T0.plus(6), Reply::OK);
    let data = cy.session.map(|r| Value::Object(r.data));
    assert_eq!(
        data,
        Some(json!({"theme": "dark"})),
        "kept when the origin asks"
    );
}

fn a_doubled_login_header_logs_nobody_in<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    // Two `X-Session-User-Id` headers reach the gateway joined by the runtime.
    let seen = request(&cfg, Some(d1), &mut b, T0, Reply::login("a1, a2"));
    assert_eq!(b.get("session_id"), None, "no session for a joined user id");
    assert_eq!(seen.event_names(), ["bad_command"]);
    assert!(seen.signals.iter().any(|s| matches!(
        s,
        Signal::DataSaveFailed {
            reason: Reason::BadCommand,
            ..
        }
    )));
}
