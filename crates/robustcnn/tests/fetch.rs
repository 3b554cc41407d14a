//! The download checker (no network: the downloads themselves are not exercised by tests).
use robustcnn::data::fetch::{fetch, md5_file};

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
            "data fetch fashion-mnist-mini: nothing to download (fetchable: fashion-mnist, mnist, cifar10, cifar100)"
        ),
        "{e}"
    );
}
