//! Property tests of the parsers that read untrusted text: Vietnamese normalisation, import
//! lines (also the metadata part of uploads), grades, client addresses, media sniffing, zip entry
//! paths and account details. Whatever the input: no panic, and the outputs keep their promises.

use hoclieu_domain::net::{IpRange, client_address};
use hoclieu_domain::preview::safe_entry_path;
use hoclieu_domain::text::{clean, exact_word, fold_word, match_key, words};
use hoclieu_domain::{ImportRecord, Vocabularies};
use proptest::prelude::*;
use unicode_normalization::UnicodeNormalization;

/// Text biased towards Vietnamese: letters with every mark, combining marks alone (NFD input),
/// digits, separators, controls and anything else.
fn vietnamese() -> impl Strategy<Value = String> {
    let pieces = prop_oneof![
        4 => "[a-zA-Z ]{1,6}",
        4 => "[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđĐ]{1,4}",
        2 => "[\u{0300}\u{0301}\u{0303}\u{0309}\u{0323}\u{0302}\u{0306}\u{031B}]{1,2}",
        1 => "[0-9.,;:!?()\\-\"'\n\t\r]{1,3}",
        1 => "[\u{0}-\u{1f}\u{200b}-\u{200f}\u{202a}-\u{202e}\u{feff}]{1,2}",
        1 => any::<String>(),
    ];
    prop::collection::vec(pieces, 0..12).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn clean_is_idempotent_nfc_and_free_of_controls(s in vietnamese(), newlines in any::<bool>()) {
        let once = clean(&s, newlines);
        prop_assert_eq!(clean(&once, newlines), once.clone());
        prop_assert_eq!(once.nfc().collect::<String>(), once.clone());
        prop_assert!(!once.chars().any(|c| c.is_control() && c != '\n'));
        prop_assert!(once.trim() == once);
    }

    #[test]
    fn word_forms_are_stable(s in vietnamese()) {
        for w in words(&s) {
            let exact = exact_word(w);
            prop_assert_eq!(exact_word(&exact), exact.clone(), "exact forms are canonical");
            let folded = fold_word(w);
            prop_assert_eq!(fold_word(&folded), folded.clone());
            prop_assert_eq!(fold_word(&exact), folded.clone(), "folding ignores tone placement");
            let marked = |c: char| "àáảãạđĐ\u{0300}\u{0301}".contains(c);
            prop_assert!(!folded.chars().any(marked), "{} still has marks", folded);
        }
        let key = match_key(&s);
        prop_assert_eq!(match_key(&key), key);
        // NFD and NFC spellings of the same text are the same words.
        let nfd: String = s.nfd().collect();
        prop_assert_eq!(match_key(&nfd), match_key(&s));
    }

    #[test]
    fn import_lines_never_panic_and_valid_ones_validate(s in any::<String>(), title in vietnamese()) {
        let vocab = Vocabularies::embedded();
        if let Ok(r) = ImportRecord::from_json(&s) {
            let _ = r.validate(&vocab, false);
        }
        let line = serde_json::json!({"title": title, "subject": "toan", "resource_type": "video", "url": "https://a.vn/x"});
        let record = ImportRecord::from_json(&line.to_string()).unwrap();
        match record.validate(&vocab, false) {
            Ok(meta) => {
                prop_assert!(!meta.title.is_empty());
                prop_assert_eq!(clean(&meta.title, false), meta.title.clone());
            }
            Err(e) => prop_assert_eq!(e.field(), Some("title")),
        }
    }

    #[test]
    fn grades_are_one_to_twelve_or_nothing(s in "\\PC{0,12}", n in -100i64..100) {
        let vocab = Vocabularies::embedded();
        if let Some(g) = vocab.resolve_grade(&s) {
            prop_assert!((1..=12).contains(&g));
        }
        let expected = (1..=12).contains(&n).then_some(n as u8);
        prop_assert_eq!(vocab.resolve_grade(&n.to_string()), expected);
    }

    #[test]
    fn forwarded_for_is_ignored_from_untrusted_peers(header in "\\PC{0,80}", a in any::<[u8; 4]>()) {
        let trusted = [IpRange::parse("10.0.0.0/8").unwrap()];
        let peer = std::net::IpAddr::from([11, a[1], a[2], a[3]]);
        prop_assert_eq!(client_address(Some(peer), Some(&header), &trusted), Some(peer));
        // From a trusted proxy the answer is some address, never a panic.
        let proxy = std::net::IpAddr::from([10, a[1], a[2], a[3]]);
        prop_assert!(client_address(Some(proxy), Some(&header), &trusted).is_some());
    }

    #[test]
    fn sniffing_any_bytes_never_panics(head in prop::collection::vec(any::<u8>(), 0..600), name in "\\PC{0,40}") {
        let sniffed = hoclieu_domain::media::sniff(&head, &name);
        prop_assert!(!sniffed.media_type.is_empty());
    }

    #[test]
    fn safe_entry_paths_stay_inside(path in "[a-z./\\\\:]{0,20}") {
        if safe_entry_path(&path) {
            prop_assert!(!path.starts_with('/') && !path.contains('\\'));
            prop_assert!(!path.split('/').any(|p| p == ".."));
        }
    }

    #[test]
    fn account_details_never_panic(u in "\\PC{0,80}", d in "\\PC{0,80}", e in "\\PC{0,40}") {
        let vocab = Vocabularies::embedded();
        if let Ok(a) = hoclieu_domain::workflow::validate_account(&u, Some(&d), Some(&e), None, None, &vocab) {
            prop_assert!(a.username.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c)));
            prop_assert!(!a.display_name.chars().any(char::is_control));
        }
    }
}
