//! Compiles the bridge's C++ against the libtorch that torch-sys links (its headers beside its lib/),
//! as torch-sys compiles its own wrapper;
//! c10d's Gloo process group also needs gloo's headers (scripts/provision-gloo-headers.sh).
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=src/autocast.cpp");
    println!("cargo:rerun-if-changed=src/bf16_products.cpp");
    println!("cargo:rerun-if-changed=src/state_dict.cpp");
    println!("cargo:rerun-if-changed=src/c10d.cpp");
    println!("cargo:rerun-if-changed=src/c10d_group.hpp");
    println!("cargo:rerun-if-changed=src/grad_sync.cpp");
    println!("cargo:rerun-if-changed=src/sync_bn.cpp");
    println!("cargo:rerun-if-changed=src/pinned.cpp");
    println!("cargo:rerun-if-changed=src/bn_relu.cpp");
    println!("cargo:rerun-if-changed=src/bn_add_relu.cpp");
    println!("cargo:rerun-if-changed=src/bn_common.hpp");
    println!("cargo:rerun-if-changed=src/parallel.cpp");
    println!("cargo:rerun-if-changed=src/bn_relu_kernels.h");
    println!("cargo:rerun-if-changed=src/bn_relu_kernels.inc");
    println!("cargo:rerun-if-changed=src/bn_relu_baseline.cpp");
    println!("cargo:rerun-if-changed=src/bn_relu_avx2.cpp");
    println!("cargo:rerun-if-changed=src/error_message.hpp");
    println!("cargo:rerun-if-changed=src/nccl.cpp");
    println!("cargo:rerun-if-env-changed=ROBUSTCNN_GLOO_INCLUDE");
    println!("cargo:rerun-if-env-changed=ROBUSTCNN_CUDA_INCLUDE");
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        panic!(
            "robustcnn-bridge: torch-sys did not say where libtorch is (DEP_TCH_LIBTORCH_LIB); run through ./dev.sh"
        );
    };
    let Ok(gloo) = std::env::var("ROBUSTCNN_GLOO_INCLUDE") else {
        panic!(
            "robustcnn-bridge: no gloo headers (ROBUSTCNN_GLOO_INCLUDE); run through ./dev.sh, which provisions them"
        );
    };
    let lib = PathBuf::from(lib);
    let root = lib.parent().map(PathBuf::from).unwrap_or_default();
    let nccl = nccl_includes(&lib);
    let mut build = cc::Build::new();
    if let Some(dirs) = &nccl {
        build.includes(dirs).define("RCB_NCCL", None).define("USE_C10D_NCCL", None).define("USE_CUDA", None);
    }
    build
        .cpp(true)
        .pic(true)
        .warnings(false)
        .include(root.join("include"))
        .include(root.join("include/torch/csrc/api/include"))
        .include(gloo)
        .define("USE_C10D_GLOO", None)
        .flag("-std=c++17")
        .flag("-D_GLIBCXX_USE_CXX11_ABI=1")
        // The fused batch norm + ReLU recomputes its forward mask in the backward pass: no FMA contraction
        // may make the two computations differ.
        .flag("-ffp-contract=off")
        // at::parallel_for is inline: without OpenMP its `omp parallel` is dropped and the fused
        // batch norm's loops would run on one thread.
        .flag("-fopenmp")
        .file("src/autocast.cpp")
        .file("src/bf16_products.cpp")
        .file("src/state_dict.cpp")
        .file("src/c10d.cpp")
        .file("src/grad_sync.cpp")
        .file("src/sync_bn.cpp")
        .file("src/pinned.cpp")
        .file("src/bn_relu.cpp")
        .file("src/bn_add_relu.cpp")
        .file("src/parallel.cpp")
        .file("src/bn_relu_baseline.cpp")
        .file("src/bn_relu_avx2.cpp")
        .file("src/nccl.cpp")
        .compile("robustcnn_bridge");
    println!("cargo:rustc-link-search=native={}", lib.display());
    println!("cargo:rustc-link-lib=dylib=torch_cpu");
    println!("cargo:rustc-link-lib=dylib=c10");
    if nccl.is_some() {
        println!("cargo:rustc-link-lib=dylib=torch_cuda");
        println!("cargo:rustc-link-lib=dylib=c10_cuda");
    }
    // libtorch's own OpenMP runtime (beside it in lib/, by its soname), so both share one thread pool.
    println!("cargo:rustc-link-lib=dylib:+verbatim=libgomp.so.1");
}

/// The include folders for c10d's NCCL process group (CUDA's and NCCL's headers, from
/// ROBUSTCNN_CUDA_INCLUDE, colon-separated) when libtorch is a CUDA build; None builds without NCCL.
fn nccl_includes(lib: &std::path::Path) -> Option<Vec<PathBuf>> {
    if !lib.join("libtorch_cuda.so").exists() {
        return None;
    }
    let Ok(dirs) = std::env::var("ROBUSTCNN_CUDA_INCLUDE") else {
        println!(
            "cargo:warning=a CUDA libtorch without ROBUSTCNN_CUDA_INCLUDE (CUDA's and NCCL's headers): \
             building without NCCL; ./dev.sh provisions them"
        );
        return None;
    };
    let dirs: Vec<PathBuf> = std::env::split_paths(&dirs).collect();
    for header in ["nccl.h", "cuda_runtime_api.h", "crt/host_config.h", "nv/target", "cublas_v2.h"] {
        if !dirs.iter().any(|d| d.join(header).exists()) {
            panic!("robustcnn-bridge: ROBUSTCNN_CUDA_INCLUDE has no {header}; ./dev.sh provisions CUDA's and NCCL's headers");
        }
    }
    Some(dirs)
}
