//! Choice rules: comparison operators, their `*Path` variants, the type
//! tests and And/Or/Not (specification "Choice State"; AWS developer guide
//! "Choice rules"; SEMANTICS.md §7).

use chrono::{DateTime, FixedOffset};
use serde_json::Value;

use crate::context::Context;
use crate::error::StatesError;
use crate::path::Path;

/// Where a Choice rule reads a value: `$…` (input) or `$$…` (context).
#[derive(Debug, Clone)]
pub enum PathRef {
    Input(Path),
    Context(Path),
}

impl PathRef {
    pub fn parse(text: &str, reference: bool) -> Result<PathRef, String> {
        let parse = |s: &str| {
            if reference {
                Path::parse_reference(s)
            } else {
                Path::parse(s)
            }
        };
        match text.strip_prefix("$$") {
            Some(rest) => parse(&format!("${rest}"))
                .map(PathRef::Context)
                .map_err(|e| e.to_string()),
            None => parse(text).map(PathRef::Input).map_err(|e| e.to_string()),
        }
    }

    pub fn select(&self, input: &Value, ctx: &Context) -> Option<Value> {
        match self {
            PathRef::Input(p) => p.select(input).map(|v| v.into_owned()),
            PathRef::Context(p) => ctx.select(p),
        }
    }

    pub fn text(&self) -> String {
        match self {
            PathRef::Input(p) => p.to_string(),
            PathRef::Context(p) => format!("${p}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    String,
    Numeric,
    Boolean,
    Timestamp,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Equals,
    LessThan,
    GreaterThan,
    LessThanEquals,
    GreaterThanEquals,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    IsNull,
    IsPresent,
    IsNumeric,
    IsString,
    IsBoolean,
    IsTimestamp,
}

/// The right-hand side of a comparison.
#[derive(Debug, Clone)]
pub enum Operand {
    Literal(Value),
    Path(PathRef),
}

#[derive(Debug, Clone)]
pub enum Rule {
    And(Vec<Rule>),
    Or(Vec<Rule>),
    Not(Box<Rule>),
    Compare {
        variable: PathRef,
        kind: Kind,
        cmp: Cmp,
        operand: Operand,
    },
    Matches {
        variable: PathRef,
        pattern: Vec<PatternPiece>,
    },
    Test {
        variable: PathRef,
        test: TypeTest,
        expected: bool,
    },
}

/// A piece of a `StringMatches` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PatternPiece {
    Literal(String),
    Star,
}

/// The comparison operator names, their kind and comparison.
pub const COMPARISONS: &[(&str, Kind, Cmp)] = &[
    ("StringEquals", Kind::String, Cmp::Equals),
    ("StringLessThan", Kind::String, Cmp::LessThan),
    ("StringGreaterThan", Kind::String, Cmp::GreaterThan),
    ("StringLessThanEquals", Kind::String, Cmp::LessThanEquals),
    (
        "StringGreaterThanEquals",
        Kind::String,
        Cmp::GreaterThanEquals,
    ),
    ("NumericEquals", Kind::Numeric, Cmp::Equals),
    ("NumericLessThan", Kind::Numeric, Cmp::LessThan),
    ("NumericGreaterThan", Kind::Numeric, Cmp::GreaterThan),
    ("NumericLessThanEquals", Kind::Numeric, Cmp::LessThanEquals),
    (
        "NumericGreaterThanEquals",
        Kind::Numeric,
        Cmp::GreaterThanEquals,
    ),
    ("BooleanEquals", Kind::Boolean, Cmp::Equals),
    ("TimestampEquals", Kind::Timestamp, Cmp::Equals),
    ("TimestampLessThan", Kind::Timestamp, Cmp::LessThan),
    ("TimestampGreaterThan", Kind::Timestamp, Cmp::GreaterThan),
    (
        "TimestampLessThanEquals",
        Kind::Timestamp,
        Cmp::LessThanEquals,
    ),
    (
        "TimestampGreaterThanEquals",
        Kind::Timestamp,
        Cmp::GreaterThanEquals,
    ),
];

pub const TYPE_TESTS: &[(&str, TypeTest)] = &[
    ("IsNull", TypeTest::IsNull),
    ("IsPresent", TypeTest::IsPresent),
    ("IsNumeric", TypeTest::IsNumeric),
    ("IsString", TypeTest::IsString),
    ("IsBoolean", TypeTest::IsBoolean),
    ("IsTimestamp", TypeTest::IsTimestamp),
];

/// Parses a `StringMatches` pattern: only `*` is special; `\*` and `\\`
/// escape (specification, "StringMatches").
pub fn parse_pattern(pattern: &str) -> Result<Vec<PatternPiece>, String> {
    let mut pieces = Vec::new();
    let mut text = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e @ ('*' | '\\')) => text.push(e),
                Some(other) => {
                    return Err(format!(
                        "in StringMatches only '\\*' and '\\\\' are escapes, found '\\{other}'"
                    ));
                }
                None => return Err("StringMatches pattern ends with a lone '\\'".to_string()),
            },
            '*' => {
                if !text.is_empty() {
                    pieces.push(PatternPiece::Literal(std::mem::take(&mut text)));
                }
                if pieces.last() != Some(&PatternPiece::Star) {
                    pieces.push(PatternPiece::Star);
                }
            }
            c => text.push(c),
        }
    }
    if !text.is_empty() {
        pieces.push(PatternPiece::Literal(text));
    }
    Ok(pieces)
}

