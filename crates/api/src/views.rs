//! JSON shapes of the API. Vocabulary values are shown as `{code, label}`.

use chrono::{DateTime, Utc};
use hoclieu_domain::{Material, Vocabularies, Vocabulary};
use hoclieu_index::{Facets, Hit, SearchResponse};
use serde::Serialize;
use uuid::Uuid;

#[derive(Serialize)]
pub struct Labelled<T: Serialize> {
    pub code: T,
    pub label: String,
}

fn term(v: &Vocabulary, code: &str) -> Labelled<String> {
    Labelled { code: code.to_owned(), label: v.label(code).to_owned() }
}

fn grade(g: u8) -> Labelled<u8> {
    Labelled { code: g, label: Vocabularies::grade_label(g) }
}

pub fn file_url(material: Uuid, file: Uuid) -> String {
    format!("/api/v1/materials/{material}/files/{file}/download")
}

pub fn preview_url(material: Uuid, file: Uuid) -> String {
    format!("/api/v1/materials/{material}/files/{file}/preview")
}

/// URL of a preview image; `file_and_name` is `{file_id}/{name}`.
pub fn preview_image_url(material: Uuid, file_and_name: &str) -> String {
    match file_and_name.split_once('/') {
        Some((file, name)) => format!("/api/v1/materials/{material}/files/{file}/preview/{name}"),
        None => String::new(),
    }
}

/// Where a file's preview stands, as lists show it.
#[derive(Serialize)]
pub struct FilePreviewView {
    pub status: &'static str,
    pub kind: hoclieu_domain::PreviewKind,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
}

#[derive(Serialize)]
pub struct FileView {
    pub id: Uuid,
    pub name: String,
    pub size: u64,
    pub media_type: String,
    pub sha256: String,
    pub download_url: String,
    pub preview: FilePreviewView,
}

#[derive(Serialize)]
pub struct Counts {
    pub downloads: u64,
    pub files: usize,
}

#[derive(Serialize)]
pub struct MaterialView {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub title: String,
    pub description: Option<String>,
    pub subject: Labelled<String>,
    pub grade: Option<Labelled<u8>>,
    pub level: Option<Labelled<String>>,
    pub series: Option<Labelled<String>>,
    pub resource_type: Labelled<String>,
    pub chapter: Option<String>,
    pub lesson: Option<String>,
    pub keywords: Vec<String>,
    pub authors: Vec<String>,
    pub organization: Option<String>,
    pub province: Option<Labelled<String>>,
    pub license: Labelled<String>,
    pub language: String,
    pub url: Option<String>,
    pub status: &'static str,
    /// Why it was rejected or withdrawn (shown only to those who may see such a material).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_reason: Option<String>,
    /// The number of the published version (see `GET …/versions`).
    pub version: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub files: Vec<FileView>,
    pub counts: Counts,
}

impl MaterialView {
    pub fn new(m: Material, v: &Vocabularies) -> Self {
        let meta = m.meta;
        let files: Vec<FileView> = m
            .files
            .into_iter()
            .map(|f| FileView {
                download_url: file_url(m.id, f.id),
                preview: match &f.preview {
                    Some(p) => FilePreviewView {
                        status: p.status.as_str(),
                        kind: p.kind,
                        reason: p.reason.clone(),
                        url: preview_url(m.id, f.id),
                        thumbnail_url: p.thumbnail.as_ref().map(|t| preview_image_url(m.id, &format!("{}/{t}", f.id))),
                    },
                    None => FilePreviewView {
                        status: "pending",
                        kind: hoclieu_domain::PreviewKind::of(&f.media_type, &f.name),
                        reason: None,
                        url: preview_url(m.id, f.id),
                        thumbnail_url: None,
                    },
                },
                id: f.id,
                name: f.name,
                size: f.size,
                media_type: f.media_type,
                sha256: f.sha256,
            })
            .collect();
        MaterialView {
            id: m.id,
            external_id: meta.external_id,
            title: meta.title,
            description: meta.description,
            subject: term(&v.subjects, &meta.subject),
            grade: meta.grade.map(grade),
            level: meta.grade.and_then(|g| v.level_of_grade(g)).map(|t| term(&v.levels, &t.code)),
            series: meta.series.as_deref().map(|s| term(&v.series, s)),
            resource_type: term(&v.resource_types, &meta.resource_type),
            chapter: meta.chapter,
            lesson: meta.lesson,
            keywords: meta.keywords,
            authors: meta.authors,
            organization: meta.organization,
            province: meta.province.as_deref().map(|p| term(&v.provinces, p)),
            license: term(&v.licenses, &meta.license),
            language: meta.language,
            url: meta.url,
            status: m.status.as_str(),
            status_reason: m.status_reason,
            version: m.version,
            created_at: m.created_at,
            updated_at: m.updated_at,
            counts: Counts { downloads: m.downloads, files: files.len() },
            files,
        }
    }
}

