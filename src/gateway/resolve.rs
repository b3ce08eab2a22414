//! Which store serves a request, and the session it starts with.
//!
//! The cookie store serves when it is configured or D1 has no binding. Otherwise a
//! pending cookie is written back to D1 first; then D1 is asked for the session the
//! reference cookie names. When D1 fails (on the write-back or the read), the reference
//! cookie's signed snapshot stands in for it within the fallback window, and the
//! request is served from the cookies; past the window, or with the window at 0, the
//! request goes on with no session.

use super::backend::Backend;
use super::journal::Level;
use super::memory::Known;
use super::{Context, Exchange};
use crate::config::StoreKind;
use crate::cookie::key::KeyUse;
use crate::cookie::pending::{self, Carried};
use crate::cookie::reference::{self, Reference};
use crate::cookie::{full, header, CookieError, Outgoing};
use crate::protocol::{Commands, StoreLabel};
use crate::session::{Record, Session, SessionId};
use crate::signal::{Exception, Reason, Signal};
use crate::store::cookie::CookieStore;
use crate::store::deferred::{self, WriteBack};
use crate::store::fallback::{snapshot_record, FallbackStore};
use crate::store::Store;
use serde_json::json;

/// Session cookie values examined per request, at most (the first valid one wins).
pub const MAX_EXAMINED: usize = 4;

/// The session and pending cookies of a request, taken out of its `Cookie` header.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inbound {
    /// Every value of the session cookie, in header order.
    pub session: Vec<String>,
    /// Every value of the pending cookie, in header order.
    pub pending: Vec<String>,
}

/// The `Cookie` header the origin receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Forwarded {
    /// As the client sent it (or absent): no session cookie in it.
    Unchanged,
    /// Rewritten without the session and pending cookies.
    Rewritten(String),
    /// Nothing but session cookies: removed.
    Removed,
}

