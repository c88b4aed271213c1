//! Search-quality evaluation: teacher queries with graded judgments (`fixtures/eval/`) over a
//! corpus built by the project's generator, scored for hoclieu and for a naive baseline (plain
//! BM25 without folding) in the same run.
//!
//! Judgments are rules over metadata, not lists of ids, so they hold for any corpus the
//! generator builds (see `fixtures/eval/README.md`):
//! - grade 3: the record is on the wanted topic (lesson / chapter / title text) with the wanted
//!   subject and grade, and the wanted series and resource type when the query names them;
//! - grade 2: on topic, right subject and grade, but another series or resource type;
//! - grade 1: right subject and grade, in the wanted chapter (`related`), another lesson;
//! - grade 0: anything else.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{TimeZone, Utc};
use hoclieu_domain::text::fold_text;
use hoclieu_domain::{ImportRecord, Material, MaterialMeta, Status, Vocabularies};
use hoclieu_index::baseline::BaselineIndex;
use hoclieu_index::{Filters, Indexer, Language, SearchIndex, SearchRequest, Sort};
use serde::Deserialize;
use uuid::Uuid;

/// One evaluation query.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EvalQuery {
    pub id: String,
    /// What kind of typing the query represents (no_diacritics, telex, misspelling…).
    pub variant: String,
    pub q: String,
    #[serde(default)]
    pub filters: FilterSpec,
    pub want: Want,
    #[serde(default)]
    pub note: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterSpec {
    #[serde(default)]
    pub subject: Vec<String>,
    #[serde(default)]
    pub grade: Vec<u8>,
    #[serde(default)]
    pub series: Vec<String>,
    #[serde(default)]
    pub resource_type: Vec<String>,
}

/// What the teacher is looking for.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Want {
    pub subject: Option<String>,
    pub grade: Option<u8>,
    pub series: Option<String>,
    pub resource_type: Option<String>,
    /// Text the record's lesson must contain (diacritics ignored).
    pub lesson: Option<String>,
    /// Text the record's chapter must contain.
    pub chapter: Option<String>,
    /// Text the record's title must contain.
    pub title: Option<String>,
    /// Text of the chapter that makes another lesson of it partly relevant (grade 1).
    pub related: Option<String>,
}

fn contains(haystack: Option<&str>, needle: &Option<String>) -> bool {
    match needle {
        None => true,
        Some(n) => haystack.is_some_and(|h| fold_text(h).contains(&fold_text(n))),
    }
}

impl Want {
    /// The graded relevance of a record.
    pub fn grade(&self, m: &MaterialMeta) -> u8 {
        let core =
            self.subject.as_ref().is_none_or(|s| *s == m.subject) && self.grade.is_none_or(|g| Some(g) == m.grade);
        let extra = self.series.as_ref().is_none_or(|s| Some(s) == m.series.as_ref())
            && self.resource_type.as_ref().is_none_or(|t| *t == m.resource_type);
        let topic = contains(m.lesson.as_deref(), &self.lesson)
            && contains(m.chapter.as_deref(), &self.chapter)
            && contains(Some(&m.title), &self.title);
        match (topic, core, extra) {
            (true, true, true) => 3,
            (true, true, false) => 2,
            (false, true, _) if self.related.is_some() && contains(m.chapter.as_deref(), &self.related) => 1,
            _ => 0,
        }
    }
}

impl FilterSpec {
    pub fn to_filters(&self) -> Filters {
        Filters {
            subjects: self.subject.clone(),
            grades: self.grade.clone(),
            series: self.series.clone(),
            resource_types: self.resource_type.clone(),
        }
    }

    fn passes(&self, m: &MaterialMeta) -> bool {
        (self.subject.is_empty() || self.subject.contains(&m.subject))
            && (self.grade.is_empty() || m.grade.is_some_and(|g| self.grade.contains(&g)))
            && (self.series.is_empty() || m.series.as_ref().is_some_and(|s| self.series.contains(s)))
            && (self.resource_type.is_empty() || self.resource_type.contains(&m.resource_type))
    }
}

/// Parses the queries file (JSON Lines).
pub fn parse_queries(text: &str) -> Result<Vec<EvalQuery>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
        .map(|(i, l)| serde_json::from_str(l).map_err(|e| format!("queries line {}: {e}", i + 1)))
        .collect()
}

