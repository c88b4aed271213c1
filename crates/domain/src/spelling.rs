//! Candidate corrections of a mistyped Vietnamese word: keyboard residue (Telex, VNI), the
//! spelling confusions of Vietnamese dialects, and plain edit distance. These only propose
//! candidates; whether a candidate is a real word is decided by the index's dictionary.

use unicode_normalization::UnicodeNormalization;

use crate::text::{exact_word, fold_word};

const ACUTE: char = '\u{301}';
const GRAVE: char = '\u{300}';
const HOOK: char = '\u{309}';
const TILDE: char = '\u{303}';
const DOT: char = '\u{323}';

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y' | 'â' | 'ă' | 'ê' | 'ô' | 'ơ' | 'ư')
}

/// Puts `tone` on `word` (a lowercase syllable with quality marks) and lets
/// [`exact_word`] move it to the right vowel.
fn with_tone(word: &str, tone: Option<char>) -> String {
    let Some(tone) = tone else { return word.nfc().collect() };
    let Some(at) = word.char_indices().find(|(_, c)| is_vowel(*c)).map(|(i, c)| i + c.len_utf8()) else {
        return word.to_owned();
    };
    let mut s = String::with_capacity(word.len() + 2);
    s.push_str(&word[..at]);
    s.push(tone);
    s.push_str(&word[at..]);
    exact_word(&s)
}

/// A word typed with Vietnamese Telex while the input method was off: "nguyeen" → "nguyên",
/// "hamf" → "hàm", "toans" → "toán", "dduwowngf" → "đường". `None` when the word carries no
/// Telex keys or already has diacritics.
pub fn telex(word: &str) -> Option<String> {
    let w = word.to_lowercase();
    if !w.is_ascii() || w.len() < 2 {
        return None;
    }
    let chars: Vec<char> = w.chars().collect();
    let mut out = String::with_capacity(w.len());
    let mut tone = None;
    let mut seen_vowel = false;
    let mut changed = false;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        match (c, next) {
            ('d', Some('d')) if i == 0 => {
                out.push('đ');
                i += 2;
                changed = true;
                continue;
            }
            ('a', Some('a')) | ('e', Some('e')) | ('o', Some('o')) => {
                out.push(match c {
                    'a' => 'â',
                    'e' => 'ê',
                    _ => 'ô',
                });
                i += 2;
                seen_vowel = true;
                changed = true;
                continue;
            }
            ('a', Some('w')) | ('o', Some('w')) | ('u', Some('w')) => {
                out.push(match c {
                    'a' => 'ă',
                    'o' => 'ơ',
                    _ => 'ư',
                });
                i += 2;
                seen_vowel = true;
                changed = true;
                continue;
            }
            _ => {}
        }
        if seen_vowel && matches!(c, 's' | 'f' | 'r' | 'x' | 'j' | 'z') {
            // After a vowel these are tone keys: no Vietnamese final consonant uses them.
            tone = match c {
                's' => Some(ACUTE),
                'f' => Some(GRAVE),
                'r' => Some(HOOK),
                'x' => Some(TILDE),
                'j' => Some(DOT),
                _ => None,
            };
            changed = true;
        } else if c == 'w' {
            out.push('ư');
            seen_vowel = true;
            changed = true;
        } else {
            seen_vowel |= is_vowel(c);
            out.push(c);
        }
        i += 1;
    }
    // "uơ" typed as "uow" is "ươ".
    let out = out.replace("uơ", "ươ");
    changed.then(|| with_tone(&out, tone)).filter(|s| s != word)
}

