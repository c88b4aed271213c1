//! From what a teacher typed to a tantivy query.
//!
//! Every word must match (in any field) on its folded form, so "duong tron" finds "Đường tròn".
//! Words typed with diacritics also score on the exact fields, so "dương" ranks "dương" above
//! "đường" and "dưỡng"; words typed without them do not (undiacritised documents would otherwise
//! float to the top). Adjacent words score again on title bigrams.

use hoclieu_domain::text::{exact_word, fold_word, has_diacritics, nfc, word_spans};
use tantivy::Term;
use tantivy::query::{AllQuery, BooleanQuery, BoostQuery, Occur, Query, TermQuery};
use tantivy::schema::{Field, IndexRecordOption};

use crate::schema::{Fields, TextPair};

/// Relative weight of each text field.
const WEIGHTS: [(Weight, f32); 5] = [
    (Weight::Title, 4.0),
    (Weight::Lesson, 2.5),
    (Weight::Keywords, 2.0),
    (Weight::Chapter, 1.5),
    (Weight::Description, 1.0),
];
/// Extra weight, relative to the field's, for matching the diacritics the user typed.
const EXACT_BOOST: f32 = 1.0;
/// Weight of a title bigram (two adjacent query words adjacent in the title).
const BIGRAM_BOOST: f32 = 3.0;
/// Longest query we look at, in words.
pub const MAX_WORDS: usize = 32;

#[derive(Clone, Copy)]
enum Weight {
    Title,
    Lesson,
    Keywords,
    Chapter,
    Description,
}

/// One word of a query in its normalised forms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryWord {
    pub fold: String,
    pub exact: String,
    pub diacritics: bool,
    /// Whether the previous word precedes this one with only spaces between them.
    pub joined_to_previous: bool,
}

/// The words of a query.
pub fn parse(text: &str) -> Vec<QueryWord> {
    let text = nfc(text);
    let mut words = Vec::new();
    let mut previous_end = None;
    for (start, end) in word_spans(&text).take(MAX_WORDS) {
        let word = &text[start..end];
        let joined_to_previous =
            previous_end.is_some_and(|p: usize| text[p..start].chars().all(char::is_whitespace));
        words.push(QueryWord {
            fold: fold_word(word),
            exact: exact_word(word),
            diacritics: has_diacritics(word),
            joined_to_previous,
        });
        previous_end = Some(end);
    }
    words
}

fn term(field: Field, text: &str, boost: f32) -> (Occur, Box<dyn Query>) {
    let q = TermQuery::new(
        Term::from_field_text(field, text),
        IndexRecordOption::WithFreqs,
    );
    (Occur::Should, Box::new(BoostQuery::new(Box::new(q), boost)))
}

fn pair(fields: &Fields, w: Weight) -> TextPair {
    match w {
        Weight::Title => fields.title,
        Weight::Lesson => fields.lesson,
        Weight::Keywords => fields.keywords,
        Weight::Chapter => fields.chapter,
        Weight::Description => fields.description,
    }
}

/// The query for `words` (everything when there are none).
pub fn build(fields: &Fields, words: &[QueryWord]) -> Box<dyn Query> {
    if words.is_empty() {
        return Box::new(AllQuery);
    }
    let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
    for w in words {
        let mut alternatives = Vec::new();
        for (which, weight) in WEIGHTS {
            let p = pair(fields, which);
            alternatives.push(term(p.fold, &w.fold, weight));
            if w.diacritics {
                alternatives.push(term(p.exact, &w.exact, weight * EXACT_BOOST));
            }
        }
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(alternatives))));
    }
    for pairs in words.windows(2) {
        if pairs[1].joined_to_previous {
            clauses.push(term(
                fields.title_bigram,
                &format!("{}_{}", pairs[0].fold, pairs[1].fold),
                BIGRAM_BOOST,
            ));
        }
    }
    Box::new(BooleanQuery::new(clauses))
}

/// Folded words to highlight in snippets.
pub fn highlight_terms(words: &[QueryWord]) -> Vec<String> {
    let mut terms: Vec<String> = words.iter().map(|w| w.fold.clone()).collect();
    terms.sort();
    terms.dedup();
    terms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_know_their_forms_and_neighbours() {
        let w = parse("Hòa tan, duong");
        assert_eq!(w.len(), 3);
        assert_eq!(
            (w[0].fold.as_str(), w[0].exact.as_str(), w[0].diacritics),
            ("hoa", "hoà", true)
        );
        assert!(w[1].joined_to_previous);
        assert!(!w[2].joined_to_previous, "a comma separates them");
        assert!(!w[2].diacritics);
        assert_eq!(parse(&"a ".repeat(100)).len(), MAX_WORDS);
    }
}
