//! Running out of memory inside libtorch (which tch turns into a panic) becomes one error line that
//! names the allocation and suggests a smaller batch, instead of a panic message (RELIABILITY.md).
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

/// Runs `command`; an out-of-memory panic is reported as an error. Other panics go on as panics.
pub fn guard(command: impl FnOnce() -> anyhow::Result<()>) -> anyhow::Result<()> {
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !is_out_of_memory(&text(info.payload())) {
            default_hook(info);
        }
    }));
    match catch_unwind(AssertUnwindSafe(command)) {
        Ok(result) => result,
        Err(payload) if is_out_of_memory(&text(payload.as_ref())) => Err(anyhow::anyhow!(
            "out of memory: {}; use a smaller batch size (--batch-size, data.batch_size, or evaluate.batch_size in a suite)",
            first_line(&text(payload.as_ref()))
        )),
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
}
