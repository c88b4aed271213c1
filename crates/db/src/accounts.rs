//! Accounts (argon2id password hashes), browser sessions (random tokens stored as SHA-256),
//! and brute-force throttling per account.
//!
//! Password hashing is CPU-bound: it runs on blocking threads, a few at a time, never on the
//! async workers (so sign-ins cannot slow searches down), and an unknown name costs the same
//! hash as a known one (so response times do not tell which names exist).

use chrono::{DateTime, Duration, Utc};
use hoclieu_domain::Role;
use hoclieu_domain::workflow::Person;
use sea_orm::sea_query::Expr;
use sea_orm::{ActiveValue::Set, ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::entity::{session, user};
use crate::{Db, Error, Result};

/// Failed sign-ins on an account (from anywhere) before sign-ins from addresses it has never
/// signed in from must wait; the wait doubles with each further failure, up to [`MAX_WAIT`].
/// Addresses that signed in before are not held up: an attacker cannot lock anyone out.
pub const FREE_FAILED_LOGINS: i32 = 10;
pub const MAX_WAIT: Duration = Duration::minutes(15);
/// Addresses remembered per account as known (the most recent first).
const KNOWN_ADDRESSES: usize = 10;

/// Hashes computed at the same time by this process.
static HASHING: std::sync::LazyLock<tokio::sync::Semaphore> = std::sync::LazyLock::new(|| {
    tokio::sync::Semaphore::new(std::thread::available_parallelism().map_or(2, |n| n.get()))
});

/// Runs a password hash on a blocking thread, a few at a time.
async fn hashing<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let _permit = HASHING.acquire().await.map_err(|e| Error::Corrupt(format!("hashing stopped: {e}")))?;
    tokio::task::spawn_blocking(f).await.map_err(|e| Error::Corrupt(format!("hashing failed: {e}")))
}

/// An account as shown (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub display_name: String,
    pub organization: Option<String>,
    pub province: Option<String>,
    pub role: Role,
    pub review_subjects: Vec<String>,
    pub review_provinces: Vec<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
}

impl User {
    pub fn person(&self) -> Person {
        Person {
            id: self.id,
            role: self.role,
            review_subjects: self.review_subjects.clone(),
            review_provinces: self.review_provinces.clone(),
        }
    }
}

/// A new account.
#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub email: Option<String>,
    pub display_name: String,
    pub organization: Option<String>,
    pub province: Option<String>,
    pub role: Role,
    pub password: String,
}

/// The outcome of a sign-in attempt. Unknown names and wrong passwords look the same to callers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    Ok(User),
    /// A wrong password or an unknown name; `user` is set when the name exists (for the log).
    Invalid {
        user: Option<Uuid>,
    },
    /// Too many failures from unknown addresses: try again after then (the password was not
    /// checked).
    Wait(DateTime<Utc>),
    Disabled,
}

/// A signed-in browser session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub user: User,
    pub csrf: String,
    pub expires_at: DateTime<Utc>,
}

fn sha256(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

fn random_hex(bytes: usize) -> Result<String> {
    let mut buf = vec![0u8; bytes];
    getrandom::fill(&mut buf).map_err(|e| Error::Corrupt(format!("no randomness available: {e}")))?;
    Ok(hex::encode(buf))
}

fn hash_password(password: &str) -> Result<String> {
    use argon2::password_hash::PasswordHasher;
    argon2::Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| Error::Corrupt(format!("cannot hash the password: {e}")))
}

/// A real argon2id hash of nothing anyone knows, checked for unknown names.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$3aX9oHWnxQvtdtrdqNsGAylh3bZ/4xBcGZCbGudIkYk";

