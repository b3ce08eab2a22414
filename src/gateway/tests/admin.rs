//! The admin API over the SQLite twin of D1: the token, listing with paging, show,
//! revoke one, revoke a user, purge, signals by handle, counts, and cookie mode.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{Client, Fail, Flaky, Memory, Reply, T0};
use crate::device::{Device, Seen};
use crate::gateway::admin::AdminCall;
use crate::gateway::api::Answer;
use crate::gateway::Context;
use crate::handle;
use crate::signal::{Reason, Signal};
use crate::store::sql;
use crate::store::sqlite::SqliteStore;
use serde_json::Value;

const TOKEN: &str = "operator-token-operator-token-0123";

fn store() -> Flaky<SqliteStore> {
    Flaky::new(SqliteStore::new())
}

/// `method path` at `T0 + secs` with `authorization`, through `client`'s configuration.
fn call_with(
    client: &Client<'_, SqliteStore>,
    secs: i64,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    token: Option<&str>,
) -> Answer {
    let memory = Memory::default();
    let cx = Context::new(&client.cfg, T0.plus(secs), false, &memory);
    let url = format!("https://gate.example{path}");
    let call = AdminCall {
        method,
        url: &url,
        authorization,
        token,
    };
    pollster::block_on(cx.admin(Some(client.d1), call))
}

fn call(client: &Client<'_, SqliteStore>, secs: i64, method: &str, path: &str) -> Answer {
    let bearer = format!("Bearer {TOKEN}");
    call_with(client, secs, method, path, Some(&bearer), Some(TOKEN))
}

fn handles(answer: &Answer) -> Vec<String> {
    answer.body["sessions"]
        .as_array()
        .expect("sessions")
        .iter()
        .map(|s| s["handle"].as_str().expect("handle").to_owned())
        .collect()
}

/// Writes the answer's signals into the audit table, as the queue consumer does.
fn audit(d1: &Flaky<SqliteStore>, signals: &[Signal], secs: i64) {
    for (i, s) in signals.iter().enumerate() {
        let envelope = s.envelope(&format!("ev-{secs}-{i}"), T0.plus(secs), "gate", "ray");
        d1.inner.exec(
            sql::INSERT_SIGNAL,
            rusqlite::params![
                format!("ev-{secs}-{i}"),
                s.name(),
                s.session_id().map(|id| id.to_string()),
                s.user_id(),
                envelope.to_string(),
                T0.plus(secs).unix()
            ],
        );
    }
}

#[test]
fn the_admin_api_is_off_without_a_token_and_refuses_a_wrong_one() {
    let d1 = store();
    let (client, _) = Client::logged_in(&d1, &[], "ann");
    let path = "/__session/admin/api/sessions";
    let off = call_with(&client, 1, "GET", path, Some("Bearer x"), None);
    assert_eq!(off.status, 404);
    assert!(off.body["error"]
        .as_str()
        .unwrap()
        .contains("SESSION_ADMIN_TOKEN"));
    let lower = format!("bearer {TOKEN}");
    let found = call_with(&client, 1, "GET", path, Some(&lower), Some(TOKEN));
    assert_eq!(found.status, 200, "the scheme is case-insensitive");
    d1.ops();
    for wrong in [
        None,
        Some("Bearer nope"),
        Some(TOKEN),
        Some("Bearer  operator-token-operator-token-0123"),
    ] {
        let refused = call_with(&client, 1, "GET", path, wrong, Some(TOKEN));
        assert_eq!(refused.status, 401, "{wrong:?}");
        assert!(!refused.body.to_string().contains(TOKEN), "never echoed");
    }
    let wrong_method = call(&client, 1, "POST", path);
    assert_eq!(
        (wrong_method.status, wrong_method.allow),
        (405, Some("GET")),
        "405 says which method (Allow)"
    );
    assert_eq!(
        call(&client, 1, "GET", "/__session/admin/api/nope").status,
        404
    );
    assert_eq!(d1.ops(), (0, 0), "nothing read before the token checks out");
}

