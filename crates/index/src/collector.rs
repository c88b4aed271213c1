//! Filters, facet counts and ranking keys on fast fields, per segment.
//!
//! Filters are applied here rather than in the query so that facet counts can be disjunctive:
//! a document that fails only the subject filter still counts toward the subject facet, so
//! each facet shows what choosing another value of it would give (the usual faceted-search
//! behaviour), while the other active filters narrow it.
//!
//! Three users: [`count`] (totals and facets on the cheap matching form, without scoring, within
//! a budget of documents — beyond it the counts are estimated from evenly spread windows of the
//! segment), [`SegmentColumns::key`] (the ranking key of the few candidates a search re-ranks),
//! and [`SearchCollector`] (one full pass that also keeps the top documents, for sorts that are
//! not by relevance and for browsing without words).

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::{EnableScoring, Query};
use tantivy::{DocAddress, DocId, DocSet, Score, Searcher, SegmentOrdinal, SegmentReader, TERMINATED};

use crate::query::Hints;
use crate::search::{Filters, Sort};

/// The dimensions of faceting and filtering backed by string fast fields.
pub const STR_FACETS: [&str; 3] = ["subject", "series", "resource_type"];

/// Totals and facet counts of a search.
#[derive(Debug, Clone, Default)]
pub struct Counts {
    pub total: u64,
    /// Counts per value, for each of [`STR_FACETS`] in order.
    pub str_counts: [HashMap<String, u64>; 3],
    /// Counts per grade (index = grade).
    pub grade_counts: [u64; 13],
    /// Whether the counts are estimated from a sample (more matches than the budget).
    pub estimated: bool,
}

/// A document that may make the top: its sort key (bigger is better; ties go to the earlier
/// document), its relevance score and its address.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    pub key: (f64, f64),
    pub score: Score,
    pub doc: DocAddress,
}

impl PartialEq for Candidate {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Candidate {}
impl PartialOrd for Candidate {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Candidate {
    /// "Greater" means "better": higher key, then lower document address.
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .0
            .total_cmp(&other.key.0)
            .then(self.key.1.total_cmp(&other.key.1))
            .then_with(|| (other.doc.segment_ord, other.doc.doc_id).cmp(&(self.doc.segment_ord, self.doc.doc_id)))
    }
}

/// A filter on a string column, resolved to this segment's term ordinals.
struct StrDimension {
    column: Option<StrColumn>,
    /// `None`: no filter on this dimension. `Some(sorted ords)`: allowed values.
    allowed: Option<Vec<u64>>,
    /// Values the query names (boosted).
    hinted: Vec<u64>,
}

fn ords(column: &Option<StrColumn>, values: &[String]) -> tantivy::Result<Vec<u64>> {
    let mut ords = Vec::new();
    if let Some(col) = column {
        for value in values {
            if let Some(ord) = col.dictionary().term_ord(value)? {
                ords.push(ord);
            }
        }
    }
    ords.sort_unstable();
    Ok(ords)
}

impl StrDimension {
    fn new(reader: &SegmentReader, field: &str, filter: &[String], hinted: &[String]) -> tantivy::Result<Self> {
        let column = reader.fast_fields().str(field)?;
        let allowed = if filter.is_empty() { None } else { Some(ords(&column, filter)?) };
        let hinted = ords(&column, hinted)?;
        Ok(StrDimension { column, allowed, hinted })
    }

    fn hinted(&self, ord: Option<u64>) -> bool {
        ord.is_some_and(|o| self.hinted.binary_search(&o).is_ok())
    }

    fn ord(&self, doc: DocId) -> Option<u64> {
        self.column.as_ref().and_then(|c| c.term_ords(doc).next())
    }

    fn passes(&self, ord: Option<u64>) -> bool {
        match &self.allowed {
            None => true,
            Some(allowed) => ord.is_some_and(|o| allowed.binary_search(&o).is_ok()),
        }
    }

