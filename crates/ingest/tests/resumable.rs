//! Finishing resumable uploads whose finishing was interrupted: the state a server leaves when
//! it is killed after storing an upload's last byte, made here without the kill.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hoclieu_db::{Db, UploadPart};
use hoclieu_domain::{ImportRecord, Vocabularies};
use hoclieu_ingest::{Ingest, NewResumable, Origin};
use hoclieu_storage::Storage;
use sha2::{Digest, Sha256};

struct Setup {
    ingest: Ingest,
    db: Db,
    storage: Storage,
    _dir: tempfile::TempDir,
}

async fn setup() -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = Db::connect(&url, &Default::default()).await.unwrap();
    db.migrate().await.unwrap();
    let storage = Storage::local(&dir.path().join("objects")).unwrap();
    let ingest = Ingest::new(db.clone(), storage.clone(), Arc::new(Vocabularies::embedded()));
    Setup { ingest, db, storage, _dir: dir }
}

/// An upload whose every byte is stored and recorded, and whose material was never made: what
/// a server killed right after the last PATCH leaves behind.
async fn interrupted(s: &Setup, record: &str, bytes: &[u8]) -> uuid::Uuid {
    let new = NewResumable {
        length: bytes.len() as u64,
        metadata_header: String::new(),
        file_name: Some("Phiếu bài tập.pdf".into()),
        record: Some(ImportRecord::from_json(record).unwrap()),
        api_key_id: None,
        origin: Origin::PUBLISHED,
    };
    let upload = s.ingest.start_upload(new, 1 << 30, Duration::from_secs(3600)).await.unwrap();
    let mut offset = 0u64;
    for chunk in bytes.chunks(1000) {
        let mut writer = s.storage.upload_part_writer(upload.id, offset);
        writer.write(Bytes::copy_from_slice(chunk)).await.unwrap();
        let stored = writer.finish().await.unwrap();
        let part = UploadPart { offset, size: stored.size, key: stored.key };
        let expires = chrono::Utc::now() + chrono::Duration::hours(1);
        s.db.append_upload_part(upload.id, offset, part, expires).await.unwrap().unwrap();
        offset += chunk.len() as u64;
    }
    let u = s.ingest.upload(upload.id).await.unwrap();
    assert!(u.is_complete() && u.material_id.is_none());
    upload.id
}

const RECORD: &str = r#"{"id":"tus-1","title":"Phiếu bài tập","subject":"toan","grade":7,"resource_type":"bai-tap"}"#;

#[tokio::test]
async fn an_interrupted_upload_becomes_its_material_once() {
    let s = setup().await;
    let bytes: Vec<u8> = (0..4321u32).map(|i| (i % 251) as u8).collect();
    let id = interrupted(&s, RECORD, &bytes).await;
    // Touched just now: left alone for a while (the request may still be finishing it).
    assert_eq!(s.ingest.resume_interrupted_uploads(Duration::from_secs(60)).await.unwrap(), 0);
    assert_eq!(s.ingest.resume_interrupted_uploads(Duration::ZERO).await.unwrap(), 1);
    let upload = s.ingest.upload(id).await.unwrap();
    let material = s.db.material(upload.material_id.expect("the upload knows its material")).await.unwrap().unwrap();
    assert_eq!(material.files.len(), 1);
    assert_eq!(material.files[0].sha256, hex::encode(Sha256::digest(&bytes)));
    assert!(upload.parts.is_empty(), "the parts are removed once copied");
    assert_eq!(s.ingest.resume_interrupted_uploads(Duration::ZERO).await.unwrap(), 0, "finished once");
    let again = s.ingest.complete_upload(id, &ImportRecord::from_json(RECORD).unwrap(), &Origin::PUBLISHED).await;
    assert!(matches!(again, Err(hoclieu_ingest::Error::Db(hoclieu_db::Error::Conflict(_)))), "{again:?}");
    assert_eq!(s.db.count_materials().await.unwrap(), 1);
}

#[tokio::test]
async fn two_servers_finishing_the_same_upload_make_one_material() {
    let s = setup().await;
    let record = r#"{"title":"Phiếu không mã","subject":"toan","resource_type":"bai-tap"}"#;
    let id = interrupted(&s, record, b"%PDF-1.4 the same bytes, finished twice at once").await;
    let other = Ingest::new(s.db.clone(), s.storage.clone(), Arc::new(Vocabularies::embedded()));
    let (a, b) = tokio::join!(
        s.ingest.resume_interrupted_uploads(Duration::ZERO),
        other.resume_interrupted_uploads(Duration::ZERO)
    );
    assert!(a.unwrap() + b.unwrap() >= 1);
    assert_eq!(s.db.count_materials().await.unwrap(), 1, "one upload, one material");
    assert!(s.ingest.upload(id).await.unwrap().material_id.is_some());
}

#[tokio::test]
async fn an_upload_that_cannot_become_a_material_says_why_and_is_not_retried() {
    let s = setup().await;
    let first = interrupted(&s, RECORD, b"first").await;
    assert_eq!(s.ingest.resume_interrupted_uploads(Duration::ZERO).await.unwrap(), 1);
    // The same external id again: a conflict, recorded on the upload for its client to read.
    let second = interrupted(&s, RECORD, b"second").await;
    assert_eq!(s.ingest.resume_interrupted_uploads(Duration::ZERO).await.unwrap(), 0);
    let upload = s.ingest.upload(second).await.unwrap();
    assert!(upload.material_id.is_none());
    assert!(upload.error.as_deref().unwrap().contains("tus-1"), "{:?}", upload.error);
    assert_eq!(s.ingest.resume_interrupted_uploads(Duration::ZERO).await.unwrap(), 0);
    assert!(s.ingest.upload(first).await.unwrap().material_id.is_some());
}
