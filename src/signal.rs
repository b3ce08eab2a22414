//! Lifecycle signals: the 11 of Lback's `SessionManager` with their exact names and
//! kwargs, plus sessiongate's own, and the JSON envelope they travel in.
//!
//! Encodings: timedelta -> integer seconds; datetime -> RFC 3339 UTC; exception ->
//! `{"type", "message"}`. A signal never carries a cookie value, a MAC or a secret: only
//! ids, keys, counts and error messages.

use crate::cookie::CookieError;
use crate::session::SessionId;
use crate::time::Timestamp;
use serde::{Serialize, Serializer};
use serde_json::{json, Value};
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use thiserror::Error;

/// An error as a signal carries it: `{"type", "message"}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Exception {
    /// Error class, e.g. `StoreError`.
    #[serde(rename = "type")]
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
}

/// Why a signal happened: the `reason` of its kwargs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// `not_found`: the session was not there.
    NotFound,
    /// `not_found_or_expired`: the cookie named no live session.
    NotFoundOrExpired,
    /// `corrupt`: the stored row does not decode.
    Corrupt,
    /// `db_error`: the store failed.
    DbError,
    /// `bad_command`: a command header from the origin was unusable.
    BadCommand,
    /// `store_unavailable`: the store failed on read, so nothing was written.
    StoreUnavailable,
    /// `cookie_too_large`: the session does not fit its cookie.
    CookieTooLarge,
    /// `header_budget_exceeded`: the data was too large to send to the origin.
    HeaderBudgetExceeded,
    /// `read_failed`: the store failed on read.
    ReadFailed,
    /// `write_failed`: the store failed on write.
    WriteFailed,
    /// `malformed`: a cookie value is not of its layout.
    Malformed,
    /// `bad_signature`: a cookie value's MAC does not verify.
    BadSignature,
    /// `bad_payload`: a verified cookie value does not decode.
    BadPayload,
    /// `pending_expired`: a pending cookie older than the idle timeout was dropped.
    PendingExpired,
    /// `revoked`: a deferred insert of a session that ended since was not written.
    Revoked,
    /// `logout`: the session was logged out (the origin's `delete`, the logout endpoint).
    Logout,
    /// `revoked_by_user`: the user ended it from their list of sessions.
    RevokedByUser,
    /// `revoked_by_origin`: the origin ended it (`revoke-user`, `revoke-others`, a handle).
    RevokedByOrigin,
    /// `revoked_by_admin`: an operator ended it through the admin API.
    RevokedByAdmin,
    /// `evicted`: its user logged in once more than SESSION_MAX_PER_USER allows, and it
    /// was the oldest.
    Evicted,
    /// `limit_reached`: a login was refused: its user already holds SESSION_MAX_PER_USER
    /// sessions (SESSION_LIMIT_STRATEGY=reject).
    LimitReached,
}

impl Reason {
    /// The value as signals and audit rows carry it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::NotFoundOrExpired => "not_found_or_expired",
            Self::Corrupt => "corrupt",
            Self::DbError => "db_error",
            Self::BadCommand => "bad_command",
            Self::StoreUnavailable => "store_unavailable",
            Self::CookieTooLarge => "cookie_too_large",
            Self::HeaderBudgetExceeded => "header_budget_exceeded",
            Self::ReadFailed => "read_failed",
            Self::WriteFailed => "write_failed",
            Self::Malformed => "malformed",
            Self::BadSignature => "bad_signature",
            Self::BadPayload => "bad_payload",
            Self::PendingExpired => "pending_expired",
            Self::Revoked => "revoked",
            Self::Logout => "logout",
            Self::RevokedByUser => "revoked_by_user",
            Self::RevokedByOrigin => "revoked_by_origin",
            Self::RevokedByAdmin => "revoked_by_admin",
            Self::Evicted => "evicted",
            Self::LimitReached => "limit_reached",
        }
    }
}

