//! Configuration from environment variables (wrangler `[vars]` and secrets).
//!
//! Every error names its setting; secrets are never defaulted and never echoed.

use crate::cookie::key::{Key, Keyring};
use crate::cookie::{CookieConfig, SameSite};
use crate::expiry::ExpiryPolicy;
use crate::fresh::FreshPolicy;
use crate::protocol::{is_token_char, HeaderNames};
use crate::signal::SignalFilter;
use std::fmt;
use subtle::ConstantTimeEq;
use thiserror::Error;

/// Purpose string of the cookie MAC key derived from SESSION_SECRET.
const COOKIE_KEY_PURPOSE: &str = "cookie";
/// Longest accepted timeout: 400 days, the cap browsers put on cookie lifetimes.
const MAX_MINUTES: i64 = 400 * 24 * 60;

/// A setting that is missing or invalid.
#[derive(Debug, Clone, PartialEq, Eq, Error, serde::Serialize)]
#[error("{setting}: {problem}")]
pub struct ConfigError {
    /// The environment variable at fault.
    pub setting: &'static str,
    /// What is wrong with it (never its value when it is a secret).
    pub problem: String,
}

fn err(setting: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        problem: problem.into(),
    }
}

/// Where session state lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreKind {
    /// Rows in D1, a signed reference in the cookie.
    D1,
    /// The whole session in a signed cookie, nothing on the server.
    Cookie,
}

/// A secret string with a redacted `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The secret's bytes.
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// The whole configuration of a sessiongate worker.
#[derive(Debug, Clone)]
pub struct Config {
    /// Expiry rules.
    pub expiry: ExpiryPolicy,
    /// Session cookie name and attributes.
    pub cookie: CookieConfig,
    /// The pending cookie of the outage fallback (the session cookie's name + `-pending`).
    pub pending_cookie: CookieConfig,
    /// The store in use.
    pub store: StoreKind,
    /// Cookie signing keys (SESSION_SECRET + SESSION_SECRET_FALLBACKS).
    pub keys: Keyring,
    /// Origin base URL without a trailing slash; `None` = route mode.
    pub origin_url: Option<String>,
    /// Key of the origin assertion; `None` = no assertion.
    pub origin_secret: Option<Secret>,
    /// Names of every header of the protocol, under SESSION_HEADER_PREFIX.
    pub headers: HeaderNames,
    /// Largest `X-Session-Data` value sent to the origin, in bytes
    /// (SESSION_HEADER_BUDGET_BYTES).
    pub header_budget: usize,
    /// Path prefixes on which the origin also receives the user's session list
    /// (SESSION_LIST_PATHS, comma separated); empty = never.
    pub list_paths: Vec<String>,
    /// Which signals are sent.
    pub signals: SignalFilter,
    /// Bearer token of the admin API; `None` = admin API off.
    pub admin_token: Option<Secret>,
    /// Worker name in signal envelopes (WORKER_NAME).
    pub worker_name: String,
    /// Days audit rows are kept (SESSION_SIGNAL_RETENTION_DAYS); 0 = forever.
    pub signal_retention_days: i64,
    /// How long after its cookie was issued a session survives a D1 outage on its signed
    /// snapshot (SESSION_FALLBACK_WINDOW_SECONDS); 0 = no fallback.
    pub fallback_window_secs: i64,
    /// SESSION_STRICT_REVOCATION: no identity and no write without D1 (ASVS 7.4.1 with no
    /// exceptions): no outage fallback, nothing kept in a pending cookie.
    pub strict_revocation: bool,
    /// Seconds before the consumer retries a batch D1 refused
    /// (SESSION_SIGNAL_RETRY_SECONDS).
    pub signal_retry_secs: u32,
    /// Paths that need a recent login (SESSION_FRESH_PATHS,
    /// SESSION_FRESH_MAX_AGE_SECONDS, SESSION_REAUTH_URL); `None` = no such path.
    pub fresh: Option<FreshPolicy>,
    /// How many live sessions a user may hold (SESSION_MAX_PER_USER,
    /// SESSION_LIMIT_STRATEGY); `None` = no cap.
    pub cap: Option<SessionCap>,
}

/// What a login beyond the cap does (SESSION_LIMIT_STRATEGY).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitStrategy {
    /// `evict_oldest`: the login goes through and the user's oldest sessions beyond the
    /// cap are deleted.
    EvictOldest,
    /// `reject`: the login is not performed; the session stays as it was.
    Reject,
}

impl LimitStrategy {
    /// The setting's value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::EvictOldest => "evict_oldest",
            Self::Reject => "reject",
        }
    }
}

/// The cap on live sessions per user, checked at login only (D1 store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCap {
    /// Live sessions a user may hold, at least 1.
    pub max: u32,
    /// What a login beyond it does.
    pub strategy: LimitStrategy,
}

/// Largest SESSION_MAX_PER_USER: what a user's list holds.
pub const MAX_PER_USER: i64 = 100;

/// Every setting that is missing or invalid, in the order they are read (at least one).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{}", list(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn list(problems: &[ConfigError]) -> String {
    let shown: Vec<String> = problems.iter().map(ToString::to_string).collect();
    shown.join("; ")
}

impl ConfigErrors {
    /// The first problem (there is always one).
    #[must_use]
    pub fn first(&self) -> Option<&ConfigError> {
        self.0.first()
    }
}

