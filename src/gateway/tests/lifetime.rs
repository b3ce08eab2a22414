//! Per-session lifetimes: `X-Session-Lifetime` from the origin, in D1 and in the cookie
//! store. Defaults here: idle 30 min, absolute 7 days (10,080 min).

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{config, per_store, request, Browser, Client, Flaky, Reply, T0};
use crate::cookie::full;
use crate::lifetime::Lifetime;
use crate::store::memory::MemoryStore;
use crate::store::Store;

per_store!(
    remember_outlives_the_default_and_stops_at_its_absolute_cap,
    a_browser_session_cookie_has_no_max_age_and_still_expires_server_side,
    a_custom_lifetime_is_clamped_to_the_bounds,
    a_bad_lifetime_is_signalled_and_the_login_still_applies,
    steady_state_of_a_remembered_session_is_one_read_and_no_write,
    a_lifetime_waits_in_the_pending_cookie_through_an_outage,
    re_sending_a_lifetime_writes_nothing_and_never_moves_the_cap,
    through_an_outage_a_session_keeps_its_lifetime,
);

fn through_an_outage_a_session_keeps_its_lifetime<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &BOUNDS);
    c.send(0, login_with("ann", "browser"));
    d1.failing(super::Fail::All);
    let out = c.send(60, Reply::update(r#"{"cart":[1]}"#));
    assert_eq!(out.label, crate::protocol::StoreLabel::CookieFallback);
    assert!(!out.set_cookies.is_empty());
    for cookie in &out.set_cookies {
        assert_eq!(
            max_age(cookie),
            None,
            "still ends with the browser: {cookie}"
        );
    }
    d1.failing(super::Fail::Nothing);
    let mut r = Client::new(d1, &BOUNDS);
    r.send(0, login_with("bo", "remember"));
    d1.failing(super::Fail::All);
    r.send(60, Reply::update(r#"{"cart":[1]}"#));
    let Some(crate::write::Deferred::Update(u)) = r.deferred() else {
        panic!("an update kept for D1")
    };
    assert_eq!(
        u.expires_at,
        T0.plus(60 + DAY),
        "its own idle timeout, not the default"
    );
}

fn re_sending_a_lifetime_writes_nothing_and_never_moves_the_cap<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &BOUNDS, "ann");
    let remember = || Reply {
        lifetime: Some("remember"),
        ..Reply::OK
    };
    // Chosen after the login: the cap counts from the login.
    c.send(100, remember());
    let row = d1.row(id).expect("stored");
    assert_eq!(row.lifetime, Lifetime::Remember);
    assert_eq!(row.absolute_expires_at, Some(T0.plus(7 * DAY)));
    d1.ops();
    // An origin echoing it on every response: no write, no cookie.
    let again = c.send(110, remember());
    assert_eq!(d1.ops(), (1, 0), "one read, no write");
    assert!(again.set_cookies.is_empty());
    // Switching back and forth never pushes the cap past the login's.
    c.send(
        20 * 3600,
        Reply {
            lifetime: Some("600,99999999"),
            ..Reply::OK
        },
    );
    c.send(40 * 3600, remember());
    let row = d1.row(id).expect("stored");
    assert_eq!(row.absolute_expires_at, Some(T0.plus(7 * DAY)));
}

/// Remember for a day, within bounds of 2 days idle and 3 days absolute.
const BOUNDS: [(&str, &str); 3] = [
    ("SESSION_REMEMBER_MINUTES", "1440"),
    ("SESSION_MAX_IDLE_MINUTES", "2880"),
    ("SESSION_MAX_ABSOLUTE_MINUTES", "10080"),
];
const DAY: i64 = 86_400;

fn login_with(user: &'static str, lifetime: &'static str) -> Reply<'static> {
    Reply {
        lifetime: Some(lifetime),
        ..Reply::login(user)
    }
}

fn max_age(set_cookie: &str) -> Option<i64> {
    set_cookie
        .split("; ")
        .find_map(|a| a.strip_prefix("Max-Age="))
        .map(|v| v.parse().expect("a number"))
}

fn remember_outlives_the_default_and_stops_at_its_absolute_cap<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &BOUNDS);
    let login = c.send(0, login_with("ann", "remember"));
    assert_eq!(max_age(&login.set_cookies[0]), Some(DAY));
    let id = c.reference().expect("a session").id;
    let row = d1.row(id).expect("stored");
    assert_eq!(row.lifetime, Lifetime::Remember);
    assert_eq!(row.expires_at, T0.plus(DAY));
    assert_eq!(row.absolute_expires_at, Some(T0.plus(7 * DAY)));
    // Well past the default 30 minutes, the origin still sees ann and the kind.
    let later = c.send(20 * 3600, Reply::OK);
    assert_eq!(later.header("X-Session-User-Id"), Some("ann"));
    assert_eq!(later.header("X-Session-Lifetime"), Some("remember"));
    assert_eq!(
        max_age(&later.set_cookies[0]),
        Some(DAY),
        "renewed by its own idle timeout"
    );
    // Kept alive every 20 hours, it still ends at its absolute cap.
    for visit in 2..8 {
        let seen = c.send(visit * 20 * 3600, Reply::OK);
        assert_eq!(seen.id(), Some(id), "visit {visit}");
    }
    c.send(160 * 3600, Reply::OK);
    let capped = c.send(7 * DAY - 60, Reply::OK);
    assert_eq!(capped.id(), Some(id));
    let ended = c.send(7 * DAY, Reply::OK);
    assert_eq!(ended.session, None);
    assert!(ended.signal_names().contains(&"session_expired"));
}