/// A word typed with VNI while the input method was off: "toa1n" or "toan1" → "toán",
/// "d9u7o7ng2" → "đường". `None` unless the word mixes letters with VNI digits.
pub fn vni(word: &str) -> Option<String> {
    let w = word.to_lowercase();
    if !w.is_ascii() || !w.chars().any(|c| c.is_ascii_digit()) || !w.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None;
    }
    let mut out: Vec<char> = Vec::with_capacity(w.len());
    let mut tone = None;
    for c in w.chars() {
        match c {
            '1'..='5' => {
                tone = Some([ACUTE, GRAVE, HOOK, TILDE, DOT][c as usize - '1' as usize]);
            }
            '6' | '7' | '8' => {
                let target = out.iter().rposition(|&v| match c {
                    '6' => matches!(v, 'a' | 'e' | 'o'),
                    '7' => matches!(v, 'o' | 'u'),
                    _ => v == 'a',
                })?;
                out[target] = match (c, out[target]) {
                    ('6', 'a') => 'â',
                    ('6', 'e') => 'ê',
                    ('6', _) => 'ô',
                    ('7', 'o') => 'ơ',
                    ('7', _) => 'ư',
                    _ => 'ă',
                };
                // "u7o7" and "uo7" both mean "ươ".
                if c == '7' && out[target] == 'ơ' && target > 0 && out[target - 1] == 'u' {
                    out[target - 1] = 'ư';
                }
            }
            '9' => {
                let d = out.iter().position(|&v| v == 'd')?;
                out[d] = 'đ';
            }
            c if c.is_ascii_alphabetic() => out.push(c),
            _ => return None,
        }
    }
    let s: String = out.into_iter().collect();
    Some(with_tone(&s, tone)).filter(|r| r != word)
}

/// Folded spellings a Vietnamese speaker may confuse with `folded` (s/x, ch/tr, d/gi/r, l/n at
/// the start; c/t, n/ng, i/y at the end), without `folded` itself.
pub fn confusions(folded: &str) -> Vec<String> {
    const ONSETS: [&[&str]; 5] = [&["s", "x"], &["ch", "tr"], &["d", "gi", "r"], &["l", "n"], &["v", "d"]];
    const CODAS: [&[&str]; 3] = [&["c", "t"], &["n", "ng"], &["i", "y"]];
    let mut out = Vec::new();
    for group in ONSETS {
        // Longest onset first, so "gi" is not read as "g" + "i".
        let mut sorted: Vec<&str> = group.to_vec();
        sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
        if let Some(onset) =
            sorted.iter().find(|o| folded.starts_with(**o) && !(o.len() == 1 && **o == "n" && folded.starts_with("ng")))
        {
            let rest = &folded[onset.len()..];
            if rest.starts_with(|c: char| "aeiouy".contains(c)) || *onset != "d" {
                out.extend(group.iter().filter(|o| *o != onset).map(|o| format!("{o}{rest}")));
            }
        }
    }
    for group in CODAS {
        let mut sorted: Vec<&str> = group.to_vec();
        sorted.sort_by_key(|s| std::cmp::Reverse(s.len()));
        if let Some(coda) = sorted.iter().find(|c| folded.ends_with(**c) && folded.len() > c.len()) {
            let stem = &folded[..folded.len() - coda.len()];
            out.extend(group.iter().filter(|c| *c != coda).map(|c| format!("{stem}{c}")));
        }
    }
    out.retain(|s| s != folded);
    out.sort();
    out.dedup();
    out
}

/// Every string one edit (delete, transpose, replace, insert of a–z) away from `folded`.
pub fn edits1(folded: &str) -> Vec<String> {
    let chars: Vec<char> = folded.chars().collect();
    let n = chars.len();
    let mut out = Vec::with_capacity(54 * n + 25);
    let join = |v: &[char]| v.iter().collect::<String>();
    for i in 0..n {
        let mut v = chars.clone();
        v.remove(i);
        out.push(join(&v));
        if i + 1 < n {
            let mut v = chars.clone();
            v.swap(i, i + 1);
            out.push(join(&v));
        }
        for c in 'a'..='z' {
            if c != chars[i] {
                let mut v = chars.clone();
                v[i] = c;
                out.push(join(&v));
            }
        }
    }
    for i in 0..=n {
        for c in 'a'..='z' {
            let mut v = chars.clone();
            v.insert(i, c);
            out.push(join(&v));
        }
    }
    out.sort();
    out.dedup();
    out.retain(|s| s != folded);
    out
}

