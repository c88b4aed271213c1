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
use std::time::Duration;

use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::local::LocalFileSystem;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::signer::{SignedUrlOptions, Signer};
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
    /// Set for the local backend: where objects live on disk (for fsync), and its root.
    local: Option<Arc<LocalFileSystem>>,
    root: Option<PathBuf>,
    /// Set for S3: signs short-lived download URLs.
    s3: Option<Arc<AmazonS3>>,
    description: String,
}

/// Where an S3-compatible bucket is and how to reach it.
#[derive(Clone)]
pub struct S3Config {
    /// The service's base URL ("http://127.0.0.1:9000", "https://s3.example.vn"); empty for AWS.
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    /// `https://bucket.host/key` instead of `https://host/bucket/key`.
    pub virtual_hosted_style: bool,
    /// Allow plain HTTP (a service on a private network).
    pub allow_http: bool,
}

impl std::fmt::Debug for S3Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Config")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("bucket", &self.bucket)
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"****")
            .finish()
    }
}

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub key: String,
    pub size: u64,
    pub modified: chrono::DateTime<chrono::Utc>,
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
        Ok(Storage {
            store: fs.clone(),
            local: Some(fs),
            root: Some(root.canonicalize()?),
            s3: None,
            description: format!("local:{}", root.display()),
        })
    }

    /// Objects in memory (tests, throw-away instances).
    pub fn memory() -> Self {
        Storage { store: Arc::new(InMemory::new()), local: None, root: None, s3: None, description: "memory".into() }
    }

    /// An S3-compatible bucket (AWS, MinIO, Ceph…).
    pub fn s3(config: &S3Config) -> Result<Self> {
        let mut builder = AmazonS3Builder::new()
            .with_region(&config.region)
            .with_bucket_name(&config.bucket)
            .with_access_key_id(&config.access_key_id)
            .with_secret_access_key(&config.secret_access_key)
            .with_virtual_hosted_style_request(config.virtual_hosted_style)
            .with_allow_http(config.allow_http);
        if !config.endpoint.is_empty() {
            builder = builder.with_endpoint(&config.endpoint);
        }
        let s3 = Arc::new(builder.build()?);
        let description = format!("s3:{}/{}", config.endpoint.trim_end_matches('/'), config.bucket);
        Ok(Storage { store: s3.clone(), local: None, root: None, s3: Some(s3), description })
    }

    /// A short-lived URL that downloads an object straight from the object store, with the file
    /// name and type the browser should use; `None` for backends that cannot sign URLs.
    pub async fn presigned_download(
        &self,
        key: &str,
        ttl: Duration,
        file_name_header: &str,
        media_type: &str,
    ) -> Result<Option<String>> {
        let Some(s3) = &self.s3 else { return Ok(None) };
        let options = SignedUrlOptions::new()
            .with_query([("response-content-disposition", file_name_header), ("response-content-type", media_type)]);
        let url = s3.signed_url_opts(object_store::signer::Method::GET, &Path::from(key), ttl, &options).await?;
        Ok(Some(url.to_string()))
    }

    /// Whether downloads can be redirected to presigned URLs.
    pub fn can_presign(&self) -> bool {
        self.s3.is_some()
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

    /// A writer for one part of a resumable upload (`uploads/<upload>/<offset>`).
    pub fn upload_part_writer(&self, upload: uuid::Uuid, offset: u64) -> ObjectWriter {
        // A fresh suffix: a retried part never overwrites one a concurrent request may commit.
        let key = format!("uploads/{}/{offset:020}-{}", upload.simple(), uuid::Uuid::new_v4().simple());
        ObjectWriter { storage: self.clone(), key, state: WriterState::Buffering(Vec::new(), 0), size: 0 }
    }

    /// The key of an object derived from a blob (a preview image), by the blob's SHA-256.
    pub fn derived_key(sha256: &str, name: &str) -> String {
        format!("derived/{}/{sha256}/{name}", &sha256[..2.min(sha256.len())])
    }

    /// Stores a small object under `key` (replacing any), durably.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<()> {
        self.store.put(&Path::from(key), bytes.into()).await?;
        self.make_durable(key).await
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

    /// Every object under `prefix` (`blobs` or `uploads`), for consistency checks.
    pub fn list_keys(&self, prefix: &str) -> BoxStream<'static, Result<Listed>> {
        self.store
            .list(Some(&Path::from(prefix)))
            .map(|r| {
                r.map(|m| Listed { key: m.location.to_string(), size: m.size, modified: m.last_modified })
                    .map_err(Error::from)
            })
            .boxed()
    }

    /// Pieces of objects the local backend was still writing when its process died (files named
    /// `<key>#<n>`, which listings do not show), as keys relative to the root. Always empty for
    /// other backends: an S3 bucket drops incomplete multipart uploads by a lifecycle rule (see
    /// docs/DEPLOYMENT.md).
    pub async fn unfinished_writes(&self) -> Result<Vec<Listed>> {
        let Some(root) = self.root.clone() else { return Ok(Vec::new()) };
        let walk = move || -> std::io::Result<Vec<Listed>> {
            let mut found = Vec::new();
            let mut dirs = vec![root.clone()];
            while let Some(dir) = dirs.pop() {
                for entry in std::fs::read_dir(&dir)? {
                    let entry = entry?;
                    let meta = entry.metadata()?;
                    if meta.is_dir() {
                        dirs.push(entry.path());
                    } else if entry.file_name().to_string_lossy().contains('#') {
                        let key = entry
                            .path()
                            .strip_prefix(&root)
                            .map_err(std::io::Error::other)?
                            .to_string_lossy()
                            .replace('\\', "/");
                        let modified = meta.modified().map(chrono::DateTime::<chrono::Utc>::from).unwrap_or_default();
                        found.push(Listed { key, size: meta.len(), modified });
                    }
                }
            }
            found.sort_by(|a, b| a.key.cmp(&b.key));
            Ok(found)
        };
        Ok(tokio::task::spawn_blocking(walk).await.map_err(std::io::Error::other)??)
    }

    /// Removes one piece found by [`Self::unfinished_writes`].
    pub async fn remove_unfinished_write(&self, key: &str) -> Result<()> {
        let Some(root) = &self.root else { return Ok(()) };
        if !key.contains('#') || key.split('/').any(|p| p == ".." || p.is_empty()) {
            return Err(Error::NotFound(key.to_owned()));
        }
        match tokio::fs::remove_file(root.join(key)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
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
        let keys: Vec<Listed> = storage.list_keys("blobs").try_collect().await.unwrap();
        assert!(keys.iter().any(|l| l.key == stored.key && l.size == n));
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
    async fn unfinished_local_writes_are_found_and_removed() {
        let dir = tempfile::tempdir().unwrap();
        let storage = Storage::local(dir.path()).unwrap();
        let stored = write_all(&storage, b"whole", 2).await;
        // What a multipart write cut short by kill -9 leaves behind.
        let piece = dir.path().join(format!("{}#1", stored.key));
        std::fs::write(&piece, vec![7u8; 1000]).unwrap();
        let listed: Vec<Listed> = storage.list_keys("blobs").try_collect().await.unwrap();
        assert_eq!(listed.len(), 1, "listings do not show the piece");
        let found = storage.unfinished_writes().await.unwrap();
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].key, format!("{}#1", stored.key));
        assert_eq!(found[0].size, 1000);
        assert!(storage.remove_unfinished_write("../x#1").await.is_err());
        storage.remove_unfinished_write(&found[0].key).await.unwrap();
        assert!(!piece.exists() && storage.exists(&stored.key).await.unwrap());
        assert!(Storage::memory().unfinished_writes().await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn s3_backend_conforms() {
        let server = hoclieu_testkit::S3Server::start();
        let storage = Storage::s3(&s3_config(&server)).unwrap();
        conformance(storage).await;
    }

    fn s3_config(server: &hoclieu_testkit::S3Server) -> S3Config {
        S3Config {
            endpoint: server.endpoint.clone(),
            region: "us-east-1".into(),
            bucket: server.bucket.clone(),
            access_key_id: server.access_key.clone(),
            secret_access_key: server.secret_key.clone(),
            virtual_hosted_style: false,
            allow_http: true,
        }
    }

    #[tokio::test]
    async fn presigned_downloads_work_and_tampering_is_refused() {
        let server = hoclieu_testkit::S3Server::start();
        let storage = Storage::s3(&s3_config(&server)).unwrap();
        assert!(storage.can_presign() && !Storage::memory().can_presign());
        let stored = write_all(&storage, b"%PDF-1.4 hello", 4).await;
        let disposition = "attachment; filename*=UTF-8''B%C3%A0i.pdf";
        let url = storage
            .presigned_download(&stored.key, Duration::from_secs(60), disposition, "application/pdf")
            .await
            .unwrap()
            .unwrap();
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let get = |u: &str, range: Option<&str>| {
            let mut r = agent.get(u);
            if let Some(range) = range {
                r = r.header("Range", range);
            }
            let mut resp = r.call().unwrap();
            let status = resp.status().as_u16();
            (status, resp.body_mut().read_to_vec().unwrap())
        };
        assert_eq!(get(&url, None), (200, b"%PDF-1.4 hello".to_vec()));
        assert_eq!(get(&url, Some("bytes=0-3")), (206, b"%PDF".to_vec()), "ranges are served by S3");
        // Any change to what was signed is refused.
        let tampered = url.replace("response-content-type=application%2Fpdf", "response-content-type=text%2Fhtml");
        assert_ne!(tampered, url);
        assert_eq!(get(&tampered, None).0, 403);
        let other_key = url.replace(&stored.key, &format!("{}x", stored.key));
        assert_eq!(get(&other_key, None).0, 403);
        assert!(Storage::memory().presigned_download("k", Duration::from_secs(1), "", "").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn s3_refuses_wrong_credentials() {
        let server = hoclieu_testkit::S3Server::start();
        let mut config = s3_config(&server);
        config.secret_access_key = "not-the-secret".into();
        let storage = Storage::s3(&config).unwrap();
        let mut w = storage.writer();
        w.write(Bytes::from_static(b"x")).await.unwrap();
        assert!(matches!(w.finish().await, Err(Error::Backend(_))));
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
