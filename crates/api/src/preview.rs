//! Previews over HTTP: the manifest of a file's preview, its images (immutable, cached for a
//! year), and HTML5/SCORM packages served from inside their zip under `/goi/…`, sandboxed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use actix_web::body::SizedStream;
use actix_web::http::header::{self, ContentEncoding};
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};
use hoclieu_db::Derivation;
use hoclieu_domain::preview::{PackageEntry, parse_page_image_name};
use hoclieu_domain::{DerivedStatus, PreviewKind, StoredFile};
use hoclieu_storage::Storage;
use serde_json::json;
use uuid::Uuid;

use crate::App;
use crate::download::none_match;
use crate::error::ApiError;
use crate::views::file_url;

/// Previews never change for given bytes: their URLs name the file, and files are immutable.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Previews of materials only some callers may see (drafts, proposals): never in shared caches.
const PRIVATE: &str = "private, no-store";
/// Packages run scripts, but in an opaque origin: no access to this site's cookies or storage;
/// only this site's material pages may frame them.
const PACKAGE_CSP: &str = "sandbox allow-scripts; frame-ancestors 'self'";
/// Documents rendered on request are copied to a local file first: larger ones offer only their
/// first pages (copying gigabytes per page view would be a way to load the server).
const MAX_RENDER_ON_REQUEST_BYTES: u64 = 512 << 20;

/// Who may cache an answer about a material: anyone for published ones, else only the caller's
/// own browser, not kept, and varying with the credentials that made it visible.
fn cache_headers(response: &mut actix_web::HttpResponseBuilder, public: bool, public_value: &'static str) {
    if public {
        response.insert_header((header::CACHE_CONTROL, public_value));
    } else {
        response.insert_header((header::CACHE_CONTROL, PRIVATE)).insert_header((header::VARY, "Cookie, Authorization"));
    }
}

/// Package derivations, kept briefly: one page of a package loads dozens of entries, and each
/// request would otherwise read and parse the package's entry list again.
#[derive(Default)]
pub struct PackageCache {
    entries: Mutex<HashMap<String, (Instant, Arc<Derivation>)>>,
}

impl PackageCache {
    const TTL: Duration = Duration::from_secs(60);
    const CAPACITY: usize = 256;

    async fn get(&self, app: &App, sha256: &str) -> Result<Option<Arc<Derivation>>, ApiError> {
        if let Some((at, d)) = self.entries.lock().expect("not poisoned").get(sha256)
            && at.elapsed() < Self::TTL
        {
            return Ok(Some(d.clone()));
        }
        let Some(d) = app.db.derivation(sha256).await? else { return Ok(None) };
        let d = Arc::new(d);
        if d.status == DerivedStatus::Ready {
            let mut entries = self.entries.lock().expect("not poisoned");
            if entries.len() >= Self::CAPACITY {
                entries.retain(|_, (at, _)| at.elapsed() < Self::TTL);
                if entries.len() >= Self::CAPACITY {
                    entries.clear();
                }
            }
            entries.insert(sha256.to_owned(), (Instant::now(), d.clone()));
        }
        Ok(Some(d))
    }
}

async fn file_and_derivation(
    app: &App,
    material: Uuid,
    file: Uuid,
) -> Result<(StoredFile, Option<Derivation>), ApiError> {
    let file = app.db.file(material, file).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let derivation = app.db.derivation(&file.sha256).await?;
    Ok((file, derivation))
}

pub(crate) fn image_url(material: Uuid, file: Uuid, name: &str) -> String {
    format!("/api/v1/materials/{material}/files/{file}/preview/{name}")
}

pub fn package_url(material: Uuid, file: Uuid) -> String {
    format!("/goi/{material}/{file}/")
}

