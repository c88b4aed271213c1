//! Searching: request, response, hits with highlighted snippets.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;

use serde::Serialize;
use tantivy::collector::TopDocs;
use tantivy::query::{AllQuery, BooleanQuery, ConstScoreQuery, EnableScoring, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption, Value};
use tantivy::snippet::SnippetGenerator;
use tantivy::{DocAddress, DocSet, Searcher, TERMINATED, TantivyDocument, Term};
use uuid::Uuid;

use crate::collector::{Candidate, Counts, STR_FACETS, SearchCollector, SegmentColumns};
use crate::query::{Built, matching};
use crate::schema::Fields;
use crate::{Error, Result, SearchIndex, analyzer, cache, collector, query, spell};

/// Deepest result a search may page to (offset + page size).
pub const MAX_DEPTH: usize = 10_000;
/// Below this many results a query is checked for spelling mistakes.
const FEW: u64 = 20;
/// How much better a correction must fit the index to replace a query that found something.
const CONVINCING: f32 = 1.0;
/// Characters of description shown in a hit.
const SNIPPET_CHARS: usize = 240;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Sort {
    #[default]
    Relevance,
    Newest,
    Downloads,
}

/// Filters, as vocabulary codes. Several values of one filter are alternatives (OR); different
/// filters all apply (AND).
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct Filters {
    pub subjects: Vec<String>,
    pub grades: Vec<u8>,
    pub series: Vec<String>,
    pub resource_types: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
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
    /// Whether `total` and the facet counts are estimates (two significant digits): the search
    /// matched more documents than it counts one by one.
    pub total_is_estimate: bool,
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

/// Candidates re-ranked by the full relevance score: enough that the first page of the full
/// ranking is among them (see docs/SEARCH.md for how this was measured).
const CANDIDATES: usize = 300;
/// Documents a search may visit to count its matches and facets; beyond it they are estimated.
pub(crate) const COUNT_BUDGET: u64 = 30_000;

/// Runs `f` and records its duration in `slot` (phases of a search, for the logs).
fn timed<T>(slot: &mut u128, f: impl FnOnce() -> T) -> T {
    let started = std::time::Instant::now();
    let out = f();
    *slot += started.elapsed().as_micros();
    out
}

/// Microseconds spent in each phase of one search.
#[derive(Debug, Default)]
struct Phases {
    count: u128,
    correct: u128,
    rank: u128,
    hits: u128,
}

impl SearchIndex {
    /// Runs a search: the total and facet counts (estimated beyond a budget of documents), one
    /// page of hits ranked by the full relevance score, and — when the query as typed finds
    /// little — a spelling correction or a relaxed match. A first page is served from a cache
    /// keyed by the index's generation, so a commit invalidates it.
    pub fn search(&self, req: &SearchRequest) -> Result<SearchResponse> {
        if req.offset + req.limit > MAX_DEPTH {
            return Err(Error::TooDeep(MAX_DEPTH));
        }
        let searcher = self.reader.searcher();
        let key = (req.offset == 0).then(|| cache::Key::new(&searcher, req));
        if let Some(found) = key.as_ref().and_then(|k| self.cache.get(k)) {
            return Ok(found);
        }
        let response = self.search_on(&searcher, req)?;
        if let Some(k) = key {
            self.cache.insert(k, &response);
        }
        Ok(response)
    }

    fn search_on(&self, searcher: &Searcher, req: &SearchRequest) -> Result<SearchResponse> {
        let lang = &*self.lang;
        let mut phases = Phases::default();
        let parsed = query::parse(&req.text);
        let mut hints = query::understand(&parsed.words, &lang.vocab);
        let mut built = query::build(&self.fields, lang, &parsed, &hints, &[]);
        // Browsing without words, or sorting by date or downloads: every match may rank, so one
        // full pass ranks and counts at once.
        if built.units() == 0 || req.sort != Sort::Relevance {
            let collected = timed(&mut phases.rank, || self.full_pass(searcher, &built, &hints, req))?;
            return self.respond(searcher, req, collected.counts, collected.top, &built, None, false, phases);
        }
        let mut counts =
            timed(&mut phases.count, || self.count(searcher, &built, &req.filters, &hints, built.units()))?;
        let (mut corrected_query, mut relaxed) = (None, false);
        // Few or no results: maybe the query is mistyped. Each attempt costs one bounded count.
        if counts.total < FEW {
            let lexicon = self.current_lexicon();
            let fix = timed(&mut phases.correct, || {
                lexicon.as_ref().map(|lexicon| {
                    spell::correct(&parsed, lexicon, searcher, &self.fields, |w| lang.synonyms.is_optional(w))
                })
            })
            .unwrap_or_default();
            // A convincing correction is searched as if the teacher had typed it.
            if let Some(text) = fix.did_you_mean.as_deref().filter(|_| counts.total == 0 || fix.margin >= CONVINCING) {
                let corrected = query::parse(text);
                let corrected_hints = query::understand(&corrected.words, &lang.vocab);
                let attempt = query::build(&self.fields, lang, &corrected, &corrected_hints, &[]);
                let found = timed(&mut phases.correct, || {
                    self.count(searcher, &attempt, &req.filters, &corrected_hints, attempt.units())
                })?;
                if found.total > counts.total {
                    (built, counts, hints, corrected_query) = (attempt, found, corrected_hints, Some(text.to_owned()));
                }
            }
            if counts.total == 0 && !fix.corrections.is_empty() {
                let attempt = query::build(&self.fields, lang, &parsed, &hints, &fix.corrections);
                let found = timed(&mut phases.correct, || {
                    self.count(searcher, &attempt, &req.filters, &hints, attempt.units())
                })?;
                if found.total > 0 {
                    (built, counts, corrected_query) = (attempt, found, fix.did_you_mean.clone());
                }
            }
            if counts.total == 0 && built.units() > 1 {
                // Relaxed: as many of the words as any material has, down to half of them.
                let ranked = timed(&mut phases.rank, || self.relaxed(searcher, &built, &hints, req))?;
                if let Some((needed, top)) = ranked {
                    let found =
                        timed(&mut phases.count, || self.count(searcher, &built, &req.filters, &hints, needed))?;
                    relaxed = true;
                    return self.respond(searcher, req, found, top, &built, corrected_query, relaxed, phases);
                }
            }
        }
        let top = timed(&mut phases.rank, || self.ranked(searcher, &built, &hints, req))?;
        self.respond(searcher, req, counts, top, &built, corrected_query, relaxed, phases)
    }

    /// Every match scored by the full relevance (which also breaks ties of date and downloads),
    /// counted exactly, the best `offset + limit` kept: what a search costs without its phases.
    fn full_pass(
        &self,
        searcher: &Searcher,
        built: &Built,
        hints: &query::Hints,
        req: &SearchRequest,
    ) -> Result<collector::Collected> {
        let query: Box<dyn Query> = if built.units() == 0 {
            Box::new(AllQuery)
        } else {
            let matches = matching::anywhere(&self.fields, built, built.units());
            Box::new(BooleanQuery::new(vec![
                (Occur::Must, Box::new(ConstScoreQuery::new(matches, 0.0)) as Box<dyn Query>),
                (Occur::Should, built.scoring.box_clone()),
            ]))
        };
        let collector = SearchCollector {
            filters: &req.filters,
            hints,
            sort: req.sort,
            keep: req.offset + req.limit,
            scoring: true,
        };
        Ok(searcher.search(&*query, &collector)?)
    }

    /// The page of a search as typed (no correction, no relaxation), ranked by scoring every
    /// match: the reference the phased search is compared with (tests, `make eval`).
    #[doc(hidden)]
    pub fn search_exhaustively(&self, req: &SearchRequest) -> Result<SearchResponse> {
        let searcher = self.reader.searcher();
        let parsed = query::parse(&req.text);
        let hints = query::understand(&parsed.words, &self.lang.vocab);
        let built = query::build(&self.fields, &self.lang, &parsed, &hints, &[]);
        let collected = self.full_pass(&searcher, &built, &hints, req)?;
        self.respond(&searcher, req, collected.counts, collected.top, &built, None, false, Phases::default())
    }

    /// Totals and facets of the documents matching at least `needed` units of `built`.
    fn count(
        &self,
        searcher: &Searcher,
        built: &Built,
        filters: &Filters,
        hints: &query::Hints,
        needed: usize,
    ) -> Result<Counts> {
        let query = matching::anywhere(&self.fields, built, needed);
        Ok(collector::count(searcher, &*query, filters, hints, self.count_budget)?)
    }

    /// The first phase: the best candidates by BM25 on the metadata words (pruned), topped up
    /// with documents that match only through the text of their files; then every candidate
    /// is scored in full and the best `offset + limit` kept.
    fn ranked(
        &self,
        searcher: &Searcher,
        built: &Built,
        hints: &query::Hints,
        req: &SearchRequest,
    ) -> Result<Vec<Candidate>> {
        let wanted = CANDIDATES.max(req.offset + req.limit);
        let first = matching::metadata(&self.fields, built, filter_clauses(&self.fields, &req.filters));
        let loose: Vec<DocAddress> = searcher
            .search(&*first, &TopDocs::with_limit(wanted).order_by_score())?
            .into_iter()
            .map(|(_, doc)| doc)
            .collect();
        // The first phase matches loosely (a grade's number anywhere, say): keep what matches.
        let exact = matching::anywhere(&self.fields, built, built.units());
        let mut docs = matching_among(searcher, &*exact, &loose)?;
        if docs.len() < req.offset + req.limit && loose.len() == wanted {
            // Too many loose matches were not real ones: rank the real ones directly (unpruned).
            let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, exact.box_clone())];
            let first = matching::metadata(&self.fields, built, filter_clauses(&self.fields, &req.filters));
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(first, 0.0))));
            docs = searcher
                .search(&BooleanQuery::new(clauses), &TopDocs::with_limit(wanted).order_by_score())?
                .into_iter()
                .map(|(_, doc)| doc)
                .collect();
        }
        if docs.len() < wanted {
            // Fewer matches in the metadata than wanted: add those found in the files' text.
            let anywhere = matching::anywhere(&self.fields, built, built.units());
            let more = self.first_matches(searcher, &*anywhere, &req.filters, hints, wanted, &docs)?;
            docs.extend(more);
        }
        self.rerank(searcher, built, hints, req, docs)
    }

    /// A relaxed search: candidates sharing words with the query (pruned union), ranked by how
    /// many units they match, then by score. Returns the units needed and the ranked page, or
    /// nothing when no candidate matches half of the units.
    fn relaxed(
        &self,
        searcher: &Searcher,
        built: &Built,
        hints: &query::Hints,
        req: &SearchRequest,
    ) -> Result<Option<(usize, Vec<Candidate>)>> {
        let wanted = CANDIDATES.max(req.offset + req.limit);
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, matching::any_unit(&self.fields, built))];
        clauses.extend(filter_clauses(&self.fields, &req.filters).into_iter().map(|f| (Occur::Must, f)));
        let docs: Vec<DocAddress> = searcher
            .search(&BooleanQuery::new(clauses), &TopDocs::with_limit(wanted).order_by_score())?
            .into_iter()
            .map(|(_, doc)| doc)
            .collect();
        // How many units each candidate matches (exactly, files included).
        let mut matched: HashMap<DocAddress, usize> = HashMap::new();
        for unit in &built.required {
            let q = matching::unit(&self.fields, unit, true);
            for doc in matching_among(searcher, &*q, &docs)? {
                *matched.entry(doc).or_default() += 1;
            }
        }
        let needed = built.units().div_ceil(2);
        let best = matched.values().copied().max().unwrap_or(0);
        if best < needed || best == 0 {
            return Ok(None);
        }
        let kept: Vec<DocAddress> = docs.into_iter().filter(|d| matched.get(d) == Some(&best)).collect();
        Ok(Some((best, self.rerank(searcher, built, hints, req, kept)?)))
    }

    /// The first documents (in index order) matching `query` and the filters, beyond `exclude`,
    /// up to `wanted` in all.
    fn first_matches(
        &self,
        searcher: &Searcher,
        query: &dyn Query,
        filters: &Filters,
        hints: &query::Hints,
        wanted: usize,
        exclude: &[DocAddress],
    ) -> Result<Vec<DocAddress>> {
        let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
        let exclude: std::collections::HashSet<&DocAddress> = exclude.iter().collect();
        let mut out = Vec::new();
        for (ord, reader) in searcher.segment_readers().iter().enumerate() {
            let columns = SegmentColumns::new(reader, filters, hints)?;
            let mut scorer = weight.scorer(reader, 1.0)?;
            let alive = reader.alive_bitset();
            while scorer.doc() != TERMINATED && exclude.len() + out.len() < wanted {
                let doc = scorer.doc();
                let address = DocAddress::new(ord as u32, doc);
                if alive.is_none_or(|a| a.is_alive(doc)) && columns.passes(doc) && !exclude.contains(&address) {
                    out.push(address);
                }
                scorer.advance();
            }
        }
        Ok(out)
    }

    /// Scores `docs` with the full query (exact diacritics, bigrams, phrases, synonyms, hints,
    /// popularity) and keeps the best `offset + limit`, best first.
    fn rerank(
        &self,
        searcher: &Searcher,
        built: &Built,
        hints: &query::Hints,
        req: &SearchRequest,
        mut docs: Vec<DocAddress>,
    ) -> Result<Vec<Candidate>> {
        docs.sort_by_key(|d| (d.segment_ord, d.doc_id));
        docs.dedup();
        let weight = built.scoring.weight(EnableScoring::enabled_from_searcher(searcher))?;
        let mut ranked = Vec::with_capacity(docs.len());
        for (ord, segment_docs) in docs.chunk_by(|a, b| a.segment_ord == b.segment_ord).map(|c| (c[0].segment_ord, c)) {
            let reader = searcher.segment_reader(ord);
            let columns = SegmentColumns::new(reader, &req.filters, hints)?;
            let mut scorer = weight.scorer(reader, 1.0)?;
            for address in segment_docs {
                let doc = address.doc_id;
                if scorer.doc() < doc {
                    scorer.seek(doc);
                }
                let score = if scorer.doc() == doc { scorer.score() } else { 0.0 };
                ranked.push(Candidate { key: columns.key(doc, score, req.sort), score, doc: *address });
            }
        }
        ranked.sort_unstable_by(|a, b| b.cmp(a));
        ranked.truncate(req.offset + req.limit);
        Ok(ranked)
    }

    /// The response: hits built from stored fields for the requested page.
    #[allow(clippy::too_many_arguments)]
    fn respond(
        &self,
        searcher: &Searcher,
        req: &SearchRequest,
        counts: Counts,
        top: Vec<Candidate>,
        built: &Built,
        corrected_query: Option<String>,
        relaxed: bool,
        mut phases: Phases,
    ) -> Result<SearchResponse> {
        let hits = timed(&mut phases.hits, || -> Result<Vec<Hit>> {
            let highlighter = Highlighter::new(&self.index, &self.fields, built.highlight.clone())?;
            top.iter()
                .skip(req.offset)
                .map(|c| {
                    let doc: TantivyDocument = searcher.doc(c.doc)?;
                    Ok(hit(&self.fields, &doc, c.score, &highlighter))
                })
                .collect()
        })?;
        tracing::debug!(
            count_us = phases.count,
            correct_us = phases.correct,
            rank_us = phases.rank,
            hits_us = phases.hits,
            total = counts.total,
            estimated = counts.estimated,
            "search phases"
        );
        let [subject, series, resource_type] = counts.str_counts;
        debug_assert_eq!(STR_FACETS, ["subject", "series", "resource_type"]);
        let mut grade: Vec<(u8, u64)> =
            counts.grade_counts.iter().enumerate().filter(|(_, n)| **n > 0).map(|(g, n)| (g as u8, *n)).collect();
        grade.sort_by_key(|(g, _)| *g);
        Ok(SearchResponse {
            total: counts.total,
            total_is_estimate: counts.estimated,
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
        let built = query::build(&self.fields, lang, &parsed, &hints, &[]);
        let searcher = self.reader.searcher();
        let term = tantivy::Term::from_field_text(self.fields.id, &id.to_string());
        let found = searcher.search(
            &tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic),
            &tantivy::collector::TopDocs::with_limit(1).order_by_score(),
        )?;
        let Some((_, address)) = found.first() else { return Ok(None) };
        Ok(Some(built.scoring.explain(&searcher, *address)?.to_pretty_json()))
    }

    /// A searcher on the current commit (for tests and tools).
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }
}