impl Inbound {
    /// Takes the cookies called `session` and `pending` out of a `Cookie` header.
    #[must_use]
    pub fn take(cookie_header: Option<&str>, session: &str, pending: &str) -> (Self, Forwarded) {
        let Some(h) = cookie_header else {
            return (Self::default(), Forwarded::Unchanged);
        };
        let all = |name| {
            header::values(h, name)
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        let inbound = Self {
            session: all(session),
            pending: all(pending),
        };
        if inbound.session.is_empty() && inbound.pending.is_empty() {
            return (inbound, Forwarded::Unchanged);
        }
        let rest = header::without(h, &[session, pending]);
        (
            inbound,
            rest.map_or(Forwarded::Removed, Forwarded::Rewritten),
        )
    }
}

/// Which store serves a request, and what it starts from.
#[derive(Debug)]
pub enum Resolution<'a, S> {
    /// The cookie store: the session the cookie holds, and the key that verified it.
    Cookie(Option<(Record, KeyUse)>),
    /// D1 answered: the live session the reference cookie names, if any.
    D1(&'a S, Option<(Session, KeyUse)>),
    /// D1 failed: the snapshot's session (within the window) and the deferred write.
    Fallback {
        /// The session as the snapshot describes it.
        current: Option<Record>,
        /// The pending cookie's deferred write, when it could not be written back.
        carried: Option<Carried>,
    },
    /// D1 failed (or is configured without its binding) and nothing may stand in for
    /// it: no session this request, nothing written.
    Unavailable(Option<&'a S>),
}

impl<'a, S: Store> Exchange<'a, S> {
    /// Resolves the request's session from its cookies: `d1` is the D1 store, `None`
    /// when its binding is missing. Without it, only SESSION_STORE=cookie serves
    /// sessions: a D1 configuration never falls silently to the cookie store.
    pub async fn begin(cx: Context<'a>, d1: Option<&'a S>, inbound: &Inbound) -> Self {
        let mut pending = Outgoing::Keep;
        let resolution = match (cx.cfg.store, d1) {
            (StoreKind::Cookie, d1) => {
                let found = cx.resolve_cookie(inbound);
                Resolution::Cookie(cx.unrevoked(found, d1).await)
            }
            (StoreKind::D1, Some(d1)) => cx.resolve_d1(d1, inbound, &mut pending).await,
            (StoreKind::D1, None) => Resolution::Unavailable(None),
        };
        let cookie_seen = !inbound.session.is_empty();
        Self::serve(cx, resolution, cookie_seen, pending, d1).await
    }

    /// The one place a resolution becomes the store and session of the request.
    async fn serve(
        cx: Context<'a>,
        resolution: Resolution<'a, S>,
        cookie_seen: bool,
        pending: Outgoing,
        d1: Option<&'a S>,
    ) -> Self {
        let keys = &cx.cfg.keys;
        let (backend, label, found) = match resolution {
            Resolution::Cookie(found) => {
                let (record, key) = found.map_or((None, None), |(r, k)| (Some(r), Some(k)));
                let ids = record.as_ref().map(|r| r.id).zip(key);
                let store = CookieStore::new(keys, &cx.cfg.cookie.name, record);
                (Backend::Cookie(store), StoreLabel::Cookie, Found::Load(ids))
            }
            Resolution::D1(d1, found) => (Backend::D1(d1), StoreLabel::D1, Found::Loaded(found)),
            Resolution::Fallback { current, carried } => {
                // The fallback serves from the snapshot: nothing to re-issue.
                let ids = current.as_ref().map(|r| (r.id, KeyUse::Current));
                let (op, since) = carried.map_or((None, cx.now), |c| (Some(c.op), c.since));
                let name = &cx.cfg.pending_cookie.name;
                let store = FallbackStore::new(keys, name, current, op, since);
                (
                    Backend::Fallback(store),
                    StoreLabel::CookieFallback,
                    Found::Load(ids),
                )
            }
            Resolution::Unavailable(d1) => {
                // Never written to: the save policy keeps everything while unavailable.
                let none = || Backend::Cookie(CookieStore::new(keys, &cx.cfg.cookie.name, None));
                let backend = d1.map_or_else(none, Backend::D1);
                (backend, StoreLabel::Unavailable, Found::Loaded(None))
            }
        };
        let manager = cx.manager(backend);
        let found = match found {
            Found::Loaded(found) => found,
            // These stores hold the session in hand: they cannot fail to read.
            Found::Load(Some((id, key))) => match manager.load(&id, cx.now).await {
                Ok(Some(session)) => Some((session, key)),
                _ => None,
            },
            Found::Load(None) => None,
        };
        let (session, key) = found.map_or((Session::new(), None), |(s, k)| (s, Some(k)));
        Self {
            loaded: !session.is_new(),
            applied: Commands::default(),
            cx,
            d1,
            manager,
            session,
            label,
            cookie_seen,
            reissue: key == Some(KeyUse::Fallback),
            pending,
        }
    }
}

/// The session of a resolution: loaded already (D1), or still to load from the store
/// that holds it.
#[allow(clippy::large_enum_variant)] // one short-lived value a request: boxing buys nothing
enum Found {
    Loaded(Option<(Session, KeyUse)>),
    Load(Option<(SessionId, KeyUse)>),
}

impl Context<'_> {
    /// The cookie store: the first session cookie that verifies.
    fn resolve_cookie(&self, inbound: &Inbound) -> Option<(Record, KeyUse)> {
        let (keys, name) = (&self.cfg.keys, &self.cfg.cookie.name);
        self.first_valid(&inbound.session, |v| full::decode(keys, name, v))
    }

    /// A cookie-store session, unless it was revoked: logged out in this isolate, or its
    /// user revoked at or after it began (created, or last logged in: renewals and
    /// writes never move that). The "not valid before" time comes from the isolate's
    /// memory, read from D1 at most once a minute per user.
    async fn unrevoked<S: Store>(
        &self,
        found: Option<(Record, KeyUse)>,
        d1: Option<&S>,
    ) -> Option<(Record, KeyUse)> {
        let (record, key) = found?;
        let user = record.user_id.as_deref();
        let known = match user {
            Some(user) => match self.memory.user(user, self.now) {
                Known::Stale => self.read_not_before(user, d1).await,
                fresh => fresh,
            },
            None => Known::Fresh(None),
        };
        let revoked = self.memory.refuses(record.id, None, record.created_at)
            || match known {
                Known::Fresh(t) => t.is_some_and(|t| record.created_at <= t),
                // D1 could not say: strict mode does not vouch for the cookie.
                Known::Stale => self.cfg.strict_revocation,
            };
        if !revoked {
            return Some((record, key));
        }
        let fields = json!({ "session_id": record.id.to_string() });
        self.journal.log(Level::Info, "session_revoked", fields);
        self.journal.signal(Signal::DataRetrievalFailed {
            session_id: record.id,
            reason: Reason::Revoked,
        });
        None
    }

    /// `user`'s "not valid before" from D1, remembered for a minute; none without D1.
    /// When D1 does not answer it is logged and [`Known::Stale`]: outside strict mode
    /// the cookie is then trusted as signed, and that is remembered for a minute too, so
    /// an outage does not cost a D1 attempt per request.
    async fn read_not_before<S: Store>(&self, user: &str, d1: Option<&S>) -> Known {
        let Some(d1) = d1 else {
            return Known::Fresh(None);
        };
        match d1.not_before(user).await {
            Ok(t) => {
                self.memory.learned(user, t, self.now);
                Known::Fresh(t)
            }
            Err(e) => {
                let fields = json!({ "error": e.to_string() });
                self.journal
                    .log(Level::Warn, "not_before_unavailable", fields);
                if !self.cfg.strict_revocation {
                    self.memory.learned(user, None, self.now);
                }
                Known::Stale
            }
        }
    }

    /// D1: write back what is pending, then read the session; fall back when D1 fails.
    async fn resolve_d1<'s, S: Store>(
        &self,
        d1: &'s S,
        inbound: &Inbound,
        pending: &mut Outgoing,
    ) -> Resolution<'s, S> {
        let (keys, name) = (&self.cfg.keys, &self.cfg.cookie.name);
        let reference = self.first_valid(&inbound.session, |v| reference::decode(keys, name, v));
        let mut carried = self.carried(&inbound.pending);
        if carried.is_none() && !inbound.pending.is_empty() {
            *pending = Outgoing::Clear; // unusable: drop it
        }
        if let Some(c) = &carried {
            if !self.write_back(d1, c).await {
                return self.fallback(d1, reference, carried, Reason::WriteFailed);
            }
            *pending = Outgoing::Clear;
            carried = None;
        }
        let Some(reference) = reference else {
            return Resolution::D1(d1, None);
        };
        let id = reference.id.to_string();
        match self
            .manager(Backend::D1(d1))
            .load(&reference.id, self.now)
            .await
        {
            Ok(Some(session)) => Resolution::D1(d1, Some((session, reference.key))),
            Ok(None) => {
                let fields = json!({ "session_id": id });
                self.journal.log(Level::Info, "session_not_loaded", fields);
                Resolution::D1(d1, None)
            }
            Err(e) => {
                let fields = json!({ "session_id": id, "error": e.to_string() });
                self.journal.log(Level::Error, "store_unavailable", fields);
                self.fallback(d1, Some(reference), carried, Reason::ReadFailed)
            }
        }
    }

    /// D1 is failing (`why`): the snapshot stands in within the fallback window.
    fn fallback<'s, S>(
        &self,
        d1: &'s S,
        reference: Option<Reference>,
        carried: Option<Carried>,
        why: Reason,
    ) -> Resolution<'s, S> {
        let (cfg, now) = (self.cfg, self.now);
        // Revoked while D1 answered, as this isolate remembers: no snapshot stands in.
        if let Some(r) = reference.as_ref().filter(|r| {
            let user = r.snapshot.user_id.as_deref();
            self.memory.refuses(r.id, user, r.snapshot.issued_at)
        }) {
            let fields = json!({ "session_id": r.id.to_string(), "reason": "revoked" });
            self.journal.log(Level::Warn, "fallback_refused", fields);
            return Resolution::Unavailable(Some(d1));
        }
        if let Some(r) = reference.as_ref().filter(|r| {
            // Never longer than the session's own idle timeout.
            let idle = cfg.expiry.idle_of(r.snapshot.lifetime());
            !r.snapshot.usable(now, cfg.fallback_window_secs.min(idle))
        }) {
            let age = now.seconds_since(r.snapshot.issued_at);
            let fields = json!({ "session_id": r.id.to_string(), "snapshot_age": age });
            self.journal.log(Level::Warn, "fallback_refused", fields);
            return Resolution::Unavailable(Some(d1));
        }
        if cfg.fallback_window_secs == 0 {
            return Resolution::Unavailable(Some(d1));
        }
        if why == Reason::WriteFailed {
            // The read was not tried: the outage is known from the failed write-back.
            self.journal.signal(Signal::StoreDegraded {
                reason: why,
                exception: Exception::new(
                    "StoreError",
                    "pending operation could not be written back",
                ),
            });
        }
        let current = reference.map(|r| {
            let lifetime = r.snapshot.lifetime();
            let expires_at = now.plus(cfg.expiry.idle_of(lifetime));
            snapshot_record(r.id, r.snapshot.user_id, expires_at, lifetime, now)
        });
        Resolution::Fallback { current, carried }
    }

    /// The pending cookie's deferred write: the first value that verifies, if it is not
    /// older than the idle timeout (a copied pending cookie cannot be replayed later;
    /// an expired one is reported, since its writes are lost).
    fn carried(&self, values: &[String]) -> Option<Carried> {
        let (keys, name) = (&self.cfg.keys, &self.cfg.pending_cookie.name);
        let carried = values
            .iter()
            .take(MAX_EXAMINED)
            .find_map(|v| pending::decode(keys, name, v).ok())?;
        let age = self.now.seconds_since(carried.since);
        if age <= self.cfg.expiry.idle_secs {
            return Some(carried);
        }
        let id = carried.op.session_id();
        self.dropped(Level::Error, "pending_expired", id, Reason::PendingExpired);
        None
    }

    /// Writes a carried operation back to D1; `false` when D1 refused it (it stays
    /// pending).
    async fn write_back<S: Store>(&self, d1: &S, carried: &Carried) -> bool {
        let session_id = carried.op.session_id();
        let sid = session_id.map(|i| i.to_string());
        match deferred::write_back(&carried.op, d1).await {
            Ok(WriteBack::Written) => {
                let since = carried.since.to_rfc3339();
                let fields = json!({ "session_id": sid, "since": since });
                self.journal
                    .log(Level::Info, "pending_written_back", fields);
                true
            }
            // A replayed insert of a session that ended since: it stays ended.
            Ok(WriteBack::Revoked) => {
                let event = "pending_write_back_revoked";
                self.dropped(Level::Warn, event, session_id, Reason::Revoked);
                true
            }
            Ok(WriteBack::NothingToUpdate) => {
                let event = "pending_write_back_found_nothing";
                self.dropped(Level::Error, event, session_id, Reason::NotFound);
                true
            }
            Err(e) => {
                let fields = json!({ "session_id": sid, "error": e.to_string() });
                self.journal
                    .log(Level::Warn, "pending_write_back_failed", fields);
                false
            }
        }
    }

    /// A deferred write that will not be written: logged and signalled.
    fn dropped(&self, level: Level, event: &'static str, id: Option<SessionId>, reason: Reason) {
        let fields = json!({ "session_id": id.map(|i| i.to_string()) });
        self.journal.log(level, event, fields);
        self.journal.signal(Signal::DataSaveFailed {
            session_id: id,
            reason,
            exception: None,
        });
    }

    /// The first value `decode` accepts (cookie tossing: the first valid one wins), among
    /// the first [`MAX_EXAMINED`]: work per request stays bounded however many cookies a
    /// client sends. The rejected ones, and those past the cap when none verified, are
    /// logged and signalled once, with a count.
    pub(super) fn first_valid<T>(
        &self,
        values: &[String],
        decode: impl Fn(&str) -> Result<T, CookieError>,
    ) -> Option<T> {
        let mut rejected: Option<(CookieError, usize)> = None;
        let mut found = None;
        for value in values.iter().take(MAX_EXAMINED) {
            match decode(value) {
                Ok(ok) => {
                    found = Some(ok);
                    break;
                }
                Err(e) => rejected = Some(rejected.map_or((e, 1), |(first, n)| (first, n + 1))),
            }
        }
        if let Some((first, n)) = rejected {
            let skipped = if found.is_none() { values.len() - n } else { 0 };
            let count = u32::try_from(n + skipped).unwrap_or(u32::MAX);
            let fields = json!({ "reason": first.reason(), "count": count });
            self.journal.log(Level::Warn, "cookie_rejected", fields);
            self.journal.signal(Signal::CookieRejected {
                reason: first.into(),
                count,
                network: None,
                requests: None,
            });
        }
        found
    }
}
