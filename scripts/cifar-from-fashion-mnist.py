#!/usr/bin/env python3
"""Writes a CIFAR-10-format copy of the embedded Fashion-MNIST subset, for checks that need real
images in CIFAR's binary layout (scripts/gpu-check.sh): each 28x28 gray image is padded to 32x32
with zeros and repeated over the three channels; labels keep Fashion-MNIST's classes.

  scripts/cifar-from-fashion-mnist.py OUT_DIR   writes OUT_DIR/cifar-10-batches-bin/
      data_batch_1..5.bin (the 6,000 training images, 1,200 each), test_batch.bin (1,000) and
      batches.meta.txt; train with --dataset cifar10 --data-dir OUT_DIR.
Standard library only."""
import gzip, os, struct, sys

MINI = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "fashion-mnist-mini")
CLASSES = ["t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle-boot"]


def idx(name):
    with gzip.open(os.path.join(MINI, name)) as f:
        data = f.read()
    dims = data[3]
    shape = struct.unpack(">" + "I" * dims, data[4 : 4 + 4 * dims])
    return shape, data[4 + 4 * dims :]


def records(images, labels):
    (n, h, w), pixels = images
    (m,), label_bytes = labels
    assert (n, h, w) == (m, 28, 28), f"unexpected Fashion-MNIST shape {(n, h, w)} with {m} labels"
    out = bytearray()
    for i in range(n):
        img = pixels[i * 784 : (i + 1) * 784]
        plane = bytearray(1024)
        for r in range(28):
            plane[(r + 2) * 32 + 2 : (r + 2) * 32 + 30] = img[r * 28 : (r + 1) * 28]
        out += bytes([label_bytes[i]]) + bytes(plane) * 3
    return out, n


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    out = os.path.join(sys.argv[1], "cifar-10-batches-bin")
    os.makedirs(out, exist_ok=True)
    train, n = records(idx("train-images-idx3-ubyte.gz"), idx("train-labels-idx1-ubyte.gz"))
    per = n // 5
    for b in range(5):
        with open(os.path.join(out, f"data_batch_{b + 1}.bin"), "wb") as f:
            f.write(train[b * per * 3073 : (b + 1) * per * 3073])
    test, _ = records(idx("t10k-images-idx3-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz"))
    with open(os.path.join(out, "test_batch.bin"), "wb") as f:
        f.write(test)
    with open(os.path.join(out, "batches.meta.txt"), "w") as f:
        f.write("\n".join(CLASSES) + "\n")
    print(f"{out}: {n} training and {len(test) // 3073} test images in CIFAR-10's binary layout")


if __name__ == "__main__":
    main()
