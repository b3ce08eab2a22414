//! Freshness: the auth time each session keeps, what the origin learns of it, the
//! `reauthenticated` command, and fresh-only paths refused before the origin.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{per_store, Client, Fail, Flaky, Reply, T0};
use crate::cookie::full;
use crate::fresh::{Asked, Refusal};
use crate::protocol::StoreLabel;
use crate::signal::Signal;
use crate::store::memory::MemoryStore;
use crate::store::Store;
use crate::write::Deferred;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;

per_store!(
    a_login_sets_the_auth_time,
    the_origin_gets_the_auth_time_as_a_header_and_a_claim,
    reauthenticated_refreshes_the_auth_time,
    reauthenticated_without_a_user_writes_nothing,
    logout_clears_the_auth_time,
    a_stale_page_load_is_redirected_with_next_and_never_reaches_the_origin,
    a_stale_fetch_gets_401,
    no_session_on_a_fresh_path_is_refused_too,
    a_fresh_login_passes,
    reauthenticating_opens_the_fresh_paths_again,
    other_paths_ignore_the_age_of_the_login,
    steady_state_on_a_fresh_path_is_one_read_and_no_write,
    a_login_kept_in_the_pending_cookie_keeps_its_auth_time,
);

const ORIGIN_SECRET: &str = "origin-secret-origin-secret-origin-secret";
const REAUTH: &str = "https://app.example/login";

/// Fresh-only `/account/security*` with a five-minute maximum age.
const FRESH: [(&str, &str); 3] = [
    ("SESSION_FRESH_PATHS", "/account/security*, /admin"),
    ("SESSION_FRESH_MAX_AGE_SECONDS", "300"),
    ("SESSION_REAUTH_URL", REAUTH),
];

/// A page load of `target`, as a browser sends it.
fn navigate(target: &str) -> Asked<'_> {
    Asked {
        target,
        sec_fetch_mode: Some("navigate"),
        accept: Some("text/html"),
    }
}

/// A `fetch()` of `target`.
fn fetch(target: &str) -> Asked<'_> {
    Asked {
        target,
        sec_fetch_mode: Some("cors"),
        accept: Some("application/json"),
    }
}

fn claims(jwt: &str) -> serde_json::Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).expect("b64")).expect("json")
}

fn a_login_sets_the_auth_time<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &[]);
    c.send(0, Reply::update(r#"{"cart":[1]}"#));
    let id = c.reference().expect("a session").id;
    assert_eq!(d1.row(id).expect("stored").auth_time, None, "anonymous");
    c.send(40, Reply::login("ann"));
    let id = c.reference().expect("a session").id;
    assert_eq!(d1.row(id).expect("stored").auth_time, Some(T0.plus(40)));
    let (_, id) = Client::logged_in(d1, &[], "bob");
    assert_eq!(
        d1.row(id).expect("created logged in").auth_time,
        Some(T0),
        "a session created by a login"
    );
}

fn the_origin_gets_the_auth_time_as_a_header_and_a_claim<S: Store>(d1: &Flaky<S>) {
    let (mut c, _) = Client::logged_in(d1, &[("ORIGIN_SECRET", ORIGIN_SECRET)], "ann");
    let seen = c.send(30, Reply::OK);
    assert_eq!(
        seen.header("X-Session-Auth-Time"),
        Some(T0.to_rfc3339().as_str())
    );
    let jwt = seen.header("X-Session-Assertion").expect("an assertion");
    assert_eq!(claims(jwt)["auth_time"], T0.unix());
    let mut visitor = Client::new(d1, &[("ORIGIN_SECRET", ORIGIN_SECRET)]);
    visitor.send(0, Reply::action("create"));
    let seen = visitor.send(1, Reply::OK);
    assert!(seen.id().is_some());
    assert_eq!(
        seen.header("X-Session-Auth-Time"),
        None,
        "anonymous: unknown"
    );
    let jwt = seen.header("X-Session-Assertion").expect("an assertion");
    assert!(claims(jwt).get("auth_time").is_none());
}

fn reauthenticated_refreshes_the_auth_time<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    let seen = c.send(30, Reply::action("reauthenticated"));
    assert_eq!(seen.id(), Some(id), "the same session, not cycled");
    assert_eq!(d1.ops(), (1, 1), "one update");
    assert_eq!(d1.row(id).expect("stored").auth_time, Some(T0.plus(30)));
    let next = c.send(40, Reply::OK);
    assert_eq!(
        next.header("X-Session-Auth-Time"),
        Some(T0.plus(30).to_rfc3339().as_str())
    );
}

