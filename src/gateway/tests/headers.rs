//! What the origin is told, the cookies' attributes, an unreachable origin, logout.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{config, per_store, request, Browser, Fail, Flaky, Reply, T0};
use crate::cookie::pending;
use crate::gateway::{Context, Exchange, Finished, Inbound};
use crate::session::SessionId;
use crate::signal::{Reason, Signal};
use crate::store::deferred::Deferred;
use crate::store::Store;
use crate::write::Revocation;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

per_store!(
    the_origin_learns_the_session_and_an_assertion_vouches_for_it,
    data_over_the_header_budget_is_withheld_and_signalled,
    an_unreachable_origin_changes_nothing,
    logout_deletes_the_row_and_clears_both_cookies,
    a_logout_d1_refuses_waits_in_the_pending_cookie,
);

fn the_origin_learns_the_session_and_an_assertion_vouches_for_it<S: Store>(d1: &Flaky<S>) {
    let secret = "origin-secret-origin-secret-origin-secret";
    let cfg = config(&[("ORIGIN_SECRET", secret)]);
    let mut b = Browser::default();
    request(&cfg, Some(d1), &mut b, T0, Reply::login("ann"));
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(1), Reply::OK);
    let id = seen.id().expect("session").to_string();
    assert_eq!(seen.header("X-Session-Id"), Some(id.as_str()));
    assert_eq!(seen.header("X-Session-User-Id"), Some("ann"));
    assert_eq!(seen.header("X-Session-Store"), Some("d1"));
    assert_eq!(
        seen.header("X-Session-Data"),
        Some("e30"),
        "{{}} in base64url"
    );
    assert_eq!(
        seen.header("X-Session-Expires-At"),
        Some(T0.plus(1800).to_rfc3339().as_str())
    );
    let jwt = seen.header("X-Session-Assertion").expect("signed");
    let (signed, mac) = jwt.rsplit_once('.').expect("three parts");
    let mut hmac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key");
    hmac.update(signed.as_bytes());
    let mac = URL_SAFE_NO_PAD.decode(mac).expect("base64url");
    assert!(hmac.verify_slice(&mac).is_ok(), "signed with ORIGIN_SECRET");
    let payload = signed.split('.').nth(1).expect("payload");
    let claims: serde_json::Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json");
    assert_eq!(claims["sub"], "ann");
    assert_eq!(claims["sid"], id.as_str());
    assert_eq!(claims["aud"], "app.example");
    assert_eq!(claims["path"], "/page");
}

fn data_over_the_header_budget_is_withheld_and_signalled<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[("SESSION_HEADER_BUDGET_BYTES", "256")]);
    let mut b = Browser::default();
    let big = format!(r#"{{"blob":"{}"}}"#, "x".repeat(300));
    request(&cfg, Some(d1), &mut b, T0, Reply::update(&big));
    let seen = request(&cfg, Some(d1), &mut b, T0.plus(1), Reply::OK);
    assert_eq!(seen.header("X-Session-Data"), Some("e30"));
    let omitted: usize = seen
        .header("X-Session-Data-Omitted")
        .expect("announced")
        .parse()
        .expect("a size");
    assert!(omitted > 256);
    assert!(seen.signals.contains(&Signal::DataRetrievalFailed {
        session_id: seen.id().expect("session"),
        reason: Reason::HeaderBudgetExceeded
    }));
    assert_eq!(seen.event_names(), ["data_over_header_budget"]);
}

fn an_unreachable_origin_changes_nothing<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let mut b = Browser::default();
    request(&cfg, Some(d1), &mut b, T0, Reply::action("create"));
    let header = b.header();
    let (inbound, _) = Inbound::take(header.as_deref(), "session_id", "session_id-pending");
    d1.ops();
    let finished = pollster::block_on(async {
        let memory = super::Memory::default();
        let cx = Context::new(&cfg, T0.plus(120), true, &memory);
        Exchange::begin(cx, Some(d1), &inbound).await.abandon()
    });
    assert!(finished.set_cookies.is_empty());
    assert_eq!(
        d1.ops(),
        (1, 0),
        "no renewal without a response to carry it"
    );
    let names: Vec<_> = finished.signals.iter().map(Signal::name).collect();
    assert_eq!(
        names,
        ["session_manager_initialized", "session_data_retrieved"]
    );
}

/// Logs the browser's session out through the logout endpoint's core.
fn logout<S: Store>(cfg: &crate::config::Config, d1: &Flaky<S>, b: &mut Browser) -> Finished {
    let header = b.header();
    let (inbound, _) = Inbound::take(header.as_deref(), "session_id", "session_id-pending");
    let finished = pollster::block_on(
        Context::new(cfg, T0.plus(5), false, &Default::default()).logout(Some(d1), &inbound),
    );
    b.apply(&finished.set_cookies);
    assert_eq!(
        finished.set_cookies.len(),
        2,
        "both cookies are always answered"
    );
    finished
}

fn logged_in<S: Store>(cfg: &crate::config::Config, d1: &Flaky<S>) -> (Browser, SessionId) {
    let mut b = Browser::default();
    let seen = request(cfg, Some(d1), &mut b, T0, Reply::login("ann"));
    assert!(seen.set_cookies.len() == 1);
    let seen = request(cfg, Some(d1), &mut b, T0.plus(1), Reply::OK);
    (b, seen.id().expect("logged in"))
}

fn logout_deletes_the_row_and_clears_both_cookies<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1);
    let finished = logout(&cfg, d1, &mut b);
    let deleted = Signal::Deleted {
        session_id: id,
        reason: Reason::Logout,
    };
    assert_eq!(finished.signals, [deleted]);
    assert!(finished.revocations.is_empty());
    assert_eq!(d1.row(id), None);
    assert!(b.jar.is_empty());
}

fn a_logout_d1_refuses_waits_in_the_pending_cookie<S: Store>(d1: &Flaky<S>) {
    let cfg = config(&[]);
    let (mut b, id) = logged_in(&cfg, d1);
    d1.failing(Fail::All);
    let finished = logout(&cfg, d1, &mut b);
    assert_eq!(
        finished.revocations,
        [Revocation::Session(id)],
        "queued too"
    );
    assert_eq!(
        finished.signals,
        [Signal::DeletionFailed {
            session_id: id,
            reason: Reason::DbError
        }]
    );
    assert_eq!(b.get("session_id"), None);
    let value = b.get("session_id-pending").expect("the delete waits");
    let carried = pending::decode(&cfg.keys, "session_id-pending", value).expect("valid");
    assert_eq!(carried.op, Deferred::Delete(id));
    d1.failing(Fail::Nothing);
    request(&cfg, Some(d1), &mut b, T0.plus(10), Reply::OK);
    assert_eq!(d1.row(id), None, "written back when D1 answers");
}
