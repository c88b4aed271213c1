//! The index against a real database (SQLite in a temp dir) and a real index directory.

use hoclieu_db::{Db, MaterialWrite, OnExisting, PoolConfig};
use hoclieu_domain::{ImportRecord, Vocabularies};
use hoclieu_index::{Error, Filters, Indexer, Language, SearchIndex, SearchRequest, Sort};

struct Env {
    db: Db,
    index: SearchIndex,
    indexer: Indexer,
    dir: tempfile::TempDir,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("t.db").display());
    let db = Db::connect(&url, &PoolConfig::default()).await.unwrap();
    db.migrate().await.unwrap();
    let index = SearchIndex::open(&dir.path().join("index"), Language::embedded()).unwrap();
    let indexer = Indexer::acquire(&index, 32).unwrap();
    Env { db, index, indexer, dir }
}

impl Env {
    async fn add(&mut self, lines: &[&str]) -> Vec<uuid::Uuid> {
        let vocab = Vocabularies::embedded();
        let items = lines
            .iter()
            .map(|l| {
                MaterialWrite::published(ImportRecord::from_json(l).unwrap().validate(&vocab, true).unwrap(), vec![])
            })
            .collect();
        let w = self.db.write_materials(items, OnExisting::Update).await.unwrap();
        self.indexer.catch_up(&self.db).await.unwrap();
        w.outcomes.iter().map(|o| o.id()).collect()
    }

    fn search(&self, text: &str) -> Vec<String> {
        self.search_with(text, Filters::default()).hits.into_iter().map(|h| h.title).collect()
    }

    fn search_with(&self, text: &str, filters: Filters) -> hoclieu_index::SearchResponse {
        self.index
            .search(&SearchRequest { text: text.into(), filters, sort: Sort::Relevance, offset: 0, limit: 20 })
            .unwrap()
    }
}

