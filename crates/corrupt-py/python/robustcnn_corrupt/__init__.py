"""Common corruptions (CIFAR-10-C / ImageNet-C) from robustcnn's engine: a seeded, fast drop-in for
imagecorruptions' ``corrupt`` and ``get_corruption_names``, a batch function on all cores and a
torchvision-style transform. See docs/python.md in the robustcnn repository."""
import os
import random
import secrets
import warnings
from pathlib import Path

import numpy as np

from . import _engine

__all__ = ["corrupt", "corrupt_batch", "get_corruption_names", "RandomCorruption", "frost_dir"]

_SUBSETS = ("common", "validation", "all", "noise", "blur", "weather", "digital")
_warned_procedural = False


def get_corruption_names(subset="common"):
    """The corruption names of a subset, as imagecorruptions names them: 'common' (the 15 of the
    benchmark), 'validation' (the 4 extras), 'all', or a family: 'noise', 'blur', 'weather', 'digital'."""
    return list(_engine.names(subset))


def frost_dir():
    """The folder of the reference's frost photographs (frost1.png ... frost6.jpg): $ROBUSTCNN_FROST_DIR,
    else the cache robustcnn's setup fills ($ROBUSTCNN_CACHE or ~/.cache/robustcnn, then frost/);
    None when neither holds them, and frost is then procedural."""
    given = os.environ.get("ROBUSTCNN_FROST_DIR")
    if given:
        return given
    cache = os.environ.get("ROBUSTCNN_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache"), "robustcnn"
    )
    folder = os.path.join(cache, "frost")
    return folder if os.path.isfile(os.path.join(folder, "frost1.png")) else None


def _frost_for(name):
    global _warned_procedural
    if name != "frost":
        return None
    folder = frost_dir()
    if folder is None and not _warned_procedural:
        _warned_procedural = True
        warnings.warn(
            "frost: the reference's photographs were not found (set ROBUSTCNN_FROST_DIR, or run "
            "robustcnn's ./dev.sh, which caches them); using procedural frost, which is not the "
            "reference's",
            stacklevel=3,
        )
    return folder


def _check_image(image, what="image"):
    if not isinstance(image, np.ndarray):
        raise ValueError(f"Expecting {what} to be a numpy.ndarray, got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"Expecting {what}.dtype to be numpy.uint8, got {image.dtype}")
    return np.ascontiguousarray(image)


def _name_of(corruption_name, corruption_number):
    names = get_corruption_names("all")
    if corruption_name is not None:
        if corruption_name not in names:
            raise ValueError(f"corruption_name must be one of {names}, got {corruption_name!r}")
        return corruption_name
    if corruption_number != -1:
        if not 0 <= corruption_number < len(names):
            raise ValueError(f"corruption_number must be from 0 to {len(names) - 1}, got {corruption_number}")
        return names[corruption_number]
    raise ValueError("Either corruption_name or corruption_number must be passed")


def _seed(seed):
    if seed is None:
        return secrets.randbits(64)
    if not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**64:
        raise ValueError(f"seed must be a whole number from 0 to 2**64 - 1, got {seed!r}")
    return int(seed)


def corrupt(image, severity=1, corruption_name=None, corruption_number=-1, *, seed=None, preset=None):
    """Corrupts a uint8 image (HxW, HxWx1 or HxWx3) with one corruption at severity 1-5, as
    imagecorruptions.corrupt does; the result has the image's shape (gray stays gray).

    seed: the draws' seed (None: fresh entropy); the same seed gives the same bytes anywhere, and
    equals corrupt_batch's image 0. preset: 'sized' (imagecorruptions' parameters, images of at
    least 32x32), 'cifar' (CIFAR-10-C's), 'tiny' or 'imagenet'; None picks by the image's size."""
    image = _check_image(image)
    if image.ndim not in (2, 3) or (image.ndim == 3 and image.shape[2] not in (1, 3)):
        raise ValueError(
            "Expecting image.shape to be (height x width), (height x width x 1) or (height x width x 3), "
            f"got shape {list(image.shape)}"
        )
    name = _name_of(corruption_name, corruption_number)
    batch = _engine.corrupt_many(image[None], name, int(severity), _seed(seed), preset, _frost_for(name), 1)
    return batch[0]


def corrupt_batch(images, corruption_name, severity=1, *, seed=0, preset=None, threads=0):
    """Corrupts a batch of uint8 images (NxHxW, NxHxWx1 or NxHxWx3) on `threads` threads (0: all
    cores) with the GIL released. Image i draws from (seed, corruption, severity, i), so the bytes do
    not depend on the thread count, and equal `robustcnn corrupt`'s for the same seed."""
    images = _check_image(images, "images")
    name = _name_of(corruption_name, -1)
    return _engine.corrupt_many(images, name, int(severity), _seed(seed), preset, _frost_for(name), int(threads))


class RandomCorruption:
    """A transform that corrupts each image it is called on with a corruption and a severity drawn
    at random (seeded): torchvision-style, for PIL images or uint8 arrays (returned as given).

    corruptions: a subset name or a list of names; severities: the severities to draw from."""

    def __init__(self, corruptions="common", severities=(1, 2, 3, 4, 5), seed=0, preset=None):
        names = get_corruption_names(corruptions) if isinstance(corruptions, str) else list(corruptions)
        for n in names:
            _name_of(n, -1)
        for s in severities:
            if s not in (1, 2, 3, 4, 5):
                raise ValueError(f"severities must be integers from 1 to 5, got {s!r}")
        if not names or not severities:
            raise ValueError("RandomCorruption needs at least one corruption and one severity")
        self.names, self.severities, self.preset = names, tuple(severities), preset
        self._random = random.Random(_seed(seed))

    def __call__(self, img):
        name = self._random.choice(self.names)
        severity = self._random.choice(self.severities)
        seed = self._random.getrandbits(64)
        if isinstance(img, np.ndarray):
            return corrupt(img, severity, name, seed=seed, preset=self.preset)
        from PIL import Image

        if not isinstance(img, Image.Image):
            raise ValueError(f"Expecting a PIL image or a numpy.ndarray, got {type(img).__name__}")
        gray = img.mode == "L"
        array = np.asarray(img.convert("L" if gray else "RGB"))
        return Image.fromarray(corrupt(array, severity, name, seed=seed, preset=self.preset))

    def __repr__(self):
        return f"RandomCorruption(corruptions={self.names}, severities={self.severities}, preset={self.preset!r})"
