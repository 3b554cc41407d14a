//! Image folders: one subfolder per class holding PNG/JPEG files (torchvision ImageFolder layout).
use super::Dataset;
use crate::error::{Error, IoContext, Result};
use image::imageops::FilterType;
use std::path::{Path, PathBuf};

/// How images of other sizes are brought to the configured size.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Fit {
    /// Every image must already have the size of the first one.
    Exact,
    /// Resize (bilinear) to the configured size.
    Resize,
    /// Resize the shorter side, then crop the centre (torchvision Resize + CenterCrop).
    CenterCrop,
}

fn is_image(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()).map(|e| e.to_ascii_lowercase()).as_deref(),
        Some("png" | "jpg" | "jpeg")
    )
}

fn sorted_entries(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir).at(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    Ok(out)
}

/// The class folders of an image folder and its image files.
pub struct Listing {
    /// Class folders, sorted.
    pub classes: Vec<PathBuf>,
    /// (class index, path) of every image, in the order [`read_folder`] reads them.
    pub files: Vec<(usize, PathBuf)>,
}

/// Lists `dir/<class>/<image>`.
pub fn list_images(dir: &Path) -> Result<Listing> {
    let classes: Vec<PathBuf> = sorted_entries(dir)?.into_iter().filter(|p| p.is_dir()).collect();
    if classes.is_empty() {
        return Err(Error::format(dir, "no class subfolders (expected DIR/<class>/<image>.png|jpg)"));
    }
    let mut files = Vec::new();
    for (label, class_dir) in classes.iter().enumerate() {
        files.extend(sorted_entries(class_dir)?.into_iter().filter(|p| is_image(p)).map(|p| (label, p)));
    }
    Ok(Listing { classes, files })
}

/// Decodes one PNG or JPEG file's bytes to u8 HWC (1 channel when `gray`, else RGB) of size
/// `target` = (height, width), which the first image sets when it is None.
pub fn decode_image(
    file: &Path,
    bytes: &[u8],
    target: &mut Option<(usize, usize)>,
    fit: Fit,
    gray: bool,
) -> Result<Vec<u8>> {
    decode_cropped(file, bytes, None, target, fit, gray)
}

/// [`decode_image`] of the part of the image inside `crop` = (x, y, width, height) in pixels,
/// clipped to the image (CUB's bounding boxes).
pub fn decode_cropped(
    file: &Path,
    bytes: &[u8],
    crop: Option<[f64; 4]>,
    target: &mut Option<(usize, usize)>,
    fit: Fit,
    gray: bool,
) -> Result<Vec<u8>> {
    let mut img = image::load_from_memory(bytes).map_err(|e| Error::format(file, format!("unreadable image: {e}")))?;
    if let Some([x, y, w, h]) = crop {
        let (iw, ih) = (img.width() as f64, img.height() as f64);
        let (x0, y0) = (x.floor().clamp(0.0, iw - 1.0), y.floor().clamp(0.0, ih - 1.0));
        let (x1, y1) = ((x + w).ceil().clamp(x0 + 1.0, iw), (y + h).ceil().clamp(y0 + 1.0, ih));
        img = img.crop_imm(x0 as u32, y0 as u32, (x1 - x0) as u32, (y1 - y0) as u32);
    }
    let (w, h) = (img.width() as usize, img.height() as usize);
    let (th, tw) = *target.get_or_insert((h, w));
    let img = match fit {
        _ if (h, w) == (th, tw) => img,
        Fit::Exact => {
            return Err(Error::format(
                file,
                format!("image is {h}x{w} but earlier images are {th}x{tw}; set a size with resize or center-crop"),
            ))
        }
        Fit::Resize => img.resize_exact(tw as u32, th as u32, FilterType::Triangle),
        Fit::CenterCrop => img.resize_to_fill(tw as u32, th as u32, FilterType::Triangle),
    };
    Ok(if gray { img.to_luma8().into_raw() } else { img.to_rgb8().into_raw() })
}

/// Reads `dir/<class>/<image>`; classes sorted by name. `size` = (height, width), `gray` = 1 channel.
pub fn read_folder(dir: &Path, size: Option<(usize, usize)>, fit: Fit, gray: bool) -> Result<Dataset> {
    let Listing { classes, files } = list_images(dir)?;
    let channels = if gray { 1 } else { 3 };
    let mut target = size;
    let (mut images, mut labels) = (Vec::new(), Vec::new());
    for (label, file) in files {
        let bytes = std::fs::read(&file).at(&file)?;
        images.extend(decode_image(&file, &bytes, &mut target, fit, gray)?);
        labels.push(label as u16);
    }
    if labels.is_empty() {
        return Err(Error::format(dir, "the class subfolders hold no PNG or JPEG images"));
    }
    let names = classes.iter().map(|p| p.file_name().unwrap_or_default().to_string_lossy().into_owned()).collect();
    let (h, w) = target.unwrap_or((0, 0));
    Dataset::new(dir, images, labels, (h, w, channels), names)
}
