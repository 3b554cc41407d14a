//! The download checker (no network: the downloads themselves are not exercised by tests).
use robustcnn::data::fetch::{fetch, md5_file, unpack};

#[test]
fn md5_matches_the_rfc_1321_test_vectors() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("abc");
    std::fs::write(&f, b"abc").unwrap();
    assert_eq!(md5_file(&f).unwrap(), "900150983cd24fb0d6963f7d28e17f72");
    std::fs::write(&f, b"").unwrap();
    assert_eq!(md5_file(&f).unwrap(), "d41d8cd98f00b204e9800998ecf8427e");
}

#[test]
fn only_published_datasets_can_be_fetched() {
    let dir = tempfile::tempdir().unwrap();
    let e = fetch("fashion-mnist-mini", dir.path()).unwrap_err().to_string();
    assert!(
        e.contains(
            "data fetch fashion-mnist-mini: nothing to download (fetchable: fashion-mnist, mnist, cifar10, cifar100, voc2012, cub200)"
        ),
        "{e}"
    );
}

#[test]
fn imagenet_cannot_be_fetched_and_says_where_to_get_it() {
    let dir = tempfile::tempdir().unwrap();
    let e = fetch("imagenet", dir.path()).unwrap_err().to_string();
    assert!(e.contains("image-net.org") && e.contains("docs/datasets.md"), "{e}");
}

#[test]
fn tar_and_gzipped_tar_archives_unpack_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let make = |name: &str, gz: bool| {
        let path = dir.path().join(name);
        let file = std::fs::File::create(&path).unwrap();
        let writer: Box<dyn std::io::Write> = if gz {
            Box::new(flate2::write::GzEncoder::new(file, flate2::Compression::fast()))
        } else {
            Box::new(file)
        };
        let mut b = tar::Builder::new(writer);
        let mut h = tar::Header::new_gnu();
        h.set_size(5);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, format!("VOCdevkit/{name}.txt"), &b"hello"[..]).unwrap();
        b.into_inner().unwrap();
        path
    };
    for (name, gz) in [("a.tar", false), ("b.tgz", true), ("c.tar.gz", true)] {
        unpack(&make(name, gz), dir.path()).unwrap();
        assert_eq!(std::fs::read(dir.path().join(format!("VOCdevkit/{name}.txt"))).unwrap(), b"hello");
    }
    std::fs::write(dir.path().join("bad.tgz"), b"not gzip").unwrap();
    let e = unpack(&dir.path().join("bad.tgz"), dir.path()).unwrap_err().to_string();
    assert!(e.contains("bad.tgz") && e.contains("could not unpack"), "{e}");
}
