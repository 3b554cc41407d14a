//! An error inside libtorch (which tch turns into a panic) becomes one error line in libtorch's own
//! words instead of a panic message; running out of memory also suggests a smaller batch, and an input
//! too small for the model says so (RELIABILITY.md).
use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};

/// Whether a libtorch message reports a failed allocation (CPU or CUDA).
pub fn is_out_of_memory(message: &str) -> bool {
    message.contains("can't allocate memory") || message.contains("out of memory")
}

fn text(payload: &(dyn Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// The first line of libtorch's own words inside a tch panic message.
fn first_line(message: &str) -> String {
    let inner = message.split_once("Torch(\"").map_or(message, |(_, rest)| rest);
    let line = inner.split("\\n").next().unwrap_or(inner).lines().next().unwrap_or("");
    line.strip_suffix("\")").unwrap_or(line).trim().to_string()
}

/// Whether a panic carries an error that libtorch raised (tch's `Torch("…")`).
fn is_libtorch_error(message: &str) -> bool {
    message.contains("Torch(\"")
}

/// Whether libtorch refused a pooling or convolution because the feature map had shrunk below it.
fn is_input_too_small(message: &str) -> bool {
    ["Output size is too small", "Kernel size can't be greater than actual input size"]
        .iter()
        .any(|m| message.contains(m))
}

/// The error line for a libtorch error's panic message.
fn as_error(message: &str) -> anyhow::Error {
    let words = first_line(message);
    if is_out_of_memory(message) {
        anyhow::anyhow!(
            "out of memory: {words}; use a smaller batch size (--batch-size, data.batch_size, or evaluate.batch_size in a suite)"
        )
    } else if is_input_too_small(message) {
        anyhow::anyhow!(
            "the input images are too small for this model, whose stages shrink them below its kernels (libtorch: {words}); \
             use larger images (--input, data.image_size) or a model with fewer downsampling stages (robustcnn models)"
        )
    } else {
        anyhow::anyhow!("libtorch: {words}")
    }
}

/// Runs `command`; a libtorch error in its thread is reported as an error line. Other panics, and
/// panics in other threads (which this does not catch), go on as panics.
pub fn guard(command: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let default_hook = std::panic::take_hook();
    let caught_here = std::thread::current().id();
    std::panic::set_hook(Box::new(move |info| {
        if std::thread::current().id() != caught_here || !is_libtorch_error(&text(info.payload())) {
            default_hook(info);
        }
    }));
    match catch_unwind(AssertUnwindSafe(command)) {
        Ok(result) => result,
        Err(payload) if is_libtorch_error(&text(payload.as_ref())) => Err(as_error(&text(payload.as_ref()))),
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_allocation_failures_are_recognised_and_shortened() {
        let cpu = r#"called `Result::unwrap()` on an `Err` value: Torch("DefaultCPUAllocator: can't allocate memory: you tried to allocate 4816896000 bytes. Error code 12 (Cannot allocate memory)\nException raised from alloc_cpu at ../c10/core/impl/alloc_cpu.cpp:117")"#;
        assert!(is_out_of_memory(cpu));
        assert_eq!(
            first_line(cpu),
            "DefaultCPUAllocator: can't allocate memory: you tried to allocate 4816896000 bytes. Error code 12 (Cannot allocate memory)"
        );
        assert!(is_out_of_memory("CUDA out of memory. Tried to allocate 2.00 GiB"));
        assert!(!is_out_of_memory("shape mismatch"));
    }

    #[test]
    fn a_feature_map_shrunk_below_the_pooling_window_is_named_as_too_small_an_input() {
        let pool = r#"called `Result::unwrap()` on an `Err` value: Torch("Given input size: (64x1x1). Calculated output size: (64x0x0). Output size is too small\nException raised from pool2d_shape_check at /__w/pytorch/pytorch/aten/src/ATen/native/Pool.h:158")"#;
        assert!(is_libtorch_error(pool) && is_input_too_small(pool) && !is_out_of_memory(pool));
        let e = as_error(pool).to_string();
        assert!(e.starts_with("the input images are too small for this model"), "{e}");
        assert!(
            e.contains(
                "(libtorch: Given input size: (64x1x1). Calculated output size: (64x0x0). Output size is too small)"
            ),
            "{e}"
        );
        assert!(!e.contains('\n'), "{e}");
    }

    #[test]
    fn other_libtorch_errors_keep_their_first_line_and_other_panics_are_not_libtorch_errors() {
        let shape = r#"called `Result::unwrap()` on an `Err` value: Torch("mat1 and mat2 shapes cannot be multiplied (8x10 and 12x4)\nException raised from meta at Blas.cpp")"#;
        assert_eq!(as_error(shape).to_string(), "libtorch: mat1 and mat2 shapes cannot be multiplied (8x10 and 12x4)");
        assert!(!is_libtorch_error("index out of bounds: the len is 3 but the index is 7"));
    }
}
