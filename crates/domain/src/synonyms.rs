//! Synonyms and abbreviations for search: groups of phrases that mean the same to a teacher.
//! Data, from `config/synonyms.toml` plus groups derived from the vocabularies.

use std::collections::{HashMap, HashSet};

use serde::Deserialize;

use crate::text::{fold_word, match_key, words};
use crate::{Error, Vocabularies, Vocabulary};

pub const EMBEDDED: &str = include_str!("../../../config/synonyms.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    optional: Vec<String>,
    #[serde(default)]
    group: Vec<Group>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Group {
    terms: Vec<String>,
}

/// Phrases as folded words, grouped.
#[derive(Debug, Clone, Default)]
pub struct Synonyms {
    groups: Vec<Vec<Vec<String>>>,
    /// Match key of a phrase → the groups it belongs to.
    by_key: HashMap<String, Vec<usize>>,
    longest: usize,
    /// Words never required in a query: exact forms, and folded forms for words typed without
    /// diacritics ("có" is optional, "cổ" is not; "co" typed bare may be either).
    optional: HashSet<String>,
    optional_folded: HashSet<String>,
}

fn folded_words(s: &str) -> Vec<String> {
    words(s).map(fold_word).collect()
}

impl Synonyms {
    /// Parses a synonyms file.
    pub fn parse(file: &str, text: &str) -> Result<Synonyms, Error> {
        let parsed: File =
            toml::from_str(text).map_err(|e| Error::Vocabulary { file: file.into(), message: e.to_string() })?;
        let mut s = Synonyms::default();
        for o in &parsed.optional {
            s.optional.extend(words(o).map(crate::text::exact_word));
            s.optional_folded.extend(folded_words(o));
        }
        for (i, g) in parsed.group.into_iter().enumerate() {
            if g.terms.len() < 2 {
                return Err(Error::Vocabulary {
                    file: file.into(),
                    message: format!("group #{} needs at least two terms", i + 1),
                });
            }
            s.add(g.terms.iter().map(String::as_str));
        }
        Ok(s)
    }

    /// The embedded synonyms with the vocabulary-derived groups.
    pub fn embedded(vocab: &Vocabularies) -> Synonyms {
        let mut s = Synonyms::parse("synonyms.toml", EMBEDDED).expect("the embedded synonyms are valid (tested)");
        s.add_vocabularies(vocab);
        s
    }

    /// Adds a group per subject, series and resource type: its label with its abbreviations
    /// (aliases in capitals) and multi-word aliases. Single lowercase words are left out: they
    /// are too often something else.
    pub fn add_vocabularies(&mut self, vocab: &Vocabularies) {
        let vocabularies: [&Vocabulary; 3] = [&vocab.subjects, &vocab.series, &vocab.resource_types];
        for v in vocabularies {
            for t in v.terms() {
                let mut terms = vec![t.label.as_str()];
                for a in &t.aliases {
                    let abbreviation =
                        a.chars().filter(|c| c.is_alphabetic()).all(|c| c.is_uppercase()) && a.chars().count() >= 2;
                    if abbreviation || words(a).count() >= 2 {
                        terms.push(a);
                    }
                }
                if terms.len() > 1 {
                    self.add(terms.into_iter());
                }
            }
        }
    }

    fn add<'a>(&mut self, terms: impl Iterator<Item = &'a str>) {
        let phrases: Vec<Vec<String>> = terms.map(folded_words).filter(|w| !w.is_empty()).collect();
        let index = self.groups.len();
        for p in &phrases {
            self.longest = self.longest.max(p.len());
            let entry = self.by_key.entry(p.join("-")).or_default();
            if !entry.contains(&index) {
                entry.push(index);
            }
        }
        self.groups.push(phrases);
    }

    /// The longest phrase at the start of `folded` that has synonyms: its length in words and
    /// its alternatives (folded words), without the phrase itself.
    pub fn at_start(&self, folded: &[String]) -> Option<(usize, Vec<Vec<String>>)> {
        for len in (1..=self.longest.min(folded.len())).rev() {
            let key = folded[..len].join("-");
            if let Some(groups) = self.by_key.get(&key) {
                let mut alternatives: Vec<Vec<String>> = Vec::new();
                for &g in groups {
                    for p in &self.groups[g] {
                        if p.join("-") != key && !alternatives.contains(p) {
                            alternatives.push(p.clone());
                        }
                    }
                }
                if !alternatives.is_empty() {
                    return Some((len, alternatives));
                }
            }
        }
        None
    }

    /// Whether a query word is a function word that is never required. `exact` is the word's
    /// exact form ([`crate::text::exact_word`]); a word typed without diacritics is compared
    /// folded.
    pub fn is_optional(&self, exact: &str) -> bool {
        if crate::text::has_diacritics(exact) {
            self.optional.contains(exact)
        } else {
            self.optional_folded.contains(exact)
        }
    }

    /// Number of groups.
    pub fn len(&self) -> usize {
        self.groups.len()
    }

    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Whether `phrase` has synonyms.
    pub fn contains(&self, phrase: &str) -> bool {
        self.by_key.contains_key(&match_key(phrase))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn w(s: &str) -> Vec<String> {
        folded_words(s)
    }

    #[test]
    fn longest_phrase_wins_and_alternatives_come_from_every_group() {
        let s = Synonyms::embedded(&Vocabularies::embedded());
        let (len, alts) = s.at_start(&w("giao an toan 10")).unwrap();
        assert_eq!(len, 2);
        assert!(alts.contains(&w("kế hoạch bài dạy")));
        let (len, alts) = s.at_start(&w("ke hoach bai day")).unwrap();
        assert_eq!(len, 4);
        assert!(alts.contains(&w("giáo án")));
        let (_, alts) = s.at_start(&w("este")).unwrap();
        assert_eq!(alts, vec![w("ester")]);
        let (_, alts) = s.at_start(&w("kntt")).unwrap();
        assert!(alts.contains(&w("Kết nối tri thức với cuộc sống")));
        let (_, alts) = s.at_start(&w("gdcd")).unwrap();
        assert!(alts.contains(&w("giáo dục công dân")));
        assert!(s.at_start(&w("tap hop")).is_none());
        assert!(s.at_start(&w("anh")).is_none(), "a lone lowercase alias is too ambiguous");
        assert!(s.is_optional("có") && s.is_optional("co") && !s.is_optional("cổ"));
    }

    #[test]
    fn groups_need_two_terms() {
        assert!(Synonyms::parse("x.toml", "[[group]]\nterms = [\"a\"]\n").is_err());
        assert!(Synonyms::parse("x.toml", "[[group]]\nwords = [\"a\", \"b\"]\n").is_err());
    }
}
