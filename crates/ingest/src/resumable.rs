//! Resumable uploads (the server side of tus 1.0): each request's bytes become a durable part in
//! object storage and a row in the database, so an upload survives dropped connections, server
//! restarts and replicas; when the last byte arrives the parts are streamed, once, into the
//! material's file (hashed and sniffed on the way) and removed.

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
        let Some(upload) = self.db.append_upload_part(id, offset, part, expiry(ttl)).await? else {
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
        match self.complete_upload(id, &record, origin).await {
            Ok(material) => Ok(Appended { upload: self.upload(id).await?, material: Some(material), error: None }),
            Err(e) => {
                self.db.finish_upload(id, None, Some(e.to_string())).await?;
                Ok(Appended { upload: self.upload(id).await?, material: None, error: Some(e) })
            }
        }
    }

    /// Makes the material of a completed upload with `record` as its metadata.
    pub async fn complete_upload(&self, id: Uuid, record: &ImportRecord, origin: &Origin) -> Result<Material> {
        let upload = self.upload(id).await?;
        if !upload.is_complete() {
            return Err(Error::UploadIncomplete { offset: upload.offset, length: upload.length });
        }
        if let Some(m) = upload.material_id {
            return Err(hoclieu_db::Error::Conflict(format!("this upload already made material {m}")).into());
        }
        // Validate before copying a possibly large file.
        record.validate(&self.vocab, true)?;
        let storage = self.storage.clone();
        let parts = futures_util::stream::iter(upload.parts.clone())
            .then(move |p| {
                let storage = storage.clone();
                async move { storage.read(&p.key, None).await.map(|r| r.body) }
            })
            .try_flatten();
        let name = upload.file_name.clone().unwrap_or_else(|| "tep".into());
        let staged: StagedFile = self.stage_file(&name, parts, u64::MAX).await?;
        let material = self.create(record, vec![staged], origin).await?;
        self.db.finish_upload(id, Some(material.id), None).await?;
        self.remove_parts(&upload).await;
        Ok(material)
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

fn expiry(ttl: Duration) -> chrono::DateTime<Utc> {
    Utc::now() + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::hours(24))
}
