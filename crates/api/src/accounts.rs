//! Sign-in, sessions, the curation workflow, users, keys and the audit log over HTTP.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use hoclieu_db::{Login, NewUser};
use hoclieu_domain::{Role, Scope, Status, Step};
use serde::Deserialize;
use serde_json::json;
use uuid::Uuid;

use crate::auth::{self, SESSION_COOKIE};
use crate::error::ApiError;
use crate::views::MaterialView;
use crate::{App, handlers::parse_id};

type Data = web::Data<App>;

fn json_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request("invalid_json", format!("the request body: {e}")))
}

#[derive(Deserialize)]
struct LoginRequest {
    login: String,
    password: String,
}

fn session_cookie(req: &HttpRequest, value: String, max_age: Option<std::time::Duration>) -> Cookie<'static> {
    let mut c = Cookie::build(SESSION_COOKIE, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(req.connection_info().scheme() == "https")
        .finish();
    match max_age {
        Some(age) => c.set_max_age(actix_web::cookie::time::Duration::seconds(age.as_secs() as i64)),
        None => c.make_removal(),
    }
    c
}

/// `POST /api/v1/auth/login`: `{"login", "password"}` → a new session (cookie) and its CSRF token.
pub async fn login(req: HttpRequest, body: web::Bytes, app: Data) -> Result<HttpResponse, ApiError> {
    let request: LoginRequest = json_body(&body)?;
    let ip = auth::client_ip(&req).and_then(|a| a.parse().ok());
    if !app.logins.allowed(ip) {
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            "too many failed sign-ins from this address; wait 15 minutes",
        ));
    }
    let user = match app.db.check_login(&request.login, &request.password).await? {
        Login::Ok(user) => user,
        Login::Locked(until) => {
            app.logins.failed(ip);
            return Err(ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "account_locked",
                format!("too many failed sign-ins: the account is locked until {}", until.format("%H:%M UTC")),
            ));
        }
        Login::Invalid | Login::Disabled => {
            app.logins.failed(ip);
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong username or password"));
        }
    };
    // A fresh session on every sign-in (the old one, if any, ends): no session fixation.
    if let Some(old) = req.cookie(SESSION_COOKIE) {
        app.db.end_session(old.value()).await?;
    }
    let lifetime = app.settings.session_lifetime;
    let (token, csrf) = app
        .db
        .create_session(user.id, chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(12)))
        .await?;
    let actor = hoclieu_db::Actor {
        kind: "user".into(),
        id: Some(user.id),
        name: Some(user.username.clone()),
        ip: auth::client_ip(&req),
    };
    app.db.audit(&actor, "auth.login", ("user", Some(user.id.to_string())), json!({})).await?;
    Ok(HttpResponse::Ok()
        .cookie(session_cookie(&req, token, Some(lifetime)))
        .json(json!({"user": user, "csrf_token": csrf})))
}

/// `POST /api/v1/auth/logout`.
pub async fn logout(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    if caller.session.is_some()
        && let Some(cookie) = req.cookie(SESSION_COOKIE)
    {
        app.db.end_session(cookie.value()).await?;
    }
    Ok(HttpResponse::NoContent().cookie(session_cookie(&req, String::new(), None)).finish())
}

/// `GET /api/v1/auth/me`: the signed-in account and the session's CSRF token.
pub async fn me(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let Some(session) = caller.session else { return Err(caller.refuse("see your account")) };
    Ok(HttpResponse::Ok()
        .json(json!({"user": session.user, "csrf_token": session.csrf, "expires_at": session.expires_at})))
}

#[derive(Deserialize)]
struct PasswordChange {
    current: String,
    new: String,
}

/// `POST /api/v1/auth/password`: `{"current", "new"}`; ends every session of the account.
pub async fn change_password(req: HttpRequest, body: web::Bytes, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let Some(session) = &caller.session else { return Err(caller.refuse("change a password")) };
    let change: PasswordChange = json_body(&body)?;
    if !matches!(app.db.check_login(&session.user.username, &change.current).await?, Login::Ok(_)) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "invalid_credentials", "the current password is wrong")
            .with_field("current"));
    }
    hoclieu_domain::workflow::check_password(&change.new)
        .map_err(|m| ApiError::bad_request("invalid_value", m).with_field("new"))?;
    app.db.set_password(session.user.id, &change.new).await?;
    app.db.audit(&caller.actor, "auth.password_change", ("user", Some(session.user.id.to_string())), json!({})).await?;
    Ok(HttpResponse::NoContent().cookie(session_cookie(&req, String::new(), None)).finish())
}

