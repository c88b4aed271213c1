//! The Vietnamese web pages, server-rendered by the same binary: search (home), material pages,
//! sign-in, upload, "my materials", review and administration. Pages are plain HTML with one
//! small stylesheet; scripts only add suggestions and resumable uploads. Forms that change
//! something carry the session's CSRF token in a `csrf` field.
//!
//! Handlers stay thin: the work is done by the same functions as the JSON API.

mod admin;
mod assets;
mod curator;
mod material;
mod review;
mod search;

use std::fmt::Write;

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, ResponseError};
use hoclieu_domain::{Principal, Role, Status};
use hoclieu_index::escape_into;

use crate::App;
use crate::auth::{self, Caller};
use crate::error::ApiError;

pub use admin::{admin, admin_key, admin_revoke, admin_role};
pub use assets::static_file;
pub use curator::{edit_form, mine, sign_in_form, sign_in_submit, sign_out, take_step, upload_form};
pub use material::material;
pub use review::{review_material, review_queue, review_version, version_step};
pub use search::search;

/// An error shown as a page. Pages that need an account send visitors to the sign-in page.
#[derive(Debug)]
pub struct PageError(pub ApiError);

impl<E: Into<ApiError>> From<E> for PageError {
    fn from(e: E) -> Self {
        PageError(e.into())
    }
}

impl std::fmt::Display for PageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl ResponseError for PageError {
    fn status_code(&self) -> StatusCode {
        self.0.status
    }

    fn error_response(&self) -> HttpResponse {
        if self.0.status == StatusCode::UNAUTHORIZED {
            return HttpResponse::SeeOther().insert_header((header::LOCATION, "/dang-nhap")).finish();
        }
        let message = match self.0.code {
            "not_found" => "Không tìm thấy trang hoặc học liệu này.".to_owned(),
            "forbidden" => "Tài khoản của bạn không có quyền làm việc này.".to_owned(),
            "csrf_failed" => "Trang đã cũ so với phiên đăng nhập. Hãy tải lại trang rồi thử lại.".to_owned(),
            "invalid_state" => format!("Không thể làm bước này ở trạng thái hiện tại ({}).", self.0.message),
            "internal" | "service_unavailable" => "Hệ thống đang gặp sự cố. Vui lòng thử lại sau ít phút.".to_owned(),
            "overloaded" => {
                "Hệ thống đang bận vì có quá nhiều lượt tìm kiếm. Vui lòng thử lại sau vài giây.".to_owned()
            }
            "too_many_attempts" | "account_locked" => {
                "Đăng nhập sai quá nhiều lần. Hãy thử lại sau ít phút.".to_owned()
            }
            // Validation messages name the field; the detail (in English) helps the operator.
            _ => match &self.0.field {
                Some(f) => format!("Dữ liệu chưa hợp lệ ở trường «{f}» ({}).", self.0.message),
                None => format!("Yêu cầu chưa hợp lệ ({}).", self.0.message),
            },
        };
        let body = format!(
            "<h1>Không thực hiện được</h1><p class=\"error\" role=\"alert\" data-code=\"{}\">{}</p><p><a href=\"/\">Về trang tìm kiếm</a></p>",
            self.0.code,
            esc(&message)
        );
        let mut r = shell();
        r.status(self.0.status);
        r.body(render(None, "Lỗi", &body))
    }
}

pub type PageResult = Result<HttpResponse, PageError>;

/// The visitor of a page: a stale session cookie makes an anonymous visitor (public pages keep
/// working), not an error.
pub(crate) async fn visitor(req: &HttpRequest, app: &App) -> Result<Caller, PageError> {
    let caller = match auth::caller(req, app).await {
        Ok(c) => c,
        Err(e) if e.code == "session_expired" => Caller::anonymous(req),
        Err(e) => return Err(e.into()),
    };
    if app.settings.require_sign_in && caller.principal == Principal::Anonymous {
        return Err(caller.refuse("read materials on this deployment").into());
    }
    Ok(caller)
}

/// A signed-in visitor (pages for accounts).
pub(crate) async fn member(req: &HttpRequest, app: &App) -> Result<Caller, PageError> {
    let caller = visitor(req, app).await?;
    if caller.session.is_none() {
        return Err(caller.refuse("open this page").into());
    }
    Ok(caller)
}

/// The fields of a submitted form (`application/x-www-form-urlencoded`).
pub(crate) struct Fields(Vec<(String, String)>);

impl Fields {
    pub fn parse(body: &[u8]) -> Self {
        Fields(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str()).filter(|v| !v.trim().is_empty())
    }

    pub fn all(&self, name: &str) -> Vec<String> {
        self.0.iter().filter(|(k, v)| k == name && !v.is_empty()).map(|(_, v)| v.clone()).collect()
    }

