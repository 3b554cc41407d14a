//! `robustcnn corrupt`: writes corrupted copies of a dataset in the CIFAR-10-C or ImageNet-C layout,
//! and `corrupt preview`: one picture of every corruption at every severity.
use crate::engine_args::{corruption_list, severity_list, EngineArgs};
use anyhow::{anyhow, bail, Context, Result};
use clap::{Args, Subcommand};
use corrupt::{npy, Corruptor, Image, ImageSet};
use indicatif::{ProgressBar, ProgressStyle};
use robustcnn::bitmap_font::{draw_text, text_width};
use robustcnn::data::{self, DataSource, Dataset};
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CorruptArgs {
    #[command(subcommand)]
    pub command: Option<CorruptCommand>,
    /// Dataset to corrupt (see `robustcnn data list`).
    #[arg(long)]
    pub dataset: Option<String>,
    /// Where the dataset's files are (as for train --data-dir).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Which split to corrupt.
    #[arg(long, default_value = "test", value_parser = ["test", "train"])]
    pub split: String,
    /// Image folders only: resize and centre-crop every image to N×N (ImageNet-C uses 224).
    #[arg(long, value_parser = crate::at_least_one)]
    pub image_size: Option<usize>,
    /// Output directory: <corruption>.npy + labels.npy, or <corruption>/<severity>/<class>/<file>.
    #[arg(long, short)]
    pub out: Option<PathBuf>,
    /// Corruptions and groups (common, validation, all, noise, blur, weather, digital), comma-separated.
    #[arg(long, default_value = "all")]
    pub corruptions: String,
    /// Severities: numbers and ranges in 1–5, e.g. 3 or 1,3 or 1-5.
    #[arg(long, default_value = "1-5")]
    pub severities: String,
    /// Only the first N images of the split.
    #[arg(long, value_parser = crate::at_least_one)]
    pub limit: Option<usize>,
    #[command(flatten)]
    pub engine: EngineArgs,
}

#[derive(Subcommand)]
pub enum CorruptCommand {
    /// Time every corruption: ms per image at each size (one thread), and the whole CIFAR-10-C set
    /// (10,000 32×32 images × 15 corruptions × 5 severities, then the 4 extra ones) on all cores.
    Bench {
        /// Image sides to time.
        #[arg(long, default_value = "32,224", value_delimiter = ',')]
        sizes: Vec<usize>,
        /// Images per corruption and severity for the per-image times.
        #[arg(long, default_value_t = 20)]
        images: usize,
        /// Also generate the full CIFAR-10-C-sized set (in memory, not written).
        #[arg(long)]
        full_set: bool,
        /// The corruptions (names or groups) to time per image; --full-set always times its 19.
        #[arg(long, default_value = "all")]
        corruptions: String,
        #[command(flatten)]
        engine: EngineArgs,
    },
    /// One PNG sheet of an image: a row per corruption, the clean image then severities 1–5.
    Preview {
        /// A PNG or JPEG image.
        image: PathBuf,
        /// The sheet to write (.png).
        #[arg(long, short)]
        out: PathBuf,
        #[arg(long, default_value = "all")]
        corruptions: String,
        /// Enlarge each tile by this factor (default: so that small images show at least 96 px).
        #[arg(long, value_parser = crate::at_least_one)]
        zoom: Option<usize>,
        #[command(flatten)]
        engine: EngineArgs,
    },
}