/// `PUT /api/v1/materials/{id}`: new metadata (the import object without `files`) for a draft or
/// rejected material by its author, or any material by an admin.
pub async fn edit(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let id = parse_id(&path, "material")?;
    let material = app.db.material(id).await?.ok_or_else(|| ApiError::not_found("material"))?;
    if !caller.principal.can_read(&material.facts()) {
        return Err(ApiError::not_found("material"));
    }
    let propose = caller.principal.can_propose(&material.facts());
    if !propose && !caller.principal.can_edit(&material.facts()) {
        return Err(caller.refuse("edit this material now (drafts and rejected materials are edited by their authors)"));
    }
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("invalid_json", "the body is not UTF-8"))?;
    let record = hoclieu_domain::ImportRecord::from_json(text)?;
    if record.files.is_some() {
        return Err(
            ApiError::bad_request("unknown_field", "files cannot be changed by editing metadata").with_field("files")
        );
    }
    let meta = record.validate(&app.vocab, !material.files.is_empty())?;
    if propose {
        // A published material changes through review: this is a proposed version.
        let version = app.db.propose_version(id, &meta, &caller.actor).await?;
        return Ok(HttpResponse::Accepted().json(version_view(&version, &app)));
    }
    let updated =
        app.db.update_metadata(id, &meta, &caller.actor).await?.ok_or_else(|| ApiError::not_found("material"))?;
    app.index_wake.notify_one();
    Ok(HttpResponse::Ok().json(MaterialView::new(updated, &app.vocab)))
}

fn version_view(v: &hoclieu_db::Version, app: &App) -> serde_json::Value {
    json!({
        "number": v.number, "status": v.status, "reason": v.reason, "author": v.author,
        "created_at": v.created_at, "updated_at": v.updated_at,
        "title": v.meta.title, "description": v.meta.description,
        "subject": {"code": v.meta.subject, "label": app.vocab.subjects.label(&v.meta.subject)},
        "grade": v.meta.grade, "series": v.meta.series, "resource_type": v.meta.resource_type,
        "chapter": v.meta.chapter, "lesson": v.meta.lesson, "keywords": v.meta.keywords,
    })
}

/// `GET /api/v1/materials/{id}/versions`: earlier and proposed versions. Proposals are shown
/// to those who may act on them (the author, reviewers, admins).
pub async fn versions(req: HttpRequest, path: web::Path<String>, app: Data) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "material")?;
    let caller = auth::reader(&req, &app).await?;
    let material = crate::handlers::visible_material(&req, &app, id).await?;
    let facts = material.facts();
    let insider = caller.principal.can_propose(&facts) || caller.principal.reviews(&facts);
    let items: Vec<_> = app
        .db
        .versions(id)
        .await?
        .iter()
        .filter(|v| insider || matches!(v.status.as_str(), "published" | "previous"))
        .map(|v| version_view(v, &app))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"current": material.version, "versions": items})))
}

/// `POST /api/v1/materials/{id}/versions/{number}/{submit|approve|reject}`.
pub async fn version_step(
    req: HttpRequest,
    path: web::Path<(String, u32, String)>,
    body: web::Bytes,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let id = parse_id(&path.0, "material")?;
    let step = match path.2.as_str() {
        "submit" => Step::Submit,
        "approve" => Step::Approve,
        "reject" => Step::Reject,
        _ => return Err(ApiError::not_found("resource")),
    };
    let material = app.db.material(id).await?.ok_or_else(|| ApiError::not_found("material"))?;
    let version = app.db.version(id, path.1).await?.ok_or_else(|| ApiError::not_found("version"))?;
    let facts = material.facts();
    if !(caller.principal.can_propose(&facts) || caller.principal.reviews(&facts)) {
        return Err(ApiError::not_found("version"));
    }
    if !caller.principal.can_on_version(step, &facts, version.author) {
        return Err(caller.refuse(&format!("{} this version", step.as_str())));
    }
    let request: StepRequest = if body.is_empty() { StepRequest::default() } else { json_body(&body)? };
    let reason = request.reason.map(|r| hoclieu_domain::text::clean(&r, true)).filter(|r| !r.is_empty());
    if step.needs_reason() && reason.is_none() {
        return Err(ApiError::bad_request("missing_field", format!("a reason is needed to {}", step.as_str()))
            .with_field("reason"));
    }
    let version = app
        .db
        .take_version_step(id, path.1, step, reason.as_deref(), &caller.actor)
        .await?
        .ok_or_else(|| ApiError::not_found("version"))?;
    app.index_wake.notify_one();
    Ok(HttpResponse::Ok().json(version_view(&version, &app)))
}

#[derive(Deserialize, Default)]
struct StepRequest {
    #[serde(default)]
    reason: Option<String>,
}

