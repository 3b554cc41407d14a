#!/usr/bin/env python3
"""Writes the outputs of the reference package `imagecorruptions` (1.1.2) that
crates/corrupt/tests/imagecorruptions_reference.rs compares byte for byte, as raw HWC u8 files: the
deterministic corruptions (gaussian_blur, defocus_blur, zoom_blur, brightness, contrast, saturate)
at severities 1-5, and motion blur's operator `_motion_blur` at one fixed angle per severity (the
corruption draws its angle from NumPy's generator), on a 32x32 and a 37x41 RGB picture with flat
patches (where sums land exactly on integers and rounding decides the byte); and motion blur's
weights per severity as little-endian float64; and SciPy's `correlate1d` with its Gaussian weights on a
23x29 float64 plane, per sigma, border mode and axis, as little-endian float64 (the summation order
decides the last bit); and elastic_transform at severities 1-5 with its two uniform noise fields
handed in (NumPy's generator replaced by fixed fields, saved as little-endian float64); and snow at
severities 1-5 with its normal layer (little-endian float64) and its angle (SNOW_ANGLES) handed in;
and fog at severities 1-5 with the unit draws behind its plasma's np.random.uniform calls (float64),
and its plasma_fractal alone (float64, where the summation order decides the last bit); and spatter
at severities 1-5 with its normal layer fixed and its blurred layer saved (float64), and the OpenCV
steps of its water texture one by one on a 64x64 plane.
Usage: pip install --target /tmp/icpkg imagecorruptions opencv-python-headless
       PYTHONPATH=/tmp/icpkg python3 scripts/imagecorruptions-fixtures.py crates/corrupt/tests/fixtures/imagecorruptions
"""
import sys
import warnings

import numpy as np

# imagecorruptions 1.1.2 predates NumPy 2 and scikit-image 0.19: restore the two names it calls.
np.float_ = np.float64
import imagecorruptions.corruptions as ic  # noqa: E402
from imagecorruptions import corrupt  # noqa: E402

_gaussian = ic.gaussian
ic.gaussian = lambda x, sigma, multichannel=False, **kw: _gaussian(
    x, sigma=sigma, channel_axis=-1 if multichannel else None, **kw
)
warnings.simplefilter("ignore")

# The motion-blur angle per severity (degrees), the same list as in the Rust test.
ANGLES = [-41.3, -12.0, 0.0, 23.7, 45.0]
MOTION = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)]


def picture(h, w):
    y, x, c = np.meshgrid(np.arange(h), np.arange(w), np.arange(3), indexing="ij")
    v = 110 + 50 * np.sin(x / 3 + c) + 40 * np.cos(y / 4 - c) + ((x * 7 + y * 13) % 16)
    v[2:12, 3:15] = 255
    v[h - 12 : h - 2, w - 14 : w - 4] = [97, 140, 23]
    return v.astype(np.uint8)


out = sys.argv[1]
for h, w in [(32, 32), (37, 41)]:
    p = picture(h, w)
    p.tofile(f"{out}/input-{h}x{w}.raw")
    for name in ["gaussian_blur", "defocus_blur", "zoom_blur", "brightness", "contrast", "saturate", "pixelate", "jpeg_compression"]:
        for s in range(1, 6):
            corrupt(p, corruption_name=name, severity=s).tofile(f"{out}/{name}-{h}x{w}-{s}.raw")
    for s in range(1, 6):
        radius, sigma = MOTION[s - 1]
        ic.getMotionBlurKernel(2 * radius + 1, sigma).astype("<f8").tofile(f"{out}/motion_kernel-{s}.raw")
        blurred = ic._motion_blur(p, radius=radius, sigma=sigma, angle=ANGLES[s - 1])
        np.uint8(np.clip(blurred, 0, 255)).tofile(f"{out}/motion_blur-{h}x{w}-{s}.raw")

# SciPy's 1-D Gaussian correlation, bit for bit: the plane (i * 7919 % 1000) / 999, 23x29.
from scipy.ndimage import correlate1d  # noqa: E402
from scipy.ndimage._filters import _gaussian_kernel1d  # noqa: E402

