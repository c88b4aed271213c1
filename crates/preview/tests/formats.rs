//! Every supported format, from real files made by the project (fixtures/demo/files and
//! fixtures/preview): extracted text, page images that decode, media facts, packages, hostile
//! files, and what happens without the external converters.
//!
//! The converters (LibreOffice, pdftoppm, ffmpeg, ffprobe) must be installed: `.ci/run` does it,
//! and the README lists the Debian packages.

use std::path::{Path, PathBuf};

use hoclieu_domain::{PreviewKind, text::nfc};
use hoclieu_preview::{Converters, Error, Options, Output, derive};

fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures").join(rel)
}

fn demo(name: &str) -> PathBuf {
    fixture(&format!("demo/files/{name}"))
}

fn installed() -> Options {
    let options = Options::default();
    for (name, path) in options.converters.describe() {
        assert!(path.is_some(), "{name} is not installed: see the README (Debian packages for previews)");
    }
    options
}

fn no_converters() -> Options {
    Options { converters: Converters::default(), ..Options::default() }
}

/// Derives `path` (copied under its own name, as the worker does) in a fresh work directory.
fn run(path: &Path, media_type: &str, options: &Options) -> (Result<Output, Error>, tempfile::TempDir) {
    let work = tempfile::tempdir().unwrap();
    let name = path.file_name().unwrap().to_string_lossy().into_owned();
    let ext = Path::new(&name).extension().map(|e| e.to_string_lossy().into_owned()).unwrap_or_default();
    let input = work.path().join(format!("input.{ext}"));
    std::fs::copy(path, &input).unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let kind = PreviewKind::of(media_type, &name);
    (derive(&input, kind, media_type, &out, options), work)
}

fn text_of(out: &Output) -> &str {
    let text = out.text.as_deref().expect("text extracted");
    assert_eq!(text, nfc(text), "extracted text is NFC");
    text
}

/// Every image listed decodes, at the size the manifest says, no wider than asked.
fn assert_images(out: &Output, widths: &[u32]) {
    assert!(!out.derived.images.is_empty(), "images rendered");
    let image_files: Vec<_> = out.files.iter().filter(|(n, _)| n.ends_with(".jpg")).collect();
    assert_eq!(image_files.len(), out.derived.images.len());
    for (image, (name, path)) in out.derived.images.iter().zip(image_files) {
        assert_eq!(&image.name, name);
        let decoded = image::open(path).unwrap_or_else(|e| panic!("{name} decodes: {e}"));
        assert_eq!((decoded.width(), decoded.height()), (image.width, image.height), "{name}");
        assert!(widths.iter().any(|&w| image.width <= w), "{name} is {} px wide", image.width);
        assert!(image.height > 0);
    }
}

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";

#[test]
fn pdf_text_pages_and_images() {
    let options = installed();
    let (out, _w) = run(&demo("Chuyên đề Đường tròn - Toán 9.pdf"), "application/pdf", &options);
    let out = out.unwrap();
    assert!(text_of(&out).contains("Đường tròn"), "{:?}", out.text);
    let pages = out.derived.pages.unwrap();
    assert!(pages >= 2, "{pages} pages");
    assert_images(&out, &options.limits.widths);
    // Every rendered page at both widths; the thumbnail is the small first page.
    let rendered = pages.min(options.limits.pages) as usize;
    assert_eq!(out.derived.images.len(), rendered * options.limits.widths.len());
    let thumb = out.derived.thumbnail().unwrap();
    assert_eq!((thumb.page, thumb.width), (1, 320));
}

