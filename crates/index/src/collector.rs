//! One pass over the matching documents that filters, counts facets and keeps the top hits.
//!
//! Filters are applied here rather than in the query so that facet counts can be disjunctive:
//! a document that fails only the subject filter still counts toward the subject facet, so
//! each facet shows what choosing another value of it would give (the usual faceted-search
//! behaviour), while the other active filters narrow it.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use crate::query::Hints;
use crate::search::{Filters, Sort};

/// The dimensions of faceting and filtering backed by string fast fields.
pub const STR_FACETS: [&str; 3] = ["subject", "series", "resource_type"];

/// What one search collects.
#[derive(Debug, Default)]
pub struct Collected {
    pub total: u64,
    /// Best first.
    pub top: Vec<Candidate>,
    /// Counts per value, for each of [`STR_FACETS`] in order.
    pub str_counts: [HashMap<String, u64>; 3],
    /// Counts per grade (index = grade).
    pub grade_counts: [u64; 13],
}

pub struct SearchCollector<'a> {
    pub filters: &'a Filters,
    /// What the query names (subject, grade, series, type, lesson): multiplies the relevance
    /// of materials that have it. Multiplying keeps the boost proportionate however many fields
    /// and words the text score sums.
    pub hints: &'a Hints,
    pub sort: Sort,
    /// How many of the best documents to keep (offset + page size).
    pub keep: usize,
}

/// A document that may make the top: its sort key (bigger is better; ties go to the earlier
/// document), its relevance score and its address.
#[derive(Clone, Copy, Debug)]
pub struct Candidate {
    key: (f64, f64),
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
    counts: Vec<u64>,
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
        let counts = vec![0; column.as_ref().map_or(0, |c| c.num_terms())];
        Ok(StrDimension { column, allowed, hinted, counts })
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
}

pub struct SegmentSearch {
    segment: SegmentOrdinal,
    sort: Sort,
    keep: usize,
    dims: [StrDimension; 3],
    grade: Column<u64>,
    grade_allowed: Option<[bool; 13]>,
    grade_counts: [u64; 13],
    created: Column<i64>,
    downloads: Column<u64>,
    lesson_no: Column<u64>,
    hinted_grades: Vec<u64>,
    hinted_lesson: Option<u64>,
    total: u64,
    /// Min-heap of the best `keep` candidates.
    top: BinaryHeap<std::cmp::Reverse<Candidate>>,
}

impl Collector for SearchCollector<'_> {
    type Fruit = Collected;
    type Child = SegmentSearch;

    fn for_segment(&self, segment: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<SegmentSearch> {
        let f = self.filters;
        let h = self.hints;
        let dims = [
            StrDimension::new(reader, STR_FACETS[0], &f.subjects, &h.subjects)?,
            StrDimension::new(reader, STR_FACETS[1], &f.series, &h.series)?,
            StrDimension::new(reader, STR_FACETS[2], &f.resource_types, &h.resource_types)?,
        ];
        let grade_allowed = (!f.grades.is_empty()).then(|| {
            let mut allowed = [false; 13];
            for &g in &f.grades {
                if let Some(slot) = allowed.get_mut(usize::from(g)) {
                    *slot = true;
                }
            }
            allowed
        });
        Ok(SegmentSearch {
            segment,
            sort: self.sort,
            keep: self.keep,
            dims,
            grade: reader.fast_fields().u64("grade")?,
            grade_allowed,
            grade_counts: [0; 13],
            created: reader.fast_fields().i64("created")?,
            downloads: reader.fast_fields().u64("downloads")?,
            lesson_no: reader.fast_fields().u64("lesson_no")?,
            hinted_grades: h.grades.clone(),
            hinted_lesson: h.lesson_no,
            total: 0,
            top: BinaryHeap::with_capacity(self.keep + 1),
        })
    }

    fn requires_scoring(&self) -> bool {
        true
    }

    fn merge_fruits(&self, fruits: Vec<Collected>) -> tantivy::Result<Collected> {
        let mut out = Collected::default();
        let mut top: Vec<Candidate> = Vec::new();
        for fruit in fruits {
            out.total += fruit.total;
            for (i, counts) in fruit.str_counts.into_iter().enumerate() {
                for (value, n) in counts {
                    *out.str_counts[i].entry(value).or_default() += n;
                }
            }
            for (g, n) in fruit.grade_counts.iter().enumerate() {
                out.grade_counts[g] += n;
            }
            top.extend(fruit.top);
        }
        top.sort_unstable_by(|a, b| b.cmp(a));
        top.truncate(self.keep);
        out.top = top;
        Ok(out)
    }
}