/// The problems found so far: a setting that fails is noted and reading goes on, so one
/// answer names them all.
#[derive(Default)]
struct Problems(Vec<ConfigError>);

impl Problems {
    fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        result.map_err(|e| self.0.push(e)).ok()
    }
}

impl Config {
    /// Reads the configuration through `var`, which returns a variable's value or `None`
    /// when it is unset. An empty value counts as unset.
    ///
    /// # Errors
    /// Every missing or invalid setting, each named.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigErrors> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        let mut p = Problems::default();

        let idle_min = p
            .take(
                minutes(&get, "SESSION_TIMEOUT_MINUTES", None).and_then(|m| match m {
                    0 => Err(err("SESSION_TIMEOUT_MINUTES", "must be at least 1")),
                    m => Ok(m),
                }),
            )
            .unwrap_or(1);
        let absolute_min = p
            .take(minutes(
                &get,
                "SESSION_ABSOLUTE_TIMEOUT_MINUTES",
                Some(10_080),
            ))
            .unwrap_or(0);
        let renew_after_secs = p
            .take(integer(
                &get,
                "SESSION_RENEW_AFTER_SECONDS",
                60,
                0,
                idle_min * 60 - 1,
            ))
            .unwrap_or(0);
        let (remember_min, max_idle_min, max_absolute_min) = p
            .take(lifetime_bounds(&get, idle_min, absolute_min))
            .unwrap_or((idle_min, idle_min, absolute_min));
        let expiry = ExpiryPolicy {
            idle_secs: idle_min * 60,
            absolute_secs: absolute_min * 60,
            renew_after_secs,
            remember_secs: remember_min * 60,
            max_idle_secs: max_idle_min * 60,
            max_absolute_secs: max_absolute_min * 60,
        };

        let cookie = p.take(cookie_config(&get));
        let store = p
            .take(match get("SESSION_STORE").as_deref().map(str::trim) {
                None | Some("d1") => Ok(StoreKind::D1),
                Some("cookie") => Ok(StoreKind::Cookie),
                Some(other) => Err(err(
                    "SESSION_STORE",
                    format!("expected `d1` or `cookie`, got `{other}`"),
                )),
            })
            .unwrap_or(StoreKind::D1);

        let secret = p.take(get("SESSION_SECRET").ok_or_else(|| {
            err(
                "SESSION_SECRET",
                "is required (set it with `wrangler secret put SESSION_SECRET`)",
            )
        }));
        let current = secret.as_ref().and_then(|secret| {
            p.take(
                Key::derive(secret.as_bytes(), COOKIE_KEY_PURPOSE)
                    .map_err(|e| err("SESSION_SECRET", e.to_string())),
            )
        });
        let mut fallbacks = Vec::new();
        for (i, old) in get("SESSION_SECRET_FALLBACKS")
            .unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .enumerate()
        {
            let key = Key::derive(old.as_bytes(), COOKIE_KEY_PURPOSE)
                .map_err(|e| err("SESSION_SECRET_FALLBACKS", format!("entry {}: {e}", i + 1)));
            fallbacks.extend(p.take(key));
        }

        let origin_url = p
            .take(
                get("ORIGIN_URL")
                    .map(|u| crate::url::normalize_base(&u))
                    .transpose()
                    .map_err(|e| err("ORIGIN_URL", e.to_string())),
            )
            .flatten();
        let origin_secret = p
            .take(origin_secret(&get, secret.as_deref().unwrap_or_default()))
            .flatten();

        let strict = p
            .take(boolean(&get, "SESSION_STRICT_REVOCATION", false))
            .unwrap_or(false);
        let prefix = get("SESSION_HEADER_PREFIX").unwrap_or_else(|| "X-Session-".to_owned());
        let headers = p.take(
            HeaderNames::new(prefix.trim())
                .map_err(|e| err("SESSION_HEADER_PREFIX", e.to_string())),
        );
        let signals = p.take(
            get("SESSION_SIGNAL_FILTER")
                .map_or(Ok(SignalFilter::Lifecycle), |raw| SignalFilter::parse(&raw))
                .map_err(|e| err("SESSION_SIGNAL_FILTER", e.to_string())),
        );
        // Within what origins' HTTP servers accept for all headers (8-16 KB).
        let header_budget = p.take(integer(
            &get,
            "SESSION_HEADER_BUDGET_BYTES",
            8192,
            256,
            65_536,
        ));
        let list_paths = p.take(list_paths(&get));
        let worker_name = p.take(worker_name(&get));
        let fallback_window_secs = p.take(fallback_window(&get, expiry.idle_secs, strict));
        let signal_retention_days =
            p.take(integer(&get, "SESSION_SIGNAL_RETENTION_DAYS", 30, 0, 3650));
        // Within the 12 h a queue accepts as a retry delay; the range makes the cast exact.
        let signal_retry_secs =
            p.take(integer(&get, "SESSION_SIGNAL_RETRY_SECONDS", 30, 0, 43_200));
        let fresh = p.take(fresh(&get));
        let cap = p.take(cap(&get, store));

