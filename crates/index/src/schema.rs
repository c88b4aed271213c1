//! The index schema and how a material becomes a document.

use hoclieu_domain::Material;
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{TantivyDocument, doc};

use crate::analyzer;

/// Bumped whenever the schema or the analyzers change: an index built with another version is
/// rebuilt from the database on open.
pub const SCHEMA_VERSION: u32 = 1;

/// A text field indexed twice: folded (no diacritics) and exact (diacritics, canonical tones).
#[derive(Clone, Copy, Debug)]
pub struct TextPair {
    pub fold: Field,
    pub exact: Field,
}

/// Every field of the schema.
#[derive(Clone, Debug)]
pub struct Fields {
    pub id: Field,
    pub external_id: Field,
    pub title: TextPair,
    pub title_bigram: Field,
    pub lesson: TextPair,
    pub chapter: TextPair,
    pub keywords: TextPair,
    pub description: TextPair,
    pub subject: Field,
    pub grade: Field,
    pub series: Field,
    pub resource_type: Field,
    pub created: Field,
    pub downloads: Field,
    pub schema: Schema,
}

fn text(tokenizer: &str, stored: bool) -> TextOptions {
    let indexing = TextFieldIndexing::default()
        .set_tokenizer(tokenizer)
        .set_index_option(IndexRecordOption::WithFreqsAndPositions);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored {
        options.set_stored()
    } else {
        options
    }
}

impl Fields {
    pub fn new() -> Fields {
        let mut b = Schema::builder();
        let mut pair = |name: &str, stored: bool| TextPair {
            // The folded field keeps the original text (for snippets and display).
            fold: b.add_text_field(name, text(analyzer::FOLD, stored)),
            exact: b.add_text_field(&format!("{name}_exact"), text(analyzer::EXACT, false)),
        };
        let title = pair("title", true);
        let lesson = pair("lesson", true);
        let chapter = pair("chapter", true);
        let keywords = pair("keywords", false);
        let description = pair("description", true);
        let title_bigram = b.add_text_field("title_bigram", text(analyzer::BIGRAM, false));
        let id = b.add_text_field("id", STRING | STORED);
        let external_id = b.add_text_field("external_id", STORED);
        let subject = b.add_text_field("subject", STRING | FAST | STORED);
        let series = b.add_text_field("series", STRING | FAST | STORED);
        let resource_type = b.add_text_field("resource_type", STRING | FAST | STORED);
        let grade = b.add_u64_field("grade", INDEXED | FAST | STORED);
        let created = b.add_i64_field("created", FAST | STORED);
        let downloads = b.add_u64_field("downloads", FAST | STORED);
        Fields {
            id,
            external_id,
            title,
            title_bigram,
            lesson,
            chapter,
            keywords,
            description,
            subject,
            grade,
            series,
            resource_type,
            created,
            downloads,
            schema: b.build(),
        }
    }

    /// The document of a material.
    pub fn document(&self, m: &Material) -> TantivyDocument {
        let meta = &m.meta;
        let mut d = doc!(
            self.id => m.id.to_string(),
            self.title.fold => meta.title.as_str(),
            self.title.exact => meta.title.as_str(),
            self.title_bigram => meta.title.as_str(),
            self.subject => meta.subject.as_str(),
            self.resource_type => meta.resource_type.as_str(),
            self.created => m.created_at.timestamp_micros(),
            self.downloads => m.downloads,
        );
        let mut both = |pair: TextPair, value: &str| {
            d.add_text(pair.fold, value);
            d.add_text(pair.exact, value);
        };
        for (pair, value) in [
            (self.lesson, &meta.lesson),
            (self.chapter, &meta.chapter),
            (self.description, &meta.description),
        ] {
            if let Some(v) = value {
                both(pair, v);
            }
        }
        for k in &meta.keywords {
            both(self.keywords, k);
        }
        if let Some(e) = &meta.external_id {
            d.add_text(self.external_id, e);
        }
        if let Some(s) = &meta.series {
            d.add_text(self.series, s);
        }
        if let Some(g) = meta.grade {
            d.add_u64(self.grade, u64::from(g));
        }
        d
    }
}

impl Default for Fields {
    fn default() -> Self {
        Self::new()
    }
}
