//! Rate limits through the Workers Rate Limiting binding, one binding per purpose so an
//! operator sets each limit on its own (see [`Purpose`]); a purpose whose binding is
//! missing is not limited, and `/__session/health` says so.
//!
//! Every key is the purpose and the client's network (IPv4 /24, IPv6 /48, from
//! `CF-Connecting-IP`, see [`crate::device::network`]): never an address, a cookie or a
//! token. The core decides; the edge only answers [`Limiter`] calls, so native tests
//! run every decision over a fake limiter.
//!
//! - **Session creation** ([`Purpose::Create`]): consulted only when a response would
//!   create a session (the steady state with a session never calls it). Over the limit,
//!   the commands that would create it are dropped: no row, no cookie, a
//!   `session_creation_failed` signal (at most once per network and isolate every
//!   [`REMEMBER_SECS`]). The origin already answered that request, so it is told on the
//!   next requests without a session from that network: `<prefix>Rate-Limited: create`,
//!   for [`REMEMBER_SECS`] after the latest refusal this isolate saw.
//! - **APIs** ([`Purpose::Api`], [`Purpose::Admin`], [`Purpose::Logout`]): over the
//!   limit, `429` with `Retry-After: 60` (the binding does not say when its window ends;
//!   60 s is the longest period it takes); a `rate_limited` log line at most once per
//!   network, limit and isolate every [`REMEMBER_SECS`].
//! - **Forged-cookie floods** ([`Purpose::CookieRejected`], a binding with limit 1): the
//!   first `session_cookie_rejected` of a network in the binding's window is sent (with
//!   `network` and `requests`, how many requests with rejected cookies this isolate saw
//!   from it since its last signal, this one included); the others are counted, not
//!   signalled or logged. Once the binding has answered for a network, the isolate does
//!   not ask again for [`REMEMBER_SECS`]: a flood costs at most one limiter call per
//!   network and isolate every 10 s.
//!
//! A limiter that fails is logged (`rate_limit_failed`) and lets the request through: a
//! limit is never worth refusing everyone.

use super::journal::{Event, Journal, Level};
use super::{Context, Exchange, Finished};
use crate::device;
use crate::protocol::StoreLabel;
use crate::session::Session;
use crate::signal::{Exception, Signal};
use crate::store::Store;
use crate::time::Timestamp;
use serde_json::{json, Value};
use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use thiserror::Error;

/// How long an isolate remembers what a limiter told it about a network, in seconds (the
/// shortest period a binding takes).
pub const REMEMBER_SECS: i64 = 10;
/// The `Retry-After` of a `429`, in seconds: the longest period a binding takes.
pub const RETRY_AFTER_SECS: u32 = 60;
/// The value of `<prefix>Rate-Limited` when session creation is over its limit.
pub const CREATE_HINT: &str = "create";
/// Networks an isolate remembers at most per map (expired entries go first, then all).
const MAX_NETWORKS: usize = 4096;

/// What a rate limit protects; each purpose has its own binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Purpose {
    /// Sessions created per client network (`SESSION_CREATE_LIMIT`).
    Create,
    /// The self-service API, `/__session/api/` (`SESSION_API_LIMIT`).
    Api,
    /// The admin API, `/__session/admin/api/` (`SESSION_ADMIN_LIMIT`).
    Admin,
    /// `POST /__session/logout` (`SESSION_LOGOUT_LIMIT`).
    Logout,
    /// `session_cookie_rejected` signals per client network (`SESSION_COOKIE_REJECTED_LIMIT`,
    /// meant with limit 1).
    CookieRejected,
}

impl Purpose {
    /// Every purpose, in the order health lists them.
    pub const ALL: [Self; 5] = [
        Self::Create,
        Self::Api,
        Self::Admin,
        Self::Logout,
        Self::CookieRejected,
    ];

    /// The name of its binding in wrangler.toml (`[[ratelimits]] name`).
    #[must_use]
    pub const fn binding(self) -> &'static str {
        match self {
            Self::Create => "SESSION_CREATE_LIMIT",
            Self::Api => "SESSION_API_LIMIT",
            Self::Admin => "SESSION_ADMIN_LIMIT",
            Self::Logout => "SESSION_LOGOUT_LIMIT",
            Self::CookieRejected => "SESSION_COOKIE_REJECTED_LIMIT",
        }
    }

    /// Its short name, in keys and log lines.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Api => "api",
            Self::Admin => "admin",
            Self::Logout => "logout",
            Self::CookieRejected => "cookie_rejected",
        }
    }

    /// What it limits, in words (health).
    #[must_use]
    pub const fn what(self) -> &'static str {
        match self {
            Self::Create => "session creation per client network",
            Self::Api => "the self-service API (/__session/api/) per client network",
            Self::Admin => "the admin API (/__session/admin/api/) per client network",
            Self::Logout => "POST /__session/logout per client network",
            Self::CookieRejected => "session_cookie_rejected signals per client network",
        }
    }

    /// The key under which the binding counts `network`: the purpose first, so one
    /// namespace shared by several bindings still counts each apart.
    #[must_use]
    pub fn key(self, network: &str) -> String {
        format!("{}:{network}", self.as_str())
    }
}

