//! PDF: text (pdf-extract), page count and page images (hayro in process; `pdftoppm` when
//! hayro cannot render the file).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::Path;

use hoclieu_domain::preview::{PreviewImage, page_image_name};

use crate::{Error, Options, Output, Result, images, process};

/// PDFs larger than this are previewed but their text is not extracted in memory.
const MAX_TEXT_PDF_BYTES: u64 = 256 << 20;

/// The text of a PDF, or `None` when it has none or cannot be read.
pub fn text(path: &Path, _options: &Options) -> Option<String> {
    if std::fs::metadata(path).ok()?.len() > MAX_TEXT_PDF_BYTES {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    // A malformed file must not take the worker down with it.
    match catch_unwind(AssertUnwindSafe(|| pdf_extract::extract_text_from_mem(&bytes))) {
        Ok(Ok(text)) => Some(text),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "no text from PDF");
            None
        }
        Err(_) => {
            tracing::debug!("PDF text extraction panicked");
            None
        }
    }
}

/// Page count and images of the first pages at every configured width.
pub fn preview(path: &Path, work: &Path, options: &Options, out: &mut Output) -> Result<()> {
    let limits = &options.limits;
    match catch_unwind(AssertUnwindSafe(|| render_hayro(path, work, options, out))) {
        Ok(Ok(())) => return Ok(()),
        Ok(Err(e)) => tracing::debug!(error = %e, "hayro cannot render; trying pdftoppm"),
        Err(_) => tracing::debug!("hayro panicked; trying pdftoppm"),
    }
    out.derived.images.clear();
    out.files.clear();
    let Some(pdftoppm) = &options.converters.pdftoppm else {
        return Err(Error::Corrupt("the PDF cannot be rendered (and pdftoppm is not installed)".into()));
    };
    let pages = limits.pages.max(1).to_string();
    for &width in &limits.widths {
        let prefix = work.join(format!("ppm-w{width}"));
        let args: Vec<std::ffi::OsString> = vec![
            "-f".into(),
            "1".into(),
            "-l".into(),
            pages.clone().into(),
            "-scale-to-x".into(),
            width.to_string().into(),
            "-scale-to-y".into(),
            "-1".into(),
            "-jpeg".into(),
            path.into(),
            prefix.into(),
        ];
        process::run(pdftoppm, &args, options)
            .map_err(|e| Error::Corrupt(format!("the PDF cannot be rendered: {e}")))?;
    }
    // pdftoppm names pages prefix-1.jpg or prefix-01.jpg depending on the page count.
    let mut found = Vec::new();
    for entry in std::fs::read_dir(work)? {
        let p = entry?.path();
        let name = p.file_name().unwrap_or_default().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix("ppm-w") else { continue };
        let Some((width, page)) = rest.strip_suffix(".jpg").and_then(|r| r.split_once('-')) else { continue };
        let (Ok(width), Ok(page)) = (width.parse::<u32>(), page.parse::<u32>()) else { continue };
        found.push((page, width, p));
    }
    found.sort();
    for (page, width, p) in found {
        let (w, h) = image::image_dimensions(&p).map_err(|e| Error::Corrupt(e.to_string()))?;
        let name = page_image_name(page, width);
        out.derived.images.push(PreviewImage { page, width: w, height: h, name: name.clone() });
        out.files.push((name, p));
    }
    out.derived.pages = out.derived.pages.or(Some(found_pages(&out.derived.images)));
    out.derived.notes.push("pages rendered by pdftoppm".into());
    Ok(())
}

fn found_pages(images: &[PreviewImage]) -> u32 {
    images.iter().map(|i| i.page).max().unwrap_or(0)
}

/// Renders one page (1-based) of the PDF at `path`, `width` pixels wide, into the JPEG file
/// `output`; returns the image's size. For pages beyond those rendered when the file was
/// derived (run in the sandbox like every derivation).
pub fn render_page_to(path: &Path, page: u32, width: u32, output: &Path) -> Result<(u32, u32)> {
    catch_unwind(AssertUnwindSafe(|| -> Result<(u32, u32)> {
        use hayro::hayro_interpret::InterpreterSettings;
        use hayro::vello_cpu::color::palette::css::WHITE;
        use hayro::{PixmapSettings, RenderCache, RenderSettings, render};
        let bytes = std::fs::read(path)?;
        let pdf = hayro::hayro_syntax::Pdf::new(bytes).map_err(|e| Error::Corrupt(format!("not a PDF: {e:?}")))?;
        let pages = pdf.pages();
        let p = pages.get(page.saturating_sub(1) as usize).filter(|_| page >= 1);
        let p = p.ok_or_else(|| Error::Limit(format!("the document has {} pages", pages.len())))?;
        let scale = width as f32 / p.render_dimensions().0.max(1.0);
        let settings = PixmapSettings { x_scale: scale, y_scale: scale, bg_color: WHITE };
        let pixmap =
            render(p, &RenderCache::new(), &InterpreterSettings::default(), &RenderSettings::default(), &settings);
        let (w, h) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
        let rgb: Vec<u8> = pixmap.data_as_u8_slice().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
        images::write_jpeg(output, &rgb, w, h)?;
        Ok((w, h))
    }))
    .map_err(|_| Error::Corrupt("the page cannot be rendered".into()))?
}

fn render_hayro(path: &Path, work: &Path, options: &Options, out: &mut Output) -> Result<()> {
    use hayro::hayro_interpret::InterpreterSettings;
    use hayro::vello_cpu::color::palette::css::WHITE;
    use hayro::{PixmapSettings, RenderCache, RenderSettings, render};

    let bytes = std::fs::read(path)?;
    let pdf = hayro::hayro_syntax::Pdf::new(bytes).map_err(|e| Error::Corrupt(format!("not a PDF: {e:?}")))?;
    let pages = pdf.pages();
    if pages.is_empty() {
        return Err(Error::Corrupt("the PDF has no pages".into()));
    }
    out.derived.pages = Some(pages.len() as u32);
    let cache = RenderCache::new();
    let interpreter = InterpreterSettings::default();
    let settings = RenderSettings::default();
    for (i, page) in pages.iter().enumerate().take(options.limits.pages as usize) {
        let (pw, _) = page.render_dimensions();
        for &width in &options.limits.widths {
            let scale = width as f32 / pw.max(1.0);
            let pixmap = render(
                page,
                &cache,
                &interpreter,
                &settings,
                &PixmapSettings { x_scale: scale, y_scale: scale, bg_color: WHITE },
            );
            let (w, h) = (u32::from(pixmap.width()), u32::from(pixmap.height()));
            if w == 0 || h == 0 {
                return Err(Error::Corrupt(format!("page {} renders empty", i + 1)));
            }
            // Opaque on white: premultiplied RGBA is plain RGBA; drop the alpha.
            let rgb: Vec<u8> = pixmap.data_as_u8_slice().chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
            let name = page_image_name(i as u32 + 1, width);
            let file = work.join(&name);
            images::write_jpeg(&file, &rgb, w, h)?;
            out.derived.images.push(PreviewImage { page: i as u32 + 1, width: w, height: h, name: name.clone() });
            out.files.push((name, file));
        }
    }
    if pages.len() as u32 > options.limits.pages {
        out.derived.notes.push(format!("first {} of {} pages rendered", options.limits.pages, pages.len()));
    }
    Ok(())
}
