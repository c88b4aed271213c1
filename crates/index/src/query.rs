//! From what a teacher typed to a tantivy query.
//!
//! - Every word must match (in any text field, or in the material's metadata words) on its
//!   folded form, so "duong tron" finds "Đường tròn" and "toán 10" finds Toán materials of
//!   grade 10 even when their titles do not say "Toán".
//! - Words typed with diacritics also score on the exact fields, so "dương" ranks "dương" above
//!   "đường" and "dưỡng"; words typed without them do not (undiacritised documents would
//!   otherwise float to the top).
//! - A phrase with synonyms ("giáo án", "este", "KNTT") matches itself or any of its synonyms.
//! - Function words ("của", "cho"…) are optional: they score but are never required.
//! - Recognised hints (subject, grade, series, resource type, lesson number) boost materials
//!   whose metadata says so; they never filter.
//! - Adjacent words score again on title bigrams.

use std::ops::Range;

use hoclieu_domain::spelling::roman;
use hoclieu_domain::text::{exact_word, fold_word, has_diacritics, is_word_char, nfc, word_spans};
use hoclieu_domain::{Synonyms, Vocabularies};
use tantivy::Term;
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, ConstScoreQuery, Occur, PhraseQuery, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};

use crate::Language;
use crate::schema::Fields;

/// Longest query we look at, in words.
pub const MAX_WORDS: usize = 32;
/// Extra weight, relative to the field's, for matching the diacritics the user typed.
const EXACT_BOOST: f32 = 1.0;
/// Weight of a title bigram (two adjacent query words adjacent in the title).
const BIGRAM_BOOST: f32 = 2.0;
/// Weight of a synonym relative to the phrase the user typed.
const SYNONYM_WEIGHT: f32 = 0.8;
/// Weights of hints recognised in the query.
/// Scores by which a word read as a subject or a grade matches the material's subject or grade.
/// Constant, not BM25: how rare a grade is says nothing about how much the teacher wants it.
/// (The hints' boosts are multipliers applied in the collector.)
const HINT_SUBJECT: f32 = 3.0;
const HINT_GRADE: f32 = 4.0;
/// Weight of a subject's name found in a topic (title, lesson, chapter) rather than in the
/// subject field.
const VOCABULARY_WORD_IN_TEXT: f32 = 0.3;

/// One word of a query in its normalised forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    /// As typed (NFC).
    pub raw: String,
    pub fold: String,
    pub exact: String,
    pub diacritics: bool,
    /// Whether the previous word precedes this one with only spaces between them.
    pub joined_to_previous: bool,
    /// Index of the run of letters and digits this word came from ("toan1" gives two words).
    pub token: usize,
}

/// A parsed query.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub words: Vec<QueryWord>,
    /// Runs of letters and digits as typed.
    pub tokens: Vec<String>,
}

/// The words of a query.
pub fn parse(text: &str) -> Parsed {
    let text = nfc(text);
    let mut parsed = Parsed::default();
    let mut previous_end = None;
    let mut token_end = 0;
    for (start, end) in word_spans(&text).take(MAX_WORDS) {
        if start >= token_end {
            token_end = text[start..].find(|c: char| !is_word_char(c)).map_or(text.len(), |i| start + i);
            parsed.tokens.push(text[start..token_end].to_owned());
        }
        let word = &text[start..end];
        let joined_to_previous = previous_end.is_some_and(|p: usize| text[p..start].chars().all(char::is_whitespace));
        let (mut fold, mut exact) = (fold_word(word), exact_word(word));
        // As in the analyzer: "bài IV" is "bài 4".
        let after_section =
            parsed.words.last().is_some_and(|w: &QueryWord| crate::analyzer::NUMBERED.contains(&w.fold.as_str()));
        if let Some(n) = after_section.then(|| roman(&fold)).flatten() {
            fold = n.to_string();
            exact.clone_from(&fold);
        }
        parsed.words.push(QueryWord {
            raw: word.to_owned(),
            fold,
            exact,
            diacritics: has_diacritics(word),
            joined_to_previous,
            token: parsed.tokens.len() - 1,
        });
        previous_end = Some(end);
    }
    parsed
}

