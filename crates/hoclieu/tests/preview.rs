//! Previews and text extraction through the running service: background jobs derive every
//! uploaded file; manifests, images, Range playback, sandboxed packages, search on the text
//! inside files, and graceful failure (corrupt files, missing converters, dedicated workers).

mod support;

use std::time::{Duration, Instant};

use serde_json::Value;
use support::*;

const META: &str = r#"{"title":"Tài liệu thử xem trước","subject":"toan","grade":9,"resource_type":"bai-giang"}"#;

fn demo(name: &str) -> Vec<u8> {
    std::fs::read(repo().join("fixtures/demo/files").join(name)).unwrap()
}

/// Polls a file's preview manifest until it is no longer pending (LibreOffice takes seconds).
fn settled(server: &Server, material: &str, file: &str) -> Value {
    let path = format!("/api/v1/materials/{material}/files/{file}/preview");
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let (status, body) = server.json(&path);
        assert_eq!(status, 200, "{body}");
        if body["status"] != "pending" {
            return body;
        }
        assert!(Instant::now() < deadline, "preview still pending: {body}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

fn file_id(m: &Value, name: &str) -> String {
    m["files"].as_array().unwrap().iter().find(|f| f["name"] == name).unwrap()["id"].as_str().unwrap().to_owned()
}

/// Fetches an image URL: a JPEG that decodes at the size announced, cached for good.
fn check_image(server: &Server, image: &Value) {
    let url = image["url"].as_str().unwrap();
    let r = server.get(url);
    assert_eq!(r.status(), 200, "{url}");
    assert_eq!(header(&r, "content-type"), "image/jpeg");
    assert!(header(&r, "cache-control").contains("immutable"));
    let etag = header(&r, "etag");
    let bytes = bytes_of(r);
    let decoded = image::load_from_memory(&bytes).unwrap();
    assert_eq!(u64::from(decoded.width()), image["width"].as_u64().unwrap());
    assert_eq!(u64::from(decoded.height()), image["height"].as_u64().unwrap());
    let again = server.get_with(url, &[("If-None-Match", &etag)]);
    assert_eq!(again.status(), 304);
}

#[test]
fn every_kind_is_derived_and_served() {
    // One page rendered when derived: the others on request.
    let data = Data::new().with_env("HOCLIEU__PREVIEW__PAGES", "1");
    let token = data.api_key("admin");
    let server = data.serve(&[]);
    let pdf = demo("Chuyên đề Đường tròn - Toán 9.pdf");
    let pptx = demo("Bài giảng Hoá 10 - Cấu tạo nguyên tử.pptx");
    let mp4 = demo("video-vat-li-10-roi-tu-do.mp4");
    let png = demo("dinh-li-pythagore.png");
    let scorm = demo("scorm-khtn-6-cac-the-cua-chat.zip");
    let corrupt = std::fs::read(repo().join("fixtures/preview/hong-bai-tap.pdf")).unwrap();
    let files: [(&str, &[u8]); 6] = [
        ("Chuyên đề Đường tròn.pdf", &pdf),
        ("Bài giảng nguyên tử.pptx", &pptx),
        ("Rơi tự do.mp4", &mp4),
        ("Định lí Pythagore.png", &png),
        ("Các thể của chất.zip", &scorm),
        ("Hỏng.pdf", &corrupt),
    ];
    let (status, m) = server.upload(Some(&token), META, &files);
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap();
    assert!(
        m["files"]
            .as_array()
            .unwrap()
            .iter()
            .all(|f| f["preview"]["status"] == "pending" || f["preview"]["status"] == "ready")
    );

    // PDF: pages rendered in process at two widths.
    let pdf_preview = settled(&server, id, &file_id(&m, "Chuyên đề Đường tròn.pdf"));
    assert_eq!(pdf_preview["status"], "ready", "{pdf_preview}");
    assert_eq!(pdf_preview["kind"], "pdf");
    assert!(pdf_preview["pages"].as_u64().unwrap() >= 2);
    let images = pdf_preview["images"].as_array().unwrap();
    assert!(images.iter().any(|i| i["width"] == 320) && images.iter().any(|i| i["width"] == 1024), "{pdf_preview}");
    for image in images {
        check_image(&server, image);
    }
    // Further pages are rendered on request, at the configured widths only.
    assert!(images.iter().all(|i| i["page"] == 1));
    let template = pdf_preview["page_url_template"].as_str().unwrap();
    let page = |p: u32, w: u32| template.replace("{page}", &p.to_string()).replace("{width}", &w.to_string());
    let r = server.get(&page(2, 320));
    assert_eq!(r.status(), 200);
    let second = image::load_from_memory(&bytes_of(r)).unwrap();
    assert_eq!(second.width(), 320);
    assert_eq!(server.get(&page(2, 500)).status(), 404, "not a configured width");
    let beyond = pdf_preview["pages_available"].as_u64().unwrap() as u32 + 1;
    assert_eq!(server.get(&page(beyond, 320)).status(), 404, "no such page");

    // PPTX: converted by LibreOffice, then pages.
    let slides = settled(&server, id, &file_id(&m, "Bài giảng nguyên tử.pptx"));
    assert_eq!((slides["status"].as_str(), slides["kind"].as_str()), (Some("ready"), Some("office")), "{slides}");
    assert!(slides["pages"].as_u64().unwrap() >= 2, "{slides}");
    check_image(&server, &slides["images"][0]);
    // The next slide, from the PDF LibreOffice made.
    let next = slides["page_url_template"].as_str().unwrap().replace("{page}", "2").replace("{width}", "1024");
    let r = server.get(&next);
    assert_eq!(r.status(), 200);
    assert_eq!(image::load_from_memory(&bytes_of(r)).unwrap().width(), 1024);

    // Video: duration, size, a poster, and playback with seeking.
    let video = settled(&server, id, &file_id(&m, "Rơi tự do.mp4"));
    assert_eq!(video["status"], "ready", "{video}");
    assert!(video["duration_ms"].as_u64().unwrap() > 1000);
    assert_eq!((video["width"].as_u64(), video["height"].as_u64()), (Some(320), Some(180)));
    check_image(&server, &video["images"][0]);
    let stream = video["stream_url"].as_str().unwrap();
    let r = server.get_with(stream, &[("Range", "bytes=100-199")]);
    assert_eq!(r.status(), 206);
    assert!(header(&r, "content-disposition").starts_with("inline;"));
    assert_eq!(bytes_of(r), mp4[100..200]);

    // Image: thumbnails.
    let picture = settled(&server, id, &file_id(&m, "Định lí Pythagore.png"));
    assert_eq!(picture["kind"], "image");
    check_image(&server, &picture["thumbnail_url"].as_str().map(|u| serde_json::json!({"url": u, "width": picture["images"][0]["width"], "height": picture["images"][0]["height"]})).unwrap());

    // SCORM: served from inside the zip, sandboxed, launch page from the manifest.
    let package = settled(&server, id, &file_id(&m, "Các thể của chất.zip"));
    assert_eq!(package["status"], "ready", "{package}");
    assert_eq!(package["package"]["scorm"], true);
    assert_eq!(package["package"]["launch"], "lesson/launch.html");
    let launch = package["package"]["launch_url"].as_str().unwrap();
    let r = server.get(launch);
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "content-security-policy"), "sandbox allow-scripts; frame-ancestors 'self'");
    assert_eq!(header(&r, "x-frame-options"), "SAMEORIGIN", "framed by the material page only");
    assert!(header(&r, "content-type").starts_with("text/html"));
    let page = String::from_utf8(bytes_of(r)).unwrap();
    assert!(page.contains("Các thể của chất"), "inflated from the zip: {page}");
    let base = launch.trim_end_matches("lesson/launch.html");
    let r = server.get(base);
    assert_eq!(r.status(), 302);
    assert_eq!(header(&r, "location"), launch);
    let css = server.get(&format!("{base}lesson/style.css"));
    assert_eq!(css.status(), 200);
    assert!(header(&css, "content-type").starts_with("text/css"));
    assert_eq!(server.get(&format!("{base}lesson/khong-co.js")).status(), 404);
    assert_eq!(server.get(&format!("{base}../../etc/passwd")).status(), 404);

    // A corrupt PDF: the preview says why; the file still downloads; the service is healthy.
    let broken = settled(&server, id, &file_id(&m, "Hỏng.pdf"));
    assert_eq!(broken["status"], "failed");
    assert!(!broken["reason"].as_str().unwrap().is_empty(), "{broken}");
    let r = server.get(broken["download_url"].as_str().unwrap());
    assert_eq!(r.status(), 200);
    assert_eq!(bytes_of(r), corrupt);
    assert_eq!(server.json("/readyz").0, 200);

    // Words that occur only inside the PDF find the material, with a snippet and a thumbnail.
    let found = server.wait_for_hits("day cung duong kinh", 1);
    let hit = &found["hits"][0];
    assert_eq!(hit["id"], id);
    assert!(hit["snippet"].as_str().unwrap().contains("<mark>"), "{hit}");
    let thumb = hit["thumbnail_url"].as_str().expect("a thumbnail in the hit");
    assert_eq!(server.get(thumb).status(), 200);
    let (_, fetched) = server.json(&format!("/api/v1/materials/{id}"));
    assert!(fetched["files"].as_array().unwrap().iter().all(|f| f["preview"]["status"] != "pending"));
}

