//! The header contract between sessiongate and the origin: which inbound headers are
//! stripped, what is injected, and the commands the origin sends back.

use crate::lifetime::{Lifetime, LifetimeError};
use crate::session::Data;
use base64::engine::general_purpose::{URL_SAFE, URL_SAFE_NO_PAD};
use base64::Engine as _;
use serde_json::Value;
use thiserror::Error;

/// Longest accepted user id, in bytes.
pub const MAX_USER_ID_LEN: usize = 256;

/// Why a header prefix (SESSION_HEADER_PREFIX) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PrefixError {
    /// Empty or over 64 bytes.
    #[error("expected 1 to 64 characters, got {0}")]
    Length(usize),
    /// Holds a character a header name cannot.
    #[error("`{0}` has a character not allowed in a header name: {1:?}")]
    Character(String, char),
}

/// The name of every header of the protocol under one prefix (SESSION_HEADER_PREFIX).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderNames {
    /// The prefix, lower-cased, `_` read as `-`: what [`HeaderNames::owns`] compares.
    prefix_lower: String,
    /// `<prefix>Id`: the session id.
    pub id: String,
    /// `<prefix>User-Id`: the user id to the origin; from the origin, a login.
    pub user_id: String,
    /// `<prefix>Data`: base64url JSON of the session data.
    pub data: String,
    /// `<prefix>Data-Omitted`: the data's size when it exceeded the header budget.
    pub data_omitted: String,
    /// `<prefix>New`: `1` when the request had no session.
    pub new: String,
    /// `<prefix>Expires-At`: RFC 3339 idle expiry.
    pub expires_at: String,
    /// `<prefix>Auth-Time`: RFC 3339, when the user last logged in or reauthenticated.
    pub auth_time: String,
    /// `<prefix>Store`: where the session came from.
    pub store: String,
    /// `<prefix>Assertion`: the signed assertion for the origin.
    pub assertion: String,
    /// `<prefix>Update`: a JSON merge patch from the origin.
    pub update: String,
    /// `<prefix>Action`: a lifecycle command from the origin.
    pub action: String,
    /// `<prefix>Revoke`: from the origin, end the user's session with this handle.
    pub revoke: String,
    /// `<prefix>List`: base64url JSON of the user's sessions (SESSION_LIST_PATHS only).
    pub list: String,
    /// `<prefix>Rate-Limited`: to the origin, `create` when session creation from the
    /// client's network is over its rate limit. Not in [`HeaderNames::response_owned`]:
    /// an echo of it tells the client nothing secret, and each name there costs a
    /// lookup on every response.
    pub rate_limited: String,
    /// `<prefix>Lifetime`: from the origin, this session's lifetime; to the origin, the
    /// session's lifetime when it is not the default.
    pub lifetime: String,
}

impl HeaderNames {
    /// The names under `prefix` (e.g. `X-Session-`).
    ///
    /// # Errors
    /// [`PrefixError`] when `prefix` is empty, longer than 64 bytes or not made of
    /// header-name characters.
    pub fn new(prefix: &str) -> Result<Self, PrefixError> {
        if prefix.is_empty() || prefix.len() > 64 {
            return Err(PrefixError::Length(prefix.len()));
        }
        if let Some(bad) = prefix.chars().find(|c| !is_token_char(*c)) {
            return Err(PrefixError::Character(prefix.to_owned(), bad));
        }
        let n = |suffix: &str| format!("{prefix}{suffix}");
        Ok(Self {
            prefix_lower: normalize(prefix),
            id: n("Id"),
            user_id: n("User-Id"),
            data: n("Data"),
            data_omitted: n("Data-Omitted"),
            new: n("New"),
            expires_at: n("Expires-At"),
            auth_time: n("Auth-Time"),
            store: n("Store"),
            assertion: n("Assertion"),
            update: n("Update"),
            action: n("Action"),
            revoke: n("Revoke"),
            list: n("List"),
            rate_limited: n("Rate-Limited"),
            lifetime: n("Lifetime"),
        })
    }

    /// Whether a header called `name` belongs to sessiongate, comparing case-insensitively
    /// and reading `_` as `-` (proxies and CGI-style origins often treat them alike).
    #[must_use]
    pub fn owns(&self, name: &str) -> bool {
        let p = self.prefix_lower.as_bytes();
        name.len() >= p.len()
            && name.as_bytes()[..p.len()]
                .iter()
                .zip(p)
                .all(|(a, b)| norm_byte(*a) == *b)
    }

