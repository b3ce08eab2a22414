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
