//! Pages for accounts and curators: sign in and out, the upload form (resumable, tus) and
//! "my materials" with each item's workflow state and the reviewer's reason. Workflow steps from
//! any page post to one form handler.

use std::fmt::Write;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use hoclieu_domain::{MaterialMeta, Status};

use super::{
    Fields, PageResult, assets, csrf_field, esc, local_path, member, page, see_other, size, status_label, visitor,
};
use crate::App;
use crate::error::ApiError;

fn sign_in_page(caller: &crate::auth::Caller, next: &str, error: Option<&str>, login: &str) -> String {
    let error = error.map(|e| format!(r#"<p class="error" role="alert">{}</p>"#, esc(e))).unwrap_or_default();
    format!(
        r#"<h1>Đăng nhập</h1>{error}<form class="stack" method="post" action="/dang-nhap">{}
<input type="hidden" name="next" value="{}">
<label>Tên đăng nhập hoặc email <input type="text" name="login" value="{}" autocomplete="username" required></label>
<label>Mật khẩu <input type="password" name="password" autocomplete="current-password" required></label>
<div><button type="submit">Đăng nhập</button></div></form>
<p class="muted">Giáo viên không cần đăng nhập để tìm, xem và tải học liệu. Tài khoản do quản trị viên của Sở/Phòng cấp.</p>"#,
        csrf_field(caller),
        esc(next),
        esc(login)
    )
}

/// `GET /dang-nhap`.
pub async fn sign_in_form(req: HttpRequest, app: web::Data<App>) -> PageResult {
    // A deployment that requires sign-in still shows its sign-in page.
    let caller = visitor(&req, &app).await.unwrap_or_else(|_| crate::auth::Caller::anonymous(&req));
    let query = Fields::parse(req.query_string().as_bytes());
    let next = local_path(query.get("next"), "/cua-toi");
    Ok(page(&caller, "Đăng nhập", &sign_in_page(&caller, &next, None, "")))
}

/// `POST /dang-nhap`.
pub async fn sign_in_submit(req: HttpRequest, body: web::Bytes, app: web::Data<App>) -> PageResult {
    let form = Fields::parse(&body);
    let next = local_path(form.get("next"), "/cua-toi");
    let login = form.get("login").unwrap_or("").to_owned();
    let anonymous = crate::auth::Caller::anonymous(&req);
    if !crate::auth::same_site(&req) {
        return Err(ApiError::new(StatusCode::FORBIDDEN, "csrf_failed", "cross-site sign-in").into());
    }
    match crate::accounts::sign_in(&req, &app, &login, form.get("password").unwrap_or("")).await {
        Ok(signed) => {
            Ok(HttpResponse::SeeOther().cookie(signed.cookie).insert_header((header::LOCATION, next)).finish())
        }
        Err(e) if matches!(e.code, "invalid_credentials" | "too_many_attempts") => {
            let message = match (e.code, e.retry_after) {
                ("invalid_credentials", _) => "Sai tên đăng nhập hoặc mật khẩu.".to_owned(),
                (_, Some(secs)) => format!(
                    "Đăng nhập sai quá nhiều lần. Hãy thử lại sau {}.",
                    if secs < 60 { format!("{secs} giây") } else { format!("{} phút", secs.div_ceil(60)) }
                ),
                _ => "Đăng nhập sai quá nhiều lần. Hãy thử lại sau ít phút.".to_owned(),
            };
            let mut r = page(&anonymous, "Đăng nhập", &sign_in_page(&anonymous, &next, Some(&message), &login));
            *r.status_mut() = e.status;
            Ok(r)
        }
        Err(e) => Err(e.into()),
    }
}

/// `POST /dang-xuat`.
pub async fn sign_out(req: HttpRequest, body: web::Bytes, app: web::Data<App>) -> PageResult {
    let form = Fields::parse(&body);
    // A live session must show its CSRF token (no signing people out from other sites); an ended
    // one only has its cookie cleared.
    match form.caller(&req, &app).await {
        Ok(caller) if caller.session.is_none() => Ok(see_other("/")),
        Ok(_) => {
            let cookie = crate::accounts::sign_out(&req, &app).await?;
            Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, "/")).finish())
        }
        Err(e) if e.0.code == "session_expired" => {
            let cookie = crate::accounts::sign_out(&req, &app).await?;
            Ok(HttpResponse::SeeOther().cookie(cookie).insert_header((header::LOCATION, "/")).finish())
        }
        Err(e) => Err(e),
    }
}

