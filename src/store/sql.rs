//! Every SQL statement sessiongate runs, in one place. Parameters are always bound,
//! never formatted in. Column order of [`LOAD`] is what row decoders expect. Deletes
//! return the ids they removed and are counted by those: D1's `changes` would also count
//! the rows the revocation triggers write.

/// One session by id (`?1`), with when its user last authenticated and its lifetime
/// (the same one read: neither costs an extra query), as one JSON object in the column
/// `row` with [`super::row::Row`]'s names: the runtime hands over one string instead of
/// a value per column (about 70 calls between wasm and JS fewer on every request).
pub const LOAD: &str = "SELECT json_object('id', id, 'user_id', user_id, 'data', data, \
     'created_at', created_at, 'expires_at', expires_at, \
     'absolute_expires_at', absolute_expires_at, 'updated_at', updated_at, \
     'version', version, 'authenticated_at', authenticated_at, 'lifetime', lifetime) AS row \
     FROM sessions WHERE id = ?1";

/// The columns of a listed session: [`LOAD`]'s, then `context` and the rowid as `seq`
/// (insertion order, what pages go by).
macro_rules! listed_columns {
    () => {
        "SELECT id, user_id, data, created_at, expires_at, absolute_expires_at, updated_at, \
         version, authenticated_at, lifetime, context, rowid AS seq FROM sessions "
    };
}

/// Live at the time parameter `$t`: neither the idle nor the absolute timeout has passed.
macro_rules! live {
    ($t:literal) => {
        concat!(
            "expires_at > ",
            $t,
            " AND (absolute_expires_at IS NULL OR absolute_expires_at > ",
            $t,
            ")"
        )
    };
}

/// The live sessions of user `?1` at `?2`, newest inserted first (at most 100).
pub const LIST_USER: &str = concat!(
    listed_columns!(),
    "WHERE user_id = ?1 AND ",
    live!("?2"),
    " ORDER BY rowid DESC LIMIT 100"
);

/// A page of live sessions at `?2`, newest first by insertion (rowid), below the
/// cursor `?3` (NULL: from the start), at most `?4` rows; `$who` selects whose. A session
/// inserted meanwhile gets a higher rowid than any cursor, so it never shifts the pages
/// still to come; a login keeps its row's place (the rowid survives the id change).
macro_rules! page {
    ($who:literal) => {
        concat!(
            listed_columns!(),
            "WHERE ",
            $who,
            " AND ",
            live!("?2"),
            " AND (?3 IS NULL OR rowid < ?3) ORDER BY rowid DESC LIMIT ?4"
        )
    };
}

/// `page!` of every user (`?1` NULL).
pub const LIST_PAGE: &str = page!("?1 IS NULL");
/// `page!` of user `?1`, through its index.
pub const LIST_PAGE_OF_USER: &str = page!("user_id = ?1");

/// The page statement for a query with or without a user.
#[must_use]
pub fn list_page(of_user: bool) -> &'static str {
    if of_user {
        LIST_PAGE_OF_USER
    } else {
        LIST_PAGE
    }
}

/// One live session by id (`?1`) at `?2`, with its context.
pub const SHOW: &str = concat!(listed_columns!(), "WHERE id = ?1 AND ", live!("?2"));

/// How many sessions are live at `?1`.
pub const COUNT_LIVE: &str = concat!("SELECT count(*) AS n FROM sessions WHERE ", live!("?1"));

/// Audit rows since `?1`: sessions created, and ended (deleted, expired, or purged: a
/// purge's signal carries its count).
pub const COUNT_SIGNALS: &str = "SELECT \
     coalesce(sum(name = 'session_created'), 0) AS created, \
     coalesce(sum(CASE WHEN name IN ('session_deleted', 'session_expired') THEN 1 \
     WHEN name = 'sessions_purged' THEN coalesce(json_extract(payload, '$.kwargs.count'), 0) \
     ELSE 0 END), 0) AS ended \
     FROM session_signals WHERE at >= ?1";

/// A page of audit rows, newest recorded first (rowid, as `page!`): of session `?1`,
/// user `?2`, name `?3` (each NULL: any), below the cursor `?4`, at most `?5` rows.
/// `$by` is the filter whose index drives the scan; the others only narrow it.
macro_rules! signals {
    ($by:literal) => {
        concat!(
            "SELECT id, name, session_id, user_id, payload, at, rowid AS seq \
             FROM session_signals WHERE ",
            $by,
            " AND (?1 IS NULL OR session_id = ?1) AND (?2 IS NULL OR user_id = ?2) \
             AND (?3 IS NULL OR name = ?3) AND (?4 IS NULL OR rowid < ?4) \
             ORDER BY rowid DESC LIMIT ?5"
        )
    };
}

