//! The index schema and how a material becomes a document.

use hoclieu_domain::spelling::roman;
use hoclieu_domain::text::{fold_word, words};
use hoclieu_domain::{Material, Vocabularies};
use tantivy::schema::{
    FAST, Field, INDEXED, IndexRecordOption, STORED, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::{TantivyDocument, doc};

use crate::analyzer;

/// Bumped whenever the schema or the analyzers change: an index built with another version is
/// rebuilt from the database on open (it lives in its own directory, `v<N>`).
pub const SCHEMA_VERSION: u32 = 4;

/// Characters of a description, and of a material's extracted text, kept in the document store
/// for snippets (all of it is indexed): a hit decompresses and highlights only this much.
pub const STORED_SNIPPET_CHARS: usize = 1_500;
/// Size of a compressed block of the document store: a hit decompresses one block, so smaller
/// blocks make the ten hits of a page cheaper (tantivy's default is 16 KiB).
pub const DOCSTORE_BLOCK_BYTES: usize = 4_096;

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
    /// Bigrams of exact words: whether two words typed with diacritics occur together.
    pub title_bigram_exact: Field,
    pub lesson: TextPair,
    /// Every metadata word (title and lesson twice, keywords, chapter, description, vocabulary
    /// words) in one folded field: a query's words are found here with one term each, so the
    /// first phase of a search is an intersection tantivy can prune (block-max WAND).
    pub all: Field,
    /// Title and lesson words (folded), and every prefix of them: suggestions.
    pub topic: Field,
    pub topic_prefix: Field,
    pub chapter: TextPair,
    pub keywords: TextPair,
    pub description: TextPair,
    /// The beginning of the description, stored for snippets.
    pub description_stored: Field,
    /// The material's vocabulary values as words (labels, aliases, "lớp 10"), so a query word
    /// such as "toán", "10" or "kntt" can be satisfied by metadata as well as by text.
    pub meta: Field,
    /// Text extracted from the material's files (folded only; a lower weight than metadata).
    pub content: Field,
    /// The beginning of that text, stored for snippets.
    pub content_stored: Field,
    /// `{file_id}/{image name}` of the material's thumbnail, when a file has one.
    pub thumbnail: Field,
    pub subject: Field,
    pub grade: Field,
    pub series: Field,
    pub resource_type: Field,
    pub lesson_no: Field,
    pub created: Field,
    pub downloads: Field,
    pub schema: Schema,
}

fn text(tokenizer: &str, stored: bool, positions: bool) -> TextOptions {
    let option = if positions { IndexRecordOption::WithFreqsAndPositions } else { IndexRecordOption::WithFreqs };
    let indexing = TextFieldIndexing::default().set_tokenizer(tokenizer).set_index_option(option);
    let options = TextOptions::default().set_indexing_options(indexing);
    if stored { options.set_stored() } else { options }
}

/// The lesson number of "Bài 12. …" / "Bài XII: …" (the first number after "bài").
pub fn lesson_number(text: &str) -> Option<u64> {
    let folded: Vec<String> = words(text).map(fold_word).collect();
    folded
        .windows(2)
        .find(|w| w[0] == "bai")
        .and_then(|w| w[1].parse::<u64>().ok().or_else(|| roman(&w[1]).map(u64::from)))
}

impl Fields {
    pub fn new() -> Fields {
        let mut b = Schema::builder();
        let mut pair = |name: &str, stored: bool| TextPair {
            // The folded field keeps the original text (for snippets and display).
            fold: b.add_text_field(name, text(analyzer::FOLD, stored, true)),
            exact: b.add_text_field(&format!("{name}_exact"), text(analyzer::EXACT, false, true)),
        };
        let title = pair("title", true);
        let lesson = pair("lesson", true);
        let chapter = pair("chapter", true);
        let keywords = pair("keywords", false);
        let description = pair("description", false);
        let description_stored = b.add_text_field("description_stored", STORED);
        let title_bigram = b.add_text_field("title_bigram", text(analyzer::BIGRAM, false, false));
        let title_bigram_exact = b.add_text_field("title_bigram_exact", text(analyzer::EXACT_BIGRAM, false, false));
        let all = b.add_text_field("all", text(analyzer::FOLD, false, false));
        let topic = b.add_text_field("topic", text(analyzer::FOLD, false, false));
        let topic_prefix = b.add_text_field("topic_prefix", text(analyzer::PREFIX, false, false));
        let meta = b.add_text_field("meta", text(analyzer::FOLD, false, true));
        let content = b.add_text_field("content", text(analyzer::FOLD, false, false));
        let content_stored = b.add_text_field("content_stored", STORED);
        let thumbnail = b.add_text_field("thumbnail", STORED);
        let id = b.add_text_field("id", STRING | STORED);
        let external_id = b.add_text_field("external_id", STORED);
        let subject = b.add_text_field("subject", STRING | FAST | STORED);
        let series = b.add_text_field("series", STRING | FAST | STORED);
        let resource_type = b.add_text_field("resource_type", STRING | FAST | STORED);
        let grade = b.add_u64_field("grade", INDEXED | FAST | STORED);
        let lesson_no = b.add_u64_field("lesson_no", INDEXED | FAST);
        let created = b.add_i64_field("created", FAST | STORED);
        let downloads = b.add_u64_field("downloads", FAST | STORED);
        Fields {
            id,
            external_id,
            title,
            title_bigram,
            title_bigram_exact,
            lesson,
            all,
            topic,
            topic_prefix,
            chapter,
            keywords,
            description,
            description_stored,
            meta,
            content,
            content_stored,
            thumbnail,
            subject,
            grade,
            series,
            resource_type,
            lesson_no,
            created,
            downloads,
            schema: b.build(),
        }
    }

