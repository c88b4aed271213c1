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

/// A successful sign-in: the session cookie to set and the session's CSRF token.
pub struct SignedIn {
    pub cookie: Cookie<'static>,
    pub user: hoclieu_db::User,
    pub csrf: String,
}

/// Checks a password (throttled per address, per account and address, and per account for
/// unknown addresses), ends the browser's old session and starts a new one (no session
/// fixation). Failed attempts are audited. Shared by the API and the sign-in page.
pub async fn sign_in(req: &HttpRequest, app: &App, login: &str, password: &str) -> Result<SignedIn, ApiError> {
    let addr = auth::client_addr(req);
    let actor = |id: Option<Uuid>, name: Option<String>| hoclieu_db::Actor {
        kind: if id.is_some() { "user".into() } else { "anonymous".into() },
        id,
        name,
        ip: addr.map(|a| a.to_string()),
    };
    let too_many = |wait: std::time::Duration| {
        let secs = wait.as_secs().max(1);
        ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too_many_attempts",
            format!("too many failed sign-ins: try again in {secs} s"),
        )
        .with_retry_after(secs)
    };
    if let Some(wait) = app.logins.wait(login, addr) {
        return Err(too_many(wait));
    }
    let throttle_key = addr.map(|a| hoclieu_domain::net::throttle_key(a).to_string());
    let user = match app.db.check_login(login, password, throttle_key.as_deref()).await? {
        Login::Ok(user) => user,
        Login::Wait(until) => {
            app.logins.failed(login, addr);
            let wait = (until - chrono::Utc::now()).to_std().unwrap_or_default();
            return Err(too_many(wait));
        }
        Login::Invalid { user } => {
            app.logins.failed(login, addr);
            // The name tried is recorded (never the password): an unknown one as typed, cut short.
            let tried: String = login.trim().chars().filter(|c| !c.is_control()).take(100).collect();
            app.db
                .audit(
                    &actor(user, None),
                    "auth.login_failed",
                    ("user", user.map(|u| u.to_string())),
                    json!({"login": tried}),
                )
                .await?;
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong username or password"));
        }
        Login::Disabled => {
            app.logins.failed(login, addr);
            return Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "wrong username or password"));
        }
    };
    app.logins.succeeded(login, addr);
    if let Some(old) = req.cookie(SESSION_COOKIE) {
        app.db.end_session(old.value()).await?;
    }
    let lifetime = app.settings.session_lifetime;
    let (token, csrf) = app
        .db
        .create_session(user.id, chrono::Duration::from_std(lifetime).unwrap_or(chrono::Duration::hours(12)))
        .await?;
    app.db
        .audit(
            &actor(Some(user.id), Some(user.username.clone())),
            "auth.login",
            ("user", Some(user.id.to_string())),
            json!({}),
        )
        .await?;
    Ok(SignedIn { cookie: session_cookie(req, token, Some(lifetime)), user, csrf })
}

/// Ends the browser's session, if any; returns the cookie that clears it.
pub async fn sign_out(req: &HttpRequest, app: &App) -> Result<Cookie<'static>, ApiError> {
    if let Some(cookie) = req.cookie(SESSION_COOKIE) {
        app.db.end_session(cookie.value()).await?;
    }
    Ok(session_cookie(req, String::new(), None))
}

/// `POST /api/v1/auth/login`: `{"login", "password"}` → a new session (cookie) and its CSRF token.
/// Only JSON from this site: a cross-site form cannot send `application/json` without a CORS
/// preflight (which this API never grants), and browsers say where a request comes from.
pub async fn login(req: HttpRequest, body: web::Bytes, app: Data) -> Result<HttpResponse, ApiError> {
    let json = req
        .headers()
        .get(actix_web::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json")));
    if !json {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the sign-in as Content-Type: application/json",
        ));
    }
    if !auth::same_site(&req) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf_failed", "sign-in from another site is refused"));
    }
    let request: LoginRequest = json_body(&body)?;
    let signed = sign_in(&req, &app, &request.login, &request.password).await?;
    Ok(HttpResponse::Ok().cookie(signed.cookie).json(json!({"user": signed.user, "csrf_token": signed.csrf})))
}