/// `POST /api/v1/materials/{id}/{submit|approve|reject|withdraw}`.
pub async fn step(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    body: web::Bytes,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let id = parse_id(&path.0, "material")?;
    let step = match path.1.as_str() {
        "submit" => Step::Submit,
        "approve" => Step::Approve,
        "reject" => Step::Reject,
        "withdraw" => Step::Withdraw,
        _ => return Err(ApiError::not_found("resource")),
    };
    let request: StepRequest = if body.is_empty() { StepRequest::default() } else { json_body(&body)? };
    let material = app.db.material(id).await?.ok_or_else(|| ApiError::not_found("material"))?;
    // Nothing is revealed about materials the caller may not see.
    if !caller.principal.can_read(&material.facts()) {
        return Err(ApiError::not_found("material"));
    }
    if !caller.principal.can(step, &material.facts()) {
        return Err(caller.refuse(&format!("{} this material", step.as_str())));
    }
    let reason = request.reason.map(|r| hoclieu_domain::text::clean(&r, true)).filter(|r| !r.is_empty());
    if step.needs_reason() && reason.is_none() {
        return Err(ApiError::bad_request("missing_field", format!("a reason is needed to {}", step.as_str()))
            .with_field("reason"));
    }
    let material = app
        .db
        .take_step(id, step, reason.as_deref(), &caller.actor)
        .await?
        .ok_or_else(|| ApiError::not_found("material"))?;
    app.index_wake.notify_one();
    Ok(HttpResponse::Ok().json(MaterialView::new(material, &app.vocab)))
}

/// `GET /api/v1/review/queue?status=submitted&subject=&province=`: what the caller reviews.
pub async fn review_queue(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let status = match get("status") {
        Some(s) => Status::parse(s).ok_or_else(|| {
            ApiError::bad_request("invalid_value", format!("unknown status {s:?}")).with_field("status")
        })?,
        None => Status::Submitted,
    };
    let reviewer = matches!(&caller.principal, hoclieu_domain::Principal::Person(p) if p.role >= Role::Reviewer)
        || caller.principal.is_admin()
        || matches!(&caller.principal, hoclieu_domain::Principal::Key(k) if hoclieu_domain::auth::grants(&k.scopes, Scope::Review));
    if !reviewer {
        return Err(caller.refuse("see the review queue"));
    }
    let found = app.db.materials_in_status(status, get("subject"), get("province"), 200).await?;
    let items: Vec<_> = found
        .into_iter()
        .filter(|m| caller.principal.reviews(&m.facts()))
        .map(|m| MaterialView::new(m, &app.vocab))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"status": status.as_str(), "total": items.len(), "items": items})))
}

/// `GET /api/v1/me/materials`: the signed-in author's materials in every state.
pub async fn my_materials(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let Some(person) = caller.person() else { return Err(caller.refuse("list your materials")) };
    let items: Vec<_> = app
        .db
        .materials_by_author(person.id, 500)
        .await?
        .into_iter()
        .map(|m| MaterialView::new(m, &app.vocab))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"total": items.len(), "items": items})))
}

fn require_admin(caller: &auth::Caller, what: &str) -> Result<(), ApiError> {
    if caller.principal.is_admin() { Ok(()) } else { Err(caller.refuse(what)) }
}

/// `GET /api/v1/audit?after=&limit=&format=jsonl` (admins).
pub async fn audit(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    require_admin(&caller, "read the audit log")?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let after = get("after").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit = get("limit").and_then(|v| v.parse().ok()).unwrap_or(1000u64).clamp(1, 10_000);
    let entries = app.db.audit_entries(after, limit).await?;
    if get("format").as_deref() == Some("jsonl") {
        let mut body = String::new();
        for e in &entries {
            body.push_str(&serde_json::to_string(e).expect("serialises"));
            body.push('\n');
        }
        return Ok(HttpResponse::Ok().content_type("application/x-ndjson; charset=utf-8").body(body));
    }
    Ok(HttpResponse::Ok().json(json!({"entries": entries})))
}

#[derive(Deserialize)]
struct UserRequest {
    username: String,
    #[serde(default)]
    email: Option<String>,
    display_name: String,
    #[serde(default)]
    organization: Option<String>,
    #[serde(default)]
    province: Option<String>,
    role: String,
    password: String,
}

/// `GET /api/v1/users` (admins).
pub async fn users(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    require_admin(&caller, "list accounts")?;
    Ok(HttpResponse::Ok().json(json!({"users": app.db.list_users().await?})))
}