pub fn run(a: &CorruptArgs) -> Result<()> {
    match &a.command {
        Some(CorruptCommand::Preview { image, out, corruptions, zoom, engine }) => {
            return preview(image, out, corruptions, *zoom, engine)
        }
        Some(CorruptCommand::Bench { sizes, images, full_set, corruptions, engine }) => {
            let names = corruption_list(corruptions, "--corruptions")?;
            return crate::corrupt_bench::run(&names, sizes, *images, *full_set, engine);
        }
        None => {}
    }
    let name = a.dataset.as_deref().context("give --dataset NAME (or `corrupt preview IMAGE`)")?;
    let out = a.out.as_deref().context("give --out DIR for the corrupted dataset")?;
    let names = corruption_list(&a.corruptions, "--corruptions")?;
    let severities = severity_list(&a.severities)?;
    let corruptor = a.engine.corruptor()?;
    data::check_size(name, a.image_size.map(|n| (n, n)), "--image-size")?;
    let src = DataSource {
        data_dir: a.data_dir.clone(),
        image_size: a.image_size.map(|n| (n, n)),
        fit: a.image_size.map(|_| data::folder::Fit::CenterCrop),
        // Corrupting works on the decoded bytes of the whole split.
        on_demand: Some(false),
        ..Default::default()
    };
    let mut ds = data::load_split(name, &src, &a.split)?;
    if let Some(n) = a.limit {
        ds = ds.select(&(0..n.min(ds.len())).collect::<Vec<_>>());
    }
    corruptor.preset_for(ds.height, ds.width).map_err(|e| anyhow!("--preset: {e}"))?;
    let manifest = serde_json::json!({
        "layout": if name == "folder" { "folders" } else { "npy" },
        "dataset": name,
        "split": a.split,
        "corruptions": names,
        "severities": severities,
        "images_per_severity": ds.len(),
        "shape": [ds.height, ds.width, ds.channels],
        "engine": a.engine.describe(&corruptor, (ds.height, ds.width)),
        "tool": format!("robustcnn {}", env!("CARGO_PKG_VERSION")),
    });
    let manifest = crate::corrupt_manifest::merge_into(out, manifest)?;
    prepare_out(out)?;
    let per_corruption = (ds.len() * severities.len() * ds.height * ds.width * ds.channels) as u64;
    let to_write = names.iter().filter(|n| !out.join(format!("{n}.npy")).is_file() && !out.join(n).is_dir()).count();
    robustcnn::disk::check_space(out, per_corruption * to_write as u64, "the corrupted dataset")?;
    let plan = Plan { corruptor: &corruptor, engine: &a.engine, names: &names, severities: &severities, out, manifest };
    // First, so that a folder killed at any later point is recognised as this set when rerun.
    plan.write_manifest()?;
    let started = Instant::now();
    let written = if name == "folder" {
        let dir = a.data_dir.as_ref().context("dataset 'folder' needs --data-dir")?.join(&a.split);
        plan.write_folders(&ds, &data::folder::list_images(&dir)?.files)?
    } else {
        plan.write_arrays(&ds)?
    };
    let secs = started.elapsed().as_secs_f64();
    let images = ds.len() * names.len() * severities.len();
    println!(
        "{images} corrupted images ({} corruptions × {} severities × {} images) in {secs:.1} s, {:.0} img/s; {written}",
        names.len(),
        severities.len(),
        ds.len(),
        images as f64 / secs.max(1e-9)
    );
    println!("written to {} ({})", out.display(), a.engine.describe(&corruptor, (ds.height, ds.width)));
    Ok(())
}

/// Creates the output directory and checks that it is writable before any work starts.
fn prepare_out(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).with_context(|| format!("{}: cannot create the output directory", out.display()))?;
    robustcnn::train::checkpoint::check_writable(out)
        .with_context(|| format!("{}: the output directory is not writable", out.display()))
}

/// What to write and where.
struct Plan<'a> {
    corruptor: &'a Corruptor,
    engine: &'a EngineArgs,
    names: &'a [&'static str],
    severities: &'a [u8],
    out: &'a Path,
    /// manifest.json as written (docs/corruptions.md): the set's settings and every corruption in it.
    manifest: serde_json::Value,
}

