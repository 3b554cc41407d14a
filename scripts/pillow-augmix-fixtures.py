#!/usr/bin/env python3
"""Writes the Pillow outputs that crates/corrupt/tests/augmix_pillow.rs compares byte for byte, as raw
HWC u8 files: the 13 AugMix operations at fixed parameters on one 32x32 RGB picture, pixelate
(BOX down, then BOX or NEAREST back up) on it and on a 61x47 one, and both through PIL's JPEG
(libjpeg-turbo, default 4:2:0) at the qualities the corruption's presets use, with the 61x47 one's
first channel as a grayscale JPEG and a 3x5 RGB picture (chroma 2 samples wide: no fancy upsampling).
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
v, u = np.mgrid[0:61, 0:47]
odd = np.stack([(u * 37 + v * v * 11 + c * 90) % 256 for c in range(3)], -1).astype(np.uint8)
odd.tofile(f"{out}/input61x47.raw")
for tag, picture in [("32", p), ("61x47", Image.fromarray(odd))]:
    w, h = picture.size
    for c in [0.95, 0.9, 0.85, 0.75, 0.65, 0.6, 0.5, 0.4, 0.3, 0.25]:
        small = picture.resize((int(w * c), int(h * c)), Image.BOX)
        outputs[f"pixelate{tag}-{c}-box"] = small.resize((w, h), Image.BOX)
        outputs[f"pixelate{tag}-{c}-nearest"] = small.resize((w, h), Image.NEAREST)
import io
tiny = odd[:3, :5].copy()
tiny.tofile(f"{out}/input3x5.raw")
pictures = [("32", p), ("61x47", Image.fromarray(odd)), ("61x47gray", Image.fromarray(odd[..., 0].copy())), ("3x5", Image.fromarray(tiny))]
for tag, picture in pictures:
    for q in [80, 65, 58, 50, 40, 25, 18, 15, 10, 7]:
        encoded = io.BytesIO()
        picture.save(encoded, "JPEG", quality=q)
        outputs[f"jpeg{tag}-{q}"] = Image.open(encoded)
for name, result in outputs.items():
    np.asarray(result).tofile(f"{out}/{name}.raw")
print(f"Pillow {__version__}: {len(outputs)} outputs in {out}")
