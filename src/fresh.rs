//! Freshness: paths that need a recent login (SESSION_FRESH_PATHS). A request to one of
//! them whose session's auth time is unknown or older than SESSION_FRESH_MAX_AGE_SECONDS
//! never reaches the origin: a page load is sent to SESSION_REAUTH_URL with the original
//! target in `next`, anything else gets a 401. Pure: the gateway core decides with it
//! ([`crate::gateway::fresh`]), the edge only writes the response.

use crate::time::Timestamp;
use thiserror::Error;

/// SESSION_FRESH_MAX_AGE_SECONDS when unset: five minutes.
pub const DEFAULT_MAX_AGE_SECS: i64 = 300;
/// Longest path a `session_reauth_required` signal carries, in bytes.
pub const MAX_SIGNALLED_PATH: usize = 256;

/// Why a freshness setting was refused (the configuration names the setting).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum FreshError {
    /// A pattern does not start with `/`, or has a `*` before its end.
    #[error("`{0}` must start with `/` and may hold `*` only at its end")]
    Pattern(String),
    /// The re-authentication URL is not an absolute http(s) URL without a fragment.
    #[error("`{0}` must be an absolute http:// or https:// URL without a fragment or spaces")]
    ReauthUrl(String),
}

/// Which paths need a recent login, how recent, and where a stale one is sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FreshPolicy {
    /// The path prefixes, as compared: lower case, without the trailing `*`.
    prefixes: Vec<String>,
    /// Longest accepted age of the auth time, in seconds.
    pub max_age_secs: i64,
    /// Where a stale page load is redirected (`next` is added to its query).
    pub reauth_url: String,
}

/// What a request to a fresh-only path with a stale login gets instead of the origin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// A page load: `303 See Other` to this URL (the re-authentication URL with `next`).
    Redirect(String),
    /// Anything else (fetch, XHR, API clients): `401` with this JSON body.
    Unauthorized(String),
}

impl Refusal {
    /// The status of the response.
    #[must_use]
    pub fn status(&self) -> u16 {
        match self {
            Self::Redirect(_) => 303,
            Self::Unauthorized(_) => 401,
        }
    }
}

/// What the freshness check reads of a request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Asked<'r> {
    /// The path and query as the client sent them.
    pub target: &'r str,
    /// `Sec-Fetch-Mode`.
    pub sec_fetch_mode: Option<&'r str>,
    /// `Accept`.
    pub accept: Option<&'r str>,
}

impl Asked<'_> {
    /// Whether the request loads a page: `Sec-Fetch-Mode: navigate`, or, from a client
    /// that does not send that header, an `Accept` that names `text/html`.
    #[must_use]
    pub fn is_navigation(&self) -> bool {
        match self.sec_fetch_mode {
            Some(mode) => mode.trim().eq_ignore_ascii_case("navigate"),
            None => self
                .accept
                .is_some_and(|a| a.to_ascii_lowercase().contains("text/html")),
        }
    }

    /// The path without the query.
    #[must_use]
    pub fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or("/")
    }
}

