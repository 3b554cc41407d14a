//! Build script shared by the workspace's crates that link libtorch. Link settings for every binary and test:
//! - an rpath to libtorch, so they run without LD_LIBRARY_PATH;
//! - with a CUDA libtorch, libtorch_cuda kept as a needed library: nothing references its symbols
//!   directly (it registers the CUDA backend when loaded), so `--as-needed` would drop it and
//!   libtorch would see no GPU.
fn main() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        let cuda = std::path::Path::new(&lib).join("libtorch_cuda.so");
        if cuda.is_file() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,{},--as-needed", cuda.display());
        }
    }
}