/// `count` generated materials (seeded), with heavy-tailed download counts.
pub fn corpus(count: usize, seed: u64) -> Vec<Material> {
    let vocab = Vocabularies::embedded();
    let mut rng = hoclieu_generator::Rng::new(seed ^ 0xD0);
    let start = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
    hoclieu_generator::Generator::new(seed)
        .take(count)
        .enumerate()
        .map(|(i, record)| {
            let meta = ImportRecord::from_json(&record.to_string())
                .and_then(|r| r.validate(&vocab, false))
                .expect("generated records are valid");
            let downloads = ((rng.below(10_000) as f64 / 10_000.0 * 7.0).exp() - 1.0) as u64;
            let at = start + chrono::Duration::minutes(i as i64);
            Material {
                id: Uuid::from_u128(0x0190_0000_0000_7000_8000_0000_0000_0000 | i as u128),
                meta,
                status: Status::Published,
                status_reason: None,
                author: None,
                author_key: None,
                version: 1,
                downloads,
                created_at: at,
                updated_at: at,
                files: Vec::new(),
            }
        })
        .collect()
}

/// Scores of one system on one query.
#[derive(Debug, Clone, Copy, Default)]
pub struct Scores {
    pub ndcg: f64,
    pub success: f64,
    pub recall: f64,
}

fn dcg(gains: impl Iterator<Item = u8>) -> f64 {
    gains.enumerate().map(|(i, g)| (2f64.powi(i32::from(g)) - 1.0) / ((i + 2) as f64).log2()).sum()
}

/// nDCG@10 (gain 2^g − 1), Success@10 (a grade ≥ 2 result in the top 10) and Recall@10 (grade
/// ≥ 2 results found in the top 10 over min(10, all of them)).
pub fn score(ranked: &[u8], all_grades: &[u8]) -> Scores {
    let top: Vec<u8> = ranked.iter().take(10).copied().collect();
    let mut ideal = all_grades.to_vec();
    ideal.sort_unstable_by(|a, b| b.cmp(a));
    let idcg = dcg(ideal.iter().take(10).copied());
    let relevant = all_grades.iter().filter(|g| **g >= 2).count();
    let found = top.iter().filter(|g| **g >= 2).count();
    Scores {
        ndcg: if idcg > 0.0 { dcg(top.iter().copied()) / idcg } else { 0.0 },
        success: if found > 0 { 1.0 } else { 0.0 },
        recall: if relevant > 0 { found as f64 / relevant.min(10) as f64 } else { 0.0 },
    }
}

/// The outcome of one query.
#[derive(Debug, Clone)]
pub struct QueryResult {
    pub query: EvalQuery,
    pub hoclieu: Scores,
    pub baseline: Scores,
    /// The same query ranked by scoring every match (no phases, no correction): what the phased
    /// search must equal or beat.
    pub exhaustive: Scores,
    /// Whether the phased search's page is the exhaustive one (same materials, same order);
    /// `None` when the phased search corrected or relaxed the query.
    pub same_page: Option<bool>,
    /// Records of grade ≥ 2 in the corpus (after the query's filters).
    pub relevant: usize,
    /// Titles of hoclieu's top 3 (for reading the report).
    pub top: Vec<String>,
    /// The correction hoclieu applied, if any, and whether it relaxed the query.
    pub corrected: Option<String>,
    pub relaxed: bool,
    /// Time hoclieu took to answer (search, facets, snippets), in microseconds.
    pub micros: u64,
}

/// Averages per variant and overall.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub per_variant: BTreeMap<String, (usize, Scores, Scores)>,
    pub overall: (usize, Scores, Scores),
    /// Overall scores of the exhaustive ranking of the queries as typed.
    pub exhaustive: Scores,
    /// Queries answered as typed, and how many of them got exactly the exhaustive page.
    pub as_typed: usize,
    pub same_page: usize,
}

fn add(a: &mut Scores, b: Scores) {
    a.ndcg += b.ndcg;
    a.success += b.success;
    a.recall += b.recall;
}

fn mean(s: Scores, n: usize) -> Scores {
    let n = n.max(1) as f64;
    Scores { ndcg: s.ndcg / n, success: s.success / n, recall: s.recall / n }
}