/// What a binding answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Within the limit (counted).
    Allowed,
    /// Over the limit.
    Over,
    /// No binding for this purpose: no limit.
    Unbound,
}

/// Why a limiter could not answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum LimitError {
    /// The binding's call failed (the runtime's message).
    #[error("rate limiter {binding} failed: {message}")]
    Failed {
        /// The binding.
        binding: &'static str,
        /// What the runtime said.
        message: String,
    },
}

/// A limiter's pending answer.
pub type Pending<'a> = Pin<Box<dyn Future<Output = Result<Verdict, LimitError>> + 'a>>;

/// The rate limiting bindings of one request, as the core calls them (the edge answers
/// with the Workers binding; tests with a fake).
pub trait Limiter {
    /// Whether `purpose` has a binding.
    fn bound(&self, purpose: Purpose) -> bool;

    /// The client's address (`CF-Connecting-IP`), read only when a limit is consulted.
    fn client_ip(&self) -> Option<String>;

    /// Counts one event under `key` against `purpose`'s binding.
    ///
    /// # Errors
    /// [`LimitError`] when the binding's call fails.
    fn limit<'a>(&'a self, purpose: Purpose, key: &'a str) -> Pending<'a>;
}

/// What an isolate remembers of limits, per network: refusals (to tell the origin, and
/// to report them at most once per [`REMEMBER_SECS`]) and rejected cookies not yet
/// signalled. The edge keeps one per isolate; it bounds itself.
#[derive(Debug, Default)]
pub struct Recent {
    /// [`Purpose::key`] -> when it was last refused, and last reported.
    refused: RefCell<HashMap<String, Refused>>,
    /// When any creation was last refused: past [`REMEMBER_SECS`] there is nothing to
    /// look up.
    latest_refusal: Cell<Option<Timestamp>>,
    /// Network -> rejected-cookie requests not signalled, and when the binding last
    /// answered for it.
    rejected: RefCell<HashMap<String, Unsignalled>>,
}

#[derive(Debug, Clone, Copy)]
struct Refused {
    last: Timestamp,
    reported: Timestamp,
}

#[derive(Debug, Clone, Copy)]
struct Unsignalled {
    asked_at: Timestamp,
    requests: u32,
}

impl Recent {
    /// Whether a creation from `network` was refused within [`REMEMBER_SECS`] of `now`.
    #[must_use]
    pub fn refuses_creation(&self, network: &str, now: Timestamp) -> bool {
        self.refused
            .borrow()
            .get(&Purpose::Create.key(network))
            .is_some_and(|r| now.seconds_since(r.last) < REMEMBER_SECS)
    }

    /// Whether no refusal is remembered at `now` (the common case: nothing to look up,
    /// not even the client's address).
    #[must_use]
    pub fn no_refusals(&self, now: Timestamp) -> bool {
        self.latest_refusal
            .get()
            .is_none_or(|at| now.seconds_since(at) >= REMEMBER_SECS)
    }

    /// Remembers that `network` was refused by `purpose`'s limit at `now`; `true` when
    /// the refusal is to be reported (logged, signalled): the first in
    /// [`REMEMBER_SECS`] for that limit and network.
    fn refused(&self, purpose: Purpose, network: &str, now: Timestamp) -> bool {
        if purpose == Purpose::Create {
            self.latest_refusal.set(Some(now));
        }
        let key = purpose.key(network);
        let mut refused = self.refused.borrow_mut();
        make_room(&mut refused, &key, |r| {
            now.seconds_since(r.last) < REMEMBER_SECS
        });
        let entry = refused.entry(key).or_insert(Refused {
            last: now,
            reported: now.plus(-REMEMBER_SECS),
        });
        entry.last = now;
        let report = now.seconds_since(entry.reported) >= REMEMBER_SECS;
        if report {
            entry.reported = now;
        }
        report
    }

    /// `network` is within `purpose`'s limit again: forgotten (for creations, the
    /// origin is no longer told).
    fn allowed(&self, purpose: Purpose, network: &str) {
        let mut refused = self.refused.borrow_mut();
        if !refused.is_empty() {
            refused.remove(&purpose.key(network));
        }
    }

    /// Whether the binding answered for `network`'s rejected cookies within
    /// [`REMEMBER_SECS`] (then it is not asked again).
    fn rejections_quiet(&self, network: &str, now: Timestamp) -> bool {
        self.rejected
            .borrow()
            .get(network)
            .is_some_and(|u| now.seconds_since(u.asked_at) < REMEMBER_SECS)
    }

