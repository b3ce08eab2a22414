//! The D1 SQL run natively against SQLite (rusqlite): the conformance suite checks the
//! statements of [`super::sql`] without a worker runtime.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

use super::row::{data_json, Row};
use super::{sql, Store, StoreError, Update};
use crate::session::{Record, SessionId};
use crate::time::Timestamp;
use rusqlite::{params, Connection, OptionalExtension};

pub(crate) struct SqliteStore(Connection);

fn backend(e: rusqlite::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

impl SqliteStore {
    pub(crate) fn new() -> Self {
        let conn = Connection::open_in_memory().unwrap();
        for migration in [
            include_str!("../../migrations/0001_sessions.sql"),
            include_str!("../../migrations/0003_session_revocations.sql"),
        ] {
            conn.execute_batch(migration).unwrap();
        }
        Self(conn)
    }
}

/// A row in [`sql::LOAD`]'s column order.
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
        let row = self
            .0
            .query_row(sql::LOAD, [id.to_string()], row)
            .optional()
            .map_err(backend)?;
        row.map(Record::try_from).transpose()
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
                    p.now
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

    async fn list_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Record>, StoreError> {
        let mut stmt = self.0.prepare(sql::LIST_USER).map_err(backend)?;
        let rows = stmt
            .query_map(params![user_id, now.unix()], row)
            .map_err(backend)?;
        rows.map(|row| row.map_err(backend).and_then(Record::try_from))
            .collect()
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

mod tests {
    use super::SqliteStore;
    use crate::store::conformance::{conformance_tests, Caps};

    conformance_tests!(SqliteStore::new, Caps::DATABASE);
}
