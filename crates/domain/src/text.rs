//! Vietnamese text normalisation: the one place that decides when two spellings are "the same".
//!
//! Every other crate (vocabulary matching, the index analyzers, query parsing) calls these
//! functions, so a word is normalised identically at index time and at query time.
//!
//! Three levels of sameness:
//! - [`nfc`]: Unicode NFC only (what we store; decomposed input from macOS or some keyboards
//!   would otherwise split words into fragments).
//! - [`exact_word`]: lowercase, NFC, tone mark moved to its canonical vowel ("hòa" = "hoà",
//!   "thúy" = "thuý", "taị" = "tại"). Diacritics still distinguish words ("dương" ≠ "đường").
//! - [`fold_word`]: lowercase, every diacritic removed, đ → d ("Đường" = "duong").

use unicode_normalization::UnicodeNormalization;
use unicode_normalization::char::is_combining_mark as unicode_combining_mark;

/// Whether `c` is a combining mark. ASCII never is: the check skips the Unicode table for the
/// most common characters of Vietnamese text (indexing spends much of its time here).
#[inline]
fn is_combining_mark(c: char) -> bool {
    !c.is_ascii() && unicode_combining_mark(c)
}

/// Unicode NFC form of `s`.
pub fn nfc(s: &str) -> String {
    s.nfc().collect()
}

/// `s` in NFC with control characters removed (keeping `\n` when `keep_newlines`), runs of
/// whitespace collapsed to one space (or one newline) and trimmed. Used on every text field
/// a user submits.
pub fn clean(s: &str, keep_newlines: bool) -> String {
    let mut out = String::with_capacity(s.len());
    let mut pending: Option<char> = None;
    let mut dropped = false;
    for c in s.nfc() {
        if c.is_whitespace() {
            let sep = if keep_newlines && c == '\n' { '\n' } else { ' ' };
            pending = match pending {
                Some('\n') => Some('\n'),
                _ => Some(sep),
            };
        } else if c.is_control() || is_bidi_control(c) {
            dropped = true;
        } else {
            if let Some(sep) = pending.take()
                && !out.is_empty()
            {
                out.push(sep);
            }
            out.push(c);
        }
    }
    // A removed character may have kept a letter from its mark ("c\u{200B}\u{301}"): compose
    // again so the result is NFC.
    if dropped { out.nfc().collect() } else { out }
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

/// A character that belongs inside a word: letters, digits and combining marks (so text in
/// NFD still forms whole words).
pub fn is_word_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric();
    }
    c.is_alphanumeric() || is_combining_mark(c)
}

/// Byte ranges of the words of `s`. A word is a run of [`is_word_char`] characters; a switch
/// between letters and digits also ends a word ("toán10" → "toán", "10").
pub fn word_spans(s: &str) -> impl Iterator<Item = (usize, usize)> + '_ {
    let mut chars = s.char_indices().peekable();
    std::iter::from_fn(move || {
        // Skip separators.
        let (start, first) = loop {
            let (i, c) = chars.next()?;
            if is_word_char(c) && !is_combining_mark(c) {
                break (i, c);
            }
        };
        let mut digits = first.is_ascii_digit();
        let mut end = start + first.len_utf8();
        while let Some(&(i, c)) = chars.peek() {
            if !is_word_char(c) {
                break;
            }
            if !is_combining_mark(c) {
                let d = c.is_ascii_digit();
                if d != digits {
                    break;
                }
                digits = d;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        Some((start, end))
    })
}

/// The words of `s` as slices.
pub fn words(s: &str) -> impl Iterator<Item = &str> + '_ {
    word_spans(s).map(move |(a, b)| &s[a..b])
}

// Combining marks of Vietnamese, after NFD.
const GRAVE: char = '\u{300}';
const ACUTE: char = '\u{301}';
const TILDE: char = '\u{303}';
const HOOK: char = '\u{309}';
const DOT_BELOW: char = '\u{323}';
const CIRCUMFLEX: char = '\u{302}';
const BREVE: char = '\u{306}';
const HORN: char = '\u{31B}';

fn is_tone(c: char) -> bool {
    matches!(c, GRAVE | ACUTE | TILDE | HOOK | DOT_BELOW)
}

fn is_vowel(c: char) -> bool {
    matches!(c, 'a' | 'e' | 'i' | 'o' | 'u' | 'y')
}