plane = (np.arange(23 * 29) * 7919 % 1000 / 999.0).reshape(23, 29)
for sigma in [0.7, 2.7, 6.0]:
    weights = _gaussian_kernel1d(sigma, 0, int(4 * sigma + 0.5))[::-1]
    weights.astype("<f8").tofile(f"{out}/scipy_gaussian_weights-{sigma}.raw")
    for mode in ["nearest", "reflect"]:
        for axis in [0, 1]:
            filtered = correlate1d(plane, weights, axis=axis, mode=mode)
            filtered.astype("<f8").tofile(f"{out}/scipy_correlate1d-{sigma}-{mode}-{axis}.raw")

# Elastic transform with its random draws fixed: np.random.uniform returns these fields in turn
# (dx's noise, then dy's), so the test can hand the same ones to the Rust code.
_uniform = np.random.uniform
for h, w in [(32, 32), (37, 41)]:
    p = picture(h, w)
    limit = h * 0.005
    fields = [
        ((np.arange(h * w) * (7919 + 104729 * k) % 10007) / 10006.0 * 2 - 1).reshape(h, w) * limit for k in range(2)
    ]
    for k, field in enumerate(fields):
        field.astype("<f8").tofile(f"{out}/elastic_noise-{h}x{w}-{'xy'[k]}.raw")
    for s in range(1, 6):
        queue = list(fields)
        np.random.uniform = lambda low, high, size: queue.pop(0)
        corrupt(p, corruption_name="elastic_transform", severity=s).tofile(f"{out}/elastic_transform-{h}x{w}-{s}.raw")
        np.random.uniform = _uniform

