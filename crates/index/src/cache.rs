//! First pages of recent searches, kept within a memory bound.
//!
//! Teachers' queries follow a Zipf law: a few thousand queries make most of a busy morning. A
//! page is kept under the index generation it was computed on; a commit makes a new generation,
//! so a publish, a withdrawal or an edit is seen by the next search (no stale results, no
//! explicit invalidation). Entries of old generations age out.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

use crate::search::{Filters, SearchRequest, SearchResponse, Sort};

/// Memory bound of the cache when none is configured.
pub const DEFAULT_BYTES: u64 = 32 << 20;

/// What identifies a first page.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    generation: u64,
    /// The query as typed, in NFC, lowercase, with spaces collapsed (punctuation stays: it
    /// separates phrases).
    text: String,
    filters: Filters,
    sort: Sort,
    limit: usize,
}

impl Key {
    pub fn new(searcher: &tantivy::Searcher, req: &SearchRequest) -> Key {
        let text = hoclieu_domain::text::clean(&req.text, false).to_lowercase();
        Key {
            generation: searcher.generation().generation_id(),
            text,
            filters: req.filters.clone(),
            sort: req.sort,
            limit: req.limit,
        }
    }
}

/// Hits and misses since the start, and what the cache holds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    pub entries: u64,
    /// Approximate bytes held, and the bound.
    pub bytes: u64,
    pub max_bytes: u64,
}

impl CacheStats {
    pub fn hit_rate(&self) -> f64 {
        self.hits as f64 / (self.hits + self.misses).max(1) as f64
    }
}

pub struct SearchCache {
    pages: Option<moka::sync::Cache<Key, Arc<SearchResponse>>>,
    max_bytes: u64,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// Approximate bytes a response takes in memory.
fn weight(key: &Key, r: &SearchResponse) -> u32 {
    let hits: usize = r
        .hits
        .iter()
        .map(|h| {
            200 + h.title.len()
                + h.title_html.len()
                + h.snippet_html.len()
                + h.chapter.as_ref().map_or(0, String::len)
                + h.lesson.as_ref().map_or(0, String::len)
        })
        .sum();
    let facets = 32 * (r.facets.subject.len() + r.facets.series.len() + r.facets.resource_type.len() + 13);
    u32::try_from(256 + key.text.len() + hits + facets).unwrap_or(u32::MAX)
}

impl SearchCache {
    pub fn new(max_bytes: u64) -> SearchCache {
        let pages = (max_bytes > 0).then(|| {
            moka::sync::Cache::builder()
                .max_capacity(max_bytes)
                .weigher(|k: &Key, v: &Arc<SearchResponse>| weight(k, v))
                .build()
        });
        SearchCache { pages, max_bytes, hits: AtomicU64::new(0), misses: AtomicU64::new(0) }
    }

    pub fn get(&self, key: &Key) -> Option<SearchResponse> {
        let pages = self.pages.as_ref()?;
        match pages.get(key) {
            Some(found) => {
                self.hits.fetch_add(1, Ordering::Relaxed);
                Some((*found).clone())
            }
            None => {
                self.misses.fetch_add(1, Ordering::Relaxed);
                None
            }
        }
    }

    pub fn insert(&self, key: Key, response: &SearchResponse) {
        if let Some(pages) = &self.pages {
            pages.insert(key, Arc::new(response.clone()));
        }
    }

    pub fn stats(&self) -> CacheStats {
        let (entries, bytes) = self.pages.as_ref().map_or((0, 0), |p| {
            p.run_pending_tasks();
            (p.entry_count(), p.weighted_size())
        });
        CacheStats {
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            entries,
            bytes,
            max_bytes: self.max_bytes,
        }
    }
}
