//! The request path's session decisions, with no runtime in sight: which store serves a
//! request ([`resolve`]), the headers the origin receives ([`inject`]), what the origin's
//! commands do and how they are saved ([`save`]), and every cookie that goes back
//! ([`cookies`]). The edge (`src/edge/`, wasm only) keeps the runtime glue: it strips
//! and sets headers, forwards the request, and hands the journal to the log and the
//! queue. Everything here runs natively, over any [`Store`], with the clock an argument.
//!
//! One request is one [`Exchange`]:
//!
//! ```text
//! Exchange::begin(cx, d1, &inbound)   cookies -> Resolution -> the serving store + session
//! exchange.freshness(&asked)          a stale login on a fresh-only path: 303 / 401
//!   then exchange.refuse()            (the origin never sees it)
//! exchange.inject(method, target)     the session headers for the origin
//! exchange.finish(status, commands)   commands applied, saved, Set-Cookie values
//!   or exchange.abandon()             the origin was unreachable
//! ```

pub mod admin;
pub mod api;
pub mod backend;
pub mod cap;
pub mod cookies;
pub mod fresh;
pub mod inject;
pub mod journal;
pub mod limit;
pub mod logout;
pub mod memory;
pub mod metrics;
pub mod resolve;
pub mod save;

#[cfg(test)]
mod tests;

use crate::config::Config;
use crate::cookie::Outgoing;
use crate::manager::SessionManager;
use crate::protocol::{Commands, StoreLabel};
use crate::session::Session;
use crate::signal::Signal;
use crate::store::Store;
use crate::time::Timestamp;
use crate::write::Revocation;
use backend::Backend;
use journal::{Event, Journal};
use memory::Memory;
use metrics::Metric;
pub use resolve::{Inbound, Resolution};

/// What every step of a request needs: the configuration, the time, the journal, and
/// what the isolate remembers of revocations.
#[derive(Debug)]
pub struct Context<'a> {
    /// The worker's configuration.
    pub cfg: &'a Config,
    /// The request's time (the core never reads a clock).
    pub now: Timestamp,
    /// The request's signals and log events.
    pub journal: Journal,
    /// The isolate's revocation memory.
    pub memory: &'a Memory,
    /// The rate limits ([`Context::with_limits`]); `None`: nothing is limited.
    limits: Option<limit::Limits<'a>>,
}

impl<'a> Context<'a> {
    /// The context of a request at `now` in an isolate that remembers `memory`; `first`
    /// when it is the isolate's first request (recorded as
    /// `session_manager_initialized`).
    #[must_use]
    pub fn new(cfg: &'a Config, now: Timestamp, first: bool, memory: &'a Memory) -> Self {
        let journal = Journal::default();
        if first {
            journal.signal(Signal::ManagerInitialized {
                timeout_secs: cfg.expiry.idle_secs,
            });
        }
        Self {
            cfg,
            now,
            journal,
            memory,
            limits: None,
        }
    }

    /// What the request leaves: `set_cookies` and everything the journal holds.
    fn finished(&self, set_cookies: Vec<String>) -> Finished {
        Finished {
            set_cookies,
            signals: self.journal.take_signals(),
            events: self.journal.take_events(),
            revocations: self.journal.take_revocations(),
            metric: None,
        }
    }

    /// A manager over `backend` that records into this request's journal.
    fn manager<'s, S: Store>(&self, backend: Backend<'s, S>) -> SessionManager<Backend<'s, S>> {
        SessionManager::with_log(backend, self.cfg.expiry, self.journal.signals().clone())
    }
}

/// One request's session, from its cookies to the cookies of its response.
#[derive(Debug)]
pub struct Exchange<'a, S> {
    cx: Context<'a>,
    /// D1, when bound (in cookie mode it keeps the per-user revocation times).
    d1: Option<&'a S>,
    manager: SessionManager<Backend<'a, S>>,
    session: Session,
    /// `X-Session-Store`.
    label: StoreLabel,
    /// A session cookie was sent, valid or not.
    cookie_seen: bool,
    /// The session cookie verified under a fallback key: re-issue it.
    reissue: bool,
    /// The pending cookie to send whatever the store does (written back, or unusable).
    pending: Outgoing,
    /// The request started with a valid session.
    loaded: bool,
    /// The origin's commands that applied.
    applied: Commands,
}

/// What a request leaves behind: the `Set-Cookie` values of its response, and its
/// journal for the log and the queue.
#[derive(Debug, Clone, PartialEq)]
pub struct Finished {
    /// `Set-Cookie` header values, in order.
    pub set_cookies: Vec<String>,
    /// The signals to send.
    pub signals: Vec<Signal>,
    /// The log events to write.
    pub events: Vec<Event>,
    /// Logouts and revoke-users D1 did not take: for the queue, which retries them.
    pub revocations: Vec<Revocation>,
    /// The data point of a request that went to the origin (or was refused on its way).
    pub metric: Option<Metric>,
}

impl<'a, S: Store> Exchange<'a, S> {
    /// The session as it stands (after [`Exchange::finish`]'s commands, as saved).
    #[must_use]
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Where the session came from (`X-Session-Store`).
    #[must_use]
    pub fn label(&self) -> StoreLabel {
        self.label
    }

    /// The request's context.
    #[must_use]
    pub fn context(&self) -> &Context<'a> {
        &self.cx
    }

    /// The origin could not be reached: nothing changes, the journal goes out.
    #[must_use]
    pub fn abandon(self) -> Finished {
        self.finished(Vec::new())
    }

    fn finished(self, set_cookies: Vec<String>) -> Finished {
        let mut finished = self.cx.finished(set_cookies);
        finished.metric = Some(Metric::of(
            self.label,
            self.loaded,
            &finished.signals,
            &self.applied,
            self.session.id(),
        ));
        finished
    }
}