/// What a query says about the materials it wants, beyond its words.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hints {
    pub subjects: Vec<String>,
    pub grades: Vec<u64>,
    pub series: Vec<String>,
    pub resource_types: Vec<String>,
    pub lesson_no: Option<u64>,
    /// Words that name a series or a resource type: they boost, they are not required (a
    /// teacher who types "video rơi tự do" still wants the slides on "rơi tự do" after the
    /// videos).
    pub boost_only: Vec<usize>,
    /// Words read as a grade ("10" in "toán 10"): they match the grade, not any "10" in text.
    pub grade_words: Vec<usize>,
    /// Words naming a subject ("toán", "hoá học", "gdcd"), with its code: they match mostly the
    /// subject, and only weakly the same word in text ("phép toán").
    pub subject_words: Vec<(usize, String)>,
}

/// Recognises subject, series and resource-type names (up to four words, longest first),
/// grades ("lớp 5", or a number right after a subject: "toán 10", "hóa 12") and lesson numbers
/// ("bài 5", "bài V").
pub fn understand(words: &[QueryWord], vocab: &Vocabularies) -> Hints {
    let mut hints = Hints::default();
    let folds: Vec<&str> = words.iter().map(|w| w.fold.as_str()).collect();
    let mut subject_ends = Vec::new();
    let mut i = 0;
    while i < folds.len() {
        let mut matched = 0;
        for len in (1..=4.min(folds.len() - i)).rev() {
            let phrase = folds[i..i + len].join(" ");
            if let Some(t) = vocab.subjects.resolve(&phrase) {
                push(&mut hints.subjects, &t.code);
                subject_ends.push(i + len);
                hints.subject_words.extend((i..i + len).map(|k| (k, t.code.clone())));
            } else if let Some(t) = vocab.series.resolve(&phrase) {
                push(&mut hints.series, &t.code);
                hints.boost_only.extend(i..i + len);
            } else if let Some(t) = vocab.resource_types.resolve(&phrase) {
                push(&mut hints.resource_types, &t.code);
                hints.boost_only.extend(i..i + len);
            } else {
                continue;
            }
            matched = len;
            break;
        }
        i += matched.max(1);
    }
    for (i, f) in folds.iter().enumerate() {
        let Ok(n) = f.parse::<u64>() else { continue };
        let previous = i.checked_sub(1).map(|p| folds[p]);
        match previous {
            Some("bai" | "tiet") => hints.lesson_no = Some(n),
            Some("lop" | "l" | "khoi") if (1..=12).contains(&n) => {
                push(&mut hints.grades, &n);
                hints.grade_words.push(i);
            }
            _ if (1..=12).contains(&n) && subject_ends.contains(&i) => {
                push(&mut hints.grades, &n);
                hints.grade_words.push(i);
            }
            _ => {}
        }
    }
    hints
}

fn push<T: PartialEq + Clone>(v: &mut Vec<T>, x: &T) {
    if !v.contains(x) {
        v.push(x.clone());
    }
}

/// A replacement for some words of the query (a spelling correction), with its weight.
#[derive(Debug, Clone, PartialEq)]
pub struct Alternative {
    /// Folded words.
    pub words: Vec<String>,
    pub weight: f32,
}

/// Corrections for the words `range` of the query.
#[derive(Debug, Clone, PartialEq)]
pub struct Correction {
    pub range: Range<usize>,
    pub alternatives: Vec<Alternative>,
}

/// A built query: how to score a document, and what a document must contain to match.
pub struct Built {
    /// The relevance of a document: every clause optional, so a document scores what it
    /// matches (a document that matches every required unit scores exactly as if they were
    /// required). Used on the candidates of the first phase, never on every match.
    pub scoring: Box<dyn Query>,
    /// The units of meaning a document must contain.
    pub required: Vec<Unit>,
    /// Phrases (folded words) to highlight: the query's words, and synonyms and corrections
    /// as whole phrases.
    pub highlight: Vec<Vec<String>>,
}

/// A unit of meaning a document must contain (on folded words): its alternatives — the words as
/// typed, synonyms, corrections — each a list of words that must all occur, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unit {
    pub alternatives: Vec<Vec<String>>,
    pub scope: Scope,
}

/// Where a unit's words count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Any text or metadata field, or the text of the files.
    Text,
    /// A subject's name: the material's subject, or its title, lesson or chapter.
    Subject,
    /// A number read as a grade: the material's grade.
    Grade,
}

impl Built {
    /// Units of meaning (words, or phrases with synonyms) the query requires.
    pub fn units(&self) -> usize {
        self.required.len()
    }
}

/// Weighted text fields searched for every word.
fn text_fields(f: &Fields) -> [(Field, Field, f32); 7] {
    [
        (f.title.fold, f.title.exact, 4.0),
        (f.lesson.fold, f.lesson.exact, 2.5),
        (f.keywords.fold, f.keywords.exact, 2.0),
        (f.chapter.fold, f.chapter.exact, 1.5),
        (f.description.fold, f.description.exact, 1.0),
        // Metadata words have no exact twin: the vocabulary already matched the spelling.
        (f.meta, f.meta, 1.5),
        // Text inside the files: long, so its words say less about what the material is.
        (f.content, f.content, 0.5),
    ]
}

