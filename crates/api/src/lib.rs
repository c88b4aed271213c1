//! The HTTP API of hoclieu (actix-web).
//!
//! - [`routes`]: every route, registered in one function.
//! - [`handlers`]: thin handlers (extract, call one function, map the result).
//! - [`pages`]: minimal Vietnamese web pages (search and material).
//! - [`error`]: the single mapping from every crate's errors to HTTP status and JSON `code`.
//!
//! **Architecture invariant:** request bodies are never decompressed (a compressed upload is
//! refused with 415), so size limits apply to the bytes actually received.

mod accounts;
mod auth;
mod batch;
mod download;
pub mod error;
mod gate;
mod handlers;
mod pages;
mod params;
mod preview;
mod routes;
mod tus;
mod upload;
mod views;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Instant;

use actix_web::dev::{Server, Service};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{Compress, DefaultHeaders};
use actix_web::{App as ActixApp, HttpServer, web};
use hoclieu_db::Db;
use hoclieu_domain::Vocabularies;
use hoclieu_index::SearchIndex;
use hoclieu_ingest::Ingest;
use hoclieu_storage::Storage;
use tokio::sync::Notify;

pub use auth::LoginLimiter;
pub use batch::{DownloadCounter, SearchLog};
pub use error::ApiError;
pub use gate::SearchGate;
pub use preview::PackageCache;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Largest accepted upload (all files of one request), in bytes.
    pub max_upload_bytes: u64,
    /// HTTP worker threads (0: one per core).
    pub workers: usize,
    /// Whether searches are logged (query, filters, result count; nothing personal).
    pub query_log: bool,
    pub download: DownloadMode,
    /// How long an unfinished resumable upload is kept after its last request.
    pub upload_ttl: std::time::Duration,
    /// Widths of preview page images, and how many pages may be rendered on request.
    pub preview_widths: Vec<u32>,
    pub preview_max_pages: u32,
    /// Reads need a signed-in account or an API key (deployments that must not be public).
    pub require_sign_in: bool,
    /// Peers whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<hoclieu_domain::net::IpRange>,
    /// A session ends after this long without a request, and this long after sign-in at most.
    pub session_idle: std::time::Duration,
    pub session_lifetime: std::time::Duration,
}

/// How file downloads are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DownloadMode {
    /// Streamed through the service (ranges, conditional requests).
    Proxy,
    /// 302 to a presigned URL of the object store valid this long; the store serves ranges.
    Redirect(std::time::Duration),
}

/// Everything a handler may use.
pub struct App {
    pub db: Db,
    pub storage: Storage,
    pub index: SearchIndex,
    /// Where searches and suggestions run (blocking threads, with load shedding).
    pub searches: SearchGate,
    pub ingest: Ingest,
    pub vocab: Arc<Vocabularies>,
    /// Woken after a local write so the index follows at once.
    pub index_wake: Arc<Notify>,
    /// Woken when a write queues background jobs (previews), so a worker starts at once.
    pub job_wake: Arc<Notify>,
    pub downloads: Arc<DownloadCounter>,
    pub search_log: Arc<SearchLog>,
    pub settings: Settings,
    /// Pages rendered on request at the same time (each in a sandboxed child process).
    pub renders: Arc<tokio::sync::Semaphore>,
    /// Where untrusted files are parsed (a capped child process).
    pub sandbox: hoclieu_preview::Sandbox,
    pub packages: preview::PackageCache,
    pub logins: auth::LoginLimiter,
}

