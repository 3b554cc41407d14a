#!/usr/bin/env python3
"""Writes data/fashion-mnist-mini: a stratified subset of Fashion-MNIST as IDX gz files.

600 training and 100 test images per class (6,000 and 1,000), the first ones of each class in the
original order, from the files Debian's dataset-fashion-mnist installs. Standard library only.
Usage: scripts/make-mini-fashion-mnist.py [SOURCE_DIR] [OUT_DIR]
"""
import gzip, os, struct, sys

src = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/datasets/fashion-mnist"
out = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "data", "fashion-mnist-mini")


def read(prefix):
    with gzip.open(os.path.join(src, prefix + "-images-idx3-ubyte.gz")) as f:
        magic, n, h, w = struct.unpack(">IIII", f.read(16))
        assert magic == 2051
        images = f.read(n * h * w)
    with gzip.open(os.path.join(src, prefix + "-labels-idx1-ubyte.gz")) as f:
        magic, n2 = struct.unpack(">II", f.read(8))
        assert magic == 2049 and n2 == n
        labels = f.read(n)
    return images, labels, h, w


def write(prefix, images, labels, h, w, per_class):
    taken, keep = [0] * 10, []
    for i, y in enumerate(labels):
        if taken[y] < per_class:
            taken[y] += 1
            keep.append(i)
    size = h * w
    # mtime=0 keeps the gz bytes reproducible.
    with gzip.GzipFile(os.path.join(out, prefix + "-images-idx3-ubyte.gz"), "wb", mtime=0) as f:
        f.write(struct.pack(">IIII", 2051, len(keep), h, w))
        for i in keep:
            f.write(images[i * size:(i + 1) * size])
    with gzip.GzipFile(os.path.join(out, prefix + "-labels-idx1-ubyte.gz"), "wb", mtime=0) as f:
        f.write(struct.pack(">II", 2049, len(keep)))
        f.write(bytes(labels[i] for i in keep))


os.makedirs(out, exist_ok=True)
write("train", *read("train"), per_class=600)
write("t10k", *read("t10k"), per_class=100)
