//! One JSON line per log event, to the Workers console. Never given a cookie value, a
//! MAC or a secret: callers pass ids and error messages only.

use serde_json::{json, Value};
use worker::{console_error, console_log, console_warn};

/// How bad an event is.
#[derive(Clone, Copy)]
pub enum Level {
    Info,
    Warn,
    Error,
}

/// Logs `event` with `fields` (a JSON object) as one line.
pub fn emit(level: Level, event: &str, fields: Value) {
    let mut line = json!({ "level": match level {
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }, "event": event });
    if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    match level {
        Level::Info => console_log!("{line}"),
        Level::Warn => console_warn!("{line}"),
        Level::Error => console_error!("{line}"),
    }
}
