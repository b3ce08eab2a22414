//! The D1 store: [`Store`] over the `SESSIONS_DB` binding, running the statements of
//! [`crate::store::sql`].

use super::SESSIONS_DB;
use crate::device::{Device, Seen};
use crate::session::{Record, SessionId};
use crate::signal::AuditRow;
use crate::store::row::{data_json, Row};
use crate::store::sql::{self, UpdateParams};
use crate::store::{
    Counts, Directory, Evicted, Listed, SessionQuery, SignalQuery, Store, StoreError, Update,
    UserChange,
};
use crate::time::Timestamp;
use worker::wasm_bindgen::JsValue;
use worker::web_sys::Request;
use worker::{js_sys, D1Database, D1PreparedStatement, Env};

/// Sessions in D1. A missing binding is a store whose every operation fails, so the
/// request path degrades the same way as when D1 is down.
pub struct D1Store {
    db: Option<D1Database>,
    /// The request whose device context the session's writes record (read only when
    /// one is made: the steady state pays nothing for it).
    from: Option<Request>,
}

impl D1Store {
    /// The store over the `SESSIONS_DB` binding of `env`.
    pub fn from_env(env: &Env) -> Self {
        Self {
            db: env.d1(SESSIONS_DB).ok(),
            from: None,
        }
    }

    /// The same store, its writes recorded as coming from `req`.
    #[must_use]
    pub fn seen_from(mut self, req: &Request) -> Self {
        // The handle, not `Request.clone()` (which would tee the body).
        self.from = Some(Clone::clone(req));
        self
    }

    /// The device context of the request, as the `context` column holds it.
    fn device(&self) -> Option<String> {
        self.from.as_ref().and_then(|req| device(req).to_column())
    }

    /// The database, or the error of its missing binding.
    ///
    /// # Errors
    /// [`StoreError::Backend`] naming the binding when it is not configured.
    pub fn db(&self) -> Result<&D1Database, StoreError> {
        self.db
            .as_ref()
            .ok_or_else(|| StoreError::Backend(format!("binding {SESSIONS_DB} is missing")))
    }

    /// `query` with `args` bound.
    ///
    /// # Errors
    /// [`StoreError::Backend`] when the binding is missing or binding fails.
    pub fn statement(
        &self,
        query: &str,
        args: &[JsValue],
    ) -> Result<D1PreparedStatement, StoreError> {
        self.db()?.prepare(query).bind(args).map_err(backend)
    }

    /// Rows changed by `query`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] with D1's message.
    pub async fn run(&self, query: &str, args: &[JsValue]) -> Result<u64, StoreError> {
        let result = self.statement(query, args)?.run().await.map_err(backend)?;
        let meta = result.meta().map_err(backend)?;
        Ok(meta.and_then(|m| m.changes).unwrap_or(0) as u64)
    }

    /// Rows a statement returns (a delete's `RETURNING id`: the rows it removed).
    ///
    /// # Errors
    /// [`StoreError::Backend`] with D1's message.
    pub async fn count(&self, query: &str, args: &[JsValue]) -> Result<u64, StoreError> {
        let rows = self
            .statement(query, args)?
            .raw_js_value()
            .await
            .map_err(backend)?;
        Ok(rows.len() as u64)
    }

    /// [`sql::INSERT`]'s parameters for `r`, recorded as seen from the request.
    fn insert_args(&self, r: &Record) -> [JsValue; 10] {
        [
            r.id.to_string().into(),
            opt_str(r.user_id.as_deref()),
            data_json(&r.data).into(),
            int(r.created_at.unix()),
            int(r.expires_at.unix()),
            r.absolute_expires_at
                .map_or(JsValue::NULL, |t| int(t.unix())),
            int(r.updated_at.unix()),
            opt_str(self.device().as_deref()),
            r.auth_time.map_or(JsValue::NULL, |t| int(t.unix())),
            opt_str(r.lifetime.to_column().as_deref()),
        ]
    }