impl FreshPolicy {
    /// The policy of SESSION_FRESH_PATHS (`paths`, a comma list), `max_age_secs` and
    /// SESSION_REAUTH_URL (`reauth_url`, checked whenever it is set); `None` when no path
    /// is listed.
    ///
    /// # Errors
    /// [`FreshError::Pattern`] for a path that does not start with `/` or has a `*`
    /// before its end; [`FreshError::ReauthUrl`] for a URL that is not absolute http(s),
    /// or holds a fragment, a space or a control character.
    pub fn new(
        paths: &str,
        max_age_secs: i64,
        reauth_url: &str,
    ) -> Result<Option<Self>, FreshError> {
        let mut prefixes = Vec::new();
        for raw in paths.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let prefix = raw.strip_suffix('*').unwrap_or(raw);
            if !prefix.starts_with('/') || prefix.contains('*') {
                return Err(FreshError::Pattern(raw.to_owned()));
            }
            prefixes.push(normalize(prefix));
        }
        // A URL set without paths is still checked: a typo shows before it is needed.
        let reauth_url = match (prefixes.is_empty(), reauth_url.trim().is_empty()) {
            (true, true) => return Ok(None),
            (_, _) => reauth_url_checked(reauth_url)?,
        };
        Ok((!prefixes.is_empty()).then_some(Self {
            prefixes,
            max_age_secs,
            reauth_url,
        }))
    }

    /// The patterns as configured (for the health detail): each prefix with `*`.
    #[must_use]
    pub fn patterns(&self) -> Vec<String> {
        self.prefixes.iter().map(|p| format!("{p}*")).collect()
    }

    /// Whether `path` needs a recent login. Every entry is a prefix (`/admin` also covers
    /// `/administrator`; a trailing `*` says the same). Compared without regard to ASCII
    /// case, with `//` read as `/` and percent-escapes decoded, as origins often read
    /// paths: a spelling the origin treats as the same path is never a way around.
    #[must_use]
    pub fn covers(&self, path: &str) -> bool {
        let raw = normalize(path);
        let decoded = crate::url::decode_segment(path).map(|d| normalize(&d));
        self.prefixes.iter().any(|p| {
            raw.starts_with(p.as_str()) || decoded.as_deref().is_some_and(|d| d.starts_with(p))
        })
    }

    /// Whether a login at `auth_time` is recent enough at `now`: known, and at most
    /// `max_age_secs` old.
    #[must_use]
    pub fn is_fresh(&self, auth_time: Option<Timestamp>, now: Timestamp) -> bool {
        auth_time.is_some_and(|at| now.unix() - at.unix() <= self.max_age_secs)
    }

    /// What `asked` gets when its login is stale: a page load is redirected to the
    /// re-authentication URL with its path and query in `next`; anything else a 401
    /// whose JSON body says where to go.
    #[must_use]
    pub fn refusal(&self, asked: &Asked<'_>) -> Refusal {
        let location = self.reauth_location(asked.target);
        if asked.is_navigation() {
            return Refusal::Redirect(location);
        }
        let body = serde_json::json!({
            "error": "reauthentication_required",
            "max_age": self.max_age_secs,
            "reauth_url": location,
        });
        Refusal::Unauthorized(serde_json::to_string(&body).unwrap_or_default())
    }

    /// The re-authentication URL with `next` = `target` (one leading `/`, so the login
    /// page never reads it as another host), URL-encoded.
    #[must_use]
    pub fn reauth_location(&self, target: &str) -> String {
        let local = target.trim_start_matches(['/', '\\']);
        let next = encode_component(&format!("/{local}"));
        let sep = if self.reauth_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!("{}{sep}next={next}", self.reauth_url)
    }
}

/// The path as compared: ASCII lower case, runs of `/` as one.
fn normalize(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for c in path.chars() {
        if c == '/' && out.ends_with('/') {
            continue;
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

/// SESSION_REAUTH_URL as used: absolute http(s), no fragment, printable ASCII without
/// spaces.
fn reauth_url_checked(raw: &str) -> Result<String, FreshError> {
    let url = raw.trim();
    let lower = url.to_ascii_lowercase();
    let host = lower
        .strip_prefix("https://")
        .or_else(|| lower.strip_prefix("http://"))
        .map(crate::url::host);
    let printable = url.bytes().all(|b| (0x21..0x7f).contains(&b));
    match host {
        Some(h) if !h.is_empty() && printable && !url.contains('#') => Ok(url.to_owned()),
        _ => Err(FreshError::ReauthUrl(url.to_owned())),
    }
}

/// `s` percent-encoded as a query parameter value: every byte but the unreserved ones.
#[must_use]
pub fn encode_component(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3 / 2);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0xf)]));
        }
    }
    out
}