fn boosted(q: Box<dyn Query>, boost: f32) -> Box<dyn Query> {
    if (boost - 1.0).abs() < f32::EPSILON { q } else { Box::new(BoostQuery::new(q, boost)) }
}

fn term_query(field: Field, text: &str) -> Box<dyn Query> {
    Box::new(TermQuery::new(Term::from_field_text(field, text), IndexRecordOption::WithFreqs))
}

/// One word, in any field; its exact form too when typed with diacritics.
fn word_clause(fields: &Fields, fold: &str, exact: Option<&str>) -> Box<dyn Query> {
    let mut alternatives: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for (f, e, weight) in text_fields(fields) {
        alternatives.push((Occur::Should, boosted(term_query(f, fold), weight)));
        if let Some(x) = exact
            && e != f
        {
            alternatives.push((Occur::Should, boosted(term_query(e, x), weight * EXACT_BOOST)));
        }
    }
    Box::new(BooleanQuery::new(alternatives))
}

/// A number read as a grade: the material's grade, or "lớp N" in its metadata words.
fn grade_clause(fields: &Fields, grade: u64, word: &str) -> Box<dyn Query> {
    let by_grade = TermQuery::new(Term::from_field_u64(fields.grade, grade), IndexRecordOption::Basic);
    Box::new(BooleanQuery::new(vec![
        (Occur::Should, Box::new(ConstScoreQuery::new(Box::new(by_grade), HINT_GRADE))),
        (Occur::Should, boosted(term_query(fields.meta, word), 1.5)),
    ]))
}

/// A word where topics are named: title, lesson and chapter.
fn topic_clause(fields: &Fields, fold: &str) -> Box<dyn Query> {
    let fields = [(fields.title.fold, 4.0), (fields.lesson.fold, 2.5), (fields.chapter.fold, 1.5)];
    Box::new(BooleanQuery::new(
        fields.into_iter().map(|(f, w)| (Occur::Should, boosted(term_query(f, fold), w))).collect(),
    ))
}

/// Several folded words in order (a synonym or a correction), in any field.
///
/// Phrases are looked for where names of things are written — title, lesson, keywords and the
/// metadata words — not in chapters and descriptions, which would cost position checks on the
/// most common words for little gain.
fn phrase_clause(fields: &Fields, words: &[String]) -> Box<dyn Query> {
    if let [one] = words {
        return word_clause(fields, one, None);
    }
    let phrase_fields =
        [(fields.title.fold, 4.0), (fields.lesson.fold, 2.5), (fields.keywords.fold, 2.0), (fields.meta, 1.5)];
    let alternatives = phrase_fields
        .into_iter()
        .map(|(f, weight)| {
            let terms = words.iter().map(|w| Term::from_field_text(f, w)).collect();
            (Occur::Should, boosted(Box::new(PhraseQuery::new(terms)), weight))
        })
        .collect();
    Box::new(BooleanQuery::new(alternatives))
}

fn all_of(clauses: Vec<Box<dyn Query>>) -> Box<dyn Query> {
    if clauses.len() == 1 {
        return clauses.into_iter().next().expect("one clause");
    }
    Box::new(BooleanQuery::new(clauses.into_iter().map(|c| (Occur::Must, c)).collect()))
}