fn reauthenticated_without_a_user_writes_nothing<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &[]);
    c.send(0, Reply::action("create"));
    let id = c.reference().expect("a session").id;
    d1.ops();
    let seen = c.send(10, Reply::action("reauthenticated"));
    assert_eq!(d1.ops(), (1, 0), "nobody to reauthenticate");
    assert!(seen.set_cookies.is_empty());
    assert_eq!(d1.row(id).expect("stored").auth_time, None);
}

fn logout_clears_the_auth_time<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &[], "ann");
    c.send(10, Reply::action("delete"));
    assert!(d1.row(id).is_none(), "the session ended with its auth time");
    let seen = c.send(20, Reply::action("create"));
    assert_eq!(seen.header("X-Session-Auth-Time"), None);
    let next = c.send(30, Reply::OK);
    assert!(next.id().is_some_and(|new| new != id));
    assert_eq!(next.header("X-Session-Auth-Time"), None, "a new visitor");
}

fn a_stale_page_load_is_redirected_with_next_and_never_reaches_the_origin<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &FRESH, "ann");
    let seen = c.ask(301, &navigate("/account/security?tab=keys"), Reply::OK);
    let want = format!("{REAUTH}?next=%2Faccount%2Fsecurity%3Ftab%3Dkeys");
    assert_eq!(seen.refusal, Some(Refusal::Redirect(want)));
    assert!(seen.headers.is_empty(), "the origin was never called");
    assert!(seen.set_cookies.is_empty(), "nothing changes");
    assert_eq!(d1.ops(), (1, 0), "the session's one read, no write");
    assert!(seen.signals.contains(&Signal::ReauthRequired {
        session_id: Some(id),
        path: "/account/security".into(),
    }));
    assert_eq!(seen.event_names(), ["reauth_required"]);
    assert_eq!(d1.row(id).expect("kept").auth_time, Some(T0));
}

fn a_stale_fetch_gets_401<S: Store>(d1: &Flaky<S>) {
    let (mut c, _) = Client::logged_in(d1, &FRESH, "ann");
    let seen = c.ask(400, &fetch("/admin/users"), Reply::OK);
    let Some(Refusal::Unauthorized(body)) = &seen.refusal else {
        panic!("{:?}", seen.refusal)
    };
    let body: serde_json::Value = serde_json::from_str(body).expect("JSON");
    assert_eq!(body["error"], "reauthentication_required");
    assert_eq!(
        body["reauth_url"],
        format!("{REAUTH}?next=%2Fadmin%2Fusers")
    );
    assert!(seen.headers.is_empty(), "the origin was never called");
}

fn no_session_on_a_fresh_path_is_refused_too<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &FRESH);
    let seen = c.ask(0, &navigate("/admin"), Reply::OK);
    assert_eq!(seen.refusal.as_ref().map(Refusal::status), Some(303));
    assert!(seen.signals.contains(&Signal::ReauthRequired {
        session_id: None,
        path: "/admin".into(),
    }));
    assert_eq!(d1.ops(), (0, 0), "no cookie: D1 not asked");
}

fn a_fresh_login_passes<S: Store>(d1: &Flaky<S>) {
    let (mut c, id) = Client::logged_in(d1, &FRESH, "ann");
    let seen = c.ask(300, &navigate("/account/security"), Reply::OK);
    assert_eq!(seen.refusal, None);
    assert_eq!(seen.header("X-Session-Id"), Some(id.to_string().as_str()));
    assert_eq!(
        seen.header("X-Session-Auth-Time"),
        Some(T0.to_rfc3339().as_str())
    );
    assert!(!seen.signal_names().contains(&"session_reauth_required"));
}

