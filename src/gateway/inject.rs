//! The session headers the origin receives, and the assertion that vouches for them.

use super::journal::Level;
use super::Exchange;
use crate::assertion::{self, Claims};
use crate::lifetime::Lifetime;
use crate::protocol::{encode_data, header_safe};
use crate::session::Data;
use crate::signal::{Reason, Signal};
use crate::store::Store;
use crate::url;
use serde_json::json;

impl<'a, S: Store> Exchange<'a, S> {
    /// The headers to set on the request forwarded to `target` (with `method`): the
    /// session's id, user, data, expiry, auth time (when known), whether it is new, where
    /// it came from, and the assertion when ORIGIN_SECRET is set. Data over the header budget is withheld
    /// (its size announced) and a user id that is not header-safe is left out; both are
    /// logged, the first also signalled.
    #[must_use]
    pub fn inject(&self, method: &str, target: &str) -> Vec<(&'a str, String)> {
        let (cfg, names) = (self.cx.cfg, &self.cx.cfg.headers);
        let record = self.session.record();
        let sid = record.map(|rec| rec.id.to_string());
        let mut out = Vec::with_capacity(8);
        let mut data = encode_data(record.map_or(&Data::new(), |rec| &rec.data));
        if data.len() > cfg.header_budget {
            out.push((names.data_omitted.as_str(), data.len().to_string()));
            if let Some(rec) = record {
                let fields =
                    json!({ "session_id": sid, "bytes": data.len(), "budget": cfg.header_budget });
                self.cx
                    .journal
                    .log(Level::Warn, "data_over_header_budget", fields);
                self.cx.journal.signal(Signal::DataRetrievalFailed {
                    session_id: rec.id,
                    reason: Reason::HeaderBudgetExceeded,
                });
            }
            data = encode_data(&Data::new());
        }
        // A user id that is not printable ASCII never becomes a header (CR/LF injection).
        let user = record.and_then(|rec| rec.user_id.as_deref());
        let user = user.filter(|u| header_safe(u));
        if user.is_none() && record.is_some_and(|rec| rec.user_id.is_some()) {
            let fields = json!({ "session_id": sid });
            self.cx
                .journal
                .log(Level::Warn, "user_id_not_header_safe", fields);
        }
        if let Some(rec) = record {
            out.push((names.id.as_str(), rec.id.to_string()));
            if let Some(user) = user {
                out.push((names.user_id.as_str(), user.to_owned()));
            }
            out.push((names.expires_at.as_str(), rec.expires_at.to_rfc3339()));
            if let Some(at) = rec.auth_time {
                out.push((names.auth_time.as_str(), at.to_rfc3339()));
            }
            if rec.lifetime != Lifetime::Default {
                out.push((names.lifetime.as_str(), rec.lifetime.to_string()));
            }
        }
        let new = if record.is_some() { "0" } else { "1" };
        out.push((names.new.as_str(), new.to_owned()));
        out.push((names.store.as_str(), self.label.as_str().to_owned()));
        if let Some(secret) = &cfg.origin_secret {
            // Audience and path as the origin receives them (ORIGIN_URL may add a base path).
            let claims = Claims::new(
                &cfg.worker_name,
                url::host(target),
                user,
                sid,
                method,
                url::path(target),
                &data,
                self.cx.now,
            )
            .authenticated_at(record.and_then(|rec| rec.auth_time));
            let jwt = assertion::sign(secret.expose().as_bytes(), &claims);
            out.push((names.assertion.as_str(), jwt));
        }
        out.push((names.data.as_str(), data));
        out
    }
}
