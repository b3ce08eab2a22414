//! The D1 store: [`Store`] over the `SESSIONS_DB` binding, running the statements of
//! [`crate::store::sql`].

use super::SESSIONS_DB;
use crate::session::{Record, SessionId};
use crate::store::row::{data_json, Row};
use crate::store::sql::{self, UpdateParams};
use crate::store::{Store, StoreError, Update};
use crate::time::Timestamp;
use worker::wasm_bindgen::JsValue;
use worker::{D1Database, D1PreparedStatement, Env};

/// Sessions in D1. A missing binding is a store whose every operation fails, so the
/// request path degrades the same way as when D1 is down.
pub struct D1Store {
    db: Option<D1Database>,
}

impl D1Store {
    /// The store over the `SESSIONS_DB` binding of `env`.
    pub fn from_env(env: &Env) -> Self {
        Self {
            db: env.d1(SESSIONS_DB).ok(),
        }
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
        let answer = self
            .statement(sql::LOAD, &[id.to_string().into()])?
            .all()
            .await
            .map_err(backend)?;
        // D1 answered: a row that does not decode is a corrupt session (a fresh one
        // starts), not an outage.
        let rows: Vec<Row> = answer
            .results()
            .map_err(|e| StoreError::Corrupt(format!("row of {id} does not decode: {e}")))?;
        rows.into_iter().next().map(Record::try_from).transpose()
    }

    async fn insert(&self, r: &Record) -> Result<(), StoreError> {
        let args = [
            r.id.to_string().into(),
            opt_str(r.user_id.as_deref()),
            data_json(&r.data).into(),
            int(r.created_at.unix()),
            int(r.expires_at.unix()),
            r.absolute_expires_at
                .map_or(JsValue::NULL, |t| int(t.unix())),
            int(r.updated_at.unix()),
        ];
        match self.run(sql::INSERT, &args).await? {
            0 => Err(StoreError::Revoked(r.id)),
            _ => Ok(()),
        }
    }

    async fn update(&self, u: &Update) -> Result<bool, StoreError> {
        let p = UpdateParams::from(u);
        let args = [
            p.id.into(),
            p.new_id.into(),
            int(p.set_user),
            opt_str(p.user_id.as_deref()),
            int(p.clear),
            p.reset.into(),
            p.values.into(),
            int(p.expires_at),
            int(p.now),
        ];
        self.run(sql::UPDATE, &args).await.map(|n| n > 0)
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

    async fn list_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Record>, StoreError> {
        let answer = self
            .statement(sql::LIST_USER, &[user_id.into(), int(now.unix())])?
            .all()
            .await
            .map_err(backend)?;
        let rows: Vec<Row> = answer.results().map_err(|e| {
            StoreError::Corrupt(format!("a session of {user_id} does not decode: {e}"))
        })?;
        rows.into_iter().map(Record::try_from).collect()
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

/// A row of [`sql::NOT_BEFORE`].
#[derive(serde::Deserialize)]
struct NotBefore {
    not_before: i64,
}
