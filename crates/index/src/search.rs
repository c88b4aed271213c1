//! Searching: request, response, hits with highlighted snippets.

use std::collections::BTreeMap;
use std::ops::Range;

use serde::Serialize;
use tantivy::schema::{Field, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{Searcher, TantivyDocument};
use uuid::Uuid;

use crate::collector::{STR_FACETS, SearchCollector};
use crate::query::{Correction, Matching};
use crate::schema::Fields;
use crate::{Error, Result, SearchIndex, analyzer, query, spell};

/// Deepest result a search may page to (offset + page size).
pub const MAX_DEPTH: usize = 10_000;
/// Below this many results a query is checked for spelling mistakes.
const FEW: u64 = 20;
/// How much better a correction must fit the index to replace a query that found something.
const CONVINCING: f32 = 1.0;
/// Characters of description shown in a hit.
const SNIPPET_CHARS: usize = 240;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Relevance,
    Newest,
    Downloads,
}

/// Filters, as vocabulary codes. Several values of one filter are alternatives (OR); different
/// filters all apply (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub subjects: Vec<String>,
    pub grades: Vec<u8>,
    pub series: Vec<String>,
    pub resource_types: Vec<String>,
}

#[derive(Debug, Clone, Default)]
pub struct SearchRequest {
    pub text: String,
    pub filters: Filters,
    pub sort: Sort,
    pub offset: usize,
    pub limit: usize,
}

/// A search hit, from stored fields only (no database round trip).
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub id: Uuid,
    pub external_id: Option<String>,
    pub title: String,
    /// The title as HTML with matched words in `<mark>`.
    pub title_html: String,
    /// A passage of the description as HTML with matched words in `<mark>` (its beginning
    /// when nothing matched there).
    pub snippet_html: String,
    pub subject: String,
    pub grade: Option<u8>,
    pub series: Option<String>,
    pub resource_type: String,
    pub chapter: Option<String>,
    pub lesson: Option<String>,
    pub downloads: u64,
    /// `{file_id}/{image name}` of the material's thumbnail.
    pub thumbnail: Option<String>,
    pub score: f32,
}

/// Facet counts: value (code, or grade number) → number of matching materials.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Facets {
    pub subject: Vec<(String, u64)>,
    pub grade: Vec<(u8, u64)>,
    pub series: Vec<(String, u64)>,
    pub resource_type: Vec<(String, u64)>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchResponse {
    pub total: u64,
    pub hits: Vec<Hit>,
    pub facets: Facets,
    /// When the query as typed found nothing: the corrected query whose results these are.
    pub corrected_query: Option<String>,
    /// Whether not every word of the query had to match (the strict query found nothing).
    pub relaxed: bool,
}

fn sorted_counts(counts: std::collections::HashMap<String, u64>) -> Vec<(String, u64)> {
    let mut v: Vec<(String, u64)> = counts.into_iter().collect();
    v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    v
}