    fn num_terms(&self) -> usize {
        self.column.as_ref().map_or(0, |c| c.num_terms())
    }
}

/// What the filters say of one document.
struct Checked {
    ords: [Option<u64>; 3],
    grade: Option<u64>,
    /// Which filters it fails: the three string dimensions, then the grade.
    failed: [bool; 4],
    failures: usize,
}

/// The fast-field columns of one segment, with the filters and hints resolved for it.
pub struct SegmentColumns {
    dims: [StrDimension; 3],
    grade: Column<u64>,
    grade_allowed: Option<[bool; 13]>,
    created: Column<i64>,
    downloads: Column<u64>,
    lesson_no: Column<u64>,
    hinted_grades: Vec<u64>,
    hinted_lesson: Option<u64>,
}

impl SegmentColumns {
    pub fn new(reader: &SegmentReader, filters: &Filters, hints: &Hints) -> tantivy::Result<Self> {
        let dims = [
            StrDimension::new(reader, STR_FACETS[0], &filters.subjects, &hints.subjects)?,
            StrDimension::new(reader, STR_FACETS[1], &filters.series, &hints.series)?,
            StrDimension::new(reader, STR_FACETS[2], &filters.resource_types, &hints.resource_types)?,
        ];
        let grade_allowed = (!filters.grades.is_empty()).then(|| {
            let mut allowed = [false; 13];
            for &g in &filters.grades {
                if let Some(slot) = allowed.get_mut(usize::from(g)) {
                    *slot = true;
                }
            }
            allowed
        });
        Ok(SegmentColumns {
            dims,
            grade: reader.fast_fields().u64("grade")?,
            grade_allowed,
            created: reader.fast_fields().i64("created")?,
            downloads: reader.fast_fields().u64("downloads")?,
            lesson_no: reader.fast_fields().u64("lesson_no")?,
            hinted_grades: hints.grades.clone(),
            hinted_lesson: hints.lesson_no,
        })
    }

    fn check(&self, doc: DocId) -> Checked {
        let ords = [self.dims[0].ord(doc), self.dims[1].ord(doc), self.dims[2].ord(doc)];
        let grade = self.grade.first(doc);
        let grade_ok = match &self.grade_allowed {
            None => true,
            Some(allowed) => grade.is_some_and(|g| allowed.get(g as usize).copied().unwrap_or(false)),
        };
        let failed =
            [!self.dims[0].passes(ords[0]), !self.dims[1].passes(ords[1]), !self.dims[2].passes(ords[2]), !grade_ok];
        let failures = failed.iter().filter(|f| **f).count();
        Checked { ords, grade, failed, failures }
    }

    /// Whether the document passes every filter.
    pub fn passes(&self, doc: DocId) -> bool {
        self.check(doc).failures == 0
    }

    /// How much the hints lift this document.
    fn hint_factor(&self, doc: DocId, c: &Checked) -> f64 {
        let mut factor = 1.0;
        for (i, boost) in [HINT_SUBJECT, HINT_SERIES, HINT_TYPE].into_iter().enumerate() {
            if self.dims[i].hinted(c.ords[i]) {
                factor *= boost;
            }
        }
        if c.grade.is_some_and(|g| self.hinted_grades.contains(&g)) {
            factor *= HINT_GRADE;
        }
        if self.hinted_lesson.is_some() && self.lesson_no.first(doc) == self.hinted_lesson {
            factor *= HINT_LESSON;
        }
        factor
    }

    /// The sort key of a document with relevance `score`: relevance times the hints' lift and
    /// the popularity prior (newest first among equals), or the date or the downloads.
    pub fn key(&self, doc: DocId, score: Score, sort: Sort) -> (f64, f64) {
        let created = self.created.first(doc).unwrap_or(0) as f64;
        match sort {
            Sort::Relevance => {
                let factor = self.hint_factor(doc, &self.check(doc));
                (f64::from(score) * factor * popularity(self.downloads.first(doc).unwrap_or(0)), created)
            }
            Sort::Newest => (created, f64::from(score)),
            Sort::Downloads => (self.downloads.first(doc).unwrap_or(0) as f64, f64::from(score)),
        }
    }
}

/// Counts of one segment (or one window of it), in document units.
struct Tally {
    total: u64,
    dims: [Vec<u64>; 3],
    grades: [u64; 13],
}

impl Tally {
    fn new(columns: &SegmentColumns) -> Tally {
        Tally {
            total: 0,
            dims: [
                vec![0; columns.dims[0].num_terms()],
                vec![0; columns.dims[1].num_terms()],
                vec![0; columns.dims[2].num_terms()],
            ],
            grades: [0; 13],
        }
    }

    /// Counts a document; true when it passes every filter.
    fn add(&mut self, c: &Checked) -> bool {
        if c.failures > 1 {
            return false;
        }
        // A document counts toward a facet when it passes every filter except that facet's own.
        for i in 0..3 {
            if (c.failures == 0 || c.failed[i])
                && let Some(o) = c.ords[i]
            {
                self.dims[i][o as usize] += 1;
            }
        }
        if (c.failures == 0 || c.failed[3])
            && let Some(g) = c.grade
            && let Some(slot) = self.grades.get_mut(g as usize)
        {
            *slot += 1;
        }
        if c.failures > 0 {
            return false;
        }
        self.total += 1;
        true
    }
}

/// Counts in fractional units while windows are scaled up to estimates.
struct Estimate {
    total: f64,
    dims: [Vec<f64>; 3],
    grades: [f64; 13],
}

impl Estimate {
    fn new(columns: &SegmentColumns) -> Estimate {
        Estimate {
            total: 0.0,
            dims: [
                vec![0.0; columns.dims[0].num_terms()],
                vec![0.0; columns.dims[1].num_terms()],
                vec![0.0; columns.dims[2].num_terms()],
            ],
            grades: [0.0; 13],
        }
    }