/// One letter of a word after NFD: the base letter, its other marks, and whether it carries
/// a quality mark (â ă ê ô ơ ư) that attracts the tone.
struct Letter {
    base: char,
    marks: Vec<char>,
}

impl Letter {
    fn has_quality_mark(&self) -> bool {
        self.marks.iter().any(|&m| matches!(m, CIRCUMFLEX | BREVE | HORN))
    }
    fn is_horn(&self) -> bool {
        self.marks.contains(&HORN)
    }
}

/// `word` lowercased, in NFC, with its tone mark on the vowel where the "new style" rule puts
/// it (the style of the 2018 textbooks: "hoà", "thuý", "khoẻ"). Words without a tone mark, or
/// that are not Vietnamese syllables, come back lowercased and in NFC.
pub fn exact_word(word: &str) -> String {
    // Plain ASCII has no marks to place or compose.
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    let lower = word.to_lowercase();
    let mut letters: Vec<Letter> = Vec::with_capacity(lower.len());
    let mut tone = None;
    for c in lower.nfd() {
        if is_combining_mark(c) {
            if is_tone(c) {
                tone.get_or_insert(c);
            } else if let Some(last) = letters.last_mut() {
                last.marks.push(c);
            }
        } else {
            letters.push(Letter { base: c, marks: Vec::new() });
        }
    }
    let Some(tone) = tone else {
        return lower.nfc().collect();
    };
    let Some(position) = tone_position(&letters) else {
        // Not a syllable we understand: leave the tone where the user put it.
        return lower.nfc().collect();
    };
    let mut out = String::with_capacity(lower.len() + 2);
    for (i, letter) in letters.iter().enumerate() {
        out.push(letter.base);
        out.extend(letter.marks.iter());
        if i == position {
            out.push(tone);
        }
    }
    out.nfc().collect()
}

/// Index of the letter that carries the tone, by the new-style placement rule.
fn tone_position(letters: &[Letter]) -> Option<usize> {
    let first_vowel = letters.iter().position(|l| is_vowel(l.base))?;
    let mut start = first_vowel;
    // "qu" and "gi" + vowel: the u / i belong to the initial consonant.
    if start > 0 {
        let prev = letters[start - 1].base;
        let next_is_vowel = letters.get(start + 1).is_some_and(|l| is_vowel(l.base));
        if (prev == 'q' && letters[start].base == 'u' && next_is_vowel)
            || (prev == 'g' && start == 1 && letters[start].base == 'i' && next_is_vowel)
        {
            start += 1;
        }
    }
    let end = letters[start..].iter().position(|l| !is_vowel(l.base)).map_or(letters.len(), |p| start + p);
    // Anything after the coda that is a vowel again means this is not one syllable.
    if letters[end..].iter().any(|l| is_vowel(l.base)) {
        return None;
    }
    let nucleus = start..end;
    // A vowel with a quality mark takes the tone; in "ươ" the second one (ơ).
    let marked: Vec<usize> = nucleus.clone().filter(|&i| letters[i].has_quality_mark()).collect();
    if let Some(&last) = marked.last() {
        let pick = if marked.len() > 1 && letters[marked[0]].is_horn() { last } else { marked[0] };
        return Some(pick);
    }
    let len = nucleus.len();
    let has_coda = end < letters.len();
    Some(match len {
        1 => start,
        _ if has_coda => end - 1,
        2 => {
            let pair = (letters[start].base, letters[start + 1].base);
            if matches!(pair, ('o', 'a') | ('o', 'e') | ('u', 'y')) { start + 1 } else { start }
        }
        _ => start + 1,
    })
}

