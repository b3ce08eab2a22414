//! The self-service API: list, revoke by handle, revoke the others.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::{per_store, Client, Flaky, Memory, Reply, T0};
use crate::gateway::api::Answer;
use crate::gateway::{Context, Inbound};
use crate::handle::of as handle;
use crate::signal::{Reason, Signal};
use crate::store::Store;

per_store!(
    a_user_lists_their_sessions_by_handle_newest_first,
    revoking_another_session_ends_it_and_leaves_this_one,
    a_handle_of_another_user_is_not_found,
    revoke_others_leaves_only_this_session,
    the_origin_ends_other_sessions_by_command,
    the_origin_receives_the_list_only_on_its_paths,
);

/// Whether `signals` say a session was deleted for `why`.
fn deleted_because(signals: &[Signal], why: Reason) -> bool {
    signals
        .iter()
        .any(|s| matches!(s, Signal::Deleted { reason, .. } if *reason == why))
}

/// Calls the API as `client`'s browser at `T0 + secs`.
fn call<S: Store>(
    client: &Client<'_, S>,
    secs: i64,
    what: impl FnOnce(Context<'_>, &Flaky<S>, &Inbound) -> Answer,
) -> Answer {
    let header = client.browser.header();
    let (inbound, _) = Inbound::take(header.as_deref(), "session_id", "session_id-pending");
    let memory = Memory::default();
    let cx = Context::new(&client.cfg, T0.plus(secs), false, &memory);
    what(cx, client.d1, &inbound)
}

fn list<S: Store>(client: &Client<'_, S>, secs: i64) -> Answer {
    call(client, secs, |cx, d1, inbound| {
        pollster::block_on(cx.list_sessions(d1, inbound))
    })
}

fn a_user_lists_their_sessions_by_handle_newest_first<S: Store>(d1: &Flaky<S>) {
    let (phone, phone_id) = Client::logged_in(d1, &[], "ann");
    let mut laptop = Client::new(d1, &[]);
    laptop.send(10, Reply::login("ann"));
    let answer = list(&phone, 20);
    assert_eq!(answer.status, 200);
    let sessions = answer.body["sessions"].as_array().expect("a list").clone();
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions[0]["current"], false, "the laptop's, newer, first");
    assert_eq!(sessions[1]["current"], true);
    assert_eq!(
        sessions[1]["handle"],
        handle(&phone.cfg.keys, &phone_id).as_str()
    );
    let text = answer.body.to_string();
    assert!(!text.contains(&phone_id.to_string()), "never an id");
    let anonymous = Client::new(d1, &[]);
    assert_eq!(list(&anonymous, 20).status, 401);
}

fn revoking_another_session_ends_it_and_leaves_this_one<S: Store>(d1: &Flaky<S>) {
    let (phone, _) = Client::logged_in(d1, &[], "ann");
    let mut laptop = Client::new(d1, &[]);
    laptop.send(10, Reply::login("ann"));
    let other = list(&phone, 20).body["sessions"][0]["handle"]
        .as_str()
        .expect("handle")
        .to_owned();
    let answer = call(&phone, 21, |cx, d1, i| {
        pollster::block_on(cx.revoke_session(d1, i, &other))
    });
    assert_eq!(answer.status, 204);
    assert!(
        answer.finished.set_cookies.is_empty(),
        "this browser keeps its cookie"
    );
    assert!(deleted_because(
        &answer.finished.signals,
        Reason::RevokedByUser
    ));
    let seen = laptop.send(22, Reply::OK);
    assert_eq!(
        seen.header("X-Session-User-Id"),
        None,
        "ended on its very next request"
    );
    assert_eq!(
        list(&phone, 23).body["sessions"].as_array().map(Vec::len),
        Some(1)
    );
}

fn a_handle_of_another_user_is_not_found<S: Store>(d1: &Flaky<S>) {
    let (ann, _) = Client::logged_in(d1, &[], "ann");
    let (bob, bob_id) = Client::logged_in(d1, &[], "bob");
    let bobs = handle(&bob.cfg.keys, &bob_id);
    let answer = call(&ann, 5, |cx, d1, i| {
        pollster::block_on(cx.revoke_session(d1, i, &bobs))
    });
    assert_eq!(answer.status, 404);
    assert!(d1.row(bob_id).is_some(), "untouched");
}

