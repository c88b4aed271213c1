//! Getting materials in: the upload pipeline (a stream of bytes per file, then metadata) and
//! the JSON Lines import.
//!
//! **Architecture invariant:** bytes first, rows second. Every file is streamed to object
//! storage and made durable (hashing and sniffing it on the way) before the database
//! transaction that makes it visible commits. A failure at any point before the commit leaves no
//! visible trace; objects written for a failed upload are deleted, and any left by a crash are
//! unreferenced and found by `hoclieu verify`.

mod derive;
mod import;
mod resumable;
mod verify;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use hoclieu_db::{Db, MaterialWrite, NewFile, OnExisting};
use hoclieu_domain::material::display_file_name;
use hoclieu_domain::media::{SNIFF_LEN, sniff};
use hoclieu_domain::{ImportRecord, Material, Vocabularies};
use hoclieu_storage::Storage;
use sha2::{Digest, Sha256};

pub use derive::{WorkerConfig, run_one, run_until_idle, run_worker};
pub use import::{ImportProgress, ImportReport, LineError};
pub use resumable::{Appended, Checksum, NewResumable, RESUME_AFTER};
pub use verify::VerifyReport;

/// The ingest crate's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Invalid(#[from] hoclieu_domain::Error),
    #[error("the upload is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("files of type {media_type} are not accepted")]
    ForbiddenType { media_type: String },
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    #[error("the upload is at byte {expected}, not at the offset given")]
    OffsetMismatch { expected: u64 },
    #[error("the bytes received do not match the checksum sent")]
    ChecksumMismatch,
    #[error("the upload has {offset} of its {length} bytes")]
    UploadIncomplete { offset: u64, length: u64 },
    #[error(transparent)]
    Storage(#[from] hoclieu_storage::Error),
    #[error(transparent)]
    Db(#[from] hoclieu_db::Error),
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How a new material enters the workflow: a draft of its author, or published at once
/// (administrators' imports and uploads). The API decides from the caller.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Origin {
    pub status: hoclieu_domain::Status,
    pub author: Option<uuid::Uuid>,
    /// The API key creating it, if one does (it then owns the material like an author).
    pub author_key: Option<uuid::Uuid>,
    /// Set for keys bound to an organisation: materials they create carry it.
    pub organization: Option<String>,
}

impl Origin {
    pub const PUBLISHED: Origin =
        Origin { status: hoclieu_domain::Status::Published, author: None, author_key: None, organization: None };

    /// What a material created by `principal` starts as.
    pub fn of(principal: &hoclieu_domain::Principal) -> Origin {
        let (author, author_key) = match principal {
            hoclieu_domain::Principal::Person(p) => (Some(p.id), None),
            hoclieu_domain::Principal::Key(k) => (None, Some(k.id)),
            hoclieu_domain::Principal::Anonymous => (None, None),
        };
        let status = if principal.publishes_directly() {
            hoclieu_domain::Status::Published
        } else {
            hoclieu_domain::Status::Draft
        };
        let organization = match principal {
            hoclieu_domain::Principal::Key(k) => k.organization.clone(),
            _ => None,
        };
        Origin { status, author, author_key, organization }
    }
}

/// A file streamed to storage, not yet part of any material.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile(pub NewFile);

/// The upload and import pipelines over one database and one object store.
#[derive(Clone)]
pub struct Ingest {
    db: Db,
    storage: Storage,
    vocab: Arc<Vocabularies>,
}

impl Ingest {
    pub fn new(db: Db, storage: Storage, vocab: Arc<Vocabularies>) -> Self {
        Ingest { db, storage, vocab }
    }

    pub fn vocabularies(&self) -> &Vocabularies {
        &self.vocab
    }

    /// Streams one file to storage while computing its SHA-256 and size and sniffing its type.
    /// Fails with [`Error::TooLarge`] as soon as more than `max_bytes` arrive; the partial
    /// object is removed.
    pub async fn stage_file<S, E>(&self, name: &str, body: S, max_bytes: u64) -> Result<StagedFile>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let mut body = std::pin::pin!(body);
        let mut writer = self.storage.writer();
        let mut hasher = Sha256::new();
        let mut head: Vec<u8> = Vec::new();
        let failure = loop {
            let chunk = match body.next().await {
                None => break None,
                Some(Err(e)) => break Some(Error::Interrupted(e.to_string())),
                Some(Ok(c)) => c,
            };
            if writer.size() + chunk.len() as u64 > max_bytes {
                break Some(Error::TooLarge { limit: max_bytes });
            }
            hasher.update(&chunk);
            if head.len() < SNIFF_LEN {
                let take = chunk.len().min(SNIFF_LEN - head.len());
                head.extend_from_slice(&chunk[..take]);
            }
            if let Err(e) = writer.write(chunk).await {
                break Some(e.into());
            }
        };
        if let Some(e) = failure {
            writer.abort().await;
            return Err(e);
        }
        let stored = writer.finish().await?;
        let sniffed = sniff(&head, name);
        let file = NewFile {
            name: display_file_name(name),
            media_type: sniffed.media_type.clone(),
            sha256: hex::encode(hasher.finalize()),
            size: stored.size,
            object_key: stored.key,
        };
        if sniffed.executable {
            self.storage.delete(&file.object_key).await?;
            return Err(Error::ForbiddenType { media_type: sniffed.media_type });
        }
        Ok(StagedFile(file))
    }

    /// Removes staged files that will not be committed.
    pub async fn discard(&self, files: &[StagedFile]) {
        for f in files {
            if let Err(e) = self.storage.delete(&f.0.object_key).await {
                tracing::warn!(key = %f.0.object_key, error = %e, "could not remove a discarded upload");
            }
        }
    }

    /// Removes staged files after a failed write, except those a committed blob points at: the
    /// failure may have come after the commit (reading the result back), and committed bytes are
    /// never deleted. When the database cannot say, the files stay (`verify` finds orphans).
    async fn discard_uncommitted(&self, files: &[StagedFile]) {
        let keys: Vec<String> = files.iter().map(|f| f.0.object_key.clone()).collect();
        match self.db.objects_in_use(&keys).await {
            Ok(used) => {
                let unused: Vec<StagedFile> =
                    files.iter().filter(|f| !used.contains(&f.0.object_key)).cloned().collect();
                self.discard(&unused).await;
            }
            Err(e) => tracing::warn!(error = %e, "kept staged files: the database could not say which are committed"),
        }
    }

    /// Creates a material from its metadata and staged files. On any failure the staged files
    /// that were not committed are discarded. An external id that already exists is a conflict.
    pub async fn create(&self, record: &ImportRecord, files: Vec<StagedFile>, origin: &Origin) -> Result<Material> {
        self.create_from(record, files, origin, None).await
    }

    /// [`Self::create`], recording the resumable upload the files come from (see
    /// `hoclieu_db::MaterialWrite::from_upload`).
    async fn create_from(
        &self,
        record: &ImportRecord,
        files: Vec<StagedFile>,
        origin: &Origin,
        from_upload: Option<uuid::Uuid>,
    ) -> Result<Material> {
        let result = self.create_inner(record, &files, origin, from_upload).await;
        if result.is_err() {
            self.discard_uncommitted(&files).await;
        }
        result
    }

    async fn create_inner(
        &self,
        record: &ImportRecord,
        files: &[StagedFile],
        origin: &Origin,
        from_upload: Option<uuid::Uuid>,
    ) -> Result<Material> {
        if record.files.is_some() {
            return Err(hoclieu_domain::Error::invalid(
                "files",
                hoclieu_domain::error::codes::UNKNOWN_FIELD,
                "send files as `file` parts of the request, not in the metadata",
            )
            .into());
        }
        if files.len() > hoclieu_domain::material::limits::FILES {
            return Err(hoclieu_domain::Error::invalid(
                "file",
                hoclieu_domain::error::codes::TOO_LONG,
                format!("at most {} files per material", hoclieu_domain::material::limits::FILES),
            )
            .into());
        }
        let mut meta = record.validate(&self.vocab, !files.is_empty())?;
        if let Some(org) = &origin.organization {
            match &meta.organization {
                Some(given) if given != org => {
                    return Err(hoclieu_domain::Error::invalid(
                        "organization",
                        hoclieu_domain::error::codes::INVALID_VALUE,
                        format!("this API key uploads for {org:?} only"),
                    )
                    .into());
                }
                _ => meta.organization = Some(org.clone()),
            }
        }
        let write = MaterialWrite {
            meta,
            files: files.iter().map(|f| f.0.clone()).collect(),
            status: origin.status,
            author: origin.author,
            author_key: origin.author_key,
            from_upload,
        };
        let written = self.db.write_materials(vec![write], OnExisting::Conflict).await?;
        for key in &written.redundant_objects {
            // Identical bytes were already stored: keep the older object only.
            if let Err(e) = self.storage.delete(key).await {
                tracing::warn!(key = %key, error = %e, "could not remove a duplicate object");
            }
        }
        let id = written.outcomes[0].id();
        self.db.material(id).await?.ok_or_else(|| hoclieu_db::Error::NotFound(format!("material {id}")).into())
    }
}

