//! JSONPath as Amazon States Language uses it (JSONPath query language mode).
//!
//! AWS evaluates paths with the Jayway JSONPath library. Two facts from its
//! behaviour drive this module (SEMANTICS.md §2, AWS developer guide "Paths"):
//!
//! * a *definite* path (only `.name`, `['name']`, `[n]` segments) yields the
//!   single value it names, and fails to match when a segment is missing;
//! * any other path (wildcards, slices, unions, filters, `..`) yields an
//!   array of every match — even one match, even none.
//!
//! Definite paths are evaluated here by walking the value; the rest are
//! translated to RFC 9535 syntax and evaluated by `serde_json_path`.
//! Paths are parsed once, when a definition is loaded.

use std::borrow::Cow;
use std::fmt;

use serde_json::{Map, Value};

/// One step of a definite path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Segment {
    /// `.name` or `['name']`.
    Field(String),
    /// `[n]`; negative counts from the end, as Jayway does.
    Index(i64),
}

/// A parsed path rooted at `$`.
#[derive(Clone)]
pub struct Path {
    source: String,
    kind: PathKind,
}

#[derive(Clone)]
enum PathKind {
    Definite(Vec<Segment>),
    Indefinite(Box<serde_json_path::JsonPath>),
}

/// Why a path string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid JSONPath '{path}': {reason}")]
pub struct PathError {
    pub path: String,
    pub reason: String,
}

/// Why a value could not be written at a reference path (ResultPath).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot write to '{path}': {reason}")]
pub struct SetError {
    pub path: String,
    pub reason: String,
}

impl fmt::Debug for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Path({})", self.source)
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

/// A token of the path grammar, before classification.
enum Token {
    Field(String),
    Index(i64),
    /// Anything else, kept as RFC 9535 bracket text (e.g. `[*]`, `[1:3]`, `[?(@.a)]`).
    Other(String),
    /// `..`: the next token applies to all descendants.
    Descendant,
}

impl Path {
    /// Parses a path that must start with `$` (not `$$`: context paths are
    /// split off by the caller, see [`crate::payload::ValueRef`]).
    pub fn parse(source: &str) -> Result<Path, PathError> {
        let err = |reason: &str| PathError {
            path: source.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = source.trim();
        let rest = trimmed
            .strip_prefix('$')
            .ok_or_else(|| err("a path must start with '$'"))?;
        let tokens = tokenize(rest).map_err(|r| err(&r))?;
        let definite = tokens
            .iter()
            .all(|t| matches!(t, Token::Field(_) | Token::Index(_)));
        let kind = if definite {
            PathKind::Definite(
                tokens
                    .into_iter()
                    .filter_map(|t| match t {
                        Token::Field(name) => Some(Segment::Field(name)),
                        Token::Index(i) => Some(Segment::Index(i)),
                        _ => None,
                    })
                    .collect(),
            )
        } else {
            let mut rfc = String::from("$");
            for token in &tokens {
                match token {
                    Token::Field(name) => {
                        rfc.push('[');
                        push_quoted(&mut rfc, name);
                        rfc.push(']');
                    }
                    Token::Index(i) => rfc.push_str(&format!("[{i}]")),
                    Token::Other(text) => rfc.push_str(text),
                    Token::Descendant => rfc.push_str(".."),
                }
            }
            let parsed = serde_json_path::JsonPath::parse(&rfc)
                .map_err(|e| err(&format!("unsupported expression ({e})")))?;
            PathKind::Indefinite(Box::new(parsed))
        };
        Ok(Path {
            source: trimmed.to_string(),
            kind,
        })
    }

    /// Parses a *reference path*: a definite path, as required for
    /// ResultPath, ItemsPath, `*Path` Choice fields and similar.
    pub fn parse_reference(source: &str) -> Result<Path, PathError> {
        let path = Path::parse(source)?;
        if !path.is_definite() {
            return Err(PathError {
                path: source.to_string(),
                reason: "a reference path may only use '.name', \"['name']\" and '[index]' \
                         (no wildcards, slices, filters or '..')"
                    .to_string(),
            });
        }
        Ok(path)
    }

    /// The root path `$`.
    pub fn root() -> Path {
        Path {
            source: "$".to_string(),
            kind: PathKind::Definite(Vec::new()),
        }
    }

    pub fn is_definite(&self) -> bool {
        matches!(self.kind, PathKind::Definite(_))
    }

    pub fn is_root(&self) -> bool {
        matches!(&self.kind, PathKind::Definite(s) if s.is_empty())
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The segments of a definite path; `None` for indefinite ones.
    pub fn segments(&self) -> Option<&[Segment]> {
        match &self.kind {
            PathKind::Definite(s) => Some(s),
            PathKind::Indefinite(_) => None,
        }
    }

    /// Selects from `value`. `None` means a definite path matched nothing
    /// (the caller raises `States.Runtime`); an indefinite path always
    /// answers an array.
    pub fn select<'a>(&self, value: &'a Value) -> Option<Cow<'a, Value>> {
        match &self.kind {
            PathKind::Definite(segments) => walk(value, segments).map(Cow::Borrowed),
            PathKind::Indefinite(path) => {
                let found: Vec<Value> = path.query(value).all().into_iter().cloned().collect();
                Some(Cow::Owned(Value::Array(found)))
            }
        }
    }

