//! Request handlers: extract, call one function, map the result.

use actix_multipart::Multipart;
use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::params::{SearchParams, SuggestParams};
use crate::views::{MaterialView, SearchView};
use crate::{App, auth, download, preview, upload};

type Data = web::Data<App>;

pub(crate) fn parse_id(s: &str, what: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(s).map_err(|_| ApiError::not_found(what))
}

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({"status": "ok"}))
}

/// Ready when the database answers; reports how far the index is behind the database.
pub async fn readyz(app: Data) -> HttpResponse {
    let db = app.db.ping().await;
    let db_seq = app.db.last_seq().await.ok();
    let index_seq = app.index.applied_seq().ok();
    let cache = app.index.cache_stats();
    let body = json!({
        "status": if db.is_ok() { "ready" } else { "unavailable" },
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "index": {
            "documents": app.index.num_docs(),
            "applied_seq": index_seq,
            "database_seq": db_seq,
            "lag": db_seq.zip(index_seq).map(|(d, i)| (d - i).max(0)),
        },
        "search": {
            "gate": app.searches.stats(),
            "cache": {
                "hits": cache.hits, "misses": cache.misses, "hit_rate": cache.hit_rate(),
                "entries": cache.entries, "bytes": cache.bytes, "max_bytes": cache.max_bytes,
            },
        },
    });
    let status = if db.is_ok() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    HttpResponse::build(status).json(body)
}

pub async fn vocabularies(app: Data) -> HttpResponse {
    let v = &app.vocab;
    let grades: Vec<_> = (1u8..=12)
        .map(|g| json!({"code": g, "label": hoclieu_domain::Vocabularies::grade_label(g), "level": v.level_of_grade(g).map(|t| &t.code)}))
        .collect();
    HttpResponse::Ok().insert_header((header::CACHE_CONTROL, "public, max-age=300")).json(json!({
        "subject": v.subjects.terms(),
        "grade": grades,
        "level": v.levels.terms(),
        "series": v.series.terms(),
        "resource_type": v.resource_types.terms(),
        "license": v.licenses.terms(),
        "province": v.provinces.terms(),
    }))
}

pub async fn search(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    auth::reader(&req, &app).await?;
    let params = SearchParams::parse(req.query_string(), &app.vocab)?;
    let (index, request) = (app.index.clone(), params.request.clone());
    let response = app.searches.run(move || index.search(&request)).await??;
    if app.settings.query_log && !params.request.text.is_empty() && params.page == 1 {
        // Relaxed matches are what the teacher did not ask for: the query found nothing.
        let found = if response.relaxed { 0 } else { response.total };
        app.search_log.record(params.log_entry(found, response.corrected_query.clone()));
    }
    Ok(HttpResponse::Ok().json(SearchView::new(response, params.page, params.per_page, &app.vocab)))
}

pub async fn suggest(req: HttpRequest, app: Data) -> Result<HttpResponse, ApiError> {
    auth::reader(&req, &app).await?;
    let params = SuggestParams::parse(req.query_string())?;
    let (index, q, limit) = (app.index.clone(), params.q.clone(), params.limit);
    let suggestions = app.searches.run(move || index.suggest(&q, limit)).await??;
    Ok(HttpResponse::Ok().json(json!({"q": params.q, "suggestions": suggestions})))
}

/// A material the caller may see; anything else is "not found", revealing nothing.
pub(crate) async fn visible_material(
    req: &HttpRequest,
    app: &App,
    id: Uuid,
) -> Result<hoclieu_domain::Material, ApiError> {
    let caller = auth::reader(req, app).await?;
    let material = app.db.material(id).await?.ok_or_else(|| ApiError::not_found("material"))?;
    if !caller.principal.can_read(&material.facts()) {
        return Err(ApiError::not_found("material"));
    }
    Ok(material)
}

pub async fn get_material(req: HttpRequest, path: web::Path<String>, app: Data) -> Result<HttpResponse, ApiError> {
    let id = parse_id(&path, "material")?;
    let material = visible_material(&req, &app, id).await?;
    Ok(material_response(material, &app))
}

