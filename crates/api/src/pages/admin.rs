//! Administration pages: accounts and their roles, API keys (created with the token shown once,
//! revoked).

use std::fmt::Write;

use actix_web::{HttpRequest, web};
use hoclieu_domain::Role;

use super::{Fields, PageResult, csrf_field, esc, member, page, role_label, see_other};
use crate::App;
use crate::accounts::{KeyRequest, RoleRequest};
use crate::error::ApiError;

/// A reviewer's scope in words ("all" when unrestricted).
fn scope_of(u: &hoclieu_db::User, v: &hoclieu_domain::Vocabularies) -> String {
    if u.role != Role::Reviewer {
        return String::new();
    }
    let list = |codes: &[String], voc: &hoclieu_domain::Vocabulary, all: &str| {
        if codes.is_empty() {
            all.to_owned()
        } else {
            codes.iter().map(|c| voc.label(c)).collect::<Vec<_>>().join(", ")
        }
    };
    format!(
        "{}; {}",
        list(&u.review_subjects, &v.subjects, "mọi môn"),
        list(&u.review_provinces, &v.provinces, "mọi tỉnh/thành")
    )
}

/// Rows shown of each list.
const SHOWN: usize = 200;

async fn render(caller: crate::auth::Caller, app: &App, notice: Option<String>) -> PageResult {
    if !caller.principal.is_admin() {
        return Err(caller.refuse("administer accounts").into());
    }
    let mut users = app.db.list_users().await.map_err(ApiError::from)?;
    let mut keys = app.db.list_api_keys().await.map_err(ApiError::from)?;
    // Pages stay small; the CLI and the API list everything.
    let (all_users, all_keys) = (users.len(), keys.len());
    users.truncate(SHOWN);
    keys.retain(|k| k.revoked_at.is_none());
    let live_keys = keys.len();
    keys.truncate(SHOWN);
    let csrf = csrf_field(&caller);
    let caller = &caller;
    let mut body = String::from("<h1>Quản trị</h1>");
    if let Some(n) = notice {
        body.push_str(&n);
    }
    body.push_str(r#"<h2>Tài khoản</h2><div class="table-wrap"><table><thead><tr><th>Tên đăng nhập</th><th>Họ tên</th><th>Đơn vị</th><th>Phạm vi thẩm định</th><th>Vai trò</th></tr></thead><tbody>"#);
    for u in &users {
        let mut roles = String::new();
        for r in [Role::Teacher, Role::Curator, Role::Reviewer, Role::Admin] {
            let sel = if r == u.role { " selected" } else { "" };
            let _ = write!(roles, r#"<option value="{}"{sel}>{}</option>"#, r.as_str(), role_label(r));
        }
        let _ = write!(
            body,
            r#"<tr data-user="{}"><td>{}{}</td><td>{}</td><td>{}</td><td>{}</td><td><form method="post" action="/quan-tri/nguoi-dung/{}/vai-tro">{csrf}<label class="muted">Vai trò <select name="role">{roles}</select></label> <button type="submit" class="secondary">Lưu</button></form></td></tr>"#,
            u.id,
            esc(&u.username),
            if u.disabled { " (đã vô hiệu hoá)" } else { "" },
            esc(&u.display_name),
            esc(u.organization.as_deref().unwrap_or("")),
            esc(&scope_of(u, &app.vocab)),
            u.id
        );
    }
    body.push_str("</tbody></table></div>");
    if all_users > SHOWN {
        let _ = write!(
            body,
            r#"<p class="muted">Đang hiển thị {SHOWN}/{all_users} tài khoản; xem đủ bằng <code>hoclieu user list</code>.</p>"#
        );
    }
    body.push_str(r#"<p class="muted">Tạo tài khoản mới: <code>hoclieu user add</code> hoặc <code>POST /api/v1/users</code>.</p>"#);
    body.push_str(r#"<h2>Khoá API</h2><div class="table-wrap"><table><thead><tr><th>Tên</th><th>Quyền</th><th>Đơn vị</th><th>Dùng lần cuối</th><th>Thao tác</th></tr></thead><tbody>"#);
    for k in &keys {
        let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
        let action = format!(
            r#"<form method="post" action="/quan-tri/khoa/{}/thu-hoi">{csrf}<button type="submit" class="danger" aria-label="Thu hồi khoá {}">Thu hồi</button></form>"#,
            k.id,
            esc(&k.name)
        );
        let _ = write!(
            body,
            r#"<tr data-key="{}"><td>{} <span class="muted">{}…</span></td><td>{}</td><td>{}</td><td>{}</td><td>{action}</td></tr>"#,
            k.id,
            esc(&k.name),
            esc(&k.prefix),
            scopes.join(", "),
            esc(k.organization.as_deref().unwrap_or("")),
            k.last_used_at.map(|t| t.format("%d/%m/%Y %H:%M").to_string()).unwrap_or_else(|| "chưa dùng".into())
        );
    }
    body.push_str("</tbody></table></div>");
    if live_keys > SHOWN || all_keys > live_keys {
        let _ = write!(
            body,
            r#"<p class="muted">Đang hiển thị {} khoá còn hiệu lực ({} khoá đã thu hồi không hiện); xem đủ bằng <code>hoclieu apikey list</code>.</p>"#,
            keys.len(),
            all_keys - live_keys
        );
    }
    let _ = write!(
        body,
        r#"<h3>Tạo khoá API</h3><form class="stack" method="post" action="/quan-tri/khoa">{csrf}
<label>Tên (ví dụ: LMS Sở GD&amp;ĐT Hà Nội) <input type="text" name="name" required></label>
<fieldset><legend>Quyền</legend><label><input type="checkbox" name="scopes" value="read" checked> đọc</label> <label><input type="checkbox" name="scopes" value="write"> tải lên</label> <label><input type="checkbox" name="scopes" value="review"> thẩm định</label> <label><input type="checkbox" name="scopes" value="admin"> quản trị</label></fieldset>
<label>Gắn với đơn vị (không bắt buộc) <input type="text" name="organization"></label><div><button type="submit">Tạo khoá</button></div></form>"#
    );
    Ok(page(caller, "Quản trị", &body))
}

/// `GET /quan-tri`.
pub async fn admin(req: HttpRequest, app: web::Data<App>) -> PageResult {
    let caller = member(&req, &app).await?;
    render(caller, &app, None).await
}

/// `POST /quan-tri/nguoi-dung/{id}/vai-tro`.
pub async fn admin_role(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    app: web::Data<App>,
) -> PageResult {
    let form = Fields::parse(&body);
    let caller = form.caller(&req, &app).await?;
    let id = crate::handlers::parse_id(&path, "user")?;
    let request = RoleRequest {
        role: form.get("role").unwrap_or("").to_owned(),
        // The role form does not show a reviewer's scope: it stays as it is.
        review_subjects: None,
        review_provinces: None,
    };
    crate::accounts::change_role(&caller, &app, id, request).await?;
    Ok(see_other("/quan-tri"))
}

/// `POST /quan-tri/khoa`: the new key's token is shown on this page only.
pub async fn admin_key(req: HttpRequest, body: web::Bytes, app: web::Data<App>) -> PageResult {
    let form = Fields::parse(&body);
    let caller = form.caller(&req, &app).await?;
    let request = KeyRequest {
        name: form.get("name").unwrap_or("").to_owned(),
        scopes: form.all("scopes"),
        organization: form.get("organization").map(str::to_owned),
    };
    let (key, token) = crate::accounts::issue_key(&caller, &app, request).await?;
    let notice = format!(
        r#"<div class="ok" role="status"><p>Đã tạo khoá «{}». Hãy sao chép ngay: khoá chỉ hiện một lần.</p><p><code id="new-token">{}</code></p></div>"#,
        esc(&key.name),
        esc(&token)
    );
    render(caller, &app, Some(notice)).await
}

/// `POST /quan-tri/khoa/{id}/thu-hoi`.
pub async fn admin_revoke(
    req: HttpRequest,
    path: web::Path<String>,
    body: web::Bytes,
    app: web::Data<App>,
) -> PageResult {
    let form = Fields::parse(&body);
    let caller = form.caller(&req, &app).await?;
    let id = crate::handlers::parse_id(&path, "API key")?;
    crate::accounts::revoke(&caller, &app, id).await?;
    Ok(see_other("/quan-tri"))
}