impl Serialize for Reason {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl From<CookieError> for Reason {
    fn from(e: CookieError) -> Self {
        match e {
            CookieError::Malformed => Self::Malformed,
            CookieError::BadSignature => Self::BadSignature,
            CookieError::BadPayload => Self::BadPayload,
        }
    }
}

/// One lifecycle event. Serialized, it is the seed's kwargs: the variant's fields
/// (timedelta as integer seconds, datetime as RFC 3339).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Signal {
    /// The manager is ready (once per isolate). `timeout`: idle timeout.
    ManagerInitialized {
        /// Idle timeout in seconds (a timedelta).
        #[serde(rename = "timeout")]
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
        #[serde(serialize_with = "rfc3339")]
        expires_at: Timestamp,
    },
    /// Extending a session's expiry failed.
    RenewalFailed {
        /// The session.
        session_id: SessionId,
        /// `not_found` or `db_error`.
        reason: Reason,
    },
    /// A session was deleted.
    Deleted {
        /// The session.
        session_id: SessionId,
        /// Who ended it: `logout`, `revoked_by_user`, `revoked_by_origin`, `revoked_by_admin`.
        reason: Reason,
    },
    /// Deleting a session failed.
    DeletionFailed {
        /// The session.
        session_id: SessionId,
        /// `not_found` or `db_error`.
        reason: Reason,
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
        reason: Reason,
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
        reason: Reason,
        /// The error, when one caused it.
        #[serde(skip_serializing_if = "Option::is_none")]
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
        #[serde(serialize_with = "rfc3339")]
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
        reason: Reason,
        /// The error.
        exception: Exception,
    },
    /// Session cookies did not verify (values never included): one signal a request,
    /// however many cookies it sent.
    CookieRejected {
        /// Why the first one was rejected: `malformed`, `bad_signature`, `bad_payload`.
        reason: Reason,
        /// How many values were not used: rejected, or past the few examined.
        count: u32,
        /// With SESSION_COOKIE_REJECTED_LIMIT (one signal per network per window): the
        /// client's network (IPv4 /24, IPv6 /48). Absent otherwise.
        #[serde(skip_serializing_if = "Option::is_none")]
        network: Option<String>,
        /// With SESSION_COOKIE_REJECTED_LIMIT: the requests with rejected cookies from
        /// `network` this signal stands for (this isolate's, since its last signal for
        /// it, this one included). Absent otherwise: one signal per request.
        #[serde(skip_serializing_if = "Option::is_none")]
        requests: Option<u32>,
    },
    /// A request to a fresh-only path (SESSION_FRESH_PATHS) had no recent login: it was
    /// sent to log in again (or refused) and never reached the origin.
    ReauthRequired {
        /// The session, when the request had one.
        session_id: Option<SessionId>,
        /// The path asked for (without the query, at most 256 bytes).
        path: String,
    },
}

/// Every signal name, in a stable order.
pub const NAMES: [&str; 17] = [
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
    "session_reauth_required",
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
            Self::ReauthRequired { .. } => 16,
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
            | Self::Deleted { session_id, .. }
            | Self::DeletionFailed { session_id, .. }
            | Self::DataRetrieved { session_id, .. }
            | Self::DataRetrievalFailed { session_id, .. }
            | Self::DataSaved { session_id, .. }
            | Self::Cycled { session_id, .. }
            | Self::Expired { session_id, .. } => Some(*session_id),
            Self::DataSaveFailed { session_id, .. } | Self::ReauthRequired { session_id, .. } => {
                *session_id
            }
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
        // Ids, strings, integers and maps of them always serialize.
        serde_json::to_value(self).unwrap_or(Value::Null)
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

/// Most messages one queue `sendBatch` takes.
pub const MAX_BATCH_MESSAGES: usize = 100;
/// Most bytes one queue `sendBatch` takes (256 KB, with room for the framing).
pub const MAX_BATCH_BYTES: usize = 250_000;

/// Consecutive batches of messages of `sizes` bytes, each within the queue's limits
/// ([`MAX_BATCH_MESSAGES`], [`MAX_BATCH_BYTES`]), so no batch is refused for its size.
#[must_use]
pub fn batches(sizes: &[usize]) -> Vec<std::ops::Range<usize>> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0);
    for (i, size) in sizes.iter().enumerate() {
        let full = i - start == MAX_BATCH_MESSAGES || bytes + size > MAX_BATCH_BYTES;
        if full && i > start {
            out.push(start..i);
            (start, bytes) = (i, 0);
        }
        bytes += size;
    }
    if start < sizes.len() {
        out.push(start..sizes.len());
    }
    out
}

/// A datetime as the seed encodes it.
fn rfc3339<S: Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

/// The signals of one unit of work (a request, a cron run), in order. Clones share one
/// buffer, so every manager a request uses records into the same place.
#[derive(Debug, Default, Clone)]
pub struct SignalLog(Rc<RefCell<Vec<Signal>>>);

impl SignalLog {
    /// Records `signal`.
    pub fn push(&self, signal: Signal) {
        self.0.borrow_mut().push(signal);
    }

    /// Every signal recorded since the last call, in order.
    #[must_use]
    pub fn take(&self) -> Vec<Signal> {
        std::mem::take(&mut self.0.borrow_mut())
    }
}

/// The signals sent per request rather than per lifecycle event: left out of
/// [`SignalFilter::Lifecycle`], the default, so a steady-state request queues nothing.
pub const PER_REQUEST: [&str; 1] = ["session_data_retrieved"];