#[test]
fn without_converters_and_with_a_dedicated_worker() {
    // The server runs no jobs; converters are "not installed".
    let data = Data::new()
        .with_env("HOCLIEU__PREVIEW__WORKERS", "0")
        .with_env("HOCLIEU__PREVIEW__DISABLED_CONVERTERS", r#"["soffice","pdftoppm","ffmpeg","ffprobe"]"#);
    let token = data.api_key("admin");
    let server = data.serve(&[]);
    let pptx = demo("Bài giảng Hoá 10 - Cấu tạo nguyên tử.pptx");
    let (status, m) = server.upload(Some(&token), META, &[("Nguyên tử.pptx", &pptx)]);
    assert_eq!(status, 201, "{m}");
    let id = m["id"].as_str().unwrap();
    let file = file_id(&m, "Nguyên tử.pptx");
    std::thread::sleep(Duration::from_millis(500));
    let (_, pending) = server.json(&format!("/api/v1/materials/{id}/files/{file}/preview"));
    assert_eq!(pending["status"], "pending", "no worker in this server");

    // A dedicated worker process drains the queue.
    let out = data.run(&["worker", "--until-idle"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("1 jobs run"));
    let preview = settled(&server, id, &file);
    assert_eq!(preview["status"], "ready", "{preview}");
    assert!(preview["images"].as_array().unwrap().is_empty());
    let notes = preview["notes"].to_string();
    assert!(notes.contains("LibreOffice") && notes.contains("not installed"), "{notes}");
    // The text was still extracted: a word of the slides finds the material.
    server.wait_for_hits("proton neutron electron", 1);
    let r = server.get(preview["download_url"].as_str().unwrap());
    assert_eq!(r.status(), 200);
    assert_eq!(bytes_of(r).len(), pptx.len());
}
