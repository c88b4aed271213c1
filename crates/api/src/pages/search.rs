//! The search page (home): one box with suggestions, facets with counts, results with
//! thumbnails, badges and file sizes, sorting, pages, and help when nothing is found. Works
//! without JavaScript (a plain form and links).

use std::collections::HashMap;
use std::fmt::Write;

use actix_web::{HttpRequest, web};
use hoclieu_domain::Vocabularies;
use hoclieu_index::{Hit, SearchResponse, Sort};
use uuid::Uuid;

use super::{PageResult, assets, encode, esc, number, page, size, visitor};
use crate::App;
use crate::params::SearchParams;

/// The query string as pairs, to build links that add or remove one value.
struct Query(Vec<(String, String)>);

impl Query {
    fn href(&self, drop: &[(&str, Option<&str>)], add: Option<(&str, &str)>) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        for (k, v) in &self.0 {
            let dropped = k == "page" || drop.iter().any(|(dk, dv)| dk == k && dv.is_none_or(|dv| dv == v));
            if !dropped && !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        if let Some((k, v)) = add {
            s.append_pair(k, v);
        }
        format!("/?{}", s.finish())
    }

    fn has(&self, k: &str, v: &str) -> bool {
        self.0.iter().any(|(qk, qv)| qk == k && qv == v)
    }
}

