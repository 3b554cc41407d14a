#!/usr/bin/env python3
"""Drops from tch's generated C API the functions whose ops an older libtorch lacks, so that
torch-sys compiles against it (scripts/gpu-bundle.sh; docs/gpu-check.md). robustcnn calls none of
them, and the linker leaves their Rust wrappers out.

  scripts/tch-drop-missing-ops.py TORCH_SYS/libtch/torch_api_generated.cpp LIBTORCH/include

Compiles the file against the headers (syntax only), removes each generated function an error points
into, and repeats until it compiles; rewrites the file in place."""
import re, subprocess, sys

src, include = sys.argv[1], sys.argv[2]
for round_ in range(5):
    cmd = ["c++", "-fsyntax-only", "-std=c++17", "-w", "-D_GLIBCXX_USE_CXX11_ABI=1", "-DGLOG_USE_GLOG_EXPORT",
           "-I", include, "-I", include + "/torch/csrc/api/include", src]
    r = subprocess.run(cmd, capture_output=True, text=True)
    bad = sorted({int(m.group(1)) for m in re.finditer(r"torch_api_generated\.cpp:(\d+):\d+: error", r.stderr)})
    if r.returncode == 0:
        print(f"{src}: compiles against {include}")
        sys.exit(0)
    if not bad:
        sys.exit(f"{src}: errors outside the generated functions:\n{r.stderr[-3000:]}")
    lines = open(src).read().split("\n")
    drop, names = set(), []
    for n in bad:
        i = n - 1
        while i >= 0 and not re.match(r"^\w.*\batg_\w+\(", lines[i]):
            i -= 1
        j = n - 1
        while j < len(lines) and lines[j] != "}":
            j += 1
        if i < 0 or j >= len(lines):
            sys.exit(f"{src}:{n}: no enclosing generated function")
        drop.update(range(i, j + 1))
        names.append(re.search(r"\batg_\w+", lines[i]).group(0))
    print(f"round {round_ + 1}: dropping {len(set(names))} functions: {' '.join(sorted(set(names)))}")
    open(src, "w").write("\n".join(l for k, l in enumerate(lines) if k not in drop))
sys.exit(f"{src}: still failing after 5 rounds")
