//! Lifecycle signals: the 11 of Lback's `SessionManager` with their exact names and
//! kwargs, plus sessiongate's own, and the JSON envelope they travel in.
//!
//! Encodings: timedelta -> integer seconds; datetime -> RFC 3339 UTC; exception ->
//! `{"type", "message"}`. A signal never carries a cookie value, a MAC or a secret: only
//! ids, keys, counts and error messages.

use crate::session::SessionId;
use crate::time::Timestamp;
use serde_json::{json, Map, Value};
use std::fmt;

/// An error as a signal carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exception {
    /// Error class, e.g. `StoreError`.
    pub kind: String,
    /// Human-readable message.
    pub message: String,
}

impl Exception {
    /// An exception of class `kind` with `message`.
    pub fn new(kind: &str, message: impl fmt::Display) -> Self {
        Self {
            kind: kind.to_owned(),
            message: message.to_string(),
        }
    }

    fn to_json(&self) -> Value {
        json!({ "type": self.kind, "message": self.message })
    }
}

/// One lifecycle event.
#[derive(Debug, Clone, PartialEq)]
pub enum Signal {
    /// The manager is ready (once per isolate). `timeout`: idle timeout.
    ManagerInitialized {
        /// Idle timeout in seconds (a timedelta).
        timeout_secs: i64,
    },
    /// A session row was created.
    Created {
        /// The new session.
        session_id: SessionId,
        /// Its user, if any.
        user_id: Option<String>,
    },
    /// Creating a session failed.
    CreationFailed {
        /// The user the session was for.
        user_id: Option<String>,
        /// Why.
        exception: Exception,
    },
    /// A session's expiry was extended.
    Renewed {
        /// The session.
        session_id: SessionId,
        /// The new idle expiry.
        expires_at: Timestamp,
    },
    /// Extending a session's expiry failed.
    RenewalFailed {
        /// The session.
        session_id: SessionId,
        /// `not_found` or `db_error`.
        reason: &'static str,
    },
    /// A session was deleted.
    Deleted {
        /// The session.
        session_id: SessionId,
    },
    /// Deleting a session failed.
    DeletionFailed {
        /// The session.
        session_id: SessionId,
        /// `not_found` or `db_error`.
        reason: &'static str,
    },
    /// A session was loaded.
    DataRetrieved {
        /// The session.
        session_id: SessionId,
        /// Top-level keys of its data.
        data_keys: Vec<String>,
    },
    /// Loading a session failed.
    DataRetrievalFailed {
        /// The session asked for.
        session_id: SessionId,
        /// `not_found_or_expired`, `corrupt`, `db_error`, or `header_budget_exceeded` (the
        /// data was too large to send to the origin).
        reason: &'static str,
    },
    /// A session's data was written.
    DataSaved {
        /// The session (its id after the save).
        session_id: SessionId,
        /// Top-level keys this save wrote.
        saved_keys: Vec<String>,
    },
    /// Writing a session's data failed, or a command to change it was unusable.
    DataSaveFailed {
        /// The session, when there is one.
        session_id: Option<SessionId>,
        /// `not_found`, `db_error`, `bad_command`, `store_unavailable`.
        reason: &'static str,
        /// The error, when one caused it.
        exception: Option<Exception>,
    },
    /// A session moved to a new id (login, explicit cycle).
    Cycled {
        /// The id before.
        old_session_id: SessionId,
        /// The id after.
        session_id: SessionId,
        /// The user after.
        user_id: Option<String>,
    },
    /// A cookie named a session past its expiry.
    Expired {
        /// The session.
        session_id: SessionId,
        /// When it expired (idle or absolute, whichever came first).
        expired_at: Timestamp,
    },
    /// The purge removed expired sessions.
    SessionsPurged {
        /// Sessions removed.
        count: u64,
        /// Audit rows removed past retention.
        signals_pruned: u64,
    },
    /// The store failed on read; the request went on without it.
    StoreDegraded {
        /// Short cause, e.g. `read_failed`.
        reason: &'static str,
        /// The error.
        exception: Exception,
    },
    /// A session cookie did not verify (value never included).
    CookieRejected {
        /// `malformed` or `bad_signature`.
        reason: &'static str,
    },
}

