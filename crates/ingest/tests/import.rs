use std::sync::Arc;

use hoclieu_db::Db;
use hoclieu_domain::Vocabularies;
use hoclieu_ingest::Ingest;
use hoclieu_storage::Storage;

async fn setup() -> (Ingest, Db, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = Db::connect(&url, &Default::default()).await.unwrap();
    db.migrate().await.unwrap();
    let storage = Storage::local(&dir.path().join("objects")).unwrap();
    (Ingest::new(db.clone(), storage, Arc::new(Vocabularies::embedded())), db, dir)
}

#[tokio::test]
async fn good_lines_import_bad_lines_are_reported_and_reimport_is_idempotent() {
    let (ingest, db, dir) = setup().await;
    let src = dir.path().join("src");
    std::fs::create_dir_all(src.join("files")).unwrap();
    std::fs::write(src.join("files/bai1.pdf"), b"%PDF-1.4 bai 1").unwrap();
    std::fs::write(src.join("files/copy.pdf"), b"%PDF-1.4 bai 1").unwrap();
    let mut lines = ["\u{feff}{\"id\":\"m1\",\"title\":\"Bài 1. Mệnh đề\",\"subject\":\"Toán\",\"grade\":10,\"resource_type\":\"slide\",\"files\":[{\"path\":\"files/bai1.pdf\",\"name\":\"Bài 1 (trình chiếu).pdf\"}]}".to_owned(),
        String::new(),
        r#"{"id":"m2","title":"Bài 2","subject":"thiên văn","resource_type":"video","url":"https://a.vn"}"#.to_owned(),
        r#"{"id":"m3","title":"Bài 3","subject":"toan","resource_type":"video","files":[{"path":"files/missing.pdf"}]}"#.to_owned(),
        r#"{"id":"m4","titel":"Bài 4"}"#.to_owned(),
        "{not json".to_owned(),
        r#"{"id":"m5","title":"Bài 5","subject":"toan","resource_type":"bai-tap","files":[{"path":"files/copy.pdf"}]}"#.to_owned(),
        r#"{"id":"m6","title":"Bài 6","subject":"toan","resource_type":"video","url":"https://example.edu.vn/v"}"#.to_owned()];
    let text = lines.join("\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(b"\n\xff\xfe\n");
    std::fs::write(src.join("a.jsonl"), &bytes).unwrap();

    let mut calls = 0;
    let report = ingest.import_jsonl(&src.join("a.jsonl"), |_| calls += 1).await.unwrap();
    assert!(calls >= 1);
    assert_eq!(report.lines, 8);
    assert_eq!(report.created, 3);
    let summary: Vec<(u64, Option<&str>)> = report.errors.iter().map(|e| (e.line, e.field.as_deref())).collect();
    assert_eq!(
        summary,
        vec![(3, Some("subject")), (4, Some("files[0].path")), (5, Some("titel")), (6, None), (9, None)]
    );
    assert!(report.errors[1].to_string().contains("files/missing.pdf"), "{}", report.errors[1]);

    let m1 = db.material_by_external_id("m1").await.unwrap().unwrap();
    assert_eq!(m1.meta.subject, "toan");
    assert_eq!(m1.meta.resource_type, "bai-giang");
    assert_eq!(m1.files[0].name, "Bài 1 (trình chiếu).pdf");
    assert_eq!(m1.files[0].media_type, "application/pdf");
    let m5 = db.material_by_external_id("m5").await.unwrap().unwrap();
    assert_eq!(m5.files[0].object_key, m1.files[0].object_key, "identical bytes are stored once");

    // Re-running changes nothing; fixing a line imports it; editing one updates it.
    let again = ingest.import_jsonl(&src.join("a.jsonl"), |_| {}).await.unwrap();
    assert_eq!((again.created, again.updated, again.unchanged), (0, 0, 3));
    lines[2] = lines[2].replace("thiên văn", "Vật lý");
    lines[7] = lines[7].replace("Bài 6", "Bài 6 (sửa)");
    std::fs::write(src.join("a.jsonl"), lines.join("\n")).unwrap();
    let fixed = ingest.import_jsonl(&src.join("a.jsonl"), |_| {}).await.unwrap();
    assert_eq!((fixed.created, fixed.updated, fixed.unchanged), (1, 1, 2));
    assert_eq!(db.count_materials().await.unwrap(), 4);
}

#[tokio::test]
async fn an_unreadable_file_is_an_error_of_the_whole_import() {
    let (ingest, _db, dir) = setup().await;
    let err = ingest.import_jsonl(&dir.path().join("nope.jsonl"), |_| {}).await.unwrap_err();
    assert!(err.to_string().contains("nope.jsonl"), "{err}");
}
