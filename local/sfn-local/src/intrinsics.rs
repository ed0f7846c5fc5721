//! Intrinsic functions of the JSONPath query language (`States.Format` …
//! `States.UUID`), parsed once when a definition is loaded and evaluated in
//! payload templates (AWS developer guide, "Intrinsic functions for JSONPath
//! states"; ASL-NOTES §12).

use std::fmt;

use base64::Engine as _;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use crate::context::Context;
use crate::error::StatesError;
use crate::path::{Path, type_name};

/// AWS allows up to 10 nested intrinsic functions in one field.
pub const MAX_NESTING: usize = 10;
/// `States.ArrayRange` may produce at most 1000 items.
pub const MAX_RANGE_ITEMS: i64 = 1000;
/// Input limit of `States.Base64Encode`, `States.Base64Decode` and `States.Hash`.
pub const MAX_ENCODE_INPUT: usize = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Func {
    Format,
    StringToJson,
    JsonToString,
    Array,
    ArrayPartition,
    ArrayContains,
    ArrayRange,
    ArrayGetItem,
    ArrayLength,
    ArrayUnique,
    Base64Encode,
    Base64Decode,
    Hash,
    JsonMerge,
    MathRandom,
    MathAdd,
    StringSplit,
    Uuid,
}

impl Func {
    fn from_name(name: &str) -> Option<Func> {
        Some(match name {
            "States.Format" => Func::Format,
            "States.StringToJson" => Func::StringToJson,
            "States.JsonToString" => Func::JsonToString,
            "States.Array" => Func::Array,
            "States.ArrayPartition" => Func::ArrayPartition,
            "States.ArrayContains" => Func::ArrayContains,
            "States.ArrayRange" => Func::ArrayRange,
            "States.ArrayGetItem" => Func::ArrayGetItem,
            "States.ArrayLength" => Func::ArrayLength,
            "States.ArrayUnique" => Func::ArrayUnique,
            "States.Base64Encode" => Func::Base64Encode,
            "States.Base64Decode" => Func::Base64Decode,
            "States.Hash" => Func::Hash,
            "States.JsonMerge" => Func::JsonMerge,
            "States.MathRandom" => Func::MathRandom,
            "States.MathAdd" => Func::MathAdd,
            "States.StringSplit" => Func::StringSplit,
            "States.UUID" => Func::Uuid,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Func::Format => "States.Format",
            Func::StringToJson => "States.StringToJson",
            Func::JsonToString => "States.JsonToString",
            Func::Array => "States.Array",
            Func::ArrayPartition => "States.ArrayPartition",
            Func::ArrayContains => "States.ArrayContains",
            Func::ArrayRange => "States.ArrayRange",
            Func::ArrayGetItem => "States.ArrayGetItem",
            Func::ArrayLength => "States.ArrayLength",
            Func::ArrayUnique => "States.ArrayUnique",
            Func::Base64Encode => "States.Base64Encode",
            Func::Base64Decode => "States.Base64Decode",
            Func::Hash => "States.Hash",
            Func::JsonMerge => "States.JsonMerge",
            Func::MathRandom => "States.MathRandom",
            Func::MathAdd => "States.MathAdd",
            Func::StringSplit => "States.StringSplit",
            Func::Uuid => "States.UUID",
        }
    }

    /// (minimum, maximum) number of arguments.
    fn arity(self) -> (usize, usize) {
        match self {
            Func::Format => (1, usize::MAX),
            Func::Array => (0, usize::MAX),
            Func::StringToJson
            | Func::JsonToString
            | Func::ArrayLength
            | Func::ArrayUnique
            | Func::Base64Encode
            | Func::Base64Decode => (1, 1),
            Func::ArrayPartition
            | Func::ArrayContains
            | Func::ArrayGetItem
            | Func::Hash
            | Func::MathAdd
            | Func::StringSplit => (2, 2),
            Func::ArrayRange | Func::JsonMerge => (3, 3),
            Func::MathRandom => (2, 3),
            Func::Uuid => (0, 0),
        }
    }
}

/// An argument of an intrinsic call.
#[derive(Debug, Clone)]
pub enum Arg {
    /// A quoted string literal; `braces` records which `{}` pairs are
    /// real placeholders (escaped braces `\{` `\}` are not).
    Str {
        value: String,
        pieces: Vec<Piece>,
    },
    Literal(Value),
    InputPath(Path),
    ContextPath(Path),
    Call(Box<Call>),
}

/// A piece of a `States.Format` template literal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Placeholder,
}

