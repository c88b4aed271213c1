//! Reviewer pages: the review queue with filters, and a material's preview beside its metadata
//! with approve, reject (with a reason) and withdraw.

use std::fmt::Write;

use actix_web::{HttpRequest, web};
use hoclieu_domain::{Status, Step};

use super::curator::step_form;
use super::{Fields, PageResult, esc, member, page, status_label};
use crate::App;
use crate::accounts::{review_items, review_versions};
use crate::error::ApiError;

fn select(name: &str, label: &str, items: &[(String, String)], chosen: Option<&str>) -> String {
    let mut s = format!(r#"<label>{label} <select name="{name}"><option value="">Tất cả</option>"#);
    for (v, l) in items {
        let sel = if chosen == Some(v.as_str()) { " selected" } else { "" };
        let _ = write!(s, r#"<option value="{}"{sel}>{}</option>"#, esc(v), esc(l));
    }
    s.push_str("</select></label>");
    s
}

/// `GET /tham-dinh?status=&subject=&province=`.
pub async fn review_queue(req: HttpRequest, app: web::Data<App>) -> PageResult {
    let caller = member(&req, &app).await?;
    let q = Fields::parse(req.query_string().as_bytes());
    let (status, items) = review_items(&caller, &app, q.get("status"), q.get("subject"), q.get("province")).await?;
    let v = &app.vocab;
    let terms = |voc: &hoclieu_domain::Vocabulary| -> Vec<(String, String)> {
        voc.terms().iter().map(|t| (t.code.clone(), t.label.clone())).collect()
    };
    let statuses: Vec<(String, String)> =
        [Status::Submitted, Status::Draft, Status::Rejected, Status::Published, Status::Withdrawn]
            .into_iter()
            .map(|s| (s.as_str().to_owned(), status_label(s).to_owned()))
            .collect();
    let mut body = format!(
        r#"<h1>Thẩm định học liệu</h1><form class="search" method="get" action="/tham-dinh">{}{}{}<button type="submit">Lọc</button></form>"#,
        select("status", "Trạng thái", &statuses, Some(status.as_str())),
        select("subject", "Môn", &terms(&v.subjects), q.get("subject")),
        select("province", "Tỉnh/thành", &terms(&v.provinces), q.get("province")),
    );
    let _ = write!(body, r#"<p class="muted">{} học liệu «{}»</p>"#, items.len(), status_label(status));
    if !items.is_empty() {
        body.push_str(r#"<div class="table-wrap"><table><thead><tr><th>Tên</th><th>Môn / Lớp</th><th>Đơn vị</th><th>Gửi lúc</th></tr></thead><tbody>"#);
        for m in &items {
            let grade = m.meta.grade.map(|g| format!(" · Lớp {g}")).unwrap_or_default();
            let _ = write!(
                body,
                r#"<tr data-id="{}"><td><a href="/tham-dinh/{}">{}</a></td><td>{}{grade}</td><td>{}</td><td>{}</td></tr>"#,
                m.id,
                m.id,
                esc(&m.meta.title),
                esc(v.subjects.label(&m.meta.subject)),
                esc(m.meta.organization.as_deref().unwrap_or("")),
                m.updated_at.format("%d/%m/%Y %H:%M")
            );
        }
        body.push_str("</tbody></table></div>");
    }
    let versions = review_versions(&caller, &app, status, q.get("subject"), q.get("province")).await?;
    if !versions.is_empty() {
        let _ = write!(
            body,
            r#"<h2>Phiên bản sửa đổi của học liệu đã xuất bản</h2><p class="muted">{} phiên bản «{}». Bản đang xuất bản vẫn hiển thị cho đến khi phiên bản mới được duyệt.</p><div class="table-wrap"><table><thead><tr><th>Học liệu</th><th>Phiên bản</th><th>Tên mới</th><th>Tệp</th><th>Cập nhật</th></tr></thead><tbody>"#,
            versions.len(),
            status_label(status)
        );
        for (m, v) in &versions {
            let _ = write!(
                body,
                r#"<tr data-version="{}-{}"><td><a href="/tai-lieu/{}">{}</a></td><td><a href="/tham-dinh/{}/phien-ban/{}">Phiên bản {}</a></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                m.id,
                v.number,
                m.id,
                esc(&m.meta.title),
                m.id,
                v.number,
                v.number,
                esc(&v.meta.title),
                v.files.len(),
                v.updated_at.format("%d/%m/%Y %H:%M")
            );
        }
        body.push_str("</tbody></table></div>");
    }
    Ok(page(&caller, "Thẩm định", &body))
}

/// `GET /tham-dinh/{id}/phien-ban/{n}`: a proposed version beside the published material.
pub async fn review_version(req: HttpRequest, path: web::Path<(String, u32)>, app: web::Data<App>) -> PageResult {
    let caller = member(&req, &app).await?;
    let id = crate::handlers::parse_id(&path.0, "material")?;
    let m = app.db.material(id).await.map_err(ApiError::from)?.ok_or_else(|| ApiError::not_found("material"))?;
    let facts = m.facts();
    if !(caller.principal.reviews(&facts) || caller.principal.can_propose(&facts)) {
        return Err(ApiError::not_found("version").into());
    }
    let v = app.db.version(id, path.1).await.map_err(ApiError::from)?.ok_or_else(|| ApiError::not_found("version"))?;
    let proposed = hoclieu_domain::Material { meta: v.meta.clone(), files: Vec::new(), ..m.clone() };
    let mut files = String::from(r#"<h2>Tệp của phiên bản</h2><ul class="files">"#);
    for f in &v.files {
        let _ = write!(
            files,
            r#"<li><a class="download" href="/api/v1/materials/{id}/versions/{}/files/{}/download" download>{}</a> <span class="muted">({})</span></li>"#,
            v.number,
            f.id,
            esc(&f.name),
            super::size(f.size)
        );
    }
    files.push_str("</ul>");
    let back = format!("/tham-dinh/{id}/phien-ban/{}", v.number);
    let action = format!("/hoc-lieu/{id}/phien-ban/{}/buoc", v.number);
    let form = |step: &str, label: &str, reason: bool| step_form(&caller, &action, step, label, &back, reason);
    let mut actions = String::new();
    let may = |step| caller.principal.can_on_version(step, &facts, v.author);
    match v.status.as_str() {
        "submitted" if may(Step::Approve) => {
            actions.push_str(&form("approve", "Duyệt phiên bản này", false));
            actions.push_str(&form("reject", "Từ chối", true));
        }
        "draft" | "rejected" if may(Step::Submit) => actions.push_str(&form("submit", "Gửi thẩm định", false)),
        _ => {}
    }
    let label = match v.status.as_str() {
        "draft" => "Bản nháp",
        "submitted" => "Chờ thẩm định",
        "rejected" => "Bị từ chối",
        "published" => "Đang xuất bản",
        _ => "Phiên bản cũ",
    };
    let reason = v.reason.as_deref().map(|r| format!(" — {}", esc(r))).unwrap_or_default();
    let body = format!(
        r#"<p>{}</p><h1>Phiên bản {} của «{}»</h1><p>Trạng thái: <strong class="status">{label}</strong>{reason}</p>
<div class="side-by-side"><div><h2>Đang xuất bản (phiên bản {})</h2><p class="version-title"><strong>{}</strong></p>{}{}</div><div><h2>Đề xuất</h2><p class="version-title"><strong>{}</strong></p>{}{files}<div class="stack">{actions}</div></div></div>"#,
        if crate::accounts::is_reviewer(&caller.principal) {
            r#"<a href="/tham-dinh">← Hàng đợi thẩm định</a>"#
        } else {
            r#"<a href="/cua-toi">← Học liệu của tôi</a>"#
        },
        v.number,
        esc(&m.meta.title),
        m.version,
        esc(&m.meta.title),
        super::material::metadata(&m, &app.vocab),
        super::material::downloads(&m),
        esc(&v.meta.title),
        super::material::metadata(&proposed, &app.vocab),
    );
    Ok(page(&caller, &format!("Phiên bản {}", v.number), &body))
}

/// `POST /hoc-lieu/{id}/phien-ban/{n}/buoc`: a step on a proposed version from a form.
pub async fn version_step(
    req: HttpRequest,
    path: web::Path<(String, u32)>,
    body: web::Bytes,
    app: web::Data<App>,
) -> PageResult {
    let form = Fields::parse(&body);
    let caller = form.caller(&req, &app).await?;
    let id = crate::handlers::parse_id(&path.0, "material")?;
    let step = form.get("step").unwrap_or("");
    crate::accounts::take_version_step(&caller, &app, id, path.1, step, form.get("reason").map(str::to_owned)).await?;
    Ok(super::see_other(&super::local_path(form.get("back"), "/tham-dinh")))
}

/// `GET /tham-dinh/{id}`: preview beside metadata, with the decisions.
pub async fn review_material(req: HttpRequest, path: web::Path<String>, app: web::Data<App>) -> PageResult {
    let caller = member(&req, &app).await?;
    let id = crate::handlers::parse_id(&path, "material")?;
    let m = app.db.material(id).await.map_err(ApiError::from)?.ok_or_else(|| ApiError::not_found("material"))?;
    if !caller.principal.reviews(&m.facts()) {
        return Err(ApiError::not_found("material").into());
    }
    let back = format!("/tham-dinh/{id}");
    let action = format!("/hoc-lieu/{id}/buoc");
    let mut actions = String::new();
    let may = |step| caller.principal.can(step, &m.facts());
    match m.status {
        Status::Submitted if may(Step::Approve) => {
            actions.push_str(&step_form(&caller, &action, "approve", "Duyệt và xuất bản", &back, false));
            actions.push_str(&step_form(&caller, &action, "reject", "Từ chối", &back, true));
        }
        Status::Submitted => {
            actions.push_str(r#"<p class="muted">Bạn là tác giả: người thẩm định khác sẽ quyết định.</p>"#)
        }
        Status::Published if may(Step::Withdraw) => {
            actions.push_str(&step_form(&caller, &action, "withdraw", "Gỡ xuống", &back, true))
        }
        _ => {}
    }
    let reason = m.status_reason.as_deref().map(|r| format!(" — {}", esc(r))).unwrap_or_default();
    let body = format!(
        r#"<p><a href="/tham-dinh">← Hàng đợi thẩm định</a></p><h1>{}</h1><p>Trạng thái: <strong class="status">{}</strong>{reason}</p>
<div class="side-by-side"><div>{}</div><div>{}{}<div class="stack">{actions}</div></div></div>"#,
        esc(&m.meta.title),
        status_label(m.status),
        super::material::preview(&app, &m).await?,
        super::material::metadata(&m, &app.vocab),
        super::material::downloads(&m),
    );
    Ok(page(&caller, &m.meta.title, &body))
}
