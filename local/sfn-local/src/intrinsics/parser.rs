//! The parser of intrinsic expressions (`States.Name(args…)`): string
//! literals with the `\'` `\{` `\}` `\\` escapes, numbers, `null`/`true`/
//! `false`, `$`/`$$` paths and nested calls, checked for arity, nesting
//! depth and `States.Format` placeholder counts at definition time (AWS
//! developer guide, "Intrinsic functions for JSONPath states").

use serde_json::Value;

use super::call::{Arg, Call, Func, IntrinsicError, MAX_NESTING, Piece};
use crate::path::Path;

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