/// A parsed intrinsic invocation.
#[derive(Debug, Clone)]
pub struct Call {
    pub func: Func,
    pub args: Vec<Arg>,
}

/// Why an intrinsic expression was rejected at definition time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid intrinsic function '{expr}': {reason}")]
pub struct IntrinsicError {
    pub expr: String,
    pub reason: String,
}

impl fmt::Display for Func {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses `States.Name(args…)`.
pub fn parse(expr: &str) -> Result<Call, IntrinsicError> {
    let mut parser = Parser {
        chars: expr.chars().collect(),
        pos: 0,
        expr,
    };
    parser.skip_ws();
    let call = parser.call(1)?;
    parser.skip_ws();
    if parser.pos != parser.chars.len() {
        return Err(parser.err("unexpected text after the closing ')'"));
    }
    Ok(call)
}

struct Parser<'a> {
    chars: Vec<char>,
    pos: usize,
    expr: &'a str,
}

impl Parser<'_> {
    fn err(&self, reason: &str) -> IntrinsicError {
        IntrinsicError {
            expr: self.expr.to_string(),
            reason: format!("{reason} (at character {})", self.pos + 1),
        }
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    fn call(&mut self, depth: usize) -> Result<Call, IntrinsicError> {
        if depth > MAX_NESTING {
            return Err(self.err("more than 10 nested intrinsic functions"));
        }
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.')
        {
            self.pos += 1;
        }
        let name: String = self.chars[start..self.pos].iter().collect();
        let func = Func::from_name(&name)
            .ok_or_else(|| self.err(&format!("unknown intrinsic function '{name}'")))?;
        if self.peek() != Some('(') {
            return Err(self.err("expected '(' after the function name"));
        }
        self.pos += 1;
        let mut args = Vec::new();
        self.skip_ws();
        if self.peek() == Some(')') {
            self.pos += 1;
        } else {
            loop {
                self.skip_ws();
                args.push(self.arg(depth)?);
                self.skip_ws();
                match self.peek() {
                    Some(',') => self.pos += 1,
                    Some(')') => {
                        self.pos += 1;
                        break;
                    }
                    _ => return Err(self.err("expected ',' or ')'")),
                }
            }
        }
        let (min, max) = func.arity();
        if args.len() < min || args.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else if max == usize::MAX {
                format!("at least {min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(self.err(&format!(
                "{} takes {expected} argument(s), got {}",
                func.name(),
                args.len()
            )));
        }
        if let (Func::Format, Some(Arg::Str { pieces, .. })) = (func, args.first()) {
            let placeholders = pieces.iter().filter(|p| **p == Piece::Placeholder).count();
            if placeholders != args.len() - 1 {
                return Err(self.err(&format!(
                    "States.Format template has {placeholders} '{{}}' but {} value argument(s)",
                    args.len() - 1
                )));
            }
        }
        Ok(Call { func, args })
    }

    fn arg(&mut self, depth: usize) -> Result<Arg, IntrinsicError> {
        match self.peek() {
            Some('\'') => self.string(),
            Some('$') => self.path(),
            Some(c) if c == '-' || c.is_ascii_digit() => self.number(),
            Some(c) if c.is_ascii_alphabetic() => {
                let rest: String = self.chars[self.pos..].iter().collect();
                for (word, value) in [
                    ("null", Value::Null),
                    ("true", Value::Bool(true)),
                    ("false", Value::Bool(false)),
                ] {
                    if rest.starts_with(word)
                        && !rest[word.len()..]
                            .chars()
                            .next()
                            .is_some_and(|c| c.is_ascii_alphanumeric() || c == '.' || c == '(')
                    {
                        self.pos += word.len();
                        return Ok(Arg::Literal(value));
                    }
                }
                Ok(Arg::Call(Box::new(self.call(depth + 1)?)))
            }
            _ => Err(self.err("expected an argument")),
        }
    }

    fn string(&mut self) -> Result<Arg, IntrinsicError> {
        self.pos += 1; // opening quote
        let mut value = String::new();
        let mut pieces = Vec::new();
        let mut text = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("unterminated string literal")),
                Some('\'') => {
                    self.pos += 1;
                    break;
                }
                Some('\\') => {
                    let escaped = self.chars.get(self.pos + 1).copied();
                    match escaped {
                        Some(c @ ('\'' | '{' | '}' | '\\')) => {
                            value.push(c);
                            text.push(c);
                            self.pos += 2;
                        }
                        _ => {
                            return Err(self.err(
                                "open escape: only \\' \\{ \\} and \\\\ may follow a backslash",
                            ));
                        }
                    }
                }
                Some('{') if self.chars.get(self.pos + 1) == Some(&'}') => {
                    value.push_str("{}");
                    if !text.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut text)));
                    }
                    pieces.push(Piece::Placeholder);
                    self.pos += 2;
                }
                Some(c) => {
                    value.push(c);
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(Arg::Str { value, pieces })
    }

    fn number(&mut self) -> Result<Arg, IntrinsicError> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E'))
        {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let value: Value = serde_json::from_str(&text)
            .ok()
            .filter(Value::is_number)
            .ok_or_else(|| self.err(&format!("'{text}' is not a number")))?;
        Ok(Arg::Literal(value))
    }

    fn path(&mut self) -> Result<Arg, IntrinsicError> {
        let start = self.pos;
        let mut depth = 0usize;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek() {
            if let Some(q) = quote {
                if c == '\\' {
                    self.pos += 1;
                } else if c == q {
                    quote = None;
                }
            } else {
                match c {
                    '[' | '(' => depth += 1,
                    ']' | ')' if depth > 0 => depth -= 1,
                    ')' | ',' if depth == 0 => break,
                    '"' => quote = Some(c),
                    '\'' if depth > 0 => quote = Some(c),
                    _ => {}
                }
            }
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        let text = text.trim_end();
        let (context, path_text) = match text.strip_prefix("$$") {
            Some(rest) => (true, format!("${rest}")),
            None => (false, text.to_string()),
        };
        let path = Path::parse(&path_text).map_err(|e| self.err(&e.to_string()))?;
        Ok(if context {
            Arg::ContextPath(path)
        } else {
            Arg::InputPath(path)
        })
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ExecutionFacts;
    use serde_json::json;
    use std::sync::Arc;

    fn ctx() -> Context {
        Context {
            facts: Arc::new(ExecutionFacts::new(
                "arn:aws:states:us-east-1:123456789012:execution:sm:exec-1",
                "exec-1",
                json!({}),
                "arn:aws:iam::123456789012:role/r",
                "2024-01-01T00:00:00Z",
                "arn:aws:states:us-east-1:123456789012:stateMachine:sm",
                "sm",
            )),
            state_name: Arc::from("S"),
            entered_time: Arc::from("2024-01-01T00:00:00Z"),
            retry_count: 0,
            map_item: None,
        }
    }

    fn eval(expr: &str, input: Value) -> Result<Value, StatesError> {
        evaluate(&parse(expr).unwrap(), &input, &ctx())
    }

    // Each expected value below is the example of the AWS developer guide
    // page "Intrinsic functions for JSONPath states in Step Functions".

    #[test]
    fn format_interpolates_positionally() {
        let input = json!({"name": "Arnav", "template": "Hello, my name is {}."});
        assert_eq!(
            eval(
                "States.Format('Hello, my name is {}.', $.name)",
                input.clone()
            )
            .unwrap(),
            json!("Hello, my name is Arnav.")
        );
        assert_eq!(
            eval("States.Format($.template, $.name)", input).unwrap(),
            json!("Hello, my name is Arnav.")
        );
    }

    #[test]
    fn escapes_are_literal_characters() {
        // "Reserved characters in intrinsic functions": \' \{ \} \\
        assert_eq!(
            eval(r"States.Format('it\'s \{\} {} \\', $.x)", json!({"x": 1})).unwrap(),
            json!(r"it's {} 1 \")
        );
        assert!(parse(r"States.Format('bad \n')").is_err(), "open escape");
    }

    #[test]
    fn format_checks_placeholder_count() {
        assert!(parse("States.Format('{} {}', $.a)").is_err());
        assert!(eval("States.Format($.t, $.a)", json!({"t": "{}{}", "a": 1})).is_err());
    }

    #[test]
    fn json_string_round_trip() {
        let input =
            json!({"escapedJsonString": "{\"foo\": \"bar\"}", "unescapedJson": {"foo": "bar"}});
        assert_eq!(
            eval("States.StringToJson($.escapedJsonString)", input.clone()).unwrap(),
            json!({"foo": "bar"})
        );
        assert_eq!(
            eval("States.JsonToString($.unescapedJson)", input).unwrap(),
            json!("{\"foo\":\"bar\"}")
        );
    }

    #[test]
    fn array_functions() {
        assert_eq!(
            eval("States.Array($.Id)", json!({"Id": 123456})).unwrap(),
            json!([123456])
        );
        assert_eq!(
            eval(
                "States.ArrayPartition($.inputArray, 4)",
                json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
            )
            .unwrap(),
            json!([[1, 2, 3, 4], [5, 6, 7, 8], [9]])
        );
        assert_eq!(
            eval(
                "States.ArrayContains($.inputArray, $.lookingFor)",
                json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "lookingFor": 5})
            )
            .unwrap(),
            json!(true)
        );
        assert_eq!(
            eval("States.ArrayRange(1, 9, 2)", json!({})).unwrap(),
            json!([1, 3, 5, 7, 9])
        );
        assert_eq!(
            eval(
                "States.ArrayGetItem($.inputArray, $.index)",
                json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9], "index": 5})
            )
            .unwrap(),
            json!(6)
        );
        assert_eq!(
            eval(
                "States.ArrayLength($.inputArray)",
                json!({"inputArray": [1, 2, 3, 4, 5, 6, 7, 8, 9]})
            )
            .unwrap(),
            json!(9)
        );
        assert_eq!(
            eval(
                "States.ArrayUnique($.inputArray)",
                json!({"inputArray": [1, 2, 3, 3, 3, 3, 3, 3, 4]})
            )
            .unwrap(),
            json!([1, 2, 3, 4])
        );
    }

    #[test]
    fn array_range_is_limited_to_1000_items() {
        assert_eq!(
            eval("States.ArrayRange(1, 1000, 1)", json!({}))
                .unwrap()
                .as_array()
                .map(Vec::len),
            Some(1000)
        );
        let err = eval("States.ArrayRange(0, 1000, 1)", json!({})).unwrap_err();
        assert_eq!(err.error, "States.IntrinsicFailure");
        assert!(eval("States.ArrayRange(0, 10, 0)", json!({})).is_err());
    }

    #[test]
    fn base64_and_hash() {
        let input = json!({"input": "Data to encode"});
        assert_eq!(
            eval("States.Base64Encode($.input)", input).unwrap(),
            json!("RGF0YSB0byBlbmNvZGU=")
        );
        assert_eq!(
            eval(
                "States.Base64Decode($.base64)",
                json!({"base64": "RGF0YSB0byBlbmNvZGU="})
            )
            .unwrap(),
            json!("Data to encode")
        );
        assert_eq!(
            eval(
                "States.Hash($.Data, $.Algorithm)",
                json!({"Data": "input data", "Algorithm": "SHA-1"})
            )
            .unwrap(),
            json!("aaff4a450a104cd177d28d18d74485e8cae074b7")
        );
        assert!(eval("States.Hash('x', 'SHA-3')", json!({})).is_err());
        let long = "a".repeat(MAX_ENCODE_INPUT + 1);
        assert!(eval("States.Base64Encode($.s)", json!({ "s": long })).is_err());
    }

    #[test]
    fn json_merge_is_shallow_only() {
        let input = json!({
            "json1": {"a": {"a1": 1, "a2": 2}, "b": 2},
            "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}
        });
        assert_eq!(
            eval("States.JsonMerge($.json1, $.json2, false)", input.clone()).unwrap(),
            json!({"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3})
        );
        assert!(eval("States.JsonMerge($.json1, $.json2, true)", input).is_err());
    }

    #[test]
    fn math_functions() {
        assert_eq!(
            eval(
                "States.MathAdd($.value1, $.step)",
                json!({"value1": 111, "step": -1})
            )
            .unwrap(),
            json!(110)
        );
        for _ in 0..50 {
            let v = eval("States.MathRandom(1, 999)", json!({})).unwrap();
            let n = v.as_i64().unwrap();
            assert!((1..999).contains(&n));
        }
        let seeded_a = eval("States.MathRandom(1, 1000000, 7)", json!({})).unwrap();
        let seeded_b = eval("States.MathRandom(1, 1000000, 7)", json!({})).unwrap();
        assert_eq!(seeded_a, seeded_b, "a seed makes the value repeatable");
    }

    #[test]
    fn string_split_uses_each_delimiter_character() {
        assert_eq!(
            eval(
                "States.StringSplit($.inputString, $.splitter)",
                json!({"inputString": "1,2,3,4,5", "splitter": ","})
            )
            .unwrap(),
            json!(["1", "2", "3", "4", "5"])
        );
        assert_eq!(
            eval(
                "States.StringSplit($.inputString, $.splitter)",
                json!({"inputString": "This.is+a,test=string", "splitter": ".+,="})
            )
            .unwrap(),
            json!(["This", "is", "a", "test", "string"])
        );
    }

    #[test]
    fn uuid_is_v4() {
        let v = eval("States.UUID()", json!({})).unwrap();
        let parsed = uuid::Uuid::parse_str(v.as_str().unwrap()).unwrap();
        assert_eq!(parsed.get_version_num(), 4);
    }

    #[test]
    fn nesting_and_context_arguments() {
        let input = json!({"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/sample-recipe/1.0.0"}});
        let expr = "States.Format('{}.{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 2))";
        assert_eq!(eval(expr, input).unwrap(), json!("1.0.0"));
        assert_eq!(
            eval("States.Format('{}', $$.Execution.Name)", json!({})).unwrap(),
            json!("exec-1")
        );
        let deep = format!("{}1{}", "States.Array(".repeat(11), ")".repeat(11));
        assert!(parse(&deep).is_err(), "more than 10 nested calls");
    }

    #[test]
    fn bad_expressions_are_rejected_at_parse_time() {
        for expr in [
            "States.Nope(1)",
            "States.UUID(1)",
            "States.ArrayLength()",
            "States.Format('x'",
            "States.Array($.a b)",
            "States.Array('unterminated)",
        ] {
            assert!(parse(expr).is_err(), "{expr}");
        }
    }

    #[test]
    fn missing_path_argument_is_a_runtime_error() {
        let err = eval("States.Array($.missing)", json!({})).unwrap_err();
        assert_eq!(err.error, "States.Runtime");
    }

    #[test]
    fn wrong_argument_type_is_an_intrinsic_failure() {
        let err = eval("States.ArrayLength($.s)", json!({"s": "text"})).unwrap_err();
        assert_eq!(err.error, "States.IntrinsicFailure");
    }
}
