//! Text of Office Open XML (DOCX, PPTX, XLSX) and OpenDocument (ODT, ODP, ODS) files, read
//! straight from their XML parts; conversion to PDF by LibreOffice for page images.

use std::path::{Path, PathBuf};

use hoclieu_domain::preview::Limits;
use quick_xml::events::Event;

use crate::zipread::Zip;
use crate::{Error, Options, Result, process};

/// The text of an Office or OpenDocument file: paragraphs on their own lines, slides (and
/// then their speaker notes) in order, a spreadsheet's strings.
pub fn text(path: &Path, media_type: &str, limits: &Limits) -> Result<String> {
    let mut zip = Zip::open(path, limits)?;
    let mut out = String::new();
    match media_type {
        t if t.ends_with("wordprocessingml.document") => {
            part(&mut zip, "word/document.xml", Markup::OOXML, &mut out)?;
        }
        t if t.ends_with("presentationml.presentation") => {
            for name in numbered(&zip, "ppt/slides/slide") {
                part(&mut zip, &name, Markup::OOXML, &mut out)?;
                out.push('\n');
            }
            for name in numbered(&zip, "ppt/notesSlides/notesSlide") {
                part(&mut zip, &name, Markup::OOXML, &mut out)?;
                out.push('\n');
            }
        }
        t if t.ends_with("spreadsheetml.sheet") => {
            // Shared strings, then strings written inline in the sheets (some writers do).
            part(&mut zip, "xl/sharedStrings.xml", Markup::SHARED_STRINGS, &mut out)?;
            for name in numbered(&zip, "xl/worksheets/sheet") {
                part(&mut zip, &name, Markup::SHEET, &mut out)?;
            }
        }
        _ => {
            if !zip.contains("content.xml") {
                return Err(Error::Corrupt("no content.xml: not an OpenDocument file".into()));
            }
            part(&mut zip, "content.xml", Markup::ODF, &mut out)?;
        }
    }
    Ok(out)
}

/// Parts named `{prefix}{n}.xml`, in the order of `n` (slide 10 after slide 9).
fn numbered(zip: &Zip, prefix: &str) -> Vec<String> {
    let mut found: Vec<(u32, String)> = zip
        .names()
        .filter_map(|n| {
            let num = n.strip_prefix(prefix)?.strip_suffix(".xml")?.parse().ok()?;
            Some((num, n.to_owned()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, n)| n).collect()
}

fn part(zip: &mut Zip, name: &str, markup: Markup, out: &mut String) -> Result<()> {
    let Some(xml) = zip.read(name)? else {
        return Ok(());
    };
    xml_text(&xml, markup, out).map_err(|e| Error::Corrupt(format!("{name}: {e}")))
}

/// Which elements of an XML vocabulary hold text and which end a line.
#[derive(Clone, Copy)]
pub(crate) struct Markup {
    /// Local names whose text content is kept (`None`: all text).
    pub text: Option<&'static [&'static str]>,
    /// Local names after which a line ends.
    pub blocks: &'static [&'static str],
}

impl Markup {
    const OOXML: Markup = Markup { text: Some(&["t"]), blocks: &["p"] };
    const SHARED_STRINGS: Markup = Markup { text: Some(&["t"]), blocks: &["si"] };
    /// Inline strings (`<is><t>`) only: cell values (`<v>`) are numbers or shared-string indexes.
    const SHEET: Markup = Markup { text: Some(&["t"]), blocks: &["row"] };
    const ODF: Markup = Markup { text: Some(&["p", "h"]), blocks: &["p", "h"] };
}