/// Headers every answer carries unless its handler set its own: no type sniffing, no framing
/// by other sites, no referrer to other sites, and a policy that lets nothing run. Pages set
/// their own policy (`pages::CSP`); packages and downloads their sandboxes.
fn security_headers() -> DefaultHeaders {
    DefaultHeaders::new()
        .add((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .add((header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
        .add((header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY")))
        .add((header::CONTENT_SECURITY_POLICY, HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")))
}

/// Answers the framework makes before a handler runs (a path segment that does not parse, a body
/// over its limit) get the same JSON error shape and stable codes as every other error.
fn extractor_errors(cfg: &mut web::ServiceConfig) {
    fn to_error(status: actix_web::http::StatusCode, e: &dyn std::fmt::Display) -> actix_web::Error {
        ApiError::of_status(status, &e.to_string()).into()
    }
    cfg.app_data(web::PathConfig::default().error_handler(|e, _| {
        // A malformed id is an id that does not exist.
        to_error(actix_web::http::StatusCode::NOT_FOUND, &e)
    }))
    .app_data(web::QueryConfig::default().error_handler(|e, _| to_error(actix_web::http::StatusCode::BAD_REQUEST, &e)))
    .app_data(web::JsonConfig::default().error_handler(|e, _| {
        let status = match &e {
            actix_web::error::JsonPayloadError::OverflowKnownLength { .. }
            | actix_web::error::JsonPayloadError::Overflow { .. } => actix_web::http::StatusCode::PAYLOAD_TOO_LARGE,
            _ => actix_web::http::StatusCode::BAD_REQUEST,
        };
        to_error(status, &e)
    }))
    .app_data(web::FormConfig::default().error_handler(|e, _| to_error(actix_web::http::StatusCode::BAD_REQUEST, &e)));
}

/// Longest request target and largest request head this service reads. Well below the HTTP
/// codec's own 128 KiB limit, so the answer is ours (JSON); beyond that limit the codec answers
/// a bare 431 before there is a request to answer.
const MAX_URI_BYTES: usize = 16 << 10;
const MAX_HEADER_BYTES: usize = 64 << 10;

/// Requests refused before routing: compressed bodies (size limits must apply to the bytes
/// received), request targets and heads over their limits.
fn refuse_early(req: &actix_web::dev::ServiceRequest) -> Option<ApiError> {
    use actix_web::http::StatusCode;
    let encoded = req
        .headers()
        .get(header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    if encoded {
        return Some(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_content_encoding",
            "compressed request bodies are not accepted; send the bytes as they are",
        ));
    }
    let uri = req.uri().path().len() + req.uri().query().map_or(0, str::len);
    if uri > MAX_URI_BYTES {
        return Some(ApiError::new(
            StatusCode::URI_TOO_LONG,
            "uri_too_long",
            format!("the request target has {uri} bytes; at most {MAX_URI_BYTES}"),
        ));
    }
    let head: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    if head > MAX_HEADER_BYTES {
        return Some(ApiError::new(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "headers_too_large",
            format!("the request headers have {head} bytes; at most {MAX_HEADER_BYTES}"),
        ));
    }
    None
}

/// Turns an error answer that is not JSON (nor a web page) into the JSON error shape.
async fn json_error_body(
    response: actix_web::dev::ServiceResponse,
) -> Result<actix_web::dev::ServiceResponse, actix_web::Error> {
    let status = response.status();
    let content_type = response.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    if !(status.is_client_error() || status.is_server_error())
        || content_type.starts_with("application/json")
        || content_type.starts_with("text/html")
    {
        return Ok(response);
    }
    let (req, res) = response.into_parts();
    let detail =
        actix_web::body::to_bytes_limited(res.into_body(), 4096).await.ok().and_then(Result::ok).unwrap_or_default();
    let error = ApiError::of_status(status, &String::from_utf8_lossy(&detail));
    Ok(actix_web::dev::ServiceResponse::new(req, actix_web::ResponseError::error_response(&error)))
}

/// A server on an already bound listener (so callers know the port, even port 0).
pub fn server(app: App, listener: TcpListener) -> std::io::Result<Server> {
    let workers = app.settings.workers;
    let data = web::Data::new(app);
    let mut server = HttpServer::new(move || {
        ActixApp::new()
            .app_data(data.clone())
            .configure(extractor_errors)
            .wrap(Compress::default())
            .wrap(security_headers())
            .wrap_fn(|req, srv| {
                let started = Instant::now();
                let method = req.method().clone();
                let path = req.path().to_owned();
                let call = match refuse_early(&req) {
                    Some(refused) => Err(req.into_response(actix_web::ResponseError::error_response(&refused))),
                    None => Ok(srv.call(req)),
                };
                async move {
                    let response = match call {
                        Err(refused) => refused,
                        Ok(fut) => fut.await?.map_into_boxed_body(),
                    };
                    let response = json_error_body(response).await?;
                    tracing::info!(%method, %path, status = response.status().as_u16(), ms = started.elapsed().as_millis() as u64, "request");
                    Ok(response)
                }
            })
            .configure(routes::configure)
    })
    .listen(listener)?;
    if workers > 0 {
        server = server.workers(workers);
    }
    Ok(server.run())
}
