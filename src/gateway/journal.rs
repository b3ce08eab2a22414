//! What one request records besides its response: lifecycle signals (one log that every
//! manager of the request shares), log events, and revocations D1 did not take, all
//! handed to the edge at the end.

use crate::signal::{Signal, SignalLog};
use crate::write::Revocation;
use serde_json::Value;
use std::cell::RefCell;

/// How serious a log event is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// Expected (an expired session, an unknown id).
    Info,
    /// Suspicious input or a degraded path (a forged cookie, a fallback).
    Warn,
    /// A failure (D1, a lost write).
    Error,
}

impl Level {
    /// The level as log lines spell it.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// One log line: an event name and its fields (a JSON object of ids, counts and error
/// messages; never a cookie value, a MAC or a secret).
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Its level.
    pub level: Level,
    /// The event, e.g. `store_unavailable`.
    pub name: &'static str,
    /// Its fields.
    pub fields: Value,
}

/// The signals and log events of one request.
#[derive(Debug, Default)]
pub struct Journal {
    signals: SignalLog,
    events: RefCell<Vec<Event>>,
    revocations: RefCell<Vec<Revocation>>,
}

impl Journal {
    /// The shared signal log, for the managers of the request.
    #[must_use]
    pub fn signals(&self) -> &SignalLog {
        &self.signals
    }

    /// Records `signal`.
    pub fn signal(&self, signal: Signal) {
        self.signals.push(signal);
    }

    /// Records a log event.
    pub fn log(&self, level: Level, name: &'static str, fields: Value) {
        self.events.borrow_mut().push(Event {
            level,
            name,
            fields,
        });
    }

    /// Records a revocation D1 did not take, for the queue.
    pub fn revoke(&self, revocation: Revocation) {
        self.revocations.borrow_mut().push(revocation);
    }

    /// The revocations recorded so far; the journal then holds none.
    #[must_use]
    pub fn take_revocations(&self) -> Vec<Revocation> {
        std::mem::take(&mut self.revocations.borrow_mut())
    }

    /// The signals recorded so far, in order; the log is then empty.
    #[must_use]
    pub fn take_signals(&self) -> Vec<Signal> {
        self.signals.take()
    }

    /// The log events recorded so far, in order; the journal then holds none.
    #[must_use]
    pub fn take_events(&self) -> Vec<Event> {
        std::mem::take(&mut self.events.borrow_mut())
    }
}