        let (
            Some(cookie),
            Some(current),
            Some(headers),
            Some(signals),
            Some(header_budget),
            Some(list_paths),
            Some(worker_name),
            Some(fallback_window_secs),
            Some(signal_retention_days),
            Some(signal_retry_secs),
            Some(fresh),
            Some(cap),
        ) = (
            cookie,
            current,
            headers,
            signals,
            header_budget,
            list_paths,
            worker_name,
            fallback_window_secs,
            signal_retention_days,
            signal_retry_secs,
            fresh,
            cap,
        )
        else {
            return Err(ConfigErrors(p.0));
        };
        if !p.0.is_empty() {
            return Err(ConfigErrors(p.0));
        }
        Ok(Self {
            expiry,
            pending_cookie: cookie.pending(),
            cookie,
            store,
            keys: Keyring::new(current, fallbacks),
            origin_url,
            origin_secret,
            headers,
            header_budget: header_budget as usize,
            signals,
            list_paths,
            admin_token: get("SESSION_ADMIN_TOKEN").map(Secret),
            worker_name,
            fallback_window_secs,
            strict_revocation: strict,
            signal_retention_days,
            signal_retry_secs: signal_retry_secs as u32,
            fresh,
            cap,
        })
    }
}

impl Config {
    /// The effective settings by variable name, for the operator's health detail:
    /// secrets only as `set` or `unset`, never their value.
    #[must_use]
    pub fn summary(&self) -> serde_json::Value {
        let set = |on: bool| if on { "set" } else { "unset" };
        let signals = match &self.signals {
            SignalFilter::Lifecycle => "lifecycle".to_owned(),
            SignalFilter::All => "all".to_owned(),
            SignalFilter::None => "none".to_owned(),
            SignalFilter::Only(names) => names.join(","),
        };
        serde_json::json!({
            "SESSION_STORE": match self.store { StoreKind::D1 => "d1", StoreKind::Cookie => "cookie" },
            "ORIGIN_URL": self.origin_url,
            "SESSION_TIMEOUT_MINUTES": self.expiry.idle_secs / 60,
            "SESSION_ABSOLUTE_TIMEOUT_MINUTES": self.expiry.absolute_secs / 60,
            "SESSION_RENEW_AFTER_SECONDS": self.expiry.renew_after_secs,
            "SESSION_REMEMBER_MINUTES": self.expiry.remember_secs / 60,
            "SESSION_MAX_IDLE_MINUTES": self.expiry.max_idle_secs / 60,
            "SESSION_MAX_ABSOLUTE_MINUTES": self.expiry.max_absolute_secs / 60,
            "SESSION_COOKIE_NAME": self.cookie.name,
            "SESSION_COOKIE_SECURE": self.cookie.secure,
            "SESSION_COOKIE_SAMESITE": self.cookie.same_site.as_str(),
            "SESSION_COOKIE_DOMAIN": self.cookie.domain,
            "SESSION_COOKIE_PATH": self.cookie.path,
            "SESSION_SECRET": "set",
            "SESSION_SECRET_FALLBACKS": self.keys.fallbacks(),
            "ORIGIN_SECRET": set(self.origin_secret.is_some()),
            "SESSION_ADMIN_TOKEN": set(self.admin_token.is_some()),
            "SESSION_HEADER_BUDGET_BYTES": self.header_budget,
            "SESSION_LIST_PATHS": self.list_paths,
            "SESSION_SIGNAL_FILTER": signals,
            "SESSION_SIGNAL_RETENTION_DAYS": self.signal_retention_days,
            "SESSION_SIGNAL_RETRY_SECONDS": self.signal_retry_secs,
            "SESSION_FALLBACK_WINDOW_SECONDS": self.fallback_window_secs,
            "SESSION_STRICT_REVOCATION": self.strict_revocation,
            "WORKER_NAME": self.worker_name,
            "SESSION_FRESH_PATHS": self.fresh.as_ref().map(FreshPolicy::patterns).unwrap_or_default(),
            "SESSION_FRESH_MAX_AGE_SECONDS": self.fresh.as_ref().map(|f| f.max_age_secs),
            "SESSION_REAUTH_URL": self.fresh.as_ref().map(|f| f.reauth_url.as_str()),
            "SESSION_MAX_PER_USER": self.cap.map_or(0, |c| c.max),
            "SESSION_LIMIT_STRATEGY": self.cap.map_or(LimitStrategy::EvictOldest, |c| c.strategy).as_str(),
        })
    }
}

/// ORIGIN_SECRET: at least 32 bytes, and never one of the cookie secrets (`secret` and
/// SESSION_SECRET_FALLBACKS): the origin holds it, and could then mint cookies.
fn origin_secret(
    get: &impl Fn(&str) -> Option<String>,
    secret: &str,
) -> Result<Option<Secret>, ConfigError> {
    let Some(s) = get("ORIGIN_SECRET") else {
        return Ok(None);
    };
    if s.len() < 32 {
        return Err(err(
            "ORIGIN_SECRET",
            format!("key is too short: expected >= 32 bytes, got {}", s.len()),
        ));
    }
    let cookie_secrets = get("SESSION_SECRET_FALLBACKS").unwrap_or_default();
    // Compared as each is used: SESSION_SECRET whole, the fallbacks trimmed.
    let same = |other: &str| bool::from(s.as_bytes().ct_eq(other.as_bytes()));
    if same(secret) || cookie_secrets.split(',').map(str::trim).any(same) {
        return Err(err(
            "ORIGIN_SECRET",
            "must differ from SESSION_SECRET and its fallbacks (the origin could mint cookies)",
        ));
    }
    Ok(Some(Secret(s)))
}

