//! Static assets embedded in the binary, served under names that carry a hash of their content,
//! so browsers and CDNs may keep them for a year and a new release is fetched at once.

use std::hash::{Hash, Hasher};
use std::sync::LazyLock;

use actix_web::http::header;
use actix_web::{HttpResponse, web};

struct Asset {
    /// The name pages use (`site.css`).
    name: &'static str,
    /// The name served (`site.0123abcd.css`).
    served: String,
    content_type: &'static str,
    body: &'static str,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    [
        ("site.css", "text/css; charset=utf-8", include_str!("../../assets/site.css")),
        ("site.js", "text/javascript; charset=utf-8", include_str!("../../assets/site.js")),
        ("upload.js", "text/javascript; charset=utf-8", include_str!("../../assets/upload.js")),
    ]
    .into_iter()
    .map(|(name, content_type, body)| {
        // SipHash with fixed keys: the same content gives the same name in every build.
        let mut h = std::hash::DefaultHasher::new();
        body.hash(&mut h);
        let (stem, ext) = name.rsplit_once('.').expect("asset names have an extension");
        Asset { name, served: format!("{stem}.{:016x}.{ext}", h.finish()), content_type, body }
    })
    .collect()
});

/// The URL of an asset by its plain name.
pub fn url(name: &str) -> String {
    let asset = ASSETS.iter().find(|a| a.name == name).expect("a known asset");
    format!("/static/{}", asset.served)
}

/// `GET /static/{name}`.
pub async fn static_file(path: web::Path<String>) -> HttpResponse {
    match ASSETS.iter().find(|a| a.served == *path) {
        Some(a) => HttpResponse::Ok()
            .content_type(a.content_type)
            .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"))
            .body(a.body),
        None => HttpResponse::NotFound()
            .content_type("text/plain; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .body("Không có tệp này."),
    }
}
