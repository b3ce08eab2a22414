//! Cookies minted by sessiongate before the request-path refactor (commit 6828e0d), under
//! a fixed secret: they must still verify and decode to the same session. The reference
//! and pending cookies are minted byte for byte the same today; the cookie store's
//! cookie is encrypted since (issue 9), and the signed one is still read.

#![allow(clippy::expect_used)] // a test crate: helpers outside #[test] may expect
use serde_json::{json, Value};
use sessiongate::changes::Changes;
use sessiongate::config::Config;
use sessiongate::cookie::full;
use sessiongate::cookie::key::KeyUse;
use sessiongate::cookie::pending;
use sessiongate::cookie::reference::{self, Snapshot};
use sessiongate::session::{Data, Record, SessionId};
use sessiongate::store::deferred::Deferred;
use sessiongate::store::{Update, UserChange};
use sessiongate::time::Timestamp;

const FULL_S1: &str =
    "s1.eyJpZCI6IjBiNmY0ZjVlLTFjMmQtNGUzZi05YThiLTdjNmQ1ZTRmM2EyYiIsInUiOiJkb3JhIiwiZCI6eyJuIjo3fSwiYyI6MTgwMDAwMDAwMCwiZSI6MTgwMDAxMDgwMCwiYSI6bnVsbCwidiI6Mn0.qEM-p4AiHN0a-dqpR0oBqtpUWhe9QNmZ8WFgXCBoxOk";
const REF_USER: &str =
    "9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab.eyJ1IjoiYWxpY2UiLCJ0IjoxODAwMDAwMDAwLCJhIjoxODAwNjA0ODAwfQ.Q1N9LK_gVdWmJcEpPWbKY8S1tyJ2UrBVTXubPRoWtNE";
const REF_ANON: &str =
    "9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab.eyJ1IjpudWxsLCJ0IjoxODAwMDAwMDAwfQ.lmrS-A-q4SGz6HP000YM4hGDZWqMmNCRBsuQawvGccg";
const FULL_LOGGED_IN: &str =
    "s1z.LcvBDoMgEATQf5kzJCwgIr_S9LAua2raXoztxfjvpeqc5iUzG-aKgmEi8TWojdyNNkqqNms_WUc-xC71eeARBp825dcs2nq7bRBeVpQbGX83WB_61raovDyxGwgKZXfFQC-Sy3_yyeTiwS9K2H8.Y2NR-GhgUxNqeChiT8Eq5zDVrGDl27U7KapkRF0aGdk";
const FULL_DEFLATED: &str =
    "s1z.ldrNSiNBFIbhW5Fad6C--q--FZlFJ13OhIkioRUheO-2omvf467lJIs8JOnzVm7uvLrZ9QedwhrHIS35eEinsh7aqA8HrxBTLrX15egm9-Lmp5fLZXL7Y27ueP7r5vubO2_j0c1-cpflOC77s13H81i2sd59_eNuG2-be59-BkUHAx2MdDDRwUwHCx2sdLDRwY5fcE6DbYRxhHWEeYR9hIGEhYSJhI0CNgr8_YONAjYK2Chgo4CNAjYK2Chgo4iNIjaK_EMOG0VsFLFRxEYRG0VsFLFRwkYJGyVslPg3ETZK2Chho4SNEjZK2Chjo4yNMjbK2Cjz2wVslLFRxkYZG2VsVLBRwUYFGxVsVLBR4fd02Khgo4KNCjaq2Khio4qNKjaq2Khio8pvvLFRxUYVGzVs1LBRw0YNGzVs1LBRw0aNb0fYqGGjjo06NurYqGOjjo06NurYqGOjzldYww7Ll1jPt1jP11jP91jPF1nPN1nPV1nPd1nPl1nPtSzJgWsZooOhOhiyg6E7GMKDoTwY0gNvD-LxQcFQiLgW7w_iAUK8QIgnCPEGIR4hxCuEeIYQ7xCKhqDHtXiKEG8R4jFCvEaI5wjxHiEeJMSLhHiSUDL0V67Fq4R4lhDvEuJhQrxMiKcJ8TYhHifE64SyIZdzLR4oxAuFeKIQbxTikUK8UohnCvFOIR4qVAynG1yLtwrxWCFeK8RzhXivEA8W4sVCPFmINwtVw2EU1-LZQrxbiIcL8XIhni7E24V4vBCvF-L5Qs1wdsi1eMEQTxjiDUM8YohXDPGMId4xxEOGeMlQNxz1_qb1Z3Kn5bq5-V5T2C-2f-Nx7MPrcv2_P5E7fb3rvv8mN74v9w3983L5-enF634c9v4B.i5ZMhqOoDQ73MAQ3eICbc8BYE-fCT7opJqhiurChask";
