//! NumPy `.npy` files of u8 arrays (format 1.0 written; 1.0, 2.0 and 3.0 read), as CIFAR-10-C ships them:
//! magic `\x93NUMPY`, version, header length, a Python-dict header padded to 64 bytes, C-order data.
use crate::{Error, Result};
use std::io::{Read, Write};
use std::path::Path;

const MAGIC: &[u8; 6] = b"\x93NUMPY";

/// The header and data of a u8 `.npy` array of `shape`.
pub fn encode_header(shape: &[usize]) -> Vec<u8> {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    let mut dict = format!("{{'descr': '|u1', 'fortran_order': False, 'shape': {dims}, }}");
    // Pad with spaces so that magic + version + length + header is a multiple of 64, ending in '\n'.
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = Vec::with_capacity(10 + dict.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&[1, 0]);
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// Writes a u8 array to `path` via a temporary file and a rename, so no truncated file is ever left
/// looking complete.
pub fn write(path: &Path, shape: &[usize], data: &[u8]) -> Result<()> {
    let io = |e: std::io::Error| Error::File { path: path.to_path_buf(), what: e.to_string() };
    if shape.iter().product::<usize>() != data.len() {
        return Err(Error::Shape(format!("{} bytes do not fill shape {shape:?}", data.len())));
    }
    let tmp = path.with_extension("npy.tmp");
    let mut f = std::fs::File::create(&tmp).map_err(io)?;
    f.write_all(&encode_header(shape)).and_then(|_| f.write_all(data)).and_then(|_| f.sync_all()).map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

/// A u8 array read from a `.npy` file.
#[derive(Debug, PartialEq, Eq)]
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Vec<u8>,
}

/// The shape and the data's offset, from the start of `.npy` bytes (at least the whole header).
fn parse_header(path: &Path, bytes: &[u8]) -> Result<(Vec<usize>, usize)> {
    let bad = |what: String| Error::File { path: path.to_path_buf(), what };
    if bytes.len() < 10 || &bytes[..6] != MAGIC {
        return Err(bad("not a .npy file (no \\x93NUMPY magic)".into()));
    }
    let (len, start) = match bytes[6] {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 if bytes.len() >= 12 => (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12),
        v => return Err(bad(format!("unsupported .npy format version {v}"))),
    };
    let header = bytes.get(start..start + len).ok_or_else(|| bad("truncated header".into()))?;
    let header = std::str::from_utf8(header).map_err(|_| bad("header is not text".into()))?;
    let field = |key: &str| -> Option<&str> {
        let at = header.find(&format!("'{key}':"))? + key.len() + 3;
        Some(header[at..].trim_start())
    };
    let descr = field("descr").and_then(|s| s.strip_prefix('\'')).and_then(|s| s.split('\'').next());
    if !matches!(descr, Some("|u1" | "u1" | "<u1")) {
        return Err(bad(format!("dtype {} is not uint8 ('|u1')", descr.unwrap_or("?"))));
    }
    if field("fortran_order").is_none_or(|s| !s.starts_with("False")) {
        return Err(bad("only C-order arrays are supported (fortran_order must be False)".into()));
    }
    let dims = field("shape")
        .and_then(|s| s.strip_prefix('('))
        .and_then(|s| s.split(')').next())
        .ok_or_else(|| bad("no shape in header".into()))?;
    let shape: Vec<usize> = dims
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(|d| d.parse::<usize>())
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| bad(format!("bad shape ({dims})")))?;
    Ok((shape, start + len))
}

/// Checks that `data_len` bytes fill `shape` exactly.
fn check_data_len(path: &Path, shape: &[usize], data_len: u64) -> Result<()> {
    let expected = shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).unwrap_or(usize::MAX);
    if data_len != expected as u64 {
        let what = format!("shape {shape:?} needs {expected} bytes of data, the file holds {data_len}");
        return Err(Error::File { path: path.to_path_buf(), what });
    }
    Ok(())
}

/// Parses `.npy` bytes; `path` names the file in errors.
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Array> {
    let (shape, offset) = parse_header(path, bytes)?;
    check_data_len(path, &shape, (bytes.len() - offset) as u64)?;
    Ok(Array { shape, data: bytes[offset..].to_vec() })
}

/// The shape of a complete u8 `.npy` file, reading only its header (and the file's size).
pub fn read_shape(path: &Path) -> Result<Vec<usize>> {
    let io = |e: std::io::Error| Error::File { path: path.to_path_buf(), what: e.to_string() };
    let mut head = Vec::new();
    let file = std::fs::File::open(path).map_err(io)?;
    let size = file.metadata().map_err(io)?.len();
    file.take(1 << 16).read_to_end(&mut head).map_err(io)?;
    let (shape, offset) = parse_header(path, &head)?;
    check_data_len(path, &shape, size - offset as u64)?;
    Ok(shape)
}

/// Reads a u8 `.npy` file.
pub fn read(path: &Path) -> Result<Array> {
    let bytes = std::fs::read(path).map_err(|e| Error::File { path: path.to_path_buf(), what: e.to_string() })?;
    parse(path, &bytes)
}
