//! Service quotas the engine enforces, as AWS documents them ("Step Functions
//! service quotas"; SEMANTICS.md §13, §14).

use serde_json::Value;

/// Maximum size, in UTF-8 bytes, of an execution input, a state's input or
/// output and a task result.
pub const MAX_PAYLOAD_BYTES: usize = 262_144;
/// Maximum size of a state machine definition.
pub const MAX_DEFINITION_BYTES: usize = 1_048_576;
/// Maximum length of a state machine or execution name.
pub const MAX_NAME_CHARS: usize = 80;
/// Maximum length of a state name.
pub const MAX_STATE_NAME_CHARS: usize = 80;
/// History entries AWS keeps per execution (a Standard workflow fails past it).
pub const MAX_HISTORY_EVENTS: usize = 25_000;
/// Maximum length of the Error/Cause strings AWS keeps.
pub const MAX_CAUSE_CHARS: usize = 32_768;

/// Checks a name for StartExecution / CreateStateMachine: 1–80 characters,
/// none of whitespace, brackets, wildcard characters, special characters
/// or control characters (API reference, `name` of StartExecution).
pub fn check_name(name: &str) -> Result<(), String> {
    let count = name.chars().count();
    if count == 0 || count > MAX_NAME_CHARS {
        return Err(format!(
            "Invalid Name: '{name}' must be 1 to {MAX_NAME_CHARS} characters long"
        ));
    }
    for c in name.chars() {
        let forbidden = c.is_whitespace()
            || c.is_control()
            || matches!(
                c,
                '<' | '>'
                    | '{'
                    | '}'
                    | '['
                    | ']'
                    | '?'
                    | '*'
                    | '"'
                    | '#'
                    | '%'
                    | '\\'
                    | '^'
                    | '|'
                    | '~'
                    | '`'
                    | '$'
                    | '&'
                    | ','
                    | ';'
                    | ':'
                    | '/'
            )
            || ('\u{7f}'..='\u{9f}').contains(&c);
        if forbidden {
            return Err(format!(
                "Invalid Name: '{}' contains the character {:?}, which is not allowed",
                name.escape_debug(),
                c
            ));
        }
    }
    Ok(())
}

/// A short rendering of a value for error messages.
pub fn abbreviate(value: &Value) -> String {
    let text = value.to_string();
    truncate(&text, 200)
}

/// Truncates at a character boundary, marking the cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    if text.chars().count() <= max_chars {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max_chars).collect();
    out.push('…');
    out
}

/// Keeps the last `max_chars` characters (the end of a log is where the
/// error is).
pub fn tail(text: &str, max_chars: usize) -> String {
    let count = text.chars().count();
    if count <= max_chars {
        return text.to_string();
    }
    let mut out = String::from("…");
    out.extend(text.chars().skip(count - max_chars));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    // API reference, StartExecution `name`.
    #[test]
    fn names_follow_the_start_execution_rules() {
        assert!(check_name("job-0b5c_1.2").is_ok());
        assert!(check_name(&"a".repeat(80)).is_ok());
        for bad in [
            "",
            "has space",
            "tab\t",
            "a/b",
            "a:b",
            "q?",
            "star*",
            "br[ack]et",
            "dollar$",
            "nl\n",
            "\u{85}",
        ] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        assert!(check_name(&"a".repeat(81)).is_err());
    }

    #[test]
    fn tail_keeps_the_end() {
        assert_eq!(tail("abcdef", 3), "…def");
        assert_eq!(tail("ab", 3), "ab");
    }
}
