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
mod collector;
mod indexer;
pub mod query;
mod schema;
mod search;
mod spell;
mod suggest;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hoclieu_domain::{Synonyms, Vocabularies};

use serde::{Deserialize, Serialize};
use tantivy::directory::MmapDirectory;
use tantivy::{Index, IndexReader, ReloadPolicy};

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

/// A search index: open for reading; writes go through an [`Indexer`].
#[derive(Clone)]
pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    location: PathBuf,
    lang: Arc<Language>,
    /// Words of the index for spelling correction, rebuilt when stale (see `lexicon`).
    lexicon: Arc<Mutex<Option<CachedLexicon>>>,
}

/// A lexicon, when it was built and from how many documents.
type CachedLexicon = (Instant, u64, Arc<spell::Lexicon>);

/// How long a lexicon serves before it is rebuilt (it is needed only by queries that found
/// little, and new words matter little within a minute; a change of more than a tenth of the
/// documents rebuilds it at once).
const LEXICON_TTL: Duration = Duration::from_secs(60);

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
        let index = Index::open_or_create(MmapDirectory::open(&location)?, fields.schema.clone())?;
        Self::finish_open(index, fields, location, lang)
    }

    /// An index in memory (tests, evaluation).
    pub fn in_memory(lang: Arc<Language>) -> Result<SearchIndex> {
        let fields = Fields::new();
        let index = Index::create_in_ram(fields.schema.clone());
        Self::finish_open(index, fields, PathBuf::from("(memory)"), lang)
    }

    fn finish_open(index: Index, fields: Fields, location: PathBuf, lang: Arc<Language>) -> Result<SearchIndex> {
        analyzer::register(&index);
        let reader = index.reader_builder().reload_policy(ReloadPolicy::OnCommitWithDelay).try_into()?;
        Ok(SearchIndex { index, reader, fields, location, lang, lexicon: Arc::default() })
    }

    pub fn language(&self) -> &Language {
        &self.lang
    }

    /// The lexicon of the current commit, rebuilt when older than a minute.
    fn lexicon(&self, searcher: &tantivy::Searcher) -> Result<Arc<spell::Lexicon>> {
        let mut cached = self.lexicon.lock().expect("lexicon lock");
        let docs = searcher.num_docs();
        if let Some((built, built_docs, lexicon)) = cached.as_ref() {
            // Fresh enough, unless the index grew or shrank a lot since (a first import).
            let changed_a_lot = built_docs.abs_diff(docs) * 10 > docs.max(1);
            if built.elapsed() < LEXICON_TTL && !changed_a_lot {
                return Ok(lexicon.clone());
            }
        }
        let lexicon = Arc::new(spell::Lexicon::build(searcher, &self.fields)?);
        *cached = Some((Instant::now(), docs, lexicon.clone()));
        Ok(lexicon)
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
