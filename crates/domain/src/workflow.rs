//! Who may do what: roles, the curation workflow (draft → submitted → published or rejected;
//! published → withdrawn) and the one policy every entry point asks.
//!
//! **Architecture invariant:** visibility and permissions are decided here and nowhere else.
//! The API asks [`Principal::can_read`] and [`Principal::can`]; the index holds published
//! materials only, so search, suggest and facet counts never see anything else.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::Scope;
use crate::material::Status;

/// A signed-in person's role. Anonymous visitors are teachers too (they search, preview and
/// download published materials).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Teacher,
    Curator,
    Reviewer,
    Admin,
}

impl Role {
    pub const ALL: [Role; 4] = [Role::Teacher, Role::Curator, Role::Reviewer, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Teacher => "teacher",
            Role::Curator => "curator",
            Role::Reviewer => "reviewer",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str().eq_ignore_ascii_case(s.trim()))
    }
}

/// A workflow step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Step {
    /// The author sends a draft (or a rejected material, edited) for review.
    Submit,
    /// A reviewer publishes a submitted material (or republishes a withdrawn one).
    Approve,
    /// A reviewer sends a submitted material back to its author, with a reason.
    Reject,
    /// A reviewer or admin hides a published material, with a reason; it is kept.
    Withdraw,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Submit => "submit",
            Step::Approve => "approve",
            Step::Reject => "reject",
            Step::Withdraw => "withdraw",
        }
    }

    /// The status a material in `from` moves to, or `None` when the step does not apply.
    pub fn apply(self, from: Status) -> Option<Status> {
        use Status::*;
        match (self, from) {
            (Step::Submit, Draft | Rejected) => Some(Submitted),
            (Step::Approve, Submitted | Withdrawn) => Some(Published),
            (Step::Reject, Submitted) => Some(Rejected),
            (Step::Withdraw, Published) => Some(Withdrawn),
            _ => None,
        }
    }

    /// Whether the step needs a reason (shown to the author, kept in the audit log).
    pub fn needs_reason(self) -> bool {
        matches!(self, Step::Reject | Step::Withdraw)
    }
}

/// A signed-in person, as the policy needs them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub id: Uuid,
    pub role: Role,
    /// For reviewers: the subjects and provinces they review (empty: all).
    pub review_subjects: Vec<String>,
    pub review_provinces: Vec<String>,
}

/// An API key, as the policy needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub id: Uuid,
    pub scopes: Vec<Scope>,
    /// The organisation the key acts for, if bound to one.
    pub organization: Option<String>,
}

/// Who is asking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    Anonymous,
    Person(Person),
    Key(Key),
}

/// What the policy needs to know of a material.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub status: Status,
    /// The account that created it.
    pub author: Option<Uuid>,
    /// The API key that created it.
    pub author_key: Option<Uuid>,
    pub subject: &'a str,
    pub province: Option<&'a str>,
    pub organization: Option<&'a str>,
}

impl Principal {
    fn person(&self) -> Option<&Person> {
        match self {
            Principal::Person(p) => Some(p),
            _ => None,
        }
    }

    fn has_scope(&self, scope: Scope) -> bool {
        matches!(self, Principal::Key(k) if crate::auth::grants(&k.scopes, scope))
    }

    pub fn is_admin(&self) -> bool {
        self.person().is_some_and(|p| p.role == Role::Admin) || self.has_scope(Scope::Admin)
    }

    /// Whether this principal reviews materials like `m` (role and scope).
    pub fn reviews(&self, m: &Facts) -> bool {
        if self.is_admin() || self.has_scope(Scope::Review) {
            return true;
        }
        let Some(p) = self.person().filter(|p| p.role == Role::Reviewer) else { return false };
        let subject_ok = p.review_subjects.is_empty() || p.review_subjects.iter().any(|s| s == m.subject);
        let province_ok =
            p.review_provinces.is_empty() || m.province.is_some_and(|v| p.review_provinces.iter().any(|s| s == v));
        subject_ok && province_ok
    }

    /// The account, or the API key, that created the material.
    fn is_author(&self, m: &Facts) -> bool {
        match self {
            Principal::Person(p) => Some(p.id) == m.author,
            Principal::Key(k) => Some(k.id) == m.author_key,
            Principal::Anonymous => false,
        }
    }

