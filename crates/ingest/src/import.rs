//! `hoclieu import FILE.jsonl`: one material per line, files relative to the JSONL file.
//! Good lines import even when others fail; each failure is reported with its line number.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use hoclieu_db::{MaterialWrite, NewFile, OnExisting, Outcome};
use hoclieu_domain::ImportRecord;
use hoclieu_domain::error::codes;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};
use tokio_util::io::ReaderStream;

use crate::{Error, Ingest, Result};

/// Lines written to the database per transaction.
const BATCH: usize = 1_000;
/// Read size when hashing and copying files.
const FILE_CHUNK: usize = 1 << 20;

/// Where an import is, for progress bars.
#[derive(Debug, Clone, Default)]
pub struct ImportProgress {
    pub bytes: u64,
    pub total_bytes: u64,
    pub lines: u64,
    pub failed: u64,
}

/// A line that did not import.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u64,
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "line {}: {field}: {}", self.line, self.message),
            None => write!(f, "line {}: {}", self.line, self.message),
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, Default)]
pub struct ImportReport {
    /// Non-blank lines read.
    pub lines: u64,
    pub created: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub files_stored: u64,
    pub errors: Vec<LineError>,
}

fn line_error(line: u64, e: &Error) -> LineError {
    match e {
        Error::Invalid(hoclieu_domain::Error::Invalid { field, message, .. }) => {
            LineError { line, field: (!field.is_empty()).then(|| field.clone()), message: message.clone() }
        }
        other => LineError { line, field: None, message: other.to_string() },
    }
}

struct Batch {
    writes: Vec<MaterialWrite>,
}

impl Ingest {
    /// Imports a JSON Lines file. Returns an error only when the import as a whole cannot go on
    /// (unreadable file, database down); bad lines are listed in the report.
    pub async fn import_jsonl(&self, path: &Path, mut progress: impl FnMut(&ImportProgress)) -> Result<ImportReport> {
        let io = |source| Error::Io { path: path.display().to_string(), source };
        let file = tokio::fs::File::open(path).await.map_err(io)?;
        let total_bytes = file.metadata().await.map_err(io)?.len();
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let mut reader = BufReader::with_capacity(1 << 20, file);
        let mut report = ImportReport::default();
        let mut state = ImportProgress { total_bytes, ..Default::default() };
        let mut batch = Batch { writes: Vec::with_capacity(BATCH) };
        let mut files: HashMap<PathBuf, NewFile> = HashMap::new();
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        loop {
            buf.clear();
            let n = reader.read_until(b'\n', &mut buf).await.map_err(io)?;
            if n == 0 {
                break;
            }
            line_no += 1;
            state.bytes += n as u64;
            let text = match std::str::from_utf8(&buf) {
                Ok(t) => t.trim_start_matches('\u{feff}').trim(),
                Err(_) => {
                    report.lines += 1;
                    report.errors.push(LineError {
                        line: line_no,
                        field: None,
                        message: "the line is not valid UTF-8".into(),
                    });
                    continue;
                }
            };
            if text.is_empty() {
                continue;
            }
            report.lines += 1;
            match self.prepare_line(text, &base, &mut files, &mut report).await {
                Ok(write) => batch.writes.push(write),
                Err(e @ (Error::Db(_) | Error::Storage(_))) => return Err(e),
                Err(e) => report.errors.push(line_error(line_no, &e)),
            }
            if batch.writes.len() >= BATCH {
                self.flush(&mut batch, &mut report).await?;
            }
            state.lines = report.lines;
            state.failed = report.errors.len() as u64;
            if line_no.is_multiple_of(256) {
                progress(&state);
            }
        }
        self.flush(&mut batch, &mut report).await?;
        state.lines = report.lines;
        state.failed = report.errors.len() as u64;
        progress(&state);
        Ok(report)
    }