/// Builds the query for `parsed`.
pub fn build(fields: &Fields, lang: &Language, parsed: &Parsed, hints: &Hints, corrections: &[Correction]) -> Built {
    let words = &parsed.words;
    if words.is_empty() {
        return Built { scoring: Box::new(AllQuery), required: Vec::new(), highlight: Vec::new() };
    }
    let synonyms: &Synonyms = &lang.synonyms;
    let folds: Vec<String> = words.iter().map(|w| w.fold.clone()).collect();
    let mut highlight: Vec<Vec<String>> = folds.iter().map(|f| vec![f.clone()]).collect();
    let single = |i: usize| {
        let w = &words[i];
        let text = || word_clause(fields, &w.fold, w.diacritics.then_some(w.exact.as_str()));
        if let Some((_, subject)) = hints.subject_words.iter().find(|(k, _)| *k == i) {
            let by_subject = ConstScoreQuery::new(term_query(fields.subject, subject), HINT_SUBJECT);
            return Box::new(BooleanQuery::new(vec![
                (Occur::Should, Box::new(by_subject) as Box<dyn Query>),
                (Occur::Should, boosted(topic_clause(fields, &w.fold), VOCABULARY_WORD_IN_TEXT)),
            ])) as Box<dyn Query>;
        }
        match w.fold.parse::<u64>() {
            Ok(grade) if hints.grade_words.contains(&i) => grade_clause(fields, grade, &w.fold),
            _ => text(),
        }
    };
    let is_required = |k: usize| !synonyms.is_optional(&words[k].exact) && !hints.boost_only.contains(&k);
    // Scoring clauses, and the alternatives of each required unit.
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    let mut required: Vec<Unit> = Vec::new();
    let text_unit = |alternatives: Vec<Vec<String>>| Unit { alternatives, scope: Scope::Text };
    let mut i = 0;
    while i < words.len() {
        if let Some(c) = corrections.iter().find(|c| c.range.start == i) {
            let mut alternatives: Vec<(Occur, Box<dyn Query>)> =
                vec![(Occur::Should, all_of(c.range.clone().map(single).collect()))];
            let mut matching = vec![folds[c.range.clone()].to_vec()];
            for a in &c.alternatives {
                alternatives.push((Occur::Should, boosted(phrase_clause(fields, &a.words), a.weight)));
                highlight.push(a.words.clone());
                matching.push(a.words.clone());
            }
            clauses.push((Occur::Should, Box::new(BooleanQuery::new(alternatives))));
            required.push(text_unit(matching));
            i = c.range.end.max(i + 1);
        } else if let Some((len, alts)) = synonyms.at_start(&folds[i..]) {
            highlight.extend(alts.iter().cloned());
            if (i..i + len).all(|k| hints.boost_only.contains(&k)) {
                // A series or type name: its hint scores it; matching it (and its synonyms) in
                // text again would cost passes over the commonest words ("bài", "giảng").
                i += len;
                continue;
            }
            let mut alternatives: Vec<(Occur, Box<dyn Query>)> =
                vec![(Occur::Should, all_of((i..i + len).map(single).collect()))];
            for a in &alts {
                alternatives.push((Occur::Should, boosted(phrase_clause(fields, a), SYNONYM_WEIGHT)));
            }
            clauses.push((Occur::Should, Box::new(BooleanQuery::new(alternatives))));
            if (i..i + len).any(&is_required) {
                let mut matching = vec![folds[i..i + len].to_vec()];
                matching.extend(alts.iter().cloned());
                required.push(text_unit(matching));
            }
            i += len;
        } else if hints.boost_only.contains(&i) {
            i += 1;
        } else {
            clauses.push((Occur::Should, single(i)));
            if is_required(i) {
                let scope = if hints.subject_words.iter().any(|(k, _)| *k == i) {
                    Scope::Subject
                } else if hints.grade_words.contains(&i) && folds[i].parse::<u64>().is_ok() {
                    Scope::Grade
                } else {
                    Scope::Text
                };
                required.push(Unit { alternatives: vec![vec![folds[i].clone()]], scope });
            }
            i += 1;
        }
    }
    for pair in words.windows(2) {
        if pair[1].joined_to_previous {
            let bigram = format!("{}_{}", pair[0].fold, pair[1].fold);
            clauses.push((Occur::Should, boosted(term_query(fields.title_bigram, &bigram), BIGRAM_BOOST)));
        }
    }
    highlight.sort();
    highlight.dedup();
    Built { scoring: Box::new(BooleanQuery::new(clauses)), required, highlight }
}

/// What a document must contain, as tantivy queries on folded words.
pub mod matching {
    use super::*;

    /// One alternative of a unit: every word in the metadata words, or (with `files`) there or
    /// in the text of the files.
    fn alternative(fields: &Fields, words: &[String], files: bool) -> Box<dyn Query> {
        let word = |w: &str| -> Box<dyn Query> {
            if files {
                Box::new(BooleanQuery::new(vec![
                    (Occur::Should, term_query(fields.all, w)),
                    (Occur::Should, term_query(fields.content, w)),
                ]))
            } else {
                term_query(fields.all, w)
            }
        };
        all_of(words.iter().map(|w| word(w)).collect())
    }