impl SearchIndex {
    /// Runs a search: the total, one page of hits and the facet counts, in one pass. A query
    /// that finds nothing is tried again with spelling corrections, then with fewer words
    /// required; the response says so.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResponse> {
        if req.offset + req.limit > MAX_DEPTH {
            return Err(Error::TooDeep(MAX_DEPTH));
        }
        let lang = &*self.lang;
        let parsed = query::parse(&req.text);
        let hints = query::understand(&parsed.words, &lang.vocab);
        let searcher = self.reader.searcher();
        let collector =
            SearchCollector { filters: &req.filters, hints: &hints, sort: req.sort, keep: req.offset + req.limit };
        let build = |corrections: &[Correction], matching| {
            query::build(&self.fields, lang, &parsed, &hints, corrections, matching)
        };
        let mut built = build(&[], Matching::All);
        let mut collected = searcher.search(&*built.query, &collector)?;
        let (mut corrected_query, mut relaxed) = (None, false);
        // Few or no results: maybe the query is mistyped.
        if collected.total < FEW && !parsed.words.is_empty() {
            let lexicon = self.lexicon(&searcher)?;
            let fix = spell::correct(&parsed, &lexicon, &searcher, &self.fields, |w| lang.synonyms.is_optional(w));
            // A convincing correction is searched as if the teacher had typed it.
            if let Some(text) = fix.did_you_mean.as_deref().filter(|_| collected.total == 0 || fix.margin >= CONVINCING)
            {
                let corrected = query::parse(text);
                let hints = query::understand(&corrected.words, &lang.vocab);
                let attempt = query::build(&self.fields, lang, &corrected, &hints, &[], Matching::All);
                let collector = SearchCollector { hints: &hints, ..collector };
                let found = searcher.search(&*attempt.query, &collector)?;
                if found.total > collected.total {
                    (built, collected, corrected_query) = (attempt, found, Some(text.to_owned()));
                }
            }
            if collected.total == 0 && !fix.corrections.is_empty() {
                built = build(&fix.corrections, Matching::All);
                collected = searcher.search(&*built.query, &collector)?;
                if collected.total > 0 {
                    corrected_query = fix.did_you_mean.clone();
                }
            }
            if collected.total == 0 && built.units > 1 {
                // Relaxed: fewer and fewer of the words required, down to half of them.
                for n in (built.units.div_ceil(2)..built.units).rev() {
                    let attempt = build(&fix.corrections, Matching::AtLeast(n));
                    let found = searcher.search(&*attempt.query, &collector)?;
                    if found.total > 0 {
                        (built, collected, relaxed) = (attempt, found, true);
                        break;
                    }
                }
            }
        }

        let highlighter = Highlighter::new(&self.index, &self.fields, built.highlight)?;
        let hits = collected
            .top
            .iter()
            .skip(req.offset)
            .map(|c| {
                let doc: TantivyDocument = searcher.doc(c.doc)?;
                Ok(hit(&self.fields, &doc, c.score, &highlighter))
            })
            .collect::<Result<Vec<_>>>()?;

        let [subject, series, resource_type] = collected.str_counts;
        debug_assert_eq!(STR_FACETS, ["subject", "series", "resource_type"]);
        let mut grade: Vec<(u8, u64)> =
            collected.grade_counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(g, n)| (g as u8, *n)).collect();
        grade.sort_by_key(|(g, _)| *g);
        Ok(SearchResponse {
            total: collected.total,
            hits,
            facets: Facets {
                subject: sorted_counts(subject),
                grade,
                series: sorted_counts(series),
                resource_type: sorted_counts(resource_type),
            },
            corrected_query,
            relaxed,
        })
    }

    /// Why a material scores what it does for `text` (tantivy's explanation of the query as
    /// typed, as JSON), for tuning and for answering "why is this first?".
    pub fn explain(&self, text: &str, id: Uuid) -> Result<Option<String>> {
        let lang = &*self.lang;
        let parsed = query::parse(text);
        let hints = query::understand(&parsed.words, &lang.vocab);
        let built = query::build(&self.fields, lang, &parsed, &hints, &[], Matching::All);
        let searcher = self.reader.searcher();
        let term = tantivy::Term::from_field_text(self.fields.id, &id.to_string());
        let found = searcher.search(
            &tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic),
            &tantivy::collector::TopDocs::with_limit(1).order_by_score(),
        )?;
        let Some((_, address)) = found.first() else { return Ok(None) };
        Ok(Some(built.query.explain(&searcher, *address)?.to_pretty_json()))
    }

    /// A searcher on the current commit (for tests and tools).
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }
}

/// Marks query words in stored text. Tokens come from the folded analyzer run on the
/// original text, so "kiem" highlights "kiểm"; the description passage is chosen by tantivy's
/// snippet generator on the same analyzer.
struct Highlighter {
    phrases: Vec<Vec<String>>,
    description: SnippetGenerator,
}

impl Highlighter {
    fn new(index: &tantivy::Index, fields: &Fields, phrases: Vec<Vec<String>>) -> Result<Self> {
        let scored: BTreeMap<String, f32> = phrases.iter().flatten().map(|t| (t.clone(), 1.0)).collect();
        let field = fields.description.fold;
        let description = SnippetGenerator::new(scored, index.tokenizer_for_field(field)?, field, SNIPPET_CHARS);
        Ok(Highlighter { phrases, description })
    }

