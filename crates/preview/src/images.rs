//! Images: thumbnails at the configured widths (never enlarged), JPEG-encoded.

use std::io::BufWriter;
use std::path::Path;

use hoclieu_domain::preview::PreviewImage;
use image::{ExtendedColorType, ImageEncoder};

use crate::{Error, Options, Output, Result};

/// Largest decoded image accepted (a 16-bit 8K photo fits; a decompression bomb does not).
const MAX_DECODED_BYTES: u64 = 512 << 20;

pub fn write_jpeg(path: &Path, rgb: &[u8], width: u32, height: u32) -> Result<()> {
    let file = BufWriter::new(std::fs::File::create(path)?);
    image::codecs::jpeg::JpegEncoder::new_with_quality(file, 80)
        .write_image(rgb, width, height, ExtendedColorType::Rgb8)
        .map_err(|e| Error::Corrupt(format!("cannot encode the preview: {e}")))
}

pub fn preview(path: &Path, work: &Path, options: &Options, out: &mut Output) -> Result<()> {
    let mut reader = image::ImageReader::open(path)?.with_guessed_format()?;
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(MAX_DECODED_BYTES);
    limits.max_image_width = Some(20_000);
    limits.max_image_height = Some(20_000);
    reader.limits(limits);
    let img = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(l) => Error::Limit(format!("image too large: {l}")),
        other => Error::Corrupt(format!("not a readable image: {other}")),
    })?;
    out.derived.width = Some(img.width());
    out.derived.height = Some(img.height());
    for &width in &options.limits.widths {
        let thumb = if img.width() > width { img.thumbnail(width, u32::MAX) } else { img.clone() };
        let rgb = thumb.to_rgb8();
        let name = format!("t-w{width}.jpg");
        let file = work.join(&name);
        write_jpeg(&file, rgb.as_raw(), rgb.width(), rgb.height())?;
        out.derived.images.push(PreviewImage { page: 0, width: rgb.width(), height: rgb.height(), name: name.clone() });
        out.files.push((name, file));
        if img.width() <= width {
            break;
        }
    }
    Ok(())
}