    /// Every header the origin may send back that sessiongate consumes or must keep from
    /// the client: the commands and the injected names (an origin echoing its request
    /// headers must not leak the assertion).
    #[must_use]
    pub fn response_owned(&self) -> [&str; 14] {
        [
            &self.lifetime,
            &self.list,
            &self.revoke,
            &self.data_omitted,
            &self.update,
            &self.action,
            &self.user_id,
            &self.id,
            &self.data,
            &self.new,
            &self.expires_at,
            &self.auth_time,
            &self.store,
            &self.assertion,
        ]
    }
}

fn norm_byte(b: u8) -> u8 {
    if b == b'_' {
        b'-'
    } else {
        b.to_ascii_lowercase()
    }
}

fn normalize(s: &str) -> String {
    s.bytes().map(|b| char::from(norm_byte(b))).collect()
}

/// Where the request's session came from (`X-Session-Store`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreLabel {
    /// Loaded from D1 (or none yet, with D1 healthy).
    D1,
    /// The whole session came in (and goes back out) in a signed cookie.
    Cookie,
    /// D1 failed: identity from the reference cookie's signed snapshot, writes kept in
    /// the pending cookie.
    CookieFallback,
    /// D1 failed: no session identity this request.
    Unavailable,
}

impl StoreLabel {
    /// The header value.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::D1 => "d1",
            Self::Cookie => "cookie",
            Self::CookieFallback => "cookie-fallback",
            Self::Unavailable => "unavailable",
        }
    }
}

/// Whether `value` can go into a header as is: printable ASCII only, so CR, LF and NUL
/// (header injection) never reach the origin.
#[must_use]
pub fn header_safe(value: &str) -> bool {
    value.bytes().all(|b| (0x20..0x7f).contains(&b))
}

/// `X-Session-Data`: base64url (unpadded) of the data as JSON.
#[must_use]
pub fn encode_data(data: &Data) -> String {
    // Serializing a map of JSON values cannot fail; an empty object is the safe fallback.
    let json = serde_json::to_vec(data).unwrap_or_else(|_| b"{}".to_vec());
    URL_SAFE_NO_PAD.encode(json)
}

/// What the origin asked for in its response headers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Commands {
    /// Merge patch of the data (`<prefix>Update`).
    pub update: Option<Data>,
    /// Log this user in (`<prefix>User-Id`); cycles the session id.
    pub login: Option<String>,
    /// Lifecycle actions (`<prefix>Action`).
    pub actions: Actions,
    /// End the user's session with this handle (`<prefix>Revoke`).
    pub revoke: Option<String>,
    /// This session's lifetime from now on (`<prefix>Lifetime`).
    pub lifetime: Option<Lifetime>,
}

/// The origin's command headers as it sent them (`None` when absent).
#[derive(Debug, Clone, Copy, Default)]
pub struct RawCommands<'r> {
    /// `<prefix>Update`.
    pub update: Option<&'r str>,
    /// `<prefix>User-Id`.
    pub user_id: Option<&'r str>,
    /// `<prefix>Action`.
    pub action: Option<&'r str>,
    /// `<prefix>Revoke`.
    pub revoke: Option<&'r str>,
    /// `<prefix>Lifetime`.
    pub lifetime: Option<&'r str>,
}

impl Commands {
    /// The name of each command asked for, in a fixed order (`update`, `login`, the
    /// actions, `revoke`, `lifetime`).
    #[must_use]
    pub fn names(&self) -> Vec<&'static str> {
        let a = &self.actions;
        [
            (self.update.is_some(), "update"),
            (self.login.is_some(), "login"),
            (a.delete, "delete"),
            (a.cycle, "cycle"),
            (a.clear, "clear"),
            (a.create, "create"),
            (a.revoke_user, "revoke-user"),
            (a.keep_data, "keep-data"),
            (a.revoke_others, "revoke-others"),
            (a.reauthenticated, "reauthenticated"),
            (self.revoke.is_some(), "revoke"),
            (self.lifetime.is_some(), "lifetime"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }

    /// Whether the origin asked for nothing.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.update.is_none()
            && self.login.is_none()
            && self.revoke.is_none()
            && self.lifetime.is_none()
            && self.actions == Actions::default()
    }
}