fn facet_list(q: &Query, name: &str, items: &[(String, String, u64)]) -> String {
    let mut s = String::from("<ul>");
    for (value, label, count) in items {
        let on = q.has(name, value);
        let href = if on { q.href(&[(name, Some(value))], None) } else { q.href(&[], Some((name, value))) };
        let _ = write!(
            s,
            r#"<li><a data-facet="{name}" href="{}"{}>{}{}</a> <span class="count">({count})</span></li>"#,
            esc(&href),
            if on { r#" class="on" aria-current="true""# } else { "" },
            if on { "✓ " } else { "" },
            esc(label)
        );
    }
    s.push_str("</ul>");
    s
}

fn facets(r: &SearchResponse, q: &Query, v: &Vocabularies) -> String {
    let labelled = |counts: &[(String, u64)], voc: &hoclieu_domain::Vocabulary| -> Vec<(String, String, u64)> {
        counts.iter().map(|(c, n)| (c.clone(), voc.label(c).to_owned(), *n)).collect()
    };
    // A disclosure: open on wide screens, closed on phones (site.js) so results come first.
    let mut s = String::from(
        r#"<details id="facet-box" open><summary>Lọc kết quả: môn, lớp, bộ sách, loại</summary><nav id="facets" aria-label="Thu hẹp kết quả">"#,
    );
    if !r.facets.subject.is_empty() {
        s.push_str("<h2>Môn học</h2>");
        s.push_str(&facet_list(q, "subject", &labelled(&r.facets.subject, &v.subjects)));
    }
    if !r.facets.grade.is_empty() {
        s.push_str("<h2>Lớp</h2>");
        for (level, range) in [("Tiểu học", 1..=5u8), ("Trung học cơ sở", 6..=9), ("Trung học phổ thông", 10..=12)]
        {
            let mut items: Vec<(String, String, u64)> = r
                .facets
                .grade
                .iter()
                .filter(|(g, _)| range.contains(g))
                .map(|(g, n)| (g.to_string(), format!("Lớp {g}"), *n))
                .collect();
            if items.is_empty() {
                continue;
            }
            items.sort_by_key(|(g, _, _)| g.parse::<u8>().unwrap_or(0));
            let _ = write!(s, "<h3>{level}</h3>");
            s.push_str(&facet_list(q, "grade", &items));
        }
    }
    if !r.facets.series.is_empty() {
        s.push_str("<h2>Bộ sách</h2>");
        s.push_str(&facet_list(q, "series", &labelled(&r.facets.series, &v.series)));
    }
    if !r.facets.resource_type.is_empty() {
        s.push_str("<h2>Loại học liệu</h2>");
        s.push_str(&facet_list(q, "resource_type", &labelled(&r.facets.resource_type, &v.resource_types)));
    }
    s.push_str("</nav></details>");
    s
}

/// A short name of a file's type: its extension, else its media subtype (`PDF`, `MP4`…).
fn file_kind(f: &hoclieu_domain::StoredFile) -> String {
    let ext = f.name.rsplit_once('.').map(|(_, e)| e).filter(|e| !e.is_empty() && e.len() <= 5);
    let sub = f.media_type.split('/').nth(1).map(|s| s.rsplit(['.', '-', '+']).next().unwrap_or(s));
    ext.or(sub).unwrap_or("tệp").to_uppercase()
}

fn hit(h: &Hit, files: Option<&hoclieu_domain::Material>, v: &Vocabularies) -> String {
    let thumb = match &h.thumbnail {
        Some(t) => format!(
            r#"<img src="{}" alt="" width="96" height="72" loading="lazy">"#,
            esc(&crate::views::preview_image_url(h.id, t))
        ),
        None => r#"<span class="no-thumb" aria-hidden="true"></span>"#.into(),
    };
    let mut badges = format!(r#"<span class="badge">{}</span>"#, esc(v.subjects.label(&h.subject)));
    if let Some(g) = h.grade {
        let _ = write!(badges, r#"<span class="badge">Lớp {g}</span>"#);
    }
    if let Some(sr) = &h.series {
        let _ = write!(badges, r#"<span class="badge">{}</span>"#, esc(v.series.label(sr)));
    }
    let _ = write!(badges, r#"<span class="badge">{}</span>"#, esc(v.resource_types.label(&h.resource_type)));
    let files = files
        .map(|m| {
            m.files.iter().map(|f| format!("{} · {}", esc(&file_kind(f)), size(f.size))).collect::<Vec<_>>().join(", ")
        })
        .filter(|s| !s.is_empty())
        .map(|s| format!(r#"<p class="muted">Tệp: {s}</p>"#))
        .unwrap_or_default();
    format!(
        r#"<article class="hit">{thumb}<div><h2><a href="/tai-lieu/{}">{}</a></h2><div>{badges}</div><p>{}</p>{files}</div></article>"#,
        h.id, h.title_html, h.snippet_html
    )
}

/// `GET /`: the search page.
pub async fn search(req: HttpRequest, app: web::Data<App>) -> PageResult {
    let caller = visitor(&req, &app).await?;
    let params = SearchParams::parse(req.query_string(), &app.vocab)?;
    let (index, request) = (app.index.clone(), params.request.clone());
    let response = app.searches.run(move || index.search(&request)).await??;
    let q = Query(form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect());
    let v = &app.vocab;
    let text = &params.request.text;
    // File types and sizes of this page's hits: one read of at most a page of rows.
    let ids: Vec<Uuid> = response.hits.iter().map(|h| h.id).collect();
    let materials: HashMap<Uuid, hoclieu_domain::Material> =
        app.db.materials(&ids).await.map_err(crate::error::ApiError::from)?.into_iter().map(|m| (m.id, m)).collect();

    let mut hidden = String::new();
    for (k, val) in &q.0 {
        if matches!(k.as_str(), "subject" | "grade" | "series" | "resource_type") && !val.is_empty() {
            let _ = write!(hidden, r#"<input type="hidden" name="{}" value="{}">"#, esc(k), esc(val));
        }
    }
    let sort_option = |value: &str, label: &str, sort: Sort| {
        let sel = if params.request.sort == sort { " selected" } else { "" };
        format!(r#"<option value="{value}"{sel}>{label}</option>"#)
    };
    let mut body = format!(
        r#"<h1>Tìm học liệu</h1><form class="search" id="search-form" action="/" method="get" role="search">
<input type="search" id="q" name="q" value="{}" placeholder="Ví dụ: giao an toan 10 tap hop" aria-label="Từ khoá tìm kiếm" list="goi-y" autocomplete="off"><datalist id="goi-y"></datalist>{hidden}
<label class="muted">Sắp xếp <select name="sort">{}{}{}</select></label><button type="submit">Tìm</button></form>"#,
        esc(text),
        sort_option("relevance", "Phù hợp nhất", Sort::Relevance),
        sort_option("newest", "Mới nhất", Sort::Newest),
        sort_option("downloads", "Tải nhiều nhất", Sort::Downloads),
    );
    let mut results = String::new();
    if let Some(c) = &response.corrected_query {
        let _ = write!(
            results,
            r#"<p class="notice">Không tìm thấy «{}». Hiển thị kết quả cho <a href="/?q={}"><strong>{}</strong></a>.</p>"#,
            esc(text),
            encode(c),
            esc(c)
        );
    }
    if response.relaxed {
        results.push_str(
            r#"<p class="notice">Không có học liệu chứa đủ các từ đã tìm; dưới đây là kết quả gần đúng nhất.</p>"#,
        );
    }
    if response.total == 0 {
        let filtered =
            q.0.iter()
                .any(|(k, v)| matches!(k.as_str(), "subject" | "grade" | "series" | "resource_type") && !v.is_empty());
        let _ = write!(
            results,
            r#"<div id="no-results"><h2>Không tìm thấy học liệu nào{}</h2><ul>"#,
            if text.is_empty() { String::new() } else { format!(" cho «{}»", esc(text)) }
        );
        if filtered {
            let _ = write!(results, r#"<li><a href="/?q={}">Bỏ các bộ lọc và tìm lại</a></li>"#, encode(text));
        }
        results.push_str("<li>Thử ít từ hơn hoặc từ khác, ví dụ tên bài học: «tap hop», «quang hop».</li><li>Có thể gõ không dấu: «ke hoach bai day toan 10».</li></ul></div>");
    } else {
        let about = if response.total_is_estimate { "khoảng " } else { "" };
        let _ = write!(results, r#"<p class="muted" id="total">{about}{} học liệu</p>"#, number(response.total));
        for h in &response.hits {
            results.push_str(&hit(h, materials.get(&h.id), v));
        }
    }
    let pages =
        response.total.div_ceil(params.per_page as u64).min((hoclieu_index::MAX_DEPTH / params.per_page) as u64);
    if pages > 1 {
        results.push_str(r#"<nav class="pages" aria-label="Phân trang">"#);
        let at = |p: usize| {
            let base = q.href(&[], None);
            format!("{base}{}page={p}", if base.ends_with('?') { "" } else { "&" })
        };
        if params.page > 1 {
            let _ = write!(results, r#"<a rel="prev" href="{}">← Trang trước</a>"#, esc(&at(params.page - 1)));
        }
        let _ = write!(results, "<span>Trang {} / {pages}</span>", params.page);
        if (params.page as u64) < pages {
            let _ = write!(results, r#"<a rel="next" href="{}">Trang sau →</a>"#, esc(&at(params.page + 1)));
        }
        results.push_str("</nav>");
    }
    let _ = write!(
        body,
        r#"<div class="layout"><aside>{}</aside><section aria-label="Kết quả">{results}</section></div><script src="{}" defer></script>"#,
        facets(&response, &q, v),
        assets::url("site.js")
    );
    Ok(page(&caller, if text.is_empty() { "Tìm học liệu" } else { text }, &body))
}