/// Every signal name, in a stable order.
pub const NAMES: [&str; 16] = [
    "session_manager_initialized",
    "session_created",
    "session_creation_failed",
    "session_renewed",
    "session_renewal_failed",
    "session_deleted",
    "session_deletion_failed",
    "session_data_retrieved",
    "session_data_retrieval_failed",
    "session_data_saved",
    "session_data_save_failed",
    "session_cycled",
    "session_expired",
    "sessions_purged",
    "session_store_degraded",
    "session_cookie_rejected",
];

impl Signal {
    /// The signal's name, one of [`NAMES`].
    #[must_use]
    pub fn name(&self) -> &'static str {
        let i = match self {
            Self::ManagerInitialized { .. } => 0,
            Self::Created { .. } => 1,
            Self::CreationFailed { .. } => 2,
            Self::Renewed { .. } => 3,
            Self::RenewalFailed { .. } => 4,
            Self::Deleted { .. } => 5,
            Self::DeletionFailed { .. } => 6,
            Self::DataRetrieved { .. } => 7,
            Self::DataRetrievalFailed { .. } => 8,
            Self::DataSaved { .. } => 9,
            Self::DataSaveFailed { .. } => 10,
            Self::Cycled { .. } => 11,
            Self::Expired { .. } => 12,
            Self::SessionsPurged { .. } => 13,
            Self::StoreDegraded { .. } => 14,
            Self::CookieRejected { .. } => 15,
        };
        NAMES[i]
    }

    /// The session the signal is about, if one.
    #[must_use]
    pub fn session_id(&self) -> Option<SessionId> {
        match self {
            Self::Created { session_id, .. }
            | Self::Renewed { session_id, .. }
            | Self::RenewalFailed { session_id, .. }
            | Self::Deleted { session_id }
            | Self::DeletionFailed { session_id, .. }
            | Self::DataRetrieved { session_id, .. }
            | Self::DataRetrievalFailed { session_id, .. }
            | Self::DataSaved { session_id, .. }
            | Self::Cycled { session_id, .. }
            | Self::Expired { session_id, .. } => Some(*session_id),
            Self::DataSaveFailed { session_id, .. } => *session_id,
            _ => None,
        }
    }

    /// The user the signal is about, if known.
    #[must_use]
    pub fn user_id(&self) -> Option<&str> {
        match self {
            Self::Created { user_id, .. }
            | Self::CreationFailed { user_id, .. }
            | Self::Cycled { user_id, .. } => user_id.as_deref(),
            _ => None,
        }
    }

    /// The seed's kwargs, encoded as JSON.
    #[must_use]
    pub fn kwargs(&self) -> Value {
        let id = |s: &SessionId| Value::String(s.to_string());
        match self {
            Self::ManagerInitialized { timeout_secs } => json!({ "timeout": timeout_secs }),
            Self::Created {
                session_id,
                user_id,
            } => json!({ "session_id": id(session_id), "user_id": user_id }),
            Self::CreationFailed { user_id, exception } => {
                json!({ "user_id": user_id, "exception": exception.to_json() })
            }
            Self::Renewed {
                session_id,
                expires_at,
            } => {
                json!({ "session_id": id(session_id), "expires_at": expires_at.to_rfc3339() })
            }
            Self::RenewalFailed { session_id, reason }
            | Self::DeletionFailed { session_id, reason }
            | Self::DataRetrievalFailed { session_id, reason } => {
                json!({ "session_id": id(session_id), "reason": reason })
            }
            Self::Deleted { session_id } => json!({ "session_id": id(session_id) }),
            Self::DataRetrieved {
                session_id,
                data_keys,
            } => {
                json!({ "session_id": id(session_id), "data_keys": data_keys })
            }
            Self::DataSaved {
                session_id,
                saved_keys,
            } => {
                json!({ "session_id": id(session_id), "saved_keys": saved_keys })
            }
            Self::DataSaveFailed {
                session_id,
                reason,
                exception,
            } => {
                let mut m = Map::new();
                m.insert(
                    "session_id".into(),
                    session_id.as_ref().map_or(Value::Null, id),
                );
                m.insert("reason".into(), json!(reason));
                if let Some(e) = exception {
                    m.insert("exception".into(), e.to_json());
                }
                Value::Object(m)
            }
            Self::Cycled {
                old_session_id,
                session_id,
                user_id,
            } => json!({
                "old_session_id": id(old_session_id), "session_id": id(session_id), "user_id": user_id,
            }),
            Self::Expired {
                session_id,
                expired_at,
            } => {
                json!({ "session_id": id(session_id), "expired_at": expired_at.to_rfc3339() })
            }
            Self::SessionsPurged {
                count,
                signals_pruned,
            } => {
                json!({ "count": count, "signals_pruned": signals_pruned })
            }
            Self::StoreDegraded { reason, exception } => {
                json!({ "reason": reason, "exception": exception.to_json() })
            }
            Self::CookieRejected { reason } => json!({ "reason": reason }),
        }
    }

    /// The message sent to the queue: `{"signal", "id", "at", "sender", "request_id",
    /// "kwargs"}`.
    #[must_use]
    pub fn envelope(&self, event_id: &str, at: Timestamp, worker: &str, request_id: &str) -> Value {
        json!({
            "signal": self.name(),
            "id": event_id,
            "at": at.to_rfc3339(),
            "sender": { "class": "SessionManager", "worker": worker },
            "request_id": request_id,
            "kwargs": self.kwargs(),
        })
    }
}