fn password_matches(password: &str, hash: &str) -> bool {
    use argon2::password_hash::{PasswordVerifier, phc::PasswordHash};
    PasswordHash::new(hash)
        .is_ok_and(|parsed| argon2::Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
}

fn list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn to_user(m: user::Model) -> Result<User> {
    Ok(User {
        role: Role::parse(&m.role).ok_or_else(|| Error::Corrupt(format!("user {} has role {:?}", m.id, m.role)))?,
        review_subjects: list(&m.review_subjects),
        review_provinces: list(&m.review_provinces),
        disabled: m.disabled_at.is_some(),
        id: m.id,
        username: m.username,
        email: m.email,
        display_name: m.display_name,
        organization: m.organization,
        province: m.province,
        created_at: m.created_at,
    })
}

impl Db {
    /// Creates an account. The username (and email) must be free.
    pub async fn create_user(&self, new: NewUser) -> Result<User> {
        let username = new.username.trim().to_lowercase();
        let email = new.email.map(|e| e.trim().to_lowercase()).filter(|e| !e.is_empty());
        let taken = user::Entity::find()
            .filter(
                Condition::any()
                    .add(user::Column::Username.eq(&username))
                    .add(user::Column::Email.eq(email.clone().unwrap_or_default())),
            )
            .one(&self.conn)
            .await?;
        if taken.is_some() {
            return Err(Error::Conflict(format!("the username or email of {username:?} is already taken")));
        }
        let model = user::ActiveModel {
            id: Set(Uuid::now_v7()),
            username: Set(username),
            email: Set(email),
            display_name: Set(new.display_name),
            organization: Set(new.organization),
            province: Set(new.province),
            role: Set(new.role.as_str().to_owned()),
            review_subjects: Set("[]".into()),
            review_provinces: Set("[]".into()),
            password_hash: Set({
                let password = new.password.clone();
                hashing(move || hash_password(&password)).await??
            }),
            failed_logins: Set(0),
            locked_until: Set(None),
            known_addresses: Set("[]".into()),
            disabled_at: Set(None),
            created_at: Set(Utc::now()),
        };
        to_user(user::Entity::insert(model).exec_with_returning(&self.conn).await?)
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<User>> {
        user::Entity::find_by_id(id).one(&self.conn).await?.map(to_user).transpose()
    }

    /// An account by username or email.
    pub async fn user_by_login(&self, login: &str) -> Result<Option<User>> {
        let login = login.trim().to_lowercase();
        let found = user::Entity::find()
            .filter(Condition::any().add(user::Column::Username.eq(&login)).add(user::Column::Email.eq(&login)))
            .one(&self.conn)
            .await?;
        found.map(to_user).transpose()
    }

    pub async fn list_users(&self) -> Result<Vec<User>> {
        let rows = user::Entity::find().order_by_asc(user::Column::Username).all(&self.conn).await?;
        rows.into_iter().map(to_user).collect()
    }

    /// Sets a role and, for reviewers, the subjects and provinces they review (empty: all).
    pub async fn set_role(&self, id: Uuid, role: Role, subjects: &[String], provinces: &[String]) -> Result<bool> {
        let res = user::Entity::update_many()
            .col_expr(user::Column::Role, Expr::value(role.as_str()))
            .col_expr(user::Column::ReviewSubjects, Expr::value(serde_json::to_string(subjects).expect("json")))
            .col_expr(user::Column::ReviewProvinces, Expr::value(serde_json::to_string(provinces).expect("json")))
            .filter(user::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        Ok(res.rows_affected == 1)
    }

    /// Disables (or enables) an account; disabling ends its sessions.
    pub async fn set_disabled(&self, id: Uuid, disabled: bool) -> Result<bool> {
        let at: Option<DateTime<Utc>> = disabled.then(Utc::now);
        let res = user::Entity::update_many()
            .col_expr(user::Column::DisabledAt, Expr::value(at))
            .filter(user::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        if disabled {
            session::Entity::delete_many().filter(session::Column::UserId.eq(id)).exec(&self.conn).await?;
        }
        Ok(res.rows_affected == 1)
    }

    /// Replaces a password and ends every session of the account.
    pub async fn set_password(&self, id: Uuid, password: &str) -> Result<()> {
        let hash = {
            let password = password.to_owned();
            hashing(move || hash_password(&password)).await??
        };
        user::Entity::update_many()
            .col_expr(user::Column::PasswordHash, Expr::value(hash))
            .filter(user::Column::Id.eq(id))
            .exec(&self.conn)
            .await?;
        session::Entity::delete_many().filter(session::Column::UserId.eq(id)).exec(&self.conn).await?;
        Ok(())
    }

    /// Checks a password from the client `address` (its throttling key), counting failures.
    /// After [`FREE_FAILED_LOGINS`] failures, addresses the account never signed in from wait
    /// before the password is checked again; addresses it did sign in from do not.
    pub async fn check_login(&self, login: &str, password: &str, address: Option<&str>) -> Result<Login> {
        let login = login.trim().to_lowercase();
        let found = user::Entity::find()
            .filter(Condition::any().add(user::Column::Username.eq(&login)).add(user::Column::Email.eq(&login)))
            .one(&self.conn)
            .await?;
        let Some(m) = found else {
            // Spend the same time as a real check, so timing does not tell which names exist.
            let password = password.to_owned();
            hashing(move || password_matches(&password, DUMMY_HASH)).await?;
            return Ok(Login::Invalid { user: None });
        };
        let now = Utc::now();
        if m.disabled_at.is_some() {
            return Ok(Login::Disabled);
        }
        let known: Vec<String> = list(&m.known_addresses);
        let known_address = address.is_some_and(|a| known.iter().any(|k| k == a));
        if let Some(until) = m.locked_until.filter(|u| *u > now && !known_address) {
            return Ok(Login::Wait(until));
        }
        let hash = m.password_hash.clone();
        let ok = {
            let password = password.to_owned();
            hashing(move || password_matches(&password, &hash)).await?
        };
        if ok {
            let mut known = known;
            if let Some(a) = address {
                known.retain(|k| k != a);
                known.insert(0, a.to_owned());
                known.truncate(KNOWN_ADDRESSES);
            }
            user::Entity::update_many()
                .col_expr(user::Column::FailedLogins, Expr::value(0))
                .col_expr(user::Column::LockedUntil, Expr::value(Option::<DateTime<Utc>>::None))
                .col_expr(user::Column::KnownAddresses, Expr::value(serde_json::to_string(&known).expect("json")))
                .filter(user::Column::Id.eq(m.id))
                .exec(&self.conn)
                .await?;
            return Ok(Login::Ok(to_user(m)?));
        }
        let failures = m.failed_logins.saturating_add(1);
        let wait = (failures >= FREE_FAILED_LOGINS).then(|| {
            let doublings = u32::try_from(failures - FREE_FAILED_LOGINS).unwrap_or(0).min(20);
            now + Duration::seconds(1i64 << doublings).min(MAX_WAIT)
        });
        user::Entity::update_many()
            .col_expr(user::Column::FailedLogins, Expr::value(failures))
            .col_expr(user::Column::LockedUntil, Expr::value(wait))
            .filter(user::Column::Id.eq(m.id))
            .exec(&self.conn)
            .await?;
        Ok(Login::Invalid { user: Some(m.id) })
    }

    /// Starts a session; returns its token (for the cookie) and its CSRF token.
    pub async fn create_session(&self, user_id: Uuid, lifetime: Duration) -> Result<(String, String)> {
        let token = random_hex(32)?;
        let csrf = random_hex(16)?;
        let now = Utc::now();
        session::Entity::insert(session::ActiveModel {
            token_hash: Set(sha256(&token)),
            user_id: Set(user_id),
            csrf: Set(csrf.clone()),
            created_at: Set(now),
            last_seen_at: Set(now),
            expires_at: Set(now + lifetime),
        })
        .exec_without_returning(&self.conn)
        .await?;
        Ok((token, csrf))
    }

    /// The live session of `token`: not past its absolute expiry nor idle longer than `idle`,
    /// of an enabled account. Records activity at most once a minute.
    pub async fn session(&self, token: &str, idle: Duration) -> Result<Option<Session>> {
        let now = Utc::now();
        let Some(s) = session::Entity::find_by_id(sha256(token)).one(&self.conn).await? else { return Ok(None) };
        if s.expires_at <= now || now - s.last_seen_at > idle {
            session::Entity::delete_by_id(s.token_hash).exec(&self.conn).await?;
            return Ok(None);
        }
        let Some(user) = self.user(s.user_id).await?.filter(|u| !u.disabled) else { return Ok(None) };
        if now - s.last_seen_at > Duration::minutes(1) {
            session::Entity::update_many()
                .col_expr(session::Column::LastSeenAt, Expr::value(now))
                .filter(session::Column::TokenHash.eq(&s.token_hash))
                .exec(&self.conn)
                .await?;
        }
        Ok(Some(Session { user, csrf: s.csrf, expires_at: s.expires_at }))
    }

    pub async fn end_session(&self, token: &str) -> Result<()> {
        session::Entity::delete_by_id(sha256(token)).exec(&self.conn).await?;
        Ok(())
    }
}