/// The value of a Roman numeral from I to L ("iv" → 4), case-insensitive.
pub fn roman(word: &str) -> Option<u32> {
    let w = word.to_ascii_lowercase();
    if w.is_empty() || w.len() > 6 || !w.chars().all(|c| matches!(c, 'i' | 'v' | 'x' | 'l')) {
        return None;
    }
    let value = |c| match c {
        'i' => 1,
        'v' => 5,
        'x' => 10,
        _ => 50,
    };
    let digits: Vec<u32> = w.chars().map(value).collect();
    let mut total = 0;
    for (i, d) in digits.iter().enumerate() {
        if digits.get(i + 1).is_some_and(|n| n > d) { total -= *d as i64 } else { total += *d as i64 }
    }
    let total = u32::try_from(total).ok().filter(|t| (1..=50).contains(t))?;
    // Only canonical spellings ("iv", not "iiii").
    (to_roman(total) == w).then_some(total)
}

fn to_roman(mut n: u32) -> String {
    let mut s = String::new();
    for (v, r) in [(50, "l"), (40, "xl"), (10, "x"), (9, "ix"), (5, "v"), (4, "iv"), (1, "i")] {
        while n >= v {
            s.push_str(r);
            n -= v;
        }
    }
    s
}

/// Whether `folded` may be a whole Vietnamese syllable typed without diacritics (used to avoid
/// "correcting" foreign words and codes).
pub fn looks_vietnamese(folded: &str) -> bool {
    folded.len() <= 7 && folded.chars().all(|c| c.is_ascii_lowercase()) && folded.chars().any(|c| "aeiouy".contains(c))
}

/// [`fold_word`] of a correction, for dictionary lookups.
pub fn key(word: &str) -> String {
    fold_word(word)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn telex_residue() {
        for (typed, want) in [
            ("nguyeen", "nguyên"),
            ("hamf", "hàm"),
            ("toans", "toán"),
            ("dduwowngf", "đường"),
            ("tieesng", "tiếng"),
            ("vieejt", "việt"),
            ("hoaf", "hoà"),
            ("kieemr", "kiểm"),
            ("traf", "trà"),
            ("hojc", "học"),
            ("lowps", "lớp"),
        ] {
            assert_eq!(telex(typed).as_deref(), Some(want), "{typed}");
        }
        assert_eq!(telex("toan"), None);
        assert_eq!(telex("toán"), None);
    }

    #[test]
    fn vni_residue() {
        for (typed, want) in
            [("toa1n", "toán"), ("toan1", "toán"), ("d9u7o7ng2", "đường"), ("ho5c", "học"), ("lo7p1", "lớp")]
        {
            assert_eq!(vni(typed).as_deref(), Some(want), "{typed}");
        }
        assert_eq!(vni("toan"), None);
        assert_eq!(vni("10"), None);
    }

    #[test]
    fn dialect_confusions() {
        assert!(confusions("sac").contains(&"xac".to_owned()));
        assert!(confusions("xuat").contains(&"suat".to_owned()));
        assert!(confusions("truong").contains(&"chuong".to_owned()));
        assert!(confusions("gia").contains(&"da".to_owned()) && confusions("gia").contains(&"ra".to_owned()));
        assert!(confusions("luc").contains(&"nuc".to_owned()) && confusions("luc").contains(&"lut".to_owned()));
        assert!(confusions("nang").contains(&"lang".to_owned()) && confusions("nang").contains(&"nan".to_owned()));
        assert!(!confusions("nga").iter().any(|c| c == "lga"), "ng is one consonant");
    }

    #[test]
    fn edits_and_romans() {
        let e = edits1("toan");
        assert!(e.contains(&"tona".to_owned()) && e.contains(&"toa".to_owned()) && e.contains(&"toaan".to_owned()));
        assert!(!e.contains(&"toan".to_owned()));
        assert_eq!(roman("IV"), Some(4));
        assert_eq!(roman("xii"), Some(12));
        assert_eq!(roman("iiii"), None);
        assert_eq!(roman("mix"), None);
    }
}
