//! JSON merge patch (RFC 7396), the format of `X-Session-Update`.
//!
//! The D1 store applies patches inside SQL with SQLite's `json_patch` (same semantics),
//! so concurrent patches of different keys both survive; this is the in-memory twin for
//! new sessions and the other stores.

use serde_json::{Map, Value};

/// Session data: a JSON object.
pub type Data = Map<String, Value>;

/// Applies `patch` to `target` in place: `null` deletes a key, an object merges
/// recursively, anything else replaces.
pub fn merge(target: &mut Map<String, Value>, patch: &Map<String, Value>) {
    for (key, value) in patch {
        match value {
            Value::Null => {
                target.remove(key);
            }
            Value::Object(inner) => {
                let slot = target
                    .entry(key.clone())
                    .or_insert_with(|| Value::Object(Map::new()));
                if !slot.is_object() {
                    *slot = Value::Object(Map::new());
                }
                if let Value::Object(slot) = slot {
                    merge(slot, inner);
                }
            }
            other => {
                target.insert(key.clone(), other.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(target: Value, patch: Value) -> Value {
        let (Value::Object(mut t), Value::Object(p)) = (target, patch) else {
            panic!("objects only")
        };
        merge(&mut t, &p);
        Value::Object(t)
    }

    /// The examples of RFC 7396 appendix A whose target and patch are objects.
    #[test]
    fn rfc7396_examples() {
        let cases = [
            (json!({"a":"b"}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"b"}), json!({"b":"c"}), json!({"a":"b","b":"c"})),
            (json!({"a":"b"}), json!({"a":null}), json!({})),
            (
                json!({"a":"b","b":"c"}),
                json!({"a":null}),
                json!({"b":"c"}),
            ),
            (json!({"a":["b"]}), json!({"a":"c"}), json!({"a":"c"})),
            (json!({"a":"c"}), json!({"a":["b"]}), json!({"a":["b"]})),
            (
                json!({"a":{"b":"c"}}),
                json!({"a":{"b":"d","c":null}}),
                json!({"a":{"b":"d"}}),
            ),
            (json!({"a":[{"b":"c"}]}), json!({"a":[1]}), json!({"a":[1]})),
            (json!({"e":null}), json!({"a":1}), json!({"e":null,"a":1})),
            (
                json!({}),
                json!({"a":{"bb":{"ccc":null}}}),
                json!({"a":{"bb":{}}}),
            ),
            (json!({"a":"x"}), json!({"a":{"b":1}}), json!({"a":{"b":1}})),
        ];
        for (target, patch, want) in cases {
            assert_eq!(
                apply(target.clone(), patch.clone()),
                want,
                "{target} + {patch}"
            );
        }
    }
}