#[test]
fn sessions_page_newest_first_with_user_and_device_and_no_ids() {
    let d1 = store();
    let mut ids = Vec::new();
    for (t, user) in [(0, "ann"), (10, "bob"), (20, "ann"), (30, "ann")] {
        d1.inner.seen_from(&Device::from_request(&Seen {
            user_agent: Some("Firefox/140"),
            client_ip: Some("203.0.113.9"),
            city: Some("Lisbon"),
            ..Seen::default()
        }));
        let mut c = Client::new(&d1, &[]);
        c.send(t, Reply::login(user));
        ids.push(c.reference().unwrap().id);
    }
    let client = Client::new(&d1, &[]);
    let keys = &client.cfg.keys;
    let first = call(&client, 40, "GET", "/__session/admin/api/sessions?limit=2");
    assert_eq!(first.status, 200);
    let want: Vec<String> = ids.iter().rev().map(|id| handle::of(keys, id)).collect();
    assert_eq!(handles(&first), want[..2]);
    let row = &first.body["sessions"][0];
    assert_eq!(
        (row["user_id"].as_str(), row["city"].as_str()),
        (Some("ann"), Some("Lisbon"))
    );
    assert_eq!(row["network"], "203.0.113.0/24");
    assert_eq!(row["authenticated_at"], T0.plus(30).to_rfc3339());
    let text = first.body.to_string();
    assert!(
        ids.iter().all(|id| !text.contains(&id.to_string())),
        "never an id"
    );

    // A session created between pages does not shift the next one.
    Client::new(&d1, &[]).send(35, Reply::login("carol"));
    let next = first.body["next"].as_str().unwrap();
    let second = call(
        &client,
        41,
        "GET",
        &format!("/__session/admin/api/sessions?limit=2&cursor={next}"),
    );
    assert_eq!(handles(&second), want[2..]);
    assert_eq!(second.body["next"], Value::Null);

    let anns = call(&client, 42, "GET", "/__session/admin/api/sessions?user=ann");
    assert_eq!(handles(&anns).len(), 3);
    let bad = call(
        &client,
        42,
        "GET",
        "/__session/admin/api/sessions?cursor=12.nothandle",
    );
    assert_eq!(bad.status, 400);
    let shown = call(
        &client,
        42,
        "GET",
        &format!("/__session/admin/api/sessions/{}", want[3]),
    );
    assert_eq!(shown.body["session"]["user_id"], "ann");
}

#[test]
fn revoking_a_session_ends_it_on_its_next_request_with_the_admin_reason() {
    let d1 = store();
    let (mut ann, ann_id) = Client::logged_in(&d1, &[], "ann");
    let (mut bob, _) = Client::logged_in(&d1, &[], "bob");
    let h = handle::of(&ann.cfg.keys, &ann_id);
    let path = format!("/__session/admin/api/sessions/{h}/revoke");
    let answer = call(&ann, 5, "POST", &path);
    assert_eq!(
        (answer.status, answer.body["revoked"].as_u64()),
        (200, Some(1))
    );
    assert!(answer.finished.signals.iter().any(|s| matches!(s,
        Signal::Deleted { session_id, reason: Reason::RevokedByAdmin } if *session_id == ann_id)));
    assert_eq!(ann.send(6, Reply::OK).header("X-Session-User-Id"), None);
    assert_eq!(
        bob.send(6, Reply::OK).header("X-Session-User-Id"),
        Some("bob")
    );
    assert_eq!(call(&ann, 7, "POST", &path).status, 404, "gone");
    let forged = format!("/__session/admin/api/sessions/{}/revoke", "A".repeat(43));
    assert_eq!(call(&ann, 7, "POST", &forged).status, 404);
}

#[test]
fn revoking_a_user_ends_all_of_theirs_and_leaves_other_users() {
    let d1 = store();
    let (mut phone, _) = Client::logged_in(&d1, &[], "ann@example.com");
    let (mut laptop, _) = Client::logged_in(&d1, &[], "ann@example.com");
    let (mut bob, _) = Client::logged_in(&d1, &[], "bob");
    let answer = call(
        &bob,
        5,
        "POST",
        "/__session/admin/api/users/ann%40example.com/revoke",
    );
    assert_eq!(
        (answer.status, answer.body["revoked"].as_u64()),
        (200, Some(2))
    );
    let ended = answer
        .finished
        .signals
        .iter()
        .filter(|s| {
            matches!(
                s,
                Signal::Deleted {
                    reason: Reason::RevokedByAdmin,
                    ..
                }
            )
        })
        .count();
    assert_eq!(ended, 2);
    for c in [&mut phone, &mut laptop] {
        assert_eq!(c.send(6, Reply::OK).header("X-Session-User-Id"), None);
    }
    assert_eq!(
        bob.send(6, Reply::OK).header("X-Session-User-Id"),
        Some("bob")
    );
    // The per-user time also refuses a login replayed from before it.
    let not_before = pollster::block_on(crate::store::Store::not_before(
        &d1.inner,
        "ann@example.com",
    ));
    assert_eq!(not_before, Ok(Some(T0.plus(5))));
}

