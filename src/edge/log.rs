//! One JSON line per log event, to the Workers console. Never given a cookie value, a
//! MAC or a secret: callers pass ids and error messages only.

use serde_json::{json, Value};
use worker::{console_error, console_log, console_warn};

#[derive(Clone, Copy)]
enum Level {
    Info,
    Warn,
    Error,
}

/// Logs an expected event (an expired session, an unknown id).
pub fn info(event: &str, fields: Value) {
    emit(Level::Info, event, fields);
}

/// Logs suspicious input (a forged cookie, a malformed command).
pub fn warn(event: &str, fields: Value) {
    emit(Level::Warn, event, fields);
}

/// Logs a failure (D1, origin, configuration).
pub fn error(event: &str, fields: Value) {
    emit(Level::Error, event, fields);
}

/// Logs `event` with `fields` (a JSON object) as one line.
fn emit(level: Level, event: &str, fields: Value) {
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
