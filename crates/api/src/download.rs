//! HTTP details of downloads: byte ranges (RFC 9110), conditional requests and
//! `Content-Disposition` with a UTF-8 file name (RFC 6266 / RFC 5987).

use std::ops::Range;

use actix_web::body::SizedStream;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, ContentEncoding};
use actix_web::{HttpRequest, HttpResponse};
use futures_util::TryStreamExt;
use serde_json::json;
use uuid::Uuid;

use crate::App;
use crate::error::ApiError;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use unicode_normalization::UnicodeNormalization;

/// What a `Range` header asks of a representation of `size` bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeRequest {
    /// No usable range: send everything (also for multiple ranges, which we do not combine).
    Full,
    Partial(Range<u64>),
    /// 416 Range Not Satisfiable.
    Unsatisfiable,
}

/// Parses a `Range` header for a representation of `size` bytes.
pub fn parse_range(header: Option<&str>, size: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Full;
    };
    if spec.contains(',') {
        return RangeRequest::Full;
    }
    let Some((start, end)) = spec.trim().split_once('-') else {
        return RangeRequest::Full;
    };
    let (start, end) = (start.trim(), end.trim());
    let parsed = match (start.is_empty(), end.is_empty()) {
        // bytes=-N: the last N bytes.
        (true, false) => match end.parse::<u64>() {
            Ok(0) => return RangeRequest::Unsatisfiable,
            Ok(n) => Some(size.saturating_sub(n)..size),
            Err(_) => None,
        },
        (false, true) => start.parse::<u64>().ok().map(|s| s..size),
        (false, false) => match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => Some(s..e.saturating_add(1).min(size)),
            _ => None,
        },
        (true, true) => None,
    };
    match parsed {
        None => RangeRequest::Full,
        Some(r) if r.start >= size => RangeRequest::Unsatisfiable,
        Some(r) if r.start == 0 && r.end == size => RangeRequest::Full,
        Some(r) => RangeRequest::Partial(r),
    }
}

/// Whether an `If-None-Match` header matches `etag` (weak comparison).
pub fn none_match(header: Option<&str>, etag: &str) -> bool {
    header.is_some_and(|h| h.split(',').map(str::trim).any(|t| t == "*" || t.trim_start_matches("W/") == etag))
}

/// Characters left as they are in an RFC 5987 `value-chars` (attr-char).
const ATTR_CHAR: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'!')
    .remove(b'#')
    .remove(b'$')
    .remove(b'&')
    .remove(b'+')
    .remove(b'-')
    .remove(b'.')
    .remove(b'^')
    .remove(b'_')
    .remove(b'`')
    .remove(b'|')
    .remove(b'~');

/// `attachment; filename="ASCII fallback"; filename*=UTF-8''percent-encoded`, so
/// "Bài giảng Hoá 10.pptx" arrives with its Vietnamese name in every current browser and as
/// "Bai giang Hoa 10.pptx" in old clients.
pub fn content_disposition(name: &str) -> String {
    let name: String = name.nfc().collect();
    let fallback: String = name
        .chars()
        .map(|c| {
            let base = match c {
                'đ' => 'd',
                'Đ' => 'D',
                c => c.nfd().next().unwrap_or(c),
            };
            if base.is_ascii_graphic() && base != '"' && base != '\\' || base == ' ' { base } else { '_' }
        })
        .collect();
    format!("attachment; filename=\"{fallback}\"; filename*=UTF-8''{}", utf8_percent_encode(&name, ATTR_CHAR))
}