/// Appends the text of `xml` to `out` following `markup`. Tabs, line breaks and ODF's
/// `<text:s/>` become whitespace; entities are resolved.
pub(crate) fn xml_text(xml: &[u8], markup: Markup, out: &mut String) -> Result<(), quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut inside = 0usize;
    let keeps = |name: &str| markup.text.is_some_and(|t| t.contains(&name));
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) if keeps(e.local_name().as_ref()) => inside += 1,
            Event::Empty(e) => match e.local_name().as_ref() {
                "tab" => out.push('\t'),
                "br" | "line-break" => out.push('\n'),
                "s" => out.push(' '),
                name if markup.blocks.contains(&name) => out.push('\n'),
                _ => {}
            },
            Event::End(e) => {
                let name = e.local_name();
                if keeps(name.as_ref()) {
                    inside = inside.saturating_sub(1);
                }
                if markup.blocks.contains(&name.as_ref()) {
                    out.push('\n');
                }
            }
            Event::Text(t) if inside > 0 || markup.text.is_none() => out.push_str(&t.xml10_content()),
            Event::CData(t) if inside > 0 || markup.text.is_none() => out.push_str(&t),
            Event::GeneralRef(r) if inside > 0 || markup.text.is_none() => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    out.push(c);
                } else if let Some(c) = predefined_entity(&r) {
                    out.push(c);
                }
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(())
}

pub(crate) fn predefined_entity(name: &str) -> Option<char> {
    Some(match name {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "apos" => '\'',
        "quot" => '"',
        "nbsp" => ' ',
        _ => return None,
    })
}

/// Converts an Office file to PDF with LibreOffice headless, in `work`. The input's name must
/// carry its extension (LibreOffice picks the import filter from it).
pub fn to_pdf(path: &Path, work: &Path, options: &Options) -> Result<PathBuf> {
    let program = options.converters.soffice.as_ref().ok_or_else(|| Error::Converter {
        program: "LibreOffice".into(),
        message: "not installed on this server".into(),
    })?;
    let profile = work.join("lo-profile");
    let out_dir = work.join("pdf");
    std::fs::create_dir_all(&out_dir)?;
    // A private profile per conversion: concurrent conversions do not share LibreOffice's lock.
    let profile_arg = format!("-env:UserInstallation=file://{}", profile.display());
    let args: Vec<std::ffi::OsString> = vec![
        "--headless".into(),
        "--norestore".into(),
        "--nolockcheck".into(),
        profile_arg.into(),
        "--convert-to".into(),
        "pdf".into(),
        "--outdir".into(),
        out_dir.clone().into(),
        path.into(),
    ];
    process::run(program, &args, options)?;
    let stem = path.file_stem().unwrap_or_default();
    let pdf = out_dir.join(stem).with_extension("pdf");
    if !pdf.is_file() {
        return Err(Error::Converter { program: "LibreOffice".into(), message: "produced no PDF".into() });
    }
    Ok(pdf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ooxml_paragraphs_tabs_and_entities() {
        let xml = r#"<w:document xmlns:w="x"><w:body>
            <w:p><w:r><w:t>Bài 1:</w:t><w:tab/><w:t xml:space="preserve"> Tập hợp &amp; phần tử</w:t></w:r></w:p>
            <w:p><w:r><w:instrText>IGNORED</w:instrText><w:t>Ví dụ &#x31;</w:t></w:r></w:p>
        </w:body></w:document>"#;
        let mut out = String::new();
        xml_text(xml.as_bytes(), Markup::OOXML, &mut out).unwrap();
        assert_eq!(out, "Bài 1:\t Tập hợp & phần tử\nVí dụ 1\n");
    }

    #[test]
    fn odf_spaces_and_headings() {
        let xml = r#"<office:document-content xmlns:office="o" xmlns:text="t"><office:body><office:text>
            <text:h>Chương I</text:h><text:p>Số<text:s/>tự nhiên<text:line-break/>lớp 6</text:p>
        </office:text></office:body></office:document-content>"#;
        let mut out = String::new();
        xml_text(xml.as_bytes(), Markup::ODF, &mut out).unwrap();
        assert_eq!(out, "Chương I\nSố tự nhiên\nlớp 6\n");
    }
}
