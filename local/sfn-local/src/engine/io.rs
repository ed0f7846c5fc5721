//! Input and output processing shared by every state (SEMANTICS.md §1):
//! selecting with InputPath/OutputPath, merging a result at ResultPath, the
//! `{"Error", "Cause"}` document a caught error becomes, and the payload
//! size error.

use serde_json::{Map, Value, json};

use crate::error::{StatesError, names};
use crate::limits::{MAX_PAYLOAD_BYTES, truncate};
use crate::path::Path;

pub(super) fn size_error(what: &str, name: &str, bytes: usize) -> StatesError {
    StatesError::new(
        names::DATA_LIMIT_EXCEEDED,
        format!(
            "The {what} of state '{name}' is {bytes} bytes, larger than the limit of {MAX_PAYLOAD_BYTES} bytes"
        ),
    )
}

pub(super) fn io_select(
    path: &Option<Path>,
    value: Value,
    field: &str,
) -> Result<Value, StatesError> {
    match path {
        None => Ok(Value::Object(Map::new())),
        Some(p) if p.is_root() => Ok(value),
        Some(p) => match p.select(&value) {
            Some(v) => Ok(v.into_owned()),
            None => Err(StatesError::runtime(format!(
                "Invalid path '{p}' : The {field} could not be found in the state's data '{}'",
                truncate(&value.to_string(), 200)
            ))),
        },
    }
}

/// Merges `result` into the raw input at ResultPath (SEMANTICS.md §1).
pub(super) fn apply_result_path(
    path: &Option<Path>,
    raw: Option<Value>,
    result: Value,
) -> Result<Value, StatesError> {
    match path {
        None => Ok(raw.unwrap_or(Value::Null)),
        Some(p) if p.is_root() => Ok(result),
        Some(p) => {
            let mut target = raw.unwrap_or(Value::Null);
            p.set(&mut target, result).map_err(|e| {
                StatesError::new(
                    names::RESULT_PATH_MATCH_FAILURE,
                    format!(
                        "Unable to apply ResultPath '{p}' to input '{}': {}",
                        truncate(&target.to_string(), 200),
                        e.reason
                    ),
                )
            })?;
            Ok(target)
        }
    }
}

/// Whether the raw input must be kept after InputPath (to merge a result
/// into it later).
pub(super) fn needs_raw(result_path: &Option<Path>) -> bool {
    !matches!(result_path, Some(p) if p.is_root())
}

pub(super) fn error_output(e: &StatesError) -> Value {
    json!({"Error": e.error, "Cause": e.cause})
}
