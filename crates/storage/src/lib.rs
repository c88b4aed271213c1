//! Object storage for hoclieu: one concrete [`Storage`] over `Arc<dyn ObjectStore>`.
//!
//! Bytes go in through an [`ObjectWriter`] (streamed; small objects in one PUT, large ones as a
//! multipart upload with back-pressure) and come out as a stream of chunks, with ranges.
//!
//! **Architecture invariant:** when [`ObjectWriter::finish`] returns, the object is durable:
//! stored by the remote service, or on local disk written and fsynced together with its
//! directory. Callers commit database rows that point at an object only after that.
//!
//! Keys are generated here (`blobs/xy/<uuid>`); original file names live in the database, never in
//! keys, so no backend ever sees user-controlled paths.

use std::ops::Range;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, StreamExt};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, GetResultPayload, ObjectStore, ObjectStoreExt, PutPayload, WriteMultipart};

/// Size of the parts of a multipart upload, and the threshold below which an object is sent in
/// one PUT. S3 requires parts of at least 5 MiB.
pub const PART_SIZE: usize = 8 * 1024 * 1024;
/// Parts of one upload in flight at once (memory per upload ≈ PART_SIZE × (this + 1)).
pub const PARTS_IN_FLIGHT: usize = 2;
/// Chunk size when reading local files: object_store's own local stream reads 8 KiB at a time,
/// which caps downloads at a fraction of what the disk and network can do.
pub const LOCAL_READ_CHUNK: usize = 1024 * 1024;

/// The storage crate's error type.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("object {0} not found")]
    NotFound(String),
    #[error("range {start}..{end} is not satisfiable for an object of {size} bytes")]
    InvalidRange { start: u64, end: u64, size: u64 },
    #[error("object storage: {0}")]
    Backend(#[from] object_store::Error),
    #[error("object storage I/O: {0}")]
    Io(#[from] std::io::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

fn map_not_found(key: &str) -> impl FnOnce(object_store::Error) -> Error + '_ {
    move |e| match e {
        object_store::Error::NotFound { .. } => Error::NotFound(key.to_owned()),
        other => Error::Backend(other),
    }
}

/// Object storage.
#[derive(Clone, Debug)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    /// Set for the local backend: where objects live on disk (for fsync).
    local: Option<Arc<LocalFileSystem>>,
    description: String,
}

/// A byte stream read from storage.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;

/// An object read from storage: its total size and the requested bytes.
pub struct ObjectRead {
    pub size: u64,
    pub range: Range<u64>,
    pub body: ByteStream,
}