/// The actions of `<prefix>Action`, a comma-separated list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Actions {
    /// `delete`: log out, remove the session.
    pub delete: bool,
    /// `cycle`: new id, same data.
    pub cycle: bool,
    /// `clear`: empty the data, keep the session.
    pub clear: bool,
    /// `create`: create the session now even if nothing is written.
    pub create: bool,
    /// `revoke-user`: delete every session of the session's user.
    pub revoke_user: bool,
    /// `keep-data`: a login as a different user keeps the data (it is emptied otherwise).
    pub keep_data: bool,
    /// `revoke-others`: delete every other session of the session's user.
    pub revoke_others: bool,
    /// `reauthenticated`: the user just proved who they are again (a password or passkey
    /// prompt): the session's auth time becomes now.
    pub reauthenticated: bool,
}

/// A command header that could not be used; it is ignored, never fatal.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum CommandError {
    /// `<prefix>Update` is not a JSON object (plain or base64url).
    #[error("update header ignored: {0}")]
    BadUpdate(&'static str),
    /// `<prefix>User-Id` is empty, too long or holds control characters.
    #[error("user id header ignored: {0}")]
    BadUserId(&'static str),
    /// `<prefix>Revoke` is not a session handle.
    #[error("revoke header ignored: not a session handle")]
    BadHandle,
    /// `<prefix>Action` names an unknown action (the name, cut to 32 bytes).
    #[error("unknown action ignored: {0:?}")]
    BadAction(String),
    /// `<prefix>Lifetime` is not a lifetime.
    #[error("lifetime header ignored: {0}")]
    BadLifetime(#[from] LifetimeError),
}

/// Parses the origin's command headers. Bad headers are skipped and reported; the rest
/// still apply.
#[must_use]
pub fn parse_commands(raw: &RawCommands<'_>) -> (Commands, Vec<CommandError>) {
    let RawCommands {
        update,
        user_id: login,
        action,
        revoke,
        lifetime,
    } = *raw;
    let mut cmds = Commands::default();
    let mut errors = Vec::new();
    if let Some(raw) = lifetime {
        match Lifetime::parse(raw) {
            Ok(lifetime) => cmds.lifetime = Some(lifetime),
            Err(e) => errors.push(e.into()),
        }
    }
    if let Some(raw) = update {
        match parse_update(raw) {
            Ok(patch) => cmds.update = Some(patch),
            Err(e) => errors.push(e),
        }
    }
    if let Some(raw) = login {
        match parse_user_id(raw) {
            Ok(user) => cmds.login = Some(user),
            Err(e) => errors.push(e),
        }
    }
    if let Some(raw) = revoke {
        let handle = raw.trim();
        let is_handle = handle.len() == crate::handle::LEN
            && handle
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        match is_handle {
            true => cmds.revoke = Some(handle.to_owned()),
            false => errors.push(CommandError::BadHandle),
        }
    }
    for name in action
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        let a = &mut cmds.actions;
        match name.to_ascii_lowercase().as_str() {
            "delete" => a.delete = true,
            "cycle" => a.cycle = true,
            "clear" => a.clear = true,
            "create" => a.create = true,
            "revoke-user" => a.revoke_user = true,
            "keep-data" => a.keep_data = true,
            "revoke-others" => a.revoke_others = true,
            "reauthenticated" => a.reauthenticated = true,
            _ => errors.push(CommandError::BadAction(name.chars().take(32).collect())),
        }
    }
    (cmds, errors)
}

fn parse_update(raw: &str) -> Result<Data, CommandError> {
    let raw = raw.trim();
    // Plain JSON first; base64url text never parses as a JSON object.
    let value = match serde_json::from_slice::<Value>(raw.as_bytes()) {
        Ok(v) => v,
        Err(_) if raw.starts_with('{') => return Err(CommandError::BadUpdate("invalid JSON")),
        Err(_) => {
            let json = URL_SAFE_NO_PAD
                .decode(raw.trim_end_matches('='))
                .or_else(|_| URL_SAFE.decode(raw))
                .map_err(|_| CommandError::BadUpdate("neither JSON nor base64url"))?;
            serde_json::from_slice(&json).map_err(|_| CommandError::BadUpdate("invalid JSON"))?
        }
    };
    match value {
        Value::Object(patch) => Ok(patch),
        _ => Err(CommandError::BadUpdate("not a JSON object")),
    }
}

fn parse_user_id(raw: &str) -> Result<String, CommandError> {
    let user = raw.trim();
    if user.is_empty() {
        return Err(CommandError::BadUserId("empty"));
    }
    if user.len() > MAX_USER_ID_LEN {
        return Err(CommandError::BadUserId("longer than 256 bytes"));
    }
    if !user.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        return Err(CommandError::BadUserId("not printable ASCII"));
    }
    // The runtime joins repeated headers with ", ": two logins must not become one user.
    if user.contains(',') {
        return Err(CommandError::BadUserId(
            "holds a comma (the header was sent twice?)",
        ));
    }
    Ok(user.to_owned())
}

