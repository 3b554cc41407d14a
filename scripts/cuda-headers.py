#!/usr/bin/env python3
"""Provides the CUDA and NCCL headers that c10d's NCCL process group compiles against, at the versions
a torch wheel pins, and prints their include folders, colon-separated (docs/distributed.md, "NCCL").

  scripts/cuda-headers.py TORCH_METADATA DEST

TORCH_METADATA is the torch wheel's dist-info METADATA. A header already under DEST/nvidia/*/include
(a pip-installed torch's own CUDA wheels) is used as it is; each missing one comes from the NVIDIA
wheel that holds it, at the version torch pins (directly, or through its cuda-toolkit metapackage),
and only the wheel's include/ files are kept. NCCL's header must be torch's own version: c10d's
options embed NCCL's config struct."""
import glob, os, re, subprocess, sys, tempfile, zipfile

# The headers c10d's ProcessGroupNCCL.hpp reaches, each with the wheel that ships it.
NEEDED = {
    "cuda_runtime_api.h": "nvidia-cuda-runtime",
    "crt/host_config.h": "nvidia-cuda-crt",
    "nv/target": "nvidia-cuda-cccl",
    "cublas_v2.h": "nvidia-cublas",
    "cusolverDn.h": "nvidia-cusolver",
    "cusparse.h": "nvidia-cusparse",
    "nccl.h": "nvidia-nccl",
}


def die(msg):
    print(f"cuda-headers: {msg}", file=sys.stderr)
    sys.exit(1)


def pins(metadata_text):
    """name -> exact version of every `Requires-Dist: name[extras]==version` line (the suffix -cuNN dropped)."""
    out = {}
    for m in re.finditer(r"^Requires-Dist: ([A-Za-z0-9_.-]+)(\[[^\]]*\])? ?\(?==([0-9][0-9A-Za-z.*]*)", metadata_text, re.M):
        name = re.sub(r"-cu\d+$", "", m.group(1).lower().replace("_", "-"))
        out.setdefault(name, (m.group(1), m.group(3)))
    return out


def download(requirement, into):
    platforms = [f"manylinux_2_{minor}_x86_64" for minor in range(17, 29)] + ["manylinux2014_x86_64"]
    cmd = [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check", "--no-deps",
           "--only-binary=:all:", "--python-version", "3.12", "-d", into, requirement]
    cmd[5:5] = [arg for p in platforms for arg in ("--platform", p)]
    if subprocess.run(cmd, stdout=sys.stderr).returncode != 0:
        die(f"pip could not download {requirement}")
    wheels = glob.glob(os.path.join(into, "*.whl"))
    if len(wheels) != 1:
        die(f"expected one wheel for {requirement}, found {len(wheels)}")
    return wheels[0]


def include_dirs(dest):
    return sorted(glob.glob(os.path.join(dest, "nvidia", "*", "include")))


def has(dest, header):
    return any(os.path.exists(os.path.join(d, header)) for d in include_dirs(dest))


def main():
    if len(sys.argv) != 3:
        die("usage: scripts/cuda-headers.py TORCH_METADATA DEST")
    metadata, dest = sys.argv[1], sys.argv[2]
    try:
        wanted = pins(open(metadata, encoding="utf-8").read())
    except OSError as e:
        die(f"{metadata}: {e.strerror}")
    missing = [h for h in NEEDED if not has(dest, h)]
    if missing and "cuda-toolkit" in wanted:
        name, version = wanted["cuda-toolkit"]
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(download(f"{name}=={version}", tmp)) as z:
                inner = next(n for n in z.namelist() if n.endswith(".dist-info/METADATA"))
                for k, v in pins(z.read(inner).decode()).items():
                    wanted.setdefault(k, v)
    for header in missing:
        package = NEEDED[header]
        if package not in wanted:
            die(f"{metadata} pins no version of {package} (which holds {header})")
        name, version = wanted[package]
        with tempfile.TemporaryDirectory() as tmp:
            with zipfile.ZipFile(download(f"{name}=={version}", tmp)) as z:
                z.extractall(dest, [n for n in z.namelist() if re.match(r"nvidia/[^/]+/include/", n)])
        if not has(dest, header):
            die(f"{name}=={version} holds no {header}")
    print(":".join(include_dirs(dest)))


if __name__ == "__main__":
    main()