impl SegmentSearch {
    /// How much the hints lift this document.
    fn hint_factor(&self, doc: DocId, ords: &[Option<u64>; 3], grade: Option<u64>) -> f64 {
        let mut factor = 1.0;
        for (i, boost) in [HINT_SUBJECT, HINT_SERIES, HINT_TYPE].into_iter().enumerate() {
            if self.dims[i].hinted(ords[i]) {
                factor *= boost;
            }
        }
        if grade.is_some_and(|g| self.hinted_grades.contains(&g)) {
            factor *= HINT_GRADE;
        }
        if self.hinted_lesson.is_some() && self.lesson_no.first(doc) == self.hinted_lesson {
            factor *= HINT_LESSON;
        }
        factor
    }

    fn key(&self, doc: DocId, score: Score, hint_factor: f64) -> (f64, f64) {
        let created = self.created.first(doc).unwrap_or(0) as f64;
        match self.sort {
            Sort::Relevance => {
                (f64::from(score) * hint_factor * popularity(self.downloads.first(doc).unwrap_or(0)), created)
            }
            Sort::Newest => (created, f64::from(score)),
            Sort::Downloads => (self.downloads.first(doc).unwrap_or(0) as f64, f64::from(score)),
        }
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
        let ords = [self.dims[0].ord(doc), self.dims[1].ord(doc), self.dims[2].ord(doc)];
        let grade = self.grade.first(doc);
        let grade_ok = match &self.grade_allowed {
            None => true,
            Some(allowed) => grade.is_some_and(|g| allowed.get(g as usize).copied().unwrap_or(false)),
        };
        let mut failed = [false; 4];
        for i in 0..3 {
            failed[i] = !self.dims[i].passes(ords[i]);
        }
        failed[3] = !grade_ok;
        let failures = failed.iter().filter(|f| **f).count();
        if failures > 1 {
            return;
        }
        // A document counts toward a facet when it passes every filter except that facet's own.
        for i in 0..3 {
            if (failures == 0 || failed[i])
                && let Some(o) = ords[i]
            {
                self.dims[i].counts[o as usize] += 1;
            }
        }
        if (failures == 0 || failed[3])
            && let Some(g) = grade
            && let Some(c) = self.grade_counts.get_mut(g as usize)
        {
            *c += 1;
        }
        if failures > 0 {
            return;
        }
        self.total += 1;
        if self.keep == 0 {
            return;
        }
        let factor = self.hint_factor(doc, &ords, grade);
        let candidate = Candidate { key: self.key(doc, score, factor), score, doc: DocAddress::new(self.segment, doc) };
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
        let mut str_counts: [HashMap<String, u64>; 3] = Default::default();
        for (i, dim) in self.dims.iter().enumerate() {
            let Some(col) = &dim.column else { continue };
            let mut value = String::new();
            for (ord, &n) in dim.counts.iter().enumerate() {
                if n > 0 && col.ord_to_str(ord as u64, &mut value).unwrap_or(false) {
                    str_counts[i].insert(value.clone(), n);
                }
            }
        }
        Collected {
            total: self.total,
            top: self.top.into_sorted_vec().into_iter().map(|r| r.0).collect(),
            str_counts,
            grade_counts: self.grade_counts,
        }
    }
}