    /// [`sql::UPDATE`]'s parameters for `u`, recorded as seen from the request.
    fn update_args(&self, u: &Update) -> [JsValue; 14] {
        let p = UpdateParams::from(u);
        [
            p.id.into(),
            p.new_id.into(),
            int(p.set_user),
            opt_str(p.user_id.as_deref()),
            int(p.clear),
            p.reset.into(),
            p.values.into(),
            int(p.expires_at),
            int(p.now),
            opt_str(self.device().as_deref()),
            int(p.reauthenticated),
            int(p.set_lifetime),
            opt_str(p.lifetime.as_deref()),
            p.absolute_expires_at.map_or(JsValue::NULL, int),
        ]
    }

    /// Runs `write` (a login's insert or update) and [`sql::EVICT`] for `user` in one
    /// batch, a single transaction: the rows the write changed, and the ids evicted
    /// (none when the write changed nothing: the statement checks the login landed).
    async fn evicting(
        &self,
        write: D1PreparedStatement,
        user: &str,
        except: &SessionId,
        keep: u32,
        now: Timestamp,
    ) -> Result<(u64, Evicted), StoreError> {
        let args = [
            user.into(),
            except.to_string().into(),
            int(now.unix()),
            int(i64::from(keep)),
        ];
        let evict = self.statement(sql::EVICT, &args)?;
        let answers = self
            .db()?
            .batch(vec![write, evict])
            .await
            .map_err(backend)?;
        let [written, evicted] = answers.as_slice() else {
            return Err(StoreError::Backend("D1 batch answered out of shape".into()));
        };
        let changes = written.meta().map_err(backend)?.and_then(|m| m.changes);
        // The batch committed: an answer that does not decode is the eviction's failure,
        // not the login's (which landed).
        let ids = evicted
            .results::<Ended>()
            .map(|rows| rows.iter().filter_map(|r| r.id.parse().ok()).collect())
            .map_err(backend);
        Ok((changes.unwrap_or(0) as u64, ids))
    }

    /// Checks that D1 answers and the `sessions` table exists.
    ///
    /// # Errors
    /// [`StoreError::Backend`] with D1's message.
    pub async fn ping(&self) -> Result<(), StoreError> {
        self.statement(sql::PING, &[])?
            .raw_js_value()
            .await
            .map(drop)
            .map_err(backend)
    }
}

/// A workers-rs error as a store error, with D1's own message when it has one.
pub fn backend(e: worker::Error) -> StoreError {
    let message = match &e {
        // D1 puts its reason in `cause` when it has one, else in the message.
        worker::Error::D1(d1) => {
            let err: &worker::js_sys::Error = d1.as_ref();
            match d1.cause() {
                c if c == "unknown error" => String::from(err.message()),
                c => c,
            }
        }
        other => other.to_string(),
    };
    StoreError::Backend(message)
}

/// An integer as D1 binds it.
pub fn int(n: i64) -> JsValue {
    // Unix seconds and counters are far inside f64's exact-integer range.
    JsValue::from_f64(n as f64)
}

fn opt_str(s: Option<&str>) -> JsValue {
    s.map_or(JsValue::NULL, JsValue::from_str)
}

