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
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
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
        let statement = self.statement(query, args)?;
        let result = settle(statement.inner().run(), true).await?;
        let meta = get(&result, "meta");
        Ok(whole(&get(&meta, "changes")).map_or(0, |n| n.max(0) as u64))
    }

    /// The rows `query` returns, each decoded by `decode`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] with D1's message; a row that does not decode apart (the
    /// inner `Err`, naming the field), for the caller to word.
    async fn all<T>(
        &self,
        query: &str,
        args: &[JsValue],
        decode: impl Fn(&JsValue) -> Result<T, BadField>,
    ) -> Result<Result<Vec<T>, BadField>, StoreError> {
        let statement = self.statement(query, args)?;
        let answer = settle(statement.inner().all(), false).await?;
        let rows = get(&answer, "results");
        if rows.is_null_or_undefined() {
            return Ok(Ok(Vec::new()));
        }
        let rows: js_sys::Array = rows.unchecked_into();
        Ok(rows.iter().map(|row| decode(&row)).collect())
    }

    /// The first row `query` returns, if any, decoded by `decode`.
    ///
    /// # Errors
    /// [`StoreError::Backend`] with D1's message, or naming the field that does not
    /// decode.
    async fn first<T>(
        &self,
        query: &str,
        args: &[JsValue],
        decode: impl Fn(&JsValue) -> Result<T, BadField>,
    ) -> Result<Option<T>, StoreError> {
        let statement = self.statement(query, args)?;
        let row = settle(statement.inner().first(None), true).await?;
        if row.is_null_or_undefined() {
            return Ok(None);
        }
        decode(&row)
            .map(Some)
            .map_err(|e| StoreError::Backend(e.to_string()))
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
        let db: &JsValue = self.db()?.as_ref();
        let statements = js_sys::Array::of2(write.inner(), evict.inner());
        let batch = get(db, "batch")
            .dyn_into::<js_sys::Function>()
            .and_then(|f| f.call1(db, &statements))
            .map(js_sys::Promise::unchecked_from_js);
        let answers = settle(batch, true).await?;
        let changes = whole(&get(
            &get(
                &js_sys::Reflect::get_u32(&answers, 0).unwrap_or_default(),
                "meta",
            ),
            "changes",
        ));
        // The batch committed: an answer that does not decode is the eviction's failure,
        // not the login's (which landed).
        let rows = get(
            &js_sys::Reflect::get_u32(&answers, 1).unwrap_or_default(),
            "results",
        );
        let ids = match rows.dyn_into::<js_sys::Array>() {
            Ok(rows) => rows
                .iter()
                .map(|row| ended_id(&row))
                .collect::<Result<Vec<String>, BadField>>()
                .map(|ids| ids.iter().filter_map(|id| id.parse().ok()).collect())
                .map_err(|e| StoreError::Backend(format!("evicted rows do not decode: {e:?}"))),
            Err(_) => Err(StoreError::Backend("D1 batch answered out of shape".into())),
        };
        Ok((changes.unwrap_or(0).max(0) as u64, ids))
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

/// Awaits a D1 call; its failure worded as [`backend`] words the workers-rs error the
/// same call made through workers-rs returns. `d1_named`: a JS `Error` whose message
/// starts with "D1" is D1's own (workers-rs reads it so for `first`, `run` and `raw`,
/// not for `all`).
///
/// # Errors
/// [`StoreError::Backend`] when the call throws or its promise rejects.
async fn settle(
    call: std::result::Result<js_sys::Promise, JsValue>,
    d1_named: bool,
) -> Result<JsValue, StoreError> {
    let promise = call.map_err(|e| backend(e.into()))?;
    JsFuture::from(promise)
        .await
        .map_err(|e| match e.dyn_into::<js_sys::Error>() {
            Ok(err) if d1_named && String::from(err.message()).starts_with("D1") => {
                // As `backend` words `worker::Error::D1`: the cause's message when the cause
                // is an Error (unless it reads "unknown error"), else the error's own.
                let message = match err.cause().dyn_into::<js_sys::Error>() {
                    Ok(cause) if cause.message() != "unknown error" => cause.message(),
                    _ => err.message(),
                };
                StoreError::Backend(message.into())
            }
            Ok(err) => backend(JsValue::from(err).into()),
            Err(other) => backend(other.into()),
        })
}

/// A column of a D1 row that is missing or of the wrong type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BadField(&'static str);

impl std::fmt::Display for BadField {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "column `{}` is missing or of the wrong type", self.0)
    }
}

/// Property `name` of `object` (`undefined` when it has none).
fn get(object: &JsValue, name: &str) -> JsValue {
    js_sys::Reflect::get(object, &JsValue::from_str(name)).unwrap_or_default()
}

/// A number that is a whole, safely representable integer (what D1 returns for an
/// INTEGER column), as serde-wasm-bindgen accepted it for `i64`.
fn whole(v: &JsValue) -> Option<i64> {
    const SAFE: f64 = 9_007_199_254_740_991.0;
    v.as_f64()
        .filter(|n| n.fract() == 0.0 && n.abs() <= SAFE)
        .map(|n| n as i64)
}

