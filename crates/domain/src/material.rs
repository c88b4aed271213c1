//! Materials: the import contract ([`ImportRecord`]), its validation into [`MaterialMeta`], and
//! the stored view ([`Material`]) that the database returns and the API and index read.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::error::{Error, codes};
use crate::text::clean;
use crate::vocab::Vocabularies;

/// One line of an import file, or the `metadata` part of an upload (without `files`).
/// This is a public contract used by LMS operators: keep field names and meanings stable.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ImportRecord {
    /// External identifier: importing the same id again updates that material.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grade: Option<GradeValue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub series: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chapter: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lesson: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keywords: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authors: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub province: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub license: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<FileEntry>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// A grade as a number (10) or as text ("10", "lớp 10").
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(untagged)]
pub enum GradeValue {
    Number(i64),
    Text(String),
}

/// A file of an import line: a path relative to the import file, and an optional display name.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FileEntry {
    pub path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Validated, normalised metadata of a material: NFC text, vocabulary codes.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct MaterialMeta {
    pub external_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub subject: String,
    pub grade: Option<u8>,
    pub series: Option<String>,
    pub resource_type: String,
    pub chapter: Option<String>,
    pub lesson: Option<String>,
    pub keywords: Vec<String>,
    pub authors: Vec<String>,
    pub organization: Option<String>,
    pub province: Option<String>,
    pub license: String,
    pub language: String,
    pub url: Option<String>,
}

/// Limits on field sizes, in characters.
pub mod limits {
    pub const TITLE: usize = 500;
    pub const DESCRIPTION: usize = 20_000;
    pub const SHORT_TEXT: usize = 500;
    pub const LIST_ITEMS: usize = 50;
    pub const LIST_ITEM: usize = 200;
    pub const EXTERNAL_ID: usize = 200;
    pub const URL: usize = 2_000;
    pub const FILES: usize = 50;
    pub const FILE_NAME: usize = 200;
}

pub const DEFAULT_LICENSE: &str = "CC-BY-4.0";
pub const DEFAULT_LANGUAGE: &str = "vi";

impl ImportRecord {
    /// Parses one JSON object; errors name the field at fault when there is one.
    pub fn from_json(text: &str) -> Result<Self, Error> {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let message = inner.to_string();
            if let Some(rest) = message.strip_prefix("unknown field `") {
                let name = rest.split('`').next().unwrap_or_default();
                let field = if path == "." { name.to_owned() } else { path.clone() };
                return Error::invalid(field, codes::UNKNOWN_FIELD, message);
            }
            let field = if path == "." || path == "?" { String::new() } else { path };
            Error::invalid(field, codes::INVALID_JSON, message)
        })
    }

    /// Checks and normalises the record. `has_files` tells whether the material comes with
    /// files (a link-only material must have a `url`).
    pub fn validate(&self, vocab: &Vocabularies, has_files: bool) -> Result<MaterialMeta, Error> {
        let external_id = optional("id", self.id.as_deref(), limits::EXTERNAL_ID, false)?;
        let title = required("title", self.title.as_deref(), limits::TITLE)?;
        let description = optional("description", self.description.as_deref(), limits::DESCRIPTION, true)?;
        let subject =
            resolve(&vocab.subjects, "subject", self.subject.as_deref())?.ok_or_else(|| missing("subject"))?;
        let grade = match &self.grade {
            None => None,
            Some(GradeValue::Number(n)) => {
                Some(u8::try_from(*n).ok().filter(|g| (1..=12).contains(g)).ok_or_else(|| {
                    Error::invalid("grade", codes::INVALID_VALUE, format!("grade must be 1–12, got {n}"))
                })?)
            }
            Some(GradeValue::Text(s)) if s.trim().is_empty() => None,
            Some(GradeValue::Text(s)) => Some(vocab.resolve_grade(s).ok_or_else(|| {
                Error::invalid("grade", codes::INVALID_VALUE, format!("grade must be 1–12 (or \"lớp N\"), got {s:?}"))
            })?),
        };
        let series = resolve(&vocab.series, "series", self.series.as_deref())?;
        let resource_type = resolve(&vocab.resource_types, "resource_type", self.resource_type.as_deref())?
            .ok_or_else(|| missing("resource_type"))?;
        let license =
            resolve(&vocab.licenses, "license", self.license.as_deref())?.unwrap_or_else(|| DEFAULT_LICENSE.to_owned());
        let province = resolve(&vocab.provinces, "province", self.province.as_deref())?;
        let language = match self.language.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
            None => DEFAULT_LANGUAGE.to_owned(),
            Some(tag) => language_tag(tag)?,
        };
        let url = match optional("url", self.url.as_deref(), limits::URL, false)? {
            None if !has_files => {
                return Err(Error::invalid("url", codes::MISSING_FIELD, "a material without files needs a url"));
            }
            None => None,
            Some(u) => Some(http_url(&u)?),
        };
        Ok(MaterialMeta {
            external_id,
            title,
            description,
            subject,
            grade,
            series,
            resource_type,
            chapter: optional("chapter", self.chapter.as_deref(), limits::SHORT_TEXT, false)?,
            lesson: optional("lesson", self.lesson.as_deref(), limits::SHORT_TEXT, false)?,
            keywords: list("keywords", self.keywords.as_deref())?,
            authors: list("authors", self.authors.as_deref())?,
            organization: optional("organization", self.organization.as_deref(), limits::SHORT_TEXT, false)?,
            province,
            license,
            language,
            url,
        })
    }
}