/// `GET …/files/{file}/preview`: what can be shown of the file, and where. `public`: the
/// material is published (anyone may cache the answer).
pub async fn manifest(app: &App, material: Uuid, file_id: Uuid, public: bool) -> Result<HttpResponse, ApiError> {
    let (file, derivation) = file_and_derivation(app, material, file_id).await?;
    let kind = derivation.as_ref().map_or_else(|| PreviewKind::of(&file.media_type, &file.name), |d| d.kind);
    let status = derivation.as_ref().map_or(DerivedStatus::Pending, |d| d.status);
    let derived = derivation.as_ref().map(|d| d.derived.clone()).unwrap_or_default();
    let images: Vec<_> = derived
        .images
        .iter()
        .map(|i| json!({"page": i.page, "width": i.width, "height": i.height, "url": image_url(material, file_id, &i.name)}))
        .collect();
    let mut body = json!({
        "file_id": file.id,
        "name": file.name,
        "media_type": file.media_type,
        "size": file.size,
        "status": status.as_str(),
        "kind": kind,
        "reason": derivation.as_ref().and_then(|d| d.reason.clone()),
        "pages": derived.pages,
        "images": images,
        "thumbnail_url": derived.thumbnail().map(|i| image_url(material, file_id, &i.name)),
        "download_url": file_url(material, file_id),
        "notes": derived.notes,
    });
    let extra = body.as_object_mut().expect("an object");
    if let (Some(pages), true) = (derived.pages, status == DerivedStatus::Ready) {
        // Pages beyond those rendered are rendered on request at these URLs.
        extra.insert("pages_available".into(), json!(pages.min(app.settings.preview_max_pages)));
        extra.insert("widths".into(), json!(app.settings.preview_widths));
        extra.insert("page_url_template".into(), json!(image_url(material, file_id, "p{page}-w{width}.jpg")));
    }
    if matches!(kind, PreviewKind::Video | PreviewKind::Audio) {
        // Plays in the page with seeking: the download URL honours Range.
        extra.insert("stream_url".into(), json!(format!("{}?inline=1", file_url(material, file_id))));
        extra.insert("duration_ms".into(), json!(derived.duration_ms));
    }
    if derived.width.is_some() {
        extra.insert("width".into(), json!(derived.width));
        extra.insert("height".into(), json!(derived.height));
    }
    if let Some(p) = &derived.package {
        extra.insert(
            "package".into(),
            json!({
                "scorm": p.scorm,
                "title": p.title,
                "description": p.description,
                "launch": p.launch,
                "launch_url": p.launch.as_ref().map(|l| format!("{}{}", package_url(material, file_id), encode_path(l))),
                "files": p.entries.len(),
            }),
        );
    }
    // Pending manifests change soon; ready ones only when the file is derived again.
    let mut response = HttpResponse::Ok();
    if status == DerivedStatus::Pending && public {
        response.insert_header((header::CACHE_CONTROL, "no-cache"));
    } else {
        cache_headers(&mut response, public, "public, max-age=300");
    }
    Ok(response.json(body))
}

/// `GET …/files/{file}/preview/{name}`: one preview image.
pub async fn image(
    req: &HttpRequest,
    app: &App,
    material: Uuid,
    file_id: Uuid,
    name: &str,
    public: bool,
) -> Result<HttpResponse, ApiError> {
    let (file, derivation) = file_and_derivation(app, material, file_id).await?;
    let Some(derivation) = derivation else { return Err(ApiError::not_found("preview image")) };
    // Only names the manifest lists, or pages it says may be rendered: never an arbitrary key.
    let listed = derivation.derived.images.iter().any(|i| i.name == name);
    let on_request = !listed && on_request_page(app, &derivation, name).is_some();
    if !listed && !on_request {
        return Err(ApiError::not_found("preview image"));
    }
    let etag = format!("\"{}-{name}\"", &file.sha256[..16]);
    if none_match(req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()), &etag) {
        let mut response = HttpResponse::NotModified();
        cache_headers(&mut response, public, IMMUTABLE);
        return Ok(response.insert_header((header::ETAG, etag)).finish());
    }
    let key = Storage::derived_key(&file.sha256, name);
    if on_request && !app.storage.exists(&key).await? {
        render_on_request(app, &file, &derivation, name).await?;
    }
    let read = app.storage.read(&key, None).await?;
    let stream = read.body.map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()));
    let mut response = HttpResponse::Ok();
    cache_headers(&mut response, public, IMMUTABLE);
    Ok(response
        .content_type("image/jpeg")
        .insert_header((header::ETAG, etag))
        .insert_header(ContentEncoding::Identity)
        .body(SizedStream::new(read.size, stream)))
}

