//! The request's data point, written to Workers Analytics Engine (`SESSION_METRICS`)
//! without awaiting: `writeDataPoint` only queues it. The core decides what it says
//! ([`Metric`]); here the times are added. No binding: nothing is written.
//!
//! Layout (what the queries in the README read):
//! - `index1`: the outcome (`hit`, `new`, `expired`, `forged`, `fallback`, `unavailable`);
//! - `blob1` store (`d1`, `cookie`, `cookie-fallback`, `unavailable`), `blob2` outcome,
//!   `blob3` the commands applied (comma list, `""` for none);
//! - `double1` D1 milliseconds, `double2` origin milliseconds, `double3` 1 when renewed,
//!   `double4` 1 when a session was created, `double5` 1 when the commands logged a user in.

use super::SESSION_METRICS;
use crate::gateway::metrics::Metric;
use worker::js_sys::{Array, Function, Object, Reflect};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::Env;

/// Where a request's time went, in milliseconds (the runtime's clock moves on I/O).
#[derive(Debug, Clone, Copy, Default)]
pub struct Times {
    /// Resolving the session and saving it: the D1 round trips.
    pub d1_ms: f64,
    /// Waiting for the origin.
    pub origin_ms: f64,
}

/// Milliseconds now, as the runtime tells them.
#[must_use]
pub fn now_ms() -> f64 {
    worker::js_sys::Date::now()
}

/// Writes `metric` with `times`, if the dataset is bound. Never fails the request.
pub fn write(env: &Env, metric: &Metric, times: Times) {
    let dataset = Reflect::get(env, &SESSION_METRICS.into()).unwrap_or(JsValue::UNDEFINED);
    if dataset.is_undefined() {
        return;
    }
    let outcome = JsValue::from_str(metric.outcome.as_str());
    let flag = |on: bool| JsValue::from_f64(if on { 1.0 } else { 0.0 });
    let point = Object::new();
    let set = |name: &str, values: Array| Reflect::set(&point, &name.into(), &values);
    let written = set("indexes", Array::of1(&outcome))
        .and_then(|_| {
            let blobs = [
                metric.store.as_str().into(),
                outcome.clone(),
                metric.commands_text().into(),
                metric.session_prefix().into(),
            ];
            set("blobs", blobs.iter().collect())
        })
        .and_then(|_| {
            let doubles = [
                JsValue::from_f64(times.d1_ms),
                JsValue::from_f64(times.origin_ms),
                flag(metric.renewed),
                flag(metric.created),
                flag(metric.login),
            ];
            set("doubles", doubles.iter().collect())
        })
        .and_then(|_| Reflect::get(&dataset, &"writeDataPoint".into()))
        .and_then(|f| f.dyn_into::<Function>())
        .and_then(|f| f.call1(&dataset, &point));
    if let Err(e) = written {
        let error = super::gateway::js_error(&e);
        super::log::warn("metric_write_failed", serde_json::json!({ "error": error }));
    }
}