    /// A rejected-cookie request from `network` that is not signalled; `asked` when the
    /// binding was asked now.
    fn rejection_counted(&self, network: &str, now: Timestamp, asked: bool) {
        let mut rejected = self.rejected.borrow_mut();
        make_room(&mut rejected, network, |u| {
            now.seconds_since(u.asked_at) < 6 * REMEMBER_SECS
        });
        let entry = rejected.entry(network.to_owned()).or_insert(Unsignalled {
            asked_at: now,
            requests: 0,
        });
        entry.requests = entry.requests.saturating_add(1);
        if asked {
            entry.asked_at = now;
        }
    }

    /// A rejected-cookie request from `network` that is signalled: how many requests the
    /// signal stands for (the unsignalled ones and this one).
    fn rejection_signalled(&self, network: &str, now: Timestamp) -> u32 {
        let mut rejected = self.rejected.borrow_mut();
        make_room(&mut rejected, network, |u| {
            now.seconds_since(u.asked_at) < 6 * REMEMBER_SECS
        });
        let before = rejected.insert(
            network.to_owned(),
            Unsignalled {
                asked_at: now,
                requests: 0,
            },
        );
        before.map_or(0, |u| u.requests).saturating_add(1)
    }
}

/// Room for `key` in `map`: past [`MAX_NETWORKS`], only the entries `live` keeps stay;
/// if that is still too many, none.
fn make_room<V>(map: &mut HashMap<String, V>, key: &str, live: impl Fn(&V) -> bool) {
    if map.len() >= MAX_NETWORKS && !map.contains_key(key) {
        map.retain(|_, v| live(v));
        if map.len() >= MAX_NETWORKS {
            map.clear();
        }
    }
}

/// The limits of one request: the bindings and the isolate's memory.
#[derive(Clone, Copy)]
pub struct Limits<'a> {
    /// The bindings.
    pub limiter: &'a dyn Limiter,
    /// What the isolate remembers.
    pub recent: &'a Recent,
}

impl fmt::Debug for Limits<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Limits")
            .field("recent", self.recent)
            .finish_non_exhaustive()
    }
}

/// What consulting a limit found.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Check {
    /// No limit applies (no binding, no client network, or the limiter failed).
    Off,
    /// Within the limit, for this network.
    Allowed(String),
    /// Over the limit, for this network.
    Over(String),
}

impl Limits<'_> {
    /// The client's network, `None` when its address is missing or not an address.
    fn network(&self) -> Option<String> {
        self.limiter
            .client_ip()
            .as_deref()
            .and_then(device::network)
    }

    /// Asks `purpose`'s binding about this client's network; a failure is logged into
    /// `journal` and lets the request through.
    async fn check(&self, purpose: Purpose, journal: &Journal) -> Check {
        if !self.limiter.bound(purpose) {
            return Check::Off;
        }
        let Some(network) = self.network() else {
            let fields = json!({ "limit": purpose.as_str(), "reason": "no client address" });
            journal.log(Level::Warn, "rate_limit_skipped", fields);
            return Check::Off;
        };
        match self.limiter.limit(purpose, &purpose.key(&network)).await {
            Ok(Verdict::Allowed) => Check::Allowed(network),
            Ok(Verdict::Over) => Check::Over(network),
            Ok(Verdict::Unbound) => Check::Off,
            Err(e) => {
                let fields = json!({ "limit": purpose.as_str(), "error": e.to_string() });
                journal.log(Level::Error, "rate_limit_failed", fields);
                Check::Off
            }
        }
    }

    /// At most one `session_cookie_rejected` per client network per window of the
    /// [`Purpose::CookieRejected`] binding: the request's signal is kept with `network`
    /// and `requests` added, or dropped with its `cookie_rejected` log line and counted.
    /// Without that binding (or a client network), every rejection is signalled.
    pub async fn aggregate_rejections(&self, finished: &mut Finished, now: Timestamp) {
        let rejected = |s: &Signal| matches!(s, Signal::CookieRejected { .. });
        let Some(at) = finished.signals.iter().position(rejected) else {
            return;
        };
        let purpose = Purpose::CookieRejected;
        if !self.limiter.bound(purpose) {
            return;
        }
        let Some(network) = self.network() else {
            return;
        };
        let quiet = self.recent.rejections_quiet(&network, now);
        // Within REMEMBER_SECS of the binding's last answer for this network: not asked.
        let signalled = !quiet
            && match self.limiter.limit(purpose, &purpose.key(&network)).await {
                Ok(Verdict::Allowed) => true,
                Ok(Verdict::Over) => false,
                Ok(Verdict::Unbound) => return,
                Err(e) => {
                    finished.events.push(Event {
                        level: Level::Error,
                        name: "rate_limit_failed",
                        fields: json!({ "limit": purpose.as_str(), "error": e.to_string() }),
                    });
                    return;
                }
            };
        if !signalled {
            self.recent.rejection_counted(&network, now, !quiet);
            finished.signals.remove(at);
            finished.events.retain(|e| e.name != "cookie_rejected");
            return;
        }
        let count = self.recent.rejection_signalled(&network, now);
        if let Some(Signal::CookieRejected {
            network: n,
            requests,
            ..
        }) = finished.signals.get_mut(at)
        {
            *n = Some(network.clone());
            *requests = Some(count);
        }
        for e in &mut finished.events {
            if let (true, Value::Object(fields)) = (e.name == "cookie_rejected", &mut e.fields) {
                fields.insert("network".into(), json!(network));
                fields.insert("requests".into(), json!(count));
            }
        }
    }
}