/// The page and width of `name` when it is a page the document has, within the configured
/// widths and page limit.
fn on_request_page(app: &App, derivation: &Derivation, name: &str) -> Option<(u32, u32)> {
    let (page, width) = parse_page_image_name(name)?;
    let pages = derivation.derived.pages?.min(app.settings.preview_max_pages);
    let document = matches!(derivation.kind, PreviewKind::Pdf) || derivation.derived.document.is_some();
    (derivation.status == DerivedStatus::Ready
        && document
        && (1..=pages).contains(&page)
        && app.settings.preview_widths.contains(&width))
    .then_some((page, width))
}

/// Renders a page in the sandbox (at most a few at a time) and stores it beside the blob. The
/// document is streamed to a temporary file first: nothing of it is held in memory here.
async fn render_on_request(app: &App, file: &StoredFile, derivation: &Derivation, name: &str) -> Result<(), ApiError> {
    let unavailable = |message: String| {
        ApiError::new(actix_web::http::StatusCode::UNPROCESSABLE_ENTITY, "preview_unavailable", message)
    };
    let (page, width) = on_request_page(app, derivation, name).ok_or_else(|| ApiError::not_found("preview image"))?;
    if file.size > MAX_RENDER_ON_REQUEST_BYTES {
        return Err(unavailable("the document is too large to render more pages on request; download it".into()));
    }
    let _permit = app.renders.acquire().await.map_err(|_| ApiError::not_found("preview image"))?;
    let source = match &derivation.derived.document {
        Some(doc) => Storage::derived_key(&file.sha256, doc),
        None => file.object_key.clone(),
    };
    let work = tempfile::tempdir().map_err(|e| ApiError::internal(&e))?;
    let pdf = work.path().join("document.pdf");
    let output = work.path().join(name);
    copy_to_file(&app.storage, &source, &pdf).await?;
    let sandbox = app.sandbox.clone();
    let out = output.clone();
    let rendered = tokio::task::spawn_blocking(move || sandbox.render_page(&pdf, page, width, &out))
        .await
        .map_err(|e| ApiError::internal(&e))?;
    rendered.map_err(|e| match e {
        hoclieu_preview::Error::Io(e) => ApiError::internal(&e),
        other => unavailable(format!("this page cannot be shown: {other}")),
    })?;
    let jpeg = tokio::fs::read(&output).await.map_err(|e| ApiError::internal(&e))?;
    app.storage.put(&Storage::derived_key(&file.sha256, name), jpeg.into()).await?;
    Ok(())
}

async fn copy_to_file(storage: &Storage, key: &str, path: &std::path::Path) -> Result<(), ApiError> {
    use tokio::io::AsyncWriteExt;
    let mut body = storage.read(key, None).await?.body;
    let mut out = tokio::fs::File::create(path).await.map_err(|e| ApiError::internal(&e))?;
    while let Some(chunk) = body.next().await {
        out.write_all(&chunk?).await.map_err(|e| ApiError::internal(&e))?;
    }
    out.flush().await.map_err(|e| ApiError::internal(&e))?;
    Ok(())
}

pub(crate) fn encode_path(path: &str) -> String {
    path.split('/')
        .map(|p| percent_encoding::utf8_percent_encode(p, percent_encoding::NON_ALPHANUMERIC).to_string())
        .collect::<Vec<_>>()
        .join("/")
        .replace("%2E", ".")
        .replace("%2D", "-")
        .replace("%5F", "_")
}

