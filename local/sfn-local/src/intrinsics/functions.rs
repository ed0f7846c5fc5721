//! Evaluation of intrinsic calls: resolving arguments from the effective
//! input and the context object, then each function's behaviour as the AWS
//! developer guide ("Intrinsic functions for JSONPath states") documents
//! it. Bad arguments at run time are `States.IntrinsicFailure`.

use std::fmt;

use base64::Engine as _;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use super::call::{Arg, Call, Func, MAX_ENCODE_INPUT, MAX_RANGE_ITEMS, Piece};
use crate::context::Context;
use crate::error::StatesError;
use crate::path::type_name;

/// Evaluates a parsed call against the effective input and context.
pub fn evaluate(call: &Call, input: &Value, ctx: &Context) -> Result<Value, StatesError> {
    let mut args = Vec::with_capacity(call.args.len());
    for arg in &call.args {
        args.push(match arg {
            Arg::Str { value, .. } => Value::String(value.clone()),
            Arg::Literal(v) => v.clone(),
            Arg::InputPath(p) => p.select(input).map(|v| v.into_owned()).ok_or_else(|| {
                StatesError::runtime(format!(
                    "The JSONPath '{p}' specified as an argument of {} could not be found in the input",
                    call.func
                ))
            })?,
            Arg::ContextPath(p) => ctx.select(p).ok_or_else(|| {
                StatesError::runtime(format!(
                    "The JSONPath '${p}' specified as an argument of {} could not be found in the context object",
                    call.func
                ))
            })?,
            Arg::Call(inner) => evaluate(inner, input, ctx)?,
        });
    }
    apply(call, args)
}

fn fail(func: Func, reason: impl fmt::Display) -> StatesError {
    StatesError::intrinsic(format!("Invalid arguments in {func}: {reason}"))
}

fn as_str(func: Func, v: &Value, what: &str) -> Result<String, StatesError> {
    v.as_str().map(str::to_string).ok_or_else(|| {
        fail(
            func,
            format!("{what} must be a string, got {}", type_name(v)),
        )
    })
}

fn as_int(func: Func, v: &Value, what: &str) -> Result<i64, StatesError> {
    if let Some(i) = v.as_i64() {
        return Ok(i);
    }
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => Ok(f as i64),
        _ => Err(fail(func, format!("{what} must be an integer, got {v}"))),
    }
}

fn as_array(func: Func, v: Value, what: &str) -> Result<Vec<Value>, StatesError> {
    match v {
        Value::Array(items) => Ok(items),
        other => Err(fail(
            func,
            format!("{what} must be an array, got {}", type_name(&other)),
        )),
    }
}

