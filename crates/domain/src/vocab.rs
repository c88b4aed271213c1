//! Controlled vocabularies (subjects, grades and levels, textbook series, resource types,
//! licences, provinces). They are data, read from `config/vocabularies/*.toml`; the files in the
//! repository are embedded as defaults and an operator may override any of them.
//!
//! A user's value matches a term's code, label or any alias regardless of case, diacritics,
//! tone-mark placement and separators: see [`crate::text::match_key`].

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::Error;
use crate::text::{match_key, words};

/// One entry of a vocabulary.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Term {
    pub code: String,
    pub label: String,
    #[serde(default)]
    pub aliases: Vec<String>,
    /// First and last grade (subjects: where the subject is taught; levels: their grades).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grades: Option<[u8; 2]>,
}

/// A vocabulary: its terms in file order and a lookup by match key.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    kind: &'static str,
    terms: Vec<Term>,
    by_key: HashMap<String, usize>,
}

impl Vocabulary {
    /// Builds a vocabulary and checks that no two terms share a code, label or alias.
    pub fn new(kind: &'static str, file: &str, terms: Vec<Term>) -> Result<Self, Error> {
        let err = |message: String| Error::Vocabulary { file: file.to_owned(), message };
        if terms.is_empty() {
            return Err(err("no terms".into()));
        }
        let mut by_key: HashMap<String, usize> = HashMap::new();
        for (i, term) in terms.iter().enumerate() {
            if term.code.trim().is_empty() || term.label.trim().is_empty() {
                return Err(err(format!("term #{} has an empty code or label", i + 1)));
            }
            if let Some([a, b]) = term.grades
                && (a < 1 || b > 12 || a > b)
            {
                return Err(err(format!("term {:?}: grades must be within 1..=12", term.code)));
            }
            for name in std::iter::once(&term.code).chain([&term.label]).chain(&term.aliases) {
                let key = match_key(name);
                if key.is_empty() {
                    return Err(err(format!("term {:?}: name {name:?} has no letters or digits", term.code)));
                }
                if let Some(&other) = by_key.get(&key)
                    && other != i
                {
                    return Err(err(format!(
                        "{name:?} of term {:?} also names term {:?}",
                        term.code, terms[other].code
                    )));
                }
                by_key.insert(key, i);
            }
        }
        Ok(Vocabulary { kind, terms, by_key })
    }

    /// Parses a vocabulary file: a TOML array of tables under `table` (`[[term]]`).
    pub fn parse(kind: &'static str, file: &str, table: &str, text: &str) -> Result<Self, Error> {
        let mut doc: HashMap<String, Vec<Term>> =
            toml::from_str(text).map_err(|e| Error::Vocabulary { file: file.to_owned(), message: e.to_string() })?;
        let terms = doc.remove(table).unwrap_or_default();
        if let Some(other) = doc.keys().next() {
            return Err(Error::Vocabulary {
                file: file.into(),
                message: format!("unknown table [[{other}]], expected [[{table}]]"),
            });
        }
        Self::new(kind, file, terms)
    }

    /// What this vocabulary names, for messages ("subject", "series"…).
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The term whose code, label or alias matches `value`.
    pub fn resolve(&self, value: &str) -> Option<&Term> {
        self.by_key.get(&match_key(value)).map(|&i| &self.terms[i])
    }

    /// The term with exactly this code.
    pub fn get(&self, code: &str) -> Option<&Term> {
        self.resolve(code).filter(|t| t.code == code)
    }

    /// The label of `code`, or the code itself when the vocabulary no longer has it.
    pub fn label<'a>(&'a self, code: &'a str) -> &'a str {
        self.get(code).map_or(code, |t| t.label.as_str())
    }
}

/// All vocabularies of the service.
#[derive(Debug, Clone)]
pub struct Vocabularies {
    pub subjects: Vocabulary,
    /// School levels (Tiểu học, THCS, THPT) with their grade ranges.
    pub levels: Vocabulary,
    pub series: Vocabulary,
    pub resource_types: Vocabulary,
    pub licenses: Vocabulary,
    pub provinces: Vocabulary,
}

/// The vocabulary files: (file name, TOML table, embedded default text).
pub const FILES: [(&str, &str, &str); 6] = [
    ("subjects.toml", "term", include_str!("../../../config/vocabularies/subjects.toml")),
    ("grades.toml", "level", include_str!("../../../config/vocabularies/grades.toml")),
    ("series.toml", "term", include_str!("../../../config/vocabularies/series.toml")),
    ("resource_types.toml", "term", include_str!("../../../config/vocabularies/resource_types.toml")),
    ("licenses.toml", "term", include_str!("../../../config/vocabularies/licenses.toml")),
    ("provinces.toml", "term", include_str!("../../../config/vocabularies/provinces.toml")),
];

impl Vocabularies {
    /// The vocabularies shipped in `config/vocabularies/`.
    pub fn embedded() -> Self {
        Self::load(|_| None).expect("the embedded vocabularies are valid (tested)")
    }

    /// Loads every vocabulary, taking a file's text from `override_text(file_name)` when it
    /// returns one and the embedded default otherwise.
    pub fn load(mut override_text: impl FnMut(&str) -> Option<String>) -> Result<Self, Error> {
        let mut parsed = Vec::with_capacity(FILES.len());
        for (file, table, default) in FILES {
            let kind = match file {
                "subjects.toml" => "subject",
                "grades.toml" => "level",
                "series.toml" => "series",
                "resource_types.toml" => "resource_type",
                "licenses.toml" => "license",
                _ => "province",
            };
            let text = override_text(file);
            parsed.push(Vocabulary::parse(kind, file, table, text.as_deref().unwrap_or(default))?);
        }
        let mut it = parsed.into_iter();
        let mut next = || it.next().expect("one vocabulary per file");
        let v = Vocabularies {
            subjects: next(),
            levels: next(),
            series: next(),
            resource_types: next(),
            licenses: next(),
            provinces: next(),
        };
        if v.levels.terms().iter().any(|t| t.grades.is_none()) {
            return Err(Error::Vocabulary {
                file: "grades.toml".into(),
                message: "every level needs `grades = [first, last]`".into(),
            });
        }
        Ok(v)
    }