/// `POST /api/v1/auth/logout`.
pub async fn logout(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let cookie =
        if caller.session.is_some() { sign_out(&req, &app).await? } else { session_cookie(&req, String::new(), None) };
    Ok(HttpResponse::NoContent().cookie(cookie).finish())
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
    let addr = auth::client_addr(&req).map(|a| hoclieu_domain::net::throttle_key(a).to_string());
    if !matches!(app.db.check_login(&session.user.username, &change.current, addr.as_deref()).await?, Login::Ok(_)) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "invalid_credentials", "the current password is wrong")
            .with_field("current"));
    }
    hoclieu_domain::workflow::check_password(&change.new)
        .map_err(|m| ApiError::bad_request("invalid_value", m).with_field("new"))?;
    app.db.set_password(session.user.id, &change.new).await?;
    app.db.audit(&caller.actor, "auth.password_change", ("user", Some(session.user.id.to_string())), json!({})).await?;
    Ok(HttpResponse::NoContent().cookie(session_cookie(&req, String::new(), None)).finish())
}

/// The caller and the material of an edit, and how it may change: `true` proposes a version
/// (published materials), `false` edits in place (drafts and rejected materials, by their authors).
async fn editable(
    req: &HttpRequest,
    id: &str,
    app: &App,
) -> Result<(auth::Caller, hoclieu_domain::Material, bool), ApiError> {
    let caller = auth::caller(req, app).await?;
    let id = parse_id(id, "material")?;
    let material = app.db.material(id).await?.ok_or_else(|| ApiError::not_found("material"))?;
    let propose = edit_mode(&caller, &material)?;
    Ok((caller, material, propose))
}

pub(crate) fn edit_mode(caller: &auth::Caller, material: &hoclieu_domain::Material) -> Result<bool, ApiError> {
    let facts = material.facts();
    if !caller.principal.can_read(&facts) {
        return Err(ApiError::not_found("material"));
    }
    let propose = caller.principal.can_propose(&facts);
    if !propose && !caller.principal.can_edit(&facts) {
        return Err(caller.refuse("edit this material now (drafts and rejected materials are edited by their authors)"));
    }
    Ok(propose)
}

fn edited_response(edited: hoclieu_ingest::Edited, id: Uuid, app: &App) -> HttpResponse {
    app.index_wake.notify_one();
    app.job_wake.notify_one();
    match edited {
        hoclieu_ingest::Edited::Proposed(v) => HttpResponse::Accepted().json(version_view(&v, id, app)),
        hoclieu_ingest::Edited::InPlace(m) => HttpResponse::Ok().json(MaterialView::new(m, &app.vocab)),
    }
}

/// `PUT /api/v1/materials/{id}`: new metadata (JSON). Drafts change in place; a published
/// material gets a proposed version that goes through review.
pub async fn edit(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let (caller, material, propose) = editable(&req, &path, &app).await?;
    let id = material.id;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("invalid_json", "the body is not UTF-8"))?;
    let record = hoclieu_domain::ImportRecord::from_json(text)?;
    if record.files.is_some() {
        return Err(ApiError::bad_request(
            "unknown_field",
            "files are not part of the metadata: send them to POST /api/v1/materials/{id}/versions",
        )
        .with_field("files"));
    }
    let meta = record.validate(&app.vocab, !material.files.is_empty())?;
    let edited = app.ingest.edit(id, &meta, None, propose, &caller.actor).await?;
    Ok(edited_response(edited, id, &app))
}

/// `POST /api/v1/materials/{id}/versions`: a new version as a multipart upload, with new files
/// (`file` parts, which replace the set of files) and/or new metadata (a `metadata` part; without
/// it the metadata stays). Drafts change in place; a published material gets a proposed version.
pub async fn new_version(
    req: HttpRequest,
    path: web::Path<String>,
    body: actix_multipart::Multipart,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let (caller, material, propose) = editable(&req, &path, &app).await?;
    let id = material.id;
    let (record, files) = crate::upload::read_any(&req, body, &app).await?;
    let meta = match version_meta(record, &files, &material, propose, &app).await {
        Ok(meta) => meta,
        Err(e) => {
            app.ingest.discard(&files).await;
            return Err(e);
        }
    };
    let files = (!files.is_empty()).then_some(files);
    let edited = app.ingest.edit(id, &meta, files, propose, &caller.actor).await?;
    Ok(edited_response(edited, id, &app))
}