    /// Like [`Path::select`] but consumes the value, avoiding a copy for
    /// the root path and moving the selected part out for definite paths.
    pub fn select_owned(&self, value: Value) -> Option<Value> {
        match &self.kind {
            PathKind::Definite(segments) => take(value, segments),
            PathKind::Indefinite(_) => self.select(&value).map(Cow::into_owned),
        }
    }

    /// Writes `new` at this (reference) path inside `target`, creating
    /// missing objects on the way (SEMANTICS.md §1). Fails when an existing
    /// node on the way is not an object (or, for an index, not an array
    /// long enough).
    pub fn set(&self, target: &mut Value, new: Value) -> Result<(), SetError> {
        let segments = match &self.kind {
            PathKind::Definite(s) => s,
            PathKind::Indefinite(_) => {
                return Err(SetError {
                    path: self.source.clone(),
                    reason: "not a reference path".to_string(),
                });
            }
        };
        let Some((last, parents)) = segments.split_last() else {
            *target = new;
            return Ok(());
        };
        let fail = |reason: String| SetError {
            path: self.source.clone(),
            reason,
        };
        let mut node = target;
        for segment in parents {
            node = match segment {
                Segment::Field(name) => match node {
                    Value::Object(map) => map
                        .entry(name.clone())
                        .or_insert_with(|| Value::Object(Map::new())),
                    other => {
                        return Err(fail(format!(
                            "'{name}' cannot be created inside a {}",
                            type_name(other)
                        )));
                    }
                },
                Segment::Index(i) => {
                    let len = node.as_array().map(Vec::len);
                    match (node, len.and_then(|l| resolve_index(*i, l))) {
                        (Value::Array(items), Some(idx)) => &mut items[idx],
                        _ => return Err(fail(format!("index [{i}] does not exist"))),
                    }
                }
            };
        }
        match last {
            Segment::Field(name) => match node {
                Value::Object(map) => {
                    map.insert(name.clone(), new);
                    Ok(())
                }
                other => Err(fail(format!(
                    "'{name}' cannot be set on a {}",
                    type_name(other)
                ))),
            },
            Segment::Index(i) => {
                let len = node.as_array().map(Vec::len);
                match (node, len.and_then(|l| resolve_index(*i, l))) {
                    (Value::Array(items), Some(idx)) => {
                        items[idx] = new;
                        Ok(())
                    }
                    _ => Err(fail(format!("index [{i}] does not exist"))),
                }
            }
        }
    }
}

/// The JSON type name used in error messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let len_i = i64::try_from(len).ok()?;
    let idx = if i < 0 { len_i + i } else { i };
    if (0..len_i).contains(&idx) {
        usize::try_from(idx).ok()
    } else {
        None
    }
}

fn walk<'a>(mut value: &'a Value, segments: &[Segment]) -> Option<&'a Value> {
    for segment in segments {
        value = match (segment, value) {
            (Segment::Field(name), Value::Object(map)) => map.get(name)?,
            (Segment::Index(i), Value::Array(items)) => &items[resolve_index(*i, items.len())?],
            _ => return None,
        };
    }
    Some(value)
}

