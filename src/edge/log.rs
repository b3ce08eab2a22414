//! One JSON line per log event, to the Workers console. Never given a cookie value, a
//! MAC or a secret: callers pass ids and error messages only.

use crate::gateway::journal::{Event, Level};
use serde_json::{json, Value};
use worker::{console_error, console_log, console_warn};

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

/// Logs what a request's journal recorded, in order.
pub fn events(events: Vec<Event>) {
    for e in events {
        emit(e.level, e.name, e.fields);
    }
}

/// Logs `event` with `fields` (a JSON object) as one line.
fn emit(level: Level, event: &str, fields: Value) {
    let mut line = json!({ "level": level.as_str(), "event": event });
    if let (Some(line), Value::Object(fields)) = (line.as_object_mut(), fields) {
        line.extend(fields);
    }
    // serde_json's writer, not `Value`'s `Display` (a second copy of its serializer).
    let line = serde_json::to_string(&line).unwrap_or_default();
    match level {
        Level::Info => console_log!("{line}"),
        Level::Warn => console_warn!("{line}"),
        Level::Error => console_error!("{line}"),
    }
}