fn missing(field: &str) -> Error {
    Error::invalid(field, codes::MISSING_FIELD, format!("{field} is required"))
}

fn optional(field: &str, value: Option<&str>, max: usize, multiline: bool) -> Result<Option<String>, Error> {
    let Some(value) = value else { return Ok(None) };
    let cleaned = clean(value, multiline);
    if cleaned.chars().count() > max {
        return Err(Error::invalid(field, codes::TOO_LONG, format!("{field} is longer than {max} characters")));
    }
    Ok(Some(cleaned).filter(|s| !s.is_empty()))
}

fn required(field: &str, value: Option<&str>, max: usize) -> Result<String, Error> {
    optional(field, value, max, false)?.ok_or_else(|| missing(field))
}

pub(crate) fn resolve(
    vocab: &crate::vocab::Vocabulary,
    field: &str,
    value: Option<&str>,
) -> Result<Option<String>, Error> {
    let Some(value) = value.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok(None);
    };
    match vocab.resolve(value) {
        Some(term) => Ok(Some(term.code.clone())),
        None => Err(Error::invalid(
            field,
            codes::UNKNOWN_VALUE,
            format!(
                "unknown {} {value:?}; see GET /api/v1/vocabularies for the accepted codes and labels",
                vocab.kind()
            ),
        )),
    }
}

fn list(field: &str, values: Option<&[String]>) -> Result<Vec<String>, Error> {
    let values = values.unwrap_or_default();
    if values.len() > limits::LIST_ITEMS {
        return Err(Error::invalid(
            field,
            codes::TOO_LONG,
            format!("{field} has more than {} items", limits::LIST_ITEMS),
        ));
    }
    let mut out: Vec<String> = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let item = clean(v, false);
        if item.chars().count() > limits::LIST_ITEM {
            return Err(Error::invalid(
                format!("{field}[{i}]"),
                codes::TOO_LONG,
                format!("{field}[{i}] is longer than {} characters", limits::LIST_ITEM),
            ));
        }
        if !item.is_empty() && !out.contains(&item) {
            out.push(item);
        }
    }
    Ok(out)
}

