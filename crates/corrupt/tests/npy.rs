//! The `.npy` writer and reader: numpy's layout, round trips, malformed files.
use corrupt::npy;

#[test]
fn header_is_numpy_format_1_0_padded_to_64() {
    let h = npy::encode_header(&[50000, 32, 32, 3]);
    assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
    assert_eq!(h.len() % 64, 0);
    assert_eq!(u16::from_le_bytes([h[8], h[9]]) as usize, h.len() - 10);
    let text = std::str::from_utf8(&h[10..]).unwrap();
    assert!(text.starts_with("{'descr': '|u1', 'fortran_order': False, 'shape': (50000, 32, 32, 3), }"));
    assert!(text.ends_with(" \n"));
    assert!(std::str::from_utf8(&npy::encode_header(&[7])[10..]).unwrap().contains("'shape': (7,)"));
}

#[test]
fn round_trip_through_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("labels.npy");
    let data: Vec<u8> = (0..2 * 3 * 4).map(|i| i as u8).collect();
    npy::write(&p, &[2, 3, 4], &data).unwrap();
    assert!(!dir.path().join("labels.npy.tmp").exists());
    assert_eq!(npy::read(&p).unwrap(), npy::Array { shape: vec![2, 3, 4], data });
    // The shape alone, from the header and the file size; a truncated file is not taken as complete.
    assert_eq!(npy::read_shape(&p).unwrap(), vec![2, 3, 4]);
    let bytes = std::fs::read(&p).unwrap();
    std::fs::write(&p, &bytes[..bytes.len() - 1]).unwrap();
    let e = npy::read_shape(&p).unwrap_err().to_string();
    assert!(e.contains("shape [2, 3, 4] needs 24 bytes of data, the file holds 23"), "{e}");
}

#[test]
fn reads_version_2_headers_too() {
    let dict = "{'descr': '|u1', 'fortran_order': False, 'shape': (3,), }\n";
    let mut b = b"\x93NUMPY\x02\x00".to_vec();
    b.extend_from_slice(&(dict.len() as u32).to_le_bytes());
    b.extend_from_slice(dict.as_bytes());
    b.extend_from_slice(&[1, 2, 3]);
    assert_eq!(npy::parse(std::path::Path::new("v2.npy"), &b).unwrap().data, vec![1, 2, 3]);
}

#[test]
fn malformed_files_say_what_is_wrong() {
    let p = std::path::Path::new("x.npy");
    let good = [npy::encode_header(&[2, 2]), vec![0; 4]].concat();
    let err = |b: &[u8]| npy::parse(p, b).unwrap_err().to_string();
    assert_eq!(err(b"PK\x03\x04 not numpy"), "x.npy: not a .npy file (no \\x93NUMPY magic)");
    assert!(err(&good[..good.len() - 1]).contains("shape [2, 2] needs 4 bytes of data, the file holds 3"));
    assert!(err(&good[..20]).contains("truncated header"));
    // Same-length edits of the header text.
    let edit = |from: &[u8], to: &[u8]| -> Vec<u8> {
        let at = good.windows(from.len()).position(|w| w == from).unwrap();
        [&good[..at], to, &good[at + from.len()..]].concat()
    };
    assert!(err(&edit(b"|u1", b"<f4")).contains("dtype <f4 is not uint8"));
    assert!(err(&edit(b"False", b"True ")).contains("fortran_order must be False"));
    let mut v9 = good.clone();
    v9[6] = 9;
    assert!(err(&v9).contains("unsupported .npy format version 9"));
    let dir = tempfile::tempdir().unwrap();
    let e = npy::write(&dir.path().join("a.npy"), &[3], &[1, 2]).unwrap_err().to_string();
    assert!(e.contains("2 bytes do not fill shape [3]"), "{e}");
}
