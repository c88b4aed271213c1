//! Resumable uploads over tus 1.0 (core, creation, creation-with-upload, termination, checksum,
//! expiration) at `/api/v1/uploads`. The protocol lives here; the state machine in
//! `hoclieu_ingest` (resumable).

use actix_web::http::StatusCode;
use actix_web::http::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderMap, LOCATION};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder, web};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hoclieu_domain::{ImportRecord, Scope};
use hoclieu_ingest::{Appended, Checksum, NewResumable, Origin};
use serde_json::json;
use uuid::Uuid;

use crate::error::ApiError;
use crate::views::MaterialView;
use crate::{App, auth};

pub const VERSION: &str = "1.0.0";
const EXTENSIONS: &str = "creation,creation-with-upload,termination,checksum,expiration";
const CHECKSUMS: &str = "sha1,sha256";
const OFFSET_OCTET_STREAM: &str = "application/offset+octet-stream";

type Data = web::Data<App>;

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

fn tus(status: StatusCode) -> HttpResponseBuilder {
    let mut b = HttpResponse::build(status);
    b.insert_header(("Tus-Resumable", VERSION)).insert_header((CACHE_CONTROL, "no-store"));
    b
}

fn http_date(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%a, %d %b %Y %H:%M:%S GMT").to_string()
}

/// Checks `Tus-Resumable` (412 when another version is asked for).
fn check_version(req: &HttpRequest) -> Result<(), ApiError> {
    match header(req.headers(), "Tus-Resumable") {
        Some(VERSION) => Ok(()),
        _ => Err(ApiError::new(
            StatusCode::PRECONDITION_FAILED,
            "unsupported_tus_version",
            format!("send Tus-Resumable: {VERSION}"),
        )),
    }
}

fn upload_id(path: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(path).map_err(|_| ApiError::not_found("upload"))
}

/// The id an upload is owned by: the caller's API key or account (both are unique UUIDs).
fn owner_id(caller: &auth::Caller) -> Option<Uuid> {
    caller.principal.actor().1
}

/// The upload, if it belongs to the caller.
async fn owned(req: &HttpRequest, app: &App, id: &str) -> Result<(hoclieu_db::Upload, auth::Caller), ApiError> {
    let caller = auth::require(req, app, Scope::Write).await?;
    let upload = app.ingest.upload(upload_id(id)?).await?;
    if upload.api_key_id.is_some_and(|owner| Some(owner) != owner_id(&caller)) {
        return Err(ApiError::not_found("upload"));
    }
    Ok((upload, caller))
}

/// `Upload-Metadata`: comma-separated `key base64value` pairs.
fn parse_metadata(raw: &str) -> Result<Vec<(String, Vec<u8>)>, ApiError> {
    let bad = |m: String| ApiError::bad_request("invalid_value", m).with_field("Upload-Metadata");
    raw.split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once(' ').unwrap_or((pair, ""));
            let value = BASE64.decode(value.trim()).map_err(|_| bad(format!("the value of {key:?} is not base64")))?;
            Ok((key.to_owned(), value))
        })
        .collect()
}

fn checksum(req: &HttpRequest) -> Result<Option<Checksum>, ApiError> {
    let Some(raw) = header(req.headers(), "Upload-Checksum") else { return Ok(None) };
    let bad = |m: &str| ApiError::bad_request("invalid_value", m.to_owned()).with_field("Upload-Checksum");
    let (algorithm, digest) = raw.split_once(' ').ok_or_else(|| bad("expected `<algorithm> <base64 digest>`"))?;
    let digest = BASE64.decode(digest.trim()).map_err(|_| bad("the digest is not base64"))?;
    match algorithm {
        "sha1" => Ok(Some(Checksum::Sha1(digest))),
        "sha256" => Ok(Some(Checksum::Sha256(digest))),
        _ => Err(bad("supported algorithms: sha1, sha256")),
    }
}

