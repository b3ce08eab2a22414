//! The request path's state machine, natively: every branch over the memory store and
//! the D1 SQL on SQLite, each wrapped in a store that fails on demand. A [`Browser`]
//! keeps the cookies between requests as a browser would.

#![cfg(test)] // test-only: unwrap/expect/panic are assertions here

mod admin;
mod api;
mod cap;
mod cookie_store;
mod d1;
mod fresh;
mod headers;
mod lifetime;
mod outage;

use super::journal::Event;
use super::memory::Memory;
use super::save::RawCommands;
use super::{Context, Exchange, Finished, Inbound};
use crate::config::Config;
use crate::cookie::pending;
use crate::cookie::reference::{self, Reference};
use crate::fresh::Asked;
use crate::protocol::StoreLabel;
use crate::session::{Record, SessionId};
use crate::signal::{AuditRow, Signal};
use crate::store::{
    Counts, Directory, Listed, SessionQuery, SignalQuery, Store, StoreError, Update,
};
use crate::time::Timestamp;
use crate::write::{Deferred, Revocation};
use std::cell::Cell;
use std::collections::BTreeMap;

pub(super) const T0: Timestamp = Timestamp::from_unix(1_800_000_000);
pub(super) const SECRET: &str = "gateway-test-secret-gateway-test-secret";
pub(super) const OLD_SECRET: &str = "retired-secret-retired-secret-retired-!!";

/// A configuration from `vars` on top of a secret, a 30-minute idle timeout and the
/// cookie name `session_id` (the tests read cookies by name).
pub(super) fn config(vars: &[(&str, &str)]) -> Config {
    Config::from_vars(|name| {
        vars.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| (*v).to_owned())
            .or_else(|| match name {
                "SESSION_SECRET" => Some(SECRET.to_owned()),
                "SESSION_TIMEOUT_MINUTES" => Some("30".to_owned()),
                "SESSION_COOKIE_NAME" => Some("session_id".to_owned()),
                _ => None,
            })
    })
    .expect("test configuration")
}

/// Which operations fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fail {
    Nothing,
    Reads,
    Writes,
    All,
    /// Reads find an undecodable row.
    Corrupt,
}

/// A store that fails on demand and counts what reaches it.
pub(super) struct Flaky<S> {
    pub inner: S,
    pub fail: Cell<Fail>,
    pub reads: Cell<u32>,
    pub writes: Cell<u32>,
}

impl<S: Store> Flaky<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            fail: Cell::new(Fail::Nothing),
            reads: Cell::new(0),
            writes: Cell::new(0),
        }
    }

    /// Makes `fail` fail from now on.
    pub fn failing(&self, fail: Fail) {
        self.fail.set(fail);
    }

    /// (reads, writes) since the last call.
    pub fn ops(&self) -> (u32, u32) {
        (self.reads.replace(0), self.writes.replace(0))
    }

    /// The stored row of `id`, bypassing the failure.
    pub fn row(&self, id: SessionId) -> Option<Record> {
        pollster::block_on(self.inner.load(&id)).expect("inner store")
    }

    fn read(&self) -> Result<(), StoreError> {
        self.reads.set(self.reads.get() + 1);
        match self.fail.get() {
            Fail::Reads | Fail::All => Err(StoreError::Backend("injected read failure".into())),
            Fail::Corrupt => Err(StoreError::Corrupt(
                "injected: data is not an object".into(),
            )),
            _ => Ok(()),
        }
    }

    fn write(&self) -> Result<(), StoreError> {
        self.writes.set(self.writes.get() + 1);
        match self.fail.get() {
            Fail::Writes | Fail::All => Err(StoreError::Backend("injected write failure".into())),
            _ => Ok(()),
        }
    }
}

impl<S: Store> Store for Flaky<S> {
    async fn load(&self, id: &SessionId) -> Result<Option<Record>, StoreError> {
        self.read()?;
        self.inner.load(id).await
    }

    async fn insert(&self, record: &Record) -> Result<(), StoreError> {
        self.write()?;
        self.inner.insert(record).await
    }

    async fn update(&self, update: &Update) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.update(update).await
    }

    async fn delete(&self, id: &SessionId) -> Result<bool, StoreError> {
        self.write()?;
        self.inner.delete(id).await
    }

    async fn delete_user(&self, user_id: &str) -> Result<u64, StoreError> {
        self.write()?;
        self.inner.delete_user(user_id).await
    }

    async fn list_user(&self, user_id: &str, now: Timestamp) -> Result<Vec<Listed>, StoreError> {
        self.read()?;
        self.inner.list_user(user_id, now).await
    }

    async fn evict(
        &self,
        user_id: &str,
        except: &SessionId,
        keep: u32,
        now: Timestamp,
    ) -> Result<Vec<SessionId>, StoreError> {
        self.write()?;
        self.inner.evict(user_id, except, keep, now).await
    }

    async fn not_before(&self, user_id: &str) -> Result<Option<Timestamp>, StoreError> {
        self.read()?;
        self.inner.not_before(user_id).await
    }

    async fn revoke_before(&self, user_id: &str, at: Timestamp) -> Result<(), StoreError> {
        self.write()?;
        self.inner.revoke_before(user_id, at).await
    }
}