impl Store for D1Store {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        // `raw()`: rows as arrays of values; the one column is the row's JSON text.
        let rows = self
            .statement(sql::LOAD, &[id.to_string().into()])?
            .raw_js_value()
            .await
            .map_err(backend)?;
        let row = rows.first().map(|r| {
            js_sys::Reflect::get_u32(r, 0)
                .ok()
                .and_then(|v| v.as_string())
        });
        let row = match row {
            None => None,
            Some(Some(json)) => Some(json),
            Some(None) => return Err(StoreError::Corrupt(format!("row of {id} is not text"))),
        };
        // D1 answered: a row that does not decode is a corrupt session (a fresh one
        // starts), not an outage.
        row.map(|json| Row::from_json(&json).and_then(Record::try_from))
            .transpose()
    }

    async fn insert(&self, r: &Record) -> Result<(), StoreError> {
        match self.run(sql::INSERT, &self.insert_args(r)).await? {
            0 => Err(StoreError::Revoked(r.id)),
            _ => Ok(()),
        }
    }

    async fn update(&self, u: &Update) -> Result<bool, StoreError> {
        self.run(sql::UPDATE, &self.update_args(u))
            .await
            .map(|n| n > 0)
    }

    async fn insert_evicting(
        &self,
        r: &Record,
        keep: u32,
        now: Timestamp,
    ) -> Result<Evicted, StoreError> {
        let Some(user) = r.user_id.as_deref() else {
            return self.insert(r).await.map(|()| Ok(Vec::new()));
        };
        let write = self.statement(sql::INSERT, &self.insert_args(r))?;
        match self.evicting(write, user, &r.id, keep, now).await? {
            (0, _) => Err(StoreError::Revoked(r.id)),
            (_, evicted) => Ok(evicted),
        }
    }

    async fn update_evicting(&self, u: &Update, keep: u32) -> Result<Option<Evicted>, StoreError> {
        let UserChange::Set(user) = &u.user else {
            return self
                .update(u)
                .await
                .map(|found| found.then(|| Ok(Vec::new())));
        };
        let write = self.statement(sql::UPDATE, &self.update_args(u))?;
        let id = u.new_id.unwrap_or(u.id);
        match self.evicting(write, user, &id, keep, u.now).await? {
            (0, _) => Ok(None),
            (_, evicted) => Ok(Some(evicted)),
        }
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        // The delete trigger remembers a row it removes (one statement, the usual case);
        // without a row (a session that never reached D1), it is said here.
        let id = JsValue::from(id.to_string());
        let deleted = self.count(sql::DELETE, std::slice::from_ref(&id)).await? > 0;
        if !deleted {
            self.run(sql::END_SESSION, &[id]).await?;
        }
        Ok(deleted)
    }

    async fn delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        self.count(sql::DELETE_USER, &[user_id.into()]).await
    }

    async fn list_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Listed>, StoreError> {
        self.listed(sql::LIST_USER, &[user_id.into(), int(now.unix())])
            .await
    }

    async fn evict(
        &self,
        user_id: &str,
        except: &SessionId,
        keep: u32,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        let args = [
            user_id.into(),
            except.to_string().into(),
            int(now.unix()),
            int(i64::from(keep)),
        ];
        let answer = self
            .statement(sql::EVICT, &args)?
            .all()
            .await
            .map_err(backend)?;
        let rows: Vec<Ended> = answer.results().map_err(backend)?;
        Ok(rows.iter().filter_map(|r| r.id.parse().ok()).collect())
    }

    async fn not_before(&self, user_id: &str) -> Result<Option<Timestamp>, StoreError> {
        let row: Option<NotBefore> = self
            .statement(sql::NOT_BEFORE, &[user_id.into()])?
            .first(None)
            .await
            .map_err(backend)?;
        Ok(row.map(|r| Timestamp::from_unix(r.not_before)))
    }

    async fn revoke_before(&self, user_id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.run(sql::REVOKE_BEFORE, &[user_id.into(), int(at.unix())])
            .await
            .map(drop)
    }
}

impl D1Store {
    /// The sessions a listing statement returns.
    async fn listed(&self, query: &str, args: &[JsValue]) -> Result<Vec<Listed>, StoreError> {
        let answer = self.statement(query, args)?.all().await.map_err(backend)?;
        let rows: Vec<Row> = answer
            .results()
            .map_err(|e| StoreError::Corrupt(format!("a listed session does not decode: {e}")))?;
        // A row that does not decode is a dead session (loading it starts a fresh one):
        // it is left out rather than failing the whole list.
        Ok(rows
            .into_iter()
            .filter_map(|r| Listed::try_from(r).ok())
            .collect())
    }
}

impl Directory for D1Store {
    async fn page(&self, q: &SessionQuery, now: Timestamp) -> Result<Vec<Listed>, StoreError> {
        let args = [
            opt_str(q.user_id.as_deref()),
            int(now.unix()),
            before(q.before),
            int(i64::from(q.limit)),
        ];
        self.listed(sql::list_page(q.user_id.is_some()), &args)
            .await
    }

