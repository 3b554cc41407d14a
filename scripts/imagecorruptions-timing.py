"""ms per image of the Python reference package `imagecorruptions` (bethgelab), one process, one image
at a time, on the same smooth test picture `robustcnn corrupt bench` uses; for BENCHMARKS.md.

    pip install --target /tmp/icpkg imagecorruptions opencv-python-headless
    OMP_NUM_THREADS=1 PYTHONPATH=/tmp/icpkg python3 scripts/imagecorruptions-timing.py 32 224
"""
import sys
import time
import warnings

import numpy as np

# imagecorruptions 1.1.2 predates NumPy 2 and scikit-image 0.19: restore the two names it calls.
np.float_ = np.float64
import imagecorruptions.corruptions as ic  # noqa: E402
from imagecorruptions import corrupt, get_corruption_names  # noqa: E402

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


sizes = [int(a) for a in sys.argv[1:]] or [32, 224]
images = 4
print(f"{'corruption':<18}" + "".join(f"{str(s) + 'px':>10}" for s in sizes))
totals = [0.0] * len(sizes)
for name in get_corruption_names("all"):
    row = f"{name:<18}"
    for k, side in enumerate(sizes):
        pics = [picture(side, i) for i in range(images)]
        try:
            corrupt(pics[0], corruption_name=name, severity=1)
            t = time.perf_counter()
            for s in range(1, 6):
                for p in pics:
                    corrupt(p, corruption_name=name, severity=s)
            ms = (time.perf_counter() - t) * 1e3 / (5 * images)
            totals[k] += ms
            row += f"{ms:>10.2f}"
        except Exception as e:  # an API break of the installed versions: say so, keep going
            row += f"{'error':>10}"
            print(f"  {name} at {side}px: {type(e).__name__}: {e}", file=sys.stderr)
    print(row)
print(f"{'mean (of 19)':<18}" + "".join(f"{t / 19:>10.2f}" for t in totals))