fn language_tag(tag: &str) -> Result<String, Error> {
    let mut parts = tag.split(['-', '_']);
    let primary = parts.next().unwrap_or_default();
    let ok = (2..=3).contains(&primary.len())
        && primary.chars().all(|c| c.is_ascii_alphabetic())
        && parts.clone().all(|p| (1..=8).contains(&p.len()) && p.chars().all(|c| c.is_ascii_alphanumeric()));
    if !ok {
        return Err(Error::invalid(
            "language",
            codes::INVALID_VALUE,
            format!("{tag:?} is not a language tag such as \"vi\" or \"en\""),
        ));
    }
    let mut out = primary.to_ascii_lowercase();
    for p in parts {
        out.push('-');
        out.push_str(p);
    }
    Ok(out)
}

fn http_url(url: &str) -> Result<String, Error> {
    let lower = url.to_ascii_lowercase();
    let rest = lower.strip_prefix("https://").or_else(|| lower.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(h) if !h.is_empty() && !url.contains(char::is_whitespace) => Ok(url.to_owned()),
        _ => Err(Error::invalid("url", codes::INVALID_VALUE, format!("{url:?} is not an http or https link"))),
    }
}

/// A display file name: the last path component of `name`, cleaned, at most
/// [`limits::FILE_NAME`] characters (keeping the extension). Never empty.
pub fn display_file_name(name: &str) -> String {
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned = clean(last, false);
    let trimmed = cleaned.trim_matches(|c: char| c == '.' || c.is_whitespace());
    if trimmed.is_empty() {
        return "tep".to_owned();
    }
    if trimmed.chars().count() <= limits::FILE_NAME {
        return trimmed.to_owned();
    }
    let (stem, ext) = match trimmed.rsplit_once('.') {
        Some((s, e)) if e.chars().count() <= 10 => (s, Some(e)),
        _ => (trimmed, None),
    };
    let keep = limits::FILE_NAME - ext.map_or(0, |e| e.chars().count() + 1);
    let mut out: String = stem.chars().take(keep).collect();
    if let Some(e) = ext {
        out.push('.');
        out.push_str(e);
    }
    out
}

/// Where a material stands in the curation workflow (see [`crate::workflow`]). Only published
/// materials are searchable and visible to everyone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Draft,
    Submitted,
    Published,
    Rejected,
    Withdrawn,
}

impl Material {
    /// What the access policy needs to know of it.
    pub fn facts(&self) -> crate::workflow::Facts<'_> {
        crate::workflow::Facts {
            status: self.status,
            author: self.author,
            author_key: self.author_key,
            subject: &self.meta.subject,
            province: self.meta.province.as_deref(),
            organization: self.meta.organization.as_deref(),
        }
    }
}

impl Status {
    pub const ALL: [Status; 5] =
        [Status::Draft, Status::Submitted, Status::Published, Status::Rejected, Status::Withdrawn];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Draft => "draft",
            Status::Submitted => "submitted",
            Status::Published => "published",
            Status::Rejected => "rejected",
            Status::Withdrawn => "withdrawn",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A stored file of a material. Files are immutable: new bytes make a new file.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StoredFile {
    pub id: Uuid,
    pub name: String,
    pub size: u64,
    pub media_type: String,
    pub sha256: String,
    /// Key of the bytes in object storage.
    #[serde(skip)]
    pub object_key: String,
    /// Where its preview and text extraction stand (`None` before the worker knows the file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview: Option<crate::preview::PreviewState>,
}

/// A material as stored: metadata, state and files.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    pub id: Uuid,
    pub meta: MaterialMeta,
    pub status: Status,
    /// Why it was rejected or withdrawn (shown to its author).
    pub status_reason: Option<String>,
    /// The account that created it (none for imports and API keys).
    pub author: Option<Uuid>,
    /// The API key that created it (uploads by LMS systems and scripts).
    pub author_key: Option<Uuid>,
    /// The number of the published version (1 until an edit is approved).
    pub version: u32,
    pub downloads: u64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub files: Vec<StoredFile>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vocab() -> Vocabularies {
        Vocabularies::embedded()
    }

