//! Every route of the service, in one place.

use actix_web::web;

use crate::{handlers, pages, tus};

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/", web::get().to(pages::search))
        .route("/tai-lieu/{id}", web::get().to(pages::material))
        // Packages run their own scripts: a path of their own, sandboxed (see preview.rs).
        .route("/goi/{material}/{file}/{path:.*}", web::get().to(handlers::package_entry))
        .route("/healthz", web::get().to(handlers::healthz))
        .route("/readyz", web::get().to(handlers::readyz))
        .service(
            web::scope("/api/v1")
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
                .route("/materials/{id}/files/{file_id}/download", web::get().to(handlers::download))
                .route("/materials/{id}/files/{file_id}/download", web::head().to(handlers::download))
                .route("/materials/{id}/files/{file_id}/preview", web::get().to(handlers::preview))
                .route("/materials/{id}/files/{file_id}/preview/{name}", web::get().to(handlers::preview_image)),
        )
        .default_service(web::to(handlers::not_found));
}