/// RFC 7230 `tchar`: what a cookie or header name may hold.
pub(crate) fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn parse(
        update: Option<&str>,
        user_id: Option<&str>,
        action: Option<&str>,
        revoke: Option<&str>,
    ) -> (Commands, Vec<CommandError>) {
        parse_commands(&RawCommands {
            update,
            user_id,
            action,
            revoke,
            lifetime: None,
        })
    }

    #[test]
    fn lifetime_commands_parse_and_bad_ones_are_reported() {
        let (c, e) = parse_commands(&RawCommands {
            lifetime: Some(" remember "),
            ..RawCommands::default()
        });
        assert_eq!((c.lifetime, e), (Some(Lifetime::Remember), vec![]));
        assert!(!c.is_empty());
        let (c, e) = parse_commands(&RawCommands {
            lifetime: Some("forever"),
            user_id: Some("ann"),
            ..RawCommands::default()
        });
        assert_eq!(c.lifetime, None);
        assert_eq!(c.login.as_deref(), Some("ann"), "the rest still applies");
        assert_eq!(e, [CommandError::BadLifetime(LifetimeError::Syntax)]);
        assert!(e[0]
            .to_string()
            .starts_with("lifetime header ignored: expected `browser`"));
    }

    fn names() -> HeaderNames {
        HeaderNames::new("X-Session-").unwrap()
    }

    #[test]
    fn ownership_ignores_case_and_underscores() {
        let n = names();
        for owned in [
            "x-session-id",
            "X-Session-User-Id",
            "X_Session_User_Id",
            "x_SESSION-data",
            "X-SESSION-ANYTHING",
            "x-session-",
        ] {
            assert!(n.owns(owned), "{owned}");
        }
        for other in [
            "x-sessionid",
            "x-sess",
            "cookie",
            "xx-session-id",
            "x-session",
        ] {
            assert!(!n.owns(other), "{other}");
        }
        // The rate-limit hint is the gateway's to send: a client cannot forge it.
        assert!(n.owns(&n.rate_limited) && n.owns("x_session_rate_limited"));
        // Non-ASCII never panics on a char boundary.
        assert!(!n.owns("x-sessioné-id"));
        assert!(!n.owns("é"));
    }

    #[test]
    fn custom_prefix() {
        let n = HeaderNames::new("X_Auth_").unwrap();
        assert!(n.owns("x-auth-user-id"));
        assert_eq!(n.user_id, "X_Auth_User-Id");
        assert!(HeaderNames::new("").is_err());
        assert!(HeaderNames::new("X-Session:\r\n").is_err());
    }

    #[test]
    fn data_is_unpadded_base64url_json() {
        let mut d = Data::new();
        d.insert("cart".into(), json!([1, 2]));
        let enc = encode_data(&d);
        assert!(!enc.contains(['=', '+', '/']));
        let back: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(enc).unwrap()).unwrap();
        assert_eq!(back, json!({"cart": [1, 2]}));
    }

    #[test]
    fn update_as_json_or_base64url() {
        let (c, e) = parse(Some(r#"{"a":1,"b":null}"#), None, None, None);
        assert!(e.is_empty());
        assert_eq!(Value::Object(c.update.unwrap()), json!({"a":1,"b":null}));
        let b64 = URL_SAFE_NO_PAD.encode(r#"{"x":"y"}"#);
        let (c, _) = parse(Some(&b64), None, None, None);
        assert_eq!(Value::Object(c.update.unwrap()), json!({"x":"y"}));
        let padded = URL_SAFE.encode(r#"{"x":"yz"}"#);
        assert!(padded.ends_with('='));
        let (c, _) = parse(Some(&padded), None, None, None);
        assert_eq!(Value::Object(c.update.unwrap()), json!({"x":"yz"}));
    }

    #[test]
    fn bad_commands_are_reported_and_the_rest_applies() {
        let (c, e) = parse(Some("[1,2]"), Some("alice"), Some("cycle, explode"), None);
        assert_eq!(c.update, None);
        assert_eq!(c.login.as_deref(), Some("alice"));
        assert!(c.actions.cycle && !c.actions.delete);
        assert_eq!(
            e,
            [
                CommandError::BadUpdate("not a JSON object"),
                CommandError::BadAction("explode".into())
            ]
        );
        let (_, e) = parse(Some("{not json"), None, None, None);
        assert_eq!(e, [CommandError::BadUpdate("invalid JSON")]);
        let (_, e) = parse(Some("%%%"), None, None, None);
        assert_eq!(e, [CommandError::BadUpdate("neither JSON nor base64url")]);
    }

    #[test]
    fn user_ids_are_bounded_and_printable() {
        let long = "u".repeat(257);
        for (raw, why) in [
            ("", "empty"),
            ("  ", "empty"),
            (&long[..], "longer than 256 bytes"),
            ("a\u{7f}b", "not printable ASCII"),
            ("é", "not printable ASCII"),
            ("a1, a2", "holds a comma (the header was sent twice?)"),
        ] {
            let (c, e) = parse(None, Some(raw), None, None);
            assert_eq!(
                (c.login, e),
                (None, vec![CommandError::BadUserId(why)]),
                "{raw:?}"
            );
        }
        let (c, _) = parse(None, Some(" user 42 "), None, None);
        assert_eq!(c.login.as_deref(), Some("user 42"));
    }

    #[test]
    fn header_safety() {
        assert!(header_safe("alice@example.com 42"));
        for bad in ["a\r\nX-Admin: 1", "a\nb", "nul\0", "tab\t", "é", "\u{7f}"] {
            assert!(!header_safe(bad), "{bad:?}");
        }
        // Encoded data is always safe, whatever the data holds.
        let mut d = Data::new();
        d.insert("evil".into(), json!("\r\nSet-Cookie: x=1\0"));
        assert!(header_safe(&encode_data(&d)));
    }

    #[test]
    fn a_revoke_names_a_handle() {
        let h = &*"A".repeat(crate::handle::LEN);
        let (c, e) = parse(None, None, Some("revoke-others"), Some(h));
        assert!(e.is_empty() && c.actions.revoke_others);
        assert_eq!(c.revoke.as_deref(), Some(h));
        for bad in ["short", &format!("{}=", &h[1..]), "a/b"] {
            let (c, e) = parse(None, None, None, Some(bad));
            assert_eq!(
                (c.revoke, e),
                (None, vec![CommandError::BadHandle]),
                "{bad}"
            );
        }
    }

    #[test]
    fn actions_combine() {
        let (c, e) = parse(
            None,
            None,
            Some("Delete,clear , CREATE,revoke-user, keep-data"),
            None,
        );
        assert!(e.is_empty());
        assert_eq!(
            c.actions,
            Actions {
                delete: true,
                cycle: false,
                clear: true,
                create: true,
                revoke_user: true,
                keep_data: true,
                revoke_others: false,
                reauthenticated: false,
            }
        );
        assert!(parse(None, None, Some(" , "), None).0.is_empty());
    }

    #[test]
    fn reauthenticated_is_an_action() {
        let (c, e) = parse(None, Some("ann"), Some(" Reauthenticated "), None);
        assert!(e.is_empty());
        assert!(c.actions.reauthenticated && !c.is_empty());
        assert_eq!(c.login.as_deref(), Some("ann"));
        let (c, e) = parse(None, None, Some("reauthenticate"), None);
        assert!(!c.actions.reauthenticated);
        assert_eq!(e, [CommandError::BadAction("reauthenticate".into())]);
    }
}
