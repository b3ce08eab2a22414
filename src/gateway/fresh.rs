//! Paths that need a recent login (SESSION_FRESH_PATHS): decided here, once the session
//! is known and before anything reaches the origin. The edge writes the response.

use super::journal::Level;
use super::{Exchange, Finished};
use crate::fresh::{signalled_path, Asked, Refusal};
use crate::signal::Signal;
use crate::store::Store;
use serde_json::json;

impl<'a, S: Store> Exchange<'a, S> {
    /// What the request gets instead of the origin when it asks for a fresh-only path
    /// and its session's auth time is unknown or older than the maximum age; `None` when
    /// it may go on (no policy, another path, or a recent login). A refusal is signalled
    /// (`session_reauth_required`) and logged; the request then ends with
    /// [`Exchange::refuse`].
    #[must_use]
    pub fn freshness(&self, asked: &Asked<'_>) -> Option<Refusal> {
        let policy = self.cx.cfg.fresh.as_ref()?;
        let path = asked.path();
        if !policy.covers(path) || policy.is_fresh(self.session.auth_time(), self.cx.now) {
            return None;
        }
        let session_id = self.session.id();
        let path = signalled_path(path);
        let refusal = policy.refusal(asked);
        let fields = json!({
            "session_id": session_id.map(|i| i.to_string()),
            "path": path,
            "status": refusal.status(),
        });
        self.cx.journal.log(Level::Info, "reauth_required", fields);
        self.cx
            .journal
            .signal(Signal::ReauthRequired { session_id, path });
        Some(refusal)
    }

    /// The request was answered without the origin (a refusal from
    /// [`Exchange::freshness`]): nothing is written and no cookie changes; the journal
    /// goes out.
    #[must_use]
    pub fn refuse(self) -> Finished {
        self.finished(Vec::new())
    }
}