/// Filters as query clauses (one value: a term; several: any of them), for the first phase.
fn filter_clauses(fields: &Fields, filters: &Filters) -> Vec<Box<dyn Query>> {
    let term = |t: Term| -> Box<dyn Query> { Box::new(TermQuery::new(t, IndexRecordOption::Basic)) };
    let any = |terms: Vec<Term>| -> Option<Box<dyn Query>> {
        match terms.len() {
            0 => None,
            1 => Some(term(terms.into_iter().next().expect("one term"))),
            _ => Some(Box::new(BooleanQuery::new(terms.into_iter().map(|t| (Occur::Should, term(t))).collect()))),
        }
    };
    let strs = |field: Field, values: &[String]| values.iter().map(|v| Term::from_field_text(field, v)).collect();
    [
        any(strs(fields.subject, &filters.subjects)),
        any(strs(fields.series, &filters.series)),
        any(strs(fields.resource_type, &filters.resource_types)),
        any(filters.grades.iter().map(|g| Term::from_field_u64(fields.grade, u64::from(*g))).collect()),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Which of `docs` (sorted or not) match `query`.
fn matching_among(searcher: &Searcher, query: &dyn Query, docs: &[DocAddress]) -> Result<Vec<DocAddress>> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut sorted: Vec<DocAddress> = docs.to_vec();
    sorted.sort_by_key(|d| (d.segment_ord, d.doc_id));
    let mut out = Vec::new();
    for chunk in sorted.chunk_by(|a, b| a.segment_ord == b.segment_ord) {
        let mut scorer = weight.scorer(searcher.segment_reader(chunk[0].segment_ord), 1.0)?;
        for d in chunk {
            if scorer.doc() < d.doc_id {
                scorer.seek(d.doc_id);
            }
            if scorer.doc() == d.doc_id {
                out.push(*d);
            }
        }
    }
    Ok(out)
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
    let description = text_of(doc, fields.description_stored).unwrap_or_default();
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