    /// `text[range]` as escaped HTML with matched words in `<mark>` (a phrase only where all
    /// of it occurs).
    fn mark(&self, text: &str, range: Range<usize>) -> String {
        let mut tokens = Vec::new();
        analyzer::tokenize(analyzer::Mode::Fold, &text[range.clone()], &mut tokens);
        let mut marked = vec![false; tokens.len()];
        for p in &self.phrases {
            for start in 0..tokens.len().saturating_sub(p.len() - 1) {
                if tokens[start..start + p.len()].iter().zip(p).all(|(t, w)| &t.text == w) {
                    marked[start..start + p.len()].iter_mut().for_each(|m| *m = true);
                }
            }
        }
        let mut out = String::with_capacity(range.len() + 32);
        let mut at = 0;
        let part = &text[range];
        for t in tokens.iter().zip(&marked).filter(|(_, m)| **m).map(|(t, _)| t) {
            escape_into(&part[at..t.offset_from], &mut out);
            out.push_str("<mark>");
            escape_into(&part[t.offset_from..t.offset_to], &mut out);
            out.push_str("</mark>");
            at = t.offset_to;
        }
        escape_into(&part[at..], &mut out);
        out
    }

    fn title(&self, title: &str) -> String {
        self.mark(title, 0..title.len())
    }

    /// A passage of at most about [`SNIPPET_CHARS`] characters around the best matches, with
    /// "…" where it was cut; the beginning of the text when nothing matches.
    fn passage(&self, text: &str) -> String {
        if text.chars().count() <= SNIPPET_CHARS {
            return self.mark(text, 0..text.len());
        }
        let snippet = self.description.snippet(text);
        if snippet.highlighted().is_empty() {
            return escape(&beginning(text, SNIPPET_CHARS));
        }
        let range = snippet.fragment_range();
        // Extend to whole words (the fragment ends at a token, dropping closing punctuation).
        let end = text[range.end..].find(char::is_whitespace).map_or(text.len(), |i| range.end + i);
        let start = text[..range.start].rfind(char::is_whitespace).map_or(0, |i| i + 1);
        let mut out = String::new();
        if start > 0 {
            out.push('…');
        }
        out.push_str(&self.mark(text, start..end));
        if end < text.len() {
            out.push('…');
        }
        out
    }
}

fn text_of(doc: &TantivyDocument, field: Field) -> Option<String> {
    doc.get_first(field).and_then(|v| v.as_str()).map(str::to_owned)
}

/// Escapes text for HTML.
pub fn escape_into(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(text, &mut out);
    out
}

/// The first `max` characters of `text`, cut at a word boundary, with "…" when cut.
fn beginning(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let cut: String = text.chars().take(max).collect();
    let end = cut.rfind(char::is_whitespace).unwrap_or(cut.len());
    format!("{}…", cut[..end].trim_end())
}

fn hit(fields: &Fields, doc: &TantivyDocument, score: f32, h: &Highlighter) -> Hit {
    let title = text_of(doc, fields.title.fold).unwrap_or_default();
    let description = text_of(doc, fields.description.fold).unwrap_or_default();
    let title_html = h.title(&title);
    let mut snippet_html = h.passage(&description);
    // Nothing matched in the description: a passage of the files' text that matches, if any.
    if !snippet_html.contains("<mark>")
        && let Some(content) = text_of(doc, fields.content_stored)
    {
        let passage = h.passage(&content);
        if passage.contains("<mark>") {
            snippet_html = passage;
        }
    }
    let u64_of = |f: Field| doc.get_first(f).and_then(|v| v.as_u64());
    Hit {
        id: text_of(doc, fields.id).and_then(|s| Uuid::parse_str(&s).ok()).unwrap_or_default(),
        external_id: text_of(doc, fields.external_id),
        title,
        title_html,
        snippet_html,
        subject: text_of(doc, fields.subject).unwrap_or_default(),
        grade: u64_of(fields.grade).and_then(|g| u8::try_from(g).ok()),
        series: text_of(doc, fields.series),
        resource_type: text_of(doc, fields.resource_type).unwrap_or_default(),
        chapter: text_of(doc, fields.chapter.fold),
        lesson: text_of(doc, fields.lesson.fold),
        downloads: u64_of(fields.downloads).unwrap_or(0),
        thumbnail: text_of(doc, fields.thumbnail),
        score,
    }
}