    /// The caller of the form, checked against its CSRF token.
    pub async fn caller(&self, req: &HttpRequest, app: &App) -> Result<Caller, PageError> {
        Ok(auth::form_caller(req, app, self.get("csrf").unwrap_or("")).await?)
    }
}

/// A local path to go back to after a form (never another site).
pub(crate) fn local_path(p: Option<&str>, default: &str) -> String {
    // Only plain path characters: browsers drop tabs and newlines, so `/\t/evil.example` would
    // otherwise become `//evil.example`, another site.
    let plain = |p: &str| p.bytes().all(|b| b.is_ascii_alphanumeric() || b"/-_.~%?&=".contains(&b));
    match p {
        Some(p) if p.starts_with('/') && !p.starts_with("//") && plain(p) => p.to_owned(),
        _ => default.to_owned(),
    }
}

pub(crate) fn see_other(location: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, location)).finish()
}

pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    escape_into(s, &mut out);
    out
}

pub(crate) fn encode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// A count written the Vietnamese way: 123.456.
pub(crate) fn number(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push('.');
        }
        out.push(c);
    }
    out
}

pub(crate) fn size(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 30 => format!("{:.1} GB", b as f64 / (1u64 << 30) as f64),
        b if b >= 1 << 20 => format!("{:.1} MB", b as f64 / 1048576.0),
        b if b >= 1 << 10 => format!("{:.0} KB", b as f64 / 1024.0),
        b => format!("{b} B"),
    }
}

pub(crate) fn status_label(s: Status) -> &'static str {
    match s {
        Status::Draft => "Bản nháp",
        Status::Submitted => "Chờ thẩm định",
        Status::Published => "Đã xuất bản",
        Status::Rejected => "Bị từ chối",
        Status::Withdrawn => "Đã gỡ",
    }
}

pub(crate) fn role_label(r: Role) -> &'static str {
    match r {
        Role::Teacher => "Giáo viên",
        Role::Curator => "Người biên soạn",
        Role::Reviewer => "Người thẩm định",
        Role::Admin => "Quản trị viên",
    }
}

/// The hidden CSRF field of a form for this caller.
pub(crate) fn csrf_field(caller: &Caller) -> String {
    caller
        .session
        .as_ref()
        .map(|s| format!(r#"<input type="hidden" name="csrf" value="{}">"#, esc(&s.csrf)))
        .unwrap_or_default()
}

/// A page with the site's header and navigation for `caller`.
pub(crate) fn page(caller: &Caller, title: &str, body: &str) -> HttpResponse {
    shell().body(render(Some(caller), title, body))
}

fn shell() -> actix_web::HttpResponseBuilder {
    let mut r = HttpResponse::Ok();
    r.content_type("text/html; charset=utf-8")
        // Pages depend on the visitor: never shared caches.
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .insert_header((header::CONTENT_SECURITY_POLICY, CSP));
    r
}

/// What pages may load: their own scripts, styles, images, media and package frames, nothing
/// inline (JSON-LD is data, not script), no plugins, never framed by other sites. The other
/// security headers come with every answer (`security_headers` in lib.rs).
pub const CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
    media-src 'self' https: http:; frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; \
    frame-ancestors 'none'";

fn render(caller: Option<&Caller>, title: &str, body: &str) -> String {
    let mut nav = String::from(r#"<a href="/">Tìm kiếm</a>"#);
    match caller.and_then(|c| c.session.as_ref().map(|s| (c, s))) {
        Some((c, s)) => {
            if c.principal.can_create() {
                nav.push_str(r#"<a href="/tai-len">Tải lên</a><a href="/cua-toi">Của tôi</a>"#);
            }
            if crate::accounts::is_reviewer(&c.principal) {
                nav.push_str(r#"<a href="/tham-dinh">Thẩm định</a>"#);
            }
            if c.principal.is_admin() {
                nav.push_str(r#"<a href="/quan-tri">Quản trị</a>"#);
            }
            let _ = write!(
                nav,
                r#"<span title="{}">{}</span><form method="post" action="/dang-xuat">{}<button type="submit" id="sign-out">Đăng xuất</button></form>"#,
                esc(role_label(s.user.role)),
                esc(&s.user.display_name),
                csrf_field(c)
            );
        }
        None => nav.push_str(r#"<a href="/dang-nhap">Đăng nhập</a>"#),
    }
    format!(
        r##"<!doctype html><html lang="vi"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>{} – Kho học liệu số</title><link rel="stylesheet" href="{}"><link rel="icon" href="data:,"></head>
<body><a class="skip" href="#noi-dung">Chuyển đến nội dung chính</a><header class="site"><a class="brand" href="/">Kho học liệu số dùng chung</a><nav aria-label="Điều hướng chính">{nav}</nav></header>
<main id="noi-dung">{body}</main></body></html>"##,
        esc(title),
        assets::url("site.css"),
    )
}