    /// Published materials are for everyone; anything else only for its author, the reviewers
    /// whose scope covers it, and admins.
    pub fn can_read(&self, m: &Facts) -> bool {
        m.status == Status::Published || self.is_author(m) || self.reviews(m)
    }

    /// Whether this principal may create materials.
    pub fn can_create(&self) -> bool {
        self.person().is_some_and(|p| p.role >= Role::Curator) || self.has_scope(Scope::Write)
    }

    /// Whether what this principal creates is published at once: admins and keys with the
    /// `admin` scope (bulk imports by an administrator), as before the workflow existed.
    pub fn publishes_directly(&self) -> bool {
        self.is_admin()
    }

    /// Whether this principal may edit the material's metadata and files now.
    pub fn can_edit(&self, m: &Facts) -> bool {
        self.is_admin() || (self.is_author(m) && matches!(m.status, Status::Draft | Status::Rejected))
    }

    /// Whether this principal may delete the material (its files' bytes stay until `verify
    /// --repair`): admins anything; authors their drafts and rejected materials; a `write` key
    /// what it created, and the materials of the organisation it is bound to.
    pub fn can_delete(&self, m: &Facts) -> bool {
        if self.is_admin() || self.can_edit(m) {
            return true;
        }
        match self {
            Principal::Key(k) if crate::auth::grants(&k.scopes, Scope::Write) => {
                self.is_author(m) || k.organization.as_deref().is_some_and(|o| Some(o) == m.organization)
            }
            _ => false,
        }
    }

    /// Whether this principal may take `step` on the material (its status aside).
    pub fn can(&self, step: Step, m: &Facts) -> bool {
        match step {
            Step::Submit => self.is_author(m) || self.is_admin(),
            Step::Approve | Step::Reject | Step::Withdraw => self.reviews(m) && !self.is_author_only_reviewer(m),
        }
    }

    /// Whether this principal may propose a new version of a published material: its author
    /// and admins. The published version stays until the proposal is approved.
    pub fn can_propose(&self, m: &Facts) -> bool {
        m.status == Status::Published && (self.is_author(m) || self.is_admin())
    }

    /// Whether this principal may take `step` on a proposed version by `proposer`.
    pub fn can_on_version(&self, step: Step, m: &Facts, proposer: Option<Uuid>) -> bool {
        let proposed_by_me = self.person().is_some_and(|p| Some(p.id) == proposer);
        match step {
            Step::Submit => proposed_by_me || self.is_admin(),
            Step::Approve | Step::Reject => self.reviews(m) && (!proposed_by_me || self.is_admin()),
            Step::Withdraw => false,
        }
    }

    /// Reviewers do not approve their own work (admins may).
    fn is_author_only_reviewer(&self, m: &Facts) -> bool {
        self.is_author(m) && !self.is_admin()
    }

    /// The user or key id, for the audit log.
    pub fn actor(&self) -> (&'static str, Option<Uuid>) {
        match self {
            Principal::Anonymous => ("anonymous", None),
            Principal::Person(p) => ("user", Some(p.id)),
            Principal::Key(k) => ("api_key", Some(k.id)),
        }
    }
}

/// A new account's details, checked and normalised (NFC, trimmed, province as its code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountDetails {
    pub username: String,
    pub display_name: String,
    pub email: Option<String>,
    pub organization: Option<String>,
    pub province: Option<String>,
}

/// Longest display name and organisation of an account.
pub const MAX_ACCOUNT_TEXT: usize = 200;