/// A request over its API limit: `429` with `Retry-After`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooMany {
    /// The limit it is over.
    pub purpose: Purpose,
    /// `Retry-After`, in seconds.
    pub retry_after: u32,
}

impl TooMany {
    /// The JSON body of the `429`.
    #[must_use]
    pub fn body(&self) -> Value {
        json!({
            "error": "too many requests from your network: try again later",
            "retry_after": self.retry_after,
        })
    }
}

impl<'a> Context<'a> {
    /// This request's rate limits (without them, nothing is limited).
    #[must_use]
    pub fn with_limits(mut self, limits: Limits<'a>) -> Self {
        self.limits = Some(limits);
        self
    }

    /// Whether a request to `purpose`'s endpoints may go on: `Some` when its network is
    /// over the limit (answer `429`, then [`Context::refused`]); logged `rate_limited` at
    /// most once per network and limit every [`REMEMBER_SECS`] (a flood of refused
    /// requests is not a flood of log lines).
    pub async fn admit(&self, purpose: Purpose) -> Option<TooMany> {
        let limits = self.limits?;
        let network = match limits.check(purpose, &self.journal).await {
            Check::Over(network) => network,
            Check::Allowed(network) => {
                limits.recent.allowed(purpose, &network);
                return None;
            }
            Check::Off => return None,
        };
        if limits.recent.refused(purpose, &network, self.now) {
            let fields = json!({ "limit": purpose.as_str(), "network": network });
            self.journal.log(Level::Warn, "rate_limited", fields);
        }
        Some(TooMany {
            purpose,
            retry_after: RETRY_AFTER_SECS,
        })
    }

    /// What a request refused before any work leaves: its journal, no cookie.
    #[must_use]
    pub fn refused(self) -> Finished {
        self.finished(Vec::new())
    }
}

impl<'a, S: Store> Exchange<'a, S> {
    /// `<prefix>Rate-Limited: create` for the origin, when this request has no session
    /// and a creation from its network was refused lately (this isolate remembers it for
    /// [`REMEMBER_SECS`]): a session it asks for now will likely be refused too. Costs
    /// nothing while no refusal is remembered.
    #[must_use]
    pub fn rate_limit_hint(&self) -> Option<(&'a str, &'static str)> {
        let limits = self.cx.limits?;
        if !self.session.is_new() || limits.recent.no_refusals(self.cx.now) {
            return None;
        }
        let network = limits.network()?;
        let name = self.cx.cfg.headers.rate_limited.as_str();
        limits
            .recent
            .refuses_creation(&network, self.cx.now)
            .then_some((name, CREATE_HINT))
    }

    /// Whether the commands applied would create a session (the only case the creation
    /// limit is asked about): none yet, and something to store. Never while the store
    /// is unavailable (nothing is written then anyway).
    fn would_create(&self) -> bool {
        let s = &self.session;
        if !s.is_new() || self.label == StoreLabel::Unavailable {
            return false;
        }
        let p = s.unsaved();
        !p.delete && (p.create || p.login.is_some() || !p.changes.is_empty())
    }

    /// Before the save: when the commands would create a session and the client's
    /// network is over [`Purpose::Create`]'s limit, they are dropped (no row, no
    /// cookie); logged and signalled `session_creation_failed` at most once per network
    /// every [`REMEMBER_SECS`]. `true` when refused.
    pub(super) async fn creation_refused(&mut self) -> bool {
        if !self.would_create() {
            return false;
        }
        let Some(limits) = self.cx.limits else {
            return false;
        };
        let (journal, now) = (&self.cx.journal, self.cx.now);
        let network = match limits.check(Purpose::Create, journal).await {
            Check::Over(network) => network,
            Check::Allowed(network) => {
                limits.recent.allowed(Purpose::Create, &network);
                return false;
            }
            Check::Off => return false,
        };
        if limits.recent.refused(Purpose::Create, &network, now) {
            let user_id = self.session.user_id().map(str::to_owned);
            let fields = json!({ "network": network, "user_id": user_id });
            journal.log(Level::Warn, "session_creation_rate_limited", fields);
            journal.signal(Signal::CreationFailed {
                user_id,
                exception: Exception::new(
                    "RateLimited",
                    format!(
                        "session creation from {network} is over its rate limit ({})",
                        Purpose::Create.binding()
                    ),
                ),
            });
        }
        self.session = Session::new();
        true
    }
}

