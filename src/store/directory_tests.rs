//! The admin listing SQL and the device columns, run natively on SQLite (the statements
//! D1 runs): context and login time recorded by the writes a session has anyway,
//! cursor paging stable under inserts, audit pages, counts, purge.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::conformance::record;
use super::sqlite::SqliteStore;
use super::{Directory, SessionQuery, SignalQuery, Store, Update, UserChange};
use crate::changes::Changes;
use crate::device::{Device, Seen};
use crate::session::SessionId;
use crate::time::Timestamp;
use pollster::block_on;
use serde_json::json;

const T0: Timestamp = Timestamp::from_unix(1_800_000_000);

fn device(ua: &str, ip: &str) -> Device {
    Device::from_request(&Seen {
        user_agent: Some(ua),
        client_ip: Some(ip),
        country: Some("DE"),
        ..Seen::default()
    })
}

fn touch(s: &SqliteStore, id: SessionId, user: UserChange, at: i64) {
    let u = Update {
        id,
        new_id: None,
        user,
        changes: Changes::default(),
        expires_at: T0.plus(at + 600),
        now: T0.plus(at),
        reauthenticated: false,
        lifetime: None,
    };
    assert!(block_on(s.update(&u)).unwrap());
}

fn listed_one(s: &SqliteStore, id: SessionId) -> super::Listed {
    block_on(s.show(&id, T0.plus(1))).unwrap().unwrap()
}

#[test]
fn the_device_and_login_time_come_with_the_writes_a_session_has() {
    let s = SqliteStore::new();
    s.seen_from(&device("Firefox/140", "203.0.113.7"));
    let anon = record(None, json!({}));
    // Created logged in: authenticated at its creation.
    let ann = super::Record {
        auth_time: Some(T0),
        ..record(Some("ann"), json!({}))
    };
    block_on(s.insert(&anon)).unwrap();
    block_on(s.insert(&ann)).unwrap();
    let a = listed_one(&s, anon.id);
    assert_eq!(a.device.user_agent.as_deref(), Some("Firefox/140"));
    assert_eq!(a.device.network.as_deref(), Some("203.0.113.0/24"));
    assert_eq!(a.record.auth_time, None, "anonymous");
    assert_eq!(
        listed_one(&s, ann.id).record.auth_time,
        Some(T0),
        "created logged in"
    );

    // A renewal from elsewhere: last seen there; the login time stays.
    s.seen_from(&device("Chrome/150", "198.51.100.9"));
    touch(&s, ann.id, UserChange::Keep, 60);
    let l = listed_one(&s, ann.id);
    assert_eq!(l.device.user_agent.as_deref(), Some("Chrome/150"));
    assert_eq!(l.record.updated_at, T0.plus(60));
    assert_eq!(l.record.auth_time, Some(T0));

    // A login is an authentication; a write with no device known keeps the last one.
    s.seen_from(&Device::default());
    touch(&s, anon.id, UserChange::Set("bob".into()), 90);
    let b = listed_one(&s, anon.id);
    assert_eq!(b.record.auth_time, Some(T0.plus(90)));
    assert_eq!(b.device.user_agent.as_deref(), Some("Firefox/140"));
    touch(&s, anon.id, UserChange::Clear, 95);
    assert_eq!(listed_one(&s, anon.id).record.auth_time, None, "logged out");
}

#[test]
fn rows_from_before_the_context_columns_list_with_nothing_known() {
    let s = SqliteStore::new();
    let r = record(Some("ann"), json!({}));
    s.exec(
        "INSERT INTO sessions (id, user_id, data, created_at, expires_at, updated_at) \
         VALUES (?1, 'ann', '{}', ?2, ?3, ?2)",
        rusqlite::params![r.id.to_string(), T0.unix(), T0.plus(600).unix()],
    );
    s.exec(
        "UPDATE sessions SET context = 'garbage' WHERE id = ?1",
        [r.id.to_string()],
    );
    let listed = block_on(s.list_user("ann", T0)).unwrap();
    assert_eq!(listed.len(), 1);
    assert!(listed[0].device.is_empty());
    assert_eq!(listed[0].record.auth_time, None);
}

