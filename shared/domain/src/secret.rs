//! A string that must never reach a log, a payload or a debug dump, and
//! the redaction of text that may hold one (a build's output served by
//! the API).

use std::fmt;

/// Holds a secret (a token, a secret access key). `Debug` and `Display`
/// print `<redacted>`; it cannot be serialised; read it with
/// [`SecretString::expose`] at the one place that needs it.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretString(String);

impl SecretString {
    pub fn new(value: impl Into<String>) -> Self {
        SecretString(value.into())
    }

    /// The secret value. Call sites are the audit trail: keep them few.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretString(<redacted>)")
    }
}

impl fmt::Display for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

impl From<String> for SecretString {
    fn from(s: String) -> Self {
        SecretString(s)
    }
}

/// What replaces a redacted value.
pub const REDACTED: &str = "<redacted>";

/// Names whose value is a secret (the end of a key's name:
/// `aws_secret_access_key`, `client_secret`, `session_token`, …).
const SECRET_NAMES: &[&str] = &[
    "secret",
    "secret_key",
    "secret_access_key",
    "secretaccesskey",
    "token",
    "password",
    "passwd",
    "private_key",
];

/// `text` with every secret-looking value replaced by [`REDACTED`]: the
/// registry's tokens (`wjrt_…`), AWS access key ids (`AKIA…`, `ASIA…`), and
/// the value after a key whose name ends with a [`SECRET_NAMES`] entry
/// (followed by `=`, `:` or `"…":`), unless it is plainly not a secret
/// (`true`, `false`, `null`, a number).
pub fn redact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((start, end)) = next_secret(rest) {
        out.push_str(&rest[..start]);
        out.push_str(REDACTED);
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '+' | '=' | '.')
}

/// The byte range of the first secret in `s`.
fn next_secret(s: &str) -> Option<(usize, usize)> {
    let token_end = |from: usize| {
        s[from..]
            .find(|c: char| !is_token_char(c))
            .map_or(s.len(), |n| from + n)
    };
    let mut best: Option<(usize, usize)> = None;
    let mut consider = |range: (usize, usize)| {
        if range.1 > range.0 && best.is_none_or(|b| range.0 < b.0) {
            best = Some(range);
        }
    };
    if let Some(i) = s.find("wjrt_") {
        consider((i, token_end(i)));
    }
    for prefix in ["AKIA", "ASIA"] {
        let mut from = 0;
        while let Some(n) = s[from..].find(prefix) {
            let i = from + n;
            let end = token_end(i);
            let word_start = i == 0 || !is_token_char(s[..i].chars().next_back().unwrap_or(' '));
            if word_start && end - i >= 16 {
                consider((i, end));
                break;
            }
            from = i + prefix.len();
        }
    }
    let lower = s.to_ascii_lowercase();
    let bytes = lower.as_bytes();
    let is_name = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let mut at = 0;
    while at < bytes.len() {
        if !is_name(bytes[at]) {
            at += 1;
            continue;
        }
        // A name (`aws_secret_access_key`, `"password"`): is it a secret's?
        let start = at;
        while at < bytes.len() && is_name(bytes[at]) {
            at += 1;
        }
        let name = &lower[start..at];
        // A part of an ARN or a path (`…:secret:name`) is not a key.
        let in_arn = start > 0 && matches!(bytes[start - 1], b':' | b'/');
        if in_arn || !SECRET_NAMES.iter().any(|n| name.ends_with(n)) {
            continue;
        }
        let mut j = at;
        while j < bytes.len() && matches!(bytes[j], b'"' | b'\'' | b' ') {
            j += 1;
        }
        if j >= bytes.len() || !matches!(bytes[j], b'=' | b':') {
            continue;
        }
        j += 1;
        while j < bytes.len() && matches!(bytes[j], b' ' | b'"' | b'\'') {
            j += 1;
        }
        let end = token_end(j);
        let value = &lower[j..end];
        let harmless = value.is_empty()
            || matches!(value, "true" | "false" | "null" | "none")
            || value.bytes().all(|b| b.is_ascii_digit());
        if !harmless {
            consider((j, end));
            break;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_in_text_are_redacted_and_the_rest_kept() {
        let token = "wjrt_Zx9-abc_DEF123";
        let line = format!(
            "runner said {token} then AKIAIOSFODNN7EXAMPLE; aws_secret_access_key = wJalrXUtnFEMI/K7MDENG+bPxRfiCY and \"token\": \"t0k3n\", PASSWORD=hunter2 ok"
        );
        let out = redact(&line);
        for secret in [
            token,
            "AKIAIOSFODNN7EXAMPLE",
            "wJalrXUtnFEMI",
            "t0k3n",
            "hunter2",
        ] {
            assert!(!out.contains(secret), "{secret} in {out}");
        }
        assert!(
            out.starts_with("runner said <redacted> then <redacted>;"),
            "{out}"
        );
        assert!(out.ends_with(" ok"), "{out}");
        assert_eq!(
            redact("force_overwrite_replica_secret = false"),
            "force_overwrite_replica_secret = false"
        );
        let plain = "module.runner.aws_ecs_cluster.runner[0]: Creation complete after 1s [id=arn:aws:ecs:eu-west-1:123456789012:cluster/x]";
        assert_eq!(redact(plain), plain);
        assert_eq!(redact("token_count is 3"), "token_count is 3");
        let arn =
            "secret_arn = arn:aws:secretsmanager:eu-west-1:1:secret:alethia/workers/w/credentials";
        assert_eq!(redact(arn), arn);
        let action = "+ \"secretsmanager:GetSecretValue\",";
        assert_eq!(redact(action), action);
    }

    #[test]
    fn debug_and_display_never_show_the_value() {
        let s = SecretString::new("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
        assert!(!format!("{s:?}").contains("wJalr"));
        assert!(!format!("{s}").contains("wJalr"));
        assert_eq!(s.expose(), "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY");
    }
}
