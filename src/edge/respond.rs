//! Responses sessiongate makes itself (not the origin's).

use worker::wasm_bindgen::JsValue;
use worker::web_sys::{Headers, Response, ResponseInit};
use worker::Result;

/// A short plain-text response.
pub fn text(status: u16, body: &str) -> Result<Response> {
    respond(status, "text/plain; charset=utf-8", body)
}

/// A response with `body`, never cached.
pub fn respond(status: u16, content_type: &str, body: &str) -> Result<Response> {
    let headers = Headers::new()?;
    headers.set("content-type", content_type)?;
    headers.set("cache-control", "no-store")?;
    let init = ResponseInit::new();
    init.set_status(status);
    init.set_headers(&JsValue::from(&headers));
    Ok(Response::new_with_opt_str_and_init(Some(body), &init)?)
}

/// What a request to a fresh-only path with a stale login gets: a `303` to the
/// re-authentication URL, or a `401` with a JSON body; never cached.
pub fn refusal(refusal: &crate::fresh::Refusal) -> Result<Response> {
    use crate::fresh::Refusal;
    match refusal {
        Refusal::Redirect(location) => {
            let headers = Headers::new()?;
            headers.set("location", location)?;
            headers.set("cache-control", "no-store")?;
            let init = ResponseInit::new();
            init.set_status(303);
            init.set_headers(&JsValue::from(&headers));
            Ok(Response::new_with_opt_str_and_init(None, &init)?)
        }
        Refusal::Unauthorized(body) => respond(401, "application/json", body),
    }
}
