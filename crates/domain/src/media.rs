//! Media types from content: what a file is, decided from its first bytes rather than from what
//! the client claims. The extension only refines a decision the bytes allow (a zip that is an
//! Office document, a text file that is CSV).

/// How many leading bytes [`sniff`] looks at. Callers buffer this much of a stream.
pub const SNIFF_LEN: usize = 64 * 1024;

/// The outcome of sniffing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    pub media_type: String,
    /// Programs (EXE, ELF, Mach-O, DEX…): refused by the service.
    pub executable: bool,
}

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const ZIP: &str = "application/zip";
const OCTET: &str = "application/octet-stream";

/// The media type of a file from its first bytes (`head`, up to [`SNIFF_LEN`]) and its name.
pub fn sniff(head: &[u8], file_name: &str) -> Sniffed {
    let by_name = mime_guess::from_path(file_name).first().map(|m| m.essence_str().to_owned());
    if head.is_empty() {
        return Sniffed { media_type: "application/x-empty".into(), executable: false };
    }
    if let Some(kind) = infer::get(head) {
        let executable = kind.matcher_type() == infer::MatcherType::App;
        let media_type = match kind.mime_type() {
            ZIP => zip_kind(head).map(str::to_owned).unwrap_or_else(|| office_by_name(by_name.as_deref(), ZIP)),
            // Old Office formats share one container: the extension tells which.
            "application/x-ole-storage" => office_by_name(by_name.as_deref(), "application/x-ole-storage"),
            other => other.to_owned(),
        };
        return Sniffed { media_type, executable };
    }
    if looks_like_text(head) {
        let media_type = match by_name {
            Some(m) if is_text_type(&m) => m,
            _ if starts_like_html(head) => "text/html".into(),
            _ => "text/plain".into(),
        };
        return Sniffed { media_type, executable: false };
    }
    Sniffed { media_type: OCTET.into(), executable: false }
}

/// For a container whose bytes cannot tell its exact type, the extension's type when it is one
/// of the formats that use this container; `fallback` otherwise.
fn office_by_name(by_name: Option<&str>, fallback: &str) -> String {
    const ZIP_BASED: [&str; 9] = [
        DOCX,
        PPTX,
        XLSX,
        "application/vnd.oasis.opendocument.text",
        "application/vnd.oasis.opendocument.presentation",
        "application/vnd.oasis.opendocument.spreadsheet",
        "application/epub+zip",
        "application/java-archive",
        ZIP,
    ];
    const OLE_BASED: [&str; 3] = ["application/msword", "application/vnd.ms-powerpoint", "application/vnd.ms-excel"];
    match by_name {
        Some(m) if fallback == ZIP && ZIP_BASED.contains(&m) && m != "application/java-archive" => m.to_owned(),
        Some(m) if fallback != ZIP && OLE_BASED.contains(&m) => m.to_owned(),
        _ => fallback.to_owned(),
    }
}

/// The type of a zip from the names of its first entries (OOXML puts `word/`, `ppt/` or `xl/`
/// parts early; ODF and EPUB start with an uncompressed `mimetype` entry).
fn zip_kind(head: &[u8]) -> Option<&'static str> {
    let mut at = 0;
    while at + 30 <= head.len() && head[at..].starts_with(b"PK\x03\x04") {
        let u16_at = |o: usize| u16::from_le_bytes([head[at + o], head[at + o + 1]]) as usize;
        let u32_at = |o: usize| {
            u32::from_le_bytes([head[at + o], head[at + o + 1], head[at + o + 2], head[at + o + 3]]) as usize
        };
        let flags = u16_at(6);
        let compressed = u32_at(18);
        let name_len = u16_at(26);
        let extra_len = u16_at(28);
        let name_end = at + 30 + name_len;
        let name = head.get(at + 30..name_end)?;
        if name.starts_with(b"word/") {
            return Some(DOCX);
        }
        if name.starts_with(b"ppt/") {
            return Some(PPTX);
        }
        if name.starts_with(b"xl/") {
            return Some(XLSX);
        }
        if name == b"mimetype" {
            let data = head.get(name_end + extra_len..name_end + extra_len + compressed)?;
            return match data {
                b"application/vnd.oasis.opendocument.text" => Some("application/vnd.oasis.opendocument.text"),
                b"application/vnd.oasis.opendocument.presentation" => {
                    Some("application/vnd.oasis.opendocument.presentation")
                }
                b"application/vnd.oasis.opendocument.spreadsheet" => {
                    Some("application/vnd.oasis.opendocument.spreadsheet")
                }
                b"application/epub+zip" => Some("application/epub+zip"),
                _ => None,
            };
        }
        // Sizes are unknown here when written with a data descriptor: stop looking.
        if flags & 0x08 != 0 {
            return None;
        }
        at = name_end + extra_len + compressed;
    }
    None
}

fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(_) => true,
        // A multi-byte character cut by the end of the buffer is still text.
        Err(e) => e.error_len().is_none() && head.len() - e.valid_up_to() < 4,
    };
    valid && !head.iter().any(|&b| b == 0 || (b < 0x20 && !matches!(b, b'\n' | b'\r' | b'\t' | 0x0c)))
}

fn starts_like_html(head: &[u8]) -> bool {
    let start = String::from_utf8_lossy(&head[..head.len().min(512)])
        .trim_start_matches('\u{feff}')
        .trim_start()
        .to_ascii_lowercase();
    start.starts_with("<!doctype html") || start.starts_with("<html")
}

fn is_text_type(m: &str) -> bool {
    m.starts_with("text/")
        || matches!(m, "application/json" | "application/xml" | "image/svg+xml" | "application/javascript")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zip_with(first_entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut out = Vec::new();
        for (name, data) in first_entries {
            out.extend_from_slice(b"PK\x03\x04");
            out.extend_from_slice(&[20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(data.len() as u32).to_le_bytes());
            out.extend_from_slice(&(name.len() as u16).to_le_bytes());
            out.extend_from_slice(&0u16.to_le_bytes());
            out.extend_from_slice(name.as_bytes());
            out.extend_from_slice(data);
        }
        out
    }

    #[test]
    fn office_zips_are_told_apart_by_their_entries() {
        let docx =
            zip_with(&[("[Content_Types].xml", b"<x/>"), ("_rels/.rels", b"<r/>"), ("word/document.xml", b"<w/>")]);
        assert_eq!(sniff(&docx, "anything.bin").media_type, DOCX);
        let pptx = zip_with(&[("[Content_Types].xml", b"<x/>"), ("ppt/presentation.xml", b"<p/>")]);
        assert_eq!(sniff(&pptx, "slides.zip").media_type, PPTX);
        let odp = zip_with(&[("mimetype", b"application/vnd.oasis.opendocument.presentation")]);
        assert_eq!(sniff(&odp, "x").media_type, "application/vnd.oasis.opendocument.presentation");
        let plain = zip_with(&[("index.html", b"<html>")]);
        assert_eq!(sniff(&plain, "goi-html5.zip").media_type, ZIP);
        // Undecidable from the bytes: the extension may refine, but only within zip formats.
        let opaque = zip_with(&[("[Content_Types].xml", b"<x/>")]);
        assert_eq!(sniff(&opaque, "Giáo án.docx").media_type, DOCX);
        assert_eq!(sniff(&opaque, "Giáo án.pdf").media_type, ZIP);
    }

    #[test]
    fn the_name_cannot_change_what_the_bytes_say() {
        assert_eq!(sniff(b"%PDF-1.7\n...", "bai-giang.docx").media_type, "application/pdf");
        assert_eq!(sniff(b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", "anh.jpg").media_type, "image/png");
        let exe = sniff(b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0", "giao-an.pdf");
        assert!(exe.executable);
        let mut elf_header = b"\x7fELF\x02\x01\x01".to_vec();
        elf_header.resize(64, 0);
        let elf = sniff(&elf_header, "bai-tap.docx");
        assert!(elf.executable);
    }

    #[test]
    fn text_uses_the_extension_only_for_text_types() {
        assert_eq!(sniff("Họ tên,Điểm\nAn,9\n".as_bytes(), "diem.csv").media_type, "text/csv");
        assert_eq!(sniff(b"<!DOCTYPE html><html>", "trang").media_type, "text/html");
        assert_eq!(sniff("Xin chào".as_bytes(), "x.pdf").media_type, "text/plain");
        // A multi-byte character cut at the end of the buffer.
        let cut = &"Việt".as_bytes()[..4];
        assert_eq!(sniff(cut, "a.txt").media_type, "text/plain");
        assert_eq!(sniff(&[0, 1, 2, 3, 200], "a.txt").media_type, OCTET);
        assert_eq!(sniff(b"", "a.txt").media_type, "application/x-empty");
    }
}