impl Storage {
    /// Objects as files under `root` (created if missing).
    pub fn local(root: &FsPath) -> Result<Self> {
        std::fs::create_dir_all(root)?;
        let fs = Arc::new(LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true));
        Ok(Storage { store: fs.clone(), local: Some(fs), description: format!("local:{}", root.display()) })
    }

    /// Objects in memory (tests, throw-away instances).
    pub fn memory() -> Self {
        Storage { store: Arc::new(InMemory::new()), local: None, description: "memory".into() }
    }

    /// Any other object_store backend (S3 and compatible services).
    pub fn from_store(store: Arc<dyn ObjectStore>, description: String) -> Self {
        Storage { store, local: None, description }
    }

    /// Where objects are, for logs (never contains secrets).
    pub fn description(&self) -> &str {
        &self.description
    }

    /// A writer for a new object under a freshly generated key.
    pub fn writer(&self) -> ObjectWriter {
        let id = uuid::Uuid::now_v7().simple().to_string();
        // Shard by the random tail of the id so directories stay small on local disks.
        let key = format!("blobs/{}/{id}", &id[id.len() - 2..]);
        ObjectWriter { storage: self.clone(), key, state: WriterState::Buffering(Vec::new(), 0), size: 0 }
    }

    /// Size of an object.
    pub async fn size(&self, key: &str) -> Result<u64> {
        let meta = self.store.head(&Path::from(key)).await.map_err(map_not_found(key))?;
        Ok(meta.size)
    }

    /// Whether an object exists.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        match self.size(key).await {
            Ok(_) => Ok(true),
            Err(Error::NotFound(_)) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Deletes an object; deleting a missing object is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads an object, or the byte range `range` of it (end exclusive, clamped to the size).
    pub async fn read(&self, key: &str, range: Option<Range<u64>>) -> Result<ObjectRead> {
        let path = Path::from(key);
        if let Some(r) = &range
            && r.start >= r.end
        {
            let size = self.size(key).await?;
            return Err(Error::InvalidRange { start: r.start, end: r.end, size });
        }
        let options = GetOptions { range: range.clone().map(GetRange::Bounded), ..Default::default() };
        let result = self.store.get_opts(&path, options).await.map_err(|e| match e {
            object_store::Error::NotFound { .. } => Error::NotFound(key.to_owned()),
            other => Error::Backend(other),
        })?;
        let size = result.meta.size;
        let range = result.range.clone();
        let body = match result.payload {
            GetResultPayload::File(file, _) => read_file_chunks(file, range.clone()),
            GetResultPayload::Stream(s) => s.map(|r| r.map_err(Error::from)).boxed(),
        };
        Ok(ObjectRead { size, range, body })
    }

    /// Keys of every object under `blobs/` (for consistency checks).
    pub fn list_keys(&self) -> BoxStream<'static, Result<(String, u64)>> {
        self.store
            .list(Some(&Path::from("blobs")))
            .map(|r| r.map(|m| (m.location.to_string(), m.size)).map_err(Error::from))
            .boxed()
    }

    async fn make_durable(&self, key: &str) -> Result<()> {
        let Some(fs) = &self.local else { return Ok(()) };
        let file = fs.path_to_filesystem(&Path::from(key))?;
        tokio::task::spawn_blocking(move || fsync_with_parent(&file)).await.map_err(std::io::Error::other)??;
        Ok(())
    }
}

/// fsync a file and its directory: `LocalFileSystem` renames a staged file into place but never
/// syncs, so without this a power cut after "stored" could lose the bytes or the name.
fn fsync_with_parent(file: &PathBuf) -> std::io::Result<()> {
    std::fs::File::open(file)?.sync_all()?;
    if let Some(dir) = file.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

/// Streams `range` of a local file in [`LOCAL_READ_CHUNK`] pieces from a blocking thread.
fn read_file_chunks(file: std::fs::File, range: Range<u64>) -> ByteStream {
    use std::io::{Read, Seek, SeekFrom};
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes>>(2);
    tokio::task::spawn_blocking(move || {
        let mut file = file;
        if let Err(e) = file.seek(SeekFrom::Start(range.start)) {
            let _ = tx.blocking_send(Err(e.into()));
            return;
        }
        let mut left = range.end - range.start;
        while left > 0 {
            let want = left.min(LOCAL_READ_CHUNK as u64) as usize;
            let mut buf = vec![0u8; want];
            let result = file.read_exact(&mut buf).map(|()| Bytes::from(buf)).map_err(Error::from);
            let failed = result.is_err();
            if tx.blocking_send(result).is_err() || failed {
                return; // the client went away, or the read failed (reported)
            }
            left -= want as u64;
        }
    });
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|item| (item, rx)) }).boxed()
}

enum WriterState {
    /// Small objects are collected and sent in one PUT.
    Buffering(Vec<Bytes>, usize),
    Multipart(WriteMultipart),
}

/// Writes one new object. Call [`finish`](Self::finish) to make it durable, or
/// [`abort`](Self::abort) to discard it.
pub struct ObjectWriter {
    storage: Storage,
    key: String,
    state: WriterState,
    size: u64,
}

/// A stored, durable object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredObject {
    pub key: String,
    pub size: u64,
}

impl ObjectWriter {
    pub fn key(&self) -> &str {
        &self.key
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Appends a chunk. Waits while too many parts are in flight (back-pressure).
    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.size += chunk.len() as u64;
        match &mut self.state {
            WriterState::Buffering(chunks, len) => {
                *len += chunk.len();
                chunks.push(chunk);
                if *len >= PART_SIZE {
                    let upload = self.storage.store.put_multipart(&Path::from(self.key.as_str())).await?;
                    let mut multipart = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
                    for c in std::mem::take(chunks) {
                        multipart.put(c);
                    }
                    self.state = WriterState::Multipart(multipart);
                }
            }
            WriterState::Multipart(multipart) => {
                multipart.wait_for_capacity(PARTS_IN_FLIGHT).await?;
                multipart.put(chunk);
            }
        }
        Ok(())
    }

