//! Plain text and HTML files: decoded (UTF-8, or UTF-16 with a byte-order mark) and, for
//! HTML, reduced to their visible text.

use std::io::Read;
use std::path::Path;

use hoclieu_domain::preview::Limits;

use crate::Result;

/// Bytes of a text file read for its text: more would not be kept anyway.
const MAX_TEXT_FILE_BYTES: u64 = 16 << 20;

pub fn text_file(path: &Path, media_type: &str, _limits: &Limits) -> Result<String> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.take(MAX_TEXT_FILE_BYTES).read_to_end(&mut bytes)?;
    let text = decode(&bytes);
    Ok(if media_type == "text/html" { html_to_text(&text) } else { text })
}

pub fn decode(bytes: &[u8]) -> String {
    let utf16 = |b: &[u8], le: bool| {
        let units: Vec<u16> = b
            .chunks_exact(2)
            .map(|c| if le { u16::from_le_bytes([c[0], c[1]]) } else { u16::from_be_bytes([c[0], c[1]]) })
            .collect();
        String::from_utf16_lossy(&units)
    };
    match bytes {
        [0xEF, 0xBB, 0xBF, rest @ ..] => String::from_utf8_lossy(rest).into_owned(),
        [0xFF, 0xFE, rest @ ..] => utf16(rest, true),
        [0xFE, 0xFF, rest @ ..] => utf16(rest, false),
        _ => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// The visible text of an HTML document: tags removed, `script`/`style` skipped, block
/// elements on their own lines, character references resolved.
pub fn html_to_text(html: &str) -> String {
    const BLOCKS: [&str; 16] =
        ["p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "title", "section", "article", "td", "th"];
    let mut out = String::with_capacity(html.len() / 2);
    let mut rest = html;
    while let Some(lt) = rest.find('<') {
        push_text(&rest[..lt], &mut out);
        rest = &rest[lt..];
        if let Some(after) = rest.strip_prefix("<!--") {
            rest = after.find("-->").map_or("", |i| &after[i + 3..]);
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag = &rest[1..gt];
        rest = &rest[gt + 1..];
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        if (name == "script" || name == "style") && !tag.starts_with('/') && !tag.ends_with('/') {
            let close = format!("</{name}");
            let lower = rest.to_ascii_lowercase();
            rest = lower.find(&close).map_or("", |i| &rest[i..]);
            continue;
        }
        if BLOCKS.contains(&name.as_str()) {
            out.push('\n');
        } else {
            out.push(' ');
        }
    }
    push_text(rest, &mut out);
    out
}

fn push_text(s: &str, out: &mut String) {
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let end = rest[1..].find(|c: char| c == ';' || c.is_whitespace() || c == '&').map(|i| i + 1);
        match end.filter(|&i| rest.as_bytes().get(i) == Some(&b';')).and_then(|i| entity(&rest[1..i]).map(|c| (i, c))) {
            Some((i, c)) => {
                out.push(c);
                rest = &rest[i + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
}

fn entity(name: &str) -> Option<char> {
    if let Some(num) = name.strip_prefix('#') {
        let code = match num.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => num.parse().ok()?,
        };
        return char::from_u32(code).filter(|&c| c != '\0');
    }
    crate::office::predefined_entity(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn visible_text_only() {
        let html = "<html><head><title>Bài 1</title><style>p{color:red}</style>\
            <script>var x = '<p>không</p>';</script></head><body><!-- ghi chú -->\
            <h1>Tập hợp</h1><p>Phần tử &amp; tập&#x20;con&nbsp;&#7871;</p>AT&T &copy2</body></html>";
        let text = hoclieu_domain::text::clean(&html_to_text(html), true);
        assert_eq!(text, "Bài 1\nTập hợp\nPhần tử & tập con ế\nAT&T &copy2");
    }

    #[test]
    fn byte_order_marks() {
        assert_eq!(decode(b"\xEF\xBB\xBFb\xC3\xA0i"), "bài");
        let utf16: Vec<u8> = [0xFF, 0xFE].into_iter().chain("bài".encode_utf16().flat_map(u16::to_le_bytes)).collect();
        assert_eq!(decode(&utf16), "bài");
    }
}
