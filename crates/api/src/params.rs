//! Query-string parameters of the search endpoint. Filters repeat (`subject=toan&subject=tin-hoc`)
//! and take codes, labels or aliases in any spelling.

use hoclieu_domain::Vocabularies;
use hoclieu_index::{Filters, SearchRequest, Sort};

use crate::error::ApiError;

pub const DEFAULT_PER_PAGE: usize = 20;
pub const MAX_PER_PAGE: usize = 100;
/// Longest accepted query text, in characters.
pub const MAX_QUERY_CHARS: usize = 500;

/// A search request with its page, 1-based.
pub struct SearchParams {
    pub request: SearchRequest,
    pub page: usize,
    pub per_page: usize,
}

fn invalid(field: &str, message: String) -> ApiError {
    ApiError::bad_request("invalid_value", message).with_field(field)
}

fn number(field: &str, value: &str, min: usize, max: usize) -> Result<usize, ApiError> {
    value
        .trim()
        .parse::<usize>()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .ok_or_else(|| invalid(field, format!("{field} must be a number from {min} to {max}, got {value:?}")))
}

fn code(vocab: &hoclieu_domain::Vocabulary, field: &str, value: &str) -> Result<String, ApiError> {
    vocab.resolve(value).map(|t| t.code.clone()).ok_or_else(|| {
        ApiError::bad_request("unknown_value", format!("unknown {field} {value:?}; see /api/v1/vocabularies"))
            .with_field(field)
    })
}

impl SearchParams {
    pub fn parse(query_string: &str, v: &Vocabularies) -> Result<SearchParams, ApiError> {
        let mut text = String::new();
        let mut filters = Filters::default();
        let mut levels: Vec<u8> = Vec::new();
        let (mut page, mut per_page, mut sort) = (1, DEFAULT_PER_PAGE, Sort::Relevance);
        for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
            let value = value.trim();
            if value.is_empty() {
                continue;
            }
            match &*key {
                "q" => {
                    if value.chars().count() > MAX_QUERY_CHARS {
                        return Err(invalid("q", format!("the query is longer than {MAX_QUERY_CHARS} characters")));
                    }
                    text = value.to_owned();
                }
                "subject" => filters.subjects.push(code(&v.subjects, "subject", value)?),
                "series" => filters.series.push(code(&v.series, "series", value)?),
                "resource_type" => filters.resource_types.push(code(&v.resource_types, "resource_type", value)?),
                "grade" => filters.grades.push(
                    v.resolve_grade(value)
                        .ok_or_else(|| invalid("grade", format!("grade must be 1–12, got {value:?}")))?,
                ),
                "level" => {
                    let level = v.levels.resolve(value).ok_or_else(|| {
                        ApiError::bad_request("unknown_value", format!("unknown level {value:?}")).with_field("level")
                    })?;
                    let [a, b] = level.grades.unwrap_or([1, 12]);
                    levels.extend(a..=b);
                }
                "sort" => {
                    sort = match value {
                        "relevance" => Sort::Relevance,
                        "newest" => Sort::Newest,
                        "downloads" => Sort::Downloads,
                        other => {
                            return Err(invalid(
                                "sort",
                                format!("sort must be relevance, newest or downloads, got {other:?}"),
                            ));
                        }
                    }
                }
                "page" => page = number("page", value, 1, hoclieu_index::MAX_DEPTH)?,
                "per_page" => per_page = number("per_page", value, 1, MAX_PER_PAGE)?,
                _ => {}
            }
        }
        // A level and grades together: the grades of that level only (0 matches nothing).
        if !levels.is_empty() {
            filters.grades = if filters.grades.is_empty() {
                levels
            } else {
                let both: Vec<u8> = filters.grades.iter().copied().filter(|g| levels.contains(g)).collect();
                if both.is_empty() { vec![0] } else { both }
            };
        }
        let offset = (page - 1).saturating_mul(per_page);
        Ok(SearchParams { request: SearchRequest { text, filters, sort, offset, limit: per_page }, page, per_page })
    }
}