fn take(mut value: Value, segments: &[Segment]) -> Option<Value> {
    for segment in segments {
        value = match (segment, value) {
            (Segment::Field(name), Value::Object(mut map)) => map.remove(name)?,
            (Segment::Index(i), Value::Array(mut items)) => {
                let idx = resolve_index(*i, items.len())?;
                items.swap_remove(idx)
            }
            _ => return None,
        };
    }
    Some(value)
}

fn push_quoted(out: &mut String, name: &str) {
    out.push('\'');
    for c in name.chars() {
        match c {
            '\'' => out.push_str("\\'"),
            '\\' => out.push_str("\\\\"),
            c => out.push(c),
        }
    }
    out.push('\'');
}

/// Splits the part after `$` into tokens. Accepts Jayway's forms,
/// including AWS's `$.['name']` (a dot before a bracket).
fn tokenize(rest: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = rest.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '.' => {
                if chars.get(i + 1) == Some(&'.') {
                    tokens.push(Token::Descendant);
                    i += 2;
                    // `..name`, `..*` or `..[`
                    if chars.get(i) == Some(&'[') {
                        continue;
                    }
                    if chars.get(i) == Some(&'*') {
                        tokens.push(Token::Other("[*]".to_string()));
                        i += 1;
                        continue;
                    }
                    let (name, next) = read_dot_name(&chars, i)?;
                    tokens.push(Token::Field(name));
                    i = next;
                    continue;
                }
                i += 1;
                match chars.get(i) {
                    Some('[') => continue, // AWS's `$.['name']`
                    Some('*') => {
                        tokens.push(Token::Other("[*]".to_string()));
                        i += 1;
                    }
                    Some(_) => {
                        let (name, next) = read_dot_name(&chars, i)?;
                        if chars.get(next) == Some(&'(') {
                            return Err(format!(
                                "path functions such as '{name}()' are not supported"
                            ));
                        }
                        tokens.push(Token::Field(name));
                        i = next;
                    }
                    None => return Err("a path cannot end with '.'".to_string()),
                }
            }
            '[' => {
                let close = find_bracket_end(&chars, i)?;
                let inner: String = chars[i + 1..close].iter().collect();
                tokens.push(classify_bracket(inner.trim())?);
                i = close + 1;
            }
            c if c.is_whitespace() => {
                return Err("unexpected whitespace".to_string());
            }
            c => return Err(format!("unexpected character '{c}'")),
        }
    }
    Ok(tokens)
}

fn read_dot_name(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut end = start;
    while end < chars.len() && !matches!(chars[end], '.' | '[' | '(') {
        if chars[end].is_whitespace() {
            return Err("unexpected whitespace in a property name".to_string());
        }
        end += 1;
    }
    if end == start {
        return Err("empty property name".to_string());
    }
    Ok((chars[start..end].iter().collect(), end))
}

fn find_bracket_end(chars: &[char], open: usize) -> Result<usize, String> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut i = open;
    while i < chars.len() {
        let c = chars[i];
        if let Some(q) = quote {
            if c == '\\' {
                i += 2;
                continue;
            }
            if c == q {
                quote = None;
            }
        } else {
            match c {
                '\'' | '"' => quote = Some(c),
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        return Ok(i);
                    }
                }
                _ => {}
            }
        }
        i += 1;
    }
    Err("unbalanced '['".to_string())
}

fn classify_bracket(inner: &str) -> Result<Token, String> {
    if inner.is_empty() {
        return Err("empty brackets".to_string());
    }
    if let Some(name) = single_quoted(inner) {
        return Ok(Token::Field(name?));
    }
    if let Ok(i) = inner.parse::<i64>() {
        return Ok(Token::Index(i));
    }
    if inner == "*" || inner.starts_with('?') || inner.contains(':') || inner.contains(',') {
        return Ok(Token::Other(format!("[{inner}]")));
    }
    Err(format!("unsupported bracket expression '[{inner}]'"))
}

