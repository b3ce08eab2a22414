//! A `sessions` row as SQL returns it (the JSON object of [`super::sql::LOAD`], the
//! columns of the listing statements), and its conversion to and from a [`Record`].

use super::{Listed, StoreError};
use crate::device::Device;
use crate::lifetime::Lifetime;
use crate::session::{Data, Record, SessionId};
use crate::time::Timestamp;
use serde::Deserialize;

/// One row of `sessions`, untyped as the database holds it.
#[derive(Debug, Clone, Deserialize)]
pub struct Row {
    /// `id`
    pub id: String,
    /// `user_id`
    pub user_id: Option<String>,
    /// `data`: JSON text.
    pub data: String,
    /// `created_at`
    pub created_at: i64,
    /// `expires_at`
    pub expires_at: i64,
    /// `absolute_expires_at`
    pub absolute_expires_at: Option<i64>,
    /// `updated_at`
    pub updated_at: i64,
    /// `version`
    pub version: i64,
    /// `authenticated_at`: when the user last logged in or reauthenticated.
    #[serde(default)]
    pub authenticated_at: Option<i64>,
    /// `lifetime`: NULL for the default one.
    #[serde(default)]
    pub lifetime: Option<String>,
    /// `context` (listed rows only): JSON text.
    #[serde(default)]
    pub context: Option<String>,
    /// `rowid` (listed rows only).
    #[serde(default)]
    pub seq: i64,
}

impl Row {
    /// The row [`super::sql::LOAD`] returns as JSON text.
    ///
    /// # Errors
    /// [`StoreError::Corrupt`] when the text is not such a row.
    pub fn from_json(json: &str) -> Result<Self, StoreError> {
        serde_json::from_slice(json.as_bytes())
            .map_err(|e| StoreError::Corrupt(format!("session row does not decode: {e}")))
    }
}

impl TryFrom<Row> for Record {
    type Error = StoreError;

    fn try_from(row: Row) -> Result<Self, StoreError> {
        let id: SessionId = row
            .id
            .parse()
            .map_err(|_| StoreError::Corrupt("id is not a canonical UUID".into()))?;
        let data: Data = serde_json::from_slice(row.data.as_bytes())
            .map_err(|e| StoreError::Corrupt(format!("data of {id} is not a JSON object: {e}")))?;
        Ok(Self {
            id,
            user_id: row.user_id,
            data,
            created_at: Timestamp::from_unix(row.created_at),
            expires_at: Timestamp::from_unix(row.expires_at),
            absolute_expires_at: row.absolute_expires_at.map(Timestamp::from_unix),
            updated_at: Timestamp::from_unix(row.updated_at),
            version: row.version,
            auth_time: row.authenticated_at.map(Timestamp::from_unix),
            lifetime: Lifetime::from_column(row.lifetime.as_deref()),
        })
    }
}

impl TryFrom<Row> for Listed {
    type Error = StoreError;

    fn try_from(mut row: Row) -> Result<Self, StoreError> {
        let device = Device::from_column(row.context.take().as_deref());
        let seq = row.seq;
        Ok(Self {
            record: Record::try_from(row)?,
            device,
            seq,
        })
    }
}

/// The data as the JSON text stored in `data`.
#[must_use]
pub fn data_json(data: &Data) -> String {
    serde_json::to_string(data).unwrap_or_else(|_| "{}".to_owned())
}