    /// A grade from "10", "lớp 10", "Lớp 10", "L10", "khối 10" or "grade 10".
    pub fn resolve_grade(&self, value: &str) -> Option<u8> {
        // Signs and decimals are not grades ("-1" is not grade 1, "1.5" not 1 or 5).
        let signed = value.trim_start().starts_with(['-', '+', '−']);
        let decimal = value
            .as_bytes()
            .windows(3)
            .any(|w| w[0].is_ascii_digit() && matches!(w[1], b'.' | b',') && w[2].is_ascii_digit());
        if signed || decimal {
            return None;
        }
        let folded: Vec<String> = words(value).map(crate::text::fold_word).collect();
        let number = match folded.as_slice() {
            [n] => n,
            [prefix, n] if matches!(prefix.as_str(), "lop" | "l" | "khoi" | "grade" | "class") => n,
            _ => return None,
        };
        number.parse::<u8>().ok().filter(|g| (1..=12).contains(g))
    }

    /// The school level of a grade.
    pub fn level_of_grade(&self, grade: u8) -> Option<&Term> {
        self.levels.terms().iter().find(|t| t.grades.is_some_and(|[a, b]| (a..=b).contains(&grade)))
    }

    /// The display label of a grade ("Lớp 10").
    pub fn grade_label(grade: u8) -> String {
        format!("Lớp {grade}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_vocabularies_load() {
        let v = Vocabularies::embedded();
        assert!(v.subjects.terms().len() >= 23);
        assert_eq!(v.provinces.terms().len(), 34);
        assert_eq!(v.levels.terms().len(), 3);
    }

    #[test]
    fn values_match_code_label_and_alias_in_any_spelling() {
        let v = Vocabularies::embedded();
        for s in ["Hoá học", "Hóa học", "hoa hoc", "hoa-hoc", "HOÁ HỌC", "Hoá", "chemistry"] {
            assert_eq!(v.subjects.resolve(s).map(|t| t.code.as_str()), Some("hoa-hoc"), "{s}");
        }
        assert_eq!(v.subjects.resolve("Vật lý").unwrap().code, "vat-li");
        assert_eq!(v.subjects.resolve("gdcd").unwrap().code, "giao-duc-cong-dan");
        assert_eq!(v.subjects.resolve("LS&ĐL").unwrap().code, "lich-su-va-dia-li");
        assert_eq!(v.series.resolve("Kết nối tri thức với cuộc sống").unwrap().code, "kntt");
        assert_eq!(v.series.resolve("canh dieu").unwrap().code, "canh-dieu");
        assert_eq!(v.resource_types.resolve("giáo án").unwrap().code, "ke-hoach-bai-day");
        assert_eq!(v.licenses.resolve("cc by-sa").unwrap().code, "CC-BY-SA-4.0");
        assert_eq!(v.provinces.resolve("Thanh Hóa").unwrap().code, "thanh-hoa");
        assert_eq!(v.provinces.resolve("Thanh Hoá").unwrap().code, "thanh-hoa");
        assert_eq!(v.provinces.resolve("Hà Giang").unwrap().code, "tuyen-quang");
        assert!(v.subjects.resolve("Hoá sinh").is_none());
        assert_eq!(v.subjects.label("hoa-hoc"), "Hoá học");
        assert!(v.subjects.get("Hoá").is_none(), "get() takes codes only");
    }

    #[test]
    fn grades_and_levels() {
        let v = Vocabularies::embedded();
        for s in ["10", "lớp 10", "Lớp 10", "lop10", "L10", "khối 10"] {
            assert_eq!(v.resolve_grade(s), Some(10), "{s}");
        }
        for s in ["0", "13", "lớp", "10 11", "mười"] {
            assert_eq!(v.resolve_grade(s), None, "{s}");
        }
        assert_eq!(v.level_of_grade(5).unwrap().code, "tieu-hoc");
        assert_eq!(v.level_of_grade(6).unwrap().code, "thcs");
        assert_eq!(v.level_of_grade(12).unwrap().code, "thpt");
        assert_eq!(v.levels.resolve("cấp 3").unwrap().code, "thpt");
    }

    #[test]
    fn clashing_names_are_refused_with_both_codes() {
        let text = "[[term]]\ncode='a'\nlabel='Hoá'\n[[term]]\ncode='b'\nlabel='Hóa'\n";
        let err = Vocabulary::parse("subject", "x.toml", "term", text).unwrap_err();
        assert!(err.to_string().contains("\"a\"") && err.to_string().contains("\"b\""), "{err}");
    }

    #[test]
    fn operator_overrides_replace_one_file() {
        let v = Vocabularies::load(|f| {
            (f == "series.toml").then(|| "[[term]]\ncode = \"moi\"\nlabel = \"Bộ sách mới\"\n".to_owned())
        })
        .unwrap();
        assert_eq!(v.series.terms().len(), 1);
        assert!(v.subjects.resolve("toán").is_some());
        let bad = Vocabularies::load(|f| (f == "series.toml").then(|| "[[term]]\ncode = 1\n".to_owned()));
        assert!(bad.unwrap_err().to_string().contains("series.toml"));
    }
}