pub fn summarise(results: &[QueryResult]) -> Summary {
    let mut summary = Summary::default();
    for r in results {
        let e = summary.per_variant.entry(r.query.variant.clone()).or_default();
        e.0 += 1;
        add(&mut e.1, r.hoclieu);
        add(&mut e.2, r.baseline);
        summary.overall.0 += 1;
        add(&mut summary.overall.1, r.hoclieu);
        add(&mut summary.overall.2, r.baseline);
        add(&mut summary.exhaustive, r.exhaustive);
        if let Some(same) = r.same_page {
            summary.as_typed += 1;
            summary.same_page += usize::from(same);
        }
    }
    for e in summary.per_variant.values_mut() {
        *e = (e.0, mean(e.1, e.0), mean(e.2, e.0));
    }
    let o = summary.overall;
    summary.overall = (o.0, mean(o.1, o.0), mean(o.2, o.0));
    summary.exhaustive = mean(summary.exhaustive, o.0);
    summary
}

/// Builds both indexes over `corpus` and runs every query.
pub async fn evaluate(queries: &[EvalQuery], corpus: &[Material], repeat: usize) -> Result<Vec<QueryResult>, String> {
    let err = |e: hoclieu_index::Error| e.to_string();
    let index = SearchIndex::in_memory(Language::embedded()).map_err(err)?;
    let mut indexer = Indexer::acquire(&index, 128).map_err(err)?;
    indexer.load(corpus).await.map_err(err)?;
    let baseline = BaselineIndex::build(corpus).map_err(err)?;
    let by_id: std::collections::HashMap<Uuid, &Material> = corpus.iter().map(|m| (m.id, m)).collect();
    let mut out = Vec::with_capacity(queries.len());
    for q in queries {
        let grades: Vec<u8> =
            corpus.iter().filter(|m| q.filters.passes(&m.meta)).map(|m| q.want.grade(&m.meta)).collect();
        let relevant = grades.iter().filter(|g| **g >= 2).count();
        let request = SearchRequest {
            text: q.q.clone(),
            filters: q.filters.to_filters(),
            sort: Sort::Relevance,
            offset: 0,
            limit: 10,
        };
        let mut micros = u64::MAX;
        let mut response = None;
        for _ in 0..repeat.max(1) {
            let started = std::time::Instant::now();
            response = Some(index.search(&request).map_err(err)?);
            micros = micros.min(started.elapsed().as_micros() as u64);
        }
        let response = response.expect("at least one run");
        let ranked: Vec<u8> =
            response.hits.iter().map(|h| by_id.get(&h.id).map_or(0, |m| q.want.grade(&m.meta))).collect();
        let reference = index.search_exhaustively(&request).map_err(err)?;
        let exhaustive: Vec<u8> =
            reference.hits.iter().map(|h| by_id.get(&h.id).map_or(0, |m| q.want.grade(&m.meta))).collect();
        let same_page = (response.corrected_query.is_none() && !response.relaxed)
            .then(|| response.hits.iter().map(|h| h.id).eq(reference.hits.iter().map(|h| h.id)));
        // The baseline has no filters: it filters its top 1,000 afterwards.
        let base: Vec<u8> = baseline
            .search(&q.q, 1000)
            .map_err(err)?
            .into_iter()
            .filter_map(|id| by_id.get(&id))
            .filter(|m| q.filters.passes(&m.meta))
            .take(10)
            .map(|m| q.want.grade(&m.meta))
            .collect();
        out.push(QueryResult {
            hoclieu: score(&ranked, &grades),
            baseline: score(&base, &grades),
            exhaustive: score(&exhaustive, &grades),
            same_page,
            relevant,
            top: response.hits.iter().take(3).map(|h| h.title.clone()).collect(),
            corrected: response.corrected_query.clone(),
            relaxed: response.relaxed,
            micros,
            query: q.clone(),
        });
    }
    Ok(out)
}

/// The queries shipped in `fixtures/eval/queries.jsonl`.
pub const QUERIES: &str = include_str!("../../../fixtures/eval/queries.jsonl");
/// Corpus size and seed of the reference evaluation.
pub const CORPUS_SIZE: usize = 10_000;
pub const CORPUS_SEED: u64 = 42;

/// Ensures the vocabularies are those of the judgments (codes in `want`).
pub fn check_codes(queries: &[EvalQuery]) -> Result<(), String> {
    let v: Arc<Vocabularies> = Arc::new(Vocabularies::embedded());
    for q in queries {
        let w = &q.want;
        for (what, code, vocab) in [
            ("subject", &w.subject, &v.subjects),
            ("series", &w.series, &v.series),
            ("resource_type", &w.resource_type, &v.resource_types),
        ] {
            if let Some(c) = code
                && vocab.get(c).is_none()
            {
                return Err(format!("query {}: unknown {what} code {c:?}", q.id));
            }
        }
    }
    Ok(())
}
