//! Vietnamese analyzers for tantivy. Words, folding and tone placement come from
//! `hoclieu_domain::text`, so documents and queries are normalised by the same code.

use hoclieu_domain::text::{exact_word, fold_word, word_spans};
use tantivy::tokenizer::{TextAnalyzer, Token, TokenStream, Tokenizer};

/// Tokenizer names registered on the index.
pub const FOLD: &str = "vi_fold";
pub const EXACT: &str = "vi_exact";
pub const BIGRAM: &str = "vi_bigram";

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
}

#[derive(Clone)]
pub struct VietnameseTokenizer {
    mode: Mode,
    tokens: Vec<Token>,
}

impl VietnameseTokenizer {
    pub fn new(mode: Mode) -> Self {
        VietnameseTokenizer {
            mode,
            tokens: Vec::new(),
        }
    }

    pub fn analyzer(mode: Mode) -> TextAnalyzer {
        TextAnalyzer::from(Self::new(mode))
    }
}

/// Fills `out` with the tokens of `text` in `mode`.
pub fn tokenize(mode: Mode, text: &str, out: &mut Vec<Token>) {
    out.clear();
    let mut previous: Option<(usize, usize, String)> = None;
    for (position, (start, end)) in word_spans(text).enumerate() {
        let word = &text[start..end];
        if word.len() > MAX_WORD_BYTES {
            previous = None;
            continue;
        }
        match mode {
            Mode::Fold | Mode::Exact => {
                let text = if mode == Mode::Fold {
                    fold_word(word)
                } else {
                    exact_word(word)
                };
                out.push(Token {
                    offset_from: start,
                    offset_to: end,
                    position,
                    text,
                    position_length: 1,
                });
            }
            Mode::Bigram => {
                let folded = fold_word(word);
                if let Some((prev_start, prev_end, prev)) = &previous {
                    // Only words separated by spaces form a pair, never across punctuation.
                    if text[*prev_end..start].chars().all(char::is_whitespace) {
                        out.push(Token {
                            offset_from: *prev_start,
                            offset_to: end,
                            position: position - 1,
                            text: format!("{prev}_{folded}"),
                            position_length: 1,
                        });
                    }
                }
                previous = Some((start, end, folded));
            }
        }
    }
}

impl Tokenizer for VietnameseTokenizer {
    type TokenStream<'a> = VecTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> VecTokenStream<'a> {
        tokenize(self.mode, text, &mut self.tokens);
        VecTokenStream {
            tokens: &mut self.tokens,
            next: 0,
        }
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
        assert_eq!(
            texts(Mode::Fold, s),
            ["kiem", "tra", "hoa", "tan", "duong", "tron"]
        );
        assert_eq!(
            texts(Mode::Exact, s),
            ["kiểm", "tra", "hoà", "tan", "đường", "tròn"]
        );
        assert_eq!(
            texts(Mode::Bigram, s),
            ["kiem_tra", "hoa_tan", "duong_tron"]
        );
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
    fn overlong_words_are_skipped() {
        let s = format!("a {} b", "x".repeat(200));
        assert_eq!(texts(Mode::Fold, &s), ["a", "b"]);
        assert!(texts(Mode::Bigram, &s).is_empty());
    }
}