    /// A unit exactly: its words where its scope says (with `files`: the text of the files too,
    /// for words of the text).
    pub fn unit(fields: &Fields, unit: &Unit, files: bool) -> Box<dyn Query> {
        let any = |qs: Vec<Box<dyn Query>>| -> Box<dyn Query> {
            if qs.len() == 1 {
                qs.into_iter().next().expect("one query")
            } else {
                Box::new(BooleanQuery::new(qs.into_iter().map(|q| (Occur::Should, q)).collect()))
            }
        };
        match unit.scope {
            Scope::Text => any(unit.alternatives.iter().map(|a| alternative(fields, a, files)).collect()),
            // The subject's name is among the metadata words of its materials.
            Scope::Subject => {
                let w = &unit.alternatives[0][0];
                any(vec![term_query(fields.meta, w), term_query(fields.topic, w), term_query(fields.chapter.fold, w)])
            }
            // "lớp N" is among the metadata words of grade N.
            Scope::Grade => term_query(fields.meta, &unit.alternatives[0][0]),
        }
    }

    /// A unit loosely: its words anywhere in the metadata words. Matches at least what
    /// [`unit`] matches without the files, and is a single term for a single word.
    fn loose(fields: &Fields, unit: &Unit) -> Box<dyn Query> {
        if let [one] = unit.alternatives.as_slice() {
            return alternative(fields, one, false);
        }
        Box::new(BooleanQuery::new(
            unit.alternatives.iter().map(|a| (Occur::Should, alternative(fields, a, false))).collect(),
        ))
    }

    /// Every unit, loosely, in the metadata words: the pruned first phase. Single words make a
    /// plain intersection of terms, which tantivy scores with block-max WAND; its candidates
    /// are then checked against [`anywhere`].
    pub fn metadata(fields: &Fields, built: &Built, filters: Vec<Box<dyn Query>>) -> Box<dyn Query> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> =
            built.required.iter().map(|u| (Occur::Must, loose(fields, u))).collect();
        clauses.extend(filters.into_iter().map(|f| (Occur::Must, f)));
        if clauses.is_empty() {
            return Box::new(AllQuery);
        }
        Box::new(BooleanQuery::new(clauses))
    }

    /// At least `n` of the units, exactly, files included: what a search matches and counts
    /// (`n` = every unit for a strict search).
    pub fn anywhere(fields: &Fields, built: &Built, n: usize) -> Box<dyn Query> {
        let units: Vec<Box<dyn Query>> = built.required.iter().map(|u| unit(fields, u, true)).collect();
        match units.len() {
            0 => Box::new(AllQuery),
            len if n >= len => all_of(units),
            _ => Box::new(BooleanQuery::union_with_minimum_required_clauses(units, n.max(1))),
        }
    }

    /// Any unit, loosely: the candidates of a relaxed search (a union of terms, which tantivy
    /// also prunes).
    pub fn any_unit(fields: &Fields, built: &Built) -> Box<dyn Query> {
        Box::new(BooleanQuery::new(built.required.iter().map(|u| (Occur::Should, loose(fields, u))).collect()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_know_their_forms_neighbours_and_tokens() {
        let p = parse("Hòa tan, duong toan10");
        let w = &p.words;
        assert_eq!(w.len(), 5);
        assert_eq!((w[0].fold.as_str(), w[0].exact.as_str(), w[0].diacritics), ("hoa", "hoà", true));
        assert!(w[1].joined_to_previous);
        assert!(!w[2].joined_to_previous, "a comma separates them");
        assert_eq!(p.tokens, ["Hòa", "tan", "duong", "toan10"]);
        assert_eq!((w[3].token, w[4].token), (3, 3));
        assert_eq!(parse(&"a ".repeat(100)).words.len(), MAX_WORDS);
    }

    #[test]
    fn hints_boost_what_the_query_names() {
        let v = Vocabularies::embedded();
        let h = understand(&parse("hóa 12 kntt").words, &v);
        assert_eq!(
            (h.subjects.as_slice(), h.grades.as_slice(), h.series.as_slice()),
            (&["hoa-hoc".to_owned()][..], &[12][..], &["kntt".to_owned()][..])
        );
        let h = understand(&parse("giáo án toán 10 tập hợp").words, &v);
        assert_eq!(h.subjects, ["toan"]);
        assert_eq!(h.grades, [10]);
        assert_eq!(h.resource_types, ["ke-hoach-bai-day"]);
        let h = understand(&parse("lop 5 bai V").words, &v);
        assert_eq!((h.grades.as_slice(), h.lesson_no), (&[5][..], Some(5)));
        let h = understand(&parse("bài 5 lớp 5").words, &v);
        assert_eq!((h.grades.as_slice(), h.lesson_no), (&[5][..], Some(5)));
        let h = understand(&parse("tập hợp 10").words, &v);
        assert!(h.grades.is_empty(), "a number alone is not a grade");
    }
}
