//! HTML5 and SCORM packages (zip): the manifest's title, description and launch page, where
//! every file is inside the zip (so it can be served without unpacking), and the launch page's
//! text.

use std::path::Path;

use hoclieu_domain::preview::{Limits, PackageInfo};
use quick_xml::events::{BytesStart, Event};

use crate::zipread::Zip;
use crate::{Error, Result};

pub fn read(path: &Path, limits: &Limits) -> Result<PackageInfo> {
    let mut zip = Zip::open(path, limits)?;
    let mut info = match zip.read("imsmanifest.xml")? {
        Some(xml) => {
            let mut info = manifest(&xml).map_err(|e| Error::Corrupt(format!("imsmanifest.xml: {e}")))?;
            info.scorm = true;
            info
        }
        None => PackageInfo::default(),
    };
    if info.launch.as_deref().is_none_or(|l| !zip.contains(l)) {
        // No manifest (plain HTML5), or one naming a missing page: the shallowest index.html,
        // else the shallowest HTML page.
        let mut pages: Vec<&str> = zip.names().filter(|n| n.ends_with(".html") || n.ends_with(".htm")).collect();
        pages.sort_by_key(|n| (n.matches('/').count(), !n.ends_with("index.html"), n.len()));
        info.launch = pages.first().map(|p| (*p).to_owned());
    }
    if info.launch.is_none() {
        return Err(Error::Corrupt("the package has no HTML page to launch".into()));
    }
    info.entries = zip.entries()?;
    Ok(info)
}

/// Title, description and launch page text.
pub fn text(path: &Path, info: &PackageInfo, limits: &Limits) -> Result<Option<String>> {
    let mut out = String::new();
    for part in [&info.title, &info.description].into_iter().flatten() {
        out.push_str(part);
        out.push('\n');
    }
    if let Some(launch) = &info.launch {
        let mut zip = Zip::open(path, limits)?;
        if let Some(html) = zip.read(launch)? {
            out.push_str(&crate::html::html_to_text(&crate::html::decode(&html)));
        }
    }
    Ok(Some(out))
}

fn href(e: &BytesStart) -> Option<String> {
    e.attributes().flatten().find(|a| a.key.local_name().as_ref() == "href").and_then(|a| {
        let v = a.normalized_value(quick_xml::XmlVersion::Implicit1_0).ok()?.into_owned();
        // Launch pages may carry a query (`index.html?lang=vi`): the entry is the path part.
        let path = v.split(['?', '#']).next().unwrap_or_default().to_owned();
        hoclieu_domain::preview::safe_entry_path(&path).then_some(path)
    })
}

fn manifest(xml: &[u8]) -> Result<PackageInfo, quick_xml::Error> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut info = PackageInfo::default();
    let mut text = String::new();
    loop {
        match reader.read_event_into(&mut buf)? {
            Event::Start(e) => {
                if e.local_name().as_ref() == "resource" && info.launch.is_none() {
                    info.launch = href(&e);
                }
                stack.push(e.local_name().as_ref().to_owned());
                text.clear();
            }
            Event::Empty(e) if e.local_name().as_ref() == "resource" && info.launch.is_none() => {
                info.launch = href(&e);
            }
            Event::Text(t) => text.push_str(&t.xml10_content()),
            Event::GeneralRef(r) => {
                if let Ok(Some(c)) = r.resolve_char_ref() {
                    text.push(c);
                } else if let Some(c) = crate::office::predefined_entity(&r) {
                    text.push(c);
                }
            }
            Event::End(_) => {
                let within = |name: &str| stack.iter().any(|s| s == name);
                let value = text.trim();
                if !value.is_empty() {
                    if within("title") && info.title.is_none() {
                        info.title = Some(value.to_owned());
                    } else if within("description") && info.description.is_none() {
                        info.description = Some(value.to_owned());
                    }
                }
                text.clear();
                stack.pop();
            }
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scorm_manifest() {
        let xml = r#"<?xml version="1.0"?>
        <manifest xmlns="http://www.imsglobal.org/xsd/imscp_v1p1" xmlns:adlcp="x">
          <metadata><lom><general>
            <description><string language="vi">Bài học về phân số &amp; số thập phân</string></description>
          </general></lom></metadata>
          <organizations default="o1"><organization identifier="o1">
            <title>Phân số lớp 5</title>
            <item identifier="i1" identifierref="r1"><title>Mở đầu</title></item>
          </organization></organizations>
          <resources><resource identifier="r1" type="webcontent" adlcp:scormType="sco" href="content/index.html?x=1">
            <file href="content/index.html"/></resource></resources>
        </manifest>"#;
        let info = manifest(xml.as_bytes()).unwrap();
        assert_eq!(info.title.as_deref(), Some("Phân số lớp 5"));
        assert_eq!(info.description.as_deref(), Some("Bài học về phân số & số thập phân"));
        assert_eq!(info.launch.as_deref(), Some("content/index.html"));
    }
}
