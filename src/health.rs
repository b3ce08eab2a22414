//! What `/__session/health` reports: a bare status for everyone, and for the operator
//! (admin token or local dev) every check in words, each problem with what to do.
//!
//! The runtime runs the checks (D1, the queue binding, the origin); this module turns
//! their outcomes into the answer, so every wording is tested natively.

use crate::config::{Config, ConfigErrors, StoreKind};
use serde_json::{json, Value};

/// How D1 answered the health probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum D1Check {
    /// The cookie store runs without D1.
    NotUsed,
    /// The tables of every migration are there.
    Ok,
    /// The `SESSIONS_DB` binding is missing.
    Missing,
    /// The probe failed with this error.
    Failed(String),
}

/// How the origin answered a plain request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OriginCheck {
    /// Route mode: the origin is the request's own URL; nothing to reach from here.
    Route,
    /// It answered with this status.
    Answered(u16),
    /// It could not be reached.
    Unreachable(String),
    /// Not checked (no configuration, or the bare answer).
    NotChecked,
}

/// What the runtime found.
#[derive(Debug)]
pub struct Checks<'a> {
    /// The configuration as read.
    pub config: &'a Result<Config, ConfigErrors>,
    /// D1.
    pub d1: D1Check,
    /// Whether the `SESSION_SIGNALS` queue binding is there.
    pub queue_bound: bool,
    /// The origin.
    pub origin: OriginCheck,
    /// The rate limits whose binding is there (the others are off: no limit).
    pub rate_limits: Vec<crate::gateway::limit::Purpose>,
}

const MIGRATIONS_HINT: &str = "the D1 migrations are not (all) applied: run `npx wrangler d1 \
     migrations apply SESSIONS_DB --remote` (with `--local` under wrangler dev; `npm run \
     dev` applies them itself)";

impl Checks<'_> {
    /// Whether the gateway can serve: configuration and store. Signals are optional,
    /// and the origin is reported, not required (it may be restarting).
    #[must_use]
    pub fn ok(&self) -> bool {
        self.config.is_ok() && matches!(self.d1, D1Check::Ok | D1Check::NotUsed)
    }

    /// The HTTP status: 200 when [`Checks::ok`], else 503.
    #[must_use]
    pub fn status(&self) -> u16 {
        if self.ok() {
            200
        } else {
            503
        }
    }

    /// The public answer: the status only.
    #[must_use]
    pub fn bare(&self) -> Value {
        json!({ "status": if self.ok() { "ok" } else { "error" } })
    }

    /// The operator's answer: every check, each problem in words with what to do, the
    /// mode and the effective configuration (secrets only as set or unset).
    #[must_use]
    pub fn detail(&self) -> Value {
        let cfg = self.config.as_ref().ok();
        let config = match self.config {
            Ok(_) => json!("ok"),
            Err(e) => json!(e.0),
        };
        let d1 = match &self.d1 {
            D1Check::NotUsed => json!("not used (cookie store)"),
            D1Check::Ok => json!("ok"),
            D1Check::Missing => json!(
                "the SESSIONS_DB binding is missing: add the [[d1_databases]] block of \
                 wrangler.toml, or set SESSION_STORE=cookie"
            ),
            D1Check::Failed(e) if missing_schema(e) => {
                json!({ "error": e, "hint": MIGRATIONS_HINT })
            }
            D1Check::Failed(e) => json!({ "error": e }),
        };
        let queue = if self.queue_bound {
            json!("ok")
        } else {
            json!("the SESSION_SIGNALS queue binding is missing: signals are not sent")
        };
        let origin = match (&self.origin, cfg.and_then(|c| c.origin_url.as_deref())) {
            (OriginCheck::Route, _) => json!(
                "route mode (ORIGIN_URL unset): each request goes to its own URL, for a \
                 worker on a route in front of the origin"
            ),
            (OriginCheck::Answered(status), url) => {
                json!({ "url": url, "reachable": true, "status": status })
            }
            (OriginCheck::Unreachable(e), url) => {
                json!({ "url": url, "reachable": false, "error": e })
            }
            (OriginCheck::NotChecked, url) => json!({ "url": url }),
        };
        json!({
            "status": if self.ok() { "ok" } else { "error" },
            "version": env!("CARGO_PKG_VERSION"),
            "mode": cfg.map(|c| if c.origin_url.is_some() { "proxy" } else { "route" }),
            "config": config,
            "store": cfg.map(|c| match c.store { StoreKind::D1 => "d1", StoreKind::Cookie => "cookie" }),
            "d1": d1,
            "queue": queue,
            "origin": origin,
            "rate_limits": crate::gateway::limit::health(&self.rate_limits),
            "settings": cfg.map(Config::summary),
        })
    }
}

/// Whether a D1 error says a table or column of the migrations is missing.
fn missing_schema(error: &str) -> bool {
    error.contains("no such table") || error.contains("no such column")
}