/// Inserts a session of `user` created at `T0 + at`.
fn created(s: &SqliteStore, user: &str, at: i64) -> SessionId {
    let mut r = record(Some(user), json!({}));
    r.created_at = T0.plus(at);
    r.updated_at = r.created_at;
    r.expires_at = T0.plus(10_000);
    r.absolute_expires_at = None;
    block_on(s.insert(&r)).unwrap();
    r.id
}

fn page(s: &SqliteStore, user: Option<&str>, before: Option<i64>, limit: u32) -> Vec<SessionId> {
    let q = SessionQuery {
        user_id: user.map(str::to_owned),
        before,
        limit,
    };
    block_on(s.page(&q, T0.plus(5_000)))
        .unwrap()
        .into_iter()
        .map(|l| l.record.id)
        .collect()
}

fn cursor_after(s: &SqliteStore, id: SessionId) -> Option<i64> {
    Some(listed_one(s, id).seq)
}

/// A login that moves `id` to a new id, as the gateway's does.
fn touch_login(s: &SqliteStore, id: SessionId) {
    let u = Update {
        id,
        new_id: Some(SessionId::random()),
        user: UserChange::Set("ann".into()),
        changes: Changes::default(),
        expires_at: T0.plus(9_000),
        now: T0.plus(45),
        reauthenticated: false,
        lifetime: None,
    };
    assert!(block_on(s.update(&u)).unwrap());
}

#[test]
fn pages_are_newest_first_and_stable_while_sessions_are_inserted() {
    let s = SqliteStore::new();
    // Five sessions, two of them in the same second: newest inserted first.
    let ids: Vec<SessionId> = [10, 20, 20, 30, 40]
        .iter()
        .map(|at| created(&s, if at % 20 == 0 { "ann" } else { "bob" }, *at))
        .collect();
    let expected: Vec<SessionId> = ids.iter().rev().copied().collect();

    let first = page(&s, None, None, 2);
    assert_eq!(first, expected[..2]);
    // Sessions inserted between pages, even in the same second as the cursor's: they
    // never shift the pages to come. A login keeps its session's place.
    created(&s, "ann", 20);
    created(&s, "ann", 40);
    touch_login(&s, expected[0]);
    let second = page(&s, None, cursor_after(&s, first[1]), 2);
    let third = page(&s, None, cursor_after(&s, second[1]), 2);
    assert_eq!([first, second, third].concat(), expected);

    let anns = page(&s, Some("ann"), None, 10);
    assert_eq!(anns.len(), 5, "three, and the two inserted meanwhile");
    assert!(anns
        .iter()
        .all(|id| listed_one(&s, *id).record.user_id.as_deref() == Some("ann")));
    assert!(page(&s, Some("nobody"), None, 10).is_empty());
}