/// Reads the columns of one D1 row (a JS object) by name, with the rules
/// serde-wasm-bindgen applied to the row structs before (D1 rows are decoded by hand:
/// serde-wasm-bindgen's deserializer cost the wasm about 10 KB).
struct Columns(JsValue);

impl Columns {
    fn text(&self, name: &'static str) -> Result<String, BadField> {
        get(&self.0, name).as_string().ok_or(BadField(name))
    }

    fn opt_text(&self, name: &'static str) -> Result<Option<String>, BadField> {
        let v = get(&self.0, name);
        match v.as_string() {
            Some(s) => Ok(Some(s)),
            None if v.is_null_or_undefined() => Ok(None),
            None => Err(BadField(name)),
        }
    }

    fn int(&self, name: &'static str) -> Result<i64, BadField> {
        whole(&get(&self.0, name)).ok_or(BadField(name))
    }

    fn opt_int(&self, name: &'static str) -> Result<Option<i64>, BadField> {
        let v = get(&self.0, name);
        match whole(&v) {
            Some(n) => Ok(Some(n)),
            None if v.is_null_or_undefined() => Ok(None),
            None => Err(BadField(name)),
        }
    }

    fn count(&self, name: &'static str) -> Result<u64, BadField> {
        let n = self.int(name)?;
        u64::try_from(n).map_err(|_| BadField(name))
    }

    /// An integer column with a default: absent (`undefined`) reads as 0.
    fn int_or_zero(&self, name: &'static str) -> Result<i64, BadField> {
        let v = get(&self.0, name);
        match whole(&v) {
            Some(n) => Ok(n),
            None if v.is_undefined() => Ok(0),
            None => Err(BadField(name)),
        }
    }
}

/// A `sessions` row of the listings (their columns).
fn session_row(v: &JsValue) -> Result<Row, BadField> {
    let c = Columns(v.clone());
    Ok(Row {
        id: c.text("id")?,
        user_id: c.opt_text("user_id")?,
        data: c.text("data")?,
        created_at: c.int("created_at")?,
        expires_at: c.int("expires_at")?,
        absolute_expires_at: c.opt_int("absolute_expires_at")?,
        updated_at: c.int("updated_at")?,
        version: c.int("version")?,
        authenticated_at: c.opt_int("authenticated_at")?,
        lifetime: c.opt_text("lifetime")?,
        context: c.opt_text("context")?,
        seq: c.int_or_zero("seq")?,
    })
}

/// The id a delete returns.
fn ended_id(v: &JsValue) -> Result<String, BadField> {
    Columns(v.clone()).text("id")
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
        let row = self
            .first(sql::LOAD, &[id.to_string().into()], |r| Ok(get(r, "row")))
            .await?;
        let row = match row.map(|r| r.as_string()) {
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
        let ids = self
            .all(sql::EVICT, &args, ended_id)
            .await?
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
    }

    async fn not_before(&self, user_id: &str) -> Result<Option<Timestamp>, StoreError> {
        let not_before = |v: &JsValue| Columns(v.clone()).int("not_before");
        let row = self
            .first(sql::NOT_BEFORE, &[user_id.into()], not_before)
            .await?;
        Ok(row.map(Timestamp::from_unix))
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
        let rows = self
            .all(query, args, session_row)
            .await?
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
        let live = |v: &JsValue| Columns(v.clone()).count("n");
        let row = self
            .first(sql::COUNT_LIVE, &[int(now.unix())], live)
            .await?;
        Ok(row.unwrap_or(0))
    }

    async fn count_signals(&self, since: Timestamp) -> Result<Counts, StoreError> {
        let counts = |v: &JsValue| {
            let c = Columns(v.clone());
            Ok(Counts {
                created: c.count("created")?,
                ended: c.count("ended")?,
            })
        };
        let row = self
            .first(sql::COUNT_SIGNALS, &[int(since.unix())], counts)
            .await?;
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
        let query = sql::list_signals(
            q.session_id.is_some(),
            q.user_id.is_some(),
            q.name.is_some(),
        );
        let audit = |v: &JsValue| {
            let c = Columns(v.clone());
            Ok(Audit {
                id: c.text("id")?,
                name: c.text("name")?,
                session_id: c.opt_text("session_id")?,
                user_id: c.opt_text("user_id")?,
                payload: c.text("payload")?,
                at: c.int("at")?,
                seq: c.int("seq")?,
            })
        };
        let rows = self
            .all(query, &args, audit)
            .await?
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
        let ids = self
            .all(sql::DELETE_USER, &[user_id.into()], ended_id)
            .await?
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
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

/// A row of [`sql::LIST_SIGNALS`].
struct Audit {
    id: String,
    name: String,
    session_id: Option<String>,
    user_id: Option<String>,
    payload: String,
    at: i64,
    seq: i64,
}
