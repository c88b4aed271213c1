//! hoclieu's search and suggest measured in-process, on one thread, over the index that
//! `hoclieu import` built: the same call the HTTP handler makes (facets, snippets, corrections).

use std::path::Path;
use std::time::Instant;

use hoclieu_index::{Language, SearchIndex, SearchRequest};

use crate::queries::QueryMix;
use crate::stats::Latency;

pub struct InProcess {
    index: SearchIndex,
}

impl InProcess {
    pub fn open(index_dir: &Path) -> Result<InProcess, String> {
        let index = SearchIndex::open(index_dir, Language::embedded()).map_err(|e| e.to_string())?;
        Ok(InProcess { index })
    }

    pub fn num_docs(&self) -> u64 {
        self.index.num_docs()
    }

    /// Milliseconds of one search of the first page (10 hits) with facets and snippets.
    pub fn search_ms(&self, q: &str) -> Result<f64, String> {
        let req = SearchRequest { text: q.to_owned(), limit: 10, ..Default::default() };
        let started = Instant::now();
        let r = self.index.search(&req).map_err(|e| format!("search {q:?}: {e}"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        std::hint::black_box(r);
        Ok(ms)
    }

    pub fn suggest_ms(&self, q: &str) -> Result<f64, String> {
        let started = Instant::now();
        let r = self.index.suggest(q, 10).map_err(|e| format!("suggest {q:?}: {e}"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        std::hint::black_box(r);
        Ok(ms)
    }

    /// How many of the queries find something (a sanity figure printed beside the latencies).
    pub fn found(&self, queries: &[String]) -> usize {
        queries
            .iter()
            .filter(|q| {
                let req = SearchRequest { text: (*q).clone(), limit: 10, ..Default::default() };
                self.index.search(&req).is_ok_and(|r| r.total > 0)
            })
            .count()
    }
}

/// Latency per class (and suggest) over `passes` passes, after one warm-up pass.
pub fn measure(engine: &InProcess, mix: &QueryMix, passes: usize) -> Result<Vec<(String, Latency)>, String> {
    let mut out = Vec::new();
    for (class, queries) in mix.classes() {
        for q in queries {
            engine.search_ms(q)?;
        }
        let mut runs = Vec::new();
        for _ in 0..passes {
            runs.push(queries.iter().map(|q| engine.search_ms(q)).collect::<Result<Vec<f64>, String>>()?);
        }
        out.push((class.to_owned(), Latency::of(runs)));
    }
    for q in &mix.prefixes {
        engine.suggest_ms(q)?;
    }
    let mut runs = Vec::new();
    for _ in 0..passes {
        runs.push(mix.prefixes.iter().map(|q| engine.suggest_ms(q)).collect::<Result<Vec<f64>, String>>()?);
    }
    out.push(("suggest".to_owned(), Latency::of(runs)));
    Ok(out)
}