    /// Completes the object and makes it durable.
    pub async fn finish(self) -> Result<StoredObject> {
        let path = Path::from(self.key.as_str());
        match self.state {
            WriterState::Buffering(chunks, _) => {
                let payload: PutPayload = chunks.into_iter().collect();
                self.storage.store.put(&path, payload).await?;
            }
            WriterState::Multipart(multipart) => {
                multipart.finish().await?;
            }
        }
        self.storage.make_durable(&self.key).await?;
        Ok(StoredObject { key: self.key, size: self.size })
    }

    /// Discards everything written.
    pub async fn abort(self) {
        if let WriterState::Multipart(multipart) = self.state
            && let Err(e) = multipart.abort().await
        {
            tracing::warn!(key = %self.key, error = %e, "could not abort a multipart upload");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn write_all(storage: &Storage, data: &[u8], chunk: usize) -> StoredObject {
        let mut w = storage.writer();
        for c in data.chunks(chunk) {
            w.write(Bytes::copy_from_slice(c)).await.unwrap();
        }
        w.finish().await.unwrap()
    }

    async fn read_all(storage: &Storage, key: &str, range: Option<Range<u64>>) -> (u64, Vec<u8>) {
        let read = storage.read(key, range).await.unwrap();
        let chunks: Vec<Bytes> = read.body.try_collect().await.unwrap();
        (read.size, chunks.concat())
    }

    /// The same checks run against every backend.
    async fn conformance(storage: Storage) {
        // Empty, small and multipart-sized objects round-trip exactly.
        let big: Vec<u8> = (0..(PART_SIZE * 2 + 12345)).map(|i| (i * 7 % 251) as u8).collect();
        for data in [Vec::new(), b"xin chao".to_vec(), big.clone()] {
            let stored = write_all(&storage, &data, 1 << 20).await;
            assert_eq!(stored.size, data.len() as u64);
            assert_eq!(storage.size(&stored.key).await.unwrap(), data.len() as u64);
            if !data.is_empty() {
                assert_eq!(read_all(&storage, &stored.key, None).await, (data.len() as u64, data.clone()));
            }
        }
        // Ranges, including one running past the end (clamped).
        let stored = write_all(&storage, &big, 3 << 20).await;
        let (_, part) = read_all(&storage, &stored.key, Some(100..5_000_000)).await;
        assert_eq!(part, &big[100..5_000_000]);
        let n = big.len() as u64;
        let (_, tail) = read_all(&storage, &stored.key, Some(n - 10..n + 100)).await;
        assert_eq!(tail, &big[big.len() - 10..]);
        assert!(matches!(storage.read(&stored.key, Some(5..5)).await, Err(Error::InvalidRange { .. })));
        // Listing sees it; deleting removes it; deleting twice is fine.
        let keys: Vec<(String, u64)> = storage.list_keys().try_collect().await.unwrap();
        assert!(keys.contains(&(stored.key.clone(), n)));
        storage.delete(&stored.key).await.unwrap();
        storage.delete(&stored.key).await.unwrap();
        assert!(!storage.exists(&stored.key).await.unwrap());
        assert!(matches!(storage.read(&stored.key, None).await, Err(Error::NotFound(_))));
        // An aborted writer leaves nothing behind.
        let mut w = storage.writer();
        w.write(Bytes::from(vec![1u8; PART_SIZE + 1])).await.unwrap();
        let key = w.key().to_owned();
        w.abort().await;
        assert!(!storage.exists(&key).await.unwrap());
    }

    #[tokio::test]
    async fn memory_backend_conforms() {
        conformance(Storage::memory()).await;
    }

    #[tokio::test]
    async fn local_backend_conforms() {
        let dir = tempfile::tempdir().unwrap();
        conformance(Storage::local(dir.path()).unwrap()).await;
    }

    #[tokio::test]
    async fn local_keys_stay_inside_the_root() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path()).unwrap();
        let stored = write_all(&storage, b"abc", 1).await;
        assert!(stored.key.starts_with("blobs/"));
        assert!(dir.path().join(&stored.key).is_file());
    }
}
