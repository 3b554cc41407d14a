"""ms per image of imagecorruptions 1.1.2 against robustcnn_corrupt (docs/python.md), side by side in
one process on the same pictures, with imagecorruptions' parameters (preset='sized'); for BENCHMARKS.md.
imagecorruptions installs where it still can: NumPy < 2, scikit-image 0.20 (no 0.19 wheel exists for
CPython 3.11; the script passes gaussian's `multichannel` on as 0.20 names it):

    python3 -m venv /tmp/icvenv
    /tmp/icvenv/bin/pip install "numpy<2" "scikit-image==0.20.0" imagecorruptions==1.1.2 "scipy<1.12" target/wheels/robustcnn_corrupt-*.whl
    OMP_NUM_THREADS=1 /tmp/icvenv/bin/python scripts/python-package-timing.py 32 224
"""
import sys
import time
import warnings

import numpy as np
import imagecorruptions.corruptions as ic
from imagecorruptions import corrupt as reference

import robustcnn_corrupt as rc

# scikit-image 0.20 dropped gaussian's `multichannel`, which imagecorruptions 1.1.2 still passes.
_gaussian = ic.gaussian
ic.gaussian = lambda x, sigma, multichannel=False, **kw: _gaussian(
    x, sigma=sigma, channel_axis=-1 if multichannel else None, **kw
)

warnings.simplefilter("ignore")


def picture(side, index):
    y, x, c = np.meshgrid(np.arange(side), np.arange(side), np.arange(3), indexing="ij")
    s = float(side)
    square = np.where((np.abs(y - s / 2) < s / 5) & (np.abs(x - s / 3) < s / 6), 60.0, 0.0)
    v = 110 + 50 * np.sin(x / 3 + c + index * 0.37) + 40 * np.cos(y / 4 - c) + square
    return v.astype(np.uint8)


def ms_per_image(f, pics, repeat=2):
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        for p in pics:
            f(p)
        best = min(best, (time.perf_counter() - t) * 1000 / len(pics))
    return best


sizes = [int(a) for a in sys.argv[1:]] or [32, 224]
images = 4
print(f"frost photographs: {rc.frost_dir()}")
print(f"{'corruption':<18}{'size':>6}{'reference':>11}{'ours 1 thr':>12}{'speed-up':>10}{'ours batch':>12}")
for name in rc.get_corruption_names("all"):
    for side in sizes:
        pics = [picture(side, i) for i in range(images)]
        ref = ms_per_image(lambda p: reference(p, 3, name), pics)
        ours = ms_per_image(lambda p: rc.corrupt(p, 3, name, seed=0, preset="sized"), pics)
        batch = np.stack(pics * 8)
        t = time.perf_counter()
        rc.corrupt_batch(batch, name, 3, seed=0, preset="sized", threads=0)
        every = (time.perf_counter() - t) * 1000 / len(batch)
        print(f"{name:<18}{side:>6}{ref:>11.2f}{ours:>12.2f}{ref / ours:>9.1f}x{every:>12.2f}")
