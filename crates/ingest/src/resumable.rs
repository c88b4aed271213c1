//! Resumable uploads (the server side of tus 1.0): each request's bytes become a durable part in
//! object storage and a row in the database, so an upload survives dropped connections, server
//! restarts and replicas; when the last byte arrives the parts are streamed, once, into the
//! material's file (hashed and sniffed on the way) and removed.
//!
//! A client that has sent the last byte has been told the upload is complete, so finishing must
//! not depend on that request surviving: the material records its upload in the transaction that
//! makes it (at most one material per upload), and uploads whose finishing was interrupted are
//! finished again by [`Ingest::resume_interrupted_uploads`] (at start and periodically).

use std::time::Duration;

use bytes::Bytes;
use chrono::Utc;
use futures_util::{Stream, StreamExt, TryStreamExt};
use hoclieu_db::{NewUpload, Upload, UploadPart};
use hoclieu_domain::{ImportRecord, Material};
use sha1::Sha1;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{Error, Ingest, Origin, Result, StagedFile};

/// A checksum the client sent for the bytes of one request (tus checksum extension).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checksum {
    Sha1(Vec<u8>),
    Sha256(Vec<u8>),
}

/// A new upload, as announced by the client.
#[derive(Debug, Clone)]
pub struct NewResumable {
    pub length: u64,
    /// The Upload-Metadata header as received.
    pub metadata_header: String,
    pub file_name: Option<String>,
    /// The material's metadata, when given at creation: the material is made when the last byte
    /// arrives.
    pub record: Option<ImportRecord>,
    pub api_key_id: Option<Uuid>,
    /// How the material enters the workflow (from the caller who starts the upload).
    pub origin: Origin,
}

/// The state after an append.
#[derive(Debug)]
pub struct Appended {
    pub upload: Upload,
    /// The material made from the completed upload.
    pub material: Option<Material>,
    /// Why no material could be made from the completed upload (its bytes are kept).
    pub error: Option<Error>,
}

enum Hasher {
    None,
    Sha1(Sha1),
    Sha256(Sha256),
}

impl Ingest {
    /// Starts an upload. Refuses one larger than `max_bytes`, or whose metadata is invalid,
    /// before any byte is sent.
    pub async fn start_upload(&self, new: NewResumable, max_bytes: u64, ttl: Duration) -> Result<Upload> {
        if new.length > max_bytes {
            return Err(Error::TooLarge { limit: max_bytes });
        }
        let record = match &new.record {
            Some(r) => {
                r.validate(&self.vocab, true)?;
                Some(serde_json::to_string(r).expect("a record serialises"))
            }
            None => None,
        };
        let upload = self
            .db
            .create_upload(NewUpload {
                length: new.length,
                metadata_header: new.metadata_header,
                file_name: new.file_name,
                record,
                api_key_id: new.api_key_id,
                origin: Some(serde_json::to_string(&new.origin).expect("an origin serialises")),
                expires_at: expiry(ttl),
            })
            .await?;
        Ok(upload)
    }

    /// An upload that has not expired.
    pub async fn upload(&self, id: Uuid) -> Result<Upload> {
        match self.db.upload(id).await? {
            Some(u) if u.expires_at > Utc::now() => Ok(u),
            _ => Err(hoclieu_db::Error::NotFound(format!("upload {id}")).into()),
        }
    }

