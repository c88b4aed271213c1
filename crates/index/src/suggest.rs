//! Autocomplete: lesson names and titles that contain the words typed so far, the last one as a
//! prefix of a word ("tap h" → "Tập hợp…"), ignoring diacritics.
//!
//! The words and the prefix are one term each (fields `topic` and `topic_prefix`), so the query
//! is an intersection of terms that tantivy prunes, and only the best [`CANDIDATE_DOCS`]
//! documents are read. The commonest case — one or two letters typed — is answered from a table
//! built after each commit (`Table`).

use std::collections::HashMap;

use hoclieu_domain::text::fold_text;
use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::{TantivyDocument, Term};

use crate::analyzer::{self, Mode};
use crate::search::escape_into;
use crate::{Result, SearchIndex, query};

/// Most suggestions returned.
pub const MAX_SUGGESTIONS: usize = 10;
/// Documents looked at to gather suggestions.
const CANDIDATE_DOCS: usize = 60;
/// Prefixes of at most this many characters, typed alone, are answered from the table.
const TABLE_PREFIX_CHARS: usize = 2;

/// Suggestions for every short prefix typed alone ("b", "gi"), computed after a commit.
#[derive(Default)]
pub struct Table {
    by_prefix: HashMap<String, Vec<Suggestion>>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Suggestion {
    pub text: String,
    /// The text as escaped HTML with the typed part of each word in `<mark>`.
    pub html: String,
    /// "lesson" or "title".
    pub kind: &'static str,
}

fn term(field: Field, text: &str) -> (Occur, Box<dyn Query>) {
    (Occur::Must, Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::WithFreqs)))
}

impl SearchIndex {
    /// Up to `limit` (≤ [`MAX_SUGGESTIONS`]) completions of `text`.
    pub fn suggest(&self, text: &str, limit: usize) -> Result<Vec<Suggestion>> {
        let limit = limit.min(MAX_SUGGESTIONS);
        let words: Vec<String> = query::parse(text).words.into_iter().map(|w| w.fold).collect();
        let Some((last, full)) = words.split_last() else { return Ok(Vec::new()) };
        // After a space the last word is complete too.
        let (full, prefix) =
            if text.ends_with(char::is_whitespace) { (&words[..], None) } else { (full, Some(last.as_str())) };
        if let Some(p) = prefix.filter(|p| full.is_empty() && p.chars().count() <= TABLE_PREFIX_CHARS) {
            let table = self.suggestion_table();
            if let Some(found) = table.by_prefix.get(p) {
                return Ok(found.iter().take(limit).cloned().collect());
            }
        }
        self.suggest_on(&self.reader.searcher(), full, prefix, limit)
    }

    fn suggest_on(
        &self,
        searcher: &tantivy::Searcher,
        full: &[String],
        prefix: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Suggestion>> {
        let f = &self.fields;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = full.iter().map(|w| term(f.topic, w)).collect();
        if let Some(p) = prefix {
            let p: String = p.chars().take(analyzer::MAX_PREFIX_CHARS).collect();
            clauses.push(term(f.topic_prefix, &p));
        }
        let top =
            searcher.search(&BooleanQuery::new(clauses), &TopDocs::with_limit(CANDIDATE_DOCS).order_by_score())?;

        // (words in order and side by side, kind, count, first seen) per distinct text.
        let mut seen: HashMap<String, (bool, usize, Suggestion, u32, usize)> = HashMap::new();
        for (rank, (_, address)) in top.iter().enumerate() {
            let doc: TantivyDocument = searcher.doc(*address)?;
            for (kind, field) in [("lesson", f.lesson.fold), ("title", f.title.fold)] {
                let Some(candidate) = doc.get_first(field).and_then(|v| v.as_str()) else { continue };
                let Some((html, in_order)) = mark(candidate, full, prefix) else { continue };
                let entry = seen.entry(fold_text(candidate)).or_insert_with(|| {
                    let k = usize::from(kind == "title");
                    (in_order, k, Suggestion { text: candidate.to_owned(), html, kind }, 0, rank)
                });
                entry.3 += 1;
            }
        }
        let mut ranked: Vec<(bool, usize, Suggestion, u32, usize)> = seen.into_values().collect();
        ranked.sort_by(|a, b| {
            b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(b.3.cmp(&a.3)).then(a.4.cmp(&b.4)).then(a.2.text.cmp(&b.2.text))
        });
        Ok(ranked.into_iter().take(limit).map(|r| r.2).collect())
    }

    /// Suggestions for every prefix of one or two characters in the index.
    pub(crate) fn build_suggestion_table(&self, searcher: &tantivy::Searcher) -> Result<Table> {
        let mut prefixes = std::collections::BTreeSet::new();
        for segment in searcher.segment_readers() {
            let inverted = segment.inverted_index(self.fields.topic_prefix)?;
            let mut terms = inverted.terms().stream()?;
            while terms.advance() {
                if let Ok(p) = std::str::from_utf8(terms.key())
                    && p.chars().count() <= TABLE_PREFIX_CHARS
                {
                    prefixes.insert(p.to_owned());
                }
            }
        }
        let mut by_prefix = HashMap::with_capacity(prefixes.len());
        for p in prefixes {
            let found = self.suggest_on(searcher, &[], Some(&p), MAX_SUGGESTIONS)?;
            by_prefix.insert(p, found);
        }
        Ok(Table { by_prefix })
    }
}

/// `text` as HTML with the typed words marked, and whether they occur in the typed order side
/// by side; `None` when it does not contain them all.
fn mark(text: &str, full: &[String], prefix: Option<&str>) -> Option<(String, bool)> {
    let mut tokens = Vec::new();
    analyzer::tokenize(Mode::Fold, text, &mut tokens);
    // The typed words side by side, if they occur so; each word anywhere otherwise.
    let typed = full.len() + usize::from(prefix.is_some());
    let run = (0..tokens.len()).find(|&s| {
        s + typed <= tokens.len()
            && full.iter().enumerate().all(|(k, w)| &tokens[s + k].text == w)
            && prefix.is_none_or(|p| tokens[s + full.len()].text.starts_with(p))
    });
    let mut marks: Vec<(usize, usize)> = Vec::new();
    for (k, w) in full.iter().enumerate() {
        let t = match run {
            Some(s) => &tokens[s + k],
            None => tokens.iter().find(|t| &t.text == w)?,
        };
        marks.push((t.offset_from, t.offset_to));
    }
    if let Some(p) = prefix {
        let t = match run {
            Some(s) => &tokens[s + full.len()],
            None => tokens.iter().find(|t| t.text.starts_with(p) && !marks.contains(&(t.offset_from, t.offset_to)))?,
        };
        // Mark as many characters of the original word as the prefix has.
        let chars = p.chars().count();
        let end = text[t.offset_from..t.offset_to]
            .char_indices()
            .filter(|(_, c)| !unicode_is_mark(*c))
            .nth(chars)
            .map_or(t.offset_to, |(i, _)| t.offset_from + i);
        marks.push((t.offset_from, end));
    }
    marks.sort_unstable();
    let mut out = String::with_capacity(text.len() + 32);
    let mut at = 0;
    for (a, b) in marks {
        if a < at {
            continue;
        }
        escape_into(&text[at..a], &mut out);
        out.push_str("<mark>");
        escape_into(&text[a..b], &mut out);
        out.push_str("</mark>");
        at = b;
    }
    escape_into(&text[at..], &mut out);
    Some((out, run.is_some()))
}

fn unicode_is_mark(c: char) -> bool {
    ('\u{300}'..='\u{36f}').contains(&c)
}