    fn add(&mut self, t: &Tally, scale: f64) {
        self.total += t.total as f64 * scale;
        for (d, counts) in self.dims.iter_mut().zip(&t.dims) {
            for (sum, n) in d.iter_mut().zip(counts) {
                *sum += *n as f64 * scale;
            }
        }
        for (sum, n) in self.grades.iter_mut().zip(&t.grades) {
            *sum += *n as f64 * scale;
        }
    }
}

/// Windows a segment's documents are counted in when they are too many to count all.
const WINDOWS: u32 = 32;

/// Counts the documents matching `query` that pass `filters`, with facet counts, visiting at most
/// about `budget` documents. Beyond that, each segment is counted in [`WINDOWS`] windows spread
/// evenly over its documents, each within its share of the budget, and the counts of a window
/// that was not finished are scaled up by the share of the window it covered; the result says
/// it is an estimate (large counts then carry two significant digits).
pub fn count(
    searcher: &Searcher,
    query: &dyn Query,
    filters: &Filters,
    hints: &Hints,
    budget: u64,
) -> tantivy::Result<Counts> {
    let weight = query.weight(EnableScoring::disabled_from_searcher(searcher))?;
    let max_docs: u64 = searcher.segment_readers().iter().map(|r| u64::from(r.max_doc())).sum::<u64>().max(1);
    let mut counts = Counts::default();
    let mut grand_total = 0.0;
    let mut str_counts: [HashMap<String, f64>; 3] = Default::default();
    let mut grades = [0.0f64; 13];
    for reader in searcher.segment_readers() {
        let columns = SegmentColumns::new(reader, filters, hints)?;
        let mut scorer = weight.scorer(reader, 1.0)?;
        let max_doc = reader.max_doc();
        let share = (budget * u64::from(max_doc) / max_docs).max(u64::from(WINDOWS));
        let alive = reader.alive_bitset();
        let mut estimate = Estimate::new(&columns);
        let windows = WINDOWS.min(max_doc.max(1));
        let per_window = share.div_ceil(u64::from(windows));
        for w in 0..windows {
            let start = (u64::from(max_doc) * u64::from(w) / u64::from(windows)) as DocId;
            let end = (u64::from(max_doc) * u64::from(w + 1) / u64::from(windows)) as DocId;
            if scorer.doc() < start {
                scorer.seek(start);
            }
            let mut tally = Tally::new(&columns);
            let mut visited = 0;
            while scorer.doc() < end && visited < per_window {
                let doc = scorer.doc();
                if alive.is_none_or(|a| a.is_alive(doc)) {
                    tally.add(&columns.check(doc));
                }
                visited += 1;
                scorer.advance();
            }
            let covered = if scorer.doc() < end {
                // Stopped by the budget: these documents stand for the whole window.
                counts.estimated = true;
                f64::from(scorer.doc() - start).max(1.0)
            } else {
                f64::from(end - start).max(1.0)
            };
            estimate.add(&tally, f64::from(end - start) / covered);
            if scorer.doc() == TERMINATED {
                break;
            }
        }
        grand_total += estimate.total;
        for (i, dim) in columns.dims.iter().enumerate() {
            let Some(col) = &dim.column else { continue };
            let mut value = String::new();
            for (ord, &n) in estimate.dims[i].iter().enumerate() {
                if n > 0.0 && col.ord_to_str(ord as u64, &mut value).unwrap_or(false) {
                    *str_counts[i].entry(value.clone()).or_default() += n;
                }
            }
        }
        for (sum, n) in grades.iter_mut().zip(&estimate.grades) {
            *sum += n;
        }
    }
    let round = |n: f64| if counts.estimated { two_significant(n) } else { n.round() as u64 };
    counts.total = round(grand_total);
    for (i, values) in str_counts.into_iter().enumerate() {
        counts.str_counts[i] = values.into_iter().map(|(k, n)| (k, round(n))).filter(|(_, n)| *n > 0).collect();
    }
    for (g, n) in grades.iter().enumerate() {
        counts.grade_counts[g] = round(*n);
    }
    Ok(counts)
}

/// `n` rounded to two significant digits (an estimate should not look more precise than it is).
fn two_significant(n: f64) -> u64 {
    let n = n.round().max(0.0);
    if n < 100.0 {
        return n as u64;
    }
    let magnitude = 10f64.powi(n.log10().floor() as i32 - 1);
    ((n / magnitude).round() * magnitude) as u64
}

/// One full pass over the matching documents: filters, facets, and the top `keep` by the sort
/// key. For sorts that are not by relevance, and for browsing without words, where every
/// matching document may rank.
pub struct SearchCollector<'a> {
    pub filters: &'a Filters,
    /// What the query names (subject, grade, series, type, lesson): multiplies the relevance
    /// of materials that have it. Multiplying keeps the boost proportionate however many fields
    /// and words the text score sums.
    pub hints: &'a Hints,
    pub sort: Sort,
    /// How many of the best documents to keep (offset + page size).
    pub keep: usize,
    /// Whether the relevance score is needed (not for browsing by date or downloads).
    pub scoring: bool,
}

