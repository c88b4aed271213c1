fn main() {
    afl::fuzz!(|data: &[u8]| {
        hoclieu_fuzz::derive(data, "pdf", hoclieu_domain::PreviewKind::Pdf, "application/pdf");
    });
}
