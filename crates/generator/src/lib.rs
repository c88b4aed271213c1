//! A generator of realistic metadata records (import JSON lines) built from the structure of
//! the 2018 curriculum in `data/curriculum.toml`: subjects, grades, chapters and lessons, titled
//! the way teachers title their materials, with both tone-mark styles. Deterministic for a seed.

use hoclieu_domain::Vocabularies;
use serde::Deserialize;
use serde_json::{Value, json};

const CURRICULUM: &str = include_str!("../data/curriculum.toml");

#[derive(Deserialize)]
struct Curriculum {
    course: Vec<Course>,
}

#[derive(Deserialize)]
struct Course {
    subject: String,
    grade: u8,
    chapters: Vec<Chapter>,
}

#[derive(Deserialize)]
struct Chapter {
    title: String,
    lessons: Vec<String>,
}

/// A small, fast, deterministic random source (SplitMix64).
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// An index chosen with the given weights.
    pub fn weighted(&mut self, weights: &[u32]) -> usize {
        let total: u32 = weights.iter().sum();
        let mut x = (self.next_u64() % u64::from(total.max(1))) as u32;
        for (i, w) in weights.iter().enumerate() {
            if x < *w {
                return i;
            }
            x -= w;
        }
        weights.len() - 1
    }
}

/// Resource types with their share of generated records (roughly what repositories hold).
const TYPES: [(&str, u32); 11] = [
    ("ke-hoach-bai-day", 30),
    ("bai-giang", 24),
    ("bai-tap", 12),
    ("de-kiem-tra", 10),
    ("video", 8),
    ("bai-giang-e-learning", 3),
    ("hoc-lieu-tuong-tac", 3),
    ("tranh-anh", 3),
    ("tai-lieu-tham-khao", 4),
    ("sach-dien-tu", 1),
    ("am-thanh", 2),
];
const SERIES: [(&str, &str, u32); 4] =
    [("kntt", "KNTT", 42), ("ctst", "CTST", 28), ("canh-dieu", "Cánh Diều", 22), ("", "", 8)];
/// Main subjects are taught (and shared) more.
const MAIN_SUBJECTS: [&str; 8] =
    ["toan", "ngu-van", "tieng-viet", "tieng-anh", "khoa-hoc-tu-nhien", "vat-li", "hoa-hoc", "lich-su-va-dia-li"];

const FAMILY: [&str; 14] =
    ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"];
const MIDDLE: [&str; 10] = ["Thị", "Văn", "Minh", "Thanh", "Ngọc", "Hữu", "Đức", "Thu", "Quang", "Hoài"];
const GIVEN: [&str; 20] = [
    "An", "Bình", "Chi", "Dũng", "Giang", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Lan", "Linh", "Long", "Mai", "Nam",
    "Phương", "Quân", "Thảo", "Trang", "Tuấn",
];
const SCHOOL_NAMES: [&str; 16] = [
    "Lê Quý Đôn",
    "Nguyễn Du",
    "Trần Phú",
    "Chu Văn An",
    "Lương Thế Vinh",
    "Nguyễn Trãi",
    "Quang Trung",
    "Lý Thường Kiệt",
    "Hùng Vương",
    "Phan Bội Châu",
    "Nguyễn Huệ",
    "Võ Thị Sáu",
    "Kim Đồng",
    "Lê Lợi",
    "Ngô Quyền",
    "Hoàng Hoa Thám",
];
const EXAMS: [&str; 5] = ["giữa kì I", "cuối kì I", "giữa kì II", "cuối kì II", "15 phút"];