    /// Appends the bytes of `body` at `offset`. Bytes received before a dropped connection are
    /// kept (unless a checksum was sent: then the part must be whole). Completing the upload
    /// makes the material when its metadata is known.
    pub async fn append<S, E>(
        &self,
        id: Uuid,
        offset: u64,
        body: S,
        checksum: Option<Checksum>,
        ttl: Duration,
        origin: &Origin,
    ) -> Result<Appended>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: std::fmt::Display,
    {
        let upload = self.upload(id).await?;
        if offset != upload.offset {
            return Err(Error::OffsetMismatch { expected: upload.offset });
        }
        let room = upload.length - upload.offset;
        let mut hasher = match &checksum {
            None => Hasher::None,
            Some(Checksum::Sha1(_)) => Hasher::Sha1(Sha1::new()),
            Some(Checksum::Sha256(_)) => Hasher::Sha256(Sha256::new()),
        };
        let mut writer = self.storage.upload_part_writer(id, offset);
        let mut body = std::pin::pin!(body);
        let mut interrupted = None;
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    interrupted = Some(e.to_string());
                    break;
                }
            };
            if writer.size() + chunk.len() as u64 > room {
                writer.abort().await;
                return Err(Error::TooLarge { limit: upload.length });
            }
            match &mut hasher {
                Hasher::None => {}
                Hasher::Sha1(h) => h.update(&chunk),
                Hasher::Sha256(h) => h.update(&chunk),
            }
            if let Err(e) = writer.write(chunk).await {
                writer.abort().await;
                return Err(e.into());
            }
        }
        let received = writer.size();
        if interrupted.is_some() && checksum.is_some() || received == 0 {
            // A checksummed part must arrive whole; an empty one changes nothing.
            writer.abort().await;
            if let Some(e) = interrupted {
                return Err(Error::Interrupted(e));
            }
            return Ok(Appended { upload, material: None, error: None });
        }
        let digest_ok = match (&hasher, &checksum) {
            (Hasher::Sha1(h), Some(Checksum::Sha1(want))) => h.clone().finalize().as_slice() == want.as_slice(),
            (Hasher::Sha256(h), Some(Checksum::Sha256(want))) => h.clone().finalize().as_slice() == want.as_slice(),
            _ => true,
        };
        if !digest_ok {
            writer.abort().await;
            return Err(Error::ChecksumMismatch);
        }
        let stored = writer.finish().await?;
        let part = UploadPart { offset, size: stored.size, key: stored.key.clone() };
        let recorded = match self.db.append_upload_part(id, offset, part, expiry(ttl)).await {
            Ok(r) => r,
            Err(e) => {
                // Not recorded (unless the failure came after the commit): the part is nobody's,
                // and the client sends these bytes again. When the database cannot say, the part
                // stays for `verify` to find.
                if let Ok(now) = self.db.upload(id).await
                    && !now.is_some_and(|u| u.parts.iter().any(|p| p.key == stored.key))
                {
                    let _ = self.storage.delete(&stored.key).await;
                }
                return Err(e.into());
            }
        };
        let Some(upload) = recorded else {
            // Another request appended at this offset first.
            self.storage.delete(&stored.key).await?;
            let now = self.upload(id).await?;
            return Err(Error::OffsetMismatch { expected: now.offset });
        };
        if !upload.is_complete() {
            return Ok(Appended { upload, material: None, error: None });
        }
        let Some(record) = upload.record.as_deref().map(ImportRecord::from_json).transpose()? else {
            return Ok(Appended { upload, material: None, error: None });
        };
        let origin = stored_origin(&upload).unwrap_or_else(|| origin.clone());
        match self.make_material(&upload, &record, &origin).await {
            Ok(material) => Ok(Appended { upload: self.upload(id).await?, material: Some(material), error: None }),
            Err(e) => Ok(Appended { upload: self.upload(id).await?, material: None, error: Some(e) }),
        }
    }

    /// Makes the material of a completed upload with `record` as its metadata (metadata sent
    /// after the bytes). An upload makes one material: a second call is a conflict.
    pub async fn complete_upload(&self, id: Uuid, record: &ImportRecord, origin: &Origin) -> Result<Material> {
        let upload = self.upload(id).await?;
        if !upload.is_complete() {
            return Err(Error::UploadIncomplete { offset: upload.offset, length: upload.length });
        }
        if let Some(m) = upload.material_id {
            return Err(hoclieu_db::Error::Conflict(format!("this upload already made material {m}")).into());
        }
        self.make_material(&upload, record, origin).await
    }

    /// Finishes uploads whose last byte was stored but whose material was never made (the
    /// server stopped while finishing, or storage or the database failed then). Returns how many
    /// became materials. Uploads touched within `idle` (the server uses [`RESUME_AFTER`]) are
    /// left to the request that may still be finishing them.
    pub async fn resume_interrupted_uploads(&self, idle: Duration) -> Result<u64> {
        let idle_since = Utc::now() - chrono::Duration::from_std(idle).unwrap_or(chrono::Duration::minutes(1));
        let mut made = 0;
        for upload in self.db.interrupted_uploads(idle_since, 100).await? {
            let (Some(record), Some(origin)) = (upload.record.as_deref(), stored_origin(&upload)) else { continue };
            let record = match ImportRecord::from_json(record) {
                Ok(r) => r,
                Err(e) => {
                    self.db.finish_upload(upload.id, None, Some(e.to_string())).await?;
                    continue;
                }
            };
            // Other servers see that someone is at it.
            self.db.touch_upload(upload.id).await?;
            match self.make_material(&upload, &record, &origin).await {
                Ok(m) => {
                    tracing::info!(upload = %upload.id, material = %m.id, "finished an interrupted upload");
                    made += 1;
                }
                Err(e) => tracing::warn!(upload = %upload.id, error = %e, "cannot finish an interrupted upload yet"),
            }
        }
        Ok(made)
    }

    /// Streams a complete upload's parts into a new file and commits its material; the upload
    /// records the material in the same transaction. Failures that would fail again (invalid
    /// metadata, a forbidden type, an external id taken) are recorded on the upload and end it;
    /// others (storage, database) leave it to be resumed.
    async fn make_material(&self, upload: &Upload, record: &ImportRecord, origin: &Origin) -> Result<Material> {
        let id = upload.id;
        let result = self.stage_and_create(upload, record, origin).await;
        match result {
            Ok(material) => {
                self.remove_parts(upload).await;
                self.db.finish_upload(id, Some(material.id), None).await?;
                Ok(material)
            }
            Err(Error::Db(hoclieu_db::Error::Conflict(message))) => {
                // Another server finished it first: that material is the upload's.
                if let Some(made) = self.db.upload(id).await?.and_then(|u| u.material_id) {
                    return self
                        .db
                        .material(made)
                        .await?
                        .ok_or_else(|| hoclieu_db::Error::NotFound(format!("material {made} of upload {id}")).into());
                }
                self.db.finish_upload(id, None, Some(message.clone())).await?;
                Err(hoclieu_db::Error::Conflict(message).into())
            }
            Err(e @ (Error::Invalid(_) | Error::ForbiddenType { .. } | Error::TooLarge { .. })) => {
                self.db.finish_upload(id, None, Some(e.to_string())).await?;
                Err(e)
            }
            Err(e) => Err(e),
        }
    }

    async fn stage_and_create(&self, upload: &Upload, record: &ImportRecord, origin: &Origin) -> Result<Material> {
        // Validate before copying a possibly large file.
        record.validate(&self.vocab, true)?;
        let storage = self.storage.clone();
        let keys: Vec<String> = upload.parts.iter().map(|p| p.key.clone()).collect();
        // Boxed: the stream's type names no closure, so the future stays `Send + 'static` for
        // the task that resumes uploads.
        let parts = futures_util::stream::iter(keys)
            .then(move |key| {
                let storage = storage.clone();
                async move { storage.read(&key, None).await.map(|r| r.body) }
            })
            .try_flatten()
            .boxed();
        let name = upload.file_name.clone().unwrap_or_else(|| "tep".into());
        let staged: StagedFile = self.stage_file(&name, parts, u64::MAX).await?;
        self.create_from(record, vec![staged], origin, Some(upload.id)).await
    }

    /// Abandons an upload and its parts (tus termination).
    pub async fn cancel_upload(&self, id: Uuid) -> Result<()> {
        let upload = self.upload(id).await?;
        self.db.delete_upload(id).await?;
        self.remove_parts(&upload).await;
        Ok(())
    }

    /// Removes expired uploads and their parts; returns how many.
    pub async fn remove_expired_uploads(&self) -> Result<u64> {
        let mut removed = 0;
        loop {
            let expired = self.db.expired_uploads(Utc::now(), 100).await?;
            if expired.is_empty() {
                return Ok(removed);
            }
            for u in expired {
                self.remove_parts(&u).await;
                self.db.delete_upload(u.id).await?;
                removed += 1;
            }
        }
    }

    async fn remove_parts(&self, upload: &Upload) {
        for p in &upload.parts {
            if let Err(e) = self.storage.delete(&p.key).await {
                tracing::warn!(key = %p.key, error = %e, "could not remove an upload part");
            }
        }
    }
}

/// How long a complete upload may sit without its material before another finisher takes it
/// over (the request that completed it may still be copying a large file).
pub const RESUME_AFTER: Duration = Duration::from_secs(30);

fn stored_origin(upload: &Upload) -> Option<Origin> {
    upload.origin.as_deref().and_then(|o| serde_json::from_str(o).ok())
}

fn expiry(ttl: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(24))
}
