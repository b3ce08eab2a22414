//! URLs as sessiongate uses them: workers hand over absolute, normalized URLs, so they
//! are sliced as strings. That spares the `url` crate (about 88 KB of gzip wasm).

use thiserror::Error;

/// Why a base URL (ORIGIN_URL) was refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum BaseUrlError {
    /// Neither `http://` nor `https://`.
    #[error("`{0}` must start with http:// or https://")]
    Scheme(String),
    /// A query, a fragment, a space or a control character, or no host.
    #[error("`{0}` must be a base URL without query or fragment")]
    NotABase(String),
}

/// The path and query of an absolute URL (`/` when it has none).
#[must_use]
pub fn path(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    url[start..]
        .find(['/', '?'])
        .map_or("/", |i| &url[start + i..])
}

/// The host (with port) of an absolute URL.
#[must_use]
pub fn host(url: &str) -> &str {
    let rest = url.find("://").map_or(url, |i| &url[i + 3..]);
    rest.find(['/', '?']).map_or(rest, |i| &rest[..i])
}

/// The scheme of an absolute URL, without the colon.
#[must_use]
pub fn scheme(url: &str) -> &str {
    url.split(':').next().unwrap_or("https")
}

/// The origin (`scheme://host[:port]`) of an absolute URL.
#[must_use]
pub fn origin(url: &str) -> &str {
    let start = url.find("://").map_or(0, |i| i + 3);
    let end = url[start..]
        .find(['/', '?'])
        .map_or(url.len(), |i| start + i);
    &url[..end]
}

/// The first value of query parameter `name` in `url`, percent-decoded (`+` is a
/// space); `None` when absent, empty, or not UTF-8 once decoded.
#[must_use]
pub fn query_param(url: &str, name: &str) -> Option<String> {
    let query = url.split('#').next()?.split_once('?')?.1;
    let raw = query
        .split('&')
        .find_map(|pair| pair.split_once('=').filter(|(k, _)| *k == name))?
        .1;
    let decoded = decode(raw, true)?;
    (!decoded.is_empty()).then_some(decoded)
}

/// A path segment percent-decoded (`+` stays `+`); `None` when not UTF-8 once decoded.
#[must_use]
pub fn decode_segment(raw: &str) -> Option<String> {
    decode(raw, false)
}

/// `raw` percent-decoded, `+` a space in a query (`form`); `None` when not UTF-8 once
/// decoded. A `%` not followed by two hex digits is kept as it is.
fn decode(raw: &str, form: bool) -> Option<String> {
    let bytes = raw.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(u8::try_from(h * 16 + l).ok()?);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if form => out.push(b' '),
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// Where a request for `url` goes: the same path under `base` (ORIGIN_URL), or `url`
/// itself in route mode.
#[must_use]
pub fn target(base: Option<&str>, url: &str) -> String {
    match base {
        Some(base) => format!("{base}{}", path(url)),
        None => url.to_owned(),
    }
}

/// Whether a state-changing request comes from the page's own origin: `Sec-Fetch-Site`
/// when the browser sends it, else the `Origin` header against the request URL's origin.
/// Neither header: refused (a cross-site form post from an old browser sends `Origin`).
#[must_use]
pub fn same_origin(sec_fetch_site: Option<&str>, origin_header: Option<&str>, url: &str) -> bool {
    match (sec_fetch_site, origin_header) {
        (Some(site), _) => site.eq_ignore_ascii_case("same-origin"),
        (None, Some(o)) => o.eq_ignore_ascii_case(origin(url)),
        (None, None) => false,
    }
}

/// A base URL as `fetch` will use it: no trailing slash, host lower-cased, default port
/// dropped, so the assertion's audience is the `Host` the origin receives.
///
/// # Errors
/// [`BaseUrlError`] for another scheme, a query, a fragment or no host.
pub fn normalize_base(raw: &str) -> Result<String, BaseUrlError> {
    let url = raw.trim().trim_end_matches('/');
    let (scheme, default_port, rest) = if let Some(rest) = url.strip_prefix("https://") {
        ("https://", ":443", rest)
    } else if let Some(rest) = url.strip_prefix("http://") {
        ("http://", ":80", rest)
    } else {
        return Err(BaseUrlError::Scheme(url.to_owned()));
    };
    if rest.is_empty()
        || rest.contains(['?', '#', ' '])
        || rest.chars().any(|c| c.is_ascii_control())
    {
        return Err(BaseUrlError::NotABase(url.to_owned()));
    }
    let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = host.to_ascii_lowercase();
    let host = host.strip_suffix(default_port).unwrap_or(&host);
    Ok(format!("{scheme}{host}{path}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_are_found_and_decoded() {
        let u = "https://g.example/a?user=ann%40ex.com&x=&limit=5&name=a+b&bad=%FF#user=no";
        assert_eq!(query_param(u, "user").as_deref(), Some("ann@ex.com"));
        assert_eq!(query_param(u, "limit").as_deref(), Some("5"));
        assert_eq!(query_param(u, "name").as_deref(), Some("a b"));
        assert_eq!(query_param(u, "x"), None, "empty");
        assert_eq!(query_param(u, "bad"), None, "not UTF-8");
        assert_eq!(query_param(u, "missing"), None);
        assert_eq!(query_param("https://g.example/a", "user"), None);
        assert_eq!(decode_segment("a+b%2Fc%").as_deref(), Some("a+b/c%"));
        assert_eq!(decode_segment("%e2%9c%93%4").as_deref(), Some("\u{2713}%4"));
    }

    #[test]
    fn same_origin_checks() {
        let url = "https://app.example/__session/logout";
        assert!(same_origin(Some("same-origin"), None, url));
        assert!(
            !same_origin(Some("cross-site"), Some("https://app.example"), url),
            "fetch metadata wins"
        );
        assert!(!same_origin(Some("same-site"), None, url));
        assert!(same_origin(None, Some("https://app.example"), url));
        assert!(!same_origin(None, Some("https://evil.example"), url));
        assert!(
            !same_origin(None, Some("http://app.example"), url),
            "scheme matters"
        );
        assert!(!same_origin(None, Some("https://app.example.evil"), url));
        assert!(!same_origin(None, Some("null"), url));
        assert!(!same_origin(None, None, url));
    }

    #[test]
    fn url_parts() {
        assert_eq!(path("https://a.example:8443/x/y?q=1#f"), "/x/y?q=1#f");
        assert_eq!(path("https://a.example"), "/");
        assert_eq!(path("https://a.example?q"), "?q");
        assert_eq!(host("https://a.example:8443/x"), "a.example:8443");
        assert_eq!(host("http://h"), "h");
        assert_eq!(scheme("http://h/x"), "http");
        assert_eq!(
            origin("https://a.example:8443/x?y"),
            "https://a.example:8443"
        );
    }

    #[test]
    fn targets() {
        let url = "https://gate.example/a/b?c=1";
        assert_eq!(target(None, url), url, "route mode");
        assert_eq!(
            target(Some("http://origin:8788/base"), url),
            "http://origin:8788/base/a/b?c=1"
        );
    }
}
