//! Owners: the organization every cloud identity, job, worker and runner
//! belongs to. The platform names it on each call (a JWT claim, or a header
//! of a signed call); a caller sees and acts on its own owner's records
//! only. An owner id is 1–128 characters of `[A-Za-z0-9_-]`, so it never
//! contains the `/` that joins it to the names it scopes.

use crate::validate::{FieldError, identifier};

/// The longest owner id accepted.
pub const MAX_OWNER_LEN: usize = 128;

/// Checks an owner id; `field` names where it came from (a header or claim).
pub fn validate_owner(field: &str, value: &str) -> Result<(), FieldError> {
    identifier(field, value, MAX_OWNER_LEN)
}

/// A name in an owner's namespace (`owner/name`): storage keys of cloud
/// identities and idempotency keys, and runner queues.
pub fn scoped(owner: &str, name: &str) -> String {
    format!("{owner}/{name}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owners_are_identifiers_without_the_separator() {
        assert!(validate_owner("X-Organization-Id", "org_2f9-A").is_ok());
        assert!(validate_owner("X-Organization-Id", "").is_err());
        assert!(validate_owner("X-Organization-Id", "a/b").is_err());
        assert!(validate_owner("X-Organization-Id", &"o".repeat(129)).is_err());
        let e = validate_owner("X-Organization-Id", "o r g").unwrap_err();
        assert_eq!(e.field, "X-Organization-Id");
        assert_eq!(scoped("org-1", "prod"), "org-1/prod");
    }
}
