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
            out.push(hoclieu_domain::preview::PackageEntry {
                path: e.name().map_err(|e| Error::Corrupt(e.to_string()))?.into_owned(),
                offset: e.header_start(),
                compressed_size: e.compressed_size(),
                size: e.size(),
                method,
            });
        }
        Ok(out)
    }
}