/// `POST /api/v1/users` (admins).
pub async fn create_user(req: HttpRequest, body: web::Bytes, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    require_admin(&caller, "create accounts")?;
    let r: UserRequest = json_body(&body)?;
    let role = Role::parse(&r.role).ok_or_else(|| {
        ApiError::bad_request("invalid_value", format!("unknown role {:?}", r.role)).with_field("role")
    })?;
    hoclieu_domain::workflow::check_password(&r.password)
        .map_err(|m| ApiError::bad_request("invalid_value", m).with_field("password"))?;
    let user = app
        .db
        .create_user(NewUser {
            username: r.username,
            email: r.email,
            display_name: r.display_name,
            organization: r.organization,
            province: r.province,
            role,
            password: r.password,
        })
        .await?;
    app.db
        .audit(
            &caller.actor,
            "user.create",
            ("user", Some(user.id.to_string())),
            json!({"username": user.username, "role": role}),
        )
        .await?;
    Ok(HttpResponse::Created().json(user))
}

#[derive(Deserialize)]
struct RoleRequest {
    role: String,
    #[serde(default)]
    review_subjects: Vec<String>,
    #[serde(default)]
    review_provinces: Vec<String>,
}

/// `POST /api/v1/users/{id}/role` (admins).
pub async fn set_role(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    require_admin(&caller, "change roles")?;
    let id = parse_id(&path, "user")?;
    let r: RoleRequest = json_body(&body)?;
    let role = Role::parse(&r.role).ok_or_else(|| {
        ApiError::bad_request("invalid_value", format!("unknown role {:?}", r.role)).with_field("role")
    })?;
    if !app.db.set_role(id, role, &r.review_subjects, &r.review_provinces).await? {
        return Err(ApiError::not_found("user"));
    }
    app.db
        .audit(
            &caller.actor,
            "user.set_role",
            ("user", Some(id.to_string())),
            json!({"role": role, "subjects": r.review_subjects, "provinces": r.review_provinces}),
        )
        .await?;
    Ok(HttpResponse::Ok().json(app.db.user(id).await?))
}

/// `POST /api/v1/users/{id}/disable` (admins).
pub async fn disable_user(req: HttpRequest, path: web::Path<String>, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    require_admin(&caller, "disable accounts")?;
    let id = parse_id(&path, "user")?;
    if !app.db.set_disabled(id, true).await? {
        return Err(ApiError::not_found("user"));
    }
    app.db.audit(&caller.actor, "user.disable", ("user", Some(id.to_string())), json!({})).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/keys` (admins): every API key, never a token.
pub async fn keys(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    require_admin(&caller, "list API keys")?;
    let keys: Vec<_> = app
        .db
        .list_api_keys()
        .await?
        .into_iter()
        .map(|k| json!({"id": k.id, "name": k.name, "prefix": k.prefix, "scopes": k.scopes, "organization": k.organization, "created_at": k.created_at, "last_used_at": k.last_used_at, "revoked_at": k.revoked_at}))
        .collect();
    Ok(HttpResponse::Ok().json(json!({"keys": keys})))
}

#[derive(Deserialize)]
struct KeyRequest {
    name: String,
    scopes: Vec<String>,
    #[serde(default)]
    organization: Option<String>,
}

/// `POST /api/v1/keys` (admins): the token is in this answer only.
pub async fn create_key(req: HttpRequest, body: web::Bytes, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    require_admin(&caller, "create API keys")?;
    let r: KeyRequest = json_body(&body)?;
    let scopes = r
        .scopes
        .iter()
        .map(|s| {
            Scope::parse(s).ok_or_else(|| {
                ApiError::bad_request("invalid_value", format!("unknown scope {s:?}")).with_field("scopes")
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let name = hoclieu_domain::text::clean(&r.name, false);
    if name.is_empty() || scopes.is_empty() {
        return Err(
            ApiError::bad_request("missing_field", "a key needs a name and at least one scope").with_field("name")
        );
    }
    let organization = r.organization.map(|o| hoclieu_domain::text::clean(&o, false)).filter(|o| !o.is_empty());
    let (key, token) = app.db.create_api_key(&name, &scopes, organization.as_deref()).await?;
    app.db
        .audit(
            &caller.actor,
            "api_key.create",
            ("api_key", Some(key.id.to_string())),
            json!({"name": name, "scopes": scopes}),
        )
        .await?;
    Ok(HttpResponse::Created().json(json!({"id": key.id, "name": key.name, "scopes": key.scopes, "token": token})))
}

/// `DELETE /api/v1/keys/{id}` (admins).
pub async fn revoke_key(req: HttpRequest, path: web::Path<String>, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    require_admin(&caller, "revoke API keys")?;
    let id: Uuid = parse_id(&path, "API key")?;
    if !app.db.revoke_api_key(id).await? {
        return Err(ApiError::not_found("API key"));
    }
    app.db.audit(&caller.actor, "api_key.revoke", ("api_key", Some(id.to_string())), json!({})).await?;
    Ok(HttpResponse::NoContent().finish())
}
