//! What one request does to its session: from the loaded session and the origin's
//! commands to one store write and one cookie change. Pure, so every rule is unit-tested
//! natively; [`execute`] then runs the plan against any [`Store`].

use crate::patch;
use crate::protocol::Commands;
use crate::session::{Data, ExpiryPolicy, Record, SessionId};
use crate::store::{Store, StoreError, Update};
use crate::time::Timestamp;

/// The session a request arrived with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Loaded {
    /// The valid (verified, stored, unexpired) session, if any.
    pub record: Option<Record>,
    /// A session cookie was sent, valid or not: clearing it is worthwhile.
    pub cookie_seen: bool,
    /// The cookie verified under a fallback key: re-issue it under the current key.
    pub reissue: bool,
}

/// The single store write of a request.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    /// Nothing to write: the steady state.
    None,
    /// Create this session.
    Insert(Record),
    /// Change an existing session.
    Update(Update),
    /// Remove one session (logout).
    Delete(SessionId),
    /// Remove every session of a user.
    DeleteUser(String),
}

/// What happens to the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieChange {
    /// Send no `Set-Cookie`.
    Keep,
    /// Point the cookie at `id` for `max_age` seconds.
    Set {
        /// Session the cookie references.
        id: SessionId,
        /// Cookie lifetime in seconds.
        max_age: i64,
    },
    /// Delete the cookie.
    Clear,
}

/// The plan of one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The store write.
    pub write: Write,
    /// The cookie change, if the write succeeds.
    pub cookie: CookieChange,
}

/// Decides what the request does. `new_id` is called only when a new id is needed.
#[must_use]
pub fn plan(
    policy: &ExpiryPolicy,
    loaded: &Loaded,
    cmds: &Commands,
    now: Timestamp,
    new_id: impl FnOnce() -> SessionId,
) -> Plan {
    let stale_cookie = if loaded.cookie_seen {
        CookieChange::Clear
    } else {
        CookieChange::Keep
    };
    let a = cmds.actions;
    if a.delete || a.revoke_user {
        let write = match &loaded.record {
            Some(r) => match (&r.user_id, a.revoke_user) {
                (Some(user), true) => Write::DeleteUser(user.clone()),
                _ => Write::Delete(r.id),
            },
            None => Write::None,
        };
        let cookie = if loaded.record.is_some() {
            CookieChange::Clear
        } else {
            stale_cookie
        };
        return Plan { write, cookie };
    }

    let Some(current) = &loaded.record else {
        if cmds.update.is_none() && cmds.login.is_none() && !a.create {
            return Plan {
                write: Write::None,
                cookie: stale_cookie,
            };
        }
        let id = new_id();
        let (expires_at, absolute_expires_at) = policy.new_session(now);
        let mut data = Data::new();
        if let Some(p) = &cmds.update {
            patch::merge(&mut data, p);
        }
        let record = Record {
            id,
            user_id: cmds.login.clone(),
            data,
            created_at: now,
            expires_at,
            absolute_expires_at,
            updated_at: now,
            version: 1,
        };
        let max_age = ExpiryPolicy::max_age(expires_at, now);
        return Plan {
            write: Write::Insert(record),
            cookie: CookieChange::Set { id, max_age },
        };
    };

    let renewal = policy.renewal(current, now);
    let expires_at = renewal.unwrap_or(current.expires_at);
    // Logging in always moves the session to a new id (session fixation).
    let cycle = a.cycle || cmds.login.is_some();
    let changes = cycle || a.clear || cmds.update.is_some();
    let write = if changes || renewal.is_some() {
        Write::Update(Update {
            id: current.id,
            new_id: cycle.then(new_id),
            user_id: cmds.login.clone().map(Some),
            clear: a.clear,
            patch: cmds.update.clone(),
            expires_at,
            now,
        })
    } else {
        Write::None
    };
    let id = match &write {
        Write::Update(u) => u.new_id.unwrap_or(current.id),
        _ => current.id,
    };
    let cookie = if id != current.id || renewal.is_some() || loaded.reissue {
        CookieChange::Set {
            id,
            max_age: ExpiryPolicy::max_age(expires_at, now),
        }
    } else {
        CookieChange::Keep
    };
    Plan { write, cookie }
}

/// How a plan ended.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The cookie change to send (downgraded to `Keep`/`Clear` when the write failed).
    pub cookie: CookieChange,
    /// Why the write failed, if it did.
    pub error: Option<WriteError>,
}

/// A failed write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteError {
    /// The session vanished between load and write (deleted or cycled concurrently).
    NotFound,
    /// The store failed.
    Store(StoreError),
}