/// The answer to a request that would loop in route mode under local development: the
/// gateway's own loopback URL is no origin. `None` when the request may go on.
#[must_use]
pub fn route_mode_in_dev(cfg: &Config, request_url: &str) -> Option<&'static str> {
    (cfg.origin_url.is_none() && crate::admin::is_loopback(request_url)).then_some(
        "sessiongate: ORIGIN_URL is not set, so this gateway is in route mode: it sends \
         each request to its own URL, which under `wrangler dev` is this gateway itself.\n\
         Set the origin to put your app behind it:\n  \
         npm run dev -- --origin http://127.0.0.1:3000\n\
         or ORIGIN_URL in .dev.vars or in wrangler.toml [vars]. Route mode is for a \
         deployed worker on a route in front of its origin.\n",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        Config::from_vars(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
                .or_else(|| match name {
                    "SESSION_SECRET" => Some("s".repeat(32)),
                    "SESSION_TIMEOUT_MINUTES" => Some("30".into()),
                    _ => None,
                })
        })
    }

    fn checks(
        config: &Result<Config, ConfigErrors>,
        d1: D1Check,
        origin: OriginCheck,
    ) -> Checks<'_> {
        Checks {
            config,
            d1,
            queue_bound: true,
            origin,
            rate_limits: Vec::new(),
        }
    }

    #[test]
    fn every_configuration_problem_is_listed_at_once() {
        let cfg = config(&[("SESSION_STORE", "redis"), ("ORIGIN_URL", "ftp://x")]);
        let c = checks(&cfg, D1Check::Ok, OriginCheck::NotChecked);
        assert_eq!((c.status(), c.bare()), (503, json!({ "status": "error" })));
        let d = c.detail();
        let settings: Vec<&str> = d["config"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["setting"].as_str().unwrap())
            .collect();
        assert_eq!(settings, ["SESSION_STORE", "ORIGIN_URL"]);
        assert!(d["config"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("`d1` or `cookie`"));
    }

    #[test]
    fn missing_migrations_come_with_the_command_that_applies_them() {
        let cfg = config(&[]);
        let failed = D1Check::Failed("D1_ERROR: no such column: context: SQLITE_ERROR".into());
        let d = checks(&cfg, failed, OriginCheck::Route).detail();
        assert_eq!(d["status"], "error");
        assert!(d["d1"]["hint"]
            .as_str()
            .unwrap()
            .contains("migrations apply SESSIONS_DB"));
        let down = D1Check::Failed("D1_ERROR: network".into());
        assert_eq!(
            checks(&cfg, down, OriginCheck::Route).detail()["d1"].get("hint"),
            None
        );
        let missing = checks(&cfg, D1Check::Missing, OriginCheck::Route).detail();
        assert!(missing["d1"]
            .as_str()
            .unwrap()
            .contains("SESSIONS_DB binding is missing"));
    }

    #[test]
    fn the_detail_names_the_mode_the_origin_and_settings_without_secrets() {
        let secret = "origin-secret-origin-secret-origin-secret";
        let cfg = config(&[
            ("ORIGIN_URL", "http://127.0.0.1:3000"),
            ("ORIGIN_SECRET", secret),
        ]);
        let down = OriginCheck::Unreachable("connection refused".into());
        let d = checks(&cfg, D1Check::Ok, down).detail();
        assert_eq!(
            (d["status"].as_str(), d["mode"].as_str()),
            (Some("ok"), Some("proxy"))
        );
        assert_eq!(d["origin"]["reachable"], false);
        assert_eq!(d["origin"]["url"], "http://127.0.0.1:3000");
        assert_eq!(d["settings"]["ORIGIN_SECRET"], "set");
        assert_eq!(d["settings"]["SESSION_SECRET"], "set");
        assert_eq!(d["settings"]["SESSION_TIMEOUT_MINUTES"], 30);
        let text = d.to_string();
        assert!(
            !text.contains(secret) && !text.contains(&"s".repeat(32)),
            "{text}"
        );
        let route = config(&[]);
        let r = checks(&route, D1Check::Ok, OriginCheck::Route).detail();
        assert_eq!(r["mode"], "route");
    }

    #[test]
    fn route_mode_on_a_loopback_host_says_what_to_set() {
        let route = config(&[]).unwrap();
        let said = route_mode_in_dev(&route, "http://127.0.0.1:8787/").unwrap();
        assert!(said.contains("ORIGIN_URL") && said.contains("--origin"));
        assert_eq!(
            route_mode_in_dev(&route, "https://app.example/"),
            None,
            "deployed"
        );
        let proxy = config(&[("ORIGIN_URL", "http://127.0.0.1:3000")]).unwrap();
        assert_eq!(route_mode_in_dev(&proxy, "http://127.0.0.1:8787/"), None);
    }
}
