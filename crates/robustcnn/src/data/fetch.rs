//! `robustcnn data fetch`: downloads a dataset's official files, verifies their MD5, and unpacks archives.
use crate::error::{Error, IoContext, Result};
use indicatif::{ProgressBar, ProgressStyle};
use md5::{Digest, Md5};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// One file to download: URL and its published MD5 (torchvision's and the dataset authors' lists).
struct Remote {
    url: &'static str,
    md5: &'static str,
}

const FASHION_MNIST: &[Remote] = &[
    Remote {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-images-idx3-ubyte.gz",
        md5: "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    },
    Remote {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/train-labels-idx1-ubyte.gz",
        md5: "25c81989df183df01b3e8a0aad5dffbe",
    },
    Remote {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-images-idx3-ubyte.gz",
        md5: "bef4ecab320f06d8554ea6380940ec79",
    },
    Remote {
        url: "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/t10k-labels-idx1-ubyte.gz",
        md5: "bb300cfdad3c16e7a12a480ee83cd310",
    },
];

const MNIST: &[Remote] = &[
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-images-idx3-ubyte.gz",
        md5: "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    },
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/train-labels-idx1-ubyte.gz",
        md5: "d53e105ee54ea40749a09fcbcd1e9432",
    },
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-images-idx3-ubyte.gz",
        md5: "9fb629c4189551a2d022fa330f9573f3",
    },
    Remote {
        url: "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz",
        md5: "ec29112dd5afa0611ce80d1b7f02629c",
    },
];

const CIFAR10: &[Remote] = &[Remote {
    url: "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz",
    md5: "c32a1d4ab5d03f1284b67883e8d87530",
}];
const CIFAR100: &[Remote] = &[Remote {
    url: "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz",
    md5: "03b5dce01913d631647c71ecec9e9cb8",
}];

/// PASCAL VOC 2012 train/val (torchvision's URL and MD5); unpacks to VOCdevkit/VOC2012.
const VOC2012: &[Remote] = &[Remote {
    url: "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar",
    md5: "6cd6e144f989b92b3379bac3b3de84fd",
}];
/// CUB-200-2011 from Caltech's data repository; unpacks to CUB_200_2011/.
const CUB200: &[Remote] = &[Remote {
    url: "https://data.caltech.edu/records/65de6-vzc79/files/CUB_200_2011.tgz",
    md5: "97eceeb196236b17998738112f37df78",
}];

fn remotes(name: &str) -> Result<&'static [Remote]> {
    match name {
        "fashion-mnist" => Ok(FASHION_MNIST),
        "mnist" => Ok(MNIST),
        "cifar10" => Ok(CIFAR10),
        "cifar100" | "cifar100-coarse" => Ok(CIFAR100),
        "voc2012" => Ok(VOC2012),
        "cub200" | "cub200-bbox" => Ok(CUB200),
        "imagenet" => Err(Error::Config(
            "data fetch imagenet: ImageNet's terms of access require signing in at image-net.org; download \
             ILSVRC2012_img_train.tar and ILSVRC2012_img_val.tar there and lay them out as docs/datasets.md says"
                .into(),
        )),
        _ => Err(Error::Config(format!(
            "data fetch {name}: nothing to download (fetchable: fashion-mnist, mnist, cifar10, cifar100, voc2012, cub200)"
        ))),
    }
}

/// Unpacks `archive` into `dir` when it is a .tar, .tar.gz or .tgz; other files stay as they are.
pub fn unpack(archive: &Path, dir: &Path) -> Result<()> {
    let name = archive.file_name().unwrap_or_default().to_string_lossy();
    let gz = name.ends_with(".tar.gz") || name.ends_with(".tgz");
    if !gz && !name.ends_with(".tar") {
        return Ok(());
    }
    let f = std::fs::File::open(archive).at(archive)?;
    let reader: Box<dyn Read> = if gz { Box::new(flate2::read::GzDecoder::new(f)) } else { Box::new(f) };
    tar::Archive::new(reader).unpack(dir).map_err(|e| Error::format(archive, format!("could not unpack: {e}")))
}

/// MD5 of a file, as lowercase hex.
pub fn md5_file(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path).at(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf).at(path)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(h.finalize().iter().map(|b| format!("{b:02x}")).collect())
}

fn download(remote: &Remote, dest: &Path) -> Result<()> {
    let part = dest.with_extension("part");
    let host = remote.url.split('/').nth(2).unwrap_or(remote.url);
    let resp = ureq::get(remote.url).call().map_err(|e| {
        Error::Config(format!(
            "could not download {} ({e}); is {host} reachable? You can also place the file in {} by hand",
            remote.url,
            dest.parent().map_or(String::new(), |p| p.display().to_string())
        ))
    })?;
    let len = resp.header("Content-Length").and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let bar = ProgressBar::new(len);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(dest.file_name().unwrap_or_default().to_string_lossy().into_owned());
    let mut reader = resp.into_reader();
    let mut out = std::fs::File::create(&part).at(&part)?;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n =
            reader.read(&mut buf).map_err(|e| Error::Config(format!("download of {} broke off: {e}", remote.url)))?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).at(&part)?;
        bar.inc(n as u64);
    }
    out.sync_all().at(&part)?;
    bar.finish_and_clear();
    let got = md5_file(&part)?;
    if got != remote.md5 {
        let _ = std::fs::remove_file(&part);
        return Err(Error::format(
            dest,
            format!("MD5 {got} does not match the published {}; the download is discarded", remote.md5),
        ));
    }
    std::fs::rename(&part, dest).at(dest)
}

/// Downloads (or re-verifies) dataset `name` into `dir`, unpacking archives; returns the files in place.
pub fn fetch(name: &str, dir: &Path) -> Result<Vec<PathBuf>> {
    let list = remotes(name)?;
    let existed = dir.exists();
    std::fs::create_dir_all(dir)
        .map_err(|e| Error::Config(format!("{}: cannot create the download folder ({e})", dir.display())))?;
    let result = fetch_into(list, dir);
    if result.is_err() && !existed {
        // Leave no empty folder behind (remove_dir refuses a folder that holds anything).
        let _ = std::fs::remove_dir(dir);
    }
    result
}

fn fetch_into(list: &[Remote], dir: &Path) -> Result<Vec<PathBuf>> {
    let mut done = Vec::new();
    for r in list {
        let file = r.url.rsplit('/').next().unwrap_or("download");
        let dest = dir.join(file);
        if !(dest.is_file() && md5_file(&dest)? == r.md5) {
            download(r, &dest)?;
        }
        unpack(&dest, dir)?;
        done.push(dest);
    }
    Ok(done)
}
