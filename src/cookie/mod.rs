//! Cookies: signing keys, the reference cookie codec (D1 store), the full-session cookie
//! codec (cookie store), the inbound `Cookie` header and `Set-Cookie` building. One
//! module per concept.

pub mod full;
pub mod header;
pub mod key;
pub mod reference;
pub mod sealed;
pub mod set_cookie;

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
