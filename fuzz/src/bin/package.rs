/// HTML5 and SCORM packages: zip reading within limits, manifests, launch pages.
fn main() {
    afl::fuzz!(|data: &[u8]| {
        hoclieu_fuzz::derive(data, "zip", hoclieu_domain::PreviewKind::Package, "application/zip");
    });
}