const PENDING_INSERT: &str =
    "p1.eyJvcCI6Imluc2VydCIsImlkIjoiMGI2ZjRmNWUtMWMyZC00ZTNmLTlhOGItN2M2ZDVlNGYzYTJiIiwidXNlciI6ImJvYiIsImNsZWFyIjpmYWxzZSwia2V5cyI6eyJhIjoxfSwiZXhwIjoxODAwMDEwODAwLCJhYnMiOjE4MDA2MDQ4MDAsImF0IjoxODAwMDAwMDAwfQ.xr5S7DFOkLPY8fbABfwlUtxVmDun0_K7pOYI0qMoBaw";
const PENDING_UPDATE: &str =
    "p1.eyJvcCI6InVwZGF0ZSIsImlkIjoiOWYxYzJkM2UtNGE1Yi00YzZkLThlN2YtMDEyMzQ1Njc4OWFiIiwibmV3X2lkIjoiMGI2ZjRmNWUtMWMyZC00ZTNmLTlhOGItN2M2ZDVlNGYzYTJiIiwidXNlciI6ImNhcm9sIiwiY2xlYXIiOnRydWUsImtleXMiOnsiY2FydCI6WzNdLCJvbGQiOm51bGx9LCJleHAiOjE4MDAwMTA5MDAsImF0IjoxODAwMDAwMDAwfQ.NziswCGrcTdZHAc3GP8QlG8clTSFmZxqepoPoDjx3jo";
const PENDING_DELETE: &str =
    "p1.eyJvcCI6ImRlbGV0ZSIsImlkIjoiOWYxYzJkM2UtNGE1Yi00YzZkLThlN2YtMDEyMzQ1Njc4OWFiIiwiY2xlYXIiOmZhbHNlLCJrZXlzIjp7fSwiZXhwIjowLCJhdCI6MTgwMDAwMDAwMH0.lAFb_5yB8x8A_G7zJ3eZP4rCv4ELag6zdFUQjJJgdfM";

const T: Timestamp = Timestamp::from_unix(1_800_000_000);

fn config() -> Config {
    Config::from_vars(|n| match n {
        "SESSION_SECRET" => Some("fixture-secret-fixture-secret-fixture-secret".into()),
        "SESSION_TIMEOUT_MINUTES" => Some("180".into()),
        // The default name when the fixtures were minted (now `__Host-session_id`).
        "SESSION_COOKIE_NAME" => Some("session_id".into()),
        _ => None,
    })
    .expect("fixture config")
}

fn id() -> SessionId {
    "9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab".parse().expect("id")
}

fn id2() -> SessionId {
    "0b6f4f5e-1c2d-4e3f-9a8b-7c6d5e4f3a2b".parse().expect("id")
}

fn data(v: Value) -> Data {
    match v {
        Value::Object(m) => m,
        _ => Data::new(),
    }
}