#[test]
fn docx_text_and_pages_through_libreoffice() {
    let options = installed();
    let name = "Kế hoạch bài dạy Toán 10 KNTT - Tập hợp và các phép toán trên tập hợp.docx";
    let (out, _w) = run(&demo(name), DOCX, &options);
    let out = out.unwrap();
    let text = text_of(&out);
    assert!(text.contains("tập hợp") && text.contains("x ∈ A"), "{text}");
    assert!(out.derived.pages.unwrap() >= 1);
    assert_images(&out, &options.limits.widths);
    // The converted PDF is kept for pages rendered later, on request.
    assert_eq!(out.derived.document.as_deref(), Some("document.pdf"));
    let (_, pdf) = out.files.iter().find(|(n, _)| n == "document.pdf").unwrap();
    assert!(std::fs::read(pdf).unwrap().starts_with(b"%PDF"));
    let page = tempfile::tempdir().unwrap();
    let jpeg = page.path().join("p1.jpg");
    let (w, h) = hoclieu_preview::render_page_to(pdf, 1, 200, &jpeg).unwrap();
    assert_eq!(image::open(&jpeg).unwrap().width(), w);
    assert!(w == 200 && h > 0);
    assert!(hoclieu_preview::render_page_to(pdf, 999, 200, &jpeg).is_err(), "no such page");
}

#[test]
fn pptx_slides_and_speaker_notes() {
    let options = installed();
    let (out, _w) = run(&demo("Bài giảng Hoá 10 - Cấu tạo nguyên tử.pptx"), PPTX, &options);
    let out = out.unwrap();
    let text = text_of(&out);
    assert!(text.contains("nguyên tử"), "{text}");
    assert!(text.contains("Hôm nay chúng ta tìm hiểu"), "speaker notes: {text}");
    assert!(out.derived.pages.unwrap() >= 2, "one page per slide");
    assert_images(&out, &options.limits.widths);
}

#[test]
fn xlsx_strings() {
    let (out, _w) = run(&demo("Bài tập Toán 6 - Cộng trừ số nguyên.xlsx"), XLSX, &no_converters());
    let out = out.unwrap();
    assert!(text_of(&out).to_lowercase().contains("số nguyên"), "{:?}", out.text);
}

#[test]
fn opendocument_text_and_presentation() {
    let (odt, _w) = run(
        &fixture("preview/ke-hoach-bai-day-tap-hop.odt"),
        "application/vnd.oasis.opendocument.text",
        &no_converters(),
    );
    assert!(text_of(&odt.unwrap()).contains("tập hợp"));
    let (odp, _w) = run(
        &fixture("preview/bai-giang-cau-tao-nguyen-tu.odp"),
        "application/vnd.oasis.opendocument.presentation",
        &no_converters(),
    );
    assert!(text_of(&odp.unwrap()).contains("nguyên tử"));
}

#[test]
fn html_visible_text_only_and_plain_text() {
    let (out, _w) = run(&fixture("preview/bai-doc-them-quang-hop.html"), "text/html", &no_converters());
    let out = out.unwrap();
    let text = text_of(&out);
    assert!(text.contains("Quang hợp ở thực vật"));
    assert!(text.contains("diệp lục & tổng hợp"), "entities resolved: {text}");
    assert!(!text.contains("không hiển thị"), "scripts and comments skipped: {text}");
    let (out, _w) = run(&fixture("preview/huong-dan-on-tap-ngu-van-9.txt"), "text/plain", &no_converters());
    assert!(text_of(&out.unwrap()).contains("ông Hai"));
}

#[test]
fn image_thumbnails() {
    let options = Options::default();
    for (name, media_type) in
        [("Vòng tuần hoàn của nước.png", "image/png"), ("Cấu tạo tế bào thực vật.jpg", "image/jpeg")]
    {
        let (out, _w) = run(&demo(name), media_type, &options);
        let out = out.unwrap();
        assert!(out.derived.width.unwrap() > 0 && out.derived.height.unwrap() > 0);
        assert_images(&out, &options.limits.widths);
        assert!(out.derived.thumbnail().unwrap().width <= 320);
    }
}