/// The cookies a browser keeps: `Set-Cookie` applied by name, `Max-Age=0` deletes.
#[derive(Debug, Clone, Default)]
pub(super) struct Browser {
    pub jar: BTreeMap<String, String>,
}

impl Browser {
    pub fn apply(&mut self, set_cookies: &[String]) {
        for c in set_cookies {
            let (pair, attrs) = c.split_once(';').unwrap_or((c, ""));
            let (name, value) = pair.split_once('=').expect("name=value");
            if attrs.contains("Max-Age=0;") || attrs.ends_with("Max-Age=0") {
                self.jar.remove(name);
            } else {
                self.jar.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.jar.get(name).map(String::as_str)
    }

    pub fn header(&self) -> Option<String> {
        let pairs: Vec<String> = self.jar.iter().map(|(k, v)| format!("{k}={v}")).collect();
        (!pairs.is_empty()).then(|| pairs.join("; "))
    }
}

/// What the origin sends back.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Reply<'r> {
    pub status: u16,
    pub update: Option<&'r str>,
    pub user_id: Option<&'r str>,
    pub action: Option<&'r str>,
    pub revoke: Option<&'r str>,
    pub lifetime: Option<&'r str>,
}

impl<'r> Reply<'r> {
    pub const OK: Self = Self {
        status: 200,
        update: None,
        user_id: None,
        action: None,
        revoke: None,
        lifetime: None,
    };

    pub fn update(update: &'r str) -> Self {
        Self {
            update: Some(update),
            ..Self::OK
        }
    }

    pub fn login(user: &'r str) -> Self {
        Self {
            user_id: Some(user),
            ..Self::OK
        }
    }

    pub fn action(action: &'r str) -> Self {
        Self {
            action: Some(action),
            ..Self::OK
        }
    }
}

/// One request as the edge runs it, with what each step decided.
#[derive(Debug)]
pub(super) struct Seen {
    /// `X-Session-Store`.
    pub label: StoreLabel,
    /// The session the origin was told about.
    pub session: Option<Record>,
    /// The headers injected for the origin.
    pub headers: BTreeMap<String, String>,
    /// Cookies set or cleared.
    pub set_cookies: Vec<String>,
    pub signals: Vec<Signal>,
    pub events: Vec<Event>,
    /// Revocations handed to the queue.
    pub revocations: Vec<Revocation>,
    /// What the request got instead of the origin (a stale login on a fresh-only path);
    /// `None`: the origin was called.
    pub refusal: Option<crate::fresh::Refusal>,
    /// The request's data point.
    pub metric: Option<crate::gateway::metrics::Metric>,
}

impl Seen {
    pub fn signal_names(&self) -> Vec<&'static str> {
        self.signals.iter().map(Signal::name).collect()
    }

    pub fn event_names(&self) -> Vec<&'static str> {
        self.events.iter().map(|e| e.name).collect()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    pub fn id(&self) -> Option<SessionId> {
        self.session.as_ref().map(|r| r.id)
    }
}

/// Runs one request from `browser` through the core at `now`, the origin answering
/// `reply`; `d1` is the database store (`None`: no binding). Each request in a fresh
/// isolate (its own revocation memory).
pub(super) fn request<S: Store>(
    cfg: &Config,
    d1: Option<&S>,
    browser: &mut Browser,
    now: Timestamp,
    reply: Reply<'_>,
) -> Seen {
    request_in(&Memory::default(), cfg, d1, browser, now, reply)
}

/// A page the tests ask for: `/page`, as `fetch` would (no navigation headers).
pub(super) const PAGE: Asked<'static> = Asked {
    target: "/page",
    sec_fetch_mode: None,
    accept: None,
};

/// [`request`] in an isolate that remembers `memory`.
pub(super) fn request_in<S: Store>(
    memory: &Memory,
    cfg: &Config,
    d1: Option<&S>,
    browser: &mut Browser,
    now: Timestamp,
    reply: Reply<'_>,
) -> Seen {
    request_for(memory, cfg, d1, browser, now, &PAGE, reply)
}

/// [`request_in`] asking for `asked`: a stale login on a fresh-only path is refused
/// before the origin (`reply` then goes unused).
pub(super) fn request_for<S: Store>(
    memory: &Memory,
    cfg: &Config,
    d1: Option<&S>,
    browser: &mut Browser,
    now: Timestamp,
    asked: &Asked<'_>,
    reply: Reply<'_>,
) -> Seen {
    let header = browser.header();
    let (inbound, _) = Inbound::take(
        header.as_deref(),
        &cfg.cookie.name,
        &cfg.pending_cookie.name,
    );
    pollster::block_on(async {
        let cx = Context::new(cfg, now, false, memory);
        let exchange = Exchange::begin(cx, d1, &inbound).await;
        let label = exchange.label();
        let session = exchange.session().record().cloned();
        if let Some(refusal) = exchange.freshness(asked) {
            let finished = exchange.refuse();
            browser.apply(&finished.set_cookies);
            return Seen {
                label,
                session,
                headers: BTreeMap::new(),
                set_cookies: finished.set_cookies,
                signals: finished.signals,
                events: finished.events,
                revocations: finished.revocations,
                refusal: Some(refusal),
                metric: finished.metric,
            };
        }
        let target = format!("https://app.example{}", asked.target);
        let headers = exchange
            .inject("GET", &target)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        let raw = RawCommands {
            update: reply.update,
            user_id: reply.user_id,
            action: reply.action,
            revoke: reply.revoke,
            lifetime: reply.lifetime,
        };
        let Finished {
            set_cookies,
            signals,
            events,
            revocations,
            metric,
        } = exchange.finish(reply.status, raw).await;
        browser.apply(&set_cookies);
        Seen {
            label,
            session,
            headers,
            set_cookies,
            signals,
            events,
            revocations,
            refusal: None,
            metric,
        }
    })
}