    fn record(json: &str) -> ImportRecord {
        ImportRecord::from_json(json).unwrap()
    }

    #[test]
    fn a_full_record_validates_into_codes_and_nfc() {
        let r = record(
            r#"{"id":"x-1","title":"  Bài 2: Tập ho\u031b\u0323p  ","subject":"Hóa học","grade":"lớp 10",
                "series":"Kết nối tri thức","resource_type":"giáo án","keywords":["tập hợp","tập hợp",""],
                "province":"Thanh Hoá","url":"https://example.edu.vn/a"}"#,
        );
        let m = r.validate(&vocab(), false).unwrap();
        assert_eq!(m.title, "Bài 2: Tập hợp");
        assert_eq!(m.subject, "hoa-hoc");
        assert_eq!(m.grade, Some(10));
        assert_eq!(m.series.as_deref(), Some("kntt"));
        assert_eq!(m.resource_type, "ke-hoach-bai-day");
        assert_eq!(m.keywords, vec!["tập hợp"]);
        assert_eq!(m.province.as_deref(), Some("thanh-hoa"));
        assert_eq!(m.license, "CC-BY-4.0");
        assert_eq!(m.language, "vi");
    }

    #[test]
    fn errors_name_the_field() {
        let v = vocab();
        let cases = [
            (r#"{"subject":"toan","resource_type":"video","url":"https://a.vn"}"#, "title", codes::MISSING_FIELD),
            (
                r#"{"title":"t","subject":"thiên văn","resource_type":"video","url":"https://a.vn"}"#,
                "subject",
                codes::UNKNOWN_VALUE,
            ),
            (
                r#"{"title":"t","subject":"toan","grade":13,"resource_type":"video","url":"https://a.vn"}"#,
                "grade",
                codes::INVALID_VALUE,
            ),
            (r#"{"title":"t","subject":"toan","resource_type":"video"}"#, "url", codes::MISSING_FIELD),
            (
                r#"{"title":"t","subject":"toan","resource_type":"video","url":"ftp://a.vn"}"#,
                "url",
                codes::INVALID_VALUE,
            ),
            (
                r#"{"title":"t","subject":"toan","resource_type":"video","url":"https://a.vn","language":"tiếng việt"}"#,
                "language",
                codes::INVALID_VALUE,
            ),
        ];
        for (json, field, code) in cases {
            let err = record(json).validate(&v, false).unwrap_err();
            assert_eq!(err.field(), Some(field), "{json}");
            assert!(matches!(err, Error::Invalid { code: c, .. } if c == code), "{json}: {err}");
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = ImportRecord::from_json(r#"{"titel":"x"}"#).unwrap_err();
        assert_eq!(err.field(), Some("titel"));
        let err = ImportRecord::from_json(r#"{"title":"x","keywords":"a"}"#).unwrap_err();
        assert_eq!(err.field(), Some("keywords"));
        let err = ImportRecord::from_json(r#"{"title":"x","files":[{"path":"a","size":1}]}"#).unwrap_err();
        assert!(err.field().unwrap().starts_with("files"), "{err:?}");
        assert!(ImportRecord::from_json("{not json").is_err());
    }

    #[test]
    fn display_names_lose_paths_and_controls_but_keep_vietnamese() {
        assert_eq!(display_file_name("C:\\Users\\gv\\Bài giảng Hoá 10.pptx"), "Bài giảng Hoá 10.pptx");
        assert_eq!(display_file_name("../../etc/passwd"), "passwd");
        assert_eq!(display_file_name("a\u{0000}b.pdf"), "ab.pdf");
        assert_eq!(display_file_name("  ..  "), "tep");
        let long = format!("{}.docx", "â".repeat(300));
        let shortened = display_file_name(&long);
        assert_eq!(shortened.chars().count(), limits::FILE_NAME);
        assert!(shortened.ends_with(".docx"));
    }
}