fn line(title: &str, subject: &str, grade: u8, series: &str, rtype: &str) -> String {
    serde_json::json!({"title": title, "subject": subject, "grade": grade, "series": series, "resource_type": rtype})
        .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn folding_tone_placement_and_d_stroke() {
    let mut e = env().await;
    e.add(&[
        &line("Đường tròn và tiếp tuyến", "toan", 9, "kntt", "bai-giang"),
        &line("Hoà tan và nồng độ dung dịch", "hoa-hoc", 10, "ctst", "bai-giang"),
        &line("Thuỷ phân ester", "hoa-hoc", 12, "kntt", "bai-tap"),
    ])
    .await;
    assert_eq!(e.search("duong tron"), ["Đường tròn và tiếp tuyến"]);
    assert_eq!(e.search("ĐƯỜNG TRÒN"), ["Đường tròn và tiếp tuyến"]);
    // Old-style tone placement in the query finds new-style text, exact field included.
    assert_eq!(e.search("hòa tan"), ["Hoà tan và nồng độ dung dịch"]);
    assert_eq!(e.search("thủy phân"), ["Thuỷ phân ester"]);
    // Decomposed (NFD) input.
    assert_eq!(e.search("thu\u{309}y pha\u{302}n"), ["Thuỷ phân ester"]);
    // Every word must match; when none does, fewer are required and the response says so.
    let strict = e.search_with("duong cong", Filters::default());
    assert!(strict.relaxed && strict.total >= 1, "{strict:?}");
    assert!(!e.search_with("duong tron", Filters::default()).relaxed);
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_diacritics_rank_exact_matches_first() {
    let mut e = env().await;
    e.add(&[
        &line("Đường phân giác", "toan", 7, "kntt", "bai-giang"),
        &line("Dinh dưỡng ở thực vật", "sinh-hoc", 11, "kntt", "bai-giang"),
        &line("Số dương và số âm", "toan", 6, "kntt", "bai-giang"),
    ])
    .await;
    assert_eq!(e.search("dương")[0], "Số dương và số âm");
    assert_eq!(e.search("đường")[0], "Đường phân giác");
    assert_eq!(e.search("dưỡng")[0], "Dinh dưỡng ở thực vật");
    assert_eq!(e.search("duong").len(), 3);
}

#[tokio::test(flavor = "multi_thread")]
async fn filters_and_facets_that_ignore_their_own_filter() {
    let mut e = env().await;
    e.add(&[
        &line("Tập hợp", "toan", 10, "kntt", "bai-giang"),
        &line("Tập hợp và mệnh đề", "toan", 10, "ctst", "ke-hoach-bai-day"),
        &line("Tập hợp số thực", "toan", 11, "kntt", "bai-tap"),
        &line("Tập hợp các chất", "hoa-hoc", 10, "kntt", "bai-giang"),
    ])
    .await;
    let all = e.search_with("tap hop", Filters::default());
    assert_eq!(all.total, 4);
    let f = Filters { subjects: vec!["toan".into()], grades: vec![10], ..Default::default() };
    let r = e.search_with("tap hop", f);
    assert_eq!(r.total, 2);
    // Subject facet ignores the subject filter (but applies grade 10): toan 2, hoa-hoc 1.
    assert_eq!(r.facets.subject, vec![("toan".to_owned(), 2), ("hoa-hoc".to_owned(), 1)]);
    // Grade facet ignores the grade filter (but applies subject toan): 10 → 2, 11 → 1.
    assert_eq!(r.facets.grade, vec![(10, 2), (11, 1)]);
    // Other facets apply both filters.
    assert_eq!(r.facets.series, vec![("ctst".to_owned(), 1), ("kntt".to_owned(), 1)]);
    // Several values of one filter are alternatives.
    let f = Filters { resource_types: vec!["bai-tap".into(), "ke-hoach-bai-day".into()], ..Default::default() };
    assert_eq!(e.search_with("", f).total, 2);
    // An unknown value matches nothing.
    let f = Filters { series: vec!["nope".into()], ..Default::default() };
    assert_eq!(e.search_with("", f).total, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn paging_sorting_and_depth_limit() {
    let mut e = env().await;
    let lines: Vec<String> =
        (1..=25).map(|i| line(&format!("Bài {i}. Luyện tập"), "toan", 5, "kntt", "bai-tap")).collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    e.add(&refs).await;
    let page = |offset, sort| {
        e.index
            .search(&SearchRequest { text: "luyen tap".into(), sort, offset, limit: 10, ..Default::default() })
            .unwrap()
    };
    let (p1, p2, p3) = (page(0, Sort::Newest), page(10, Sort::Newest), page(20, Sort::Newest));
    assert_eq!((p1.total, p1.hits.len(), p2.hits.len(), p3.hits.len()), (25, 10, 10, 5));
    let mut seen: Vec<_> = [p1.hits, p2.hits, p3.hits].concat().into_iter().map(|h| h.id).collect();
    let newest_first = seen.clone();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 25, "pages do not overlap");
    let mut sorted = newest_first.clone();
    sorted.sort_by(|a, b| b.cmp(a)); // UUIDv7: later ids are newer
    assert_eq!(newest_first, sorted);
    let deep = e.index.search(&SearchRequest { offset: 10_000, limit: 10, ..Default::default() });
    assert!(matches!(deep, Err(Error::TooDeep(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn snippets_mark_the_original_text() {
    let mut e = env().await;
    let l = serde_json::json!({"title": "Đề kiểm tra giữa kì I (Toán 10)", "subject": "toan", "grade": 10, "resource_type": "de-kiem-tra",
        "description": "Đề gồm 4 câu; thời gian làm bài 45 phút. Kiểm tra kiến thức <tập hợp> & mệnh đề."}).to_string();
    e.add(&[&l]).await;
    let hit = &e.search_with("kiem tra tap hop", Filters::default()).hits[0];
    // "kiểm tra" and "đề kiểm tra" are synonyms (one resource type): the whole phrase is marked.
    assert_eq!(hit.title_html, "<mark>Đề</mark> <mark>kiểm</mark> <mark>tra</mark> giữa kì I (Toán 10)");
    assert!(hit.snippet_html.contains("<mark>Kiểm</mark> <mark>tra</mark>"), "{}", hit.snippet_html);
    assert!(hit.snippet_html.contains("&lt;<mark>tập</mark> <mark>hợp</mark>&gt; &amp;"), "{}", hit.snippet_html);

    // A long description gives a passage around the match, cut at words, with ellipses.
    let long =
        format!("{} Nội dung chính: đạo hàm của hàm hợp. {}", "Mở đầu bài học. ".repeat(40), "Phần kết. ".repeat(40));
    let l = serde_json::json!({"title": "Bài 3", "subject": "toan", "grade": 11, "resource_type": "bai-giang", "description": long}).to_string();
    e.add(&[&l]).await;
    let hit = &e.search_with("dao ham", Filters::default()).hits[0];
    assert!(hit.snippet_html.starts_with('…') && hit.snippet_html.ends_with('…'), "{}", hit.snippet_html);
    assert!(hit.snippet_html.contains("<mark>đạo</mark> <mark>hàm</mark>"), "{}", hit.snippet_html);
    assert!(hit.snippet_html.chars().count() < 400);
}

#[tokio::test(flavor = "multi_thread")]
async fn follows_updates_and_deletes_and_survives_reopen() {
    let mut e = env().await;
    let a = r#"{"id":"x","title":"Bài 1. Mệnh đề","subject":"toan","grade":10,"resource_type":"bai-giang"}"#;
    let ids = e.add(&[a]).await;
    assert_eq!(e.search("menh de").len(), 1);
    e.add(&[&a.replace("Mệnh đề", "Tập hợp")]).await;
    assert!(e.search("menh de").is_empty());
    assert_eq!(e.search("tap hop").len(), 1);
    assert_eq!(e.index.num_docs(), 1, "an update replaces the document");
    let seq = e.db.last_seq().await.unwrap();
    assert_eq!(e.index.applied_seq().unwrap(), seq);

    // A change committed while no indexer runs is picked up by the next one.
    drop(e.indexer);
    e.db.delete_material(ids[0]).await.unwrap();
    let reopened = SearchIndex::open(&e.dir.path().join("index"), Language::embedded()).unwrap();
    assert_eq!(reopened.applied_seq().unwrap(), seq);
    let mut indexer = Indexer::acquire(&reopened, 32).unwrap();
    assert!(matches!(Indexer::acquire(&reopened, 32), Err(Error::Locked(_))));
    assert_eq!(indexer.catch_up(&e.db).await.unwrap(), 1);
    assert_eq!(reopened.num_docs(), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn rebuild_from_the_database_alone() {
    let mut e = env().await;
    e.add(&[
        &line("Bài 1. Mệnh đề", "toan", 10, "kntt", "bai-giang"),
        &line("Bài 2. Tập hợp", "toan", 10, "kntt", "bai-giang"),
    ])
    .await;
    // Wipe the index directory entirely: a new one is rebuilt from the database.
    drop(e.indexer);
    drop(e.index);
    std::fs::remove_dir_all(e.dir.path().join("index")).unwrap();
    let index = SearchIndex::open(&e.dir.path().join("index"), Language::embedded()).unwrap();
    let mut indexer = Indexer::acquire(&index, 32).unwrap();
    let mut calls = 0;
    let n = indexer.rebuild(&e.db, |_, _| calls += 1).await.unwrap();
    assert_eq!((n, index.num_docs(), calls), (2, 2, 1));
    assert_eq!(index.applied_seq().unwrap(), e.db.last_seq().await.unwrap());
}

fn titles(r: &hoclieu_index::SearchResponse) -> Vec<&str> {
    r.hits.iter().map(|h| h.title.as_str()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn keyboard_residue_and_misspellings_are_corrected() {
    let mut e = env().await;
    e.add(&[
        &line("Nguyên hàm và bảng nguyên hàm cơ bản", "toan", 12, "kntt", "bai-giang"),
        &line("Tích phân và ứng dụng", "toan", 12, "kntt", "bai-giang"),
        &line("Xác suất cổ điển", "toan", 10, "kntt", "bai-giang"),
        &line("Dao động tắt dần và cộng hưởng", "vat-li", 11, "kntt", "bai-giang"),
        &line("Động tác vươn thở", "giao-duc-the-chat", 3, "kntt", "bai-giang"),
        &line("Định luật bảo toàn động lượng", "vat-li", 10, "kntt", "bai-giang"),
    ])
    .await;
    for (typed, corrected, title) in [
        ("nguyeen hamf", "nguyên hàm", "Nguyên hàm và bảng nguyên hàm cơ bản"),
        ("tich1 phan6", "tích phân", "Tích phân và ứng dụng"),
        ("sác xuất cổ điển", "xác suất cổ điển", "Xác suất cổ điển"),
        ("bảo toàng động lượng", "bảo toàn động lượng", "Định luật bảo toàn động lượng"),
        ("dao động tắc dần", "dao động tắt dần", "Dao động tắt dần và cộng hưởng"),
    ] {
        let r = e.search_with(typed, Filters::default());
        assert_eq!(r.corrected_query.as_deref(), Some(corrected), "{typed}");
        assert_eq!(titles(&r)[0], title, "{typed}");
    }
    // A query that is right as typed is left alone.
    let r = e.search_with("động tác", Filters::default());
    assert_eq!((r.corrected_query.as_deref(), titles(&r)), (None, vec!["Động tác vươn thở"]));
}

#[tokio::test(flavor = "multi_thread")]
async fn synonyms_abbreviations_and_old_terms() {
    let mut e = env().await;
    e.add(&[
        &line("Kế hoạch bài dạy: Ester và chất béo", "hoa-hoc", 12, "kntt", "ke-hoach-bai-day"),
        &line("Trình chiếu: Polime và vật liệu", "hoa-hoc", 12, "ctst", "bai-giang"),
        &line("Quyền trẻ em", "giao-duc-cong-dan", 6, "canh-dieu", "bai-giang"),
    ])
    .await;
    assert_eq!(e.search("giáo án este"), ["Kế hoạch bài dạy: Ester và chất béo"]);
    assert_eq!(e.search("slide polymer"), ["Trình chiếu: Polime và vật liệu"]);
    assert_eq!(e.search("gdcd quyền trẻ em"), ["Quyền trẻ em"]);
    let hit = &e.search_with("giao an este", Filters::default()).hits[0];
    assert!(
        hit.title_html.starts_with("<mark>Kế</mark> <mark>hoạch</mark> <mark>bài</mark> <mark>dạy</mark>"),
        "{}",
        hit.title_html
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn hints_boost_without_filtering_and_function_words_are_optional() {
    let mut e = env().await;
    e.add(&[
        &line("Bài 10. Vectơ trong không gian", "toan", 12, "kntt", "bai-giang"),
        &line("Vectơ và các phép toán", "toan", 10, "ctst", "bai-giang"),
        &line("Video: vectơ trong mặt phẳng", "toan", 10, "kntt", "video"),
        &line("Bài 4. Hệ thức lượng", "toan", 10, "kntt", "ke-hoach-bai-day"),
        &line("Bài IV. Đường tròn", "toan", 9, "kntt", "bai-giang"),
    ])
    .await;
    // "10" after a subject is the grade: the grade-12 "Bài 10" is not a match for it.
    assert_eq!(e.search("toán 10 vectơ"), ["Vectơ và các phép toán", "Video: vectơ trong mặt phẳng"]);
    // A resource type or series boosts, it does not filter.
    let r = e.search("video vectơ");
    assert_eq!(r[0], "Video: vectơ trong mặt phẳng");
    assert_eq!(r.len(), 3);
    assert_eq!(e.search("kntt toán 10 vectơ")[0], "Video: vectơ trong mặt phẳng");
    // Roman and Arabic lesson numbers.
    assert_eq!(e.search("bài 4 đường tròn"), ["Bài IV. Đường tròn"]);
    assert_eq!(e.search("bài IV hệ thức"), ["Bài 4. Hệ thức lượng"]);
    // Function words need not occur; content words always do.
    assert_eq!(e.search("tài liệu về đường tròn cho lớp 9"), ["Bài IV. Đường tròn"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn popularity_orders_equals_but_never_beats_a_better_match() {
    let mut e = env().await;
    let ids = e
        .add(&[
            &line("Phép cộng trong phạm vi 10", "toan", 1, "kntt", "bai-giang"),
            &line("Phép cộng trong phạm vi 10", "toan", 1, "ctst", "bai-giang"),
            &line("Luyện tập: cộng, trừ và một bài về phép cộng", "toan", 1, "kntt", "bai-tap"),
        ])
        .await;
    e.db.add_downloads(&[(ids[1], 500), (ids[2], 5000)]).await.unwrap();
    e.indexer.catch_up(&e.db).await.unwrap();
    let r = e.search_with("phép cộng trong phạm vi 10", Filters::default());
    let order: Vec<_> = r.hits.iter().map(|h| h.id).collect();
    assert_eq!(order[..2], [ids[1], ids[0]], "the more downloaded of two equal matches first");
    assert_eq!(r.hits[0].downloads, 500);
    let r = e.search_with("phép cộng", Filters::default());
    assert_ne!(r.hits[0].id, ids[2], "5,000 downloads do not lift a weaker match");
    let by_downloads = e
        .index
        .search(&SearchRequest { text: "cộng".into(), sort: Sort::Downloads, limit: 3, ..Default::default() })
        .unwrap();
    assert_eq!(by_downloads.hits[0].id, ids[2]);
}

#[tokio::test(flavor = "multi_thread")]
async fn suggestions_complete_the_last_word() {
    let mut e = env().await;
    let l = |title: &str, lesson: &str| {
        serde_json::json!({"title": title, "lesson": lesson, "subject": "toan", "grade": 10, "resource_type": "bai-giang"}).to_string()
    };
    e.add(&[
        &l("Giáo án Toán 10 – Tập hợp", "Bài 2. Tập hợp và các phép toán trên tập hợp"),
        &l("Bài giảng Toán 10 – Tập hợp", "Bài 2. Tập hợp và các phép toán trên tập hợp"),
        &l("Tập con và tập hợp bằng nhau", "Bài 3. Tập con"),
        &l("Tam giác đồng dạng", "Bài 9. Tam giác đồng dạng"),
    ])
    .await;
    let s = e.index.suggest("tap h", 10).unwrap();
    assert_eq!(s[0].text, "Bài 2. Tập hợp và các phép toán trên tập hợp");
    assert_eq!(s[0].kind, "lesson");
    assert!(s[0].html.contains("<mark>Tập</mark> <mark>h</mark>ợp"), "{}", s[0].html);
    assert!(s.iter().all(|x| !x.text.contains("Tam giác")));
    let texts: Vec<&str> = s.iter().map(|x| x.text.as_str()).collect();
    assert_eq!(texts.len(), texts.iter().collect::<std::collections::HashSet<_>>().len(), "no duplicates");
    assert_eq!(e.index.suggest("TAM GIAC", 10).unwrap()[0].text, "Bài 9. Tam giác đồng dạng");
    assert!(e.index.suggest("tam giac ", 10).unwrap().iter().all(|x| x.text.contains("Tam giác")));
    assert!(e.index.suggest("", 10).unwrap().is_empty());
    assert!(e.index.suggest("t", 2).unwrap().len() <= 2);
}

/// Materials of every subject, grade, series and type, deterministically.
fn mixed_corpus(n: usize) -> Vec<String> {
    let subjects = ["toan", "vat-li", "hoa-hoc", "ngu-van", "tin-hoc"];
    let series = ["kntt", "ctst", "canh-dieu"];
    let types = ["bai-giang", "ke-hoach-bai-day", "video", "bai-tap"];
    let topics = ["Đường tròn", "Tập hợp", "Phân số", "Quang hợp", "Dao động", "Bài thơ", "Vectơ"];
    (0..n)
        .map(|i| {
            let title =
                format!("Bài {} {} {}", i % 40 + 1, topics[i % topics.len()], ["", "nâng cao", "ôn tập"][i % 3]);
            line(title.trim(), subjects[i % 5], (i % 12 + 1) as u8, series[i % 3], types[(i / 3) % 4])
        })
        .collect()
}

/// Total and disjunctive facet counts of `req`, by reading every matching document's stored
/// fields: independent of the search's counting.
/// A total, subject counts and grade counts.
type Tally = (u64, Vec<(String, u64)>, Vec<(u8, u64)>);

fn brute_force(index: &SearchIndex, req: &SearchRequest) -> Tally {
    use hoclieu_index::query;
    use tantivy_doc::*;
    let lang = index.language();
    let parsed = query::parse(&req.text);
    let hints = query::understand(&parsed.words, &lang.vocab);
    let built = query::build(index.fields(), lang, &parsed, &hints, &[]);
    let q = query::matching::anywhere(index.fields(), &built, built.units());
    let searcher = index.searcher();
    let docs = searcher.search(&*q, &DocSetCollector).unwrap();
    let f = index.fields();
    let (mut total, mut subjects, mut grades) =
        (0, std::collections::BTreeMap::new(), std::collections::BTreeMap::new());
    for address in docs {
        let d: TantivyDocument = searcher.doc(address).unwrap();
        let text = |field| d.get_first(field).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        let (subject, series, rtype) = (text(f.subject), text(f.series), text(f.resource_type));
        let grade = d.get_first(f.grade).and_then(|v| v.as_u64()).unwrap_or(0) as u8;
        let r = &req.filters;
        let ok = |values: &[String], v: &str| values.is_empty() || values.iter().any(|x| x == v);
        let (s_ok, g_ok) = (ok(&r.subjects, &subject), r.grades.is_empty() || r.grades.contains(&grade));
        let others = ok(&r.series, &series) && ok(&r.resource_types, &rtype);
        if s_ok && g_ok && others {
            total += 1;
        }
        if g_ok && others {
            *subjects.entry(subject).or_insert(0) += 1;
        }
        if s_ok && others {
            *grades.entry(grade).or_insert(0) += 1;
        }
    }
    let mut subjects: Vec<(String, u64)> = subjects.into_iter().collect();
    subjects.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    (total, subjects, grades.into_iter().collect())
}

mod tantivy_doc {
    pub use tantivy::TantivyDocument;
    pub use tantivy::collector::DocSetCollector;
    pub use tantivy::schema::Value;
}

#[tokio::test(flavor = "multi_thread")]
async fn totals_and_facets_equal_a_brute_force_count() {
    let mut e = env().await;
    let lines = mixed_corpus(600);
    e.add(&lines.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let filters = |subjects: &[&str], grades: &[u8]| Filters {
        subjects: subjects.iter().map(|s| s.to_string()).collect(),
        grades: grades.to_vec(),
        ..Filters::default()
    };
    for (text, f) in [
        ("bai", Filters::default()),
        ("duong tron", Filters::default()),
        ("toán 10", Filters::default()),
        ("tap hop nang cao", filters(&["toan"], &[])),
        ("bai", filters(&["vat-li", "hoa-hoc"], &[3, 4])),
        ("", filters(&[], &[7])),
    ] {
        let req = SearchRequest { text: text.into(), filters: f, limit: 10, ..Default::default() };
        let r = e.index.search(&req).unwrap();
        let (total, subjects, grades) = brute_force(&e.index, &req);
        assert!(!r.total_is_estimate, "{text}: a small index is counted exactly");
        assert_eq!(r.total, total, "{text}");
        assert_eq!(r.facets.subject, subjects, "{text}");
        assert_eq!(r.facets.grade, grades, "{text}");
        assert!(r.total > 0 || text.is_empty(), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_the_budget_counts_are_estimates_close_to_the_truth() {
    let mut e = env().await;
    let lines = mixed_corpus(3000);
    e.add(&lines.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let small = e.index.clone().with_count_budget(300).with_cache(0);
    for text in ["bai", "duong tron", "on tap"] {
        let req = SearchRequest { text: text.into(), limit: 10, ..Default::default() };
        let exact = e.index.search(&req).unwrap();
        let estimated = small.search(&req).unwrap();
        assert!(!exact.total_is_estimate && estimated.total_is_estimate, "{text}");
        let error = (estimated.total as f64 - exact.total as f64).abs() / exact.total as f64;
        assert!(error < 0.15, "{text}: {} estimated, {} exactly", estimated.total, exact.total);
        // The page itself is never estimated: the same hits in the same order.
        let ids = |r: &hoclieu_index::SearchResponse| r.hits.iter().map(|h| h.id).collect::<Vec<_>>();
        assert_eq!(ids(&estimated), ids(&exact), "{text}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cached_page_never_outlives_a_commit() {
    let mut e = env().await;
    e.add(&[&line("Đường tròn ngoại tiếp", "toan", 9, "kntt", "bai-giang")]).await;
    assert_eq!(e.search("duong tron").len(), 1);
    let before = e.index.cache_stats();
    assert_eq!(e.search("duong tron").len(), 1);
    assert_eq!(e.index.cache_stats().hits, before.hits + 1, "the same search again is a cache hit");
    // A new material (a new commit): the next search sees it.
    let ids = e.add(&[&line("Đường tròn nội tiếp", "toan", 9, "kntt", "bai-giang")]).await;
    assert_eq!(e.search("duong tron").len(), 2);
    // A removal too.
    assert!(e.db.delete_material(ids[0]).await.unwrap());
    e.indexer.catch_up(&e.db).await.unwrap();
    assert_eq!(e.search("duong tron"), ["Đường tròn ngoại tiếp"]);
}