/// `signals!` driven by the session index.
pub const LIST_SIGNALS_OF_SESSION: &str = signals!("session_id = ?1");
/// `signals!` driven by the user index.
pub const LIST_SIGNALS_OF_USER: &str = signals!("user_id = ?2");
/// `signals!` driven by the name index.
pub const LIST_SIGNALS_NAMED: &str = signals!("name = ?3");
/// `signals!` of every row, newest first.
pub const LIST_SIGNALS: &str = signals!("1");

/// The audit page statement for filters on session, user and name: the most selective
/// one set drives it.
#[must_use]
pub fn list_signals(session: bool, user: bool, name: bool) -> &'static str {
    match (session, user, name) {
        (true, _, _) => LIST_SIGNALS_OF_SESSION,
        (_, true, _) => LIST_SIGNALS_OF_USER,
        (_, _, true) => LIST_SIGNALS_NAMED,
        _ => LIST_SIGNALS,
    }
}

/// A new session: id, user_id, data (JSON text), created_at, expires_at,
/// absolute_expires_at, updated_at, context (JSON text or NULL), authenticated_at,
/// lifetime (`?10`, NULL for the default); a
/// session with a user was authenticated at `?9`, or at its creation when `?9` is NULL (a
/// pending insert of an earlier cookie format), one without has no auth time. Not inserted (no row changed) when the id ended
/// before (`session_revocations`), or its user was revoked at or after its creation
/// (`user_revocations`): a replayed insert never brings a session back.
pub const INSERT: &str = "INSERT INTO sessions (id, user_id, data, created_at, expires_at, \
     absolute_expires_at, updated_at, version, context, authenticated_at, lifetime) \
     SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, 1, ?8, CASE WHEN ?2 IS NULL THEN NULL ELSE coalesce(?9, ?4) END, ?10 \
     WHERE NOT EXISTS (SELECT 1 FROM session_revocations WHERE id = ?1) \
     AND NOT EXISTS (SELECT 1 FROM user_revocations WHERE user_id = ?2 AND not_before >= ?4)";

/// Every change to an existing session in one statement: `?1` id, `?2` new id (or the
/// same), `?3` 1 to set the user to `?4`, `?5` 1 to clear the data, `?6` merge patch
/// removing the touched keys, `?7` merge patch setting their new values (JSON text),
/// `?8` expires_at, `?9` updated_at, `?10` the device context (NULL: keep), `?11` 1 when
/// the user reauthenticated, `?12` 1 to set the lifetime to `?13` (NULL: the default)
/// and the absolute expiry to `?14`. A user set is an authentication at `?9`; a user cleared
/// clears it; a reauthentication of a session with a user is one at `?9`. SQLite's `json_patch` (RFC 7396) applies them to the
/// data stored now, so concurrent changes of different keys both survive. A login of a
/// user revoked at or after `?9` changes nothing (a login replayed from a pending cookie
/// after a "log out everywhere").
pub const UPDATE: &str = "UPDATE sessions SET id = ?2, \
     user_id = CASE WHEN ?3 = 1 THEN ?4 ELSE user_id END, \
     authenticated_at = CASE WHEN ?3 = 1 AND ?4 IS NULL THEN NULL \
     WHEN ?3 = 1 OR (?11 = 1 AND user_id IS NOT NULL) THEN ?9 ELSE authenticated_at END, context = coalesce(?10, context), \
     data = json_patch(json_patch(CASE WHEN ?5 = 1 THEN '{}' ELSE data END, ?6), ?7), \
     lifetime = CASE WHEN ?12 = 1 THEN ?13 ELSE lifetime END, \
     absolute_expires_at = CASE WHEN ?12 = 1 THEN ?14 ELSE absolute_expires_at END, \
     expires_at = ?8, updated_at = ?9, version = version + 1 WHERE id = ?1 \
     AND NOT (?3 = 1 AND EXISTS (SELECT 1 FROM user_revocations \
     WHERE user_id = ?4 AND not_before >= ?9))";

/// Remember that session `?1` ended when [`DELETE`] found no row (a session created and
/// logged out within one outage never reached D1, but its pending insert may be
/// replayed); a row it removes is remembered by the delete trigger.
pub const END_SESSION: &str = "INSERT OR REPLACE INTO session_revocations (id, revoked_at) \
     VALUES (?1, unixepoch())";

/// Delete one session (`?1` id).
pub const DELETE: &str = "DELETE FROM sessions WHERE id = ?1 RETURNING id";

/// Delete every session of a user (`?1` user_id).
pub const DELETE_USER: &str = "DELETE FROM sessions WHERE user_id = ?1 RETURNING id";

