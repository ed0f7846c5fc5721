//! Field-level validation of request bodies: every error names the field
//! (as a dotted path such as `params.region`) and says what is wrong.

use serde_json::{Map, Value};

/// A rejected field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// Reads fields out of a JSON object, remembering its path for errors.
pub struct Fields<'a> {
    pub path: String,
    map: &'a Map<String, Value>,
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

impl<'a> Fields<'a> {
    /// `value` must be an object; `allowed` lists every known key.
    pub fn new(path: &str, value: &'a Value, allowed: &[&str]) -> Result<Fields<'a>, FieldError> {
        let map = value.as_object().ok_or_else(|| {
            FieldError::new(path, format!("must be an object, got {}", kind(value)))
        })?;
        let mut unknown: Vec<&String> = map
            .keys()
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        unknown.sort();
        if let Some(k) = unknown.first() {
            return Err(FieldError::new(
                join(path, k),
                format!("unknown field (allowed: {})", allowed.join(", ")),
            ));
        }
        Ok(Fields {
            path: path.to_string(),
            map,
        })
    }

    pub fn field(&self, key: &str) -> String {
        join(&self.path, key)
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    pub fn required(&self, key: &str) -> Result<&'a Value, FieldError> {
        self.get(key)
            .ok_or_else(|| FieldError::new(self.field(key), "is required"))
    }

    pub fn string(&self, key: &str) -> Result<Option<&'a str>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(FieldError::new(
                self.field(key),
                format!("must be a string, got {}", kind(other)),
            )),
        }
    }

    pub fn required_string(&self, key: &str) -> Result<&'a str, FieldError> {
        self.string(key)?
            .ok_or_else(|| FieldError::new(self.field(key), "is required"))
    }

    pub fn integer(&self, key: &str) -> Result<Option<u64>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => v.as_u64().map(Some).ok_or_else(|| {
                FieldError::new(
                    self.field(key),
                    format!("must be a non-negative integer, got {}", kind(v)),
                )
            }),
        }
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(FieldError::new(
                self.field(key),
                format!("must be true or false, got {}", kind(other)),
            )),
        }
    }

    pub fn string_list(&self, key: &str) -> Result<Option<Vec<&'a str>>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Array(items)) => items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str().ok_or_else(|| {
                        FieldError::new(
                            format!("{}[{i}]", self.field(key)),
                            format!("must be a string, got {}", kind(v)),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()
                .map(Some),
            Some(other) => Err(FieldError::new(
                self.field(key),
                format!("must be an array of strings, got {}", kind(other)),
            )),
        }
    }
}

/// The JSON type of a value, for messages.
pub fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Checks an identifier: 1–`max` characters of `[A-Za-z0-9_-]`.
pub fn identifier(field: &str, value: &str, max: usize) -> Result<(), FieldError> {
    if value.is_empty() || value.len() > max {
        return Err(FieldError::new(
            field,
            format!("must be 1 to {max} characters"),
        ));
    }
    if let Some(c) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '_'))
    {
        return Err(FieldError::new(
            field,
            format!("may contain only letters, digits, '-' and '_' (found {c:?})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_fields_are_named() {
        let v = json!({"a": 1, "zz": 2});
        let err = Fields::new("params", &v, &["a"]).err().unwrap();
        assert_eq!(err.field, "params.zz");
    }

    #[test]
    fn wrong_types_are_named() {
        let v = json!({"n": "x", "l": ["a", 3]});
        let f = Fields::new("p", &v, &["n", "l"]).unwrap();
        assert_eq!(f.integer("n").unwrap_err().field, "p.n");
        assert_eq!(f.string_list("l").unwrap_err().field, "p.l[1]");
        assert_eq!(f.required("missing").unwrap_err().message, "is required");
    }

    #[test]
    fn identifiers() {
        assert!(identifier("id", "acct-1_a", 64).is_ok());
        assert!(identifier("id", "", 64).is_err());
        assert!(identifier("id", "a/b", 64).is_err());
        assert!(identifier("id", "a\n", 64).is_err());
    }
}