/// A material as JSON; unpublished ones are never kept by shared caches.
fn material_response(material: hoclieu_domain::Material, app: &App) -> HttpResponse {
    let mut response = HttpResponse::Ok();
    if material.status == hoclieu_domain::Status::Published {
        response.insert_header((header::CACHE_CONTROL, "no-cache"));
    } else {
        response
            .insert_header((header::CACHE_CONTROL, "private, no-store"))
            .insert_header((header::VARY, "Cookie, Authorization"));
    }
    response.json(MaterialView::new(material, &app.vocab))
}

pub async fn get_material_by_external_id(
    req: HttpRequest,
    path: web::Path<String>,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let found = app.db.material_by_external_id(&path).await?.ok_or_else(|| ApiError::not_found("material"))?;
    let material = visible_material(&req, &app, found.id).await?;
    Ok(material_response(material, &app))
}

pub async fn create_material(req: HttpRequest, body: Multipart, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    if !caller.principal.can_create() {
        return Err(caller.refuse("upload materials"));
    }
    let (record, files) = upload::read(&req, body, &app).await?;
    let material = app.ingest.create(&record, files, &hoclieu_ingest::Origin::of(&caller.principal)).await?;
    app.index_wake.notify_one();
    app.job_wake.notify_one();
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/materials/{}", material.id)))
        .json(MaterialView::new(material, &app.vocab)))
}

/// Deletes a material (scope `write`). Its files' bytes stay until `hoclieu verify --repair`
/// finds them unreferenced.
pub async fn delete_material(req: HttpRequest, path: web::Path<String>, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::caller(&req, &app).await?;
    let id = parse_id(&path, "material")?;
    let material = app.db.material(id).await?.ok_or_else(|| ApiError::not_found("material"))?;
    if !caller.principal.can_read(&material.facts()) {
        return Err(ApiError::not_found("material"));
    }
    if !caller.principal.can_delete(&material.facts()) {
        return Err(caller.refuse("delete this material"));
    }
    if !app.db.delete_material(id).await? {
        return Err(ApiError::not_found("material"));
    }
    app.db
        .audit(
            &caller.actor,
            "material.delete",
            ("material", Some(id.to_string())),
            json!({"title": material.meta.title}),
        )
        .await?;
    app.index_wake.notify_one();
    Ok(HttpResponse::NoContent().finish())
}

pub async fn download(
    req: HttpRequest,
    path: web::Path<(String, String)>,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let material = parse_id(&path.0, "file")?;
    let file = parse_id(&path.1, "file")?;
    let m = visible_material(&req, &app, material).await.map_err(|_| ApiError::not_found("file"))?;
    let file = app.db.file(material, file).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let public = m.status == hoclieu_domain::Status::Published;
    download::respond(&req, &app, file, Some(material), public).await
}

pub async fn preview(req: HttpRequest, path: web::Path<(String, String)>, app: Data) -> Result<HttpResponse, ApiError> {
    let material = parse_id(&path.0, "file")?;
    let file = parse_id(&path.1, "file")?;
    let m = visible_material(&req, &app, material).await.map_err(|_| ApiError::not_found("file"))?;
    preview::manifest(&app, material, file, m.status == hoclieu_domain::Status::Published).await
}

pub async fn preview_image(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let material = parse_id(&path.0, "file")?;
    let file = parse_id(&path.1, "file")?;
    let m = visible_material(&req, &app, material).await.map_err(|_| ApiError::not_found("preview image"))?;
    preview::image(&req, &app, material, file, &path.2, m.status == hoclieu_domain::Status::Published).await
}

pub async fn package_entry(
    req: HttpRequest,
    path: web::Path<(String, String, String)>,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let material = parse_id(&path.0, "package")?;
    let file = parse_id(&path.1, "package")?;
    let m = visible_material(&req, &app, material).await.map_err(|_| ApiError::not_found("package"))?;
    preview::package_entry(&req, &app, material, file, &path.2, m.status == hoclieu_domain::Status::Published).await
}

pub async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("resource"))
}