/// Checks a new account's details (the API, the pages and the CLI alike): a username of 3–64
/// lowercase ASCII letters, digits, `.`, `_` or `-` (starting with a letter or digit); a display
/// name (default: the username) and organisation of printable text; an email that looks like
/// one; a province from the vocabulary.
pub fn validate_account(
    username: &str,
    display_name: Option<&str>,
    email: Option<&str>,
    organization: Option<&str>,
    province: Option<&str>,
    vocab: &crate::Vocabularies,
) -> Result<AccountDetails, crate::Error> {
    use crate::error::codes;
    let invalid = |field: &str, code: &'static str, m: String| crate::Error::invalid(field, code, m);
    let username = username.trim().to_lowercase();
    let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
    if !(3..=64).contains(&username.len())
        || !username.chars().all(allowed)
        || !username.starts_with(|c: char| c.is_ascii_alphanumeric())
    {
        return Err(invalid(
            "username",
            codes::INVALID_VALUE,
            "a username has 3–64 characters: lowercase letters a–z, digits, '.', '_' or '-', starting with a letter or digit".into(),
        ));
    }
    let text = |field: &str, value: Option<&str>| -> Result<Option<String>, crate::Error> {
        let Some(value) = value else { return Ok(None) };
        if value.chars().any(|c| c.is_control()) {
            return Err(invalid(field, codes::INVALID_VALUE, format!("{field} must not contain control characters")));
        }
        let value = crate::text::clean(value, false);
        if value.chars().count() > MAX_ACCOUNT_TEXT {
            return Err(invalid(
                field,
                codes::TOO_LONG,
                format!("{field} has more than {MAX_ACCOUNT_TEXT} characters"),
            ));
        }
        Ok((!value.is_empty()).then_some(value))
    };
    let display_name = text("display_name", display_name)?.unwrap_or_else(|| username.clone());
    let organization = text("organization", organization)?;
    let email = match email.map(str::trim).filter(|e| !e.is_empty()) {
        None => None,
        Some(e) => {
            let e = e.to_lowercase();
            let ok = e.len() <= 254
                && e.split_once('@').is_some_and(|(local, domain)| {
                    !local.is_empty() && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
                })
                && !e.chars().any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>' | '"'));
            if !ok {
                return Err(invalid("email", codes::INVALID_VALUE, format!("{e:?} is not an email address")));
            }
            Some(e)
        }
    };
    let province = crate::material::resolve(&vocab.provinces, "province", province)?;
    Ok(AccountDetails { username, display_name, email, organization, province })
}