impl Plan<'_> {
    fn progress(&self, total: usize) -> ProgressBar {
        let pb = ProgressBar::new(total as u64);
        pb.set_style(
            ProgressStyle::with_template("{msg:>18} [{bar:30}] {pos}/{len} images, {per_sec}, eta {eta}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        pb
    }

    /// Every severity of one corruption, blocks in severity order.
    fn corrupt_all(&self, ds: &Dataset, name: &str, pb: &ProgressBar) -> Result<Vec<u8>> {
        let set = ImageSet { data: &ds.images, height: ds.height, width: ds.width, channels: ds.channels };
        let mut all = Vec::with_capacity(ds.images.len() * self.severities.len());
        for &s in self.severities {
            let base = pb.position();
            let bytes =
                corrupt::corrupt_set(self.corruptor, set, name, s, self.engine.seed(), self.engine.workers, &|n| {
                    pb.set_position(base + n as u64)
                })?;
            all.extend_from_slice(&bytes);
        }
        Ok(all)
    }

    /// The CIFAR-10-C layout: `<corruption>.npy` of shape (k·N, H, W, C) and `labels.npy` (k·N,).
    /// A corruption whose file already exists with the expected shape is kept (the command resumes).
    fn write_arrays(&self, ds: &Dataset) -> Result<String> {
        if ds.num_classes() > 256 {
            bail!("{} classes do not fit labels.npy's uint8 (the CIFAR-10-C format)", ds.num_classes());
        }
        let k = self.severities.len();
        let shape = [k * ds.len(), ds.height, ds.width, ds.channels];
        let labels: Vec<u8> = (0..k).flat_map(|_| ds.labels.iter().map(|&l| l as u8)).collect();
        npy::write(&self.out.join("labels.npy"), &[labels.len()], &labels)?;
        let pb = self.progress(ds.len() * k * self.names.len());
        let mut kept = 0;
        // One corruption is written (and synced) on a second thread while the next is computed.
        let (tx, rx) = std::sync::mpsc::sync_channel::<(PathBuf, Vec<u8>)>(1);
        std::thread::scope(|scope| -> Result<()> {
            let writer = scope.spawn(move || -> Result<()> {
                for (file, bytes) in rx {
                    npy::write(&file, &shape, &bytes)?;
                }
                Ok(())
            });
            let made = (|| -> Result<()> {
                for name in self.names {
                    pb.set_message(name.to_string());
                    let file = self.out.join(format!("{name}.npy"));
                    if npy::read_shape(&file).is_ok_and(|s| s == shape) {
                        pb.inc((ds.len() * k) as u64);
                        kept += 1;
                        continue;
                    }
                    let bytes = self.corrupt_all(ds, name, &pb)?;
                    if tx.send((file, bytes)).is_err() {
                        // The writer stopped on an error, which it returns below.
                        break;
                    }
                }
                Ok(())
            })();
            drop(tx);
            let written = writer.join().unwrap_or_else(|_| Err(anyhow!("the .npy writer thread failed")));
            made.and(written)
        })?;
        pb.finish_and_clear();
        Ok(format!("{} .npy files of shape {shape:?} ({kept} already there) and labels.npy", self.names.len()))
    }

    /// The ImageNet-C layout, `<corruption>/<severity>/<class>/<file>.png`; each corruption is written
    /// under `<corruption>.partial` and renamed when complete, so a present folder is a finished one.
    fn write_folders(&self, ds: &Dataset, files: &[(usize, PathBuf)]) -> Result<String> {
        let pb = self.progress(ds.len() * self.severities.len() * self.names.len());
        let mut kept = 0;
        for name in self.names {
            pb.set_message(name.to_string());
            let done = self.out.join(name);
            if done.is_dir() {
                pb.inc((ds.len() * self.severities.len()) as u64);
                kept += 1;
                continue;
            }
            let partial = self.out.join(format!("{name}.partial"));
            std::fs::remove_dir_all(&partial).ok();
            let bytes = self.corrupt_all(ds, name, &pb)?;
            let len = ds.image_size();
            for (b, &s) in self.severities.iter().enumerate() {
                for (i, (label, path)) in files.iter().enumerate() {
                    let class = &ds.class_names[*label];
                    let stem = path.file_stem().unwrap_or_default().to_string_lossy();
                    let target = partial.join(s.to_string()).join(class).join(format!("{stem}.png"));
                    let pixels = &bytes[(b * ds.len() + i) * len..(b * ds.len() + i + 1) * len];
                    save_png(&target, pixels, ds.height, ds.width, ds.channels)?;
                }
            }
            std::fs::rename(&partial, &done)
                .with_context(|| format!("{}: cannot rename into place", partial.display()))?;
        }
        pb.finish_and_clear();
        Ok(format!("{} corruption folders ({kept} already there)", self.names.len()))
    }

    /// manifest.json: how the files were made, for `eval corruptions --from` and for readers.
    fn write_manifest(&self) -> Result<()> {
        let path = self.out.join(crate::corrupt_manifest::FILE);
        robustcnn::train::checkpoint::write_bytes_atomic(
            &path,
            serde_json::to_string_pretty(&self.manifest)?.as_bytes(),
        )
        .with_context(|| format!("{}: cannot write", path.display()))
    }
}

/// Writes u8 HWC pixels (1 or 3 channels) as PNG, creating parent folders.
fn save_png(path: &Path, pixels: &[u8], h: usize, w: usize, c: usize) -> Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).with_context(|| format!("{}: cannot create", parent.display()))?;
    }
    let colour = if c == 3 { image::ExtendedColorType::Rgb8 } else { image::ExtendedColorType::L8 };
    image::save_buffer(path, pixels, w as u32, h as u32, colour)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// The largest preview sheet written (about 0.8 GB of RGB).
