//! Fuzz target `config`: see robustcnn::fuzzing.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    robustcnn::fuzzing::run("config", data);
});
