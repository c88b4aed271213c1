//! The query mix: the evaluation queries as teachers typed them, plus queries generated from the
//! records in two classes — "selective" (a rarer term of a real lesson, as two folded syllables)
//! and "stress" (one to three of the most common syllables, the worst case for any engine).

use std::collections::HashMap;
use std::io::BufRead;
use std::path::Path;

use hoclieu_domain::text::{fold_text, words};
use serde::Serialize;

const EVAL_QUERIES: &str = include_str!("../../../fixtures/eval/queries.jsonl");

#[derive(Debug, Clone, Serialize)]
pub struct QueryMix {
    pub eval: Vec<String>,
    pub selective: Vec<String>,
    pub stress: Vec<String>,
    /// The commonest syllables of titles and lessons, most common first (what `stress` is made of).
    pub common: Vec<String>,
    /// Prefixes as typed into the search box, for suggest.
    pub prefixes: Vec<String>,
}

impl QueryMix {
    pub fn classes(&self) -> [(&'static str, &[String]); 3] {
        [("eval", &self.eval), ("selective", &self.selective), ("stress", &self.stress)]
    }

    pub fn all(&self) -> impl Iterator<Item = &String> {
        self.eval.iter().chain(&self.selective).chain(&self.stress)
    }
}

/// A small deterministic generator (splitmix64): the same records give the same mix.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// The topic of a lesson without its "Bài 5." prefix.
fn topic(lesson: &str) -> &str {
    match lesson.split_once(". ") {
        Some((head, rest)) if head.starts_with("Bài") => rest,
        _ => lesson,
    }
}

fn syllables(text: &str) -> Vec<String> {
    let folded = fold_text(text);
    words(&folded).filter(|w| w.chars().all(char::is_alphabetic)).map(str::to_owned).collect()
}

/// Builds the mix from the records file: document frequencies of the folded syllables of titles
/// and lessons, then `selective` and `stress` queries drawn with a fixed seed.
pub fn build(records: &Path, selective: usize, stress: usize, prefixes: usize) -> std::io::Result<QueryMix> {
    let mut df: HashMap<String, u64> = HashMap::new();
    let mut topics: Vec<String> = Vec::new();
    let file = std::io::BufReader::new(std::fs::File::open(records)?);
    for (n, line) in file.lines().enumerate() {
        let line = line?;
        let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) else { continue };
        let title = v["title"].as_str().unwrap_or_default();
        let lesson = v["lesson"].as_str().unwrap_or_default();
        let mut seen: Vec<String> = syllables(title);
        seen.extend(syllables(lesson));
        seen.sort();
        seen.dedup();
        for s in seen {
            *df.entry(s).or_default() += 1;
        }
        // Keep a bounded, evenly spread sample of lesson topics to draw from.
        if !lesson.is_empty() && (n % 97 == 0 || topics.len() < 2000) && topics.len() < 20_000 {
            topics.push(topic(lesson).to_owned());
        }
    }
    let mut rng = Rng::new(2018);

    let mut selective_q = Vec::with_capacity(selective);
    for _ in 0..selective * 4 {
        if selective_q.len() == selective || topics.is_empty() {
            break;
        }
        let words = syllables(&topics[rng.below(topics.len())]);
        if words.is_empty() {
            continue;
        }
        let rarest = (0..words.len()).min_by_key(|&i| df.get(&words[i]).copied().unwrap_or(0)).unwrap_or(0);
        let q = match (rarest.checked_sub(1), words.get(rarest + 1)) {
            (_, Some(next)) => format!("{} {next}", words[rarest]),
            (Some(prev), None) => format!("{} {}", words[prev], words[rarest]),
            (None, None) => words[rarest].clone(),
        };
        selective_q.push(q);
    }

    let mut common: Vec<(&String, &u64)> = df.iter().filter(|(w, _)| w.len() >= 2).collect();
    common.sort_by(|a, b| b.1.cmp(a.1).then_with(|| a.0.cmp(b.0)));
    let common: Vec<&String> = common.into_iter().take(15).map(|(w, _)| w).collect();
    let mut stress_q = Vec::with_capacity(stress);
    while stress_q.len() < stress && !common.is_empty() {
        let n = 1 + rng.below(3);
        let mut q: Vec<&str> = Vec::new();
        while q.len() < n.min(common.len()) {
            let w = common[rng.below(common.len())];
            if !q.contains(&w.as_str()) {
                q.push(w);
            }
        }
        stress_q.push(q.join(" "));
    }

    let eval: Vec<String> = EVAL_QUERIES
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| v["q"].as_str().map(str::to_owned))
        .collect();

    // What a teacher has typed when suggestions appear: whole words, then half of the last one.
    let sources: Vec<&String> = eval.iter().chain(&selective_q).collect();
    let mut prefixes_q = Vec::with_capacity(prefixes);
    for i in 0..prefixes.min(sources.len() * 2) {
        let q = sources[i % sources.len()];
        let words: Vec<&str> = q.split_whitespace().collect();
        let keep = if i < sources.len() { words.len().min(2) } else { words.len().min(3) };
        let mut parts: Vec<String> = words[..keep.saturating_sub(1)].iter().map(|w| w.to_string()).collect();
        if let Some(last) = words.get(keep.saturating_sub(1)) {
            let n = last.chars().count().div_ceil(2).max(1);
            parts.push(last.chars().take(n).collect());
        }
        prefixes_q.push(parts.join(" "));
    }
    let common = common.into_iter().cloned().collect();
    Ok(QueryMix { eval, selective: selective_q, stress: stress_q, common, prefixes: prefixes_q })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mix_comes_from_the_records() {
        let dir = std::env::temp_dir().join(format!("hoclieu-bench-q-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("r.jsonl");
        let mut lines = String::new();
        for i in 0..50 {
            let lesson = if i % 2 == 0 {
                "Bài 2. Tập hợp và mệnh đề"
            } else {
                "Bài 7. Quang hợp ở thực vật"
            };
            lines.push_str(
                &serde_json::json!({"title": format!("Bài giảng Toán 10 {i}"), "lesson": lesson}).to_string(),
            );
            lines.push('\n');
        }
        std::fs::write(&path, lines).unwrap();
        let mix = build(&path, 20, 10, 30).unwrap();
        assert_eq!(mix.selective.len(), 20);
        // Every selective query is two adjacent folded syllables of a lesson topic.
        for q in &mix.selective {
            assert!(
                ["tap hop", "hop va", "va menh", "menh de", "quang hop", "hop o", "o thuc", "thuc vat"]
                    .contains(&q.as_str()),
                "{q}"
            );
        }
        // Stress queries use only the commonest syllables.
        assert_eq!(mix.common[..4], ["bai", "giang", "hop", "toan"]);
        assert!(mix.stress.iter().all(|q| q.split(' ').all(|w| mix.common.iter().any(|c| c == w))));
        assert!(mix.eval.len() >= 90);
        assert_eq!(mix.prefixes.len(), 30);
        assert!(mix.prefixes.iter().all(|p| !p.is_empty()));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
