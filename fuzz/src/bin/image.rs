/// Images: decoding within limits and thumbnails.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        hoclieu_fuzz::derive(data, "png", hoclieu_domain::PreviewKind::Image, "image/png");
    });
}