/// `'name'` or `"name"` as the whole bracket content, unescaped.
fn single_quoted(inner: &str) -> Option<Result<String, String>> {
    let q = inner.chars().next()?;
    if !(q == '\'' || q == '"') || inner.len() < 2 || !inner.ends_with(q) {
        return None;
    }
    let body = &inner[1..inner.len() - 1];
    let mut out = String::new();
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(e) => out.push(e),
                None => return Some(Err("dangling escape in a quoted name".to_string())),
            },
            c if c == q => return None, // a union such as ['a','b']
            c => out.push(c),
        }
    }
    Some(Ok(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Expected values: AWS developer guide, "Using JSONPath paths" and the
    // Jayway JSONPath README (definite vs indefinite results), SEMANTICS.md §2.

    #[test]
    fn definite_paths_select_single_values() {
        let doc = json!({"a": {"b": [10, 20, {"c d": true}]}, "x y": 1});
        let cases = [
            ("$", doc.clone()),
            ("$.a.b[1]", json!(20)),
            ("$.a.b[-1]['c d']", json!(true)),
            ("$['x y']", json!(1)),
            ("$.['x y']", json!(1)),
            ("$[\"a\"].b[0]", json!(10)),
        ];
        for (p, expected) in cases {
            let path = Path::parse(p).unwrap();
            assert!(path.is_definite(), "{p}");
            assert_eq!(path.select(&doc).unwrap().into_owned(), expected, "{p}");
        }
    }

    #[test]
    fn definite_path_without_match_is_none() {
        let doc = json!({"a": {"b": 1}});
        for p in ["$.a.c", "$.a.b.c", "$.a[0]", "$.z"] {
            assert!(Path::parse(p).unwrap().select(&doc).is_none(), "{p}");
        }
    }

    #[test]
    fn indefinite_paths_always_yield_arrays() {
        let doc =
            json!({"items": [{"n": 1, "ok": true}, {"n": 2, "ok": false}, {"n": 3, "ok": true}]});
        let cases = [
            ("$.items[*].n", json!([1, 2, 3])),
            ("$.items[0:1].n", json!([1])),
            ("$.items[?(@.ok == true)].n", json!([1, 3])),
            ("$..n", json!([1, 2, 3])),
            ("$.items[0,2].n", json!([1, 3])),
            ("$.nothing[*]", json!([])),
        ];
        for (p, expected) in cases {
            let path = Path::parse(p).unwrap();
            assert!(!path.is_definite(), "{p}");
            assert_eq!(path.select(&doc).unwrap().into_owned(), expected, "{p}");
        }
    }

    #[test]
    fn reference_paths_must_be_definite() {
        assert!(Path::parse_reference("$.a.b[0]").is_ok());
        assert!(Path::parse_reference("$.a[*]").is_err());
        assert!(Path::parse_reference("$..a").is_err());
    }

    #[test]
    fn malformed_paths_are_rejected() {
        for p in [
            "a.b",
            "$.",
            "$.a[",
            "$.a b",
            "$.a.length()",
            "$[]",
            "$.a[foo]",
        ] {
            assert!(Path::parse(p).is_err(), "{p} should be rejected");
        }
    }

    #[test]
    fn set_creates_missing_objects() {
        // SEMANTICS.md §1: ResultPath creates missing objects.
        let mut doc = json!({"a": 1});
        Path::parse("$.x.y.z")
            .unwrap()
            .set(&mut doc, json!(5))
            .unwrap();
        assert_eq!(doc, json!({"a": 1, "x": {"y": {"z": 5}}}));
        Path::parse("$")
            .unwrap()
            .set(&mut doc, json!("all"))
            .unwrap();
        assert_eq!(doc, json!("all"));
    }

    #[test]
    fn set_through_a_non_object_fails() {
        let mut doc = json!({"a": "text"});
        assert!(
            Path::parse("$.a.b")
                .unwrap()
                .set(&mut doc, json!(1))
                .is_err()
        );
        let mut arr = json!([1]);
        assert!(Path::parse("$.a").unwrap().set(&mut arr, json!(1)).is_err());
    }

    #[test]
    fn select_owned_moves_out_the_selected_part() {
        let doc = json!({"a": {"b": [1, 2]}});
        assert_eq!(
            Path::parse("$.a.b").unwrap().select_owned(doc),
            Some(json!([1, 2]))
        );
    }
}
