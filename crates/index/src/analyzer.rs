//! Vietnamese analyzers for tantivy. Words, folding and tone placement come from
//! `hoclieu_domain::text`, so documents and queries are normalised by the same code.

use hoclieu_domain::spelling::roman;
use hoclieu_domain::text::{exact_word, fold_word, word_spans};
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

/// Tokenizer names registered on the index.
pub const FOLD: &str = "vi_fold";
pub const EXACT: &str = "vi_exact";
pub const BIGRAM: &str = "vi_bigram";
pub const PREFIX: &str = "vi_prefix";
pub const EXACT_BIGRAM: &str = "vi_bigram_exact";

/// Longest word prefix indexed for autocomplete.
pub const MAX_PREFIX_CHARS: usize = 12;

/// Words after which a Roman numeral is a number ("Bài IV", "Chương II", "học kì I").
pub(crate) const NUMBERED: [&str; 8] = ["bai", "chuong", "phan", "tiet", "tuan", "unit", "ki", "ky"];

/// Words longer than this (in bytes) are not indexed: they are noise (hashes, base64) and
/// tantivy refuses terms above 64 KiB.
const MAX_WORD_BYTES: usize = 100;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Lowercase, no diacritics, đ → d: "Đường" → "duong".
    Fold,
    /// Lowercase, NFC, canonical tone placement: "Hòa" → "hoà".
    Exact,
    /// Adjacent folded words within a phrase: "kiểm tra" → "kiem_tra".
    Bigram,
    /// Adjacent exact words within a phrase: "kiểm tra" → "kiểm_tra".
    ExactBigram,
    /// Every prefix of every folded word, for autocomplete: "Tập" → "t", "ta", "tap".
    Prefix,
}

#[derive(Clone)]
pub struct VietnameseTokenizer {
    mode: Mode,
    tokens: Vec<Token>,
}

impl VietnameseTokenizer {
    pub fn new(mode: Mode) -> Self {
        VietnameseTokenizer { mode, tokens: Vec::new() }
    }

    pub fn analyzer(mode: Mode) -> TextAnalyzer {
        TextAnalyzer::from(Self::new(mode))
    }
}

/// Fills `out` with the tokens of `text` in `mode`.
pub fn tokenize(mode: Mode, text: &str, out: &mut Vec<Token>) {
    out.clear();
    let mut previous: Option<(usize, usize, String)> = None;
    let mut previous_fold = String::new();
    for (position, (start, end)) in word_spans(text).enumerate() {
        let word = &text[start..end];
        if word.len() > MAX_WORD_BYTES {
            previous = None;
            continue;
        }
        let mut folded = fold_word(word);
        // "Bài IV" and "Bài 4" are the same lesson.
        let mut renumbered = false;
        if NUMBERED.contains(&previous_fold.as_str())
            && let Some(n) = roman(&folded)
        {
            folded = n.to_string();
            renumbered = true;
        }
        previous_fold.clone_from(&folded);
        let token = |text: String| Token { offset_from: start, offset_to: end, position, text, position_length: 1 };
        match mode {
            Mode::Fold => out.push(token(folded)),
            Mode::Exact => out.push(token(if renumbered { folded } else { exact_word(word) })),
            Mode::Prefix => {
                for (i, c) in folded.char_indices().take(MAX_PREFIX_CHARS) {
                    out.push(token(folded[..i + c.len_utf8()].to_owned()));
                }
            }
            Mode::Bigram | Mode::ExactBigram => {
                let key = if mode == Mode::Bigram || renumbered { folded } else { exact_word(word) };
                if let Some((prev_start, prev_end, prev)) = &previous {
                    // Only words separated by spaces form a pair, never across punctuation.
                    if text[*prev_end..start].chars().all(char::is_whitespace) {
                        out.push(Token {
                            offset_from: *prev_start,
                            offset_to: end,
                            position: position - 1,
                            text: format!("{prev}_{key}"),
                            position_length: 1,
                        });
                    }
                }
                previous = Some((start, end, key));
            }
        }
    }
}

impl Tokenizer for VietnameseTokenizer {
    type TokenStream<'a> = VecTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream<'a> {
        tokenize(self.mode, text, &mut self.tokens);
        VecTokenStream { tokens: &mut self.tokens, next: 0 }
    }
}

pub struct VecTokenStream<'a> {
    tokens: &'a mut Vec<Token>,
    next: usize,
}

impl TokenStream for VecTokenStream<'_> {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut Token {
        &mut self.tokens[self.next - 1]
    }
}

/// Registers the analyzers on an index.
pub fn register(index: &tantivy::Index) {
    let tokenizers = index.tokenizers();
    tokenizers.register(FOLD, VietnameseTokenizer::analyzer(Mode::Fold));
    tokenizers.register(EXACT, VietnameseTokenizer::analyzer(Mode::Exact));
    tokenizers.register(BIGRAM, VietnameseTokenizer::analyzer(Mode::Bigram));
    tokenizers.register(PREFIX, VietnameseTokenizer::analyzer(Mode::Prefix));
    tokenizers.register(EXACT_BIGRAM, VietnameseTokenizer::analyzer(Mode::ExactBigram));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(mode: Mode, s: &str) -> Vec<String> {
        let mut out = Vec::new();
        tokenize(mode, s, &mut out);
        out.into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn fold_exact_and_bigrams() {
        let s = "Kiểm tra: Hòa tan, đường tròn";
        assert_eq!(texts(Mode::Fold, s), ["kiem", "tra", "hoa", "tan", "duong", "tron"]);
        assert_eq!(texts(Mode::Exact, s), ["kiểm", "tra", "hoà", "tan", "đường", "tròn"]);
        assert_eq!(texts(Mode::Bigram, s), ["kiem_tra", "hoa_tan", "duong_tron"]);
        assert_eq!(texts(Mode::ExactBigram, s), ["kiểm_tra", "hoà_tan", "đường_tròn"]);
    }

    #[test]
    fn offsets_point_into_the_original_text_even_when_decomposed() {
        let nfd = "Bài giảng kie\u{302}\u{309}m tra";
        let mut out = Vec::new();
        tokenize(Mode::Fold, nfd, &mut out);
        let kiem = &out[2];
        assert_eq!(kiem.text, "kiem");
        assert_eq!(&nfd[kiem.offset_from..kiem.offset_to], "kie\u{302}\u{309}m");
    }

    #[test]
    fn roman_numbers_after_section_words_and_prefixes() {
        assert_eq!(
            texts(Mode::Fold, "Chương IV. Bài II, vitamin C, tiết VI"),
            ["chuong", "4", "bai", "2", "vitamin", "c", "tiet", "6"]
        );
        assert_eq!(texts(Mode::Exact, "Bài IV"), ["bài", "4"]);
        assert_eq!(texts(Mode::Prefix, "Tập hợp"), ["t", "ta", "tap", "h", "ho", "hop"]);
    }

    #[test]
    fn overlong_words_are_skipped() {
        let s = format!("a {} b", "x".repeat(200));
        assert_eq!(texts(Mode::Fold, &s), ["a", "b"]);
        assert!(texts(Mode::Bigram, &s).is_empty());
    }
}