/// `word` lowercased with every diacritic removed and đ folded to d.
pub fn fold_word(word: &str) -> String {
    if word.is_ascii() {
        return word.to_ascii_lowercase();
    }
    let mut out = String::with_capacity(word.len());
    for c in word.nfd() {
        if is_combining_mark(c) {
            continue;
        }
        match c {
            'đ' | 'Đ' => out.push('d'),
            c if c.is_ascii() => out.push(c.to_ascii_lowercase()),
            c => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// Whether `word` carries any diacritic (tone or quality mark, or đ).
pub fn has_diacritics(word: &str) -> bool {
    word.nfd().any(|c| is_combining_mark(c) || c == 'đ' || c == 'Đ')
}

/// A key under which spellings of a name compare equal: folded words joined by '-'.
/// "Hoá học", "Hóa học", "hoa hoc" and "hoa-hoc" all give "hoa-hoc".
pub fn match_key(s: &str) -> String {
    let mut key = String::with_capacity(s.len());
    for w in words(s) {
        if !key.is_empty() {
            key.push('-');
        }
        key.push_str(&fold_word(w));
    }
    key
}

/// Folded text of `s` (words folded, joined by single spaces).
pub fn fold_text(s: &str) -> String {
    match_key(s).replace('-', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ascii_words_take_the_fast_path_to_the_same_result() {
        for w in ["KNTT", "Toan", "tap", "10", "hoa"] {
            assert_eq!(exact_word(w), w.to_lowercase());
            assert_eq!(fold_word(w), w.to_lowercase());
        }
        // Non-ASCII still goes through decomposition.
        assert_eq!(fold_word("ĐƯỜNG"), "duong");
        assert_eq!(exact_word("HÒA"), "hoà");
        assert_eq!(words("KNTT-toán10 tập\u{0323}").collect::<Vec<_>>(), ["KNTT", "toán", "10", "tập\u{0323}"]);
    }

    #[test]
    fn nfc_joins_decomposed_text() {
        let nfd = "Kie\u{302}\u{309}m tra";
        assert_eq!(nfc(nfd), "Kiểm tra");
        assert_eq!(words(nfd).collect::<Vec<_>>(), vec!["Kie\u{302}\u{309}m", "tra"]);
    }

    #[test]
    fn clean_collapses_space_and_drops_controls() {
        assert_eq!(clean("  Bài\t 1:\u{0007} Tập\u{200B} hợp \n\n ", false), "Bài 1: Tập hợp");
        assert_eq!(clean("Dòng 1\n\n  Dòng 2", true), "Dòng 1\nDòng 2");
    }

    #[test]
    fn words_split_letters_from_digits() {
        assert_eq!(
            words("toán10, lớp-5 (bài 2.3)").collect::<Vec<_>>(),
            vec!["toán", "10", "lớp", "5", "bài", "2", "3"]
        );
    }

    #[test]
    fn tone_placement_old_and_new_styles_agree() {
        for (old, new) in [
            ("hòa", "hoà"),
            ("Hóa", "hoá"),
            ("thúy", "thuý"),
            ("thủy", "thuỷ"),
            ("khỏe", "khoẻ"),
            ("taị", "tại"),
            ("vựơt", "vượt"),
            ("hoàn", "hoàn"),
            ("quá", "quá"),
            ("giữa", "giữa"),
            ("người", "người"),
            ("ngoài", "ngoài"),
            ("gì", "gì"),
            ("mía", "mía"),
            ("khuỷu", "khuỷu"),
            ("thuở", "thuở"),
            ("rượu", "rượu"),
            ("TOÁN", "toán"),
        ] {
            assert_eq!(exact_word(old), new, "{old}");
            assert_eq!(exact_word(new), new, "{new}");
        }
    }

    #[test]
    fn exact_keeps_distinct_words_distinct() {
        let forms: Vec<String> = ["dương", "đường", "dưỡng", "duong"].iter().map(|w| exact_word(w)).collect();
        for (i, a) in forms.iter().enumerate() {
            for b in &forms[i + 1..] {
                assert_ne!(a, b);
            }
        }
    }

    #[test]
    fn folding_removes_every_mark_and_d_stroke() {
        assert_eq!(fold_word("Đường"), "duong");
        assert_eq!(fold_word("dưỡng"), "duong");
        assert_eq!(fold_word("Kie\u{302}\u{309}m"), "kiem");
        assert_eq!(fold_text("Thanh Hoá — Thanh Hóa"), "thanh hoa thanh hoa");
        assert!(has_diacritics("đi"));
        assert!(!has_diacritics("di"));
    }

    #[test]
    fn match_key_ignores_case_marks_and_separators() {
        for s in ["Hoá học", "Hóa học", "hoa hoc", "hoa-hoc", "  HOÁ   HỌC "] {
            assert_eq!(match_key(s), "hoa-hoc", "{s}");
        }
        assert_eq!(match_key("LS&ĐL"), "ls-dl");
    }
}
