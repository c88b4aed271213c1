//! hoclieu's search and suggest measured in-process, on one thread, over the index that
//! `hoclieu import` built: the same call the HTTP handler makes (facets, snippets, corrections).

use std::path::Path;
use std::time::Instant;

use hoclieu_index::{Language, SearchIndex, SearchRequest};

use crate::Engine;
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

    pub fn suggest_ms(&self, q: &str) -> Result<f64, String> {
        let started = Instant::now();
        let r = self.index.suggest(q, 10).map_err(|e| format!("suggest {q:?}: {e}"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        std::hint::black_box(r);
        Ok(ms)
    }
}

impl Engine for InProcess {
    /// One search of the first page (10 hits) with facets and snippets.
    async fn search_ms(&mut self, q: &str) -> Result<(f64, i64), String> {
        let req = SearchRequest { text: q.to_owned(), limit: 10, ..Default::default() };
        let started = Instant::now();
        let r = self.index.search(&req).map_err(|e| format!("search {q:?}: {e}"))?;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        Ok((ms, std::hint::black_box(r).total as i64))
    }
}

/// Suggest latency over the prefixes, `passes` times after one warm-up pass.
pub fn measure_suggest(engine: &InProcess, prefixes: &[String], passes: usize) -> Result<Latency, String> {
    for q in prefixes {
        engine.suggest_ms(q)?;
    }
    let mut runs = Vec::new();
    for _ in 0..passes {
        runs.push(prefixes.iter().map(|q| engine.suggest_ms(q)).collect::<Result<Vec<f64>, String>>()?);
    }
    Ok(Latency::of(runs))
}
