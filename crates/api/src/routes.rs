//! Every route of the service, in one place. Each path is one resource with its methods: another
//! method answers 405 with `Allow`, in the JSON error shape.

use actix_web::http::Method;
use actix_web::{HttpResponse, web};

use crate::error::ApiError;
use crate::{accounts, handlers, pages, tus};

/// `resource!(cfg, "/path", GET => handler, POST => other)`.
macro_rules! resource {
    ($cfg:expr, $path:expr, $($method:ident => $handler:expr),+ $(,)?) => {
        $cfg.service(
            web::resource($path)
                $(.route(web::method(Method::$method).to($handler)))+
                .default_service(web::to(|| async {
                    Err::<HttpResponse, _>(ApiError::method_not_allowed(&[$(stringify!($method)),+]))
                })),
        )
    };
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Web pages (Vietnamese paths).
    resource!(cfg, "/", GET => pages::search);
    resource!(cfg, "/tai-lieu/{id}", GET => pages::material);
    resource!(cfg, "/dang-nhap", GET => pages::sign_in_form, POST => pages::sign_in_submit);
    resource!(cfg, "/dang-xuat", POST => pages::sign_out);
    resource!(cfg, "/tai-len", GET => pages::upload_form);
    resource!(cfg, "/cua-toi", GET => pages::mine);
    resource!(cfg, "/cua-toi/{id}/sua", GET => pages::edit_form);
    resource!(cfg, "/hoc-lieu/{id}/buoc", POST => pages::take_step);
    resource!(cfg, "/tham-dinh", GET => pages::review_queue);
    resource!(cfg, "/tham-dinh/{id}", GET => pages::review_material);
    resource!(cfg, "/tham-dinh/{id}/phien-ban/{number}", GET => pages::review_version);
    resource!(cfg, "/hoc-lieu/{id}/phien-ban/{number}/buoc", POST => pages::version_step);
    resource!(cfg, "/quan-tri", GET => pages::admin);
    resource!(cfg, "/quan-tri/nguoi-dung/{id}/vai-tro", POST => pages::admin_role);
    resource!(cfg, "/quan-tri/khoa", POST => pages::admin_key);
    resource!(cfg, "/quan-tri/khoa/{id}/thu-hoi", POST => pages::admin_revoke);
    resource!(cfg, "/static/{name}", GET => pages::static_file);
    // Packages run their own scripts: a path of their own, sandboxed (see preview.rs).
    resource!(cfg, "/goi/{material}/{file}/{path:.*}", GET => handlers::package_entry);
    resource!(cfg, "/healthz", GET => handlers::healthz);
    resource!(cfg, "/readyz", GET => handlers::readyz);
    cfg.service(web::scope("/api/v1").configure(api).default_service(web::to(handlers::not_found)));
    cfg.default_service(web::to(handlers::not_found));
}

fn api(cfg: &mut web::ServiceConfig) {
    resource!(cfg, "/auth/login", POST => accounts::login);
    resource!(cfg, "/auth/logout", POST => accounts::logout);
    resource!(cfg, "/auth/me", GET => accounts::me);
    resource!(cfg, "/auth/password", POST => accounts::change_password);
    resource!(cfg, "/me/materials", GET => accounts::my_materials);
    resource!(cfg, "/review/queue", GET => accounts::review_queue);
    resource!(cfg, "/audit", GET => accounts::audit);
    resource!(cfg, "/users", GET => accounts::users, POST => accounts::create_user);
    resource!(cfg, "/users/{id}/role", POST => accounts::set_role);
    resource!(cfg, "/users/{id}/disable", POST => accounts::disable_user);
    resource!(cfg, "/keys", GET => accounts::keys, POST => accounts::create_key);
    resource!(cfg, "/keys/{id}", DELETE => accounts::revoke_key);
    resource!(cfg, "/search", GET => handlers::search);
    resource!(cfg, "/suggest", GET => handlers::suggest);
    resource!(cfg, "/vocabularies", GET => handlers::vocabularies);
    resource!(cfg, "/materials", POST => handlers::create_material);
    resource!(cfg, "/uploads", OPTIONS => tus::options, POST => tus::create);
    resource!(cfg, "/uploads/{id}", HEAD => tus::head, PATCH => tus::patch, DELETE => tus::delete, GET => tus::status);
    resource!(cfg, "/uploads/{id}/material", POST => tus::finish);
    resource!(cfg, "/materials/by-external-id/{external_id}", GET => handlers::get_material_by_external_id);
    resource!(cfg, "/materials/{id}", GET => handlers::get_material, DELETE => handlers::delete_material, PUT => accounts::edit);
    resource!(cfg, "/materials/{id}/versions", GET => accounts::versions, POST => accounts::new_version);
    resource!(
        cfg,
        "/materials/{id}/versions/{number}/files/{file_id}/download",
        GET => accounts::version_download
    );
    resource!(cfg, "/materials/{id}/versions/{number}/{step}", POST => accounts::version_step);
    resource!(cfg, "/materials/{id}/{step}", POST => accounts::step);
    resource!(cfg, "/materials/{id}/files/{file_id}/download", GET => handlers::download, HEAD => handlers::download);
    resource!(cfg, "/materials/{id}/files/{file_id}/preview", GET => handlers::preview);
    resource!(cfg, "/materials/{id}/files/{file_id}/preview/{name}", GET => handlers::preview_image);
}
