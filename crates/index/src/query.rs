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

/// How strictly the words must match.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Matching {
    /// Every required word (or its synonyms or corrections).
    All,
    /// At least this many of the query's units.
    AtLeast(usize),
}

/// A built query and what it looks for.
pub struct Built {
    pub query: Box<dyn Query>,
    /// Phrases (folded words) to highlight: the query's words, and synonyms and corrections
    /// as whole phrases.
    pub highlight: Vec<Vec<String>>,
    /// Units of meaning (words, or phrases with synonyms) the query requires.
    pub units: usize,
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
pub fn build(
    fields: &Fields,
    lang: &Language,
    parsed: &Parsed,
    hints: &Hints,
    corrections: &[Correction],
    matching: Matching,
) -> Built {
    let words = &parsed.words;
    if words.is_empty() {
        return Built { query: Box::new(AllQuery), highlight: Vec::new(), units: 0 };
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
    // Units: (required, query).
    let mut units: Vec<(bool, Box<dyn Query>)> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        if let Some(c) = corrections.iter().find(|c| c.range.start == i) {
            let mut alternatives: Vec<(Occur, Box<dyn Query>)> =
                vec![(Occur::Should, all_of(c.range.clone().map(single).collect()))];
            for a in &c.alternatives {
                alternatives.push((Occur::Should, boosted(phrase_clause(fields, &a.words), a.weight)));
                highlight.push(a.words.clone());
            }
            units.push((true, Box::new(BooleanQuery::new(alternatives))));
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
            let required = (i..i + len).any(&is_required);
            units.push((required, Box::new(BooleanQuery::new(alternatives))));
            i += len;
        } else if hints.boost_only.contains(&i) {
            i += 1;
        } else {
            units.push((is_required(i), single(i)));
            i += 1;
        }
    }
    let unit_count = units.iter().filter(|(r, _)| *r).count();
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    match matching {
        Matching::All => {
            for (required, q) in units {
                clauses.push((if required { Occur::Must } else { Occur::Should }, q));
            }
        }
        Matching::AtLeast(n) => {
            let (required, optional): (Vec<_>, Vec<_>) = units.into_iter().partition(|(r, _)| *r);
            let required: Vec<Box<dyn Query>> = required.into_iter().map(|(_, q)| q).collect();
            let n = n.clamp(1, required.len().max(1));
            if !required.is_empty() {
                clauses.push((Occur::Must, Box::new(BooleanQuery::union_with_minimum_required_clauses(required, n))));
            }
            clauses.extend(optional.into_iter().map(|(_, q)| (Occur::Should, q)));
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
    Built { query: Box::new(BooleanQuery::new(clauses)), highlight, units: unit_count }
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
