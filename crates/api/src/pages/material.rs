//! The material page: metadata, a preview (page images, a player, or a sandboxed package),
//! downloads with sizes, related materials, and schema.org `LearningResource` (LRMI) JSON-LD
//! for search engines and harvesters.

use std::fmt::Write;

use actix_web::{HttpRequest, web};
use hoclieu_domain::{DerivedStatus, Material, PreviewKind, StoredFile, Vocabularies};
use hoclieu_index::{Filters, SearchRequest};
use serde_json::json;
use uuid::Uuid;

use super::{PageResult, esc, page, size, visitor};
use crate::App;
use crate::error::ApiError;
use crate::preview::{encode_path, image_url, package_url};
use crate::views::file_url;

/// Page images shown at once (more pages are a click away in the file itself).
const PAGES_SHOWN: u32 = 3;
/// The page image width preferred for reading on a phone or a school PC.
const READING_WIDTH: u32 = 800;

/// The preview of the first file that has one, as HTML.
pub(crate) async fn preview(app: &App, m: &Material) -> Result<String, ApiError> {
    let mut pending = false;
    for f in &m.files {
        let Some(d) = app.db.derivation(&f.sha256).await? else {
            pending |= PreviewKind::of(&f.media_type, &f.name) != PreviewKind::None;
            continue;
        };
        if d.status == DerivedStatus::Pending {
            pending |= d.kind != PreviewKind::None;
            continue;
        }
        if let Some(html) = file_preview(m.id, f, &d) {
            return Ok(format!(
                r#"<section id="preview" aria-label="Xem trước"><h2>Xem trước: {}</h2>{html}</section>"#,
                esc(&f.name)
            ));
        }
    }
    Ok(if pending {
        r#"<section id="preview"><p class="notice">Đang tạo bản xem trước, hãy tải lại trang sau ít phút.</p></section>"#.into()
    } else {
        String::new()
    })
}

