//! Runtime CPU dispatch: a hot loop compiled twice, for the portable x86-64 baseline (SSE2) and for
//! AVX2, and run in the widest the CPU has. Both copies do the same operations in the same order
//! (Rust never fuses or reorders float arithmetic), so they give the same bits.

/// Runs `body(args…)` (an `#[inline(always)]` function) compiled with AVX2 when the CPU has it.
macro_rules! dispatch {
    ($body:ident($($arg:expr),* $(,)?)) => {{
        #[cfg(target_arch = "x86_64")]
        {
            #[target_feature(enable = "avx2")]
            unsafe fn wide<R>(f: impl FnOnce() -> R) -> R {
                f()
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: the CPU supports AVX2, checked just above.
                unsafe { wide(#[inline(always)] || $body($($arg),*)) }
            } else {
                $body($($arg),*)
            }
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            $body($($arg),*)
        }
    }};
}
pub(crate) use dispatch;