    /// The document of a material, with the text extracted from its files, if any.
    pub fn document(&self, m: &Material, vocab: &Vocabularies, content: Option<&str>) -> TantivyDocument {
        let meta = &m.meta;
        let mut d = doc!(
            self.id => m.id.to_string(),
            self.title.fold => meta.title.as_str(),
            self.title.exact => meta.title.as_str(),
            self.title_bigram => meta.title.as_str(),
            self.title_bigram_exact => meta.title.as_str(),
            self.topic => meta.title.as_str(),
            self.topic_prefix => meta.title.as_str(),
            // Title and lesson count twice among all the words: they say most about the material.
            self.all => meta.title.as_str(),
            self.all => meta.title.as_str(),
            self.subject => meta.subject.as_str(),
            self.resource_type => meta.resource_type.as_str(),
            self.created => m.created_at.timestamp_micros(),
            self.downloads => m.downloads,
        );
        let mut both = |pair: TextPair, value: &str| {
            d.add_text(pair.fold, value);
            d.add_text(pair.exact, value);
        };
        for (pair, value) in
            [(self.lesson, &meta.lesson), (self.chapter, &meta.chapter), (self.description, &meta.description)]
        {
            if let Some(v) = value {
                both(pair, v);
            }
        }
        for k in &meta.keywords {
            both(self.keywords, k);
        }
        for k in &meta.keywords {
            d.add_text(self.all, k);
        }
        if let Some(l) = &meta.lesson {
            d.add_text(self.topic, l);
            d.add_text(self.topic_prefix, l);
            d.add_text(self.all, l);
            d.add_text(self.all, l);
        }
        for v in [&meta.chapter, &meta.description].into_iter().flatten() {
            d.add_text(self.all, v);
        }
        if let Some(desc) = &meta.description {
            d.add_text(self.description_stored, beginning(desc, STORED_SNIPPET_CHARS));
        }
        if let Some(n) = meta.lesson.as_deref().and_then(lesson_number).or_else(|| lesson_number(&meta.title)) {
            d.add_u64(self.lesson_no, n);
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
        let words = metadata_words(m, vocab);
        d.add_text(self.all, &words);
        d.add_text(self.meta, words);
        if let Some(text) = content.filter(|t| !t.is_empty()) {
            d.add_text(self.content, text);
            d.add_text(self.content_stored, beginning(text, STORED_SNIPPET_CHARS));
        }
        let thumbnail =
            m.files.iter().find_map(|f| Some(format!("{}/{}", f.id, f.preview.as_ref()?.thumbnail.as_ref()?)));
        if let Some(t) = thumbnail {
            d.add_text(self.thumbnail, t);
        }
        d
    }
}

/// The first `max` characters of `text`.
fn beginning(text: &str, max: usize) -> &str {
    text.char_indices().nth(max).map_or(text, |(i, _)| &text[..i])
}

/// The words of a material's vocabulary values, each group separated by punctuation.
fn metadata_words(m: &Material, vocab: &Vocabularies) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut term = |v: &hoclieu_domain::Vocabulary, code: &str| {
        if let Some(t) = v.get(code) {
            parts.push(t.label.clone());
            parts.extend(t.aliases.iter().cloned());
        }
    };
    term(&vocab.subjects, &m.meta.subject);
    term(&vocab.resource_types, &m.meta.resource_type);
    if let Some(s) = &m.meta.series {
        term(&vocab.series, s);
    }
    if let Some(g) = m.meta.grade {
        parts.push(format!("lớp {g}"));
        if let Some(level) = vocab.level_of_grade(g) {
            parts.push(level.label.clone());
            parts.extend(level.aliases.iter().cloned());
        }
    }
    parts.join(" | ")
}

impl Default for Fields {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lesson_numbers_arabic_and_roman() {
        assert_eq!(lesson_number("Bài 12. Đường tròn"), Some(12));
        assert_eq!(lesson_number("Giáo án Toán 10 – Bài IV: Vectơ"), Some(4));
        assert_eq!(lesson_number("Ôn tập chương"), None);
    }
}
