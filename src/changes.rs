//! Changes to session data, applied by the store to whatever is stored at write
//! time rather than to the copy a request loaded.
//!
//! The unit of concurrency is the top-level key: two requests that change different keys
//! of one session both survive; for the same key the last writer wins. A change is
//! stored as two JSON merge patches (RFC 7396) applied after an optional clear: one
//! that removes every touched key, one that sets the new values (removing first makes a
//! set *replace* an object instead of merging into it). D1 runs both with SQLite's
//! `json_patch` inside one `UPDATE`.

use crate::patch::{self, Data};
use serde_json::Value;
use std::collections::BTreeMap;

/// What a save changes in the data.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Changes {
    clear: bool,
    /// Touched top-level keys: `Some(value)` set, `None` removed.
    keys: BTreeMap<String, Option<Value>>,
}

impl Changes {
    /// Whether nothing changes.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        !self.clear && self.keys.is_empty()
    }

    /// Whether the data is emptied before the keys are applied.
    #[must_use]
    pub fn clears(&self) -> bool {
        self.clear
    }

    /// Empties the data (and forgets earlier key changes).
    pub fn clear(&mut self) {
        self.clear = true;
        self.keys.clear();
    }

    /// Sets `key` to `value` (`None` removes it). `null`s inside objects are dropped, as
    /// JSON merge patch stores them.
    pub fn set(&mut self, key: &str, value: Option<Value>) {
        self.keys.insert(key.to_owned(), value.map(normalize));
    }

    /// This change restricted to `key` (without the clear).
    #[must_use]
    pub fn only(&self, key: &str) -> Self {
        Self {
            clear: false,
            keys: self
                .keys
                .get_key_value(key)
                .map(|(k, v)| (k.clone(), v.clone()))
                .into_iter()
                .collect(),
        }
    }

    /// The top-level keys this change writes, sorted.
    #[must_use]
    pub fn keys(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// The touched keys as one map: a value sets, `null` removes.
    #[must_use]
    pub fn entries(&self) -> Data {
        self.keys
            .iter()
            .map(|(k, v)| (k.clone(), v.clone().unwrap_or(Value::Null)))
            .collect()
    }

    /// This change followed by `next`, as one change.
    #[must_use]
    pub fn then(&self, next: &Self) -> Self {
        if next.clear {
            return next.clone();
        }
        let mut out = self.clone();
        out.keys
            .extend(next.keys.iter().map(|(k, v)| (k.clone(), v.clone())));
        out
    }

    /// `(reset, values)`: the merge patch removing every touched key, then the one
    /// setting the new values.
    #[must_use]
    pub fn patches(&self) -> (Data, Data) {
        let mut reset = Data::new();
        let mut values = Data::new();
        for (k, v) in &self.keys {
            reset.insert(k.clone(), Value::Null);
            if let Some(v) = v {
                values.insert(k.clone(), v.clone());
            }
        }
        (reset, values)
    }

    /// Applies the change to `data` exactly as a store does.
    pub fn apply(&self, data: &mut Data) {
        if self.clear {
            data.clear();
        }
        let (reset, values) = self.patches();
        patch::merge(data, &reset);
        patch::merge(data, &values);
    }
}

/// The value as a merge patch would store it: `null`s inside objects removed.
fn normalize(value: Value) -> Value {
    match value {
        Value::Object(obj) => {
            let mut out = Data::new();
            patch::merge(&mut out, &obj);
            Value::Object(out)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn data(v: Value) -> Data {
        match v {
            Value::Object(m) => m,
            _ => panic!("object"),
        }
    }

    #[test]
    fn set_replaces_objects_and_remove_deletes() {
        let mut c = Changes::default();
        c.set("cart", Some(json!({"items": [1]})));
        c.set("gone", None);
        let mut d = data(json!({"cart": {"items": [0], "coupon": "X"}, "gone": 1, "other": true}));
        c.apply(&mut d);
        assert_eq!(
            Value::Object(d),
            json!({"cart": {"items": [1]}, "other": true})
        );
        assert_eq!(c.keys(), ["cart", "gone"]);
    }

    #[test]
    fn clear_then_set() {
        let mut c = Changes::default();
        c.set("a", Some(json!(1)));
        c.clear();
        c.set("b", Some(json!(2)));
        let mut d = data(json!({"a": 0, "z": 9}));
        c.apply(&mut d);
        assert_eq!(Value::Object(d), json!({"b": 2}));
        assert!(c.clears());
    }

    #[test]
    fn nested_nulls_are_dropped_like_the_store_does() {
        let mut c = Changes::default();
        c.set("k", Some(json!({"a": null, "b": {"c": null, "d": 1}})));
        let mut d = Data::new();
        c.apply(&mut d);
        assert_eq!(Value::Object(d), json!({"k": {"b": {"d": 1}}}));
    }

    #[test]
    fn composition_is_the_sequence() {
        let mut a = Changes::default();
        a.set("x", Some(json!(1)));
        a.set("y", Some(json!(2)));
        let mut b = Changes::default();
        b.set("y", None);
        b.set("z", Some(json!(3)));
        let base = data(json!({"w": 0, "y": 9}));
        let (mut seq, mut once) = (base.clone(), base);
        a.apply(&mut seq);
        b.apply(&mut seq);
        a.then(&b).apply(&mut once);
        assert_eq!(seq, once);
        assert_eq!(Value::Object(once), json!({"w": 0, "x": 1, "z": 3}));
        let mut clearing = Changes::default();
        clearing.clear();
        assert!(a.then(&clearing).clears());
        assert_eq!(
            Value::Object(a.then(&b).entries()),
            json!({"x": 1, "y": null, "z": 3})
        );
    }

    #[test]
    fn empty_changes() {
        let c = Changes::default();
        assert!(c.is_empty());
        assert_eq!(c.patches(), (Data::new(), Data::new()));
    }
}