impl SearchParams {
    /// What the search log keeps of this search: the query, the filters and the outcome.
    pub fn log_entry(&self, results: u64, corrected: Option<String>) -> hoclieu_db::SearchLogEntry {
        let f = &self.request.filters;
        let mut filters: Vec<String> = Vec::new();
        filters.extend(f.subjects.iter().map(|s| format!("subject={s}")));
        filters.extend(f.grades.iter().map(|g| format!("grade={g}")));
        filters.extend(f.series.iter().map(|s| format!("series={s}")));
        filters.extend(f.resource_types.iter().map(|t| format!("resource_type={t}")));
        hoclieu_db::SearchLogEntry {
            at: chrono::Utc::now(),
            query: hoclieu_domain::text::clean(&self.request.text, false).chars().take(200).collect(),
            filters: filters.join(" "),
            results,
            corrected,
        }
    }
}

/// Parameters of the autocomplete endpoint: `q` and `limit` (1–10, default 10).
pub struct SuggestParams {
    pub q: String,
    pub limit: usize,
}

impl SuggestParams {
    pub fn parse(query_string: &str) -> Result<SuggestParams, ApiError> {
        let mut params = SuggestParams { q: String::new(), limit: hoclieu_index::MAX_SUGGESTIONS };
        for (key, value) in form_urlencoded::parse(query_string.as_bytes()) {
            match &*key {
                "q" if value.chars().count() > 100 => {
                    return Err(invalid("q", "the text to complete is longer than 100 characters".into()));
                }
                // Trailing spaces matter: after a space the last word is complete.
                "q" => params.q = value.trim_start().to_owned(),
                "limit" => params.limit = number("limit", &value, 1, hoclieu_index::MAX_SUGGESTIONS)?,
                _ => {}
            }
        }
        Ok(params)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_take_labels_and_repeat() {
        let v = Vocabularies::embedded();
        let p = SearchParams::parse("q=t%E1%BA%ADp+h%E1%BB%A3p&subject=H%C3%B3a+h%E1%BB%8Dc&subject=toan&grade=l%E1%BB%9Bp+10&sort=newest&page=2&per_page=5", &v).unwrap();
        assert_eq!(p.request.text, "tập hợp");
        assert_eq!(p.request.filters.subjects, ["hoa-hoc", "toan"]);
        assert_eq!(p.request.filters.grades, [10]);
        assert_eq!(p.request.sort, Sort::Newest);
        assert_eq!((p.request.offset, p.request.limit), (5, 5));
    }

    #[test]
    fn levels_expand_to_grades_and_intersect() {
        let v = Vocabularies::embedded();
        assert_eq!(SearchParams::parse("level=thpt", &v).unwrap().request.filters.grades, [10, 11, 12]);
        assert_eq!(SearchParams::parse("level=thpt&grade=11&grade=5", &v).unwrap().request.filters.grades, [11]);
        assert_eq!(SearchParams::parse("level=thpt&grade=5", &v).unwrap().request.filters.grades, [0]);
    }

    #[test]
    fn bad_values_name_their_field() {
        let v = Vocabularies::embedded();
        for (q, field) in [
            ("subject=xyz", "subject"),
            ("grade=13", "grade"),
            ("grade=-1", "grade"),
            ("grade=1.5", "grade"),
            ("page=0", "page"),
            ("per_page=1000", "per_page"),
            ("sort=best", "sort"),
            ("level=dai-hoc", "level"),
        ] {
            let err = SearchParams::parse(q, &v).err().unwrap();
            assert_eq!(err.field.as_deref(), Some(field), "{q}");
        }
    }

    proptest::proptest! {
        #[test]
        fn any_query_string_parses_or_names_its_field(
            q in "((q|subject|grade|level|series|type|sort|page|per_page|province)=[a-z0-9%+\\-]{0,8}&?){0,6}|\\PC{0,60}"
        ) {
            let v = Vocabularies::embedded();
            match SearchParams::parse(&q, &v) {
                Ok(p) => proptest::prop_assert!(p.page >= 1 && p.per_page >= 1),
                Err(e) => proptest::prop_assert!(e.field.is_some() && e.status.is_client_error(), "{e}"),
            }
        }
    }
}