/// SESSION_MAX_PER_USER (0 = off, at most [`MAX_PER_USER`]) and SESSION_LIMIT_STRATEGY
/// (`evict_oldest` or `reject`). The cookie store keeps no list of a user's sessions, so
/// a cap there is refused rather than silently not enforced.
fn cap(
    get: &impl Fn(&str) -> Option<String>,
    store: StoreKind,
) -> Result<Option<SessionCap>, ConfigError> {
    let strategy = match get("SESSION_LIMIT_STRATEGY").as_deref().map(str::trim) {
        None | Some("evict_oldest") => LimitStrategy::EvictOldest,
        Some("reject") => LimitStrategy::Reject,
        Some(other) => {
            return Err(err(
                "SESSION_LIMIT_STRATEGY",
                format!("expected `evict_oldest` or `reject`, got `{other}`"),
            ))
        }
    };
    let max = integer(get, "SESSION_MAX_PER_USER", 0, 0, MAX_PER_USER)?;
    let Ok(max @ 1..) = u32::try_from(max) else {
        return Ok(None);
    };
    if store == StoreKind::Cookie {
        return Err(err(
            "SESSION_MAX_PER_USER",
            "cannot be enforced with SESSION_STORE=cookie (no list of a user's sessions): \
             set it to 0 or use the D1 store",
        ));
    }
    Ok(Some(SessionCap { max, strategy }))
}

/// SESSION_LIST_PATHS: path prefixes, each starting with `/`.
fn list_paths(get: &impl Fn(&str) -> Option<String>) -> Result<Vec<String>, ConfigError> {
    let raw = get("SESSION_LIST_PATHS").unwrap_or_default();
    let paths: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .collect();
    match paths.iter().find(|p| !p.starts_with('/')) {
        Some(bad) => Err(err(
            "SESSION_LIST_PATHS",
            format!("`{bad}` must start with `/`"),
        )),
        None => Ok(paths),
    }
}

/// SESSION_FRESH_PATHS, SESSION_FRESH_MAX_AGE_SECONDS (5 minutes, at most 400 days) and
/// SESSION_REAUTH_URL, required with the paths: without a place to send a stale login,
/// the configuration is refused rather than guessing one.
fn fresh(get: &impl Fn(&str) -> Option<String>) -> Result<Option<FreshPolicy>, ConfigError> {
    const PATHS: &str = "SESSION_FRESH_PATHS";
    const URL: &str = "SESSION_REAUTH_URL";
    let max_age = integer(
        get,
        "SESSION_FRESH_MAX_AGE_SECONDS",
        crate::fresh::DEFAULT_MAX_AGE_SECS,
        1,
        MAX_MINUTES * 60,
    )?;
    let paths = get(PATHS).unwrap_or_default();
    let url = get(URL);
    if url.is_none() && !paths.trim().trim_matches(',').trim().is_empty() {
        return Err(err(
            URL,
            "is required with SESSION_FRESH_PATHS (where a stale login is sent to log in again)",
        ));
    }
    FreshPolicy::new(&paths, max_age, url.as_deref().unwrap_or_default()).map_err(|e| match e {
        crate::fresh::FreshError::Pattern(_) => err(PATHS, e.to_string()),
        crate::fresh::FreshError::ReauthUrl(_) => err(URL, e.to_string()),
    })
}

/// WORKER_NAME: a header-name token (it is the loop guard's mark, compared whole).
fn worker_name(get: &impl Fn(&str) -> Option<String>) -> Result<String, ConfigError> {
    let name = get("WORKER_NAME").map_or_else(|| "sessiongate".to_owned(), |n| n.trim().to_owned());
    if name.len() > 64 || !name.chars().all(is_token_char) {
        return Err(err(
            "WORKER_NAME",
            format!("`{name}` must be 1 to 64 letters, digits or `-_.` and the like"),
        ));
    }
    Ok(name)
}

/// SESSION_FALLBACK_WINDOW_SECONDS: 15 minutes (at most the idle timeout), 0 in strict
/// mode, where any other value is a contradiction.
fn fallback_window(
    get: &impl Fn(&str) -> Option<String>,
    idle_secs: i64,
    strict: bool,
) -> Result<i64, ConfigError> {
    const NAME: &str = "SESSION_FALLBACK_WINDOW_SECONDS";
    let default = if strict { 0 } else { 900.min(idle_secs) };
    let window = integer(get, NAME, default, 0, idle_secs)?;
    if strict && window > 0 {
        return Err(err(NAME, "must be 0 with SESSION_STRICT_REVOCATION=true"));
    }
    Ok(window)
}

fn integer(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: i64,
    min: i64,
    max: i64,
) -> Result<i64, ConfigError> {
    let Some(raw) = get(name) else {
        return Ok(default);
    };
    let n: i64 = raw.trim().parse().map_err(|_| {
        err(
            name,
            format!("expected a whole number, got `{}`", raw.trim()),
        )
    })?;
    if n < min || n > max {
        return Err(err(
            name,
            format!("must be between {min} and {max}, got {n}"),
        ));
    }
    Ok(n)
}