fn revoke_others_leaves_only_this_session<S: Store>(d1: &Flaky<S>) {
    let (phone, phone_id) = Client::logged_in(d1, &[], "ann");
    for t in [1, 2] {
        Client::new(d1, &[]).send(t, Reply::login("ann"));
    }
    let (_, carol) = Client::logged_in(d1, &[], "carol");
    let answer = call(&phone, 5, |cx, d1, i| {
        pollster::block_on(cx.revoke_others(d1, i))
    });
    assert_eq!(
        (answer.status, answer.body["revoked"].as_u64()),
        (200, Some(2))
    );
    assert!(answer.finished.revocations.is_empty());
    assert!(
        d1.row(phone_id).is_some() && d1.row(carol).is_some(),
        "this one, other users"
    );
    let left = list(&phone, 6).body["sessions"].as_array().map(Vec::len);
    assert_eq!(left, Some(1));
}

fn the_origin_ends_other_sessions_by_command<S: Store>(d1: &Flaky<S>) {
    let (mut phone, phone_id) = Client::logged_in(d1, &[], "ann");
    let (_, laptop) = Client::logged_in(d1, &[], "ann");
    let (_, tablet) = Client::logged_in(d1, &[], "ann");
    let (_, bob) = Client::logged_in(d1, &[], "bob");
    // The origin's own "Your sessions" page revokes the laptop by its handle.
    let h = handle(&phone.cfg.keys, &laptop);
    let reply = Reply {
        revoke: Some(&h),
        ..Reply::OK
    };
    let seen = phone.send(5, reply);
    assert!(deleted_because(&seen.signals, Reason::RevokedByOrigin));
    assert_eq!((d1.row(laptop), d1.row(tablet).is_some()), (None, true));
    // Another user's handle does nothing.
    let hb = handle(&phone.cfg.keys, &bob);
    let seen = phone.send(
        6,
        Reply {
            revoke: Some(&hb),
            ..Reply::OK
        },
    );
    assert_eq!(seen.event_names(), ["revoke_command_ignored"]);
    assert!(d1.row(bob).is_some());
    // "Log out other devices".
    phone.send(7, Reply::action("revoke-others"));
    assert_eq!(d1.row(tablet), None);
    assert!(d1.row(phone_id).is_some() && d1.row(bob).is_some());
}

fn the_origin_receives_the_list_only_on_its_paths<S: Store>(d1: &Flaky<S>) {
    use base64::Engine as _;
    let vars = [("SESSION_LIST_PATHS", "/account/sessions, /settings")];
    let (phone, phone_id) = Client::logged_in(d1, &vars, "ann");
    Client::new(d1, &vars).send(1, Reply::login("ann"));
    let header = phone.browser.header();
    let (inbound, _) = Inbound::take(header.as_deref(), "session_id", "session_id-pending");
    let memory = Memory::default();
    let cx = Context::new(&phone.cfg, T0.plus(5), false, &memory);
    pollster::block_on(async {
        let ex = crate::gateway::Exchange::begin(cx, Some(d1), &inbound).await;
        d1.ops();
        assert_eq!(ex.session_list("/page").await, None);
        assert_eq!(d1.ops(), (0, 0), "no read elsewhere");
        let (name, value) = ex
            .session_list("/account/sessions?x=1")
            .await
            .expect("listed");
        assert_eq!((name, d1.ops()), ("X-Session-List", (1, 0)));
        let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .expect("b64");
        let list: serde_json::Value = serde_json::from_slice(&json).expect("json");
        let sessions = list["sessions"].as_array().expect("sessions");
        assert_eq!(sessions.len(), 2);
        let mine = handle(&phone.cfg.keys, &phone_id);
        assert!(sessions
            .iter()
            .any(|s| s["current"] == true && s["handle"] == mine.as_str()));
    });
}