#[test]
fn reference_cookies_verify_and_are_minted_the_same() {
    let cfg = config();
    let name = &cfg.cookie.name;
    for (value, snapshot) in [
        (
            REF_USER,
            Snapshot {
                user_id: Some("alice".into()),
                issued_at: T,
                absolute_expires_at: Some(T.plus(604_800)),
                lifetime: None,
            },
        ),
        (
            REF_ANON,
            Snapshot {
                user_id: None,
                issued_at: T,
                absolute_expires_at: None,
                lifetime: None,
            },
        ),
    ] {
        let r = reference::decode(&cfg.keys, name, value).expect("old reference cookie");
        assert_eq!(
            (r.id, &r.snapshot, r.key),
            (id(), &snapshot, KeyUse::Current)
        );
        assert_eq!(reference::encode(&cfg.keys, name, &id(), &snapshot), value);
    }
}

fn full_record() -> Record {
    Record {
        id: id(),
        user_id: Some("alice".into()),
        data: data(json!({"cart": [1, 2], "theme": "dark"})),
        created_at: T,
        expires_at: T.plus(10_800),
        absolute_expires_at: Some(T.plus(604_800)),
        updated_at: T,
        version: 3,
        auth_time: None,
        lifetime: Default::default(),
    }
}

#[test]
fn full_session_cookies_verify_and_are_minted_the_same() {
    let cfg = config();
    let name = &cfg.cookie.name;
    let small = full_record();
    let mut big = full_record();
    let items: Vec<Value> = (0..200)
        .map(|i| json!({"item": i, "label": "repeated label text"}))
        .collect();
    big.data.insert("big".into(), Value::Array(items));
    big.user_id = None;
    big.absolute_expires_at = None;
    for (value, record) in [(FULL_LOGGED_IN, small), (FULL_DEFLATED, big)] {
        let (got, key) = full::decode(&cfg.keys, name, value).expect("old full cookie");
        // Still opened, and marked for re-issue in the current (encrypted) format.
        assert_eq!((&got, key), (&record, KeyUse::Fallback));
        // Since issue 9 the cookie store writes encrypted cookies (e1/e1z) and reads both.
        let now = full::encode(&cfg.keys, name, &record).expect("randomness");
        assert!(now.starts_with("e1"), "{now}");
        assert_eq!(
            full::decode(&cfg.keys, name, &now),
            Ok((record, KeyUse::Current))
        );
    }
    // The uncompressed `s1` form (minted when deflate does not pay).
    let (got, _) = full::decode(&cfg.keys, name, FULL_S1).expect("old s1 cookie");
    assert_eq!(
        (
            got.id,
            got.user_id.as_deref(),
            Value::Object(got.data),
            got.version
        ),
        (id2(), Some("dora"), json!({"n": 7}), 2)
    );
    assert_eq!(
        (got.expires_at, got.absolute_expires_at),
        (T.plus(10_800), None)
    );
}

#[test]
fn pending_cookies_verify_and_are_minted_the_same() {
    let cfg = config();
    let name = &cfg.pending_cookie.name;
    let insert = Deferred::Insert(Record {
        id: id2(),
        user_id: Some("bob".into()),
        data: data(json!({"a": 1})),
        created_at: T,
        expires_at: T.plus(10_800),
        absolute_expires_at: Some(T.plus(604_800)),
        updated_at: T,
        version: 1,
        auth_time: None,
        lifetime: Default::default(),
    });
    let mut changes = Changes::default();
    changes.clear();
    changes.set("cart", Some(json!([3])));
    changes.set("old", None);
    let update = Deferred::Update(Update {
        id: id(),
        new_id: Some(id2()),
        user: UserChange::Set("carol".into()),
        changes,
        expires_at: T.plus(10_900),
        // The pending cookie keeps one time: when the operation was first recorded.
        now: T,
        reauthenticated: false,
        lifetime: None,
    });
    for (value, op) in [
        (PENDING_INSERT, insert),
        (PENDING_UPDATE, update),
        (PENDING_DELETE, Deferred::Delete(id())),
    ] {
        let got = pending::decode(&cfg.keys, name, value).expect("old pending cookie");
        assert_eq!((&got.op, got.since, got.key), (&op, T, KeyUse::Current));
        assert_eq!(pending::encode(&cfg.keys, name, &op, T), value);
    }
}
