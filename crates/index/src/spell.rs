//! Spelling correction for queries that found nothing.
//!
//! Candidates for each word come from `hoclieu_domain::spelling` (Telex/VNI residue, dialect
//! confusions, one edit away, a missing space); the index decides which are real words (the
//! [`Lexicon`]) and which pairs of words really occur together (title bigrams). The best
//! sequence is chosen like a tiny language model: frequent words, and neighbours that appear
//! side by side in titles, win.

use std::collections::HashMap;

use hoclieu_domain::spelling;
use hoclieu_domain::text::{exact_word, fold_word};
use tantivy::{Searcher, Term};

use crate::Result;
use crate::query::{Alternative, Correction, Parsed};
use crate::schema::Fields;

/// Every folded word of the index: its document frequency in text and in metadata words, and
/// its spellings with diacritics.
pub struct Lexicon {
    words: HashMap<String, Entry>,
    max_df: u64,
}

#[derive(Default)]
struct Entry {
    text_df: u64,
    meta_df: u64,
    /// Exact spellings with their document frequencies, most frequent first.
    spellings: Vec<(String, u64)>,
}

impl Lexicon {
    /// Reads the term dictionaries of the current searcher.
    pub fn build(searcher: &Searcher, fields: &Fields) -> Result<Lexicon> {
        let mut words: HashMap<String, Entry> = HashMap::new();
        let folded = [
            fields.title.fold,
            fields.lesson.fold,
            fields.chapter.fold,
            fields.keywords.fold,
            fields.description.fold,
            fields.meta,
        ];
        let exact = [
            fields.title.exact,
            fields.lesson.exact,
            fields.chapter.exact,
            fields.keywords.exact,
            fields.description.exact,
        ];
        for segment in searcher.segment_readers() {
            for field in folded {
                let inverted = segment.inverted_index(field)?;
                let mut terms = inverted.terms().stream()?;
                while terms.advance() {
                    let Ok(word) = std::str::from_utf8(terms.key()) else { continue };
                    let entry = words.entry(word.to_owned()).or_default();
                    let df = u64::from(terms.value().doc_freq);
                    if field == fields.meta { entry.meta_df += df } else { entry.text_df += df }
                }
            }
            for field in exact {
                let inverted = segment.inverted_index(field)?;
                let mut terms = inverted.terms().stream()?;
                while terms.advance() {
                    let Ok(word) = std::str::from_utf8(terms.key()) else { continue };
                    let df = u64::from(terms.value().doc_freq);
                    if let Some(entry) = words.get_mut(&fold_word(word)) {
                        match entry.spellings.iter_mut().find(|(w, _)| w == word) {
                            Some(s) => s.1 += df,
                            None => entry.spellings.push((word.to_owned(), df)),
                        }
                    }
                }
            }
        }
        for e in words.values_mut() {
            e.spellings.sort_by_key(|s| std::cmp::Reverse(s.1));
        }
        let max_df = words.values().map(|e| e.text_df).max().unwrap_or(1);
        Ok(Lexicon { words, max_df })
    }

    /// Documents (summed over text fields) containing the folded word. Words found only in
    /// metadata (vocabulary labels) do not count: they make poor corrections.
    pub fn df(&self, folded: &str) -> u64 {
        self.words.get(folded).map_or(0, |e| e.text_df)
    }

    /// The largest document frequency of any word.
    pub fn max_df(&self) -> u64 {
        self.max_df
    }

    /// Whether the word occurs anywhere, metadata included.
    pub fn known(&self, folded: &str) -> bool {
        self.words.get(folded).is_some_and(|e| e.text_df + e.meta_df > 0)
    }

    /// How to write the folded word: the spelling closest to what the user typed (so
    /// "toàng" becomes "toàn", not the more frequent "toán"), else the most frequent one.
    pub fn spelling(&self, folded: &str, typed: Option<&str>) -> String {
        let Some(e) = self.words.get(folded).filter(|e| !e.spellings.is_empty()) else { return folded.to_owned() };
        match typed {
            Some(t) => e
                .spellings
                .iter()
                .min_by_key(|(s, _)| distance(s, t))
                .map_or_else(|| folded.to_owned(), |(s, _)| s.clone()),
            None => e.spellings[0].0.clone(),
        }
    }
}

/// Corrections to try, and the corrected query to show ("Có phải bạn muốn tìm…").
#[derive(Debug, Default)]
pub struct Corrected {
    pub corrections: Vec<Correction>,
    pub did_you_mean: Option<String>,
    /// How much better the corrected words fit the index than the words as typed (frequent
    /// words, neighbours that occur together in titles). Above ~1 a correction is convincing
    /// even when the query as typed found something.
    pub margin: f32,
}