#[test]
fn counts_purge_and_audit_pages() {
    let s = SqliteStore::new();
    created(&s, "ann", 0);
    let mut expired = record(None, json!({}));
    expired.expires_at = T0.plus(1);
    block_on(s.insert(&expired)).unwrap();
    assert_eq!(block_on(s.count_live(T0)).unwrap(), 2);
    assert_eq!(block_on(s.count_live(T0.plus(5))).unwrap(), 1);
    assert_eq!(block_on(s.purge_expired(T0.plus(5), 10)).unwrap(), 1);
    assert_eq!(block_on(s.purge_expired(T0.plus(5), 10)).unwrap(), 0);

    let sid = SessionId::random();
    for (i, (name, session, user, at)) in [
        ("session_created", Some(sid), Some("ann"), 0),
        ("session_deleted", Some(sid), Some("ann"), 10),
        ("session_expired", None, None, 20),
        ("session_created", None, Some("bob"), -4000),
    ]
    .into_iter()
    .enumerate()
    {
        s.exec(
            crate::store::sql::INSERT_SIGNAL,
            rusqlite::params![
                format!("e{i}"),
                name,
                session.map(|s| s.to_string()),
                user,
                "{}",
                T0.plus(at).unix()
            ],
        );
    }
    let counts = block_on(s.count_signals(T0.plus(-3600))).unwrap();
    assert_eq!((counts.created, counts.ended), (1, 2));
    s.exec(
        crate::store::sql::INSERT_SIGNAL,
        rusqlite::params![
            "p1",
            "sessions_purged",
            None::<String>,
            None::<String>,
            r#"{"kwargs":{"count":7,"signals_pruned":0}}"#,
            T0.plus(30).unix()
        ],
    );
    let counts = block_on(s.count_signals(T0.plus(-3600))).unwrap();
    assert_eq!(counts.ended, 9, "a purge counts what it removed");
    let q = |f: fn(&mut SignalQuery)| {
        let mut q = SignalQuery {
            limit: 10,
            ..SignalQuery::default()
        };
        f(&mut q);
        block_on(s.signals(&q))
            .unwrap()
            .into_iter()
            .map(|(_, r)| r.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        q(|_| {}),
        ["p1", "e3", "e2", "e1", "e0"],
        "newest recorded first"
    );
    assert_eq!(q(|q| q.user_id = Some("ann".into())), ["e1", "e0"]);
    assert_eq!(q(|q| q.name = Some("session_created".into())), ["e3", "e0"]);
    let mut by_session = SignalQuery {
        session_id: Some(sid),
        limit: 1,
        ..SignalQuery::default()
    };
    let one = block_on(s.signals(&by_session)).unwrap();
    assert_eq!(one[0].1.id, "e1");
    by_session.before = Some(one[0].0);
    assert_eq!(block_on(s.signals(&by_session)).unwrap()[0].1.id, "e0");
}

#[test]
fn the_health_probe_needs_every_migration() {
    let full = rusqlite::Connection::open_in_memory().unwrap();
    let partial = rusqlite::Connection::open_in_memory().unwrap();
    for (i, m) in super::sqlite::MIGRATIONS.into_iter().enumerate() {
        full.execute_batch(m).unwrap();
        // All but the last: a column is missing.
        if i + 1 < super::sqlite::MIGRATIONS.len() {
            partial.execute_batch(m).unwrap();
        }
    }
    assert!(full.prepare(super::sql::PING).is_ok());
    let missing = partial.prepare(super::sql::PING).unwrap_err().to_string();
    assert!(missing.contains("no such column"), "{missing}");
}

#[test]
fn filtered_pages_are_driven_by_an_index() {
    use super::sql;
    let s = rusqlite::Connection::open_in_memory().unwrap();
    for m in super::sqlite::MIGRATIONS {
        s.execute_batch(m).unwrap();
    }
    let plan = |q: &str| -> String {
        let mut stmt = s.prepare(&format!("EXPLAIN QUERY PLAN {q}")).unwrap();
        let nulls = vec![rusqlite::types::Null; stmt.parameter_count()];
        let rows = stmt
            .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
            .unwrap();
        rows.map(Result::unwrap).collect::<Vec<_>>().join("; ")
    };
    for (q, index) in [
        (sql::LIST_PAGE_OF_USER, "sessions_user_id"),
        (sql::LIST_USER, "sessions_user_id"),
        (sql::LIST_SIGNALS_OF_SESSION, "session_signals_session_id"),
        (sql::LIST_SIGNALS_OF_USER, "session_signals_user_id"),
        (sql::LIST_SIGNALS_NAMED, "session_signals_name"),
    ] {
        let p = plan(q);
        assert!(p.contains(index), "{p}\n{q}");
    }
    assert_eq!(
        sql::list_signals(true, true, true),
        sql::LIST_SIGNALS_OF_SESSION
    );
    assert_eq!(
        sql::list_signals(false, false, true),
        sql::LIST_SIGNALS_NAMED
    );
    assert_eq!(sql::list_page(false), sql::LIST_PAGE);
}
