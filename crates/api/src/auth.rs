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

/// The client's address: the peer's, or — when the peer is a trusted proxy
/// (`server.trusted_proxies`) — the one it forwarded in `X-Forwarded-For`.
pub fn client_addr(req: &HttpRequest) -> Option<IpAddr> {
    let trusted = req.app_data::<actix_web::web::Data<App>>().map(|app| app.settings.trusted_proxies.as_slice());
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok());
    hoclieu_domain::net::client_address(req.peer_addr().map(|a| a.ip()), forwarded, trusted.unwrap_or_default())
}

/// [`client_addr`] as text, for the audit log.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    client_addr(req).map(|ip| ip.to_string())
}

/// Identifies the caller. A bad key or an expired session is an error (401), not anonymity:
/// a client that meant to authenticate learns it failed.
pub async fn caller(req: &HttpRequest, app: &App) -> Result<Caller, ApiError> {
    let csrf = req.headers().get(CSRF_HEADER).and_then(|v| v.to_str().ok());
    identify(req, app, csrf).await
}

/// Whether a request that signs in comes from this site: sign-in has no session yet to carry a
/// CSRF token, so a cross-site sign-in (login CSRF) is refused by its `Sec-Fetch-Site`, `Origin`
/// or `Referer` (whichever the browser sent). Hosts are compared without the scheme: behind a TLS
/// proxy the server may see plain HTTP.
pub fn same_site(req: &HttpRequest) -> bool {
    let header = |h: &str| req.headers().get(h).and_then(|v| v.to_str().ok()).map(str::to_owned);
    if let Some(site) = header("sec-fetch-site") {
        return matches!(site.as_str(), "same-origin" | "none");
    }
    let host = req.connection_info().host().to_owned();
    match header("origin").or_else(|| header("referer")) {
        Some(o) if o == "null" => false,
        Some(o) => {
            let rest = o.split_once("://").map_or("", |(_, r)| r);
            rest.split('/').next() == Some(host.as_str())
        }
        None => true,
    }
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
        let token_ok =
            csrf.is_some_and(|t| hoclieu_domain::auth::constant_time_eq(t.as_bytes(), session.csrf.as_bytes()));
        if unsafe_method && !token_ok {
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

/// Failed sign-ins remembered by this server: per client address (beyond [`Self::PER_ADDRESS`]
/// in [`Self::WINDOW`], refused without checking the password) and per account and address (a
/// wait that doubles after [`Self::FREE`] failures). Neither holds up the account's owner at
/// another address; the account-wide limit in the database spares addresses it signed in from.
#[derive(Default)]
pub struct LoginLimiter {
    failures: Mutex<Failures>,
}

#[derive(Default)]
struct Failures {
    by_address: HashMap<IpAddr, (Instant, u32)>,
    by_account: HashMap<(String, IpAddr), (Instant, u32)>,
}

impl LoginLimiter {
    const PER_ADDRESS: u32 = 20;
    const WINDOW: Duration = Duration::from_secs(15 * 60);
    const FREE: u32 = 3;
    const MAX_WAIT: Duration = Duration::from_secs(15 * 60);
    const ENTRIES: usize = 100_000;

    fn key(login: &str) -> String {
        login.trim().to_lowercase()
    }

    /// How long `ip` must still wait before trying `login` again; `None` when it may try now.
    pub fn wait(&self, login: &str, ip: Option<IpAddr>) -> Option<Duration> {
        let ip = hoclieu_domain::net::throttle_key(ip?);
        let f = self.failures.lock().expect("not poisoned");
        if let Some((since, n)) = f.by_address.get(&ip)
            && since.elapsed() < Self::WINDOW
            && *n >= Self::PER_ADDRESS
        {
            return Some(Self::WINDOW - since.elapsed());
        }
        let (last, n) = f.by_account.get(&(Self::key(login), ip))?;
        let wait = Self::delay(*n);
        wait.checked_sub(last.elapsed()).filter(|w| !w.is_zero())
    }

    fn delay(failures: u32) -> Duration {
        if failures < Self::FREE {
            return Duration::ZERO;
        }
        Duration::from_secs(1u64 << (failures - Self::FREE).min(20)).min(Self::MAX_WAIT)
    }

    pub fn failed(&self, login: &str, ip: Option<IpAddr>) {
        let Some(ip) = ip.map(hoclieu_domain::net::throttle_key) else { return };
        let mut f = self.failures.lock().expect("not poisoned");
        if f.by_address.len() > Self::ENTRIES {
            f.by_address.retain(|_, (since, _)| since.elapsed() < Self::WINDOW);
        }
        if f.by_account.len() > Self::ENTRIES {
            f.by_account.retain(|_, (last, _)| last.elapsed() < Self::MAX_WAIT);
        }
        let entry = f.by_address.entry(ip).or_insert((Instant::now(), 0));
        if entry.0.elapsed() > Self::WINDOW {
            *entry = (Instant::now(), 0);
        }
        entry.1 += 1;
        let entry = f.by_account.entry((Self::key(login), ip)).or_insert((Instant::now(), 0));
        *entry = (Instant::now(), entry.1 + 1);
    }

    /// A successful sign-in clears its account's failures from that address.
    pub fn succeeded(&self, login: &str, ip: Option<IpAddr>) {
        let Some(ip) = ip.map(hoclieu_domain::net::throttle_key) else { return };
        self.failures.lock().expect("not poisoned").by_account.remove(&(Self::key(login), ip));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_slow_down_one_address_for_one_account_only() {
        let limiter = LoginLimiter::default();
        let attacker: Option<IpAddr> = Some("203.0.113.9".parse().unwrap());
        let owner: Option<IpAddr> = Some("198.51.100.1".parse().unwrap());
        for _ in 0..LoginLimiter::FREE {
            assert!(limiter.wait("admin", attacker).is_none());
            limiter.failed("admin", attacker);
        }
        assert!(limiter.wait("Admin ", attacker).is_some(), "the attacker waits");
        assert!(limiter.wait("admin", owner).is_none(), "the owner elsewhere does not");
        assert!(limiter.wait("other", attacker).is_none(), "nor do other accounts from there (yet)");
        for _ in 0..LoginLimiter::PER_ADDRESS {
            limiter.failed("someone", attacker);
        }
        assert!(limiter.wait("other", attacker).is_some(), "an address failing on many accounts is refused");
        limiter.succeeded("admin", owner);
        assert!(LoginLimiter::delay(LoginLimiter::FREE + 40) == LoginLimiter::MAX_WAIT);
    }
}
