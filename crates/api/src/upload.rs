//! Reading an upload: a multipart body with one `metadata` part (JSON) and `file` parts, each
//! streamed to storage as it arrives.

use actix_multipart::Multipart;
use actix_web::HttpRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::CONTENT_LENGTH;
use futures_util::StreamExt;
use hoclieu_domain::ImportRecord;
use hoclieu_domain::error::codes;
use hoclieu_ingest::StagedFile;

use crate::App;
use crate::error::ApiError;

/// Largest accepted `metadata` part.
const MAX_METADATA_BYTES: usize = 64 * 1024;
/// Room for multipart boundaries and part headers on top of the file size limit.
const MULTIPART_OVERHEAD: u64 = 1 << 20;

fn too_large(limit: u64) -> ApiError {
    ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", format!("uploads are limited to {limit} bytes"))
}

/// Reads the parts of an upload, which must have metadata. On error every file already staged
/// is discarded.
pub async fn read(req: &HttpRequest, body: Multipart, app: &App) -> Result<(ImportRecord, Vec<StagedFile>), ApiError> {
    match read_any(req, body, app).await? {
        (Some(record), files) => Ok((record, files)),
        (None, files) => {
            app.ingest.discard(&files).await;
            Err(ApiError::bad_request(
                codes::MISSING_FIELD,
                "the request needs a `metadata` part with the material's JSON",
            )
            .with_field("metadata"))
        }
    }
}

/// Reads the parts of an upload whose metadata part is optional (an edit).
pub async fn read_any(
    req: &HttpRequest,
    body: Multipart,
    app: &App,
) -> Result<(Option<ImportRecord>, Vec<StagedFile>), ApiError> {
    let limit = app.settings.max_upload_bytes;
    // Refuse before reading a byte when the client announces too much.
    let announced = req.headers().get(CONTENT_LENGTH).and_then(|v| v.to_str().ok()).and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > limit + MULTIPART_OVERHEAD) {
        return Err(too_large(limit));
    }
    let mut files = Vec::new();
    match read_parts(body, app, limit, &mut files).await {
        Ok(record) => Ok((record, files)),
        Err(e) => {
            app.ingest.discard(&files).await;
            Err(e)
        }
    }
}

async fn read_parts(
    mut body: Multipart,
    app: &App,
    limit: u64,
    files: &mut Vec<StagedFile>,
) -> Result<Option<ImportRecord>, ApiError> {
    let mut record = None;
    let mut used = 0u64;
    while let Some(part) = body.next().await {
        let mut part = part?;
        match part.name().unwrap_or_default() {
            "metadata" => {
                if record.is_some() {
                    return Err(ApiError::bad_request(codes::INVALID_VALUE, "only one metadata part is allowed")
                        .with_field("metadata"));
                }
                let mut json = Vec::new();
                while let Some(chunk) = part.next().await {
                    json.extend_from_slice(&chunk?);
                    if json.len() > MAX_METADATA_BYTES {
                        return Err(ApiError::new(
                            StatusCode::PAYLOAD_TOO_LARGE,
                            "payload_too_large",
                            "the metadata part is larger than 64 KiB",
                        )
                        .with_field("metadata"));
                    }
                }
                let text = std::str::from_utf8(&json).map_err(|_| {
                    ApiError::bad_request(codes::INVALID_JSON, "metadata is not UTF-8").with_field("metadata")
                })?;
                record = Some(ImportRecord::from_json(text)?);
            }
            "file" => {
                if files.len() >= hoclieu_domain::material::limits::FILES {
                    return Err(ApiError::bad_request(codes::TOO_LONG, "too many files").with_field("file"));
                }
                let name = part.content_disposition().and_then(|d| d.get_filename()).unwrap_or("tep").to_owned();
                let file = app.ingest.stage_file(&name, &mut part, limit - used).await.map_err(|e| match e {
                    hoclieu_ingest::Error::TooLarge { .. } => too_large(limit),
                    other => other.into(),
                })?;
                used += file.0.size;
                files.push(file);
            }
            other => {
                return Err(ApiError::bad_request(
                    codes::UNKNOWN_FIELD,
                    format!("unexpected part {other:?}: send `metadata` and `file` parts"),
                )
                .with_field(other.to_owned()));
            }
        }
    }
    Ok(record)
}