/// The metadata of a new version: as sent, or else that of the open proposal or the material.
async fn version_meta(
    record: Option<hoclieu_domain::ImportRecord>,
    files: &[hoclieu_ingest::StagedFile],
    material: &hoclieu_domain::Material,
    propose: bool,
    app: &App,
) -> Result<hoclieu_domain::MaterialMeta, ApiError> {
    let has_files = !files.is_empty() || !material.files.is_empty();
    match record {
        Some(r) if r.files.is_some() => Err(ApiError::bad_request(
            "unknown_field",
            "send files as `file` parts of the request, not in the metadata",
        )
        .with_field("files")),
        Some(r) => Ok(r.validate(&app.vocab, has_files)?),
        None if files.is_empty() => {
            Err(ApiError::bad_request("missing_field", "a new version needs `file` parts, a `metadata` part or both")
                .with_field("file"))
        }
        None if propose => {
            let open =
                app.db.versions(material.id).await?.into_iter().find(|v| v.status == "draft" || v.status == "rejected");
            Ok(open.map(|v| v.meta).unwrap_or_else(|| material.meta.clone()))
        }
        None => Ok(material.meta.clone()),
    }
}

pub(crate) fn version_view(v: &hoclieu_db::Version, material: Uuid, app: &App) -> serde_json::Value {
    let files: Vec<_> = v
        .files
        .iter()
        .map(|f| {
            json!({
                "id": f.id, "name": f.name, "media_type": f.media_type, "size": f.size, "sha256": f.sha256,
                "download_url": format!("/api/v1/materials/{material}/versions/{}/files/{}/download", v.number, f.id),
            })
        })
        .collect();
    json!({
        "files": files,
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
        .map(|v| version_view(v, id, &app))
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
    let request: StepRequest = if body.is_empty() { StepRequest::default() } else { json_body(&body)? };
    let version = take_version_step(&caller, &app, id, path.1, &path.2, request.reason).await?;
    Ok(HttpResponse::Ok().json(version_view(&version, id, &app)))
}

/// A workflow step on a proposed version by `caller` (the API and the web pages): submit,
/// approve or reject (with a reason).
pub async fn take_version_step(
    caller: &auth::Caller,
    app: &App,
    id: Uuid,
    number: u32,
    step: &str,
    reason: Option<String>,
) -> Result<hoclieu_db::Version, ApiError> {
    let step = step_named(step).filter(|s| *s != Step::Withdraw).ok_or_else(|| ApiError::not_found("resource"))?;
    let material = app.db.material(id).await?.ok_or_else(|| ApiError::not_found("material"))?;
    let version = app.db.version(id, number).await?.ok_or_else(|| ApiError::not_found("version"))?;
    let facts = material.facts();
    if !(caller.principal.can_propose(&facts) || caller.principal.reviews(&facts)) {
        return Err(ApiError::not_found("version"));
    }
    if !caller.principal.can_on_version(step, &facts, version.author) {
        return Err(caller.refuse(&format!("{} this version", step.as_str())));
    }
    let reason = step_reason(step, reason)?;
    let version = app
        .db
        .take_version_step(id, number, step, reason.as_deref(), &caller.actor)
        .await?
        .ok_or_else(|| ApiError::not_found("version"))?;
    app.index_wake.notify_one();
    Ok(version)
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
    let request: StepRequest = if body.is_empty() { StepRequest::default() } else { json_body(&body)? };
    let material = take_step(&caller, &app, id, &path.1, request.reason).await?;
    Ok(HttpResponse::Ok().json(MaterialView::new(material, &app.vocab)))
}

/// The step a path or form names (`submit`, `approve`, `reject`, `withdraw`).
fn step_named(name: &str) -> Option<Step> {
    [Step::Submit, Step::Approve, Step::Reject, Step::Withdraw].into_iter().find(|s| s.as_str() == name)
}

/// The reason given for a step, cleaned; rejecting and withdrawing need one.
fn step_reason(step: Step, reason: Option<String>) -> Result<Option<String>, ApiError> {
    let reason = reason.map(|r| hoclieu_domain::text::clean(&r, true)).filter(|r| !r.is_empty());
    if step.needs_reason() && reason.is_none() {
        return Err(ApiError::bad_request("missing_field", format!("a reason is needed to {}", step.as_str()))
            .with_field("reason"));
    }
    Ok(reason)
}

/// A workflow step on a material by `caller` (the API and the web pages): `step` is submit,
/// approve, reject or withdraw; rejecting and withdrawing need a reason.
pub async fn take_step(
    caller: &auth::Caller,
    app: &App,
    id: Uuid,
    step: &str,
    reason: Option<String>,
) -> Result<hoclieu_domain::Material, ApiError> {
    let step = step_named(step).ok_or_else(|| ApiError::not_found("resource"))?;
    let material = app.db.material(id).await?.ok_or_else(|| ApiError::not_found("material"))?;
    // Nothing is revealed about materials the caller may not see.
    if !caller.principal.can_read(&material.facts()) {
        return Err(ApiError::not_found("material"));
    }
    if !caller.principal.can(step, &material.facts()) {
        return Err(caller.refuse(&format!("{} this material", step.as_str())));
    }
    let reason = step_reason(step, reason)?;
    let material = app
        .db
        .take_step(id, step, reason.as_deref(), &caller.actor)
        .await?
        .ok_or_else(|| ApiError::not_found("material"))?;
    app.index_wake.notify_one();
    Ok(material)
}

/// `GET /api/v1/review/queue?status=submitted&subject=&province=`: what the caller reviews.
pub async fn review_queue(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let query: Vec<(String, String)> = form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect();
    let get = |k: &str| query.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty());
    let (status, found) = review_items(&caller, &app, get("status"), get("subject"), get("province")).await?;
    let versions: Vec<_> = review_versions(&caller, &app, status, get("subject"), get("province"))
        .await?
        .iter()
        .map(|(m, v)| {
            let mut view = version_view(v, m.id, &app);
            view["material"] = json!({"id": m.id, "title": m.meta.title});
            view
        })
        .collect();
    let items: Vec<_> = found.into_iter().map(|m| MaterialView::new(m, &app.vocab)).collect();
    Ok(HttpResponse::Ok().json(json!({
        "status": status.as_str(), "total": items.len(), "items": items, "versions": versions,
    })))
}

/// What `caller` reviews in a status (submitted by default), oldest first, optionally of one
/// subject or province.
pub async fn review_items(
    caller: &auth::Caller,
    app: &App,
    status: Option<&str>,
    subject: Option<&str>,
    province: Option<&str>,
) -> Result<(Status, Vec<hoclieu_domain::Material>), ApiError> {
    let status = match status {
        Some(s) => Status::parse(s).ok_or_else(|| {
            ApiError::bad_request("invalid_value", format!("unknown status {s:?}")).with_field("status")
        })?,
        None => Status::Submitted,
    };
    if !is_reviewer(&caller.principal) {
        return Err(caller.refuse("see the review queue"));
    }
    let found = app.db.materials_in_status(status, subject, province, 200).await?;
    Ok((status, found.into_iter().filter(|m| caller.principal.reviews(&m.facts())).collect()))
}

/// Proposed versions of published materials in `status` (submitted, draft or rejected) that
/// `caller` reviews, oldest first.
pub async fn review_versions(
    caller: &auth::Caller,
    app: &App,
    status: Status,
    subject: Option<&str>,
    province: Option<&str>,
) -> Result<Vec<(hoclieu_domain::Material, hoclieu_db::Version)>, ApiError> {
    if !matches!(status, Status::Submitted | Status::Draft | Status::Rejected) {
        return Ok(Vec::new());
    }
    let found = app.db.versions_in_status(status.as_str(), subject, province, 200).await?;
    Ok(found.into_iter().filter(|(m, _)| caller.principal.reviews(&m.facts())).collect())
}

/// Reviewers, administrators and `review` keys see a review queue.
pub fn is_reviewer(p: &hoclieu_domain::Principal) -> bool {
    matches!(p, hoclieu_domain::Principal::Person(person) if person.role >= Role::Reviewer)
        || p.is_admin()
        || matches!(p, hoclieu_domain::Principal::Key(k) if hoclieu_domain::auth::grants(&k.scopes, Scope::Review))
}

/// `GET /api/v1/me/materials`: the signed-in author's materials in every state.
pub async fn my_materials(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let Some(person) = caller.person() else { return Err(caller.refuse("list your materials")) };
    let items: Vec<_> = app
        .db
        .materials_by_author(person.id, 0, 500)
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
    let details = hoclieu_domain::workflow::validate_account(
        &r.username,
        Some(&r.display_name),
        r.email.as_deref(),
        r.organization.as_deref(),
        r.province.as_deref(),
        &app.vocab,
    )?;
    hoclieu_domain::workflow::check_password(&r.password)
        .map_err(|m| ApiError::bad_request("invalid_value", m).with_field("password"))?;
    let user = app
        .db
        .create_user(NewUser {
            username: details.username,
            email: details.email,
            display_name: details.display_name,
            organization: details.organization,
            province: details.province,
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
pub struct RoleRequest {
    pub role: String,
    /// A reviewer's subjects and provinces (empty: all); left out, they stay as they are.
    #[serde(default)]
    pub review_subjects: Option<Vec<String>>,
    #[serde(default)]
    pub review_provinces: Option<Vec<String>>,
}

/// `POST /api/v1/users/{id}/role` (admins).
pub async fn set_role(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let id = parse_id(&path, "user")?;
    let r: RoleRequest = json_body(&body)?;
    Ok(HttpResponse::Ok().json(change_role(&caller, &app, id, r).await?))
}

/// An administrator changes an account's role (and a reviewer's subjects and provinces).
pub async fn change_role(
    caller: &auth::Caller,
    app: &App,
    id: Uuid,
    r: RoleRequest,
) -> Result<Option<hoclieu_db::User>, ApiError> {
    require_admin(caller, "change roles")?;
    let role = Role::parse(&r.role).ok_or_else(|| {
        ApiError::bad_request("invalid_value", format!("unknown role {:?}", r.role)).with_field("role")
    })?;
    let user = app.db.user(id).await?.ok_or_else(|| ApiError::not_found("user"))?;
    let subjects = r.review_subjects.unwrap_or(user.review_subjects);
    let provinces = r.review_provinces.unwrap_or(user.review_provinces);
    if !app.db.set_role(id, role, &subjects, &provinces).await? {
        return Err(ApiError::not_found("user"));
    }
    app.db
        .audit(
            &caller.actor,
            "user.set_role",
            ("user", Some(id.to_string())),
            json!({"role": role, "subjects": subjects, "provinces": provinces}),
        )
        .await?;
    Ok(app.db.user(id).await?)
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
pub struct KeyRequest {
    pub name: String,
    pub scopes: Vec<String>,
    #[serde(default)]
    pub organization: Option<String>,
}

/// `POST /api/v1/keys` (admins): the token is in this answer only.
pub async fn create_key(req: HttpRequest, body: web::Bytes, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let r: KeyRequest = json_body(&body)?;
    let (key, token) = issue_key(&caller, &app, r).await?;
    Ok(HttpResponse::Created().json(json!({"id": key.id, "name": key.name, "scopes": key.scopes, "token": token})))
}

/// An administrator creates an API key; returns it with its token (shown once).
pub async fn issue_key(
    caller: &auth::Caller,
    app: &App,
    r: KeyRequest,
) -> Result<(hoclieu_db::ApiKey, String), ApiError> {
    require_admin(caller, "create API keys")?;
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
    Ok((key, token))
}

/// `DELETE /api/v1/keys/{id}` (admins).
pub async fn revoke_key(req: HttpRequest, path: web::Path<String>, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let id: Uuid = parse_id(&path, "API key")?;
    revoke(&caller, &app, id).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// An administrator revokes an API key.
pub async fn revoke(caller: &auth::Caller, app: &App, id: Uuid) -> Result<(), ApiError> {
    require_admin(caller, "revoke API keys")?;
    if !app.db.revoke_api_key(id).await? {
        return Err(ApiError::not_found("API key"));
    }
    app.db.audit(&caller.actor, "api_key.revoke", ("api_key", Some(id.to_string())), json!({})).await?;
    Ok(())
}

/// `GET /api/v1/materials/{id}/versions/{number}/files/{file}/download`: a file of a version.
/// Published and earlier versions are read like the material; proposals only by those who may
/// act on them.
pub async fn version_download(
    req: HttpRequest,
    path: web::Path<(String, u32, String)>,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path.0, "file")?;
    let file_id = parse_id(&path.2, "file")?;
    let caller = auth::reader(&req, &app).await?;
    let material = crate::handlers::visible_material(&req, &app, id).await.map_err(|_| ApiError::not_found("file"))?;
    let version = app.db.version(id, path.1).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let facts = material.facts();
    let insider = caller.principal.can_propose(&facts) || caller.principal.reviews(&facts);
    if !insider && !matches!(version.status.as_str(), "published" | "previous") {
        return Err(ApiError::not_found("file"));
    }
    let file = app.db.version_file(id, path.1, file_id).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let public = material.status == Status::Published && matches!(version.status.as_str(), "published" | "previous");
    crate::download::respond(&req, &app, file, None, public).await
}
