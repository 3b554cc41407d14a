//! The corruption engine (`crates/corrupt`) as the Python extension `robustcnn_corrupt._engine`:
//! a batch of uint8 images (one image is a batch of one), seeded, on all cores with the GIL
//! released (docs/python.md). The Python API around it is python/robustcnn_corrupt/__init__.py.
use corrupt::{rng_for, Corruptor, FrostSource, Image, ImageSet, Preset};
use numpy::{PyArrayDyn, PyArrayMethods, PyReadonlyArrayDyn, PyUntypedArrayMethods};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

/// Frost photographs, read once per folder.
fn frost(dir: Option<&str>) -> PyResult<FrostSource> {
    let Some(dir) = dir else { return Ok(FrostSource::Procedural) };
    static READ: OnceLock<Mutex<HashMap<String, FrostSource>>> = OnceLock::new();
    let mut read = READ.get_or_init(Default::default).lock().unwrap_or_else(|e| e.into_inner());
    if let Some(f) = read.get(dir) {
        return Ok(f.clone());
    }
    let f = FrostSource::from_dir(std::path::Path::new(dir)).map_err(value_error)?;
    read.insert(dir.to_string(), f.clone());
    Ok(f)
}

fn value_error(e: impl std::fmt::Display) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// The corruptor for a preset name (None: chosen by each image's size) and a frost folder.
fn corruptor(preset: Option<&str>, frost_dir: Option<&str>) -> PyResult<Corruptor> {
    let preset = preset.map(Preset::parse).transpose().map_err(value_error)?;
    Ok(Corruptor { preset, frost: frost(frost_dir)? })
}

/// (height, width, channels) of an image array: HxW, HxWx1 or HxWx3.
fn image_shape(shape: &[usize], what: &str) -> PyResult<(usize, usize, usize)> {
    match *shape {
        [h, w] => Ok((h, w, 1)),
        [h, w, c @ (1 | 3)] => Ok((h, w, c)),
        _ => Err(PyValueError::new_err(format!(
            "Expecting {what} to be (height x width), (height x width x 1) or (height x width x 3), got shape {shape:?}"
        ))),
    }
}

/// Checks a severity is 1 to 5, in imagecorruptions' words.
fn check_severity(severity: i64) -> PyResult<u8> {
    if (1..=5).contains(&severity) {
        Ok(severity as u8)
    } else {
        Err(PyValueError::new_err(format!("severity must be an integer from 1 to 5, got {severity}")))
    }
}

/// Corrupts a batch of uint8 images (NxHxW, NxHxWx1 or NxHxWx3) on `threads` threads (0: all
/// cores) with the GIL released; image i draws from (seed, name, severity, i), as `robustcnn corrupt`.
#[pyfunction]
#[pyo3(signature = (images, name, severity, seed, preset=None, frost_dir=None, threads=0))]
#[allow(clippy::too_many_arguments)]
fn corrupt_many<'py>(
    py: Python<'py>,
    images: PyReadonlyArrayDyn<'py, u8>,
    name: &str,
    severity: i64,
    seed: u64,
    preset: Option<&str>,
    frost_dir: Option<&str>,
    threads: usize,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let shape = images.shape().to_vec();
    if shape.is_empty() {
        return Err(PyValueError::new_err("Expecting images to be a batch (N x height x width [x channels])"));
    }
    let (h, w, c) = image_shape(&shape[1..], "each image's shape")?;
    let severity = check_severity(severity)?;
    let corruptor = corruptor(preset, frost_dir)?;
    let data = match images.as_slice() {
        Ok(contiguous) => contiguous.to_vec(),
        Err(_) => images.as_array().iter().copied().collect(),
    };
    let name = name.to_string();
    let out = py.detach(|| {
        if shape[0] == 1 {
            // One image: on this thread, with image 0's draws, as corrupt_set would.
            let img = Image::new(data, h, w, c)?;
            return corruptor.apply(&img, &name, severity, &mut rng_for(seed, &name, severity, 0)).map(|i| i.data);
        }
        let set = ImageSet { data: &data, height: h, width: w, channels: c };
        corrupt::corrupt_set(&corruptor, set, &name, severity, seed, threads, &|_| {})
    });
    let out = out.map_err(value_error)?;
    numpy::PyArray1::from_vec(py, out).reshape(shape)
}

/// Frost at `severity` with frost texture `texture` (0-4) cropped at `(y0, x0)` instead of drawn:
/// what imagecorruptions computes when its random draws are these (for the tests against it).
#[pyfunction]
#[pyo3(signature = (image, severity, texture, y0, x0, preset=None, frost_dir=None))]
#[allow(clippy::too_many_arguments)]
fn frost_given_crop<'py>(
    py: Python<'py>,
    image: PyReadonlyArrayDyn<'py, u8>,
    severity: i64,
    texture: usize,
    y0: usize,
    x0: usize,
    preset: Option<&str>,
    frost_dir: Option<&str>,
) -> PyResult<Bound<'py, PyArrayDyn<u8>>> {
    let shape = image.shape().to_vec();
    let (h, w, c) = image_shape(&shape, "image.shape")?;
    let img = Image::new(image.as_array().iter().copied().collect(), h, w, c).map_err(value_error)?;
    let corruptor = corruptor(preset, frost_dir)?;
    let out =
        corrupt::corruptions::frost::frost_given_crop(&corruptor, &img, check_severity(severity)?, texture, (y0, x0))
            .map_err(value_error)?;
    numpy::PyArray1::from_vec(py, out.data).reshape(shape)
}

/// The corruptions of a subset (common, validation, all, noise, blur, weather, digital).
#[pyfunction]
fn names(subset: &str) -> PyResult<Vec<&'static str>> {
    corrupt::group(subset).ok_or_else(|| {
        PyValueError::new_err(format!(
            "subset must be one of {}, got '{subset}'",
            corrupt::GROUPS.map(|g| format!("'{g}'")).join(", ")
        ))
    })
}

#[pymodule]
fn _engine(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(corrupt_many, m)?)?;
    m.add_function(wrap_pyfunction!(names, m)?)?;
    m.add_function(wrap_pyfunction!(frost_given_crop, m)?)?;
    Ok(())
}