fn file_preview(material: Uuid, f: &StoredFile, d: &hoclieu_db::Derivation) -> Option<String> {
    let stream = format!("{}?inline=1", file_url(material, f.id));
    match d.kind {
        PreviewKind::Video => {
            let poster =
                d.derived.thumbnail().map(|i| format!(r#" poster="{}""#, esc(&image_url(material, f.id, &i.name))));
            Some(format!(
                r#"<video controls preload="metadata"{} src="{}"><a href="{}">Tải video</a></video>"#,
                poster.unwrap_or_default(),
                esc(&stream),
                esc(&file_url(material, f.id))
            ))
        }
        PreviewKind::Audio => Some(format!(r#"<audio controls preload="metadata" src="{}"></audio>"#, esc(&stream))),
        PreviewKind::Package => d.derived.package.as_ref().and_then(|p| p.launch.as_ref()).map(|launch| {
            format!(
                r#"<iframe sandbox="allow-scripts" title="Gói học liệu" src="{}{}" loading="lazy"></iframe>"#,
                package_url(material, f.id),
                esc(&encode_path(launch))
            )
        }),
        _ => {
            let mut pages: Vec<&hoclieu_domain::preview::PreviewImage> = Vec::new();
            for page in 0..=PAGES_SHOWN {
                // The width closest to reading width for each page (0: an image's own preview).
                let best =
                    d.derived.images.iter().filter(|i| i.page == page).min_by_key(|i| i.width.abs_diff(READING_WIDTH));
                pages.extend(best);
            }
            if pages.iter().any(|i| i.page >= 1) {
                pages.retain(|i| i.page >= 1);
            }
            if pages.is_empty() {
                return None;
            }
            let mut s = String::new();
            for i in pages {
                let _ = write!(
                    s,
                    r#"<img class="page" src="{}" width="{}" height="{}" alt="{}" loading="lazy">"#,
                    esc(&image_url(material, f.id, &i.name)),
                    i.width,
                    i.height,
                    if i.page == 0 { "Ảnh xem trước".to_owned() } else { format!("Trang {}", i.page) }
                );
            }
            if let Some(n) = d.derived.pages.filter(|n| *n > PAGES_SHOWN) {
                let _ = write!(s, r#"<p class="muted">Đang hiển thị {PAGES_SHOWN}/{n} trang. Tải tệp để xem đủ.</p>"#);
            }
            Some(s)
        }
    }
}

pub(crate) fn metadata(m: &Material, v: &Vocabularies) -> String {
    let meta = &m.meta;
    let mut s = String::from(r#"<dl class="meta">"#);
    let mut row = |k: &str, val: &str| {
        let _ = write!(s, "<dt>{k}</dt><dd>{}</dd>", esc(val));
    };
    row("Môn học", v.subjects.label(&meta.subject));
    if let Some(g) = meta.grade {
        row("Lớp", &format!("Lớp {g}"));
    }
    if let Some(sr) = &meta.series {
        row("Bộ sách", v.series.label(sr));
    }
    row("Loại học liệu", v.resource_types.label(&meta.resource_type));
    for (k, val) in [("Chương", &meta.chapter), ("Bài", &meta.lesson), ("Đơn vị", &meta.organization)] {
        if let Some(x) = val {
            row(k, x);
        }
    }
    if !meta.authors.is_empty() {
        row("Tác giả", &meta.authors.join(", "));
    }
    if let Some(p) = &meta.province {
        row("Tỉnh/thành", v.provinces.label(p));
    }
    row("Giấy phép", v.licenses.label(&meta.license));
    row("Lượt tải", &m.downloads.to_string());
    s.push_str("</dl>");
    if let Some(d) = &meta.description {
        let _ = write!(s, "<p>{}</p>", esc(d));
    }
    s
}

pub(crate) fn downloads(m: &Material) -> String {
    let mut s = String::new();
    if !m.files.is_empty() {
        s.push_str(r#"<h2>Tải về</h2><ul class="files">"#);
        for f in &m.files {
            let _ = write!(
                s,
                r#"<li><a class="download" href="{}" data-sha256="{}" download>{}</a> <span class="muted">({}, {})</span></li>"#,
                esc(&file_url(m.id, f.id)),
                f.sha256,
                esc(&f.name),
                esc(&f.media_type),
                size(f.size)
            );
        }
        s.push_str("</ul>");
    }
    if let Some(u) = &m.meta.url {
        let _ = write!(s, r#"<p><a href="{}" rel="noopener nofollow">Mở liên kết gốc</a></p>"#, esc(u));
    }
    s
}

/// schema.org `LearningResource` (with LRMI properties), embedded safely in a script element.
fn json_ld(m: &Material, v: &Vocabularies, base: &str) -> String {
    let meta = &m.meta;
    let mut doc = json!({
        "@context": "https://schema.org",
        "@type": "LearningResource",
        "@id": format!("{base}/tai-lieu/{}", m.id),
        "url": format!("{base}/tai-lieu/{}", m.id),
        "name": meta.title,
        "inLanguage": meta.language,
        "learningResourceType": v.resource_types.label(&meta.resource_type),
        "about": {"@type": "Thing", "name": v.subjects.label(&meta.subject)},
        "educationalAlignment": [{
            "@type": "AlignmentObject",
            "alignmentType": "educationalSubject",
            "targetName": v.subjects.label(&meta.subject),
        }],
        "license": v.licenses.label(&meta.license),
        "isAccessibleForFree": true,
        "dateCreated": m.created_at.to_rfc3339(),
        "dateModified": m.updated_at.to_rfc3339(),
        "keywords": meta.keywords.join(", "),
        "encoding": m.files.iter().map(|f| json!({
            "@type": "MediaObject",
            "name": f.name,
            "contentUrl": format!("{base}{}", file_url(m.id, f.id)),
            "encodingFormat": f.media_type,
            "contentSize": f.size,
            "sha256": f.sha256,
        })).collect::<Vec<_>>(),
    });
    let o = doc.as_object_mut().expect("an object");
    if let Some(d) = &meta.description {
        o.insert("description".into(), json!(d));
    }
    if let Some(g) = meta.grade {
        o.insert("educationalLevel".into(), json!(format!("Lớp {g}")));
    }
    if !meta.authors.is_empty() {
        o.insert(
            "author".into(),
            json!(meta.authors.iter().map(|a| json!({"@type": "Person", "name": a})).collect::<Vec<_>>()),
        );
    }
    if let Some(org) = &meta.organization {
        o.insert("publisher".into(), json!({"@type": "Organization", "name": org}));
    }
    if let Some(l) = &meta.lesson {
        o.insert("teaches".into(), json!(l));
    }
    // Nothing in a string may end or confuse the script element (`</script>`, `<!--`).
    let text = doc.to_string().replace('<', "\\u003c").replace('>', "\\u003e").replace('&', "\\u0026");
    format!(r#"<script type="application/ld+json">{text}</script>"#)
}

/// Other materials of the same lesson (or topic), subject and grade: other series and types
/// (left out when the server is too busy to search for them).
async fn related(app: &App, m: &Material) -> String {
    let meta = &m.meta;
    let text = meta.lesson.clone().or_else(|| meta.chapter.clone()).unwrap_or_else(|| meta.title.clone());
    let request = SearchRequest {
        text,
        filters: Filters {
            subjects: vec![meta.subject.clone()],
            grades: meta.grade.into_iter().collect(),
            ..Default::default()
        },
        limit: 7,
        ..Default::default()
    };
    let index = app.index.clone();
    let Ok(Ok(found)) = app.searches.run(move || index.search(&request)).await else { return String::new() };
    let items: Vec<String> = found
        .hits
        .iter()
        .filter(|h| h.id != m.id)
        .take(6)
        .map(|h| {
            let series =
                h.series.as_deref().map(|s| format!(" · {}", esc(app.vocab.series.label(s)))).unwrap_or_default();
            format!(
                r#"<li><a href="/tai-lieu/{}">{}</a> <span class="muted">({}{series})</span></li>"#,
                h.id,
                esc(&h.title),
                esc(app.vocab.resource_types.label(&h.resource_type))
            )
        })
        .collect();
    if items.is_empty() {
        return String::new();
    }
    format!(r#"<section id="related"><h2>Học liệu liên quan</h2><ul>{}</ul></section>"#, items.concat())
}

/// `GET /tai-lieu/{id}`.
pub async fn material(req: HttpRequest, path: web::Path<String>, app: web::Data<App>) -> PageResult {
    let caller = visitor(&req, &app).await?;
    let id = Uuid::parse_str(&path).map_err(|_| ApiError::not_found("material"))?;
    // The visitor decides (a stale cookie makes an anonymous visitor, who still reads
    // published materials).
    let m = app
        .db
        .material(id)
        .await?
        .filter(|m| caller.principal.can_read(&m.facts()))
        .ok_or_else(|| ApiError::not_found("material"))?;
    let v = &app.vocab;
    let base = {
        let info = req.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    let mut body = format!("<h1>{}</h1>", esc(&m.meta.title));
    if m.status != hoclieu_domain::Status::Published {
        let _ = write!(
            body,
            r#"<p class="notice">Trạng thái: <span class="status">{}</span>. Chỉ tác giả, người thẩm định và quản trị viên thấy học liệu này.</p>"#,
            super::status_label(m.status)
        );
    }
    let _ = write!(
        body,
        r#"<div class="side-by-side"><div>{}{}</div><div>{}</div></div>{}{}"#,
        metadata(&m, v),
        downloads(&m),
        preview(&app, &m).await?,
        related(&app, &m).await,
        json_ld(&m, v, &base)
    );
    Ok(page(&caller, &m.meta.title, &body))
}
