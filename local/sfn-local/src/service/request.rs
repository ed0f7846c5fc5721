//! Decoding of awsJson1_0 request fields as the Step Functions API validates
//! them (null counts as absent; a missing required member is a
//! ValidationException, a wrong type a SerializationException), and the
//! `maxResults`/`nextToken` pagination of the List and History operations.

use base64::Engine as _;
use serde_json::Value;

use crate::error::SfnError;

pub(super) fn field<'a>(req: &'a Value, name: &str) -> Option<&'a Value> {
    req.get(name).filter(|v| !v.is_null())
}

pub(super) fn required_str<'a>(req: &'a Value, name: &str) -> Result<&'a str, SfnError> {
    match field(req, name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(SfnError::Serialization(format!(
            "'{name}' must be a string"
        ))),
        None => Err(SfnError::Validation(format!(
            "1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"
        ))),
    }
}

pub(super) fn optional_str<'a>(req: &'a Value, name: &str) -> Result<Option<&'a str>, SfnError> {
    match field(req, name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(SfnError::Serialization(format!(
            "'{name}' must be a string"
        ))),
    }
}

pub(super) fn max_results(req: &Value, default: usize) -> Result<usize, SfnError> {
    match field(req, "maxResults") {
        None => Ok(default),
        Some(v) => match v.as_u64() {
            Some(0) => Ok(default),
            Some(n) if n <= 1000 => Ok(n as usize),
            _ => Err(SfnError::Validation(
                "maxResults must be an integer from 0 to 1000".into(),
            )),
        },
    }
}

pub(super) fn encode_token(offset: usize) -> String {
    base64::engine::general_purpose::STANDARD.encode(format!("sfn-local:{offset}"))
}

pub(super) fn decode_token(req: &Value) -> Result<usize, SfnError> {
    let Some(token) = optional_str(req, "nextToken")? else {
        return Ok(0);
    };
    base64::engine::general_purpose::STANDARD
        .decode(token)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| s.strip_prefix("sfn-local:").and_then(|n| n.parse().ok()))
        .ok_or_else(|| SfnError::InvalidToken(format!("Invalid Token: '{token}'")))
}