/// Each purpose's binding, on or off, in words (the operator's health detail).
#[must_use]
pub fn health(bound: &[Purpose]) -> Value {
    let mut each = serde_json::Map::new();
    for p in Purpose::ALL {
        let state = if bound.contains(&p) {
            format!("on: {}", p.what())
        } else {
            format!("off (no binding): {} is not limited", p.what())
        };
        each.insert(p.binding().to_owned(), Value::String(state));
    }
    Value::Object(each)
}

#[cfg(test)]
mod tests {
    use super::super::memory::Memory;
    use super::super::save::RawCommands;
    use super::super::tests::{config, per_store, Browser, Flaky, Reply, T0};
    use super::super::{Context, Exchange, Finished, Inbound};
    use super::*;
    use crate::config::Config;
    use crate::signal::Reason;
    use std::cell::Cell;

    /// A binding per purpose in `bound`, each allowing `limit` events per key until
    /// [`Fake::new_window`]; it records every key it is asked about.
    struct Fake {
        bound: Vec<Purpose>,
        ip: Option<&'static str>,
        limit: u32,
        fail: Cell<bool>,
        counts: RefCell<HashMap<String, u32>>,
        keys: RefCell<Vec<String>>,
    }

    impl Fake {
        fn new(bound: &[Purpose], limit: u32) -> Self {
            Self {
                bound: bound.to_vec(),
                ip: Some("203.0.113.77"),
                limit,
                fail: Cell::new(false),
                counts: RefCell::default(),
                keys: RefCell::default(),
            }
        }

        fn calls(&self) -> usize {
            self.keys.borrow().len()
        }

        fn new_window(&self) {
            self.counts.borrow_mut().clear();
        }
    }

    impl Limiter for Fake {
        fn bound(&self, purpose: Purpose) -> bool {
            self.bound.contains(&purpose)
        }

        fn client_ip(&self) -> Option<String> {
            self.ip.map(str::to_owned)
        }

        fn limit<'a>(&'a self, purpose: Purpose, key: &'a str) -> Pending<'a> {
            Box::pin(async move {
                self.keys.borrow_mut().push(key.to_owned());
                if !self.bound(purpose) {
                    return Ok(Verdict::Unbound);
                }
                if self.fail.get() {
                    return Err(LimitError::Failed {
                        binding: purpose.binding(),
                        message: "injected".into(),
                    });
                }
                let mut counts = self.counts.borrow_mut();
                let n = counts.entry(key.to_owned()).or_insert(0);
                *n += 1;
                Ok(if *n > self.limit {
                    Verdict::Over
                } else {
                    Verdict::Allowed
                })
            })
        }
    }

    /// What one request through the core showed.
    struct Seen {
        headers: Vec<(String, String)>,
        finished: Finished,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            let found = self.headers.iter().find(|(n, _)| n == name);
            found.map(|(_, v)| v.as_str())
        }