/// Runs `plan`'s write against `store`. A failed write never sets a cookie that would
/// point at nothing: creation and cycling keep the old cookie, a vanished session clears
/// it. A failed delete still clears the cookie: the user asked to be logged out.
pub async fn execute(store: &impl Store, plan: Plan) -> Outcome {
    let result = match &plan.write {
        Write::None => Ok(true),
        Write::Insert(r) => store.insert(r).await.map(|()| true),
        Write::Update(u) => store.update(u).await,
        Write::Delete(id) => store.delete(id).await,
        Write::DeleteUser(user) => store.delete_user(user).await.map(|n| n > 0),
    };
    let deleting = matches!(plan.write, Write::Delete(_) | Write::DeleteUser(_));
    match result {
        Ok(true) => Outcome {
            cookie: plan.cookie,
            error: None,
        },
        // Deleting what is already gone is what was asked.
        Ok(false) if deleting => Outcome {
            cookie: plan.cookie,
            error: None,
        },
        Ok(false) => Outcome {
            cookie: CookieChange::Clear,
            error: Some(WriteError::NotFound),
        },
        Err(e) => Outcome {
            cookie: if deleting {
                plan.cookie
            } else {
                CookieChange::Keep
            },
            error: Some(WriteError::Store(e)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::Actions;
    use crate::store::conformance::block_on;
    use crate::store::memory::MemoryStore;
    use serde_json::{json, Value};

    const POLICY: ExpiryPolicy = ExpiryPolicy {
        idle_secs: 600,
        absolute_secs: 3600,
        renew_after_secs: 60,
    };
    const T0: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn fixed_id() -> SessionId {
        "00000000-0000-4000-8000-000000000001".parse().unwrap()
    }

    fn session(user: Option<&str>) -> Record {
        let (expires_at, absolute_expires_at) = POLICY.new_session(T0);
        Record {
            id: SessionId::random(),
            user_id: user.map(Into::into),
            data: Data::new(),
            created_at: T0,
            expires_at,
            absolute_expires_at,
            updated_at: T0,
            version: 1,
        }
    }

    fn loaded(r: &Record) -> Loaded {
        Loaded {
            record: Some(r.clone()),
            cookie_seen: true,
            reissue: false,
        }
    }

    fn update(v: Value) -> Commands {
        let Value::Object(m) = v else { panic!() };
        Commands {
            update: Some(m),
            ..Commands::default()
        }
    }

    fn actions(f: impl FnOnce(&mut Actions)) -> Commands {
        let mut c = Commands::default();
        f(&mut c.actions);
        c
    }

    fn no_new_id() -> SessionId {
        panic!("no new id expected")
    }

    #[test]
    fn anonymous_request_without_writes_creates_nothing() {
        let p = plan(
            &POLICY,
            &Loaded::default(),
            &Commands::default(),
            T0,
            no_new_id,
        );
        assert_eq!(
            p,
            Plan {
                write: Write::None,
                cookie: CookieChange::Keep
            }
        );
    }

    #[test]
    fn a_bad_cookie_without_writes_is_cleared() {
        let l = Loaded {
            cookie_seen: true,
            ..Loaded::default()
        };
        let p = plan(&POLICY, &l, &Commands::default(), T0, no_new_id);
        assert_eq!(p.cookie, CookieChange::Clear);
    }

    #[test]
    fn first_write_creates_the_session() {
        let p = plan(
            &POLICY,
            &Loaded::default(),
            &update(json!({"cart": [1], "x": null})),
            T0,
            fixed_id,
        );
        let Write::Insert(r) = &p.write else {
            panic!("{p:?}")
        };
        assert_eq!(
            (r.id, Value::Object(r.data.clone())),
            (fixed_id(), json!({"cart": [1]}))
        );
        assert_eq!(
            (r.expires_at, r.absolute_expires_at),
            (T0.plus(600), Some(T0.plus(3600)))
        );
        assert_eq!(
            p.cookie,
            CookieChange::Set {
                id: fixed_id(),
                max_age: 600
            }
        );
    }

    #[test]
    fn create_action_and_login_create_too() {
        let p = plan(
            &POLICY,
            &Loaded::default(),
            &actions(|a| a.create = true),
            T0,
            fixed_id,
        );
        assert!(
            matches!(p.write, Write::Insert(ref r) if r.data.is_empty() && r.user_id.is_none())
        );
        let login = Commands {
            login: Some("alice".into()),
            ..Commands::default()
        };
        let p = plan(&POLICY, &Loaded::default(), &login, T0, fixed_id);
        assert!(matches!(p.write, Write::Insert(ref r) if r.user_id.as_deref() == Some("alice")));
    }

    #[test]
    fn steady_state_writes_nothing() {
        let r = session(None);
        let p = plan(
            &POLICY,
            &loaded(&r),
            &Commands::default(),
            T0.plus(59),
            no_new_id,
        );
        assert_eq!(
            p,
            Plan {
                write: Write::None,
                cookie: CookieChange::Keep
            }
        );
    }

    #[test]
    fn renewal_writes_expiry_and_resends_cookie() {
        let r = session(None);
        let p = plan(
            &POLICY,
            &loaded(&r),
            &Commands::default(),
            T0.plus(60),
            no_new_id,
        );
        let Write::Update(u) = &p.write else {
            panic!("{p:?}")
        };
        assert_eq!(
            (u.expires_at, u.new_id, u.patch.is_none()),
            (T0.plus(660), None, true)
        );
        assert_eq!(
            p.cookie,
            CookieChange::Set {
                id: r.id,
                max_age: 600
            }
        );
    }

    #[test]
    fn patch_without_renewal_keeps_cookie_and_expiry() {
        let r = session(None);
        let p = plan(
            &POLICY,
            &loaded(&r),
            &update(json!({"a": 1})),
            T0.plus(5),
            no_new_id,
        );
        let Write::Update(u) = &p.write else {
            panic!("{p:?}")
        };
        assert_eq!(u.expires_at, r.expires_at);
        assert_eq!(p.cookie, CookieChange::Keep);
    }

    #[test]
    fn login_cycles_the_id() {
        let r = session(None);
        let cmds = Commands {
            login: Some("bob".into()),
            ..Commands::default()
        };
        let p = plan(&POLICY, &loaded(&r), &cmds, T0.plus(5), fixed_id);
        let Write::Update(u) = &p.write else {
            panic!("{p:?}")
        };
        assert_eq!(
            (u.id, u.new_id, u.user_id.clone()),
            (r.id, Some(fixed_id()), Some(Some("bob".into())))
        );
        assert_eq!(
            p.cookie,
            CookieChange::Set {
                id: fixed_id(),
                max_age: 595
            }
        );
    }

    #[test]
    fn delete_and_revoke_user() {
        let r = session(Some("carol"));
        let p = plan(
            &POLICY,
            &loaded(&r),
            &actions(|a| a.delete = true),
            T0,
            no_new_id,
        );
        assert_eq!(
            p,
            Plan {
                write: Write::Delete(r.id),
                cookie: CookieChange::Clear
            }
        );
        let p = plan(
            &POLICY,
            &loaded(&r),
            &actions(|a| a.revoke_user = true),
            T0,
            no_new_id,
        );
        assert_eq!(
            p,
            Plan {
                write: Write::DeleteUser("carol".into()),
                cookie: CookieChange::Clear
            }
        );
        let anon = session(None);
        let p = plan(
            &POLICY,
            &loaded(&anon),
            &actions(|a| a.revoke_user = true),
            T0,
            no_new_id,
        );
        assert_eq!(p.write, Write::Delete(anon.id));
        let p = plan(
            &POLICY,
            &Loaded::default(),
            &actions(|a| a.delete = true),
            T0,
            no_new_id,
        );
        assert_eq!(
            p,
            Plan {
                write: Write::None,
                cookie: CookieChange::Keep
            }
        );
    }

    #[test]
    fn fallback_key_cookie_is_reissued_without_a_write() {
        let r = session(None);
        let l = Loaded {
            reissue: true,
            ..loaded(&r)
        };
        let p = plan(&POLICY, &l, &Commands::default(), T0.plus(10), no_new_id);
        assert_eq!(
            p,
            Plan {
                write: Write::None,
                cookie: CookieChange::Set {
                    id: r.id,
                    max_age: 590
                }
            }
        );
    }

    #[test]
    fn execute_downgrades_the_cookie_on_failure() {
        let store = MemoryStore::new();
        let r = session(None);
        // The session is not in the store: the update finds nothing.
        let p = plan(
            &POLICY,
            &loaded(&r),
            &actions(|a| a.cycle = true),
            T0,
            fixed_id,
        );
        let out = block_on(execute(&store, p));
        assert_eq!(
            out,
            Outcome {
                cookie: CookieChange::Clear,
                error: Some(WriteError::NotFound)
            }
        );
        // Inserting an id that exists fails: no cookie for a session that was not made.
        block_on(store.insert(&r)).unwrap();
        let p = plan(
            &POLICY,
            &Loaded::default(),
            &actions(|a| a.create = true),
            T0,
            || r.id,
        );
        let out = block_on(execute(&store, p));
        assert_eq!(out.cookie, CookieChange::Keep);
        assert!(matches!(out.error, Some(WriteError::Store(_))));
        // Deleting what is gone still logs the user out.
        let gone = session(None);
        let p = plan(
            &POLICY,
            &loaded(&gone),
            &actions(|a| a.delete = true),
            T0,
            no_new_id,
        );
        assert_eq!(
            block_on(execute(&store, p)),
            Outcome {
                cookie: CookieChange::Clear,
                error: None
            }
        );
    }
}
