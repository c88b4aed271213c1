/// DOCX, PPTX and XLSX, by the first byte of the input (the rest is the file).
fn main() {
    const TYPES: [(&str, &str); 3] = [
        ("docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
        ("pptx", "application/vnd.openxmlformats-officedocument.presentationml.presentation"),
        ("xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    ];
    afl::fuzz!(|data: &[u8]| {
        let Some((&which, file)) = data.split_first() else { return };
        let (ext, media) = TYPES[usize::from(which) % TYPES.len()];
        hoclieu_fuzz::derive(file, ext, hoclieu_domain::PreviewKind::Office, media);
    });
}