/// What an edit of a material made: a proposed version (published materials change through
/// review) or the edited material itself (drafts and rejected materials change in place).
#[derive(Debug)]
pub enum Edited {
    Proposed(hoclieu_db::Version),
    InPlace(Material),
}

impl Ingest {
    /// Edits a material: its metadata and, when `files` is given, its set of files. `propose`
    /// makes the edit a version to review instead of changing the material in place. On any
    /// failure the staged files are discarded.
    pub async fn edit(
        &self,
        id: uuid::Uuid,
        meta: &hoclieu_domain::MaterialMeta,
        files: Option<Vec<StagedFile>>,
        propose: bool,
        actor: &hoclieu_db::Actor,
    ) -> Result<Edited> {
        let new: Option<Vec<NewFile>> = files.as_ref().map(|f| f.iter().map(|s| s.0.clone()).collect());
        let result = if propose {
            self.db.propose_version(id, meta, new.as_deref(), actor).await.map(|(v, r)| (Edited::Proposed(v), r))
        } else {
            match self.db.update_metadata(id, meta, new.as_deref(), actor).await {
                Ok((Some(m), r)) => Ok((Edited::InPlace(m), r)),
                Ok((None, _)) => Err(hoclieu_db::Error::NotFound(format!("material {id}"))),
                Err(e) => Err(e),
            }
        };
        match result {
            Ok((edited, redundant)) => {
                for key in &redundant {
                    if let Err(e) = self.storage.delete(key).await {
                        tracing::warn!(key = %key, error = %e, "could not remove a duplicate object");
                    }
                }
                Ok(edited)
            }
            Err(e) => {
                if let Some(files) = &files {
                    self.discard_uncommitted(files).await;
                }
                Err(e.into())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn ingest() -> (Ingest, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
        let db = Db::connect(&url, &Default::default()).await.unwrap();
        db.migrate().await.unwrap();
        let storage = Storage::local(&dir.path().join("objects")).unwrap();
        (Ingest::new(db, storage, Arc::new(Vocabularies::embedded())), dir)
    }

    fn chunks(data: &'static [u8]) -> impl Stream<Item = Result<Bytes, std::io::Error>> {
        futures_util::stream::iter(data.chunks(3).map(|c| Ok(Bytes::from_static(c))))
    }

    fn count_objects(dir: &std::path::Path) -> usize {
        fn walk(p: &std::path::Path) -> usize {
            std::fs::read_dir(p)
                .map_or(0, |d| d.flatten().map(|e| if e.path().is_dir() { walk(&e.path()) } else { 1 }).sum())
        }
        walk(&dir.join("objects"))
    }

    #[tokio::test]
    async fn staged_files_are_hashed_sniffed_and_named() {
        let (ingest, _dir) = ingest().await;
        let f = ingest.stage_file("C:\\tmp\\Bài giảng.pdf", chunks(b"%PDF-1.4 hello"), 100).await.unwrap();
        assert_eq!(f.0.name, "Bài giảng.pdf");
        assert_eq!(f.0.media_type, "application/pdf");
        assert_eq!(f.0.size, 14);
        assert_eq!(f.0.sha256, hex::encode(Sha256::digest(b"%PDF-1.4 hello")));
    }

    #[tokio::test]
    async fn too_large_and_executables_leave_nothing_behind() {
        let (ingest, dir) = ingest().await;
        let err = ingest.stage_file("a.pdf", chunks(b"0123456789"), 5).await.unwrap_err();
        assert!(matches!(err, Error::TooLarge { limit: 5 }));
        let mut exe = b"MZ\x90\0\x03\0\0\0\x04\0\0\0\xff\xff\0\0".to_vec();
        exe.resize(256, 0);
        let exe: &'static [u8] = Box::leak(exe.into_boxed_slice());
        let err = ingest.stage_file("bai.pdf", chunks(exe), 1000).await.unwrap_err();
        assert!(matches!(err, Error::ForbiddenType { .. }), "{err}");
        assert_eq!(count_objects(dir.path()), 0);
    }

    #[tokio::test]
    async fn invalid_metadata_discards_the_staged_files() {
        let (ingest, dir) = ingest().await;
        let f = ingest.stage_file("a.pdf", chunks(b"%PDF-1.4 x"), 100).await.unwrap();
        assert_eq!(count_objects(dir.path()), 1);
        let record = ImportRecord::from_json(r#"{"title":"x","subject":"thiên văn","resource_type":"video"}"#).unwrap();
        let err = ingest.create(&record, vec![f], &Origin::PUBLISHED).await.unwrap_err();
        assert!(matches!(&err, Error::Invalid(e) if e.field() == Some("subject")), "{err}");
        assert_eq!(count_objects(dir.path()), 0);
    }

    #[tokio::test]
    async fn identical_uploads_share_one_object() {
        let (ingest, dir) = ingest().await;
        let record =
            ImportRecord::from_json(r#"{"title":"Bài 1","subject":"toan","resource_type":"bai-tap"}"#).unwrap();
        let a = ingest.stage_file("a.pdf", chunks(b"%PDF-1.4 same"), 100).await.unwrap();
        let m1 = ingest.create(&record, vec![a], &Origin::PUBLISHED).await.unwrap();
        let b = ingest.stage_file("b.pdf", chunks(b"%PDF-1.4 same"), 100).await.unwrap();
        let m2 = ingest.create(&record, vec![b], &Origin::PUBLISHED).await.unwrap();
        assert_eq!(m1.files[0].object_key, m2.files[0].object_key);
        assert_eq!(m2.files[0].name, "b.pdf");
        assert_eq!(count_objects(dir.path()), 1);
    }
}