/// `OPTIONS /api/v1/uploads`: what this server supports.
pub async fn options(app: Data) -> HttpResponse {
    tus(StatusCode::NO_CONTENT)
        .insert_header(("Tus-Version", VERSION))
        .insert_header(("Tus-Extension", EXTENSIONS))
        .insert_header(("Tus-Max-Size", app.settings.max_upload_bytes.to_string()))
        .insert_header(("Tus-Checksum-Algorithm", CHECKSUMS))
        .finish()
}

/// `POST /api/v1/uploads`: creates an upload (and takes its first bytes when sent along).
pub async fn create(req: HttpRequest, body: web::Payload, app: Data) -> Result<HttpResponse, ApiError> {
    let caller = auth::require(&req, &app, Scope::Write).await?;
    let origin = Origin::of(&caller.principal);
    check_version(&req)?;
    let headers = req.headers();
    if header(headers, "Upload-Defer-Length").is_some() {
        return Err(ApiError::bad_request("invalid_value", "Upload-Defer-Length is not supported: send Upload-Length")
            .with_field("Upload-Length"));
    }
    let length = header(headers, "Upload-Length").and_then(|v| v.parse::<u64>().ok()).ok_or_else(|| {
        ApiError::bad_request("missing_field", "send Upload-Length: the size in bytes").with_field("Upload-Length")
    })?;
    let raw = header(headers, "Upload-Metadata").unwrap_or("").to_owned();
    let metadata = parse_metadata(&raw)?;
    let text =
        |k: &str| metadata.iter().find(|(key, _)| key == k).map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    let record = text("metadata").map(|json| ImportRecord::from_json(&json)).transpose()?;
    let new = NewResumable {
        length,
        metadata_header: raw,
        file_name: text("filename").or_else(|| text("name")),
        record,
        api_key_id: owner_id(&caller),
        origin: origin.clone(),
    };
    let upload = app.ingest.start_upload(new, app.settings.max_upload_bytes, app.settings.upload_ttl).await?;
    let location = format!("/api/v1/uploads/{}", upload.id);
    // creation-with-upload: the body, if any, is the first part.
    let with_body = header(req.headers(), CONTENT_TYPE.as_str()) == Some(OFFSET_OCTET_STREAM);
    let (offset, outcome) = if with_body {
        let appended = app.ingest.append(upload.id, 0, body, checksum(&req)?, app.settings.upload_ttl, &origin).await?;
        (appended.upload.offset, Some(appended))
    } else {
        (0, None)
    };
    let mut response = tus(StatusCode::CREATED);
    response
        .insert_header((LOCATION, location))
        .insert_header(("Upload-Offset", offset.to_string()))
        .insert_header(("Upload-Expires", http_date(upload.expires_at)));
    if let Some(a) = &outcome {
        completion_headers(&mut response, a);
    }
    app.index_wake.notify_one();
    app.job_wake.notify_one();
    Ok(response.finish())
}

fn completion_headers(response: &mut HttpResponseBuilder, appended: &Appended) {
    if let Some(m) = &appended.material {
        response.insert_header(("Hoclieu-Material", format!("/api/v1/materials/{}", m.id)));
    }
    if let Some(e) = &appended.error {
        response.insert_header(("Hoclieu-Material-Error", ApiError::code_of(e)));
    }
}

/// `HEAD /api/v1/uploads/{id}`: where the upload stands.
pub async fn head(req: HttpRequest, path: web::Path<String>, app: Data) -> Result<HttpResponse, ApiError> {
    let (upload, _) = owned(&req, &app, &path).await?;
    let mut r = tus(StatusCode::OK);
    r.insert_header(("Upload-Offset", upload.offset.to_string()))
        .insert_header(("Upload-Length", upload.length.to_string()))
        .insert_header(("Upload-Expires", http_date(upload.expires_at)));
    if !upload.metadata_header.is_empty() {
        r.insert_header(("Upload-Metadata", upload.metadata_header.clone()));
    }
    Ok(r.finish())
}

