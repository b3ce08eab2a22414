//! The D1 SQL run natively against SQLite (rusqlite): the conformance suite checks the
//! statements of [`super::sql`] without a worker runtime.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::row::{data_json, Row};
use super::{sql, Counts, Directory, Listed, SessionQuery, SignalQuery, Store, StoreError, Update};
use crate::device::Device;
use crate::session::{Record, SessionId};
use crate::signal::AuditRow;
use crate::time::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};
use std::cell::RefCell;

pub(crate) struct SqliteStore(Connection, RefCell<Option<String>>);

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// Every migration, in order.
pub(crate) const MIGRATIONS: [&str; 5] = [
    include_str!("../../migrations/0001_sessions.sql"),
    include_str!("../../migrations/0002_session_signals.sql"),
    include_str!("../../migrations/0003_session_revocations.sql"),
    include_str!("../../migrations/0004_session_context.sql"),
    include_str!("../../migrations/0005_session_lifetime.sql"),
];

impl SqliteStore {
    pub(crate) fn new() -> Self {
        let conn = Connection::open_in_memory().unwrap();
        for migration in MIGRATIONS {
            conn.execute_batch(migration).unwrap();
        }
        Self(conn, RefCell::new(None))
    }

    /// Writes from now on come from `device` (as a request's D1Store is made).
    pub(crate) fn seen_from(&self, device: &Device) {
        *self.1.borrow_mut() = device.to_column();
    }

    /// Runs `query` with `params` (tests add audit rows this way).
    pub(crate) fn exec(&self, query: &str, params: impl rusqlite::Params) {
        self.0.execute(query, params).unwrap();
    }
}

/// A row in the listing statements' column order.
fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        id: r.get(0)?,
        user_id: r.get(1)?,
        data: r.get(2)?,
        created_at: r.get(3)?,
        expires_at: r.get(4)?,
        absolute_expires_at: r.get(5)?,
        updated_at: r.get(6)?,
        version: r.get(7)?,
        authenticated_at: r.get(8)?,
        lifetime: r.get(9)?,
        context: None,
        seq: 0,
    })
}

/// The rows that decode: one that does not is a dead session (loading it starts a fresh
/// one), left out rather than failing the whole list (as D1Store does).
#[allow(clippy::unnecessary_wraps)] // the shape of the calls it ends
fn decodable(rows: Vec<Row>) -> Result<Vec<Listed>, StoreError> {
    Ok(rows
        .into_iter()
        .filter_map(|r| Listed::try_from(r).ok())
        .collect())
}

/// A row of the listing statements: [`row`]'s columns, then context and seq.
fn listed(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        context: r.get(10)?,
        seq: r.get(11)?,
        ..row(r)?
    })
}

impl SqliteStore {
    /// Rows `query` returns for `arg` (a delete's `RETURNING id`), as D1Store counts.
    fn count(&self, query: &str, arg: &str) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare(query).map_err(backend)?;
        let rows = stmt.query_map([arg], |_| Ok(())).map_err(backend)?;
        Ok(rows.count() as u64)
    }
}

impl Store for SqliteStore {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        let json: Option<String> = self
            .0
            .query_row(sql::LOAD, [id.to_string()], |r| r.get(0))
            .optional()
            .map_err(backend)?;
        json.map(|j| Row::from_json(&j).and_then(Record::try_from))
            .transpose()
    }

    async fn insert(&self, r: &Record) -> Result<(), StoreError> {
        self.0
            .execute(
                sql::INSERT,
                params![
                    r.id.to_string(),
                    r.user_id,
                    data_json(&r.data),
                    r.created_at.unix(),
                    r.expires_at.unix(),
                    r.absolute_expires_at.map(|t| t.unix()),
                    r.updated_at.unix(),
                    *self.1.borrow(),
                    r.auth_time.map(|t| t.unix()),
                    r.lifetime.to_column(),
                ],
            )
            .map_err(backend)
            .and_then(|n| {
                if n == 0 {
                    Err(StoreError::Revoked(r.id))
                } else {
                    Ok(())
                }
            })
    }

    async fn update(&self, u: &Update) -> Result<bool, StoreError> {
        let p = sql::UpdateParams::from(u);
        self.0
            .execute(
                sql::UPDATE,
                params![
                    p.id,
                    p.new_id,
                    p.set_user,
                    p.user_id,
                    p.clear,
                    p.reset,
                    p.values,
                    p.expires_at,
                    p.now,
                    *self.1.borrow(),
                    p.reauthenticated,
                    p.set_lifetime,
                    p.lifetime,
                    p.absolute_expires_at,
                ],
            )
            .map(|n| n > 0)
            .map_err(backend)
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        // The delete trigger remembers a row it removes; without a row, say it here.
        let deleted = self.count(sql::DELETE, &id.to_string())? > 0;
        if !deleted {
            self.0
                .execute(sql::END_SESSION, [id.to_string()])
                .map_err(backend)?;
        }
        Ok(deleted)
    }

    async fn delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        self.count(sql::DELETE_USER, user_id)
    }

    async fn list_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Listed>, StoreError> {
        let mut stmt = self.0.prepare(sql::LIST_USER).map_err(backend)?;
        let rows = stmt
            .query_map(params![user_id, now.unix()], listed)
            .map_err(backend)?;
        decodable(rows.collect::<Result<_, _>>().map_err(backend)?)
    }

    async fn evict(
        &self,
        user_id: &str,
        except: &SessionId,
        keep: u32,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        let mut stmt = self.0.prepare(sql::EVICT).map_err(backend)?;
        let args = params![user_id, except.to_string(), now.unix(), keep];
        let rows = stmt
            .query_map(args, |r| r.get::<_, String>(0))
            .map_err(backend)?;
        let ids: Vec<String> = rows.collect::<Result<_, _>>().map_err(backend)?;
        Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
    }

    async fn not_before(&self, user_id: &str) -> Result<Option<Timestamp>, StoreError> {
        self.0
            .query_row(sql::NOT_BEFORE, [user_id], |r| r.get::<_, i64>(0))
            .optional()
            .map(|t| t.map(Timestamp::from_unix))
            .map_err(backend)
    }

    async fn revoke_before(&self, user_id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.0
            .execute(sql::REVOKE_BEFORE, params![user_id, at.unix()])
            .map(drop)
            .map_err(backend)
    }
}

