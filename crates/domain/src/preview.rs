//! What the background worker derives from a file's bytes: its text (for search) and its
//! preview (page images, a thumbnail, a poster frame, the launch page of a package).
//!
//! Derivations belong to a blob (identical bytes are derived once), are stored beside it and can
//! always be derived again.

use serde::{Deserialize, Serialize};

/// How a file is previewed, decided from its media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PreviewKind {
    /// Page images rendered from the PDF.
    Pdf,
    /// An Office or OpenDocument file: converted to PDF (LibreOffice), then previewed as PDF.
    Office,
    Image,
    Video,
    Audio,
    /// An HTML5 or SCORM package (zip), served from inside the zip in a sandbox.
    Package,
    /// Plain text or HTML: the extracted text is the preview.
    Text,
    /// Nothing to preview (an unknown format): the file still downloads.
    None,
}

impl PreviewKind {
    pub fn of(media_type: &str, file_name: &str) -> PreviewKind {
        let lower = file_name.to_lowercase();
        match media_type {
            "application/pdf" => PreviewKind::Pdf,
            t if OFFICE_TYPES.contains(&t) => PreviewKind::Office,
            "image/jpeg" | "image/png" | "image/gif" | "image/webp" | "image/bmp" => PreviewKind::Image,
            t if t.starts_with("video/") => PreviewKind::Video,
            t if t.starts_with("audio/") => PreviewKind::Audio,
            "application/zip" if lower.ends_with(".zip") || lower.ends_with(".scorm") => PreviewKind::Package,
            "text/plain" | "text/html" | "text/csv" | "text/markdown" => PreviewKind::Text,
            _ => PreviewKind::None,
        }
    }
}

/// Office and OpenDocument types whose text is extracted and which LibreOffice converts.
pub const OFFICE_TYPES: [&str; 6] = [
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.oasis.opendocument.text",
    "application/vnd.oasis.opendocument.presentation",
    "application/vnd.oasis.opendocument.spreadsheet",
];

/// Where a file's derivation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DerivedStatus {
    /// Queued or running.
    Pending,
    Ready,
    /// Gave up after the allowed attempts; the reason says why. The file still downloads.
    Failed,
}

impl DerivedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DerivedStatus::Pending => "pending",
            DerivedStatus::Ready => "ready",
            DerivedStatus::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Option<DerivedStatus> {
        match s {
            "pending" => Some(DerivedStatus::Pending),
            "ready" => Some(DerivedStatus::Ready),
            "failed" => Some(DerivedStatus::Failed),
            _ => None,
        }
    }
}

/// A file's derivation as lists and search hits show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewState {
    pub status: DerivedStatus,
    pub kind: PreviewKind,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Object name of the thumbnail under the blob's derived prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<String>,
}

/// One rendered image of a preview, stored beside the blob under `name`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PreviewImage {
    /// Page number (1-based) for documents; 0 for a thumbnail or a poster frame.
    pub page: u32,
    pub width: u32,
    pub height: u32,
    /// The object name under the blob's derived prefix, e.g. `p1-w320.jpg`.
    pub name: String,
}

/// A file inside a package (zip), located so it can be served without unpacking the zip.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageEntry {
    pub path: String,
    /// Offset of the entry's local header in the zip.
    pub offset: u64,
    pub compressed_size: u64,
    pub size: u64,
    /// Stored (0) or deflated (8); other methods are not served.
    pub method: u16,
}

impl PackageEntry {
    /// Largest entry served from a package.
    pub const MAX_SIZE: u64 = 512 << 20;
    /// Largest ratio of decompressed to compressed size served (beyond a first MiB): real web
    /// content compresses 2–20×; a zip bomb, thousands of times.
    pub const MAX_RATIO: u64 = 200;

    /// Whether the entry may be served: stored or deflated, not too large, not a bomb. A stored
    /// entry's sizes must agree.
    pub fn servable(&self) -> bool {
        let sane = match self.method {
            0 => self.size == self.compressed_size,
            8 => self.size <= self.compressed_size.saturating_mul(Self::MAX_RATIO).saturating_add(1 << 20),
            _ => false,
        };
        sane && self.size <= Self::MAX_SIZE
    }
}

