//! Fuzz target `npy`: see robustcnn::fuzzing.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    robustcnn::fuzzing::run("npy", data);
});
