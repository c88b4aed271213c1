//! Every route of the service, in one place.

use actix_web::web;

use crate::{accounts, handlers, pages, tus};

pub fn configure(cfg: &mut web::ServiceConfig) {
    // Web pages (Vietnamese paths).
    cfg.route("/", web::get().to(pages::search))
        .route("/tai-lieu/{id}", web::get().to(pages::material))
        .route("/dang-nhap", web::get().to(pages::sign_in_form))
        .route("/dang-nhap", web::post().to(pages::sign_in_submit))
        .route("/dang-xuat", web::post().to(pages::sign_out))
        .route("/tai-len", web::get().to(pages::upload_form))
        .route("/cua-toi", web::get().to(pages::mine))
        .route("/cua-toi/{id}/sua", web::get().to(pages::edit_form))
        .route("/hoc-lieu/{id}/buoc", web::post().to(pages::take_step))
        .route("/tham-dinh", web::get().to(pages::review_queue))
        .route("/tham-dinh/{id}", web::get().to(pages::review_material))
        .route("/tham-dinh/{id}/phien-ban/{number}", web::get().to(pages::review_version))
        .route("/hoc-lieu/{id}/phien-ban/{number}/buoc", web::post().to(pages::version_step))
        .route("/quan-tri", web::get().to(pages::admin))
        .route("/quan-tri/nguoi-dung/{id}/vai-tro", web::post().to(pages::admin_role))
        .route("/quan-tri/khoa", web::post().to(pages::admin_key))
        .route("/quan-tri/khoa/{id}/thu-hoi", web::post().to(pages::admin_revoke))
        .route("/static/{name}", web::get().to(pages::static_file))
        // Packages run their own scripts: a path of their own, sandboxed (see preview.rs).
        .route("/goi/{material}/{file}/{path:.*}", web::get().to(handlers::package_entry))
        .route("/healthz", web::get().to(handlers::healthz))
        .route("/readyz", web::get().to(handlers::readyz))
        .service(
            web::scope("/api/v1")
                .route("/auth/login", web::post().to(accounts::login))
                .route("/auth/logout", web::post().to(accounts::logout))
                .route("/auth/me", web::get().to(accounts::me))
                .route("/auth/password", web::post().to(accounts::change_password))
                .route("/me/materials", web::get().to(accounts::my_materials))
                .route("/review/queue", web::get().to(accounts::review_queue))
                .route("/audit", web::get().to(accounts::audit))
                .route("/users", web::get().to(accounts::users))
                .route("/users", web::post().to(accounts::create_user))
                .route("/users/{id}/role", web::post().to(accounts::set_role))
                .route("/users/{id}/disable", web::post().to(accounts::disable_user))
                .route("/keys", web::get().to(accounts::keys))
                .route("/keys", web::post().to(accounts::create_key))
                .route("/keys/{id}", web::delete().to(accounts::revoke_key))
                .route("/search", web::get().to(handlers::search))
                .route("/suggest", web::get().to(handlers::suggest))
                .route("/vocabularies", web::get().to(handlers::vocabularies))
                .route("/materials", web::post().to(handlers::create_material))
                .route("/uploads", web::method(actix_web::http::Method::OPTIONS).to(tus::options))
                .route("/uploads", web::post().to(tus::create))
                .route("/uploads/{id}", web::head().to(tus::head))
                .route("/uploads/{id}", web::patch().to(tus::patch))
                .route("/uploads/{id}", web::delete().to(tus::delete))
                .route("/uploads/{id}", web::get().to(tus::status))
                .route("/uploads/{id}/material", web::post().to(tus::finish))
                .route("/materials/by-external-id/{external_id}", web::get().to(handlers::get_material_by_external_id))
                .route("/materials/{id}", web::get().to(handlers::get_material))
                .route("/materials/{id}", web::delete().to(handlers::delete_material))
                .route("/materials/{id}", web::put().to(accounts::edit))
                .route("/materials/{id}/versions", web::get().to(accounts::versions))
                .route("/materials/{id}/versions", web::post().to(accounts::new_version))
                .route(
                    "/materials/{id}/versions/{number}/files/{file_id}/download",
                    web::get().to(accounts::version_download),
                )
                .route("/materials/{id}/versions/{number}/{step}", web::post().to(accounts::version_step))
                .route("/materials/{id}/{step}", web::post().to(accounts::step))
                .route("/materials/{id}/files/{file_id}/download", web::get().to(handlers::download))
                .route("/materials/{id}/files/{file_id}/download", web::head().to(handlers::download))
                .route("/materials/{id}/files/{file_id}/preview", web::get().to(handlers::preview))
                .route("/materials/{id}/files/{file_id}/preview/{name}", web::get().to(handlers::preview_image)),
        )
        .default_service(web::to(handlers::not_found));
}