# Snow with its random draws fixed: np.random.normal returns this layer (loc + scale * z, with z from
# a seeded generator) and np.random.uniform the angle of the severity, the list in the Rust test.
SNOW = [(0.1, 0.3), (0.2, 0.3), (0.55, 0.3), (0.55, 0.3), (0.55, 0.3)]
SNOW_ANGLES = [-131.7, -97.25, -90.0, -63.4, -45.5]
_normal = np.random.normal
# Its picture's lower half is random bytes: saturated pixels where max(x, 1.5 gray + 0.5) is x, so the
# float32 lightening lands just off the byte.
for h, w in [(32, 32), (37, 41)]:
    p = picture(h, w)
    p[h // 2 :] = np.random.default_rng(7).integers(0, 256, (h - h // 2, w, 3), dtype=np.uint8)
    p.tofile(f"{out}/input-snow-{h}x{w}.raw")
    z = np.random.default_rng(h * 1000 + w).standard_normal((h, w))
    for s in range(1, 6):
        loc, scale = SNOW[s - 1]
        layer = loc + scale * z
        layer.astype("<f8").tofile(f"{out}/snow_layer-{h}x{w}-{s}.raw")
        np.random.normal = lambda size, loc, scale: layer
        np.random.uniform = lambda low, high: SNOW_ANGLES[s - 1]
        corrupt(p, corruption_name="snow", severity=s).tofile(f"{out}/snow-{h}x{w}-{s}.raw")
        np.random.normal, np.random.uniform = _normal, _uniform

# Fog with its random draws fixed: np.random.uniform(low, high, size) returns low + (high - low) * u,
# NumPy's own formula, with u from a seeded generator; the u of all calls are saved in order.
for h, w in [(32, 32), (37, 41)]:
    p = picture(h, w)
    for s in range(1, 6):
        units, generator = [], np.random.default_rng(s * 100 + h)

        def fixed_uniform(low, high, size):
            u = generator.random(size)
            units.append(u.ravel())
            return low + (high - low) * u

        np.random.uniform = fixed_uniform
        corrupt(p, corruption_name="fog", severity=s).tofile(f"{out}/fog-{h}x{w}-{s}.raw")
        np.random.uniform = _uniform
        np.concatenate(units).astype("<f8").tofile(f"{out}/fog_units-{h}x{w}-{s}.raw")
for size, decay in [(32, 2.0), (64, 1.4)]:
    units, generator = [], np.random.default_rng(size)
    np.random.uniform = fixed_uniform
    ic.plasma_fractal(mapsize=size, wibbledecay=decay).astype("<f8").tofile(f"{out}/plasma-{size}-{decay}.raw")
    np.random.uniform = _uniform
    np.concatenate(units).astype("<f8").tofile(f"{out}/plasma_units-{size}-{decay}.raw")

# Spatter with its random draw fixed: np.random.normal returns a layer with drops in it (loc + scale
# * (z + bumps), z from a seeded generator), and the layer after the Gaussian blur is saved as float64
# for the test to hand in (NumPy's own exp gives the blur's weights, which differ from libm's in the
# last bit on CPUs with AVX-512, so the test starts after the blur).
SPATTER_LAYER = [(0.65, 0.3), (0.65, 0.3), (0.65, 0.3), (0.65, 0.3), (0.67, 0.4)]
_adapted_gaussian = ic.gaussian
for h, w in [(32, 32), (37, 41)]:
    p = np.fromfile(f"{out}/input-snow-{h}x{w}.raw", np.uint8).reshape(h, w, 3)
    y, x = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    z = np.random.default_rng(h * 7 + w).standard_normal((h, w)) + 0.8 * np.sin(x / 2.5) * np.cos(y / 3.0)
    for s in range(1, 6):
        loc, scale = SPATTER_LAYER[s - 1]
        blurred = []

        def first_blur(image, sigma, **kw):
            result = _gaussian(image, sigma=sigma, **kw)
            if not blurred:
                blurred.append(result.copy())
            return result

        np.random.normal = lambda size, loc, scale: loc + scale * z
        ic.gaussian = first_blur
        corrupt(p, corruption_name="spatter", severity=s).tofile(f"{out}/spatter-{h}x{w}-{s}.raw")
        np.random.normal, ic.gaussian = _normal, _adapted_gaussian
        blurred[0].astype("<f8").tofile(f"{out}/spatter_layer-{h}x{w}-{s}.raw")

# The OpenCV steps of spatter's water texture one by one, each on the reference's previous output: a
# 64x64 layer as spatter makes it (bytes of a thresholded blurred normal layer), its Canny edges,
# distance transform (float32), 3x3 mean (float32), equalised bytes, emboss and 3x3 mean.
import cv2  # noqa: E402

layer = _gaussian(0.65 + 0.3 * np.random.default_rng(64).standard_normal((64, 64)), sigma=2)
layer[layer < 0.68] = 0
steps = {"levels": (layer * 255).astype(np.uint8)}
steps["canny"] = cv2.Canny(steps["levels"], 50, 150)
steps["distance"] = cv2.distanceTransform(255 - steps["canny"], cv2.DIST_L2, 5)
steps["blur_f32"] = cv2.blur(np.minimum(steps["distance"], np.float32(20)), (3, 3))
steps["equalised"] = cv2.equalizeHist(steps["blur_f32"].astype(np.uint8))
steps["emboss"] = cv2.filter2D(steps["equalised"], cv2.CV_8U, np.array([[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]))
steps["blur_u8"] = cv2.blur(steps["emboss"], (3, 3))
for name, plane in steps.items():
    plane.astype(plane.dtype.newbyteorder("<")).tofile(f"{out}/water_{name}.raw")

# Glass blur with its random draws fixed: np.random.randint(low, high, size=2) returns the next two
# offsets of a seeded sequence (saved as int8, in the order drawn: dx, then dy, per pixel).
for h, w in [(32, 32), (37, 41)]:
    p = picture(h, w)
    for s in range(1, 6):
        offsets, generator = [], np.random.default_rng(s * 10 + h)

        def fixed_randint(low, high, size):
            pair = generator.integers(low, high, size)
            offsets.extend(pair)
            return pair

        _randint = np.random.randint
        np.random.randint = fixed_randint
        corrupt(p, corruption_name="glass_blur", severity=s).tofile(f"{out}/glass_blur-{h}x{w}-{s}.raw")
        np.random.randint = _randint
        np.array(offsets, dtype=np.int8).tofile(f"{out}/glass_offsets-{h}x{w}-{s}.raw")