fn a_browser_session_cookie_has_no_max_age_and_still_expires_server_side<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &BOUNDS);
    let login = c.send(0, login_with("ann", "browser"));
    let cookie = &login.set_cookies[0];
    assert!(cookie.starts_with("session_id="));
    assert_eq!(max_age(cookie), None, "{cookie}");
    let seen = c.send(600, Reply::OK);
    assert_eq!(seen.header("X-Session-Lifetime"), Some("browser"));
    assert_eq!(
        max_age(&seen.set_cookies[0]),
        None,
        "a renewal keeps it a browser-session cookie"
    );
    // Idle past the default 30 minutes: gone, though the browser still sends the cookie.
    let idle = c.send(600 + 1800, Reply::OK);
    assert_eq!(idle.session, None);
    assert!(idle.signal_names().contains(&"session_expired"));
}

fn a_custom_lifetime_is_clamped_to_the_bounds<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &BOUNDS);
    let login = c.send(0, login_with("ann", "600,3600"));
    assert_eq!(max_age(&login.set_cookies[0]), Some(600));
    let row = d1
        .row(c.reference().expect("a session").id)
        .expect("stored");
    assert_eq!(
        (row.expires_at, row.absolute_expires_at),
        (T0.plus(600), Some(T0.plus(3600)))
    );
    let seen = c.send(300, Reply::OK);
    assert_eq!(seen.header("X-Session-Lifetime"), Some("600,3600"));
    // Asked for more than the operator allows: the bounds.
    let mut c = Client::new(d1, &BOUNDS);
    c.send(0, login_with("bo", "9999999,99999999"));
    let row = d1
        .row(c.reference().expect("a session").id)
        .expect("stored");
    assert_eq!(
        (row.expires_at, row.absolute_expires_at),
        (T0.plus(2 * DAY), Some(T0.plus(7 * DAY)))
    );
}

fn a_bad_lifetime_is_signalled_and_the_login_still_applies<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &BOUNDS);
    let seen = c.send(0, login_with("ann", "forever"));
    assert!(seen.signal_names().contains(&"session_data_save_failed"));
    assert!(seen.event_names().contains(&"bad_command"));
    let row = d1
        .row(c.reference().expect("a session").id)
        .expect("stored");
    assert_eq!(row.user_id.as_deref(), Some("ann"));
    assert_eq!(row.lifetime, Lifetime::Default);
    assert_eq!(row.expires_at, T0.plus(1800));
}

fn steady_state_of_a_remembered_session_is_one_read_and_no_write<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &BOUNDS);
    c.send(0, login_with("ann", "remember"));
    d1.ops();
    let seen = c.send(10, Reply::OK);
    assert_eq!(seen.header("X-Session-Lifetime"), Some("remember"));
    assert_eq!(d1.ops(), (1, 0));
    assert!(seen.set_cookies.is_empty());
}

fn a_lifetime_waits_in_the_pending_cookie_through_an_outage<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &BOUNDS, "ann");
    d1.failing(super::Fail::Writes);
    c.send(
        10,
        Reply {
            lifetime: Some("remember"),
            ..Reply::OK
        },
    );
    let pending = c.deferred().expect("kept for D1");
    let crate::write::Deferred::Update(u) = pending else {
        panic!("an update: {pending:?}")
    };
    assert_eq!(u.lifetime.map(|l| l.lifetime), Some(Lifetime::Remember));
    d1.failing(super::Fail::Nothing);
    c.send(20, Reply::OK);
    let row = d1.row(id).expect("written back");
    assert_eq!(row.lifetime, Lifetime::Remember);
    assert_eq!(
        row.absolute_expires_at,
        Some(T0.plus(7 * DAY)),
        "from the login, not from the command"
    );
}

#[test]
fn the_cookie_store_carries_the_lifetime_under_its_mac() {
    let cfg = config(&[BOUNDS[0], BOUNDS[1], BOUNDS[2], ("SESSION_STORE", "cookie")]);
    let d1: Option<&Flaky<MemoryStore>> = None;
    let mut b = Browser::default();
    let login = request(&cfg, d1, &mut b, T0, login_with("ann", "browser"));
    assert_eq!(max_age(&login.set_cookies[0]), None);
    let value = b.get("session_id").expect("the session cookie");
    let (record, _) = full::decode(&cfg.keys, "session_id", value).expect("a full cookie");
    assert_eq!(record.lifetime, Lifetime::Browser);
    let seen = request(&cfg, d1, &mut b, T0.plus(5), Reply::OK);
    assert_eq!(seen.header("X-Session-Lifetime"), Some("browser"));
    // Remember-me in the cookie store: a day by its own timeout, not the default's 30 min.
    let mut b = Browser::default();
    request(&cfg, d1, &mut b, T0, login_with("bo", "remember"));
    let later = request(&cfg, d1, &mut b, T0.plus(20 * 3600), Reply::OK);
    assert_eq!(later.header("X-Session-User-Id"), Some("bo"));
    let idle = request(&cfg, d1, &mut b, T0.plus(20 * 3600 + DAY), Reply::OK);
    assert_eq!(idle.session, None, "its own idle timeout still ends it");
}