/// The response to a download request: the file, a range of it, 304 or 416.
/// `inline` (`?inline=1`, for video and audio players) asks the browser to show the file rather
/// than save it.
/// Downloads of current files count towards their material's popularity (`count_for`); those of
/// earlier or proposed versions do not. Files only some callers may read (`public` false) are
/// never kept by shared caches.
///
/// Only media, raster images and PDF are ever shown inline: anything else (HTML above all)
/// uploaded by one person would otherwise run in this site's origin for another.
pub async fn respond(
    req: &HttpRequest,
    app: &App,
    file: hoclieu_domain::StoredFile,
    count_for: Option<Uuid>,
    public: bool,
) -> Result<HttpResponse, ApiError> {
    let inline = req.query_string().split('&').any(|p| p == "inline=1") && shows_inline(&file.media_type);
    let disposition = |name: &str| {
        let d = content_disposition(name);
        if inline { d.replacen("attachment", "inline", 1) } else { d }
    };
    let etag = format!("\"{}\"", file.sha256);
    let headers = req.headers();
    let header_str = |name| headers.get(name).and_then(|v: &header::HeaderValue| v.to_str().ok());
    let cache = (header::CACHE_CONTROL, if public { "public, max-age=86400" } else { "private, no-cache" });
    if none_match(header_str(header::IF_NONE_MATCH), &etag) {
        return Ok(HttpResponse::NotModified().insert_header((header::ETAG, etag)).insert_header(cache).finish());
    }
    // A range applies only to the representation the client already has part of.
    let if_range_ok = header_str(header::IF_RANGE).is_none_or(|v| v.trim() == etag);
    let range = if if_range_ok { parse_range(header_str(header::RANGE), file.size) } else { RangeRequest::Full };
    let (status, range) = match range {
        RangeRequest::Full => (StatusCode::OK, None),
        RangeRequest::Partial(r) => (StatusCode::PARTIAL_CONTENT, Some(r)),
        RangeRequest::Unsatisfiable => {
            return Ok(HttpResponse::RangeNotSatisfiable()
                .insert_header((header::CONTENT_RANGE, format!("bytes */{}", file.size)))
                .insert_header((header::ACCEPT_RANGES, "bytes"))
                .json(json!({"error": {"code": "range_not_satisfiable", "message": format!("the file has {} bytes", file.size)}})));
        }
    };
    let counts = range.as_ref().is_none_or(|r| r.start == 0) && req.method() == actix_web::http::Method::GET;
    if let crate::DownloadMode::Redirect(ttl) = app.settings.download {
        let disposition = disposition(&file.name);
        if let Some(url) = app.storage.presigned_download(&file.object_key, ttl, &disposition, &file.media_type).await?
        {
            if let Some(material) = count_for.filter(|_| req.method() == actix_web::http::Method::GET) {
                app.downloads.add(material);
            }
            // The URL expires: caches must not keep the redirect.
            return Ok(HttpResponse::Found()
                .insert_header((header::LOCATION, url))
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .finish());
        }
    }
    let body = if file.size == 0 { None } else { Some(app.storage.read(&file.object_key, range.clone()).await?) };
    if let Some(material) = count_for.filter(|_| counts) {
        app.downloads.add(material);
    }
    let mut response = HttpResponse::build(status);
    response
        .content_type(file.media_type.as_str())
        .insert_header((header::ETAG, etag))
        .insert_header((header::ACCEPT_RANGES, "bytes"))
        .insert_header((header::CONTENT_DISPOSITION, disposition(&file.name)))
        .insert_header(("X-Content-Type-Options", "nosniff"))
        .insert_header(cache)
        // Already compressed formats, and ranges must address the stored bytes.
        .insert_header(ContentEncoding::Identity);
    if !(inline && file.media_type == "application/pdf") {
        // Whatever a browser makes of the bytes, they run no script with this site's rights
        // (PDF viewers refuse sandboxed documents, and PDF is shown inline on request only).
        response.insert_header((header::CONTENT_SECURITY_POLICY, "default-src 'none'; sandbox"));
    }
    let Some(read) = body else {
        return Ok(response.finish());
    };
    if let Some(r) = &range {
        response.insert_header((header::CONTENT_RANGE, format!("bytes {}-{}/{}", r.start, r.end - 1, read.size)));
    }
    let len = read.range.end - read.range.start;
    let stream = read.body.map_err(|e| actix_web::error::ErrorInternalServerError(e.to_string()));
    Ok(response.body(SizedStream::new(len, stream)))
}

/// Media types a browser may show in the page (`?inline=1`): players, pictures and PDF.
fn shows_inline(media_type: &str) -> bool {
    media_type.starts_with("video/")
        || media_type.starts_with("audio/")
        || matches!(media_type, "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "application/pdf")
}

#[cfg(test)]
mod tests {
    use super::*;
    use RangeRequest::*;

    #[test]
    fn ranges() {
        let r = |h: &str| parse_range(Some(h), 1000);
        assert_eq!(parse_range(None, 1000), Full);
        assert_eq!(r("bytes=0-99"), Partial(0..100));
        assert_eq!(r("bytes=900-"), Partial(900..1000));
        assert_eq!(r("bytes=-100"), Partial(900..1000));
        assert_eq!(r("bytes=-5000"), Full);
        assert_eq!(r("bytes=990-5000"), Partial(990..1000));
        assert_eq!(r("bytes=0-"), Full);
        assert_eq!(r("bytes=1000-"), Unsatisfiable);
        assert_eq!(r("bytes=-0"), Unsatisfiable);
        assert_eq!(r("bytes=5-1"), Full);
        assert_eq!(r("bytes=0-1,5-6"), Full);
        assert_eq!(r("items=0-1"), Full);
        assert_eq!(parse_range(Some("bytes=0-"), 0), Unsatisfiable);
    }

    #[test]
    fn etags() {
        assert!(none_match(Some("\"abc\""), "\"abc\""));
        assert!(none_match(Some("W/\"x\", \"abc\""), "\"abc\""));
        assert!(none_match(Some("*"), "\"abc\""));
        assert!(!none_match(Some("\"abd\""), "\"abc\""));
        assert!(!none_match(None, "\"abc\""));
    }

    #[test]
    fn vietnamese_file_names() {
        assert_eq!(
            content_disposition("Bài giảng Hoá 10.pptx"),
            "attachment; filename=\"Bai giang Hoa 10.pptx\"; filename*=UTF-8''B%C3%A0i%20gi%E1%BA%A3ng%20Ho%C3%A1%2010.pptx"
        );
        assert_eq!(
            content_disposition("Đề \"thi\".pdf"),
            "attachment; filename=\"De _thi_.pdf\"; filename*=UTF-8''%C4%90%E1%BB%81%20%22thi%22.pdf"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_range_header_gives_a_range_inside_the_file(h in "(bytes=)?[0-9 ,\\-]{0,24}|\\PC{0,30}", size in 0u64..1 << 40) {
            match parse_range(Some(&h), size) {
                Partial(r) => proptest::prop_assert!(r.start < r.end && r.end <= size && !(r.start == 0 && r.end == size)),
                Full | Unsatisfiable => {}
            }
        }

        #[test]
        fn any_file_name_gives_a_header_value(name in "\\PC{0,60}") {
            let value = content_disposition(&name);
            proptest::prop_assert!(value.is_ascii() && !value.contains(['\r', '\n']));
            proptest::prop_assert!(actix_web::http::header::HeaderValue::from_str(&value).is_ok());
        }
    }
}