#[test]
fn video_duration_size_and_poster_audio_duration() {
    let options = installed();
    let (out, _w) = run(&demo("video-vat-li-10-roi-tu-do.mp4"), "video/mp4", &options);
    let out = out.unwrap();
    let ms = out.derived.duration_ms.unwrap();
    assert!((2_000..=6_000).contains(&ms), "{ms} ms");
    assert_eq!((out.derived.width, out.derived.height), (Some(320), Some(180)));
    assert_images(&out, &options.limits.widths);
    let (out, _w) = run(&demo("Giai điệu mẫu - Âm nhạc 1.m4a"), "audio/mp4", &options);
    let out = out.unwrap();
    assert!(out.derived.duration_ms.unwrap() > 4_000);
    assert!(out.derived.images.is_empty(), "no poster for audio");
}

#[test]
fn scorm_and_html5_packages() {
    let options = Options::default();
    let (out, _w) = run(&demo("scorm-khtn-6-cac-the-cua-chat.zip"), "application/zip", &options);
    let out = out.unwrap();
    let package = out.derived.package.as_ref().unwrap();
    assert!(package.scorm);
    assert!(package.title.is_some());
    let launch = package.launch.as_deref().unwrap();
    assert!(package.entries.iter().any(|e| e.path == launch), "launch page {launch} is an entry");
    assert!(text_of(&out).len() > 20);
    let (out, _w) = run(&demo("tro-choi-trac-nghiem-phan-so-toan-4.zip"), "application/zip", &options);
    let package = out.unwrap().derived.package.unwrap();
    assert!(!package.scorm);
    assert!(package.launch.unwrap().ends_with(".html"));
}

#[test]
fn corrupt_pdf_fails_with_a_reason() {
    let (out, _w) = run(&fixture("preview/hong-bai-tap.pdf"), "application/pdf", &installed());
    let err = out.unwrap_err();
    assert!(matches!(err, Error::Corrupt(_)), "{err}");
}

#[test]
fn zip_bomb_stops_at_the_limit() {
    let started = std::time::Instant::now();
    let (out, _w) = run(&fixture("preview/bom-giai-nen.zip"), "application/zip", &Options::default());
    let err = out.unwrap_err();
    assert!(matches!(err, Error::Limit(_)), "{err}");
    // Smaller limits stop it sooner: the budget, not the header's claim, decides.
    let mut small = Options::default();
    small.limits.max_unzipped_bytes = 1 << 20;
    let (out, _w) = run(&fixture("preview/bom-giai-nen.zip"), "application/zip", &small);
    assert!(matches!(out.unwrap_err(), Error::Limit(_)));
    eprintln!("bomb refused in {:?}", started.elapsed());
}

#[test]
fn traversal_entries_are_refused() {
    let (out, _w) = run(&fixture("preview/duong-dan-nguy-hiem.zip"), "application/zip", &Options::default());
    match out.unwrap_err() {
        Error::UnsafePath(p) => assert!(p.contains("..")),
        other => panic!("{other}"),
    }
}

#[test]
fn without_converters_previews_say_why() {
    let options = no_converters();
    let (out, _w) = run(&demo("Bài giảng Hoá 10 - Cấu tạo nguyên tử.pptx"), PPTX, &options);
    let out = out.unwrap();
    assert!(text_of(&out).contains("nguyên tử"), "text still extracted");
    assert!(out.derived.images.is_empty());
    assert!(
        out.derived.notes.iter().any(|n| n.contains("LibreOffice") && n.contains("not installed")),
        "{:?}",
        out.derived.notes
    );
    let (out, _w) = run(&demo("video-vat-li-10-roi-tu-do.mp4"), "video/mp4", &options);
    let out = out.unwrap();
    assert!(out.derived.notes.iter().any(|n| n.contains("ffmpeg")), "{:?}", out.derived.notes);
    // PDFs render in process: no converter needed.
    let (out, _w) = run(&demo("dien-tro-dinh-luat-ohm.pdf"), "application/pdf", &options);
    assert_images(&out.unwrap(), &options.limits.widths);
}
