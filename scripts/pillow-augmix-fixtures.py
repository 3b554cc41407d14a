#!/usr/bin/env python3
"""Writes the AugMix operations' Pillow outputs that crates/corrupt/tests/augmix_pillow.rs compares
byte for byte: one 32x32 RGB picture and 13 operations at fixed parameters, as raw HWC u8 files.
Usage: pip install pillow numpy && python3 scripts/pillow-augmix-fixtures.py crates/corrupt/tests/fixtures/pillow
"""
import sys
import numpy as np
from PIL import Image, ImageEnhance, ImageOps, __version__

out = sys.argv[1]
y, x = np.mgrid[0:32, 0:32]
img = np.stack([(128 + 100 * np.sin(x / 5 + c) * np.cos(y / 7)).astype(np.uint8) for c in range(3)], -1)
img[8:16, 10:20] = 250
img.tofile(f"{out}/input.raw")
p = Image.fromarray(img)
affine = lambda m: p.transform((32, 32), Image.AFFINE, m, resample=Image.BILINEAR)
outputs = {
    "autocontrast": ImageOps.autocontrast(p),
    "equalize": ImageOps.equalize(p),
    "posterize3": ImageOps.posterize(p, 3),
    "rotate7": p.rotate(7, resample=Image.BILINEAR),
    "rotate-9": p.rotate(-9, resample=Image.BILINEAR),
    "solarize100": ImageOps.solarize(p, 100),
    "shearx0.2": affine((1, 0.2, 0, 0, 1, 0)),
    "sheary-0.25": affine((1, 0, 0, -0.25, 1, 0)),
    "translatex5": affine((1, 0, 5, 0, 1, 0)),
    "color1.5": ImageEnhance.Color(p).enhance(1.5),
    "contrast0.4": ImageEnhance.Contrast(p).enhance(0.4),
    "brightness1.7": ImageEnhance.Brightness(p).enhance(1.7),
    "sharpness1.9": ImageEnhance.Sharpness(p).enhance(1.9),
}
for name, result in outputs.items():
    np.asarray(result).tofile(f"{out}/{name}.raw")
print(f"Pillow {__version__}: {len(outputs)} outputs in {out}")
