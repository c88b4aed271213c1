//! Video and audio: duration and dimensions (ffprobe), a poster frame (ffmpeg). Without them
//! the file still plays in the browser (downloads honour Range); the preview notes why there
//! is no poster.

use std::path::Path;

use hoclieu_domain::PreviewKind;
use hoclieu_domain::preview::PreviewImage;

use crate::{Options, Output, process};

pub fn preview(path: &Path, kind: PreviewKind, work: &Path, options: &Options, out: &mut Output) {
    match &options.converters.ffprobe {
        Some(ffprobe) => {
            let args: Vec<std::ffi::OsString> = vec![
                "-v".into(),
                "error".into(),
                "-print_format".into(),
                "json".into(),
                "-show_format".into(),
                "-show_streams".into(),
                path.into(),
            ];
            match process::run(ffprobe, &args, options) {
                Ok(json) => read_probe(&json, out),
                Err(e) => out.derived.notes.push(format!("no duration: {e}")),
            }
        }
        None => out.derived.notes.push("no duration: ffprobe is not installed on this server".into()),
    }
    if kind != PreviewKind::Video {
        return;
    }
    let Some(ffmpeg) = &options.converters.ffmpeg else {
        out.derived.notes.push("no poster frame: ffmpeg is not installed on this server".into());
        return;
    };
    // A frame a little into the video (the first is often black), or the first one for clips.
    let at = match out.derived.duration_ms {
        Some(ms) if ms > 4_000 => "2",
        _ => "0",
    };
    for &width in &options.limits.widths {
        let name = format!("poster-w{width}.jpg");
        let file = work.join(&name);
        let scale = format!("scale='min({width},iw)':-2");
        let args: Vec<std::ffi::OsString> = vec![
            "-nostdin".into(),
            "-v".into(),
            "error".into(),
            "-ss".into(),
            at.into(),
            "-i".into(),
            path.into(),
            "-frames:v".into(),
            "1".into(),
            "-vf".into(),
            scale.into(),
            "-q:v".into(),
            "4".into(),
            "-y".into(),
            file.clone().into(),
        ];
        if let Err(e) = process::run(ffmpeg, &args, options) {
            out.derived.notes.push(format!("no poster frame: {e}"));
            return;
        }
        let Ok((w, h)) = image::image_dimensions(&file) else {
            out.derived.notes.push("no poster frame: ffmpeg wrote no image".into());
            return;
        };
        out.derived.images.push(PreviewImage { page: 0, width: w, height: h, name: name.clone() });
        out.files.push((name, file));
    }
}

fn read_probe(json: &[u8], out: &mut Output) {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(json) else { return };
    let seconds = v["format"]["duration"].as_str().and_then(|d| d.parse::<f64>().ok());
    out.derived.duration_ms = seconds.map(|s| (s * 1000.0).round() as u64);
    if let Some(video) = v["streams"].as_array().and_then(|s| s.iter().find(|s| s["codec_type"] == "video")) {
        out.derived.width = video["width"].as_u64().map(|w| w as u32);
        out.derived.height = video["height"].as_u64().map(|h| h as u32);
    }
}