fn reauthenticating_opens_the_fresh_paths_again<S: Store>(d1: &Flaky<S>) {
    let (mut c, _) = Client::logged_in(d1, &FRESH, "ann");
    let stale = c.ask(1000, &navigate("/account/security"), Reply::OK);
    assert!(stale.refusal.is_some());
    // The login page (not fresh-only) checks the password and says so.
    let login = c.ask(1010, &navigate("/login"), Reply::action("reauthenticated"));
    assert_eq!(login.refusal, None);
    let again = c.ask(1020, &navigate("/account/security"), Reply::OK);
    assert_eq!(again.refusal, None);
    assert_eq!(
        again.header("X-Session-Auth-Time"),
        Some(T0.plus(1010).to_rfc3339().as_str())
    );
}

fn other_paths_ignore_the_age_of_the_login<S: Store>(d1: &Flaky<S>) {
    let (mut c, _) = Client::logged_in(d1, &FRESH, "ann");
    for target in ["/account", "/page", "/x/admin"] {
        let seen = c.ask(1000, &navigate(target), Reply::OK);
        assert_eq!(seen.refusal, None, "{target}");
    }
}

fn steady_state_on_a_fresh_path_is_one_read_and_no_write<S: Store>(d1: &Flaky<S>) {
    let (mut c, _) = Client::logged_in(d1, &FRESH, "ann");
    let seen = c.ask(10, &fetch("/account/security"), Reply::OK);
    assert_eq!(seen.refusal, None);
    assert_eq!(d1.ops(), (1, 0));
    assert!(seen.set_cookies.is_empty());
}

fn a_login_kept_in_the_pending_cookie_keeps_its_auth_time<S: Store>(d1: &Flaky<S>) {
    let mut c = Client::new(d1, &[]);
    d1.failing(Fail::All);
    c.send(0, Reply::login("cy"));
    let Some(Deferred::Insert(record)) = c.deferred() else {
        panic!("a pending insert")
    };
    assert_eq!(record.auth_time, Some(T0), "carried under the MAC");
    let (_, id) = (c.send(5, Reply::OK), record.id);
    d1.failing(Fail::Nothing);
    c.send(10, Reply::OK);
    assert_eq!(d1.row(id).expect("written back").auth_time, Some(T0));
}

/// The cookie store keeps the auth time in its encrypted cookie.
#[test]
fn the_cookie_store_carries_the_auth_time_and_reissues_it() {
    let d1 = Flaky::new(MemoryStore::new());
    let mut vars = vec![("SESSION_STORE", "cookie")];
    vars.extend(FRESH);
    let mut c = Client::new(&d1, &vars);
    c.send(0, Reply::login("ann"));
    let auth = |c: &Client<'_, MemoryStore>| {
        let value = c.browser.get("session_id").expect("the session cookie");
        let (record, _) = full::decode(&c.cfg.keys, "session_id", value).expect("a full cookie");
        record.auth_time
    };
    assert_eq!(auth(&c), Some(T0));
    let fresh = c.ask(100, &navigate("/account/security"), Reply::OK);
    assert_eq!(fresh.label, StoreLabel::Cookie);
    assert_eq!(fresh.refusal, None);
    assert_eq!(
        fresh.header("X-Session-Auth-Time"),
        Some(T0.to_rfc3339().as_str())
    );
    let stale = c.ask(400, &navigate("/account/security"), Reply::OK);
    assert!(stale.refusal.is_some());
    let seen = c.ask(410, &navigate("/login"), Reply::action("reauthenticated"));
    assert_eq!(seen.set_cookies.len(), 1, "the cookie is re-issued");
    assert_eq!(auth(&c), Some(T0.plus(410)));
    let again = c.ask(420, &navigate("/account/security"), Reply::OK);
    assert_eq!(again.refusal, None);
}