/// `PATCH /api/v1/uploads/{id}`: appends bytes at `Upload-Offset`.
pub async fn patch(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Payload,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let (upload, caller) = owned(&req, &app, &path).await?;
    check_version(&req)?;
    if header(req.headers(), CONTENT_TYPE.as_str()) != Some(OFFSET_OCTET_STREAM) {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            format!("send Content-Type: {OFFSET_OCTET_STREAM}"),
        ));
    }
    let offset = header(req.headers(), "Upload-Offset")
        .and_then(|v| v.parse::<u64>().ok())
        .ok_or_else(|| ApiError::bad_request("missing_field", "send Upload-Offset").with_field("Upload-Offset"))?;
    let origin = Origin::of(&caller.principal);
    let appended =
        app.ingest.append(upload.id, offset, body, checksum(&req)?, app.settings.upload_ttl, &origin).await?;
    let mut response = tus(StatusCode::NO_CONTENT);
    response
        .insert_header(("Upload-Offset", appended.upload.offset.to_string()))
        .insert_header(("Upload-Expires", http_date(appended.upload.expires_at)));
    completion_headers(&mut response, &appended);
    if appended.material.is_some() {
        app.index_wake.notify_one();
        app.job_wake.notify_one();
    }
    Ok(response.finish())
}

/// `DELETE /api/v1/uploads/{id}`: abandons the upload.
pub async fn delete(req: HttpRequest, path: web::Path<String>, app: Data) -> Result<HttpResponse, ApiError> {
    let (upload, _) = owned(&req, &app, &path).await?;
    check_version(&req)?;
    app.ingest.cancel_upload(upload.id).await?;
    Ok(tus(StatusCode::NO_CONTENT).finish())
}

/// `GET /api/v1/uploads/{id}`: the upload's state as JSON (not part of tus).
pub async fn status(req: HttpRequest, path: web::Path<String>, app: Data) -> Result<HttpResponse, ApiError> {
    let (u, _) = owned(&req, &app, &path).await?;
    Ok(HttpResponse::Ok().insert_header((CACHE_CONTROL, "no-store")).json(json!({
        "id": u.id,
        "length": u.length,
        "offset": u.offset,
        "complete": u.is_complete(),
        "file_name": u.file_name,
        "material_url": u.material_id.map(|m| format!("/api/v1/materials/{m}")),
        "error": u.error,
        "expires_at": u.expires_at,
    })))
}

/// `POST /api/v1/uploads/{id}/material`: makes the material of a completed upload from the
/// metadata in the JSON body (when it was not given at creation).
pub async fn finish(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    app: Data,
) -> Result<HttpResponse, ApiError> {
    let (upload, caller) = owned(&req, &app, &path).await?;
    let text =
        std::str::from_utf8(&body).map_err(|_| ApiError::bad_request("invalid_json", "the body is not UTF-8"))?;
    let record = ImportRecord::from_json(text)?;
    let material = app.ingest.complete_upload(upload.id, &record, &Origin::of(&caller.principal)).await?;
    app.index_wake.notify_one();
    app.job_wake.notify_one();
    Ok(HttpResponse::Created()
        .insert_header((LOCATION, format!("/api/v1/materials/{}", material.id)))
        .json(MaterialView::new(material, &app.vocab)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_pairs_decode() {
        let m = parse_metadata("filename QsOgaSBnaeG6o25nLnBkZg==,is_confidential,metadata e30=").unwrap();
        assert_eq!(m[0], ("filename".to_owned(), "Bài giảng.pdf".as_bytes().to_vec()));
        assert_eq!(m[1], ("is_confidential".to_owned(), vec![]));
        assert_eq!(m[2].1, b"{}");
        assert!(parse_metadata("filename ***").is_err());
    }

    proptest::proptest! {
        #[test]
        fn any_upload_metadata_header_parses_or_names_its_field(raw in "[a-zA-Z0-9+/=, ]{0,60}|\\PC{0,40}") {
            if let Err(e) = parse_metadata(&raw) {
                proptest::prop_assert_eq!(e.field.as_deref(), Some("Upload-Metadata"));
            }
        }
    }
}