fn matches_pattern(pieces: &[PatternPiece], s: &str) -> bool {
    match pieces.split_first() {
        None => s.is_empty(),
        Some((PatternPiece::Literal(lit), rest)) => s
            .strip_prefix(lit.as_str())
            .is_some_and(|remaining| matches_pattern(rest, remaining)),
        Some((PatternPiece::Star, rest)) => {
            if rest.is_empty() {
                return true;
            }
            s.char_indices()
                .map(|(i, _)| i)
                .chain(std::iter::once(s.len()))
                .any(|i| matches_pattern(rest, &s[i..]))
        }
    }
}

/// Parses an RFC 3339 timestamp with an uppercase `T` and, when there is
/// no numeric offset, an uppercase `Z` (specification, "Timestamps").
pub fn parse_timestamp(s: &str) -> Option<DateTime<FixedOffset>> {
    if !s.contains('T') || s.contains('t') || s.contains('z') {
        return None;
    }
    DateTime::parse_from_rfc3339(s).ok()
}

impl Rule {
    /// Evaluates the rule. A missing variable is `States.Runtime` except for
    /// `IsPresent`; a value of the wrong type makes the comparison false.
    pub fn evaluate(&self, input: &Value, ctx: &Context) -> Result<bool, StatesError> {
        match self {
            Rule::And(rules) => {
                for r in rules {
                    if !r.evaluate(input, ctx)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Rule::Or(rules) => {
                for r in rules {
                    if r.evaluate(input, ctx)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Rule::Not(rule) => Ok(!rule.evaluate(input, ctx)?),
            Rule::Test {
                variable,
                test,
                expected,
            } => {
                let value = variable.select(input, ctx);
                if *test == TypeTest::IsPresent {
                    return Ok(value.is_some() == *expected);
                }
                let value = value.ok_or_else(|| missing(variable))?;
                let actual = match test {
                    TypeTest::IsNull => value.is_null(),
                    TypeTest::IsNumeric => value.is_number(),
                    TypeTest::IsString => value.is_string(),
                    TypeTest::IsBoolean => value.is_boolean(),
                    TypeTest::IsTimestamp => value.as_str().and_then(parse_timestamp).is_some(),
                    TypeTest::IsPresent => true,
                };
                Ok(actual == *expected)
            }
            Rule::Matches { variable, pattern } => {
                let value = variable
                    .select(input, ctx)
                    .ok_or_else(|| missing(variable))?;
                Ok(value.as_str().is_some_and(|s| matches_pattern(pattern, s)))
            }
            Rule::Compare {
                variable,
                kind,
                cmp,
                operand,
            } => {
                let left = variable
                    .select(input, ctx)
                    .ok_or_else(|| missing(variable))?;
                let right = match operand {
                    Operand::Literal(v) => v.clone(),
                    Operand::Path(p) => p.select(input, ctx).ok_or_else(|| missing(p))?,
                };
                Ok(compare(*kind, *cmp, &left, &right))
            }
        }
    }
}

fn missing(path: &PathRef) -> StatesError {
    StatesError::runtime(format!(
        "Invalid path '{}': The choice state's condition path references an invalid value.",
        path.text()
    ))
}

fn compare(kind: Kind, cmp: Cmp, left: &Value, right: &Value) -> bool {
    use std::cmp::Ordering;
    let ordering: Option<Ordering> = match kind {
        Kind::String => match (left.as_str(), right.as_str()) {
            (Some(a), Some(b)) => Some(a.cmp(b)),
            _ => None,
        },
        Kind::Numeric => match (left.as_f64(), right.as_f64()) {
            (Some(a), Some(b)) if left.is_number() && right.is_number() => a.partial_cmp(&b),
            _ => None,
        },
        Kind::Boolean => match (left.as_bool(), right.as_bool()) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => None,
        },
        Kind::Timestamp => match (
            left.as_str().and_then(parse_timestamp),
            right.as_str().and_then(parse_timestamp),
        ) {
            (Some(a), Some(b)) => Some(a.cmp(&b)),
            _ => None,
        },
    };
    let Some(ordering) = ordering else {
        return false;
    };
    match cmp {
        Cmp::Equals => ordering == Ordering::Equal,
        Cmp::LessThan => ordering == Ordering::Less,
        Cmp::GreaterThan => ordering == Ordering::Greater,
        Cmp::LessThanEquals => ordering != Ordering::Greater,
        Cmp::GreaterThanEquals => ordering != Ordering::Less,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Specification "StringMatches": "*" matches zero or more characters;
    // "\*" and "\\" escape.
    #[test]
    fn string_matches_wildcards_and_escapes() {
        let p = parse_pattern("log-*.txt").unwrap();
        assert!(matches_pattern(&p, "log-.txt"));
        assert!(matches_pattern(&p, "log-2024-01.txt"));
        assert!(!matches_pattern(&p, "log-1.txt.bak"));
        let star = parse_pattern(r"a\*b").unwrap();
        assert!(matches_pattern(&star, "a*b"));
        assert!(!matches_pattern(&star, "axb"));
        let bs = parse_pattern(r"c:\\*").unwrap();
        assert!(matches_pattern(&bs, r"c:\dir"));
        assert!(parse_pattern(r"\q").is_err());
        assert!(matches_pattern(&parse_pattern("*").unwrap(), ""));
    }

    // Specification "Timestamps": uppercase T and Z are required.
    #[test]
    fn timestamps_need_uppercase_t_and_z() {
        assert!(parse_timestamp("2016-03-14T01:59:00Z").is_some());
        assert!(parse_timestamp("2016-03-14T01:59:00+01:00").is_some());
        assert!(parse_timestamp("2016-03-14t01:59:00Z").is_none());
        assert!(parse_timestamp("2016-03-14T01:59:00z").is_none());
        assert!(parse_timestamp("2016-03-14").is_none());
    }

    #[test]
    fn comparisons_of_the_wrong_type_are_false() {
        use serde_json::json;
        assert!(!compare(Kind::Numeric, Cmp::Equals, &json!("1"), &json!(1)));
        assert!(compare(Kind::Numeric, Cmp::Equals, &json!(1), &json!(1.0)));
        assert!(compare(
            Kind::String,
            Cmp::LessThan,
            &json!("a"),
            &json!("b")
        ));
        assert!(compare(
            Kind::Timestamp,
            Cmp::LessThan,
            &json!("2016-03-14T01:59:00Z"),
            &json!("2016-03-14T03:59:00+01:00")
        ));
        assert!(!compare(
            Kind::Boolean,
            Cmp::Equals,
            &json!(1),
            &json!(true)
        ));
    }
}