#[test]
fn signals_show_handles_and_filter_by_session_and_counts_add_up() {
    let d1 = store();
    let (ann, ann_id) = Client::logged_in(&d1, &[], "ann");
    let h = handle::of(&ann.cfg.keys, &ann_id);
    let (_, bob_id) = Client::logged_in(&d1, &[], "bob");
    let revoked = call(
        &ann,
        5,
        "POST",
        &format!("/__session/admin/api/sessions/{h}/revoke"),
    );
    audit(&d1, &revoked.finished.signals, 5);
    let created = [Signal::Created {
        session_id: bob_id,
        user_id: Some("bob".into()),
    }];
    audit(&d1, &created, 6);
    let all = call(&ann, 10, "GET", "/__session/admin/api/signals");
    assert_eq!(all.status, 200);
    let rows = all.body["signals"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["name"], "session_created", "newest first");
    assert_eq!(rows[1]["session"], h.as_str());
    assert_eq!(rows[1]["reason"], "revoked_by_admin");
    let text = all.body.to_string();
    assert!(!text.contains(&ann_id.to_string()) && !text.contains(&bob_id.to_string()));
    let mine = call(
        &ann,
        10,
        "GET",
        &format!("/__session/admin/api/signals?session={h}"),
    );
    assert_eq!(mine.body["signals"].as_array().map(Vec::len), Some(1));
    let named = call(
        &ann,
        10,
        "GET",
        "/__session/admin/api/signals?name=session_created&user=bob",
    );
    assert_eq!(named.body["signals"][0]["user_id"], "bob");
    let paged = call(&ann, 10, "GET", "/__session/admin/api/signals?limit=1");
    let next = paged.body["next"].as_str().unwrap();
    let rest = call(
        &ann,
        10,
        "GET",
        &format!("/__session/admin/api/signals?limit=1&cursor={next}"),
    );
    assert_eq!(rest.body["signals"][0]["reason"], "revoked_by_admin");

    let stats = call(&ann, 10, "GET", "/__session/admin/api/stats");
    assert_eq!(stats.body["active"], 1, "bob's");
    assert_eq!(
        (
            stats.body["created_last_hour"].as_u64(),
            stats.body["ended_last_hour"].as_u64()
        ),
        (Some(1), Some(1))
    );
    // Bob's session expires (30 minutes idle); purge removes it now.
    let purged = call(&ann, 4000, "POST", "/__session/admin/api/purge");
    assert_eq!(purged.body["purged"], 1);
    assert!(matches!(
        purged.finished.signals[..],
        [Signal::SessionsPurged { count: 1, .. }]
    ));
    assert!(d1.row(bob_id).is_none());
}

#[test]
fn an_outage_is_a_503_that_names_no_secret() {
    let d1 = store();
    let (client, _) = Client::logged_in(&d1, &[], "ann");
    d1.failing(Fail::All);
    let answer = call(&client, 1, "GET", "/__session/admin/api/sessions");
    assert_eq!(answer.status, 503);
    assert!(!answer.body.to_string().contains(TOKEN));
}

#[test]
fn in_cookie_mode_revoking_a_user_works_and_listing_says_why_not() {
    let d1 = store();
    let vars = [("SESSION_STORE", "cookie")];
    let mut phone = Client::new(&d1, &vars);
    phone.send(0, Reply::login("ann"));
    let listed = call(&phone, 1, "GET", "/__session/admin/api/sessions");
    assert_eq!(listed.status, 501);
    assert!(listed.body["error"]
        .as_str()
        .unwrap()
        .contains("cookie store"));
    let revoked = call(&phone, 2, "POST", "/__session/admin/api/users/ann/revoke");
    assert_eq!(revoked.status, 200);
    assert_eq!(phone.send(3, Reply::OK).header("X-Session-User-Id"), None);
    let stats = call(&phone, 3, "GET", "/__session/admin/api/stats");
    assert_eq!(
        (stats.status, stats.body["active"].clone()),
        (200, Value::Null)
    );
}