/// Costs of changes, and the reward for neighbours that occur together in titles. A change
/// of a real word must buy at least one more such pair to be worth it.
const TELEX: f32 = 0.2;
const SPLIT: f32 = 0.4;
const CONFUSION: f32 = 0.4;
const CONFUSION_OF_KNOWN: f32 = 0.6;
const EDIT: f32 = 0.8;
const UNKNOWN: f32 = -2.0;
const BIGRAM: f32 = 1.5;

#[derive(Debug, Clone)]
struct Candidate {
    words: Vec<String>,
    /// The exact form of a one-word candidate, when known (typed with diacritics, or decoded
    /// from Telex/VNI): its bigrams are then checked with diacritics.
    exact: Option<String>,
    display: String,
    prior: f32,
    original: bool,
}

/// A span of the query corrected as one (a word, or the words of one VNI token).
struct Slot {
    range: std::ops::Range<usize>,
    candidates: Vec<Candidate>,
}

/// Proposes corrections for `parsed`.
pub fn correct(
    parsed: &Parsed,
    lexicon: &Lexicon,
    searcher: &Searcher,
    fields: &Fields,
    is_optional: impl Fn(&str) -> bool,
) -> Corrected {
    let words = &parsed.words;
    let known = |w: &str| lexicon.df(w) > 0;
    // A candidate's prior: how common its rarest word is (0–1), less what the change costs.
    let norm = (lexicon.max_df() as f32).ln_1p().max(1.0);
    let score =
        |w: &[String], cost: f32| (w.iter().map(|x| lexicon.df(x)).min().unwrap_or(0) as f32).ln_1p() / norm - cost;
    let mut slots: Vec<Slot> = Vec::new();
    let mut i = 0;
    while i < words.len() {
        let w = &words[i];
        // VNI: one token of letters and digits ("toa1n") is one word.
        let token_words: Vec<usize> = (i..words.len()).take_while(|&k| words[k].token == w.token).collect();
        if token_words.len() > 1
            && let Some(v) = spelling::vni(&parsed.tokens[w.token]).filter(|v| known(&fold_word(v)))
        {
            let original = Candidate {
                exact: None,
                words: token_words.iter().map(|&k| words[k].fold.clone()).collect(),
                display: parsed.tokens[w.token].clone(),
                prior: UNKNOWN,
                original: true,
            };
            let vni = Candidate {
                exact: Some(exact_word(&v)),
                words: vec![fold_word(&v)],
                prior: score(&[fold_word(&v)], TELEX),
                display: v,
                original: false,
            };
            slots.push(Slot { range: i..i + token_words.len(), candidates: vec![vni, original] });
            i += token_words.len();
            continue;
        }
        let fold = &w.fold;
        let original = Candidate {
            words: vec![fold.clone()],
            exact: w.diacritics.then(|| w.exact.clone()),
            display: w.raw.clone(),
            prior: 0.0,
            original: true,
        };
        if fold.parse::<u64>().is_ok() || is_optional(&w.exact) {
            slots.push(Slot { range: i..i + 1, candidates: vec![Candidate { prior: 0.5, ..original }] });
            i += 1;
            continue;
        }
        let is_known = lexicon.known(fold);
        let prior = if is_known { score(std::slice::from_ref(fold), 0.0) } else { UNKNOWN };
        let mut candidates = vec![Candidate { prior, ..original }];
        let mut add = |words: Vec<String>, display: String, exact: Option<String>, cost: f32| {
            if words.iter().all(|x| known(x)) && !candidates.iter().any(|c| c.words == words) {
                let prior = score(&words, cost);
                candidates.push(Candidate { words, exact, display, prior, original: false });
            }
        };
        if !w.diacritics
            && let Some(t) = spelling::telex(&w.raw)
        {
            add(vec![fold_word(&t)], t.clone(), Some(exact_word(&t)), TELEX);
        }
        if !is_known {
            // A missing space: both halves are words and follow each other in some title.
            for k in (1..fold.len()).filter(|&k| fold.is_char_boundary(k)) {
                let (a, b) = fold.split_at(k);
                if known(a) && known(b) && bigram_df(searcher, fields, a, b) > 0 {
                    add(
                        vec![a.to_owned(), b.to_owned()],
                        format!("{} {}", lexicon.spelling(a, None), lexicon.spelling(b, None)),
                        None,
                        SPLIT,
                    );
                }
            }
        }
        let typed = w.diacritics.then_some(w.exact.as_str());
        for c in spelling::confusions(fold) {
            let display = lexicon.spelling(&c, typed);
            let exact = typed.map(|_| display.clone());
            add(vec![c], display, exact, if is_known { CONFUSION_OF_KNOWN } else { CONFUSION });
        }
        if !is_known && fold.chars().count() >= 3 && spelling::looks_vietnamese(fold)
            || !is_known && fold.chars().count() >= 5
        {
            let mut edits: Vec<(u64, String)> =
                spelling::edits1(fold).into_iter().map(|e| (lexicon.df(&e), e)).filter(|(df, _)| *df > 0).collect();
            edits.sort_by_key(|e| std::cmp::Reverse(e.0));
            for (_, e) in edits.into_iter().take(3) {
                let display = lexicon.spelling(&e, typed);
                let exact = typed.map(|_| display.clone());
                add(vec![e], display, exact, EDIT);
            }
        }
        slots.push(Slot { range: i..i + 1, candidates });
        i += 1;
    }

    // Best sequence: word priors plus a bonus for neighbours that occur together in titles.
    let n = slots.len();
    let bonus = |s: usize, prev: &Candidate, c: &Candidate| {
        let joined = words[slots[s].range.start].joined_to_previous;
        let together = match (&prev.exact, &c.exact) {
            // Both with diacritics: the user's diacritics must occur together too.
            (Some(a), Some(b)) => exact_bigram_df(searcher, fields, a, b) > 0,
            _ => bigram_df(searcher, fields, prev.words.last().expect("a word"), &c.words[0]) > 0,
        };
        if joined && together { BIGRAM } else { 0.0 }
    };
    let mut best: Vec<Vec<(f32, usize)>> = Vec::with_capacity(n);
    for s in 0..n {
        let mut row = Vec::with_capacity(slots[s].candidates.len());
        for c in &slots[s].candidates {
            if s == 0 {
                row.push((c.prior, 0));
                continue;
            }
            let (mut top, mut from) = (f32::MIN, 0);
            for (p, prev) in slots[s - 1].candidates.iter().enumerate() {
                let total = best[s - 1][p].0 + bonus(s, prev, c);
                if total > top {
                    (top, from) = (total, p);
                }
            }
            row.push((top + c.prior, from));
        }
        best.push(row);
    }
    let mut chosen = vec![0; n];
    if let Some(last) = best.last() {
        chosen[n - 1] = (0..last.len()).max_by(|&a, &b| last[a].0.total_cmp(&last[b].0)).unwrap_or(0);
        for s in (1..n).rev() {
            chosen[s - 1] = best[s][chosen[s]].1;
        }
    }

    let original = |s: usize| slots[s].candidates.iter().find(|c| c.original).expect("the original is a candidate");
    let as_typed: f32 =
        (0..n).map(|s| original(s).prior + if s > 0 { bonus(s, original(s - 1), original(s)) } else { 0.0 }).sum();
    let chosen_score = best.last().map_or(0.0, |row| row[chosen[n - 1]].0);
    let mut out = Corrected { margin: chosen_score - as_typed, ..Corrected::default() };
    let mut shown = Vec::new();
    let mut changed = false;
    for (s, slot) in slots.iter().enumerate() {
        let pick = &slot.candidates[chosen[s]];
        changed |= !pick.original;
        shown.push(pick.display.clone());
        let alternatives: Vec<Alternative> = slot
            .candidates
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.original)
            .map(|(k, c)| Alternative { words: c.words.clone(), weight: if k == chosen[s] { 1.0 } else { 0.5 } })
            .collect();
        if !alternatives.is_empty() {
            out.corrections.push(Correction { range: slot.range.clone(), alternatives });
        }
    }
    if changed {
        out.did_you_mean = Some(shown.join(" "));
    }
    out
}

/// Levenshtein distance over characters (NFC, so a letter with its marks is one character).
fn distance(a: &str, b: &str) -> usize {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != cb)).min(row[j] + 1).min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

fn exact_bigram_df(searcher: &Searcher, fields: &Fields, a: &str, b: &str) -> u64 {
    searcher.doc_freq(&Term::from_field_text(fields.title_bigram_exact, &format!("{a}_{b}"))).unwrap_or(0)
}

fn bigram_df(searcher: &Searcher, fields: &Fields, a: &str, b: &str) -> u64 {
    searcher.doc_freq(&Term::from_field_text(fields.title_bigram, &format!("{a}_{b}"))).unwrap_or(0)
}