fn options(items: impl IntoIterator<Item = (String, String)>, placeholder: &str) -> String {
    let mut s = format!(r#"<option value="">{placeholder}</option>"#);
    for (value, label) in items {
        let _ = write!(s, r#"<option value="{}">{}</option>"#, esc(&value), esc(&label));
    }
    s
}

/// Marks the option of `value` as selected.
fn selected(options: String, value: Option<&str>) -> String {
    match value {
        Some(v) => {
            let attr = format!(r#"value="{}""#, esc(v));
            options.replacen(&attr, &format!("{attr} selected"), 1)
        }
        None => options,
    }
}

/// The fields of a material, empty (an upload) or filled with `meta` (an edit).
fn material_fields(
    app: &App,
    meta: Option<&MaterialMeta>,
    organization: Option<&str>,
    province: Option<&str>,
) -> String {
    let v = &app.vocab;
    let terms = |voc: &hoclieu_domain::Vocabulary| -> Vec<(String, String)> {
        voc.terms().iter().map(|t| (t.code.clone(), t.label.clone())).collect()
    };
    let mut grades = String::from(r#"<option value="">— Chọn lớp —</option>"#);
    for (level, range) in [("Tiểu học", 1..=5u8), ("Trung học cơ sở", 6..=9), ("Trung học phổ thông", 10..=12)]
    {
        let _ = write!(grades, r#"<optgroup label="{level}">"#);
        for g in range {
            let _ = write!(grades, r#"<option value="{g}">Lớp {g}</option>"#);
        }
        grades.push_str("</optgroup>");
    }
    let text = |f: fn(&MaterialMeta) -> Option<&str>| esc(meta.and_then(f).unwrap_or(""));
    let list = |f: fn(&MaterialMeta) -> &Vec<String>| esc(&meta.map(|m| f(m).join(", ")).unwrap_or_default());
    let grade = meta.and_then(|m| m.grade).map(|g| g.to_string());
    format!(
        r#"<label>Tên học liệu <input type="text" name="title" required maxlength="500" value="{}"></label>
<div class="row"><label>Môn học <select name="subject" required>{}</select></label>
<label>Lớp <select name="grade">{}</select></label></div>
<div class="row"><label>Bộ sách <select name="series">{}</select></label>
<label>Loại học liệu <select name="resource_type" required>{}</select></label></div>
<div class="row"><label>Chương <input type="text" name="chapter" value="{}"></label><label>Bài <input type="text" name="lesson" value="{}"></label></div>
<label>Mô tả <textarea name="description" rows="3">{}</textarea></label>
<label>Từ khoá (cách nhau bởi dấu phẩy) <input type="text" name="keywords" value="{}"></label>
<div class="row"><label>Tác giả (cách nhau bởi dấu phẩy) <input type="text" name="authors" value="{}"></label>
<label>Đơn vị <input type="text" name="organization" value="{}"></label></div>
<div class="row"><label>Tỉnh/thành <select name="province">{}</select></label>
<label>Giấy phép <select name="license">{}</select></label></div>
<label>Liên kết (nếu học liệu ở trang khác) <input type="url" name="url" value="{}"></label>"#,
        text(|m| Some(m.title.as_str())),
        selected(options(terms(&v.subjects), "— Chọn môn —"), meta.map(|m| m.subject.as_str())),
        selected(grades, grade.as_deref()),
        selected(options(terms(&v.series), "— Không theo bộ sách —"), meta.and_then(|m| m.series.as_deref())),
        selected(options(terms(&v.resource_types), "— Chọn loại —"), meta.map(|m| m.resource_type.as_str())),
        text(|m| m.chapter.as_deref()),
        text(|m| m.lesson.as_deref()),
        text(|m| m.description.as_deref()),
        list(|m| &m.keywords),
        list(|m| &m.authors),
        esc(meta.and_then(|m| m.organization.as_deref()).or(organization).unwrap_or("")),
        selected(options(terms(&v.provinces), "— Không chọn —"), meta.and_then(|m| m.province.as_deref()).or(province)),
        selected(options(terms(&v.licenses), "— Mặc định —"), meta.map(|m| m.license.as_str())),
        text(|m| m.url.as_deref()),
    )
}

/// `GET /tai-len`: the upload form.
pub async fn upload_form(req: HttpRequest, app: web::Data<App>) -> PageResult {
    let caller = member(&req, &app).await?;
    if !caller.principal.can_create() {
        return Err(caller.refuse("upload materials").into());
    }
    let session = caller.session.as_ref();
    let csrf = session.map(|s| s.csrf.clone()).unwrap_or_default();
    // The account's organisation and province are the usual answers.
    let organization = session.and_then(|s| s.user.organization.as_deref());
    let province = session.and_then(|s| s.user.province.as_deref());
    let body = format!(
        r#"<h1>Tải lên học liệu</h1>
<form class="stack" id="upload-form" data-csrf="{}">
{}
<label>Tệp <input type="file" id="file" name="file" required></label>
<div><button type="submit" id="upload-start">Tải lên</button></div>
<progress id="upload-progress" value="0" max="100" aria-label="Tiến độ tải lên"></progress>
<p id="upload-status" data-state="idle" role="status" aria-live="polite">Tệp lớn được tải lên từng phần; nếu mất mạng, việc tải sẽ tự tiếp tục khi có mạng lại.</p>
<p id="upload-result"></p></form>
<noscript><p class="notice">Cần bật JavaScript để tải lên (tải từng phần, tự tiếp tục khi mất mạng). Hệ thống LMS có thể dùng API <code>/api/v1/uploads</code>.</p></noscript>
<script src="{}" defer></script>"#,
        esc(&csrf),
        material_fields(&app, None, organization, province),
        assets::url("upload.js")
    );
    Ok(page(&caller, "Tải lên học liệu", &body))
}

/// `GET /cua-toi/{id}/sua`: edit a material. A draft or rejected one changes in place; a
/// published one gets a proposed version (new metadata, and new files if chosen) for review.
pub async fn edit_form(req: HttpRequest, path: web::Path<String>, app: web::Data<App>) -> PageResult {
    let caller = member(&req, &app).await?;
    let id = crate::handlers::parse_id(&path, "material")?;
    let m = app.db.material(id).await.map_err(ApiError::from)?.ok_or_else(|| ApiError::not_found("material"))?;
    let propose = crate::accounts::edit_mode(&caller, &m)?;
    // A proposal already open is edited further.
    let open = if propose {
        let versions = app.db.versions(id).await.map_err(ApiError::from)?;
        versions.into_iter().find(|v| matches!(v.status.as_str(), "draft" | "rejected"))
    } else {
        None
    };
    let meta = open.as_ref().map_or(&m.meta, |v| &v.meta);
    let note = if propose {
        "Học liệu đã xuất bản: thay đổi sẽ thành một phiên bản mới, cần được thẩm định. Bản hiện tại vẫn hiển thị cho đến khi phiên bản mới được duyệt."
    } else {
        "Bản nháp được sửa trực tiếp."
    };
    let files: Vec<String> = m.files.iter().map(|f| format!("{} ({})", esc(&f.name), size(f.size))).collect();
    let body = format!(
        r#"<h1>Sửa «{}»</h1><p class="notice">{note}</p>
<form class="stack" id="edit-form" data-csrf="{}" data-endpoint="/api/v1/materials/{id}/versions">
<input type="hidden" name="language" value="{}">
{}
<p class="muted">Tệp hiện tại: {}</p>
<label>Thay bằng tệp mới (không bắt buộc; chọn tất cả tệp của phiên bản mới) <input type="file" id="file" name="file" multiple></label>
<div><button type="submit" id="edit-save">Lưu</button></div>
<p id="upload-status" data-state="idle" role="status" aria-live="polite"></p>
<p id="upload-result"></p></form>
<noscript><p class="notice">Cần bật JavaScript để lưu thay đổi.</p></noscript>
<script src="{}" defer></script>"#,
        esc(&m.meta.title),
        esc(&caller.session.as_ref().map(|s| s.csrf.clone()).unwrap_or_default()),
        esc(&meta.language),
        material_fields(&app, Some(meta), None, None),
        if files.is_empty() { "không có".to_owned() } else { files.join(", ") },
        assets::url("upload.js")
    );
    Ok(page(&caller, "Sửa học liệu", &body))
}

/// A workflow step as a form: the buttons of a material in a list or on a review page.
/// `action` is the step handler: `/hoc-lieu/{id}/buoc` for a material, or
/// `/hoc-lieu/{id}/phien-ban/{n}/buoc` for a proposed version.
pub(crate) fn step_form(
    caller: &crate::auth::Caller,
    action: &str,
    step: &str,
    label: &str,
    back: &str,
    reason: bool,
) -> String {
    let reason =
        if reason { r#"<label>Lý do <textarea name="reason" rows="2" required></textarea></label>"# } else { "" };
    format!(
        r#"<form method="post" action="{}">{}<input type="hidden" name="back" value="{}">{reason}<button type="submit" name="step" value="{step}"{}>{label}</button></form>"#,
        esc(action),
        csrf_field(caller),
        esc(back),
        if step == "reject" || step == "withdraw" { r#" class="danger""# } else { "" }
    )
}

/// Rows of "my materials" per page (each row has a form: pages stay well under 150 KB).
const PER_PAGE: u64 = 100;

/// `GET /cua-toi?trang=N`: the caller's materials and their workflow state, newest first.
pub async fn mine(req: HttpRequest, app: web::Data<App>) -> PageResult {
    let caller = member(&req, &app).await?;
    let person = caller.person().ok_or_else(|| caller.refuse("list your materials"))?;
    let query = Fields::parse(req.query_string().as_bytes());
    let page_no: u64 = query.get("trang").and_then(|p| p.parse().ok()).filter(|p| *p >= 1).unwrap_or(1);
    let mut items =
        app.db.materials_by_author(person.id, (page_no - 1) * PER_PAGE, PER_PAGE + 1).await.map_err(ApiError::from)?;
    let more = items.len() as u64 > PER_PAGE;
    items.truncate(PER_PAGE as usize);
    let mut body = String::from(r#"<h1>Học liệu của tôi</h1><p><a href="/tai-len">+ Tải lên học liệu mới</a></p>"#);
    if items.is_empty() {
        body.push_str("<p>Bạn chưa tải lên học liệu nào.</p>");
    } else {
        body.push_str(r#"<div class="table-wrap"><table><thead><tr><th>Tên</th><th>Trạng thái</th><th>Cập nhật</th><th>Thao tác</th></tr></thead><tbody>"#);
        for m in &items {
            let reason = m
                .status_reason
                .as_deref()
                .map(|r| format!(r#"<br><span class="muted">Lý do: {}</span>"#, esc(r)))
                .unwrap_or_default();
            let edit = format!(r#"<a href="/cua-toi/{}/sua">Sửa</a> "#, m.id);
            let action = match m.status {
                Status::Draft | Status::Rejected => {
                    format!(
                        "{edit}{}",
                        step_form(
                            &caller,
                            &format!("/hoc-lieu/{}/buoc", m.id),
                            "submit",
                            "Gửi thẩm định",
                            "/cua-toi",
                            false
                        )
                    )
                }
                Status::Published => edit,
                _ => String::new(),
            };
            let _ = write!(
                body,
                r#"<tr data-id="{}"><td><a href="/tai-lieu/{}">{}</a></td><td class="status">{}{reason}</td><td>{}</td><td>{action}</td></tr>"#,
                m.id,
                m.id,
                esc(&m.meta.title),
                status_label(m.status),
                m.updated_at.format("%d/%m/%Y %H:%M")
            );
        }
        body.push_str("</tbody></table></div>");
    }
    if page_no > 1 || more {
        body.push_str(r#"<nav class="pages" aria-label="Phân trang">"#);
        if page_no > 1 {
            let _ = write!(body, r#"<a rel="prev" href="/cua-toi?trang={}">← Trang trước</a>"#, page_no - 1);
        }
        let _ = write!(body, "<span>Trang {page_no}</span>");
        if more {
            let _ = write!(body, r#"<a rel="next" href="/cua-toi?trang={}">Trang sau →</a>"#, page_no + 1);
        }
        body.push_str("</nav>");
    }
    Ok(page(&caller, "Học liệu của tôi", &body))
}

/// `POST /hoc-lieu/{id}/buoc`: a workflow step from a form (`step`, `reason`, `back`).
pub async fn take_step(req: HttpRequest, path: web::Path<String>, body: web::Bytes, app: web::Data<App>) -> PageResult {
    let form = Fields::parse(&body);
    let caller = form.caller(&req, &app).await?;
    let id = crate::handlers::parse_id(&path, "material")?;
    let step = form.get("step").unwrap_or("");
    crate::accounts::take_step(&caller, &app, id, step, form.get("reason").map(str::to_owned)).await?;
    Ok(see_other(&local_path(form.get("back"), "/cua-toi")))
}
