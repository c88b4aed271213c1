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

#[cfg(test)]
mod tests {
    use super::*;

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
