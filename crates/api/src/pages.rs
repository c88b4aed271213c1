//! Minimal Vietnamese web pages: search (home) and a material page. Server-rendered, no
//! JavaScript, small enough for slow school connections.

use std::fmt::Write;

use actix_web::{HttpRequest, HttpResponse, web};
use hoclieu_domain::Vocabularies;
use hoclieu_index::{SearchResponse, escape_into};
use uuid::Uuid;

use crate::App;
use crate::error::ApiError;
use crate::params::SearchParams;

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(s, &mut out);
    out
}

fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn page(title: &str, body: &str) -> HttpResponse {
    HttpResponse::Ok().content_type("text/html; charset=utf-8").body(format!(
        r#"<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{} – Kho học liệu số</title><style>
body{{font-family:system-ui,sans-serif;max-width:56rem;margin:0 auto;padding:1rem;line-height:1.5;color:#1a1a1a}}
a{{color:#0b4f9c}} form{{display:flex;gap:.5rem;flex-wrap:wrap}} input[type=search]{{flex:1;min-width:12rem;padding:.5rem;font-size:1rem}}
button,select{{padding:.5rem;font-size:1rem}} .hit{{margin:1rem 0;padding-bottom:.75rem;border-bottom:1px solid #ddd}}
.badge{{display:inline-block;background:#eef3fa;border-radius:.25rem;padding:0 .4rem;margin-right:.25rem;font-size:.85rem}}
mark{{background:#ffe58a}} .muted{{color:#555;font-size:.9rem}}
</style></head><body><header><a href="/"><strong>Kho học liệu số dùng chung</strong></a></header><main>{body}</main></body></html>"#,
        esc(title)
    ))
}

fn select(name: &str, label: &str, options: &[(String, String)], selected: &[String]) -> String {
    let mut s = format!(r#"<label>{label} <select name="{name}"><option value="">Tất cả</option>"#);
    for (value, text) in options {
        let sel = if selected.contains(value) { " selected" } else { "" };
        let _ = write!(s, r#"<option value="{}"{sel}>{}</option>"#, esc(value), esc(text));
    }
    s.push_str("</select></label>");
    s
}

fn results(r: &SearchResponse, v: &Vocabularies) -> String {
    let mut s = String::new();
    if let Some(c) = &r.corrected_query {
        let _ = write!(s, "<p>Hiển thị kết quả cho <a href=\"/?q={}\"><strong>{}</strong></a></p>", encode(c), esc(c));
    }
    if r.relaxed {
        s.push_str("<p>Không có học liệu chứa đủ các từ đã tìm; dưới đây là kết quả gần đúng nhất.</p>");
    }
    let _ = write!(s, "<p class=\"muted\">{} học liệu</p>", r.total);
    for h in &r.hits {
        let grade = h.grade.map(|g| format!("<span class=\"badge\">Lớp {g}</span>")).unwrap_or_default();
        let series = h
            .series
            .as_deref()
            .map(|c| format!("<span class=\"badge\">{}</span>", esc(v.series.label(c))))
            .unwrap_or_default();
        let _ = write!(
            s,
            r#"<article class="hit"><h2><a href="/tai-lieu/{}">{}</a></h2><div><span class="badge">{}</span>{grade}{series}<span class="badge">{}</span></div><p>{}</p></article>"#,
            h.id,
            h.title_html,
            esc(v.subjects.label(&h.subject)),
            esc(v.resource_types.label(&h.resource_type)),
            h.snippet_html
        );
    }
    s
}

/// `GET /`: the search page.
pub async fn search(req: HttpRequest, app: web::Data<App>) -> Result<HttpResponse, ApiError> {
    crate::auth::reader(&req, &app).await?;
    let params = SearchParams::parse(req.query_string(), &app.vocab)?;
    let response = app.index.search(&params.request)?;
    let v = &app.vocab;
    let opts = |voc: &hoclieu_domain::Vocabulary| -> Vec<(String, String)> {
        voc.terms().iter().map(|t| (t.code.clone(), t.label.clone())).collect()
    };
    let grades: Vec<(String, String)> = (1..=12).map(|g| (g.to_string(), format!("Lớp {g}"))).collect();
    let f = &params.request.filters;
    let chosen_grades: Vec<String> = f.grades.iter().map(u8::to_string).collect();
    let mut body = format!(
        r#"<h1>Tìm học liệu</h1><form action="/" method="get" role="search"><input type="search" name="q" value="{}" placeholder="Ví dụ: giao an toan 10 tap hop" aria-label="Từ khoá">
{}{}{}<button type="submit">Tìm</button></form>"#,
        esc(&params.request.text),
        select("subject", "Môn", &opts(&v.subjects), &f.subjects),
        select("grade", "Lớp", &grades, &chosen_grades),
        select("resource_type", "Loại", &opts(&v.resource_types), &f.resource_types),
    );
    body.push_str(&results(&response, v));
    let pages =
        response.total.div_ceil(params.per_page as u64).min((hoclieu_index::MAX_DEPTH / params.per_page) as u64);
    if pages > 1 {
        let base: String = form_urlencoded::parse(req.query_string().as_bytes())
            .filter(|(k, _)| k != "page")
            .fold(form_urlencoded::Serializer::new(String::new()), |mut s, (k, v)| {
                s.append_pair(&k, &v);
                s
            })
            .finish();
        body.push_str("<nav aria-label=\"Trang\">");
        if params.page > 1 {
            let _ = write!(body, r#"<a href="/?{base}&page={}">← Trang trước</a> "#, params.page - 1);
        }
        let _ = write!(body, "Trang {} / {pages} ", params.page);
        if (params.page as u64) < pages {
            let _ = write!(body, r#"<a href="/?{base}&page={}">Trang sau →</a>"#, params.page + 1);
        }
        body.push_str("</nav>");
    }
    Ok(page("Tìm học liệu", &body))
}

fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / 1048576.0),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

/// `GET /tai-lieu/{id}`: a material with its download links.
pub async fn material(
    req: HttpRequest,
    path: web::Path<String>,
    app: web::Data<App>,
) -> Result<HttpResponse, ApiError> {
    let id = Uuid::parse_str(&path).map_err(|_| ApiError::not_found("material"))?;
    let m = crate::handlers::visible_material(&req, &app, id).await?;
    let v = &app.vocab;
    let meta = &m.meta;
    let mut body = format!(
        "<h1>{}</h1><div><span class=\"badge\">{}</span>",
        esc(&meta.title),
        esc(v.subjects.label(&meta.subject))
    );
    if let Some(g) = meta.grade {
        let _ = write!(body, "<span class=\"badge\">Lớp {g}</span>");
    }
    if let Some(s) = &meta.series {
        let _ = write!(body, "<span class=\"badge\">{}</span>", esc(v.series.label(s)));
    }
    let _ = write!(body, "<span class=\"badge\">{}</span></div>", esc(v.resource_types.label(&meta.resource_type)));
    for (label, value) in [("Chương", &meta.chapter), ("Bài", &meta.lesson), ("Đơn vị", &meta.organization)] {
        if let Some(x) = value {
            let _ = write!(body, "<p><strong>{label}:</strong> {}</p>", esc(x));
        }
    }
    if let Some(d) = &meta.description {
        let _ = write!(body, "<p>{}</p>", esc(d));
    }
    if !m.files.is_empty() {
        body.push_str("<h2>Tải về</h2><ul>");
        for f in &m.files {
            let _ = write!(
                body,
                r#"<li><a href="{}">{}</a> <span class="muted">({})</span></li>"#,
                crate::views::file_url(m.id, f.id),
                esc(&f.name),
                size(f.size)
            );
        }
        body.push_str("</ul>");
    }
    if let Some(u) = &meta.url {
        let _ = write!(body, r#"<p><a href="{}" rel="noopener">Mở liên kết</a></p>"#, esc(u));
    }
    let _ = write!(
        body,
        "<p class=\"muted\">Giấy phép: {} · Lượt tải: {}</p>",
        esc(v.licenses.label(&meta.license)),
        m.downloads
    );
    Ok(page(&meta.title, &body))
}
