//! Reading zips (Office files, OpenDocument, packages) within limits: at most so many entries,
//! at most so many decompressed bytes in all — whatever the headers claim — and no entry
//! whose path leaves the archive.

use std::fs::File;
use std::io::Read;
use std::path::Path;

use hoclieu_domain::preview::{Limits, safe_entry_path};

use crate::{Error, Result};

/// Largest single entry read into memory (an XML part, a launch page): whatever the total budget.
const MAX_ENTRY_BYTES: u64 = 64 << 20;

pub struct Zip {
    archive: zip::ZipArchive<File>,
    names: Vec<String>,
    /// Decompressed bytes still allowed.
    budget: u64,
}

impl Zip {
    pub fn open(path: &Path, limits: &Limits) -> Result<Zip> {
        let archive = zip::ZipArchive::new(File::open(path)?).map_err(|e| Error::Corrupt(format!("not a zip: {e}")))?;
        if archive.len() > limits.max_zip_entries {
            return Err(Error::Limit(format!("{} entries (at most {})", archive.len(), limits.max_zip_entries)));
        }
        let mut names = Vec::with_capacity(archive.len());
        for name in archive.file_names() {
            let name = name.map_err(|e| Error::Corrupt(format!("entry name: {e}")))?;
            if !safe_entry_path(name.trim_end_matches('/')) {
                return Err(Error::UnsafePath(name.into_owned()));
            }
            names.push(name.into_owned());
        }
        Ok(Zip { archive, names, budget: limits.max_unzipped_bytes })
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    pub fn contains(&self, name: &str) -> bool {
        self.archive.index_for_name(name).is_some()
    }

    /// The entry's bytes, counted against the budget; `None` when there is no such entry.
    pub fn read(&mut self, name: &str) -> Result<Option<Vec<u8>>> {
        let Some(index) = self.archive.index_for_name(name) else { return Ok(None) };
        let entry = self.archive.by_index(index).map_err(|e| Error::Corrupt(format!("{name}: {e}")))?;
        let mut out = Vec::new();
        let allowed = self.budget.min(MAX_ENTRY_BYTES);
        // Read one byte past the limit to tell "exactly at the limit" from "beyond it".
        entry.take(allowed + 1).read_to_end(&mut out).map_err(|e| Error::Corrupt(format!("{name}: {e}")))?;
        if out.len() as u64 > allowed {
            return Err(Error::Limit(format!("{name} decompresses to more than {} MiB", allowed >> 20)));
        }
        self.budget -= out.len() as u64;
        Ok(Some(out))
    }

    /// Where each entry is in the file, for serving entries without unpacking.
    pub fn entries(&mut self) -> Result<Vec<hoclieu_domain::preview::PackageEntry>> {
        let mut out = Vec::with_capacity(self.archive.len());
        for i in 0..self.archive.len() {
            let e = self.archive.by_index_raw(i).map_err(|e| Error::Corrupt(e.to_string()))?;
            if e.is_dir() {
                continue;
            }
            let method = match e.compression() {
                zip::CompressionMethod::Stored => 0,
                zip::CompressionMethod::Deflated => 8,
                _ => continue,
            };
            let entry = hoclieu_domain::preview::PackageEntry {
                path: e.name().map_err(|e| Error::Corrupt(e.to_string()))?.into_owned(),
                offset: e.header_start(),
                compressed_size: e.compressed_size(),
                size: e.size(),
                method,
            };
            // Entries too large or too compressed to be real content are not served.
            if entry.servable() {
                out.push(entry);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use proptest::prelude::*;

    use super::*;

    /// A small valid zip: a page and a stylesheet, deflated.
    fn valid_zip() -> Vec<u8> {
        let mut out = std::io::Cursor::new(Vec::new());
        let mut w = zip::ZipWriter::new(&mut out);
        let opts = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
        w.start_file("index.html", opts).unwrap();
        w.write_all("<h1>Bài học</h1>".repeat(20).as_bytes()).unwrap();
        w.start_file("css/a.css", opts).unwrap();
        w.write_all(b"h1{color:red}").unwrap();
        w.finish().unwrap();
        out.into_inner()
    }

    /// Opens, lists, reads and locates every entry: any outcome but a panic.
    fn read_everything(bytes: &[u8]) {
        let file = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(file.path(), bytes).unwrap();
        let limits = Limits { max_unzipped_bytes: 1 << 20, ..Limits::default() };
        let Ok(mut zip) = Zip::open(file.path(), &limits) else { return };
        let names: Vec<String> = zip.names().map(str::to_owned).collect();
        for name in names {
            let _ = zip.read(&name);
        }
        if let Ok(entries) = zip.entries() {
            assert!(entries.iter().all(|e| e.servable()));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

        #[test]
        fn arbitrary_bytes_are_not_a_problem(bytes in prop::collection::vec(any::<u8>(), 0..2000)) {
            read_everything(&bytes);
        }

        #[test]
        fn damaged_zips_are_not_a_problem(flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12)) {
            let mut bytes = valid_zip();
            for (at, value) in flips {
                let i = at.index(bytes.len());
                bytes[i] = value;
            }
            read_everything(&bytes);
        }

        #[test]
        fn any_html_has_text(html in "(<[a-z!/]{0,8}[^>]{0,10}>?|&[a-z#0-9]{0,6};?|[^<&]{0,10}){0,30}") {
            let text = crate::html::html_to_text(&crate::html::decode(html.as_bytes()));
            prop_assert!(text.len() <= html.len() * 4 + 16);
        }
    }
}