/// Which signals are sent (SESSION_SIGNAL_FILTER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignalFilter {
    /// Every signal but the per-request ones ([`PER_REQUEST`]): what changes a
    /// session, and every failure. The default.
    Lifecycle,
    /// Every signal.
    All,
    /// No signal.
    None,
    /// Only these names.
    Only(Vec<&'static str>),
}

/// A SESSION_SIGNAL_FILTER entry that names no signal.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("`{0}` is not a signal name (expected lifecycle, all, none or names like session_created)")]
pub struct UnknownSignal(pub String);

impl SignalFilter {
    /// Parses `lifecycle`, `all`, `none` or a comma list of names.
    ///
    /// # Errors
    /// [`UnknownSignal`] naming the first entry that is not a signal.
    pub fn parse(raw: &str) -> Result<Self, UnknownSignal> {
        match raw.trim() {
            "lifecycle" => Ok(Self::Lifecycle),
            "all" => Ok(Self::All),
            "none" => Ok(Self::None),
            list => {
                let mut names = Vec::new();
                for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                    match NAMES.iter().find(|n| **n == name) {
                        Some(n) => names.push(*n),
                        None => return Err(UnknownSignal(name.to_owned())),
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
            Self::Lifecycle => !PER_REQUEST.contains(&signal.name()),
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

/// Why a queued envelope cannot become an audit row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum EnvelopeError {
    /// `id` is missing, not a string, empty or over 64 bytes.
    #[error("envelope has no usable `id`")]
    Id,
    /// `signal` is not one of [`NAMES`].
    #[error("envelope `signal` is not a known signal name")]
    Signal,
    /// `at` is not RFC 3339.
    #[error("envelope `at` is not RFC 3339")]
    At,
}

impl AuditRow {
    /// Checks an envelope off the queue and flattens it for the audit table.
    ///
    /// # Errors
    /// [`EnvelopeError`]: a missing or non-string `id`, an unknown `signal`, an `at`
    /// that is not RFC 3339.
    pub fn from_envelope(envelope: &Value) -> Result<Self, EnvelopeError> {
        let text = |key: &str| envelope.get(key).and_then(Value::as_str);
        let id = text("id")
            .filter(|s| !s.is_empty() && s.len() <= 64)
            .ok_or(EnvelopeError::Id)?;
        let name = text("signal")
            .filter(|n| NAMES.contains(n))
            .ok_or(EnvelopeError::Signal)?;
        let at = text("at")
            .and_then(|t| t.parse::<Timestamp>().ok())
            .ok_or(EnvelopeError::At)?;
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
            payload: serde_json::to_string(envelope).unwrap_or_default(),
            at,
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
        assert_eq!(sorted.len(), 17);
        assert_eq!(
            Signal::CookieRejected {
                reason: Reason::Malformed,
                count: 1,
                network: None,
                requests: None,
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
            reason: Reason::DbError,
            exception: Some(Exception::new("StoreError", "D1 down")),
        };
        assert_eq!(
            failed.kwargs(),
            json!({"session_id": null, "reason": "db_error", "exception": {"type": "StoreError", "message": "D1 down"}})
        );
        let bare = Signal::DataSaveFailed {
            session_id: Some(sid()),
            reason: Reason::NotFound,
            exception: None,
        };
        assert!(bare.kwargs().get("exception").is_none());
    }

    #[test]
    fn every_signal_has_the_seeds_kwargs() {
        let (id, at) = (sid(), Timestamp::from_unix(1_795_476_395));
        let ex = || Exception::new("StoreError", "down");
        let exj = json!({"type": "StoreError", "message": "down"});
        let t = "2026-11-23T23:26:35Z";
        let cases = [
            (
                Signal::ManagerInitialized { timeout_secs: 60 },
                json!({"timeout": 60}),
            ),
            (
                Signal::Created {
                    session_id: id,
                    user_id: None,
                },
                json!({"session_id": id.to_string(), "user_id": null}),
            ),
            (
                Signal::CreationFailed {
                    user_id: Some("u".into()),
                    exception: ex(),
                },
                json!({"user_id": "u", "exception": exj}),
            ),
            (
                Signal::Renewed {
                    session_id: id,
                    expires_at: at,
                },
                json!({"session_id": id.to_string(), "expires_at": t}),
            ),
            (
                Signal::RenewalFailed {
                    session_id: id,
                    reason: Reason::DbError,
                },
                json!({"session_id": id.to_string(), "reason": "db_error"}),
            ),
            (
                Signal::Deleted {
                    session_id: id,
                    reason: Reason::RevokedByUser,
                },
                json!({"session_id": id.to_string(), "reason": "revoked_by_user"}),
            ),
            (
                Signal::DeletionFailed {
                    session_id: id,
                    reason: Reason::NotFound,
                },
                json!({"session_id": id.to_string(), "reason": "not_found"}),
            ),
            (
                Signal::DataRetrieved {
                    session_id: id,
                    data_keys: vec!["a".into()],
                },
                json!({"session_id": id.to_string(), "data_keys": ["a"]}),
            ),
            (
                Signal::DataRetrievalFailed {
                    session_id: id,
                    reason: Reason::Corrupt,
                },
                json!({"session_id": id.to_string(), "reason": "corrupt"}),
            ),
            (
                Signal::DataSaved {
                    session_id: id,
                    saved_keys: vec![],
                },
                json!({"session_id": id.to_string(), "saved_keys": []}),
            ),
            (
                Signal::DataSaveFailed {
                    session_id: Some(id),
                    reason: Reason::BadCommand,
                    exception: Some(ex()),
                },
                json!({"session_id": id.to_string(), "reason": "bad_command", "exception": exj}),
            ),
            (
                Signal::Cycled {
                    old_session_id: id,
                    session_id: id,
                    user_id: Some("u".into()),
                },
                json!({"old_session_id": id.to_string(), "session_id": id.to_string(), "user_id": "u"}),
            ),
            (
                Signal::Expired {
                    session_id: id,
                    expired_at: at,
                },
                json!({"session_id": id.to_string(), "expired_at": t}),
            ),
            (
                Signal::SessionsPurged {
                    count: 2,
                    signals_pruned: 3,
                },
                json!({"count": 2, "signals_pruned": 3}),
            ),
            (
                Signal::StoreDegraded {
                    reason: Reason::ReadFailed,
                    exception: ex(),
                },
                json!({"reason": "read_failed", "exception": exj}),
            ),
            (
                Signal::CookieRejected {
                    reason: Reason::BadPayload,
                    count: 3,
                    network: None,
                    requests: None,
                },
                json!({"reason": "bad_payload", "count": 3}),
            ),
            (
                Signal::ReauthRequired {
                    session_id: Some(id),
                    path: "/account/security".into(),
                },
                json!({"session_id": id.to_string(), "path": "/account/security"}),
            ),
        ];
        let mut seen = Vec::new();
        for (signal, kwargs) in cases {
            assert_eq!(signal.kwargs(), kwargs, "{}", signal.name());
            seen.push(signal.name());
        }
        assert_eq!(seen, NAMES, "one case per signal, in order");
        // Aggregated by SESSION_COOKIE_REJECTED_LIMIT: the same fields, and two more.
        let aggregated = Signal::CookieRejected {
            reason: Reason::BadSignature,
            count: 1,
            network: Some("203.0.113.0/24".into()),
            requests: Some(12),
        };
        assert_eq!(
            aggregated.kwargs(),
            json!({"reason": "bad_signature", "count": 1, "network": "203.0.113.0/24", "requests": 12})
        );
    }

    #[test]
    fn batches_stay_within_the_queue_limits() {
        assert!(batches(&[]).is_empty());
        assert_eq!(batches(&[10; 250]), [0..100, 100..200, 200..250]);
        assert_eq!(batches(&[100_000; 5]), [0..2, 2..4, 4..5]);
        // One message over the byte limit still goes out (alone): the queue decides.
        assert_eq!(batches(&[10, 300_000, 10]), [0..1, 1..2, 2..3]);
        let sizes: Vec<usize> = (0..1000).map(|i| (i * 7919) % 9000).collect();
        let all = batches(&sizes);
        assert_eq!(all.first().map(|r| r.start), Some(0));
        assert_eq!(all.last().map(|r| r.end), Some(1000));
        for w in all.windows(2) {
            assert_eq!(w[0].end, w[1].start, "consecutive, nothing dropped");
        }
        for r in &all {
            assert!(r.len() <= MAX_BATCH_MESSAGES);
            assert!(sizes[r.clone()].iter().sum::<usize>() <= MAX_BATCH_BYTES);
        }
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
        let deleted = Signal::Deleted {
            session_id: sid(),
            reason: Reason::Logout,
        };
        assert!(!only.allows(&deleted));
        assert!(!SignalFilter::None.allows(&deleted));
        // The default keeps every lifecycle event and failure, not the per-request read.
        let lifecycle = SignalFilter::parse(" lifecycle ").unwrap();
        assert_eq!(lifecycle, SignalFilter::Lifecycle);
        assert!(lifecycle.allows(&deleted));
        let read = Signal::DataRetrieved {
            session_id: sid(),
            data_keys: vec![],
        };
        assert!(!lifecycle.allows(&read) && SignalFilter::All.allows(&read));
        let failed = Signal::DataRetrievalFailed {
            session_id: sid(),
            reason: Reason::DbError,
        };
        assert!(lifecycle.allows(&failed));
        assert_eq!(
            SignalFilter::parse("session_created,nope"),
            Err(UnknownSignal("nope".into()))
        );
    }
}
