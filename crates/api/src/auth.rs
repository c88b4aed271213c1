//! Who is calling: an API key (`Authorization: Bearer hl_…`), a signed-in browser (the session
//! cookie; requests that change something must also carry the session's CSRF token in
//! `X-CSRF-Token`), or nobody. What each may do is decided by `hoclieu_domain::workflow`.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::AUTHORIZATION;
use hoclieu_db::{Actor, Session};
use hoclieu_domain::workflow::{Key, Person};
use hoclieu_domain::{Principal, Scope};

use crate::App;
use crate::error::ApiError;

pub const SESSION_COOKIE: &str = "hoclieu_session";
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The caller of a request.
pub struct Caller {
    pub principal: Principal,
    /// Set when the caller is a signed-in browser.
    pub session: Option<Session>,
    pub actor: Actor,
}

impl Caller {
    /// Nobody in particular, calling from the request's address.
    pub fn anonymous(req: &HttpRequest) -> Caller {
        Caller {
            principal: Principal::Anonymous,
            session: None,
            actor: Actor { kind: "anonymous".into(), ip: client_ip(req), ..Default::default() },
        }
    }

    pub fn person(&self) -> Option<&Person> {
        match &self.principal {
            Principal::Person(p) => Some(p),
            _ => None,
        }
    }

    /// 401 for nobody, 403 for a caller who lacks the right.
    pub fn refuse(&self, what: &str) -> ApiError {
        if self.principal == Principal::Anonymous {
            ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", format!("sign in or send an API key to {what}"))
        } else {
            ApiError::new(StatusCode::FORBIDDEN, "forbidden", format!("you may not {what}"))
        }
    }
}

fn bearer(req: &HttpRequest) -> Option<&str> {
    let header = req.headers().get(AUTHORIZATION).and_then(|v| v.to_str().ok())?;
    header.strip_prefix("Bearer ").or_else(|| header.strip_prefix("bearer ")).map(str::trim).filter(|t| !t.is_empty())
}

pub fn client_ip(req: &HttpRequest) -> Option<String> {
    req.connection_info()
        .realip_remote_addr()
        .map(|a| a.rsplit_once(':').map_or(a, |(h, _)| h).trim_matches(['[', ']']).to_owned())
}

/// Identifies the caller. A bad key or an expired session is an error (401), not anonymity:
/// a client that meant to authenticate learns it failed.
pub async fn caller(req: &HttpRequest, app: &App) -> Result<Caller, ApiError> {
    let csrf = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    identify(req, app, csrf).await
}

/// The caller of a web form: the CSRF token comes in the form's `csrf` field.
pub async fn form_caller(req: &HttpRequest, app: &App, csrf: &str) -> Result<Caller, ApiError> {
    identify(req, app, Some(csrf)).await
}

async fn identify(req: &HttpRequest, app: &App, csrf: Option<&str>) -> Result<Caller, ApiError> {
    let ip = client_ip(req);
    if let Some(token) = bearer(req) {
        let Some(key) = app.db.authenticate(token).await? else {
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", "the API key is unknown or revoked"));
        };
        let actor = Actor { kind: "api_key".into(), id: Some(key.id), name: Some(key.name.clone()), ip };
        return Ok(Caller {
            principal: Principal::Key(Key { id: key.id, scopes: key.scopes, organization: key.organization }),
            session: None,
            actor,
        });
    }
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        let idle = chrono::Duration::from_std(app.settings.session_idle).unwrap_or(chrono::Duration::hours(2));
        let Some(session) = app.db.session(cookie.value(), idle).await? else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_expired",
                "the session has ended: sign in again",
            ));
        };
        let unsafe_method = !matches!(req.method().as_str(), "GET" | "HEAD" | "OPTIONS");
        if unsafe_method && csrf != Some(session.csrf.as_str()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "csrf_failed",
                "this request must carry the session's CSRF token in the X-CSRF-Token header",
            ));
        }
        let user = &session.user;
        let actor = Actor { kind: "user".into(), id: Some(user.id), name: Some(user.username.clone()), ip };
        return Ok(Caller { principal: Principal::Person(user.person()), session: Some(session), actor });
    }
    Ok(Caller::anonymous(req))
}

/// The caller, who must be allowed to read (everyone, unless the deployment requires sign-in).
pub async fn reader(req: &HttpRequest, app: &App) -> Result<Caller, ApiError> {
    let caller = caller(req, app).await?;
    if app.settings.require_sign_in && caller.principal == Principal::Anonymous {
        return Err(caller.refuse("read materials on this deployment"));
    }
    Ok(caller)
}

/// The API key of the request, which must grant `scope` (routes that only keys use).
pub async fn require(req: &HttpRequest, app: &App, scope: Scope) -> Result<Caller, ApiError> {
    let caller = caller(req, app).await?;
    let granted = match &caller.principal {
        Principal::Key(k) => hoclieu_domain::auth::grants(&k.scopes, scope),
        Principal::Person(p) => match scope {
            Scope::Read => true,
            Scope::Write => p.role >= hoclieu_domain::Role::Curator,
            Scope::Review => p.role >= hoclieu_domain::Role::Reviewer,
            Scope::Admin => p.role == hoclieu_domain::Role::Admin,
        },
        Principal::Anonymous => false,
    };
    if !granted {
        return Err(caller.refuse(&format!("do this (it needs the `{}` right)", scope.as_str())));
    }
    Ok(caller)
}

/// Failed sign-ins per client address: beyond [`Self::MAX`] in [`Self::WINDOW`], refused
/// without checking the password (per server; accounts also lock in the database).
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<HashMap<IpAddr, (Instant, u32)>>,
}

impl LoginLimiter {
    const MAX: u32 = 20;
    const WINDOW: Duration = Duration::from_secs(15 * 60);

    pub fn allowed(&self, ip: Option<IpAddr>) -> bool {
        let Some(ip) = ip else { return true };
        let map = self.failures.lock().expect("not poisoned");
        map.get(&ip).is_none_or(|(since, n)| since.elapsed() > Self::WINDOW || *n < Self::MAX)
    }

    pub fn failed(&self, ip: Option<IpAddr>) {
        let Some(ip) = ip else { return };
        let mut map = self.failures.lock().expect("not poisoned");
        if map.len() > 100_000 {
            map.retain(|_, (since, _)| since.elapsed() < Self::WINDOW);
        }
        let entry = map.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() > Self::WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
    }
}
