//! The search index of hoclieu (tantivy): schema, Vietnamese analyzers, queries, and the
//! [`Indexer`] that follows the database's change sequence.
//!
//! **Architecture invariant:** the index is derived data. Each commit records, in tantivy's
//! commit payload, the last change-sequence number it includes; applying a change means
//! re-reading that material from the database, so replaying changes is harmless. After a crash
//! the indexer resumes from the last commit, and `hoclieu reindex` (or deleting the directory)
//! rebuilds everything from the database alone.

pub mod analyzer;
pub mod baseline;
mod cache;
mod collector;
mod indexer;
pub mod query;
mod schema;
mod search;
mod spell;
mod suggest;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use hoclieu_domain::{Synonyms, Vocabularies};

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::{Index, IndexReader, ReloadPolicy};

pub use cache::CacheStats;
pub use indexer::{Indexer, follow};
pub use schema::{Fields, SCHEMA_VERSION};
pub use search::{Facets, Filters, Hit, MAX_DEPTH, SearchRequest, SearchResponse, Sort, escape_into};
pub use suggest::{MAX_SUGGESTIONS, Suggestion};

/// What the index knows of the language: vocabularies (for metadata words and hints) and
/// synonyms (with the optional function words).
pub struct Language {
    pub vocab: Arc<Vocabularies>,
    pub synonyms: Synonyms,
}

impl Language {
    pub fn new(vocab: Arc<Vocabularies>, synonyms: Synonyms) -> Arc<Language> {
        Arc::new(Language { vocab, synonyms })
    }

    /// The embedded vocabularies and synonyms.
    pub fn embedded() -> Arc<Language> {
        let vocab = Arc::new(Vocabularies::embedded());
        let synonyms = Synonyms::embedded(&vocab);
        Language::new(vocab, synonyms)
    }
}