/// Which signals are sent (SESSION_SIGNAL_FILTER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalFilter {
    /// Every signal.
    All,
    /// No signal.
    None,
    /// Only these names.
    Only(Vec<&'static str>),
}

impl SignalFilter {
    /// Parses `all`, `none` or a comma list of names.
    ///
    /// # Errors
    /// The first name that is not a signal, quoted.
    pub fn parse(raw: &str) -> Result<Self, String> {
        match raw.trim() {
            "all" => Ok(Self::All),
            "none" => Ok(Self::None),
            list => {
                let mut names = Vec::new();
                for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    match NAMES.iter().find(|n| **n == name) {
                        Some(n) => names.push(*n),
                        None => return Err(format!("`{name}` is not a signal name (expected all, none or names like session_created)")),
                    }
                }
                Ok(Self::Only(names))
            }
        }
    }

    /// Whether `signal` is sent.
    #[must_use]
    pub fn allows(&self, signal: &Signal) -> bool {
        match self {
            Self::All => true,
            Self::None => false,
            Self::Only(names) => names.contains(&signal.name()),
        }
    }
}

/// One row of the `session_signals` audit table, read back from a queued envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// Event id (the primary key: a redelivered message is ignored).
    pub id: String,
    /// Signal name.
    pub name: String,
    /// `kwargs.session_id`, when the signal has one.
    pub session_id: Option<String>,
    /// `kwargs.user_id`, when the signal has one.
    pub user_id: Option<String>,
    /// The whole envelope as JSON text.
    pub payload: String,
    /// `at` in Unix seconds.
    pub at: Timestamp,
}