fn apply(call: &Call, mut args: Vec<Value>) -> Result<Value, StatesError> {
    let func = call.func;
    match func {
        Func::Format => {
            let values = args.split_off(1);
            let pieces = match call.args.first() {
                Some(Arg::Str { pieces, .. }) => pieces.clone(),
                _ => {
                    let template = as_str(func, &args[0], "the template")?;
                    split_template(&template)
                }
            };
            let placeholders = pieces.iter().filter(|p| **p == Piece::Placeholder).count();
            if placeholders != values.len() {
                return Err(fail(
                    func,
                    format!(
                        "the template has {placeholders} '{{}}' but {} value(s) were given",
                        values.len()
                    ),
                ));
            }
            let mut out = String::new();
            let mut values = values.into_iter();
            for piece in pieces {
                match piece {
                    Piece::Text(t) => out.push_str(&t),
                    Piece::Placeholder => match values.next() {
                        Some(Value::String(s)) => out.push_str(&s),
                        Some(v @ (Value::Number(_) | Value::Bool(_) | Value::Null)) => {
                            out.push_str(&v.to_string())
                        }
                        Some(v) => {
                            return Err(fail(
                                func,
                                format!("cannot format a {} into a string", type_name(&v)),
                            ));
                        }
                        None => return Err(fail(func, "missing value")),
                    },
                }
            }
            Ok(Value::String(out))
        }
        Func::StringToJson => {
            let s = as_str(func, &args[0], "the argument")?;
            serde_json::from_str(&s).map_err(|e| fail(func, format!("not valid JSON ({e})")))
        }
        Func::JsonToString => Ok(Value::String(args[0].to_string())),
        Func::Array => Ok(Value::Array(args)),
        Func::ArrayPartition => {
            let size = as_int(func, &args[1], "the chunk size")?;
            if size <= 0 {
                return Err(fail(func, "the chunk size must be a positive integer"));
            }
            let items = as_array(func, args.swap_remove(0), "the first argument")?;
            let size = usize::try_from(size).map_err(|e| fail(func, e))?;
            Ok(Value::Array(
                items
                    .chunks(size)
                    .map(|c| Value::Array(c.to_vec()))
                    .collect(),
            ))
        }
        Func::ArrayContains => {
            let needle = args.pop().unwrap_or(Value::Null);
            let items = as_array(func, args.swap_remove(0), "the first argument")?;
            Ok(Value::Bool(items.contains(&needle)))
        }
        Func::ArrayRange => {
            let start = as_int(func, &args[0], "the start")?;
            let end = as_int(func, &args[1], "the end")?;
            let step = as_int(func, &args[2], "the step")?;
            if step == 0 {
                return Err(fail(func, "the step must not be 0"));
            }
            let count = if (end - start) / step < 0 {
                0
            } else {
                (end - start) / step + 1
            };
            if count > MAX_RANGE_ITEMS {
                return Err(fail(
                    func,
                    format!("the range would have {count} items; the limit is {MAX_RANGE_ITEMS}"),
                ));
            }
            Ok(Value::Array(
                (0..count).map(|i| Value::from(start + i * step)).collect(),
            ))
        }
        Func::ArrayGetItem => {
            let index = as_int(func, &args[1], "the index")?;
            let items = as_array(func, args.swap_remove(0), "the first argument")?;
            usize::try_from(index)
                .ok()
                .and_then(|i| items.get(i).cloned())
                .ok_or_else(|| {
                    fail(
                        func,
                        format!("index {index} is out of bounds for {} items", items.len()),
                    )
                })
        }
        Func::ArrayLength => {
            let items = as_array(func, args.swap_remove(0), "the argument")?;
            Ok(Value::from(items.len()))
        }
        Func::ArrayUnique => {
            let items = as_array(func, args.swap_remove(0), "the argument")?;
            let mut unique: Vec<Value> = Vec::with_capacity(items.len());
            for item in items {
                if !unique.contains(&item) {
                    unique.push(item);
                }
            }
            Ok(Value::Array(unique))
        }
        Func::Base64Encode => {
            let s = as_str(func, &args[0], "the argument")?;
            check_len(func, &s)?;
            Ok(Value::String(
                base64::engine::general_purpose::STANDARD.encode(s.as_bytes()),
            ))
        }
        Func::Base64Decode => {
            let s = as_str(func, &args[0], "the argument")?;
            check_len(func, &s)?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(s.as_bytes())
                .map_err(|e| fail(func, format!("not valid base64 ({e})")))?;
            String::from_utf8(bytes)
                .map(Value::String)
                .map_err(|_| fail(func, "the decoded data is not UTF-8 text"))
        }
        Func::Hash => {
            let data = match &args[0] {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            check_len(func, &data)?;
            let algorithm = as_str(func, &args[1], "the algorithm")?;
            let digest = hash(&algorithm, data.as_bytes()).ok_or_else(|| {
                fail(
                    func,
                    format!(
                        "unknown algorithm '{algorithm}' (use MD5, SHA-1, SHA-256, SHA-384 or SHA-512)"
                    ),
                )
            })?;
            Ok(Value::String(digest))
        }
        Func::JsonMerge => {
            if args[2] != Value::Bool(false) {
                return Err(fail(
                    func,
                    "only shallow merging is supported: the third argument must be false",
                ));
            }
            let (Value::Object(mut left), Value::Object(right)) = (args[0].take(), args[1].take())
            else {
                return Err(fail(func, "both values to merge must be objects"));
            };
            for (k, v) in right {
                left.insert(k, v);
            }
            Ok(Value::Object(left))
        }
        Func::MathRandom => {
            let start = as_int(func, &args[0], "the start")?;
            let end = as_int(func, &args[1], "the end")?;
            if start >= end {
                return Err(fail(func, "the start must be less than the end"));
            }
            let value = match args.get(2) {
                Some(seed) => {
                    let seed = as_int(func, seed, "the seed")?;
                    rand::rngs::StdRng::seed_from_u64(seed as u64).random_range(start..end)
                }
                None => rand::rng().random_range(start..end),
            };
            Ok(Value::from(value))
        }
        Func::MathAdd => {
            let a = as_int(func, &args[0], "the first value")?;
            let b = as_int(func, &args[1], "the second value")?;
            a.checked_add(b)
                .map(Value::from)
                .ok_or_else(|| fail(func, "the sum overflows"))
        }
        Func::StringSplit => {
            let s = as_str(func, &args[0], "the string")?;
            let delimiters = as_str(func, &args[1], "the delimiter")?;
            Ok(Value::Array(
                s.split(|c| delimiters.contains(c))
                    .filter(|part| !part.is_empty())
                    .map(|part| Value::String(part.to_string()))
                    .collect(),
            ))
        }
        Func::Uuid => Ok(Value::String(uuid::Uuid::new_v4().to_string())),
    }
}

fn check_len(func: Func, s: &str) -> Result<(), StatesError> {
    let n = s.chars().count();
    if n > MAX_ENCODE_INPUT {
        return Err(fail(
            func,
            format!("the input has {n} characters; the limit is {MAX_ENCODE_INPUT}"),
        ));
    }
    Ok(())
}

fn split_template(template: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut rest = template;
    while let Some(idx) = rest.find("{}") {
        if idx > 0 {
            pieces.push(Piece::Text(rest[..idx].to_string()));
        }
        pieces.push(Piece::Placeholder);
        rest = &rest[idx + 2..];
    }
    if !rest.is_empty() {
        pieces.push(Piece::Text(rest.to_string()));
    }
    pieces
}

fn hash(algorithm: &str, data: &[u8]) -> Option<String> {
    use sha2::Digest;
    Some(match algorithm {
        "MD5" => hex::encode(md5::Md5::digest(data)),
        "SHA-1" => hex::encode(sha1::Sha1::digest(data)),
        "SHA-256" => hex::encode(sha2::Sha256::digest(data)),
        "SHA-384" => hex::encode(sha2::Sha384::digest(data)),
        "SHA-512" => hex::encode(sha2::Sha512::digest(data)),
        _ => return None,
    })
}