    async fn flush(&self, batch: &mut Batch, report: &mut ImportReport) -> Result<()> {
        if batch.writes.is_empty() {
            return Ok(());
        }
        let written = self.db.write_materials(std::mem::take(&mut batch.writes), OnExisting::Update).await?;
        for o in &written.outcomes {
            match o {
                Outcome::Created(_) => report.created += 1,
                Outcome::Updated(_) => report.updated += 1,
                Outcome::Unchanged(_) => report.unchanged += 1,
            }
        }
        for key in &written.redundant_objects {
            self.storage.delete(key).await?;
        }
        Ok(())
    }

    async fn prepare_line(
        &self,
        text: &str,
        base: &Path,
        files: &mut HashMap<PathBuf, NewFile>,
        report: &mut ImportReport,
    ) -> Result<MaterialWrite> {
        let record = ImportRecord::from_json(text)?;
        let entries = record.files.clone().unwrap_or_default();
        if entries.len() > hoclieu_domain::material::limits::FILES {
            return Err(hoclieu_domain::Error::invalid("files", codes::TOO_LONG, "too many files").into());
        }
        let meta = record.validate(&self.vocab, !entries.is_empty())?;
        let mut new_files = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let field = format!("files[{i}].path");
            if entry.path.trim().is_empty() {
                return Err(hoclieu_domain::Error::invalid(field, codes::MISSING_FIELD, "path is empty").into());
            }
            let path = base.join(&entry.path);
            let stored = match files.get(&path) {
                Some(f) => f.clone(),
                None => {
                    let f = self.store_path(&path).await.map_err(|e| match e {
                        Error::Io { source, .. } => hoclieu_domain::Error::invalid(
                            &field,
                            codes::INVALID_VALUE,
                            format!("{}: {source}", entry.path),
                        )
                        .into(),
                        other => other,
                    })?;
                    report.files_stored += 1;
                    files.insert(path.clone(), f.clone());
                    f
                }
            };
            let name = entry
                .name
                .as_deref()
                .map(hoclieu_domain::material::display_file_name)
                .unwrap_or_else(|| stored.name.clone());
            new_files.push(NewFile { name, ..stored });
        }
        Ok(MaterialWrite::published(meta, new_files))
    }

    /// Stores a local file unless identical bytes are already stored.
    async fn store_path(&self, path: &Path) -> Result<NewFile> {
        let io = |source| Error::Io { path: path.display().to_string(), source };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        // First pass: hash, so that bytes already stored are not copied again.
        let mut file = tokio::fs::File::open(path).await.map_err(io)?;
        if !file.metadata().await.map_err(io)?.is_file() {
            return Err(io(std::io::Error::other("not a regular file")));
        }
        let mut hasher = Sha256::new();
        let mut head = Vec::new();
        let mut size = 0u64;
        let mut chunk = vec![0u8; FILE_CHUNK];
        loop {
            let n = file.read(&mut chunk).await.map_err(io)?;
            if n == 0 {
                break;
            }
            if head.len() < hoclieu_domain::media::SNIFF_LEN {
                let take = n.min(hoclieu_domain::media::SNIFF_LEN - head.len());
                head.extend_from_slice(&chunk[..take]);
            }
            hasher.update(&chunk[..n]);
            size += n as u64;
        }
        let sha256 = hex::encode(hasher.finalize());
        if let Some(object_key) = self.db.blob_key(&sha256).await? {
            let sniffed = hoclieu_domain::media::sniff(&head, &name);
            if sniffed.executable {
                return Err(Error::ForbiddenType { media_type: sniffed.media_type });
            }
            let name = hoclieu_domain::material::display_file_name(&name);
            return Ok(NewFile { name, media_type: sniffed.media_type, sha256, size, object_key });
        }
        let file = tokio::fs::File::open(path).await.map_err(io)?;
        let staged = self.stage_file(&name, ReaderStream::with_capacity(file, FILE_CHUNK), u64::MAX).await?;
        if staged.0.sha256 != sha256 {
            self.discard(std::slice::from_ref(&staged)).await;
            return Err(io(std::io::Error::other("the file changed while it was being imported")));
        }
        Ok(staged.0)
    }
}