/// `path` cut to at most [`MAX_SIGNALLED_PATH`] bytes, at a character boundary.
#[must_use]
pub fn signalled_path(path: &str) -> String {
    let mut end = path.len().min(MAX_SIGNALLED_PATH);
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    path[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timestamp = Timestamp::from_unix(1_800_000_000);

    fn policy(paths: &str) -> FreshPolicy {
        FreshPolicy::new(paths, 300, "https://login.example/reauth")
            .unwrap()
            .unwrap()
    }

    #[test]
    fn paths_are_prefixes_however_the_origin_spells_them() {
        let p = policy("/account/security, /admin*");
        for covered in [
            "/account/security",
            "/account/security/keys",
            "/Account/Security",
            "//account//security",
            "/%61ccount/security",
            "/admin",
            "/administrator",
            "/admin/users",
        ] {
            assert!(p.covers(covered), "{covered}");
        }
        for open in ["/", "/account", "/account/profile", "/adm", "/x/admin"] {
            assert!(!p.covers(open), "{open}");
        }
        assert_eq!(p.patterns(), ["/account/security*", "/admin*"]);
    }

    #[test]
    fn settings_are_checked() {
        assert_eq!(FreshPolicy::new(" , ", 300, ""), Ok(None));
        assert_eq!(FreshPolicy::new("", 300, "https://x/login"), Ok(None));
        assert!(
            FreshPolicy::new("", 300, "/login").is_err(),
            "checked when set"
        );
        for bad in ["admin", "/a*b", "*", "/x**"] {
            assert_eq!(
                FreshPolicy::new(bad, 300, "https://x/"),
                Err(FreshError::Pattern(bad.into())),
                "{bad}"
            );
        }
        for bad in [
            "",
            "/login",
            "ftp://x/",
            "https://",
            "https://x/login#top",
            "https://x/a b",
        ] {
            assert_eq!(
                FreshPolicy::new("/a", 300, bad),
                Err(FreshError::ReauthUrl(bad.trim().into())),
                "{bad}"
            );
        }
        assert!(FreshPolicy::new("/a", 300, "HTTP://login.example:8080/x?y=1").is_ok());
    }

    #[test]
    fn a_login_is_fresh_up_to_the_max_age() {
        let p = policy("/a");
        assert!(!p.is_fresh(None, T), "unknown is stale");
        assert!(p.is_fresh(Some(T.plus(-300)), T));
        assert!(!p.is_fresh(Some(T.plus(-301)), T));
        assert!(p.is_fresh(Some(T.plus(5)), T), "a clock ahead is not stale");
    }

    #[test]
    fn page_loads_are_redirected_with_next_and_the_rest_get_401() {
        let p = policy("/a");
        let page = Asked {
            target: "/a/b?tab=keys&x=1 2",
            sec_fetch_mode: Some("navigate"),
            accept: None,
        };
        let want = "https://login.example/reauth?next=%2Fa%2Fb%3Ftab%3Dkeys%26x%3D1%202";
        assert_eq!(p.refusal(&page), Refusal::Redirect(want.into()));
        let old_browser = Asked {
            sec_fetch_mode: None,
            accept: Some("Text/HTML,application/xhtml+xml"),
            ..page
        };
        assert_eq!(p.refusal(&old_browser).status(), 303);
        for api in [
            Asked {
                sec_fetch_mode: Some("cors"),
                accept: Some("text/html"),
                ..page
            },
            Asked {
                sec_fetch_mode: None,
                accept: Some("application/json"),
                ..page
            },
            Asked {
                sec_fetch_mode: None,
                accept: None,
                ..page
            },
        ] {
            let Refusal::Unauthorized(body) = p.refusal(&api) else {
                panic!("{api:?}")
            };
            let body: serde_json::Value = serde_json::from_str(&body).unwrap();
            assert_eq!(body["error"], "reauthentication_required");
            assert_eq!(body["reauth_url"], want);
            assert_eq!(body["max_age"], 300);
        }
    }

    #[test]
    fn next_is_always_a_local_path_and_joins_an_existing_query() {
        let p = FreshPolicy::new("/a", 60, "https://x.example/login?app=1")
            .unwrap()
            .unwrap();
        assert_eq!(
            p.reauth_location("//evil.example/a"),
            "https://x.example/login?app=1&next=%2Fevil.example%2Fa"
        );
        assert_eq!(
            p.reauth_location("/\\evil.example"),
            "https://x.example/login?app=1&next=%2Fevil.example"
        );
    }

    #[test]
    fn signalled_paths_are_bounded() {
        assert_eq!(signalled_path("/a"), "/a");
        let long = format!("/{}", "é".repeat(300));
        let cut = signalled_path(&long);
        assert!(cut.len() <= MAX_SIGNALLED_PATH && long.starts_with(&cut));
    }
}