/// SESSION_REMEMBER_MINUTES (default 30 days), SESSION_MAX_IDLE_MINUTES (default the
/// longer of the idle and remember timeouts) and SESSION_MAX_ABSOLUTE_MINUTES (default
/// 90 days, 0 = no bound), in minutes: the defaults must fit within the bounds.
fn lifetime_bounds(
    get: &impl Fn(&str) -> Option<String>,
    idle_min: i64,
    absolute_min: i64,
) -> Result<(i64, i64, i64), ConfigError> {
    const REMEMBER: &str = "SESSION_REMEMBER_MINUTES";
    const MAX_IDLE: &str = "SESSION_MAX_IDLE_MINUTES";
    const MAX_ABSOLUTE: &str = "SESSION_MAX_ABSOLUTE_MINUTES";
    let remember = integer(get, REMEMBER, 43_200, 1, MAX_MINUTES)?;
    let max_idle = integer(get, MAX_IDLE, idle_min.max(remember), 1, MAX_MINUTES)?;
    let max_absolute = integer(get, MAX_ABSOLUTE, 129_600.max(absolute_min), 0, MAX_MINUTES)?;
    if idle_min > max_idle {
        return Err(err(
            MAX_IDLE,
            format!("{max_idle} is below SESSION_TIMEOUT_MINUTES ({idle_min})"),
        ));
    }
    if remember > max_idle {
        return Err(err(
            REMEMBER,
            format!("{remember} is above SESSION_MAX_IDLE_MINUTES ({max_idle})"),
        ));
    }
    if max_absolute > 0 && absolute_min > max_absolute {
        return Err(err(
            MAX_ABSOLUTE,
            format!("{max_absolute} is below SESSION_ABSOLUTE_TIMEOUT_MINUTES ({absolute_min})"),
        ));
    }
    Ok((remember, max_idle, max_absolute))
}

fn minutes(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: Option<i64>,
) -> Result<i64, ConfigError> {
    match default {
        Some(d) => integer(get, name, d, 0, MAX_MINUTES),
        None if get(name).is_none() => Err(err(name, "is required (minutes, e.g. 180)")),
        None => integer(get, name, 0, 0, MAX_MINUTES),
    }
}

fn boolean(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: bool,
) -> Result<bool, ConfigError> {
    match get(name).map(|v| v.trim().to_ascii_lowercase()).as_deref() {
        None => Ok(default),
        Some("true" | "1" | "yes") => Ok(true),
        Some("false" | "0" | "no") => Ok(false),
        Some(other) => Err(err(
            name,
            format!("expected `true` or `false`, got `{other}`"),
        )),
    }
}

/// The session cookie's name when SESSION_COOKIE_NAME is unset.
pub const DEFAULT_COOKIE_NAME: &str = "__Host-session_id";
/// The name when unset and the attributes rule `__Host-` out (a Domain, a Path, or no
/// Secure: plain http other than localhost).
pub const FALLBACK_COOKIE_NAME: &str = "session_id";

/// Whether `name` starts with `prefix`, ignoring ASCII case.
fn has_prefix(name: &str, prefix: &str) -> bool {
    name.get(..prefix.len())
        .is_some_and(|p| p.eq_ignore_ascii_case(prefix))
}

