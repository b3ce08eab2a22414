//! Cookies: signing keys, one codec per cookie (the reference cookie of the D1 store,
//! the full-session cookie of the cookie store, the pending cookie of the outage
//! fallback), all on one signed-value layout ([`sealed`]); the inbound `Cookie` header
//! and `Set-Cookie` building. One module per concept.

pub mod full;
pub mod header;
pub mod key;
pub mod pending;
pub mod private;
pub mod reference;
pub mod sealed;
pub mod set_cookie;
#[cfg(test)]
pub(crate) mod testing;

use thiserror::Error;

/// Why a cookie value was rejected, whichever cookie it is. Never carries the value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum CookieError {
    /// Not the cookie's layout (`<tag>.<body>.<mac>`), or over its length limit.
    #[error("cookie value is malformed")]
    Malformed,
    /// Well formed, but no configured key made its MAC.
    #[error("cookie signature does not verify")]
    BadSignature,
    /// The MAC verified but the body does not decode (a bug or a leaked key).
    #[error("cookie payload does not decode")]
    BadPayload,
}

impl CookieError {
    /// The short reason logs and signals carry (`malformed`, `bad_signature`,
    /// `bad_payload`).
    #[must_use]
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::BadSignature => "bad_signature",
            Self::BadPayload => "bad_payload",
        }
    }
}

/// What a response does with one cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outgoing {
    /// No `Set-Cookie`: the browser keeps what it has.
    Keep,
    /// Set the cookie to this value.
    Set(String),
    /// Delete the cookie.
    Clear,
}

/// The `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=Lax` (the default).
    Lax,
    /// `SameSite=None` (requires `Secure`).
    None,
}

impl SameSite {
    /// The attribute's value as sent.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Strict => "Strict",
            Self::Lax => "Lax",
            Self::None => "None",
        }
    }
}

impl CookieConfig {
    /// The pending cookie (writes kept through a D1 outage): same attributes, the name
    /// with `-pending` appended (a `__Host-` prefix stays a prefix).
    #[must_use]
    pub fn pending(&self) -> Self {
        Self {
            name: format!("{}-pending", self.name),
            ..self.clone()
        }
    }
}

/// Name and attributes of the session cookie.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// Cookie name (SESSION_COOKIE_NAME); may carry the `__Host-` or `__Secure-` prefix.
    pub name: String,
    /// Whether the `Secure` attribute is sent.
    pub secure: bool,
    /// The `SameSite` attribute.
    pub same_site: SameSite,
    /// The `Domain` attribute, when set.
    pub domain: Option<String>,
    /// The `Path` attribute.
    pub path: String,
}
