//! One data point per proxied request, for Workers Analytics Engine: which store served
//! it, what became of its session, what the origin asked for. Decided here from what the
//! request did; the edge adds the D1 and origin times and writes it without awaiting.

use crate::protocol::{Commands, StoreLabel};
use crate::session::SessionId;
use crate::signal::Signal;

/// What became of the request's session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// A valid session was found.
    Hit,
    /// No session cookie, or one naming no session: the request started without one.
    New,
    /// The cookie named a session past its expiry.
    Expired,
    /// A session cookie did not verify.
    Forged,
    /// D1 failed: served from the cookies' snapshot.
    Fallback,
    /// D1 failed and nothing could stand in for it: no identity.
    Unavailable,
}

impl Outcome {
    /// The name written to the data point.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hit => "hit",
            Self::New => "new",
            Self::Expired => "expired",
            Self::Forged => "forged",
            Self::Fallback => "fallback",
            Self::Unavailable => "unavailable",
        }
    }
}

/// One request's data point, but for the times only the edge can take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// `X-Session-Store`.
    pub store: StoreLabel,
    /// What became of the session cookie.
    pub outcome: Outcome,
    /// The origin's commands that applied, by name (none: empty, no allocation).
    pub commands: Vec<&'static str>,
    /// The session's expiry was renewed (one write).
    pub renewed: bool,
    /// A session was created.
    pub created: bool,
    /// The commands logged a user in.
    pub login: bool,
    /// The session after the request, if any.
    pub session: Option<SessionId>,
}

impl Metric {
    /// The data point of a request served by `store`, which started with a session
    /// (`loaded`) or not, recorded `signals`, and applied `commands`.
    #[must_use]
    pub fn of(
        store: StoreLabel,
        loaded: bool,
        signals: &[Signal],
        commands: &Commands,
        session: Option<SessionId>,
    ) -> Self {
        let any = |f: fn(&Signal) -> bool| signals.iter().any(f);
        let outcome = match store {
            StoreLabel::Unavailable => Outcome::Unavailable,
            StoreLabel::CookieFallback => Outcome::Fallback,
            _ if loaded => Outcome::Hit,
            _ if any(|s| matches!(s, Signal::CookieRejected { .. })) => Outcome::Forged,
            _ if any(|s| matches!(s, Signal::Expired { .. })) => Outcome::Expired,
            _ => Outcome::New,
        };
        Self {
            store,
            outcome,
            commands: commands.names(),
            renewed: any(|s| matches!(s, Signal::Renewed { .. })),
            created: any(|s| matches!(s, Signal::Created { .. })),
            // A login that landed: the session moved to a new id, or was created, with
            // a user (a refused or failed one is not counted).
            login: commands.login.is_some()
                && any(|s| {
                    matches!(
                        s,
                        Signal::Cycled {
                            user_id: Some(_),
                            ..
                        } | Signal::Created {
                            user_id: Some(_),
                            ..
                        }
                    )
                }),
            session,
        }
    }

    /// The commands comma-joined (`""`: none), as the data point holds them. Formatted
    /// only when a point is written.
    #[must_use]
    pub fn commands_text(&self) -> String {
        self.commands.join(",")
    }

    /// The first 8 hex digits of the session id (`""`: none): enough to count distinct
    /// sessions, never to name one (and no cookie without its MAC).
    #[must_use]
    pub fn session_prefix(&self) -> String {
        self.session
            .and_then(|id| id.to_string().get(..8).map(str::to_owned))
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::signal::Reason;
    use crate::time::Timestamp;

    #[test]
    fn the_outcome_follows_what_the_request_did() {
        let none = Commands::default();
        let id = SessionId::random();
        let forged = [Signal::CookieRejected {
            reason: Reason::BadSignature,
            count: 1,
            network: None,
            requests: None,
        }];
        let expired = [Signal::Expired {
            session_id: id,
            expired_at: Timestamp::from_unix(1),
        }];
        let of = |store, loaded, signals: &[Signal]| {
            Metric::of(store, loaded, signals, &none, None).outcome
        };
        assert_eq!(of(StoreLabel::D1, true, &[]), Outcome::Hit);
        assert_eq!(of(StoreLabel::D1, false, &[]), Outcome::New);
        assert_eq!(of(StoreLabel::Cookie, false, &forged), Outcome::Forged);
        assert_eq!(of(StoreLabel::D1, false, &expired), Outcome::Expired);
        assert_eq!(of(StoreLabel::CookieFallback, true, &[]), Outcome::Fallback);
        assert_eq!(
            of(StoreLabel::Unavailable, false, &forged),
            Outcome::Unavailable
        );
        assert_eq!(Outcome::Unavailable.as_str(), "unavailable");
    }

    #[test]
    fn commands_renewals_and_creations_are_counted() {
        let (cmds, _) = crate::protocol::parse_commands(&crate::protocol::RawCommands {
            update: Some("{\"a\":1}"),
            user_id: Some("ann"),
            action: Some("reauthenticated"),
            lifetime: Some("remember"),
            ..Default::default()
        });
        let id = SessionId::random();
        let signals = [
            Signal::Created {
                session_id: id,
                user_id: Some("ann".into()),
            },
            Signal::Renewed {
                session_id: id,
                expires_at: Timestamp::from_unix(9),
            },
        ];
        let m = Metric::of(StoreLabel::D1, false, &signals, &cmds, Some(id));
        assert_eq!(m.session_prefix(), id.to_string()[..8]);
        assert_eq!(m.commands_text(), "update,login,reauthenticated,lifetime");
        assert!(m.renewed && m.created && m.login);
        let refused = Metric::of(StoreLabel::D1, false, &[], &cmds, None);
        assert!(!refused.login, "a login that did not land is not counted");
        let quiet = Metric::of(StoreLabel::D1, true, &[], &Commands::default(), None);
        assert_eq!(quiet.session_prefix(), "");
        assert_eq!(quiet.commands_text(), "");
        assert!(!quiet.renewed && !quiet.created && !quiet.login);
    }
}