/// The cap per user: delete user `?1`'s live sessions at `?3` other than `?2` (the one
/// that just logged in) beyond the newest `?4`, oldest by insertion (rowid: a login keeps
/// its row's place), only when `?2` is the user's (the login landed). D1 runs it in one
/// batch with the login's write; the delete trigger remembers each id, so a pending
/// write never brings one back.
pub const EVICT: &str = concat!(
    "DELETE FROM sessions WHERE EXISTS (SELECT 1 FROM sessions WHERE id = ?2 AND user_id = ?1) \
     AND id IN (SELECT id FROM sessions WHERE user_id = ?1 AND id <> ?2 AND ",
    live!("?3"),
    " ORDER BY rowid DESC LIMIT -1 OFFSET ?4) RETURNING id"
);

/// Delete up to `?2` sessions expired at `?1` (idle or absolute). D1 has no
/// `DELETE ... LIMIT`, hence the sub-select; chunks keep each statement short.
pub const PURGE_EXPIRED: &str = "DELETE FROM sessions WHERE id IN (SELECT id FROM sessions \
     WHERE expires_at <= ?1 OR absolute_expires_at <= ?1 LIMIT ?2) RETURNING id";

/// A user's "not valid before" (`?1` user_id): sessions created earlier are refused.
pub const NOT_BEFORE: &str = "SELECT not_before FROM user_revocations WHERE user_id = ?1";

/// Refuse every session of user `?1` created before `?2` (never moved back in time).
pub const REVOKE_BEFORE: &str = "INSERT INTO user_revocations (user_id, not_before) \
     VALUES (?1, ?2) ON CONFLICT (user_id) DO UPDATE SET \
     not_before = max(not_before, excluded.not_before)";

/// Delete up to `?2` revocation records older than `?1` (no pending cookie that old is
/// accepted).
pub const PRUNE_REVOCATIONS: &str = "DELETE FROM session_revocations WHERE id IN (SELECT id \
     FROM session_revocations WHERE revoked_at < ?1 LIMIT ?2) RETURNING id";

/// Record a signal: id, name, session_id, user_id, payload (the envelope as JSON), at.
/// Delivery is at-least-once: a repeated event id is ignored.
pub const INSERT_SIGNAL: &str = "INSERT OR IGNORE INTO session_signals \
     (id, name, session_id, user_id, payload, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";

/// Delete up to `?2` audit rows older than `?1`.
pub const PRUNE_SIGNALS: &str = "DELETE FROM session_signals WHERE id IN (SELECT id FROM \
     session_signals WHERE at < ?1 LIMIT ?2) RETURNING id";

/// The bound parameters of [`UPDATE`], in order, as plain values any driver can bind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateParams {
    /// `?1`
    pub id: String,
    /// `?2`
    pub new_id: String,
    /// `?3`
    pub set_user: i64,
    /// `?4`
    pub user_id: Option<String>,
    /// `?5`
    pub clear: i64,
    /// `?6`
    pub reset: String,
    /// `?7`
    pub values: String,
    /// `?8`
    pub expires_at: i64,
    /// `?9`
    pub now: i64,
    /// `?11` (`?10`, the device context, is the store's own)
    pub reauthenticated: i64,
    /// `?12`
    pub set_lifetime: i64,
    /// `?13`
    pub lifetime: Option<String>,
    /// `?14`
    pub absolute_expires_at: Option<i64>,
}

impl From<&super::Update> for UpdateParams {
    fn from(u: &super::Update) -> Self {
        let (reset, values) = u.changes.patches();
        Self {
            id: u.id.to_string(),
            new_id: u.new_id.unwrap_or(u.id).to_string(),
            set_user: i64::from(u.user != super::UserChange::Keep),
            user_id: match &u.user {
                super::UserChange::Set(user) => Some(user.clone()),
                super::UserChange::Keep | super::UserChange::Clear => None,
            },
            clear: i64::from(u.changes.clears()),
            reset: super::row::data_json(&reset),
            values: super::row::data_json(&values),
            expires_at: u.expires_at.unix(),
            now: u.now.unix(),
            reauthenticated: i64::from(u.reauthenticated),
            set_lifetime: i64::from(u.lifetime.is_some()),
            lifetime: u.lifetime.and_then(|l| l.lifetime.to_column()),
            absolute_expires_at: u
                .lifetime
                .and_then(|l| l.absolute_expires_at.map(crate::time::Timestamp::unix)),
        }
    }
}

/// Health check: D1 answers and every migration ran (SQLite resolves each table and
/// column named, though no row is read: a missing one is "no such table/column").
pub const PING: &str = "SELECT context, authenticated_at FROM sessions WHERE 0 \
     UNION ALL SELECT lifetime, 0 FROM sessions WHERE 0 \
     UNION ALL SELECT revoked_at, 0 FROM session_revocations WHERE 0 \
     UNION ALL SELECT not_before, 0 FROM user_revocations WHERE 0 \
     UNION ALL SELECT payload, at FROM session_signals WHERE 0";