    async fn show(&self, id: &SessionId, now: Timestamp) -> Result<Option<Listed>, StoreError> {
        let args = [id.to_string().into(), int(now.unix())];
        Ok(self.listed(sql::SHOW, &args).await?.into_iter().next())
    }

    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        let row: Option<Live> = self
            .statement(sql::COUNT_LIVE, &[int(now.unix())])?
            .first(None)
            .await
            .map_err(backend)?;
        Ok(row.map_or(0, |r| r.n))
    }

    async fn count_signals(&self, since: Timestamp) -> Result<Counts, StoreError> {
        let row: Option<Counts> = self
            .statement(sql::COUNT_SIGNALS, &[int(since.unix())])?
            .first(None)
            .await
            .map_err(backend)?;
        Ok(row.unwrap_or_default())
    }

    async fn signals(&self, q: &SignalQuery) -> Result<Vec<(i64, AuditRow)>, StoreError> {
        let args = [
            opt_str(q.session_id.map(|s| s.to_string()).as_deref()),
            opt_str(q.user_id.as_deref()),
            opt_str(q.name.as_deref()),
            before(q.before),
            int(i64::from(q.limit)),
        ];
        let answer = self
            .statement(
                sql::list_signals(
                    q.session_id.is_some(),
                    q.user_id.is_some(),
                    q.name.is_some(),
                ),
                &args,
            )?
            .all()
            .await
            .map_err(backend)?;
        let rows: Vec<Audit> = answer
            .results()
            .map_err(|e| StoreError::Corrupt(format!("an audit row does not decode: {e}")))?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let row = AuditRow {
                    id: r.id,
                    name: r.name,
                    session_id: r.session_id,
                    user_id: r.user_id,
                    payload: r.payload,
                    at: Timestamp::from_unix(r.at),
                };
                (r.seq, row)
            })
            .collect())
    }

    async fn end_user(&self, user_id: &str) -> Result<Vec<SessionId>, StoreError> {
        let answer = self
            .statement(sql::DELETE_USER, &[user_id.into()])?
            .all()
            .await
            .map_err(backend)?;
        let rows: Vec<Ended> = answer.results().map_err(backend)?;
        Ok(rows.iter().filter_map(|r| r.id.parse().ok()).collect())
    }

    async fn purge_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let args = [int(now.unix()), int(i64::from(limit))];
        self.count(sql::PURGE_EXPIRED, &args).await
    }
}

/// The cursor parameter.
fn before(seq: Option<i64>) -> JsValue {
    seq.map_or(JsValue::NULL, int)
}

/// Where `req` comes from: its User-Agent, client address and `cf` location (the core
/// bounds them and keeps only the address's network).
fn device(req: &Request) -> Device {
    let cf = js_sys::Reflect::get(req, &"cf".into()).unwrap_or_default();
    let field = |name: &str| js_sys::Reflect::get(&cf, &name.into()).ok();
    let text = |name: &str| field(name).and_then(|v| v.as_string());
    let header = |name: &str| req.headers().get(name).ok().flatten();
    let (user_agent, client_ip) = (header("user-agent"), header("cf-connecting-ip"));
    let (country, city, colo) = (text("country"), text("city"), text("colo"));
    Device::from_request(&Seen {
        user_agent: user_agent.as_deref(),
        client_ip: client_ip.as_deref(),
        country: country.as_deref(),
        city: city.as_deref(),
        colo: colo.as_deref(),
        asn: field("asn").and_then(|v| v.as_f64()),
    })
}

/// A row a delete returns.
#[derive(serde::Deserialize)]
struct Ended {
    id: String,
}

/// A row of [`sql::COUNT_LIVE`].
#[derive(serde::Deserialize)]
struct Live {
    n: u64,
}

/// A row of [`sql::LIST_SIGNALS`].
#[derive(serde::Deserialize)]
struct Audit {
    id: String,
    name: String,
    session_id: Option<String>,
    user_id: Option<String>,
    payload: String,
    at: i64,
    seq: i64,
}

/// A row of [`sql::NOT_BEFORE`].
#[derive(serde::Deserialize)]
struct NotBefore {
    not_before: i64,
}