/// Rewrites new-style tone placement to the old style at the end of a syllable ("hoà" →
/// "hòa", "thuý" → "thúy", "khoẻ" → "khỏe"), as many teachers still type.
pub fn old_tone_style(text: &str) -> String {
    const PAIRS: [(&str, &str); 15] = [
        ("oà", "òa"),
        ("oá", "óa"),
        ("oả", "ỏa"),
        ("oã", "õa"),
        ("oạ", "ọa"),
        ("oè", "òe"),
        ("oé", "óe"),
        ("oẻ", "ỏe"),
        ("oẽ", "õe"),
        ("oẹ", "ọe"),
        ("uỳ", "ùy"),
        ("uý", "úy"),
        ("uỷ", "ủy"),
        ("uỹ", "ũy"),
        ("uỵ", "ụy"),
    ];
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let replaced = PAIRS.iter().find(|(new, _)| {
            rest.starts_with(new) && !rest[new.len()..].chars().next().is_some_and(char::is_alphabetic)
        });
        match replaced {
            // "qu" + vowel keeps its tone on the vowel in both styles.
            Some((new, old)) if !out.ends_with('q') => {
                out.push_str(old);
                rest = &rest[new.len()..];
            }
            _ => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// Terms of the 2018 textbooks and the older spellings many teachers still write.
const OLD_TERMS: [(&str, &str); 10] = [
    ("Amino acid", "Amino axit"),
    ("amino acid", "amino axit"),
    ("Ester", "Este"),
    ("ester", "este"),
    ("Amine", "Amin"),
    ("amine", "amin"),
    ("olymer", "olime"),
    ("lucose", "lucozơ"),
    ("accharose", "accarozơ"),
    ("itrogen", "itơ"),
];

/// `text` with the older spellings of textbook terms ("ester" → "este", "Newton" → "Niu-tơn").
pub fn old_terms(text: &str) -> String {
    let s = text.replace("Cellulose", "Xenlulozơ").replace("cellulose", "xenlulozơ").replace("Newton", "Niu-tơn");
    OLD_TERMS.iter().fold(s, |s, (new, old)| s.replace(new, old))
}

/// Generates records.
pub struct Generator {
    courses: Vec<Course>,
    weights: Vec<u32>,
    vocab: Vocabularies,
    rng: Rng,
    seed: u64,
    next: u64,
}

impl Generator {
    pub fn new(seed: u64) -> Generator {
        let courses = toml::from_str::<Curriculum>(CURRICULUM).expect("curriculum.toml is valid (tested)").course;
        let weights = courses.iter().map(|c| if MAIN_SUBJECTS.contains(&c.subject.as_str()) { 3 } else { 1 }).collect();
        Generator { courses, weights, vocab: Vocabularies::embedded(), rng: Rng::new(seed), seed, next: 0 }
    }

    /// Courses, chapters and lessons available.
    pub fn size(&self) -> (usize, usize, usize) {
        let chapters = self.courses.iter().map(|c| c.chapters.len()).sum();
        let lessons = self.courses.iter().flat_map(|c| &c.chapters).map(|ch| ch.lessons.len()).sum();
        (self.courses.len(), chapters, lessons)
    }

    fn person(&mut self) -> String {
        let r = &mut self.rng;
        format!("{} {} {}", r.pick(&FAMILY), r.pick(&MIDDLE), r.pick(&GIVEN))
    }

    /// The next record, as an import JSON object.
    pub fn record(&mut self) -> Value {
        self.next += 1;
        let course = &self.courses[self.rng.weighted(&self.weights)];
        let chapter_no = self.rng.below(course.chapters.len());
        let chapter = &course.chapters[chapter_no];
        let lesson_in_chapter = self.rng.below(chapter.lessons.len());
        let lesson_no =
            course.chapters[..chapter_no].iter().map(|c| c.lessons.len()).sum::<usize>() + lesson_in_chapter + 1;
        let lesson = &chapter.lessons[lesson_in_chapter];
        let (subject, grade) = (course.subject.clone(), course.grade);
        let subject_label = self.vocab.subjects.label(&subject).to_owned();
        let (series, series_short, _) = SERIES[self.rng.weighted(&SERIES.map(|s| s.2))];
        let rtype = TYPES[self.rng.weighted(&TYPES.map(|t| t.1))].0;
        let sub = short_subject(&subject_label);
        let s = if series.is_empty() { String::new() } else { format!(" {series_short}") };
        let roman = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX"];
        let chapter_label = format!("Chương {}. {}", roman.get(chapter_no).copied().unwrap_or("X"), chapter.title);
        let lesson_label = format!("Bài {lesson_no}. {lesson}");
        let r = &mut self.rng;
        let title = match rtype {
            "ke-hoach-bai-day" => match r.below(4) {
                0 => format!("Kế hoạch bài dạy {sub} {grade}{s} – Bài {lesson_no}: {lesson}"),
                1 => format!("Giáo án {sub} lớp {grade}{s} bài {lesson_no} {lesson}"),
                2 => format!("KHBD {sub} {grade} – {lesson}"),
                _ => format!("Giáo án {sub} {grade} {lesson} (theo CV 5512)"),
            },
            "bai-giang" => match r.below(3) {
                0 => format!("Bài giảng {sub} {grade}{s} – Bài {lesson_no}: {lesson}"),
                1 => format!("Slide bài giảng {sub} {grade} {lesson}"),
                _ => format!("Bài giảng điện tử {sub} lớp {grade} – {lesson}"),
            },
            "bai-tap" => match r.below(3) {
                0 => format!("Phiếu bài tập {sub} {grade}: {lesson}"),
                1 => format!("Bài tập {lesson} – {sub} {grade}{s}"),
                _ => format!("Bài tập trắc nghiệm {sub} {grade} bài {lesson_no} {lesson}"),
            },
            "de-kiem-tra" => {
                let exam = r.pick(&EXAMS);
                match r.below(2) {
                    0 => format!("Đề kiểm tra {exam} {sub} {grade}{s}"),
                    _ => format!("Đề thi {exam} môn {sub} lớp {grade} – {}", chapter.title),
                }
            }
            "video" => format!("Video bài giảng {sub} {grade}: {lesson}"),
            "bai-giang-e-learning" => format!("Bài giảng E-learning {sub} {grade} – {lesson}"),
            "hoc-lieu-tuong-tac" => format!("Trò chơi ôn tập {sub} {grade}: {lesson}"),
            "tranh-anh" => format!("Tranh minh hoạ {sub} {grade} – {lesson}"),
            "sach-dien-tu" => format!("Sách điện tử {sub} {grade}{s}"),
            "am-thanh" => format!("File nghe {sub} {grade} – {lesson}"),
            _ => format!("Tài liệu tham khảo {sub} {grade}: {lesson}"),
        };
        let old_style = r.chance(35);
        let old_words = r.chance(40);
        let styled = |t: String| {
            let t = if old_style { old_tone_style(&t) } else { t };
            if old_words { old_terms(&t) } else { t }
        };
        let description = match r.below(3) {
            0 => format!(
                "{} môn {subject_label} lớp {grade}{}, {chapter_label}. Nội dung: {lesson}; có mục tiêu, hoạt động và câu hỏi kiểm tra đánh giá.",
                self.vocab.resource_types.label(rtype),
                if series.is_empty() {
                    String::new()
                } else {
                    format!(" (bộ sách {})", self.vocab.series.label(series))
                }
            ),
            1 => format!(
                "Tài liệu dùng cho tiết dạy \"{lesson}\" ({subject_label} {grade}). Giáo viên có thể chỉnh sửa cho phù hợp với lớp học."
            ),
            _ => format!(
                "Soạn theo chương trình GDPT 2018: {lesson}. Gồm phần khởi động, hình thành kiến thức, luyện tập và vận dụng."
            ),
        };
        let keywords = vec![subject_label.clone(), format!("lớp {grade}"), lesson.to_lowercase()];
        let province = self.vocab.provinces.terms()[self.rng.below(34)].code.clone();
        let level_school = match grade {
            1..=5 => "Trường Tiểu học",
            6..=9 => "Trường THCS",
            _ => "Trường THPT",
        };
        let organization = format!("{level_school} {}", self.rng.pick(&SCHOOL_NAMES));
        let authors: Vec<String> = (0..1 + self.rng.below(2)).map(|_| self.person()).collect();
        let id = format!("gen-{}-{:07}", self.seed, self.next);
        let mut record = json!({
            "id": id,
            "title": styled(title),
            "description": styled(description),
            "subject": subject,
            "grade": grade,
            "resource_type": rtype,
            "chapter": chapter_label,
            "lesson": lesson_label,
            "keywords": keywords,
            "authors": authors,
            "organization": organization,
            "province": province,
            "license": if self.rng.chance(85) { "CC-BY-4.0" } else { "CC-BY-SA-4.0" },
            "url": format!("https://hoclieu.example.edu.vn/tai-lieu/{id}"),
        });
        if !series.is_empty() {
            record["series"] = json!(series);
        }
        record
    }
}

/// The name teachers use for a subject in titles ("Hoá học" → "Hoá", "Lịch sử và Địa lí" → "LS&ĐL").
fn short_subject(label: &str) -> String {
    match label {
        "Hoá học" => "Hoá".into(),
        "Sinh học" => "Sinh".into(),
        "Lịch sử và Địa lí" => "Lịch sử và Địa lí".into(),
        "Khoa học tự nhiên" => "KHTN".into(),
        "Giáo dục công dân" => "GDCD".into(),
        "Giáo dục kinh tế và pháp luật" => "GDKT&PL".into(),
        "Hoạt động trải nghiệm, hướng nghiệp" => "HĐTN".into(),
        "Giáo dục quốc phòng và an ninh" => "GDQP&AN".into(),
        "Giáo dục thể chất" => "GDTC".into(),
        other => other.into(),
    }
}

impl Iterator for Generator {
    type Item = Value;
    fn next(&mut self) -> Option<Value> {
        Some(self.record())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hoclieu_domain::ImportRecord;

    #[test]
    fn records_are_valid_deterministic_and_varied() {
        let vocab = Vocabularies::embedded();
        let a: Vec<Value> = Generator::new(7).take(2000).collect();
        let b: Vec<Value> = Generator::new(7).take(2000).collect();
        assert_eq!(a, b);
        let mut subjects = std::collections::HashSet::new();
        let mut grades = std::collections::HashSet::new();
        let mut types = std::collections::HashSet::new();
        for r in &a {
            let rec = ImportRecord::from_json(&r.to_string()).unwrap();
            let meta = rec.validate(&vocab, false).unwrap_or_else(|e| panic!("{r}: {e}"));
            subjects.insert(meta.subject);
            grades.insert(meta.grade.unwrap());
            types.insert(meta.resource_type);
        }
        assert!(subjects.len() >= 20, "{subjects:?}");
        assert_eq!(grades.len(), 12);
        assert_eq!(types.len(), TYPES.len());
        let (courses, chapters, lessons) = Generator::new(1).size();
        assert!(courses >= 140 && chapters >= 500 && lessons >= 2000);
    }

    #[test]
    fn older_spellings_of_textbook_terms() {
        assert_eq!(
            old_terms("Ester – lipid; Cellulose và glucose; định luật Newton"),
            "Este – lipid; Xenlulozơ và glucozơ; định luật Niu-tơn"
        );
    }

    #[test]
    fn old_style_tones_only_at_syllable_ends() {
        assert_eq!(old_tone_style("Hoà tan, thuỷ phân; khoẻ mạnh"), "Hòa tan, thủy phân; khỏe mạnh");
        assert_eq!(old_tone_style("hoàn thành, quý, Hoá học"), "hoàn thành, quý, Hóa học");
    }
}
