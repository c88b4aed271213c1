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
    pub ingest: Ingest,
    pub vocab: Arc<Vocabularies>,
    /// Woken after a local write so the index follows at once.
    pub index_wake: Arc<Notify>,
    /// Woken when a write queues background jobs (previews), so a worker starts at once.
    pub job_wake: Arc<Notify>,
    pub downloads: Arc<DownloadCounter>,
    pub search_log: Arc<SearchLog>,
    pub settings: Settings,
    /// Pages rendered on request at the same time (each on a blocking thread).
    pub renders: Arc<tokio::sync::Semaphore>,
    pub packages: preview::PackageCache,
    pub logins: auth::LoginLimiter,
}

/// A server on an already bound listener (so callers know the port, even port 0).
pub fn server(app: App, listener: TcpListener) -> std::io::Result<Server> {
    let workers = app.settings.workers;
    let data = web::Data::new(app);
    let mut server = HttpServer::new(move || {
        ActixApp::new()
            .app_data(data.clone())
            .wrap(Compress::default())
            .wrap(DefaultHeaders::new().add((header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"))))
            .wrap_fn(|req, srv| {
                let started = Instant::now();
                let method = req.method().clone();
                let path = req.path().to_owned();
                let encoded = req
                    .headers()
                    .get(header::CONTENT_ENCODING)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
                let fut = (!encoded).then(|| srv.call(req));
                async move {
                    let response = match fut {
                        Some(fut) => fut.await?,
                        None => {
                            return Err(ApiError::new(
                                actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                                "unsupported_content_encoding",
                                "compressed request bodies are not accepted; send the bytes as they are",
                            )
                            .into());
                        }
                    };
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