#[derive(Serialize)]
pub struct HitView {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub title: String,
    /// The title with matched words in `<mark>` (HTML-escaped).
    pub title_html: String,
    /// A passage of the description with matched words in `<mark>` (HTML-escaped).
    pub snippet: String,
    pub subject: Labelled<String>,
    pub grade: Option<Labelled<u8>>,
    pub series: Option<Labelled<String>>,
    pub resource_type: Labelled<String>,
    pub chapter: Option<String>,
    pub lesson: Option<String>,
    pub downloads: u64,
    pub url: String,
    /// A small image of the material's first page, poster frame or picture, when it has one.
    pub thumbnail_url: Option<String>,
}

#[derive(Serialize)]
pub struct FacetValue<T: Serialize> {
    pub value: T,
    pub label: String,
    pub count: u64,
}

#[derive(Serialize)]
pub struct FacetsView {
    pub subject: Vec<FacetValue<String>>,
    pub grade: Vec<FacetValue<u8>>,
    pub series: Vec<FacetValue<String>>,
    pub resource_type: Vec<FacetValue<String>>,
}

#[derive(Serialize)]
pub struct SearchView {
    pub total: u64,
    /// Whether `total` and the facet counts are estimates (two significant digits): the search
    /// matched more materials than it counts one by one.
    pub total_is_estimate: bool,
    /// Set when the query as typed found nothing and these are the results of this correction
    /// ("Có phải bạn muốn tìm…").
    pub corrected_query: Option<String>,
    /// Whether not every word had to match (the strict query found nothing).
    pub relaxed: bool,
    pub page: usize,
    pub per_page: usize,
    pub hits: Vec<HitView>,
    pub facets: FacetsView,
}

fn hit(h: Hit, v: &Vocabularies) -> HitView {
    HitView {
        url: format!("/api/v1/materials/{}", h.id),
        thumbnail_url: h.thumbnail.as_deref().map(|t| preview_image_url(h.id, t)),
        id: h.id,
        external_id: h.external_id,
        title: h.title,
        title_html: h.title_html,
        snippet: h.snippet_html,
        subject: term(&v.subjects, &h.subject),
        grade: h.grade.map(grade),
        series: h.series.as_deref().map(|s| term(&v.series, s)),
        resource_type: term(&v.resource_types, &h.resource_type),
        chapter: h.chapter,
        lesson: h.lesson,
        downloads: h.downloads,
    }
}

fn facet(values: Vec<(String, u64)>, vocab: &Vocabulary) -> Vec<FacetValue<String>> {
    values
        .into_iter()
        .map(|(value, count)| FacetValue { label: vocab.label(&value).to_owned(), value, count })
        .collect()
}

impl SearchView {
    pub fn new(r: SearchResponse, page: usize, per_page: usize, v: &Vocabularies) -> Self {
        let Facets { subject, grade, series, resource_type } = r.facets;
        SearchView {
            total: r.total,
            total_is_estimate: r.total_is_estimate,
            corrected_query: r.corrected_query,
            relaxed: r.relaxed,
            page,
            per_page,
            hits: r.hits.into_iter().map(|h| hit(h, v)).collect(),
            facets: FacetsView {
                subject: facet(subject, &v.subjects),
                grade: grade
                    .into_iter()
                    .map(|(g, count)| FacetValue { value: g, label: Vocabularies::grade_label(g), count })
                    .collect(),
                series: facet(series, &v.series),
                resource_type: facet(resource_type, &v.resource_types),
            },
        }
    }
}