        fn signal_names(&self) -> Vec<&'static str> {
            self.finished.signals.iter().map(Signal::name).collect()
        }

        fn event_names(&self) -> Vec<&'static str> {
            self.finished.events.iter().map(|e| e.name).collect()
        }
    }

    /// One request as the edge runs it, with `limits`.
    fn send<S: Store>(
        cfg: &Config,
        d1: Option<&S>,
        limits: Limits<'_>,
        browser: &mut Browser,
        secs: i64,
        reply: Reply<'_>,
    ) -> Seen {
        let memory = Memory::default();
        let header = browser.header();
        let names = (&cfg.cookie.name, &cfg.pending_cookie.name);
        let (inbound, _) = Inbound::take(header.as_deref(), names.0, names.1);
        let now = T0.plus(secs);
        pollster::block_on(async {
            let cx = Context::new(cfg, now, false, &memory).with_limits(limits);
            let exchange = Exchange::begin(cx, d1, &inbound).await;
            let mut headers: Vec<(String, String)> = exchange
                .inject("GET", "https://app.example/page")
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v))
                .collect();
            if let Some((k, v)) = exchange.rate_limit_hint() {
                headers.push((k.to_owned(), v.to_owned()));
            }
            let raw = RawCommands {
                update: reply.update,
                user_id: reply.user_id,
                action: reply.action,
                revoke: reply.revoke,
                lifetime: reply.lifetime,
            };
            let mut finished = exchange.finish(reply.status, raw).await;
            limits.aggregate_rejections(&mut finished, now).await;
            browser.apply(&finished.set_cookies);
            Seen { headers, finished }
        })
    }

    const HINT: &str = "X-Session-Rate-Limited";

    per_store!(
        creation_over_the_limit_creates_nothing_and_the_origin_is_told,
        a_session_in_hand_never_asks_the_limiter,
        no_binding_no_limit,
        a_failing_limiter_lets_creation_through,
    );

    fn creation_over_the_limit_creates_nothing_and_the_origin_is_told<S: Store>(d1: &Flaky<S>) {
        let cfg = config(&[]);
        let (fake, recent) = (Fake::new(&[Purpose::Create], 2), Recent::default());
        let limits = Limits {
            limiter: &fake,
            recent: &recent,
        };
        // Two visitors of one network get sessions: a row and a cookie each.
        for secs in [0, 1] {
            let mut b = Browser::default();
            let seen = send(
                &cfg,
                Some(d1),
                limits,
                &mut b,
                secs,
                Reply::update(r#"{"a":1}"#),
            );
            assert_eq!(seen.header(HINT), None);
            assert!(b.get("session_id").is_some());
            assert_eq!(d1.ops().1, 1, "one insert");
        }
        // The third is over: nothing written, no cookie, signalled once.
        let mut b = Browser::default();
        let seen = send(&cfg, Some(d1), limits, &mut b, 2, Reply::login("ann"));
        assert_eq!(seen.header(HINT), None, "the origin had answered already");
        assert!(seen.finished.set_cookies.is_empty(), "no Set-Cookie");
        assert_eq!(d1.ops(), (0, 0), "no row");
        assert_eq!(seen.signal_names(), ["session_creation_failed"]);
        match &seen.finished.signals[0] {
            Signal::CreationFailed { user_id, exception } => {
                assert_eq!(user_id.as_deref(), Some("ann"));
                assert_eq!(exception.kind, "RateLimited");
                assert!(exception.message.contains("203.0.113.0/24"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(seen.event_names(), ["session_creation_rate_limited"]);
        // The next request without a session tells the origin before it answers; its
        // creation is refused too, without a second signal.
        let seen = send(&cfg, Some(d1), limits, &mut b, 3, Reply::action("create"));
        assert_eq!(seen.header(HINT), Some("create"));
        assert!(seen.finished.set_cookies.is_empty());
        assert_eq!(d1.ops().1, 0);
        assert!(
            seen.finished.signals.is_empty(),
            "{:?}",
            seen.signal_names()
        );
        // A request that creates nothing passes untouched (and is not counted).
        let calls = fake.calls();
        let seen = send(&cfg, Some(d1), limits, &mut b, 4, Reply::OK);
        assert_eq!(seen.header(HINT), Some("create"));
        assert_eq!(fake.calls(), calls, "nothing to create: no limiter call");
        // Every key is the purpose and the network, never the address.
        assert!(fake
            .keys
            .borrow()
            .iter()
            .all(|k| k == "create:203.0.113.0/24"));
        // Past the remembered time the origin is no longer told; in a new window the
        // binding allows again, and the hint is forgotten at once.
        let later = REMEMBER_SECS + 3;
        let seen = send(&cfg, Some(d1), limits, &mut b, later, Reply::OK);
        assert_eq!(seen.header(HINT), None);
        fake.new_window();
        let seen = send(
            &cfg,
            Some(d1),
            limits,
            &mut b,
            later,
            Reply::update(r#"{"a":1}"#),
        );
        assert!(b.get("session_id").is_some(), "created");
        assert!(seen
            .finished
            .signals
            .iter()
            .any(|s| s.name() == "session_created"));
        assert!(!recent.refuses_creation("203.0.113.0/24", T0.plus(later)));
        assert!(recent.no_refusals(T0.plus(later)));
    }

    fn a_session_in_hand_never_asks_the_limiter<S: Store>(d1: &Flaky<S>) {
        let cfg = config(&[]);
        let (fake, recent) = (Fake::new(&Purpose::ALL, 1), Recent::default());
        let limits = Limits {
            limiter: &fake,
            recent: &recent,
        };
        let mut b = Browser::default();
        send(&cfg, Some(d1), limits, &mut b, 0, Reply::login("ann"));
        assert_eq!(fake.calls(), 1, "the creation");
        d1.ops();
        // Steady state, writes, a logout from the origin: one read each, no limiter.
        send(&cfg, Some(d1), limits, &mut b, 1, Reply::OK);
        assert_eq!(d1.ops(), (1, 0));
        send(
            &cfg,
            Some(d1),
            limits,
            &mut b,
            2,
            Reply::update(r#"{"b":2}"#),
        );
        send(&cfg, Some(d1), limits, &mut b, 3, Reply::action("cycle"));
        send(&cfg, Some(d1), limits, &mut b, 4, Reply::action("delete"));
        assert_eq!(fake.calls(), 1);
        let _ = send(
            &cfg,
            Some(d1),
            limits,
            &mut Browser::default(),
            5,
            Reply::OK,
        );
        assert_eq!(fake.calls(), 1, "a visitor who writes nothing");
    }

    fn no_binding_no_limit<S: Store>(d1: &Flaky<S>) {
        let cfg = config(&[]);
        let (fake, recent) = (Fake::new(&[], 0), Recent::default());
        let limits = Limits {
            limiter: &fake,
            recent: &recent,
        };
        for secs in 0..5 {
            let mut b = Browser::default();
            let seen = send(
                &cfg,
                Some(d1),
                limits,
                &mut b,
                secs,
                Reply::update(r#"{"a":1}"#),
            );
            assert!(b.get("session_id").is_some());
            assert_eq!(seen.header(HINT), None);
        }
        assert_eq!(fake.calls(), 0, "an unbound purpose is never called");
    }

    fn a_failing_limiter_lets_creation_through<S: Store>(d1: &Flaky<S>) {
        let cfg = config(&[]);
        let (fake, recent) = (Fake::new(&[Purpose::Create], 0), Recent::default());
        fake.fail.set(true);
        let limits = Limits {
            limiter: &fake,
            recent: &recent,
        };
        let mut b = Browser::default();
        let seen = send(
            &cfg,
            Some(d1),
            limits,
            &mut b,
            0,
            Reply::update(r#"{"a":1}"#),
        );
        assert!(b.get("session_id").is_some(), "fail open");
        assert!(seen.event_names().contains(&"rate_limit_failed"));
        assert_eq!(d1.ops().1, 1);
    }

    #[test]
    fn the_cookie_store_creates_nothing_over_the_limit() {
        let cfg = config(&[("SESSION_STORE", "cookie")]);
        let (fake, recent) = (Fake::new(&[Purpose::Create], 1), Recent::default());
        let limits = Limits {
            limiter: &fake,
            recent: &recent,
        };
        let none: Option<&Flaky<crate::store::memory::MemoryStore>> = None;
        let mut first = Browser::default();
        send(
            &cfg,
            none,
            limits,
            &mut first,
            0,
            Reply::update(r#"{"a":1}"#),
        );
        assert!(first.get("session_id").is_some());
        let mut second = Browser::default();
        let seen = send(
            &cfg,
            none,
            limits,
            &mut second,
            1,
            Reply::update(r#"{"a":1}"#),
        );
        assert!(seen.finished.set_cookies.is_empty(), "no cookie session");
        assert_eq!(seen.signal_names(), ["session_creation_failed"]);
        let seen = send(&cfg, none, limits, &mut second, 2, Reply::OK);
        assert_eq!(seen.header(HINT), Some("create"));
        // The first visitor's cookie session goes on, and never asks the limiter again.
        let calls = fake.calls();
        send(
            &cfg,
            none,
            limits,
            &mut first,
            3,
            Reply::update(r#"{"a":2}"#),
        );
        assert_eq!(fake.calls(), calls);
        assert!(first.get("session_id").is_some());
    }

    #[test]
    fn an_api_over_its_limit_gets_429_and_a_failing_limiter_lets_it_through() {
        let cfg = config(&[]);
        let memory = Memory::default();
        let (fake, recent) = (
            Fake::new(&[Purpose::Api, Purpose::Logout], 2),
            Recent::default(),
        );
        let limits = Limits {
            limiter: &fake,
            recent: &recent,
        };
        let admit_at = |purpose, secs| {
            pollster::block_on(async {
                let cx = Context::new(&cfg, T0.plus(secs), false, &memory).with_limits(limits);
                let verdict = cx.admit(purpose).await;
                (verdict, cx.refused())
            })
        };
        let admit = |purpose| admit_at(purpose, 0);
        assert_eq!(admit(Purpose::Api).0, None);
        assert_eq!(admit(Purpose::Api).0, None);
        let (over, finished) = admit(Purpose::Api);
        let over = over.expect("over the limit");
        assert_eq!((over.retry_after, over.purpose), (60, Purpose::Api));
        assert_eq!(over.body()["retry_after"], 60);
        let event = &finished.events[0];
        assert_eq!(event.name, "rate_limited");
        assert_eq!(event.fields["network"], "203.0.113.0/24");
        assert!(finished.signals.is_empty());
        // Refused again: logged at most once per network every REMEMBER_SECS.
        let (over, finished) = admit_at(Purpose::Api, REMEMBER_SECS - 1);
        assert!(over.is_some() && finished.events.is_empty());
        let (over, finished) = admit_at(Purpose::Api, REMEMBER_SECS);
        assert!(over.is_some());
        assert_eq!(finished.events[0].name, "rate_limited");
        // Each purpose counts apart; an unbound one is not limited.
        assert_eq!(admit(Purpose::Logout).0, None);
        for _ in 0..5 {
            assert_eq!(admit(Purpose::Admin).0, None);
        }
        fake.fail.set(true);
        let (verdict, finished) = admit(Purpose::Api);
        assert_eq!(verdict, None, "fail open");
        assert_eq!(finished.events[0].name, "rate_limit_failed");
        // Without limits at all, nothing is asked.
        let calls = fake.calls();
        let cx = Context::new(&cfg, T0, false, &memory);
        assert_eq!(pollster::block_on(cx.admit(Purpose::Api)), None);
        assert_eq!(fake.calls(), calls);
    }

    #[test]
    fn an_unknown_client_address_is_not_limited() {
        let cfg = config(&[]);
        let memory = Memory::default();
        let mut fake = Fake::new(&[Purpose::Api], 0);
        fake.ip = Some("not an address");
        let recent = Recent::default();
        let limits = Limits {
            limiter: &fake,
            recent: &recent,
        };
        let cx = Context::new(&cfg, T0, false, &memory).with_limits(limits);
        assert_eq!(pollster::block_on(cx.admit(Purpose::Api)), None);
        assert_eq!(fake.calls(), 0);
        assert_eq!(cx.refused().events[0].name, "rate_limit_skipped");
    }

    /// A request's journal with one rejected cookie, as `first_valid` records it.
    fn rejected() -> Finished {
        Finished {
            set_cookies: Vec::new(),
            signals: vec![Signal::CookieRejected {
                reason: Reason::BadSignature,
                count: 1,
                network: None,
                requests: None,
            }],
            events: vec![Event {
                level: Level::Warn,
                name: "cookie_rejected",
                fields: json!({ "reason": "bad_signature", "count": 1 }),
            }],
            revocations: Vec::new(),
            metric: None,
        }
    }

    #[test]
    fn a_forged_cookie_flood_is_one_signal_per_network_per_window() {
        let fake = Fake::new(&[Purpose::CookieRejected], 1);
        let recent = Recent::default();
        let limits = Limits {
            limiter: &fake,
            recent: &recent,
        };
        let run = |secs: i64| {
            let mut f = rejected();
            pollster::block_on(limits.aggregate_rejections(&mut f, T0.plus(secs)));
            f
        };
        let first = run(0);
        assert_eq!(
            first.signals,
            [Signal::CookieRejected {
                reason: Reason::BadSignature,
                count: 1,
                network: Some("203.0.113.0/24".into()),
                requests: Some(1),
            }]
        );
        assert_eq!(first.events[0].fields["requests"], 1);
        // The rest of the flood: no signal, no log line, and within REMEMBER_SECS not
        // even a limiter call.
        for secs in 1..5 {
            let f = run(secs);
            assert!(f.signals.is_empty() && f.events.is_empty());
        }
        assert_eq!(fake.calls(), 1);
        // Later in the binding's window: asked again, still over: counted.
        assert!(run(REMEMBER_SECS + 1).signals.is_empty());
        assert_eq!(fake.calls(), 2);
        // A new window: one signal standing for every request since the last.
        fake.new_window();
        let next = run(3 * REMEMBER_SECS);
        match &next.signals[..] {
            [Signal::CookieRejected { requests, .. }] => assert_eq!(*requests, Some(6)),
            other => panic!("{other:?}"),
        }
        // Other signals of the request are never touched.
        let mut f = rejected();
        f.signals
            .insert(0, Signal::ManagerInitialized { timeout_secs: 60 });
        pollster::block_on(limits.aggregate_rejections(&mut f, T0.plus(3 * REMEMBER_SECS + 1)));
        assert_eq!(f.signals, [Signal::ManagerInitialized { timeout_secs: 60 }]);
    }

    #[test]
    fn without_its_binding_every_rejection_is_signalled_as_before() {
        let recent = Recent::default();
        for fake in [Fake::new(&[], 1), {
            let f = Fake::new(&[Purpose::CookieRejected], 1);
            f.fail.set(true);
            f
        }] {
            let limits = Limits {
                limiter: &fake,
                recent: &recent,
            };
            for secs in 0..3 {
                let mut f = rejected();
                pollster::block_on(limits.aggregate_rejections(&mut f, T0.plus(secs)));
                assert_eq!(f.signals, rejected().signals, "unchanged");
                assert_eq!(f.events[0].fields, rejected().events[0].fields);
            }
        }
    }

    #[test]
    fn the_memory_stays_bounded() {
        let recent = Recent::default();
        let net = |i: usize| format!("10.{}.{}.0/24", i / 256, i % 256);
        for i in 0..MAX_NETWORKS {
            recent.refused(Purpose::Create, &net(i), T0);
            recent.rejection_counted(&net(i), T0, true);
        }
        assert_eq!(recent.refused.borrow().len(), MAX_NETWORKS);
        // Full of live entries: they all go (a flood cannot grow the memory).
        recent.rejection_counted("192.0.2.0/24", T0, true);
        assert_eq!(recent.rejected.borrow().len(), 1);
        // Past the remembered time, old entries make room first.
        let later = T0.plus(6 * REMEMBER_SECS);
        assert!(recent.refused(Purpose::Create, "192.0.2.0/24", later));
        assert_eq!(recent.refused.borrow().len(), 1);
    }

    #[test]
    fn health_names_each_binding_on_or_off() {
        let h = health(&[Purpose::Create]);
        assert!(h["SESSION_CREATE_LIMIT"]
            .as_str()
            .unwrap()
            .starts_with("on:"));
        for p in &Purpose::ALL[1..] {
            let state = h[p.binding()].as_str().unwrap();
            assert!(state.starts_with("off (no binding)"), "{state}");
        }
        assert_eq!(h.as_object().unwrap().len(), 5);
    }
}