const MAX_SHEET_PIXELS: usize = 1 << 28;

/// The preview sheet: rows are corruptions (named on the left), columns the clean image and
/// severities 1–5 (named on top), tiles 2 px apart.
fn preview(path: &Path, out: &Path, corruptions: &str, zoom: Option<usize>, engine: &EngineArgs) -> Result<()> {
    if out.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() != Some("png") {
        bail!("{}: the sheet is written as PNG; give a .png file name", out.display());
    }
    let names = corruption_list(corruptions, "--corruptions")?;
    let corruptor = engine.corruptor()?;
    let rgb =
        image::open(path).map_err(|e| anyhow!("{}: not a readable PNG or JPEG image ({e})", path.display()))?.to_rgb8();
    let (w, h) = (rgb.width() as usize, rgb.height() as usize);
    let img = Image::new(rgb.into_raw(), h, w, 3)?;
    corruptor.preset_for(h, w).map_err(|e| anyhow!("--preset: {e}"))?;
    let z = zoom.unwrap_or_else(|| 96usize.div_ceil(h.min(w))).max(1);
    let (gap, cols, rows) = (2, 6, names.len());
    // Labels: 5×7 glyphs, doubled where the tiles are tall enough.
    let scale_for = |z: usize| if h * z >= 28 { 2 } else { 1 };
    let margins = |z: usize| {
        let label_width = names.iter().map(|n| text_width(n, scale_for(z))).max().unwrap_or(0) as usize;
        (label_width + 8 * scale_for(z) as usize, 7 * scale_for(z) as usize + 6)
    };
    let size = |z: usize| {
        let (left, top) = margins(z);
        (left + cols * (w * z + gap) - gap, top + rows * (h * z + gap) - gap)
    };
    let (sw, sh) = size(z);
    if sw.saturating_mul(sh) > MAX_SHEET_PIXELS {
        let over = format!("the sheet would be {sw}×{sh} pixels, over {} megapixels", MAX_SHEET_PIXELS >> 20);
        match (1..z).rev().find(|&z| size(z).0 * size(z).1 <= MAX_SHEET_PIXELS) {
            Some(most) => bail!("--zoom {z}: {over}; give --zoom {most} or less"),
            None => bail!("{}: {over}; give fewer --corruptions or a smaller image", path.display()),
        }
    }
    let (tw, th, scale) = (w * z, h * z, scale_for(z));
    let (left, top) = margins(z);
    let mut sheet = image::RgbImage::from_pixel(sw as u32, sh as u32, image::Rgb([255, 255, 255]));
    let ink = image::Rgb([20, 20, 20]);
    for col in 0..cols {
        let fits = |t: &String| text_width(t, scale) as usize <= tw;
        let header = match col {
            0 => "clean".to_string(),
            s => [format!("severity {s}"), format!("sev {s}")].into_iter().find(fits).unwrap_or(s.to_string()),
        };
        let x = left + col * (tw + gap) + tw.saturating_sub(text_width(&header, scale) as usize) / 2;
        draw_text(&mut sheet, (x as u32, 2), &header, scale, ink);
    }
    for (r, name) in names.iter().enumerate() {
        let y = top + r * (th + gap) + th.saturating_sub(7 * scale as usize) / 2;
        draw_text(&mut sheet, (4, y as u32), name, scale, ink);
        for col in 0..cols {
            let tile = if col == 0 {
                img.clone()
            } else {
                let s = col as u8;
                corruptor.apply(&img, name, s, &mut corrupt::rng_for(engine.seed(), name, s, 0))?
            };
            for y in 0..th {
                for x in 0..tw {
                    let p = &tile.data[((y / z) * w + x / z) * 3..][..3];
                    sheet.put_pixel(
                        (left + col * (tw + gap) + x) as u32,
                        (top + r * (th + gap) + y) as u32,
                        image::Rgb([p[0], p[1], p[2]]),
                    );
                }
            }
        }
    }
    let tmp = out.with_extension("png.partial");
    sheet
        .save_with_format(&tmp, image::ImageFormat::Png)
        .with_context(|| format!("{}: cannot write", out.display()))?;
    std::fs::rename(&tmp, out).with_context(|| format!("{}: cannot write", out.display()))?;
    println!("rows, top to bottom: {}", names.join(", "));
    println!("columns: clean, then severities 1-5 ({})", engine.describe(&corruptor, (h, w)));
    println!("written to {}", out.display());
    Ok(())
}