/// What a full pass collects.
#[derive(Debug, Default)]
pub struct Collected {
    pub counts: Counts,
    /// Best first.
    pub top: Vec<Candidate>,
}

pub struct SegmentSearch {
    segment: SegmentOrdinal,
    sort: Sort,
    keep: usize,
    columns: SegmentColumns,
    tally: Tally,
    /// Min-heap of the best `keep` candidates.
    top: BinaryHeap<std::cmp::Reverse<Candidate>>,
}

impl Collector for SearchCollector<'_> {
    type Fruit = Collected;
    type Child = SegmentSearch;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<SegmentSearch> {
        let columns = SegmentColumns::new(reader, self.filters, self.hints)?;
        let tally = Tally::new(&columns);
        Ok(SegmentSearch {
            segment,
            sort: self.sort,
            keep: self.keep,
            columns,
            tally,
            top: BinaryHeap::with_capacity(self.keep + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.scoring
    }

    fn merge_fruits(&self, fruits: Vec<Collected>) -> tantivy::Result<Collected> {
        let mut out = Collected::default();
        let mut top: Vec<Candidate> = Vec::new();
        for fruit in fruits {
            out.counts.total += fruit.counts.total;
            for (i, counts) in fruit.counts.str_counts.into_iter().enumerate() {
                for (value, n) in counts {
                    *out.counts.str_counts[i].entry(value).or_default() += n;
                }
            }
            for (g, n) in fruit.counts.grade_counts.iter().enumerate() {
                out.counts.grade_counts[g] += n;
            }
            top.extend(fruit.top);
        }
        top.sort_unstable_by(|a, b| b.cmp(a));
        top.truncate(self.keep);
        out.top = top;
        Ok(out)
    }
}

/// Relevance multipliers for materials that have what the query names.
const HINT_SUBJECT: f64 = 1.3;
const HINT_SERIES: f64 = 1.3;
const HINT_TYPE: f64 = 1.5;
const HINT_GRADE: f64 = 1.3;
const HINT_LESSON: f64 = 1.5;

/// A mild prior for popular materials: up to +8% of the score at 1,000 downloads and beyond,
/// so it orders near-equal matches but never lifts a clearly weaker match above a better one.
pub fn popularity(downloads: u64) -> f64 {
    1.0 + 0.08 * ((downloads as f64).ln_1p() / 1000f64.ln_1p()).min(1.0)
}

impl SegmentCollector for SegmentSearch {
    type Fruit = Collected;

    fn collect(&mut self, doc: DocId, score: Score) {
        if !self.tally.add(&self.columns.check(doc)) || self.keep == 0 {
            return;
        }
        let candidate =
            Candidate { key: self.columns.key(doc, score, self.sort), score, doc: DocAddress::new(self.segment, doc) };
        if self.top.len() < self.keep {
            self.top.push(std::cmp::Reverse(candidate));
        } else if let Some(worst) = self.top.peek()
            && candidate > worst.0
        {
            self.top.pop();
            self.top.push(std::cmp::Reverse(candidate));
        }
    }

    fn harvest(self) -> Collected {
        let mut counts = Counts { total: self.tally.total, grade_counts: self.tally.grades, ..Counts::default() };
        for (i, dim) in self.columns.dims.iter().enumerate() {
            let Some(col) = &dim.column else { continue };
            let mut value = String::new();
            for (ord, &n) in self.tally.dims[i].iter().enumerate() {
                if n > 0 && col.ord_to_str(ord as u64, &mut value).unwrap_or(false) {
                    counts.str_counts[i].insert(value.clone(), n);
                }
            }
        }
        Collected { counts, top: self.top.into_sorted_vec().into_iter().map(|r| r.0).collect() }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn estimates_keep_two_significant_digits() {
        assert_eq!(super::two_significant(99.4), 99);
        assert_eq!(super::two_significant(123_456.0), 120_000);
        assert_eq!(super::two_significant(1_960.0), 2_000);
    }
}
