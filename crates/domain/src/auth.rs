//! Authorisation vocabulary shared by the API and the CLI.

use serde::{Deserialize, Serialize};

/// What an API key may do. `admin` implies every other scope; `write` and `review` imply `read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Review,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 4] = [Scope::Read, Scope::Write, Scope::Review, Scope::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Write => "write",
            Scope::Review => "review",
            Scope::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str().eq_ignore_ascii_case(s.trim()))
    }

    /// Whether holding `self` grants `needed`.
    pub fn grants(self, needed: Scope) -> bool {
        self == needed || self == Scope::Admin || (needed == Scope::Read && self != Scope::Read)
    }
}

/// Whether a set of scopes grants `needed`.
pub fn grants(held: &[Scope], needed: Scope) -> bool {
    held.iter().any(|s| s.grants(needed))
}

/// Compares two secrets in time that depends on their lengths only, not on where they differ
/// (so response times do not reveal a CSRF token or key byte by byte).
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    // Keep the optimiser from turning the fold into an early exit.
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_compare_whole() {
        assert!(constant_time_eq(b"abc123", b"abc123"));
        assert!(!constant_time_eq(b"abc123", b"abc124"));
        assert!(!constant_time_eq(b"abc123", b"abc12"));
        assert!(constant_time_eq(b"", b""));
    }

    #[test]
    fn admin_grants_everything_and_read_grants_only_read() {
        for needed in Scope::ALL {
            assert!(Scope::Admin.grants(needed));
        }
        assert!(Scope::Read.grants(Scope::Read));
        assert!(!Scope::Read.grants(Scope::Write));
        assert!(Scope::Write.grants(Scope::Read));
        assert!(!Scope::Write.grants(Scope::Review));
        assert_eq!(Scope::parse(" WRITE "), Some(Scope::Write));
        assert_eq!(Scope::parse("owner"), None);
    }
}