/// What a package's manifest (`imsmanifest.xml`) or its layout says.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageInfo {
    pub title: Option<String>,
    pub description: Option<String>,
    /// The launch page: the manifest's first resource with an `href`, else `index.html`.
    pub launch: Option<String>,
    pub scorm: bool,
    pub entries: Vec<PackageEntry>,
}

/// Everything derived from one blob, as stored and as the preview endpoint describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Derived {
    /// Page count of a document (PDF, or an Office file after conversion).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pages: Option<u32>,
    /// Page images, thumbnails and poster frames, smallest width first within a page.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<PreviewImage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<PackageInfo>,
    /// For Office files: the object name of the PDF LibreOffice made, from which further pages
    /// are rendered on request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub document: Option<String>,
    /// Why part of the preview is missing although the job succeeded (a converter that is not
    /// installed, pages beyond the limit).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// The object name of page `page` rendered `width` pixels wide.
pub fn page_image_name(page: u32, width: u32) -> String {
    format!("p{page}-w{width}.jpg")
}

/// The page and width named by [`page_image_name`].
pub fn parse_page_image_name(name: &str) -> Option<(u32, u32)> {
    let (page, width) = name.strip_prefix('p')?.strip_suffix(".jpg")?.split_once("-w")?;
    Some((page.parse().ok()?, width.parse().ok()?))
}

impl Derived {
    /// The image to show in search hits: the smallest image of the first page or the poster.
    pub fn thumbnail(&self) -> Option<&PreviewImage> {
        self.images.iter().filter(|i| i.page <= 1).min_by_key(|i| i.width)
    }
}

/// Safety limits applied to every derivation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Total uncompressed bytes read from a zip (Office files and packages).
    pub max_unzipped_bytes: u64,
    pub max_zip_entries: usize,
    /// Characters of text kept per file for the index.
    pub max_text_chars: usize,
    /// Pages rendered when a document is derived.
    pub pages: u32,
    /// Pages that may be rendered at all (the rest on request, up to this one).
    pub max_pages: u32,
    /// Widths (pixels) of each rendered page image.
    pub widths: Vec<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_unzipped_bytes: 512 << 20,
            max_zip_entries: 10_000,
            max_text_chars: 200_000,
            pages: 3,
            max_pages: 50,
            widths: vec![320, 1024],
        }
    }
}

/// Is `path` (an entry name of a zip) safe to serve or unpack: relative, without `..`, without
/// backslashes or drive letters, and not empty.
pub fn safe_entry_path(path: &str) -> bool {
    !path.is_empty()
        && !path.starts_with('/')
        && !path.contains('\\')
        && !path.contains('\0')
        && !path.split('/').any(|part| part == ".." || part.contains(':'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_media_types() {
        assert_eq!(PreviewKind::of("application/pdf", "a.pdf"), PreviewKind::Pdf);
        assert_eq!(PreviewKind::of(OFFICE_TYPES[1], "bai-giang.pptx"), PreviewKind::Office);
        assert_eq!(PreviewKind::of("video/mp4", "a.mp4"), PreviewKind::Video);
        assert_eq!(PreviewKind::of("application/zip", "goi-scorm.zip"), PreviewKind::Package);
        assert_eq!(PreviewKind::of("application/zip", "x.bin"), PreviewKind::None);
        assert_eq!(PreviewKind::of("application/octet-stream", "x.bin"), PreviewKind::None);
    }

    #[test]
    fn traversal_paths_are_refused() {
        assert!(safe_entry_path("index.html"));
        assert!(safe_entry_path("css/bai 1/style.css"));
        for bad in ["", "/etc/passwd", "../x", "a/../../x", "a\\..\\x", "C:/x", "a/b:c"] {
            assert!(!safe_entry_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn page_image_names_round_trip() {
        assert_eq!(parse_page_image_name(&page_image_name(12, 320)), Some((12, 320)));
        for bad in ["p1-w320.png", "poster-w320.jpg", "p-w1.jpg", "px-w320.jpg", "p1-320.jpg"] {
            assert_eq!(parse_page_image_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn thumbnail_is_the_smallest_first_image() {
        let img = |page, width: u32| PreviewImage { page, width, height: width, name: format!("{page}-{width}") };
        let d = Derived { images: vec![img(1, 1024), img(1, 320), img(2, 320)], ..Default::default() };
        assert_eq!(d.thumbnail().unwrap().name, "1-320");
        assert!(Derived::default().thumbnail().is_none());
    }
}