fn cookie_config(get: &impl Fn(&str) -> Option<String>) -> Result<CookieConfig, ConfigError> {
    const NAME: &str = "SESSION_COOKIE_NAME";
    let configured = get(NAME).map(|n| n.trim().to_owned());
    let name = configured
        .clone()
        .unwrap_or_else(|| DEFAULT_COOKIE_NAME.to_owned());
    if let Some(bad) = name.chars().find(|c| !is_token_char(*c)) {
        return Err(err(
            NAME,
            format!("`{name}` has a character not allowed in a cookie name: {bad:?}"),
        ));
    }
    let secure = boolean(get, "SESSION_COOKIE_SECURE", true)?;
    let same_site = match get("SESSION_COOKIE_SAMESITE")
        .map(|v| v.trim().to_ascii_lowercase())
        .as_deref()
    {
        None | Some("lax") => SameSite::Lax,
        Some("strict") => SameSite::Strict,
        Some("none") => SameSite::None,
        Some(other) => {
            return Err(err(
                "SESSION_COOKIE_SAMESITE",
                format!("expected Strict, Lax or None, got `{other}`"),
            ))
        }
    };
    if same_site == SameSite::None && !secure {
        return Err(err(
            "SESSION_COOKIE_SAMESITE",
            "`None` requires SESSION_COOKIE_SECURE=true",
        ));
    }
    let domain = get("SESSION_COOKIE_DOMAIN").map(|d| d.trim().to_owned());
    if let Some(d) = &domain {
        if !d
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        {
            return Err(err(
                "SESSION_COOKIE_DOMAIN",
                format!("`{d}` is not a host name"),
            ));
        }
    }
    let path = get("SESSION_COOKIE_PATH").map_or_else(|| "/".to_owned(), |p| p.trim().to_owned());
    if !path.starts_with('/') || path.chars().any(|c| c.is_ascii_control() || c == ';') {
        return Err(err(
            "SESSION_COOKIE_PATH",
            format!("`{path}` must start with `/` and hold no `;`"),
        ));
    }
    let host_only = secure && domain.is_none() && path == "/";
    // Unset: the `__Host-` name where the attributes allow it, so a cookie planted from a
    // sibling subdomain can never take its place.
    let name = match configured {
        None if !host_only => FALLBACK_COOKIE_NAME.to_owned(),
        _ => name,
    };
    // Browsers match the prefixes without regard to case.
    if has_prefix(&name, "__Host-") && !host_only {
        return Err(err(
            NAME,
            "the `__Host-` prefix requires Secure, Path=/ and no Domain",
        ));
    }
    if has_prefix(&name, "__Secure-") && !secure {
        return Err(err(
            NAME,
            "the `__Secure-` prefix requires SESSION_COOKIE_SECURE=true",
        ));
    }
    Ok(CookieConfig {
        name,
        secure,
        same_site,
        domain,
        path,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn parse(vars: &[(&str, &str)]) -> Result<Config, ConfigErrors> {
        let mut map: HashMap<&str, &str> = [
            ("SESSION_TIMEOUT_MINUTES", "180"),
            ("SESSION_SECRET", SECRET),
        ]
        .into();
        map.extend(vars.iter().copied());
        Config::from_vars(|k| map.get(k).map(|v| (*v).to_owned()))
    }

    fn problem(vars: &[(&str, &str)]) -> String {
        parse(vars).unwrap_err().to_string()
    }

    #[test]
    fn every_problem_is_named_at_once() {
        let errors = parse(&[
            ("SESSION_SECRET", ""),
            ("SESSION_RENEW_AFTER_SECONDS", "soon"),
            ("ORIGIN_URL", "ftp://x"),
            ("SESSION_STORE", "redis"),
        ])
        .unwrap_err();
        let settings: Vec<&str> = errors.0.iter().map(|e| e.setting).collect();
        assert_eq!(
            settings,
            [
                "SESSION_RENEW_AFTER_SECONDS",
                "SESSION_STORE",
                "SESSION_SECRET",
                "ORIGIN_URL"
            ]
        );
        assert_eq!(
            errors.first().map(|e| e.setting),
            Some("SESSION_RENEW_AFTER_SECONDS")
        );
        assert!(errors
            .to_string()
            .contains("; SESSION_STORE: expected `d1` or `cookie`"));
    }

    #[test]
    fn lifetime_bounds_hold_the_defaults() {
        let c = parse(&[
            ("SESSION_REMEMBER_MINUTES", "1440"),
            ("SESSION_MAX_ABSOLUTE_MINUTES", "0"),
        ])
        .unwrap();
        assert_eq!(
            (c.expiry.remember_secs, c.expiry.max_idle_secs),
            (86_400, 86_400)
        );
        assert_eq!(c.expiry.max_absolute_secs, 0, "0: no bound");
        for (vars, setting, says) in [
            (
                [
                    ("SESSION_MAX_IDLE_MINUTES", "60"),
                    ("SESSION_REMEMBER_MINUTES", "30"),
                ],
                "SESSION_MAX_IDLE_MINUTES",
                "60 is below SESSION_TIMEOUT_MINUTES (180)",
            ),
            (
                [
                    ("SESSION_MAX_IDLE_MINUTES", "600"),
                    ("SESSION_REMEMBER_MINUTES", "601"),
                ],
                "SESSION_REMEMBER_MINUTES",
                "601 is above SESSION_MAX_IDLE_MINUTES (600)",
            ),
            (
                [
                    ("SESSION_MAX_ABSOLUTE_MINUTES", "60"),
                    ("SESSION_REMEMBER_MINUTES", "1"),
                ],
                "SESSION_MAX_ABSOLUTE_MINUTES",
                "60 is below SESSION_ABSOLUTE_TIMEOUT_MINUTES (10080)",
            ),
            (
                [
                    ("SESSION_REMEMBER_MINUTES", "0"),
                    ("SESSION_MAX_IDLE_MINUTES", "600"),
                ],
                "SESSION_REMEMBER_MINUTES",
                "must be between 1 and",
            ),
        ] {
            let errors = parse(&vars).unwrap_err();
            let e = errors.first().unwrap();
            assert_eq!(e.setting, setting);
            assert!(e.to_string().contains(says), "{e}");
        }
    }

    #[test]
    fn defaults() {
        let c = parse(&[]).unwrap();
        assert_eq!(
            c.expiry,
            ExpiryPolicy {
                idle_secs: 10_800,
                absolute_secs: 604_800,
                renew_after_secs: 60,
                remember_secs: 2_592_000,
                max_idle_secs: 2_592_000,
                max_absolute_secs: 7_776_000,
            }
        );
        assert_eq!(c.cookie.name, "__Host-session_id");
        assert_eq!(c.pending_cookie.name, "__Host-session_id-pending");
        assert!(c.cookie.secure);
        assert_eq!(c.cookie.same_site, SameSite::Lax);
        assert_eq!(c.cookie.path, "/");
        assert_eq!(c.store, StoreKind::D1);
        assert_eq!(c.origin_url, None);
        assert_eq!(c.headers.id, "X-Session-Id");
        assert_eq!(c.signals, SignalFilter::Lifecycle);
        assert!(c.admin_token.is_none() && c.origin_secret.is_none());
        assert_eq!(
            (c.worker_name.as_str(), c.signal_retention_days),
            ("sessiongate", 30)
        );
    }

    #[test]
    fn required_settings_are_named() {
        let e = Config::from_vars(|_| None).unwrap_err();
        let settings: Vec<&str> = e.0.iter().map(|e| e.setting).collect();
        assert_eq!(settings, ["SESSION_TIMEOUT_MINUTES", "SESSION_SECRET"]);
        assert_eq!(
            problem(&[("SESSION_SECRET", "")]),
            "SESSION_SECRET: is required (set it with `wrangler secret put SESSION_SECRET`)"
        );
    }

    #[test]
    fn short_secrets_are_refused_without_echoing_them() {
        assert_eq!(
            problem(&[("SESSION_SECRET", "hunter2hunter2")]),
            "SESSION_SECRET: key is too short: expected >= 32 bytes, got 14"
        );
        let p = problem(&[(
            "SESSION_SECRET_FALLBACKS",
            &format!("{SECRET}, tooshortsecret"),
        )]);
        assert_eq!(
            p,
            "SESSION_SECRET_FALLBACKS: entry 2: key is too short: expected >= 32 bytes, got 14"
        );
        assert!(!p.contains("tooshortsecret"));
    }

    #[test]
    fn numbers_are_checked() {
        assert_eq!(
            problem(&[("SESSION_TIMEOUT_MINUTES", "soon")]),
            "SESSION_TIMEOUT_MINUTES: expected a whole number, got `soon`"
        );
        assert_eq!(
            problem(&[("SESSION_TIMEOUT_MINUTES", "0")]),
            "SESSION_TIMEOUT_MINUTES: must be at least 1"
        );
        assert_eq!(
            problem(&[
                ("SESSION_TIMEOUT_MINUTES", "1"),
                ("SESSION_RENEW_AFTER_SECONDS", "60")
            ]),
            "SESSION_RENEW_AFTER_SECONDS: must be between 0 and 59, got 60"
        );
        let c = parse(&[("SESSION_ABSOLUTE_TIMEOUT_MINUTES", "0")]).unwrap();
        assert_eq!(c.expiry.absolute_secs, 0);
    }

    #[test]
    fn cookie_attributes_are_checked() {
        assert!(
            problem(&[("SESSION_COOKIE_NAME", "bad name")]).starts_with("SESSION_COOKIE_NAME: ")
        );
        assert_eq!(
            problem(&[
                ("SESSION_COOKIE_NAME", "__Host-sid"),
                ("SESSION_COOKIE_DOMAIN", "example.com")
            ]),
            "SESSION_COOKIE_NAME: the `__Host-` prefix requires Secure, Path=/ and no Domain"
        );
        assert!(parse(&[("SESSION_COOKIE_NAME", "__Host-sid")]).is_ok());
        // Browsers read the prefixes in any case.
        assert_eq!(
            problem(&[
                ("SESSION_COOKIE_NAME", "__host-sid"),
                ("SESSION_COOKIE_PATH", "/app")
            ]),
            "SESSION_COOKIE_NAME: the `__Host-` prefix requires Secure, Path=/ and no Domain"
        );
        assert!(problem(&[
            ("SESSION_COOKIE_NAME", "__SECURE-sid"),
            ("SESSION_COOKIE_SECURE", "false")
        ])
        .contains("`__Secure-` prefix requires"));
        // Unset, the name is `__Host-` only where the attributes allow it.
        for vars in [
            [("SESSION_COOKIE_SECURE", "false")],
            [("SESSION_COOKIE_DOMAIN", "example.com")],
            [("SESSION_COOKIE_PATH", "/app")],
        ] {
            assert_eq!(parse(&vars).unwrap().cookie.name, "session_id", "{vars:?}");
        }
        assert_eq!(
            problem(&[
                ("SESSION_COOKIE_SAMESITE", "none"),
                ("SESSION_COOKIE_SECURE", "false")
            ]),
            "SESSION_COOKIE_SAMESITE: `None` requires SESSION_COOKIE_SECURE=true"
        );
        assert_eq!(
            problem(&[("SESSION_COOKIE_SECURE", "maybe")]),
            "SESSION_COOKIE_SECURE: expected `true` or `false`, got `maybe`"
        );
        assert_eq!(
            parse(&[("SESSION_COOKIE_SAMESITE", "Strict")])
                .unwrap()
                .cookie
                .same_site,
            SameSite::Strict
        );
    }

    #[test]
    fn store_and_origin() {
        assert!(problem(&[("SESSION_STORE", "redis")])
            .starts_with("SESSION_STORE: expected `d1` or `cookie`"));
        assert_eq!(
            parse(&[("SESSION_STORE", "cookie")]).unwrap().store,
            StoreKind::Cookie
        );
        assert_eq!(
            parse(&[("ORIGIN_URL", "http://127.0.0.1:8788/")])
                .unwrap()
                .origin_url
                .as_deref(),
            Some("http://127.0.0.1:8788")
        );
        assert!(problem(&[("ORIGIN_URL", "ftp://x")]).starts_with("ORIGIN_URL: "));
        for (raw, want) in [
            (
                "https://App.Internal:443/Base/",
                "https://app.internal/Base",
            ),
            ("http://h.example:80", "http://h.example"),
            ("http://h.example:8080/x", "http://h.example:8080/x"),
        ] {
            assert_eq!(
                parse(&[("ORIGIN_URL", raw)]).unwrap().origin_url.as_deref(),
                Some(want)
            );
        }
        assert!(problem(&[("ORIGIN_URL", "https://x/?a=1")]).starts_with("ORIGIN_URL: "));
        assert!(
            problem(&[("ORIGIN_SECRET", "short")]).starts_with("ORIGIN_SECRET: key is too short")
        );
    }

    #[test]
    fn signals_and_prefix() {
        assert_eq!(
            parse(&[("SESSION_SIGNAL_FILTER", "none")]).unwrap().signals,
            SignalFilter::None
        );
        assert_eq!(
            parse(&[("SESSION_SIGNAL_FILTER", "session_created, session_deleted")])
                .unwrap()
                .signals,
            SignalFilter::Only(vec!["session_created", "session_deleted"])
        );
        assert_eq!(
            parse(&[("SESSION_HEADER_PREFIX", "X-Auth-")])
                .unwrap()
                .headers
                .user_id,
            "X-Auth-User-Id"
        );
        assert!(
            problem(&[("SESSION_HEADER_PREFIX", "X Auth")]).starts_with("SESSION_HEADER_PREFIX: ")
        );
    }

    #[test]
    fn freshness_settings_are_named() {
        assert_eq!(parse(&[]).unwrap().fresh, None, "off by default");
        let c = parse(&[
            ("SESSION_FRESH_PATHS", "/account/security, /admin*"),
            ("SESSION_REAUTH_URL", "https://app.example/login"),
        ])
        .unwrap();
        let fresh = c.fresh.as_ref().unwrap();
        assert_eq!(fresh.max_age_secs, 300);
        assert!(fresh.covers("/admin/x") && !fresh.covers("/account"));
        assert_eq!(
            c.summary()["SESSION_FRESH_PATHS"],
            serde_json::json!(["/account/security*", "/admin*"])
        );
        assert_eq!(
            problem(&[("SESSION_FRESH_PATHS", "/admin")]),
            "SESSION_REAUTH_URL: is required with SESSION_FRESH_PATHS (where a stale login is \
             sent to log in again)"
        );
        assert!(problem(&[
            ("SESSION_FRESH_PATHS", "admin"),
            ("SESSION_REAUTH_URL", "https://x/")
        ])
        .starts_with("SESSION_FRESH_PATHS: `admin` must start with `/`"));
        assert!(problem(&[
            ("SESSION_FRESH_PATHS", "/admin"),
            ("SESSION_REAUTH_URL", "/login")
        ])
        .starts_with("SESSION_REAUTH_URL: `/login` must be an absolute"));
        assert_eq!(
            problem(&[("SESSION_FRESH_MAX_AGE_SECONDS", "0")]),
            "SESSION_FRESH_MAX_AGE_SECONDS: must be between 1 and 34560000, got 0"
        );
        let c = parse(&[
            ("SESSION_FRESH_PATHS", "/admin"),
            ("SESSION_FRESH_MAX_AGE_SECONDS", "60"),
            ("SESSION_REAUTH_URL", "https://x/login"),
        ])
        .unwrap();
        assert_eq!(c.fresh.map(|f| f.max_age_secs), Some(60));
    }

    #[test]
    fn the_worker_name_is_a_token() {
        assert_eq!(
            parse(&[("WORKER_NAME", "edge-1")]).unwrap().worker_name,
            "edge-1"
        );
        for bad in ["a,b", "two words", "é"] {
            assert!(
                problem(&[("WORKER_NAME", bad)]).starts_with("WORKER_NAME: "),
                "{bad}"
            );
        }
    }

    #[test]
    fn strict_revocation_means_no_fallback() {
        let strict = parse(&[("SESSION_STRICT_REVOCATION", "true")]).unwrap();
        assert!(strict.strict_revocation);
        assert_eq!(strict.fallback_window_secs, 0);
        assert_eq!(
            problem(&[
                ("SESSION_STRICT_REVOCATION", "true"),
                ("SESSION_FALLBACK_WINDOW_SECONDS", "60")
            ]),
            "SESSION_FALLBACK_WINDOW_SECONDS: must be 0 with SESSION_STRICT_REVOCATION=true"
        );
        assert_eq!(parse(&[]).unwrap().fallback_window_secs, 900);
    }

    #[test]
    fn the_origin_secret_is_never_a_cookie_secret() {
        let old = "an-old-cookie-secret-an-old-cookie-secret";
        for vars in [
            vec![("ORIGIN_SECRET", SECRET)],
            vec![
                ("SESSION_SECRET", "same-secret-with-a-newline-0123456789\n"),
                ("ORIGIN_SECRET", "same-secret-with-a-newline-0123456789\n"),
            ],
            vec![("SESSION_SECRET_FALLBACKS", old), ("ORIGIN_SECRET", old)],
        ] {
            let p = problem(&vars);
            assert!(p.starts_with("ORIGIN_SECRET: must differ"), "{p}");
            assert!(!p.contains(SECRET) && !p.contains(old), "not echoed");
        }
    }

    #[test]
    fn debug_redacts_secrets() {
        let c = parse(&[
            ("SESSION_ADMIN_TOKEN", "admintoken-admintoken"),
            ("ORIGIN_SECRET", "origin-secret-origin-secret-origin-secret"),
        ])
        .unwrap();
        let shown = format!("{c:?}");
        assert!(
            !shown.contains(SECRET)
                && !shown.contains("admintoken")
                && !shown.contains("origin-secret"),
            "{shown}"
        );
    }
}