/// `GET /goi/{material}/{file}/{path}`: a file inside a package, read from the zip in object
/// storage (its compressed bytes only) and inflated on the way out. The empty path redirects
/// to the launch page, so the package's relative links resolve under this prefix.
pub async fn package_entry(
    req: &HttpRequest,
    app: &App,
    material: Uuid,
    file_id: Uuid,
    path: &str,
    public: bool,
) -> Result<HttpResponse, ApiError> {
    let file = app.db.file(material, file_id).await?.ok_or_else(|| ApiError::not_found("file"))?;
    let derivation = app.packages.get(app, &file.sha256).await?;
    let Some(package) = derivation.as_ref().and_then(|d| d.derived.package.as_ref()) else {
        return Err(ApiError::not_found("package"));
    };
    if path.is_empty() {
        let launch = package.launch.as_deref().ok_or_else(|| ApiError::not_found("package launch page"))?;
        return Ok(HttpResponse::Found()
            .insert_header((header::LOCATION, format!("{}{}", package_url(material, file_id), encode_path(launch))))
            .finish());
    }
    // Entries listed before limits existed are checked again here.
    let entry = package
        .entries
        .iter()
        .find(|e| e.path == path && e.servable())
        .ok_or_else(|| ApiError::not_found("package file"))?;
    let etag = format!("\"{}-{}\"", &file.sha256[..16], entry.offset);
    let sandboxed = |mut r: actix_web::HttpResponseBuilder| {
        r.insert_header((header::CONTENT_SECURITY_POLICY, PACKAGE_CSP))
            .insert_header((header::X_FRAME_OPTIONS, "SAMEORIGIN"))
            .insert_header((header::REFERRER_POLICY, "no-referrer"))
            .insert_header((header::ETAG, etag.clone()));
        cache_headers(&mut r, public, "public, max-age=86400");
        r
    };
    if none_match(req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()), &etag) {
        return Ok(sandboxed(HttpResponse::NotModified()).finish());
    }
    let data_start = entry_data_start(&app.storage, &file.object_key, entry).await?;
    let compressed = app.storage.read(&file.object_key, Some(data_start..data_start + entry.compressed_size)).await?;
    let content_type = mime_guess::from_path(&entry.path).first_or_octet_stream();
    let mut response = sandboxed(HttpResponse::Ok());
    response.content_type(content_type.as_ref());
    if entry.size == 0 {
        return Ok(response.finish());
    }
    let body = compressed.body.map_err(|e| std::io::Error::other(e.to_string()));
    let stream = match entry.method {
        0 => body.boxed(),
        _ => inflate(body, entry.size).boxed(),
    };
    Ok(response.body(SizedStream::new(entry.size, stream.map_err(actix_web::error::ErrorInternalServerError))))
}

/// Where an entry's data begins: after its local header, whose name and extra field lengths
/// may differ from the central directory's.
async fn entry_data_start(storage: &Storage, key: &str, entry: &PackageEntry) -> Result<u64, ApiError> {
    let mut header = Vec::with_capacity(30);
    let mut body = storage.read(key, Some(entry.offset..entry.offset + 30)).await?.body;
    while let Some(chunk) = body.next().await {
        header.extend_from_slice(&chunk?);
    }
    if header.len() < 30 || header[..4] != [0x50, 0x4b, 0x03, 0x04] {
        return Err(ApiError::not_found("package file"));
    }
    let name_len = u64::from(u16::from_le_bytes([header[26], header[27]]));
    let extra_len = u64::from(u16::from_le_bytes([header[28], header[29]]));
    Ok(entry.offset + 30 + name_len + extra_len)
}

/// Raw DEFLATE (as in zip entries), decoded chunk by chunk as the compressed bytes arrive, and
/// never more than the `size` the zip declares (the response's length): an entry that inflates
/// beyond it is cut off there.
fn inflate(
    input: impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Unpin + 'static,
    size: u64,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> {
    use flate2::{Decompress, FlushDecompress, Status};
    let state = (input, Decompress::new(false), Vec::<u8>::new(), false);
    futures_util::stream::unfold(state, move |(mut input, mut z, mut pending, mut done)| async move {
        if done {
            return None;
        }
        let mut starved = false;
        loop {
            if pending.is_empty() || starved {
                match input.next().await {
                    Some(Ok(chunk)) => pending.extend_from_slice(&chunk),
                    Some(Err(e)) => return Some((Err(e), (input, z, pending, true))),
                    None => return None,
                }
            }
            let mut out = Vec::with_capacity(256 << 10);
            let before_in = z.total_in();
            let status = match z.decompress_vec(&pending, &mut out, FlushDecompress::None) {
                Ok(s) => s,
                Err(e) => return Some((Err(std::io::Error::other(e)), (input, z, pending, true))),
            };
            let used = (z.total_in() - before_in) as usize;
            pending.drain(..used);
            if z.total_out() >= size {
                // Up to the declared size and no further, whatever the compressed bytes hold.
                if z.total_out() > size {
                    tracing::warn!(declared = size, "a package entry inflates beyond its declared size; cut off");
                }
                let earlier = z.total_out() - out.len() as u64;
                out.truncate(size.saturating_sub(earlier) as usize);
                return Some((Ok(Bytes::from(out)), (input, z, pending, true)));
            }
            if status == Status::StreamEnd {
                done = true;
            }
            starved = used == 0 && out.is_empty();
            if !out.is_empty() || done {
                return Some((Ok(Bytes::from(out)), (input, z, pending, done)));
            }
        }
    })
}
