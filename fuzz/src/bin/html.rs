/// HTML and plain text: decoding and visible text.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        hoclieu_fuzz::derive(data, "html", hoclieu_domain::PreviewKind::Text, "text/html");
    });
}
