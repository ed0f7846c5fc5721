//! Intrinsic functions of the JSONPath query language (`States.Format` …
//! `States.UUID`), parsed once when a definition is loaded and evaluated in
//! payload templates (AWS developer guide, "Intrinsic functions for JSONPath
//! states"; SEMANTICS.md §12).
//!
//! `call` is the parsed form, `parser` builds it, `functions`
//! evaluates it.

mod call;
mod functions;
mod parser;

#[cfg(test)]
mod tests;

pub use call::{
    Arg, Call, Func, IntrinsicError, MAX_ENCODE_INPUT, MAX_NESTING, MAX_RANGE_ITEMS, Piece,
};
pub use functions::evaluate;
pub use parser::parse;