impl Directory for SqliteStore {
    async fn page(&self, q: &SessionQuery, now: Timestamp) -> Result<Vec<Listed>, StoreError> {
        let statement = sql::list_page(q.user_id.is_some());
        let mut stmt = self.0.prepare(statement).map_err(backend)?;
        let rows = stmt
            .query_map(params![q.user_id, now.unix(), q.before, q.limit], listed)
            .map_err(backend)?;
        decodable(rows.collect::<Result<_, _>>().map_err(backend)?)
    }

    async fn show(&self, id: &SessionId, now: Timestamp) -> Result<Option<Listed>, StoreError> {
        let row = self
            .0
            .query_row(sql::SHOW, params![id.to_string(), now.unix()], listed)
            .optional()
            .map_err(backend)?;
        Ok(row.and_then(|r| Listed::try_from(r).ok()))
    }

    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.0
            .query_row(sql::COUNT_LIVE, [now.unix()], |r| r.get(0))
            .map_err(backend)
    }

    async fn count_signals(&self, since: Timestamp) -> Result<Counts, StoreError> {
        self.0
            .query_row(sql::COUNT_SIGNALS, [since.unix()], |r| {
                Ok(Counts {
                    created: r.get(0)?,
                    ended: r.get(1)?,
                })
            })
            .map_err(backend)
    }

    async fn signals(&self, q: &SignalQuery) -> Result<Vec<(i64, AuditRow)>, StoreError> {
        let session = q.session_id.map(|s| s.to_string());
        let statement = sql::list_signals(
            q.session_id.is_some(),
            q.user_id.is_some(),
            q.name.is_some(),
        );
        let mut stmt = self.0.prepare(statement).map_err(backend)?;
        let rows = stmt
            .query_map(
                params![session, q.user_id, q.name, q.before, q.limit],
                |r| {
                    let row = AuditRow {
                        id: r.get(0)?,
                        name: r.get(1)?,
                        session_id: r.get(2)?,
                        user_id: r.get(3)?,
                        payload: r.get(4)?,
                        at: Timestamp::from_unix(r.get(5)?),
                    };
                    Ok((r.get(6)?, row))
                },
            )
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend)).collect()
    }

    async fn end_user(&self, user_id: &str) -> Result<Vec<SessionId>, StoreError> {
        let mut stmt = self.0.prepare(sql::DELETE_USER).map_err(backend)?;
        let rows = stmt
            .query_map([user_id], |r| r.get::<_, String>(0))
            .map_err(backend)?;
        let ids: Vec<String> = rows.collect::<Result<_, _>>().map_err(backend)?;
        Ok(ids.iter().filter_map(|id| id.parse().ok()).collect())
    }

    async fn purge_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        let mut stmt = self.0.prepare(sql::PURGE_EXPIRED).map_err(backend)?;
        let rows = stmt
            .query_map(params![now.unix(), limit], |_| Ok(()))
            .map_err(backend)?;
        Ok(rows.count() as u64)
    }
}

mod tests {
    use super::SqliteStore;
    use crate::store::conformance::{conformance_tests, Caps};

    conformance_tests!(SqliteStore::new, Caps::DATABASE);
}
