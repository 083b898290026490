//! JSON Schemas from Rust types: what `#[query]`, `#[action]` and `#[job]` register as the
//! input, output and params schemas, so the host validates what the types say.
//! `#[derive(JsonSchema)]` (from spacedrive-sdk-macros) implements [`JsonSchema`] for structs and
//! unit-variant enums; the impls here cover the standard types.

use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap};

pub trait JsonSchema {
    fn json_schema() -> Value;
    /// Whether a field of this type may be left out (an `Option`).
    fn optional() -> bool {
        false
    }
    /// The schema of a field that may be left out (`#[serde(default)]`): an `Option`'s is its
    /// inner type's, since leaving the field out is how to say "none".
    fn optional_schema() -> Value {
        Self::json_schema()
    }
}

macro_rules! schema_of {
    ($t:ty, $schema:expr) => {
        impl JsonSchema for $t {
            fn json_schema() -> Value {
                $schema
            }
        }
    };
}

schema_of!(bool, json!({ "type": "boolean" }));
schema_of!(String, json!({ "type": "string" }));
schema_of!(str, json!({ "type": "string" }));
schema_of!(f32, json!({ "type": "number" }));
schema_of!(f64, json!({ "type": "number" }));
schema_of!(i8, json!({ "type": "integer", "minimum": i8::MIN, "maximum": i8::MAX }));
schema_of!(i16, json!({ "type": "integer", "minimum": i16::MIN, "maximum": i16::MAX }));
schema_of!(i32, json!({ "type": "integer", "minimum": i32::MIN, "maximum": i32::MAX }));
schema_of!(i64, json!({ "type": "integer" }));
schema_of!(u8, json!({ "type": "integer", "minimum": 0, "maximum": u8::MAX }));
schema_of!(u16, json!({ "type": "integer", "minimum": 0, "maximum": u16::MAX }));
schema_of!(u32, json!({ "type": "integer", "minimum": 0, "maximum": u32::MAX }));
schema_of!(u64, json!({ "type": "integer", "minimum": 0 }));
schema_of!(usize, json!({ "type": "integer", "minimum": 0 }));
schema_of!(Value, json!({}));
schema_of!((), json!({ "type": "null" }));

impl<T: JsonSchema + ?Sized> JsonSchema for &T {
    fn json_schema() -> Value {
        T::json_schema()
    }
}

impl<T: JsonSchema + ?Sized> JsonSchema for Box<T> {
    fn json_schema() -> Value {
        T::json_schema()
    }
}

/// An `Option` may be absent or `null`.
impl<T: JsonSchema> JsonSchema for Option<T> {
    fn json_schema() -> Value {
        nullable(T::json_schema())
    }
    fn optional() -> bool {
        true
    }
    fn optional_schema() -> Value {
        T::json_schema()
    }
}

impl<T: JsonSchema> JsonSchema for Vec<T> {
    fn json_schema() -> Value {
        json!({ "type": "array", "items": T::json_schema() })
    }
}

impl<T: JsonSchema> JsonSchema for [T] {
    fn json_schema() -> Value {
        json!({ "type": "array", "items": T::json_schema() })
    }
}

impl<T: JsonSchema> JsonSchema for HashMap<String, T> {
    fn json_schema() -> Value {
        json!({ "type": "object", "additionalProperties": T::json_schema() })
    }
}

impl<T: JsonSchema> JsonSchema for BTreeMap<String, T> {
    fn json_schema() -> Value {
        json!({ "type": "object", "additionalProperties": T::json_schema() })
    }
}

impl JsonSchema for Map<String, Value> {
    fn json_schema() -> Value {
        json!({ "type": "object" })
    }
}

/// `schema` that also accepts `null`.
pub fn nullable(schema: Value) -> Value {
    if let Some(t) = schema.get("type").cloned() {
        let mut s = schema;
        let types = match t {
            Value::String(one) if one != "null" => json!([one, "null"]),
            Value::Array(mut many) => {
                if !many.iter().any(|x| x == "null") {
                    many.push(json!("null"));
                }
                Value::Array(many)
            }
            other => other,
        };
        s["type"] = types;
        // An enum lists its values: null is one more.
        if let Some(Value::Array(values)) = s.get_mut("enum") {
            if !values.iter().any(|v| v.is_null()) {
                values.push(Value::Null);
            }
        }
        return s;
    }
    if schema.as_object().map(|o| o.is_empty()).unwrap_or(false) {
        return schema;
    }
    json!({ "anyOf": [schema, { "type": "null" }] })
}

/// Adds `key: value` to an object schema (used by the derive for field attributes).
pub fn with(mut schema: Value, key: &str, value: Value) -> Value {
    if let Value::Object(o) = &mut schema {
        o.insert(key.to_string(), value);
    }
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nullable_extends_types() {
        assert_eq!(nullable(json!({"type":"string"})), json!({"type":["string","null"]}));
        assert_eq!(<Option<Vec<u8>>>::json_schema()["type"], json!(["array", "null"]));
        assert_eq!(nullable(json!({"enum":["a"]})), json!({"anyOf":[{"enum":["a"]},{"type":"null"}]}));
    }
}