impl AuditRow {
    /// Checks an envelope off the queue and flattens it for the audit table.
    ///
    /// # Errors
    /// What is wrong with the envelope: a missing or non-string `id`, an unknown
    /// `signal`, an `at` that is not RFC 3339.
    pub fn from_envelope(envelope: &Value) -> Result<Self, String> {
        let text = |key: &str| envelope.get(key).and_then(Value::as_str);
        let id = text("id")
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or("envelope has no usable `id`")?;
        let name = text("signal")
            .filter(|n| NAMES.contains(n))
            .ok_or("envelope `signal` is not a known signal name")?;
        let at = text("at")
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .ok_or("envelope `at` is not RFC 3339")?;
        let kwarg = |key: &str| {
            envelope
                .get("kwargs")
                .and_then(|k| k.get(key))
                .and_then(Value::as_str)
                .map(str::to_owned)
        };
        Ok(Self {
            id: id.to_owned(),
            name: name.to_owned(),
            session_id: kwarg("session_id"),
            user_id: kwarg("user_id"),
            payload: envelope.to_string(),
            at: Timestamp::from_unix(at.timestamp()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid() -> SessionId {
        "9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab".parse().unwrap()
    }

    #[test]
    fn names_are_unique_and_cover_the_seed() {
        let mut sorted = NAMES.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted.len(), 16);
        assert_eq!(
            Signal::CookieRejected {
                reason: "malformed"
            }
            .name(),
            "session_cookie_rejected"
        );
        assert_eq!(
            Signal::ManagerInitialized { timeout_secs: 1 }.name(),
            "session_manager_initialized"
        );
    }

    #[test]
    fn envelope_and_encodings() {
        let at = Timestamp::from_unix(1_795_476_395);
        let s = Signal::Renewed {
            session_id: sid(),
            expires_at: at.plus(60),
        };
        let env = s.envelope("e1", at, "gate", "ray-1");
        assert_eq!(
            env,
            json!({
                "signal": "session_renewed", "id": "e1", "at": "2026-11-23T23:26:35Z",
                "sender": {"class": "SessionManager", "worker": "gate"}, "request_id": "ray-1",
                "kwargs": {"session_id": "9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab", "expires_at": "2026-11-23T23:27:35Z"}
            })
        );
        assert_eq!(
            Signal::ManagerInitialized {
                timeout_secs: 10_800
            }
            .kwargs(),
            json!({"timeout": 10_800})
        );
        let failed = Signal::DataSaveFailed {
            session_id: None,
            reason: "db_error",
            exception: Some(Exception::new("StoreError", "D1 down")),
        };
        assert_eq!(
            failed.kwargs(),
            json!({"session_id": null, "reason": "db_error", "exception": {"type": "StoreError", "message": "D1 down"}})
        );
        let bare = Signal::DataSaveFailed {
            session_id: Some(sid()),
            reason: "not_found",
            exception: None,
        };
        assert!(bare.kwargs().get("exception").is_none());
    }

    #[test]
    fn audit_rows_from_envelopes() {
        let at = Timestamp::from_unix(1_795_476_395);
        let s = Signal::Created {
            session_id: sid(),
            user_id: Some("ann".into()),
        };
        let env = s.envelope("e-1", at, "gate", "r");
        let row = AuditRow::from_envelope(&env).unwrap();
        assert_eq!(
            (row.id.as_str(), row.name.as_str(), row.at),
            ("e-1", "session_created", at)
        );
        assert_eq!(
            row.session_id.as_deref(),
            Some("9f1c2d3e-4a5b-4c6d-8e7f-0123456789ab")
        );
        assert_eq!(row.user_id.as_deref(), Some("ann"));
        assert_eq!(serde_json::from_str::<Value>(&row.payload).unwrap(), env);
        let purged = Signal::SessionsPurged {
            count: 3,
            signals_pruned: 0,
        }
        .envelope("e-2", at, "g", "r");
        assert_eq!(AuditRow::from_envelope(&purged).unwrap().session_id, None);
        for bad in [
            json!({}),
            json!({"id": "x", "signal": "session_hacked", "at": "2026-11-23T23:26:35Z"}),
            json!({"id": "x", "signal": "session_created", "at": "yesterday"}),
            json!({"id": 7, "signal": "session_created", "at": "2026-11-23T23:26:35Z"}),
            json!("just a string"),
        ] {
            assert!(AuditRow::from_envelope(&bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filter() {
        assert_eq!(SignalFilter::parse("all"), Ok(SignalFilter::All));
        let only = SignalFilter::parse("session_created, sessions_purged").unwrap();
        assert!(only.allows(&Signal::SessionsPurged {
            count: 1,
            signals_pruned: 0
        }));
        assert!(!only.allows(&Signal::Deleted { session_id: sid() }));
        assert!(!SignalFilter::None.allows(&Signal::Deleted { session_id: sid() }));
        assert_eq!(
            SignalFilter::parse("session_created,nope"),
            Err(
                "`nope` is not a signal name (expected all, none or names like session_created)"
                    .into()
            )
        );
    }
}