/// The index crate's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("search index: {0}")]
    Tantivy(#[from] tantivy::TantivyError),
    #[error("search index directory: {0}")]
    Directory(#[from] tantivy::directory::error::OpenDirectoryError),
    /// Another process (usually a running `hoclieu serve`) holds the index writer.
    #[error("the search index at {0} is being written by another hoclieu process")]
    Locked(PathBuf),
    #[error(transparent)]
    Db(#[from] hoclieu_db::Error),
    #[error("results deeper than {0} are not available: narrow the search instead")]
    TooDeep(usize),
    #[error("search index I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("search index task failed: {0}")]
    Task(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What each commit records.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub(crate) struct Payload {
    pub schema: u32,
    pub seq: i64,
}

/// What identifies the documents a searcher sees, whichever reader it comes from: its segments
/// and their live documents.
fn commit_identity(searcher: &tantivy::Searcher) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for r in searcher.segment_readers() {
        r.segment_id().hash(&mut h);
        r.num_docs().hash(&mut h);
    }
    h.finish()
}

fn index_settings() -> tantivy::IndexSettings {
    tantivy::IndexSettings { docstore_blocksize: schema::DOCSTORE_BLOCK_BYTES, ..Default::default() }
}

/// A search index: open for reading; writes go through an [`Indexer`].
#[derive(Clone)]
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    location: PathBuf,
    lang: Arc<Language>,
    /// What is derived from the whole index for requests to read (never build): the spelling
    /// lexicon and the table of suggestions for short prefixes.
    derived: Arc<DerivedState>,
    /// First pages of recent searches, keyed by the index generation.
    cache: Arc<cache::SearchCache>,
    /// Documents a search visits to count its matches before it estimates.
    count_budget: u64,
}

/// The lexicon and the suggestion table, and what they were built from.
#[derive(Default)]
struct DerivedState {
    lexicon: RwLock<Option<Arc<spell::Lexicon>>>,
    suggestions: RwLock<Arc<suggest::Table>>,
    /// When, from how many documents and from which commit (`commit_identity`) they were last built.
    built: Mutex<Option<(Instant, u64, u64)>>,
}

/// How long the lexicon and the suggestion table serve before they are rebuilt after a commit
/// (new words matter little within a minute; a change of more than a tenth of the documents
/// rebuilds them at once).
const DERIVED_TTL: Duration = Duration::from_secs(60);

impl SearchIndex {
    /// Opens (or creates) the index under `dir`. Each schema version lives in its own
    /// subdirectory (`v1`, `v2`…), so a new version starts empty and is filled from the
    /// database while an older binary keeps its own.
    pub fn open(dir: &Path, lang: Arc<Language>) -> Result<SearchIndex> {
        let location = dir.join(format!("v{SCHEMA_VERSION}"));
        std::fs::create_dir_all(&location)?;
        for entry in std::fs::read_dir(dir)? {
            let name = entry?.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('v') && name != format!("v{SCHEMA_VERSION}") {
                tracing::warn!(path = %dir.join(&*name).display(), "an index of another schema version is present; delete it once no older hoclieu uses it");
            }
        }
        let fields = Fields::new();
        // Settings apply when the index is created; an existing one keeps its own.
        let index = Index::builder()
            .schema(fields.schema.clone())
            .settings(index_settings())
            .open_or_create(MmapDirectory::open(&location)?)?;
        Self::finish_open(index, fields, location, lang)
    }

    /// An index in memory (tests, evaluation).
    pub fn in_memory(lang: Arc<Language>) -> Result<SearchIndex> {
        let fields = Fields::new();
        let index = Index::builder().schema(fields.schema.clone()).settings(index_settings()).create_in_ram()?;
        Self::finish_open(index, fields, PathBuf::from("(memory)"), lang)
    }

    fn finish_open(index: Index, fields: Fields, location: PathBuf, lang: Arc<Language>) -> Result<SearchIndex> {
        analyzer::register(&index);
        // Reloaded by hand: after our own commits once the lexicon has caught up (see
        // `Indexer::commit`), and by the follower for commits of another process.
        let reader = index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let cache = Arc::new(cache::SearchCache::new(cache::DEFAULT_BYTES));
        Ok(SearchIndex {
            index,
            reader,
            fields,
            location,
            lang,
            derived: Arc::default(),
            cache,
            count_budget: search::COUNT_BUDGET,
        })
    }

    /// Sets how many documents a search visits to count its matches before it estimates
    /// (tests use a small one).
    pub fn with_count_budget(mut self, documents: u64) -> SearchIndex {
        self.count_budget = documents.max(1);
        self
    }

    /// Sets the memory bound of the cache of first pages (0 turns it off).
    pub fn with_cache(mut self, max_bytes: u64) -> SearchIndex {
        self.cache = Arc::new(cache::SearchCache::new(max_bytes));
        self
    }

    /// How the cache of first pages is doing.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    pub fn language(&self) -> &Language {
        &self.lang
    }

    /// The spelling lexicon, if one has been built (requests never build it).
    pub(crate) fn current_lexicon(&self) -> Option<Arc<spell::Lexicon>> {
        self.derived.lexicon.read().expect("lexicon lock").clone()
    }

    pub(crate) fn suggestion_table(&self) -> Arc<suggest::Table> {
        self.derived.suggestions.read().expect("suggestion lock").clone()
    }

    /// Rebuilds the spelling lexicon and the suggestion table from the current commit when they
    /// are missing, or stale (a new commit and older than a minute, or a tenth of the documents
    /// changed), or when `force`d. Blocking work (about a second at a million documents): the
    /// index follower and the commands call it after committing, never a request. Returns
    /// whether it rebuilt.
    pub fn refresh_derived(&self, force: bool) -> Result<bool> {
        self.refresh_derived_from(&self.reader.searcher(), force)
    }

    /// [`Self::refresh_derived`] on the latest commit, before searches see it.
    pub(crate) fn refresh_derived_on_latest_commit(&self) -> Result<bool> {
        let reader: IndexReader = self.index.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        self.refresh_derived_from(&reader.searcher(), false)
    }

    fn refresh_derived_from(&self, searcher: &tantivy::Searcher, force: bool) -> Result<bool> {
        let searcher = searcher.clone();
        let docs = searcher.num_docs();
        let generation = commit_identity(&searcher);
        {
            let built = self.derived.built.lock().expect("derived lock");
            if let Some((at, built_docs, built_generation)) = *built {
                let changed_a_lot = built_docs.abs_diff(docs) * 10 > docs.max(1);
                let stale = built_generation != generation && at.elapsed() >= DERIVED_TTL;
                if !force && !changed_a_lot && !stale {
                    return Ok(false);
                }
            }
        }
        let lexicon = Arc::new(spell::Lexicon::build(&searcher, &self.fields)?);
        let table = Arc::new(self.build_suggestion_table(&searcher)?);
        *self.derived.lexicon.write().expect("lexicon lock") = Some(lexicon);
        *self.derived.suggestions.write().expect("suggestion lock") = table;
        *self.derived.built.lock().expect("derived lock") = Some((Instant::now(), docs, generation));
        Ok(true)
    }

    /// Where the index lives.
    pub fn location(&self) -> &Path {
        &self.location
    }

    pub fn fields(&self) -> &Fields {
        &self.fields
    }

    /// The last change-sequence number included in the latest commit (0 for a new index).
    pub fn applied_seq(&self) -> Result<i64> {
        let metas = self.index.load_metas()?;
        Ok(metas.payload.as_deref().and_then(|p| serde_json::from_str::<Payload>(p).ok()).map_or(0, |p| p.seq))
    }

    /// Documents visible to searches.
    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Makes the latest commit visible now (instead of after the reload delay).
    pub fn reload(&self) -> Result<()> {
        self.reader.reload()?;
        Ok(())
    }

    /// Bytes used on disk by the files of the index.
    pub fn size_on_disk(&self) -> u64 {
        fn walk(p: &Path) -> u64 {
            std::fs::read_dir(p).map_or(0, |entries| {
                entries
                    .flatten()
                    .map(|e| match e.metadata() {
                        Ok(m) if m.is_dir() => walk(&e.path()),
                        Ok(m) => m.len(),
                        Err(_) => 0,
                    })
                    .sum()
            })
        }
        walk(&self.location)
    }
}
