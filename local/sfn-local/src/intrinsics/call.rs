//! The parsed form of an intrinsic function call (`States.Format` …
//! `States.UUID`): the function table with names and arities, arguments,
//! and the limits AWS puts on them. Built by the parser when a definition
//! is loaded; evaluated by the functions at run time.

use std::fmt;

use serde_json::Value;

use crate::path::Path;

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
    pub(super) fn from_name(name: &str) -> Option<Func> {
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

    pub(super) fn name(self) -> &'static str {
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
    pub(super) fn arity(self) -> (usize, usize) {
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