impl<S: Store + Directory> Directory for Flaky<S> {
    async fn page(&self, q: &SessionQuery, now: Timestamp) -> Result<Vec<Listed>, StoreError> {
        self.read()?;
        self.inner.page(q, now).await
    }

    async fn show(&self, id: &SessionId, now: Timestamp) -> Result<Option<Listed>, StoreError> {
        self.read()?;
        self.inner.show(id, now).await
    }

    async fn count_live(&self, now: Timestamp) -> Result<u64, StoreError> {
        self.read()?;
        self.inner.count_live(now).await
    }

    async fn count_signals(&self, since: Timestamp) -> Result<Counts, StoreError> {
        self.read()?;
        self.inner.count_signals(since).await
    }

    async fn signals(&self, q: &SignalQuery) -> Result<Vec<(i64, AuditRow)>, StoreError> {
        self.read()?;
        self.inner.signals(q).await
    }

    async fn end_user(&self, user_id: &str) -> Result<Vec<SessionId>, StoreError> {
        self.write()?;
        self.inner.end_user(user_id).await
    }

    async fn purge_expired(&self, now: Timestamp, limit: u32) -> Result<u64, StoreError> {
        self.write()?;
        self.inner.purge_expired(now, limit).await
    }
}

/// A browser talking to the gateway over `d1` under `cfg`, times in seconds from `T0`.
pub(super) struct Client<'d, S> {
    pub cfg: Config,
    pub d1: &'d Flaky<S>,
    pub browser: Browser,
    /// Every request of the client runs in this isolate.
    pub memory: Memory,
}

impl<'d, S: Store> Client<'d, S> {
    pub fn new(d1: &'d Flaky<S>, vars: &[(&str, &str)]) -> Self {
        Self {
            cfg: config(vars),
            d1,
            browser: Browser::default(),
            memory: Memory::default(),
        }
    }

    /// A client logged in as `user` at `T0`, the store's counters reset.
    pub fn logged_in(d1: &'d Flaky<S>, vars: &[(&str, &str)], user: &str) -> (Self, SessionId) {
        let mut client = Self::new(d1, vars);
        client.send(0, Reply::login(user));
        let id = client
            .reference()
            .map(|r| r.id)
            .expect("a reference cookie");
        d1.ops();
        (client, id)
    }

    /// One request at `T0 + secs`.
    pub fn send(&mut self, secs: i64, reply: Reply<'_>) -> Seen {
        let (cfg, d1) = (&self.cfg, Some(self.d1));
        request_in(
            &self.memory,
            cfg,
            d1,
            &mut self.browser,
            T0.plus(secs),
            reply,
        )
    }

    /// One request for `asked` at `T0 + secs`.
    pub fn ask(&mut self, secs: i64, asked: &Asked<'_>, reply: Reply<'_>) -> Seen {
        let (cfg, d1) = (&self.cfg, Some(self.d1));
        let now = T0.plus(secs);
        request_for(&self.memory, cfg, d1, &mut self.browser, now, asked, reply)
    }

    /// The session cookie, decoded as a reference.
    pub fn reference(&self) -> Option<Reference> {
        let value = self.browser.get(&self.cfg.cookie.name)?;
        reference::decode(&self.cfg.keys, &self.cfg.cookie.name, value).ok()
    }

    /// The pending cookie's deferred write.
    pub fn deferred(&self) -> Option<Deferred> {
        let name = &self.cfg.pending_cookie.name;
        let value = self.browser.get(name)?;
        pending::decode(&self.cfg.keys, name, value)
            .ok()
            .map(|c| c.op)
    }
}

/// One test per case per database store: `$case` functions take a `&Flaky<S>`.
macro_rules! per_store {
    ($($case:ident),+ $(,)?) => {
        mod memory {
            $(
                #[test]
                fn $case() {
                    super::$case(&$crate::gateway::tests::Flaky::new(
                        $crate::store::memory::MemoryStore::new(),
                    ));
                }
            )+
        }
        mod sqlite {
            $(
                #[test]
                fn $case() {
                    super::$case(&$crate::gateway::tests::Flaky::new(
                        $crate::store::sqlite::SqliteStore::new(),
                    ));
                }
            )+
        }
    };
}
pub(super) use per_store;