#[test]
fn revoking_a_user_of_many_sessions_ends_every_one_in_one_statement() {
    let d1 = store();
    for t in 0..120 {
        Client::new(&d1, &[]).send(t, Reply::login("busy"));
    }
    let (mut other, _) = Client::logged_in(&d1, &[], "calm");
    let client = Client::new(&d1, &[]);
    d1.ops();
    let answer = call(
        &client,
        200,
        "POST",
        "/__session/admin/api/users/busy/revoke",
    );
    assert_eq!(
        (answer.status, answer.body["revoked"].as_u64()),
        (200, Some(120))
    );
    assert_eq!(d1.ops(), (0, 2), "the per-user time and one delete");
    let signals = answer
        .finished
        .signals
        .iter()
        .filter(|s| {
            matches!(
                s,
                Signal::Deleted {
                    reason: Reason::RevokedByAdmin,
                    ..
                }
            )
        })
        .count();
    assert_eq!(signals, 120, "each with its signal");
    assert_eq!(
        other.send(201, Reply::OK).header("X-Session-User-Id"),
        Some("calm")
    );
    let left = call(
        &client,
        202,
        "GET",
        "/__session/admin/api/sessions?user=busy",
    );
    assert!(handles(&left).is_empty());
}

#[test]
fn a_revoke_user_d1_refuses_goes_to_the_queue() {
    let d1 = store();
    let (ann, _) = Client::logged_in(&d1, &[], "ann");
    d1.failing(Fail::Writes);
    let answer = call(&ann, 5, "POST", "/__session/admin/api/users/ann/revoke");
    assert_eq!(
        (answer.status, answer.body["queued"].as_bool()),
        (202, Some(true))
    );
    assert_eq!(
        answer.finished.revocations,
        [crate::write::Revocation::User("ann".into())],
        "made good by the consumer, never dropped"
    );
    d1.failing(Fail::Nothing);
}

#[test]
fn odd_requests_get_clear_answers() {
    let d1 = store();
    let (client, _) = Client::logged_in(&d1, &[], "ann");
    // A corrupt row is left out of the list, not a failed page.
    d1.inner.exec(
        "INSERT INTO sessions (id, user_id, data, created_at, expires_at, updated_at) \
         VALUES ('00000000-0000-4000-8000-00000000000a', 'ann', 'not json', ?1, ?2, ?1)",
        rusqlite::params![T0.unix(), T0.plus(600).unix()],
    );
    let listed = call(&client, 1, "GET", "/__session/admin/api/sessions");
    assert_eq!((listed.status, handles(&listed).len()), (200, 1));
    for (path, status) in [
        ("/__session/admin/api/users//revoke", 400),
        ("/__session/admin/api/users/%FF/revoke", 400),
        ("/__session/admin/api/sessions?cursor=0", 400),
        ("/__session/admin/api/sessions?cursor=-1", 400),
        ("/__session/admin/api/sessions?cursor=%2B5", 400),
        ("/__session/admin/api/signals?session=nothandle", 400),
        ("/__session/admin/api/sessions?limit=0", 200),
        ("/__session/admin/api/sessions?limit=999", 200),
    ] {
        let method = if path.ends_with("revoke") {
            "POST"
        } else {
            "GET"
        };
        assert_eq!(call(&client, 1, method, path).status, status, "{path}");
    }
    let one = call(&client, 1, "GET", "/__session/admin/api/sessions?limit=0");
    assert_eq!(handles(&one).len(), 1, "limit at least 1");
}

#[test]
fn an_id_inside_a_signal_message_is_shown_as_its_handle() {
    let d1 = store();
    let (client, _) = Client::logged_in(&d1, &[], "ann");
    let dead = crate::session::SessionId::random();
    let failed = Signal::CreationFailed {
        user_id: Some("ann".into()),
        exception: crate::signal::Exception::new(
            "StoreError",
            format!("session {dead} ended before: it is not created again"),
        ),
    };
    audit(&d1, &[failed], 3);
    let answer = call(&client, 4, "GET", "/__session/admin/api/signals");
    let text = answer.body.to_string();
    assert!(!text.contains(&dead.to_string()), "{text}");
    assert!(text.contains(&handle::of(&client.cfg.keys, &dead)));
}