/// Passwords: at least 10 characters, not only digits; checked before hashing.
pub fn check_password(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < 10 {
        return Err("the password must have at least 10 characters");
    }
    if password.chars().all(|c| c.is_ascii_digit()) {
        return Err("the password must not be only digits");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(role: Role, subjects: &[&str]) -> Principal {
        Principal::Person(Person {
            id: Uuid::from_u128(role as u128 + 1),
            role,
            review_subjects: subjects.iter().map(|s| s.to_string()).collect(),
            review_provinces: vec![],
        })
    }

    #[test]
    fn steps_follow_the_workflow() {
        use Status::*;
        assert_eq!(Step::Submit.apply(Draft), Some(Submitted));
        assert_eq!(Step::Submit.apply(Rejected), Some(Submitted));
        assert_eq!(Step::Approve.apply(Submitted), Some(Published));
        assert_eq!(Step::Reject.apply(Submitted), Some(Rejected));
        assert_eq!(Step::Withdraw.apply(Published), Some(Withdrawn));
        assert_eq!(Step::Approve.apply(Draft), None, "a draft must be submitted first");
        assert_eq!(Step::Reject.apply(Published), None);
        assert_eq!(Step::Submit.apply(Published), None);
    }

    #[test]
    fn visibility_and_permissions() {
        let author = Principal::Person(Person {
            id: Uuid::from_u128(99),
            role: Role::Curator,
            review_subjects: vec![],
            review_provinces: vec![],
        });
        let draft = Facts {
            status: Status::Draft,
            author: Some(Uuid::from_u128(99)),
            author_key: None,
            subject: "toan",
            province: None,
            organization: None,
        };
        let published = Facts { status: Status::Published, ..draft };
        let math_reviewer = person(Role::Reviewer, &["toan"]);
        let physics_reviewer = person(Role::Reviewer, &["vat-li"]);
        let key =
            |scopes: &[Scope]| Principal::Key(Key { id: Uuid::nil(), scopes: scopes.to_vec(), organization: None });

        assert!(Principal::Anonymous.can_read(&published));
        assert!(!Principal::Anonymous.can_read(&draft));
        assert!(author.can_read(&draft) && author.can_edit(&draft) && author.can(Step::Submit, &draft));
        assert!(!author.can_edit(&published), "a published material changes through review");
        assert!(!author.can(Step::Approve, &draft), "no self-approval");
        assert!(math_reviewer.can_read(&draft) && math_reviewer.can(Step::Approve, &draft));
        assert!(!physics_reviewer.can_read(&draft) && !physics_reviewer.can(Step::Approve, &draft));
        assert!(person(Role::Admin, &[]).can(Step::Withdraw, &published));
        assert!(!person(Role::Teacher, &[]).can_create());
        assert!(key(&[Scope::Write]).can_create() && !key(&[Scope::Write]).publishes_directly());
        assert!(!key(&[Scope::Read]).can_read(&draft));
        assert!(key(&[Scope::Review]).can(Step::Reject, &draft));
        assert!(key(&[Scope::Admin]).publishes_directly());
    }

    #[test]
    fn keys_own_what_they_upload_and_delete_only_that_or_their_organisations() {
        let key = |id: u128, scopes: &[Scope], org: Option<&str>| {
            Principal::Key(Key { id: Uuid::from_u128(id), scopes: scopes.to_vec(), organization: org.map(Into::into) })
        };
        let mine = Facts {
            status: Status::Draft,
            author: None,
            author_key: Some(Uuid::from_u128(7)),
            subject: "toan",
            province: None,
            organization: Some("Sở GD&ĐT Huế"),
        };
        let uploader = key(7, &[Scope::Write], None);
        assert!(uploader.can_read(&mine) && uploader.can(Step::Submit, &mine) && uploader.can_edit(&mine));
        assert!(uploader.can_delete(&mine));
        let published_elsewhere =
            Facts { status: Status::Published, author_key: None, organization: Some("Sở GD&ĐT Hà Nội"), ..mine };
        assert!(!uploader.can_delete(&published_elsewhere), "a write key deletes only its own materials");
        assert!(!key(8, &[Scope::Write], Some("Sở GD&ĐT Huế")).can_delete(&published_elsewhere));
        assert!(key(8, &[Scope::Write], Some("Sở GD&ĐT Hà Nội")).can_delete(&published_elsewhere));
        assert!(!key(8, &[Scope::Read], Some("Sở GD&ĐT Hà Nội")).can_delete(&published_elsewhere));
        assert!(key(9, &[Scope::Admin], None).can_delete(&published_elsewhere));
        assert!(!key(8, &[Scope::Write], None).can_read(&mine), "another key does not see the draft");
    }

    #[test]
    fn account_details_are_checked() {
        let vocab = crate::Vocabularies::embedded();
        let ok = validate_account(" Co.Lan ", Some(" Cô  Lan "), Some("Lan@Truong.edu.vn"), None, Some("Huế"), &vocab)
            .unwrap();
        assert_eq!(ok.username, "co.lan");
        assert_eq!(ok.display_name, "Cô Lan");
        assert_eq!(ok.email.as_deref(), Some("lan@truong.edu.vn"));
        assert_eq!(ok.province.as_deref(), Some("hue"));
        let field = |r: Result<AccountDetails, crate::Error>| r.unwrap_err().field().unwrap().to_owned();
        assert_eq!(field(validate_account("a\0b", None, None, None, None, &vocab)), "username");
        assert_eq!(field(validate_account("<b>x</b>", None, None, None, None, &vocab)), "username");
        assert_eq!(field(validate_account(&"a".repeat(100_000), None, None, None, None, &vocab)), "username");
        assert_eq!(field(validate_account("lan", Some("x\u{0}y"), None, None, None, &vocab)), "display_name");
        assert_eq!(field(validate_account("lan", Some(&"ư".repeat(201)), None, None, None, &vocab)), "display_name");
        assert_eq!(field(validate_account("lan", None, Some("not-an-email"), None, None, &vocab)), "email");
        assert_eq!(field(validate_account("lan", None, None, None, Some("Sao Hoả"), &vocab)), "province");
    }

    #[test]
    fn password_rules() {
        assert!(check_password("ngắn").is_err());
        assert!(check_password("0123456789").is_err());
        assert!(check_password("mật khẩu đủ dài").is_ok());
    }
}
