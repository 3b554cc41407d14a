"""robustcnn_corrupt against the Rust engine (the corrupt_npy example, ROBUSTCNN_CORRUPT_NPY), its
seeding contract, imagecorruptions' API and its errors (docs/python.md)."""
import os
import subprocess
import warnings

import numpy as np
import pytest

import robustcnn_corrupt as rc

ENGINE = os.environ.get("ROBUSTCNN_CORRUPT_NPY")


def pictures(n, h, w, c, seed=0):
    """Smooth pictures with edges and noise: every corruption changes them."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    out = []
    for i in range(n):
        base = 128 + 80 * np.sin((x + 3 * i) / 5.0) * np.cos(y / 7.0) + rng.normal(0, 12, (h, w))
        planes = [np.clip(base + 30 * k * ((x // 8 + y // 8) % 2), 0, 255) for k in range(c)]
        out.append(np.stack(planes, -1).astype(np.uint8))
    batch = np.stack(out)
    return batch if c > 1 else batch[..., 0]


def rust_engine(tmp_path, images, name, severity, seed, preset="auto", frost=None):
    src, dst = tmp_path / "in.npy", tmp_path / "out.npy"
    np.save(src, images)
    args = [ENGINE, str(src), str(dst), name, str(severity), str(seed), preset] + ([frost] if frost else [])
    subprocess.run(args, check=True)
    return np.load(dst)


@pytest.mark.skipif(not ENGINE, reason="needs the Rust engine's corrupt_npy example (scripts/test-python.sh builds it)")
@pytest.mark.parametrize("name", rc.get_corruption_names("all"))
def test_bytes_equal_the_rust_engines_for_every_corruption(tmp_path, name):
    frost = rc.frost_dir() if name == "frost" else None
    for shape, preset in [((3, 32, 32, 3), "auto"), ((2, 40, 36, 1), "auto"), ((2, 20, 20, 3), "cifar")]:
        images = pictures(*shape, seed=len(name))
        ours = rc.corrupt_batch(images, name, 3, seed=11, preset=None if preset == "auto" else preset)
        np.testing.assert_array_equal(ours, rust_engine(tmp_path, images, name, 3, 11, preset, frost))


def test_the_same_seed_gives_the_same_bytes_on_any_thread_count():
    images = pictures(24, 32, 32, 3)
    for name in ["glass_blur", "snow", "elastic_transform", "gaussian_noise"]:
        one = rc.corrupt_batch(images, name, 4, seed=5, threads=1)
        all_cores = rc.corrupt_batch(images, name, 4, seed=5, threads=0)
        three = rc.corrupt_batch(images, name, 4, seed=5, threads=3)
        np.testing.assert_array_equal(one, all_cores)
        np.testing.assert_array_equal(one, three)
        assert not np.array_equal(one, rc.corrupt_batch(images, name, 4, seed=6)), name


def test_corrupt_is_image_zero_of_a_batch_and_keeps_the_shape():
    rgb, gray = pictures(1, 32, 32, 3)[0], pictures(1, 32, 32, 1)[0]
    for img in [rgb, gray, gray[..., None]]:
        out = rc.corrupt(img, 2, "fog", seed=9)
        assert out.shape == img.shape and out.dtype == np.uint8
        np.testing.assert_array_equal(out, rc.corrupt_batch(img[None], "fog", 2, seed=9)[0])
    # corruption_number indexes get_corruption_names('all'), as in imagecorruptions
    np.testing.assert_array_equal(rc.corrupt(rgb, 1, corruption_number=3, seed=1), rc.corrupt(rgb, 1, "defocus_blur", seed=1))
    # seed=None draws fresh entropy each call
    assert not np.array_equal(rc.corrupt(rgb, 3, "gaussian_noise"), rc.corrupt(rgb, 3, "gaussian_noise"))


def test_subsets_are_imagecorruptions_own():
    common = rc.get_corruption_names()
    assert len(common) == 15 and common[0] == "gaussian_noise" and common[-1] == "jpeg_compression"
    assert rc.get_corruption_names("validation") == ["speckle_noise", "gaussian_blur", "spatter", "saturate"]
    assert rc.get_corruption_names("all") == common + rc.get_corruption_names("validation")
    assert rc.get_corruption_names("weather") == ["snow", "frost", "fog", "brightness"]


def test_small_images_work_with_the_size_adaptive_preset():
    img = pictures(1, 16, 16, 3)[0]
    for name in rc.get_corruption_names("all"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            assert rc.corrupt(img, 5, name, seed=2).shape == img.shape


def test_errors_are_value_errors_in_imagecorruptions_words():
    img = pictures(1, 32, 32, 3)[0]
    cases = [
        (lambda: rc.corrupt(img, 6, "fog"), "severity must be an integer from 1 to 5"),
        (lambda: rc.corrupt(img, 1, "fogg"), "corruption_name must be one of ['gaussian_noise'"),
        (lambda: rc.corrupt(img, 1), "Either corruption_name or corruption_number must be passed"),
        (lambda: rc.corrupt(img, 1, corruption_number=19), "corruption_number must be from 0 to 18"),
        (lambda: rc.corrupt(img.astype(np.float32), 1, "fog"), "Expecting image.dtype to be numpy.uint8"),
        (lambda: rc.corrupt(img.tolist(), 1, "fog"), "Expecting image to be a numpy.ndarray"),
        (lambda: rc.corrupt(img[..., :2], 1, "fog"), "Expecting image.shape to be (height x width)"),
        (lambda: rc.corrupt(img[:20, :20], 1, "fog", preset="sized"), "needs images of at least 32x32 px"),
        (lambda: rc.corrupt(img, 1, "fog", preset="huge"), "huge"),
        (lambda: rc.get_corruption_names("some"), "subset must be one of 'common'"),
        (lambda: rc.corrupt(img, 1, "fog", seed=-1), "seed must be a whole number"),
        (lambda: rc.RandomCorruption(severities=(0,)), "severities must be integers from 1 to 5"),
    ]
    for call, words in cases:
        with pytest.raises(ValueError) as e:
            call()
        assert words in str(e.value), str(e.value)


def test_the_transform_draws_seeded_corruptions_for_arrays_and_pil_images():
    from PIL import Image

    img = pictures(1, 32, 32, 3)[0]
    a, b = rc.RandomCorruption(seed=4), rc.RandomCorruption(seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        firsts = [a(img) for _ in range(6)]
        np.testing.assert_array_equal(np.stack(firsts), np.stack([b(img) for _ in range(6)]))
        assert len({f.tobytes() for f in firsts}) == 6
        pil = rc.RandomCorruption(corruptions=["contrast"], severities=(5,), seed=1)(Image.fromarray(img))
        assert isinstance(pil, Image.Image) and pil.size == (32, 32) and pil.mode == "RGB"
        gray = rc.RandomCorruption(corruptions="noise", seed=1)(Image.fromarray(img[..., 0]))
        assert gray.mode == "L"


def test_frost_with_the_photographs_is_the_references_given_its_crop():
    """imagecorruptions 1.1.2 itself, where it installs (see scripts/python-package-timing.py), with its
    three draws (texture, row, column) replaced by ours. Exact but for OpenCV's bicubic resize of the
    photographs, which the PyPI wheels run through Intel IPP: about 1 texel in 100,000 is one grey
    level apart, so a few output values may be one apart (docs/python.md)."""
    ic = pytest.importorskip("imagecorruptions.corruptions")
    from imagecorruptions import corrupt as reference

    folder = rc.frost_dir()
    if folder is None:
        pytest.skip("the frost photographs are not cached (scripts/provision-frost.sh)")
    rng = np.random.default_rng(3)
    for side, texture, severity in [(32, 0, 1), (64, 1, 3), (224, 2, 5), (96, 3, 2), (150, 4, 4)]:
        img = pictures(1, side, side, 3, seed=side)[0]
        corner = (int(rng.integers(0, 40)), int(rng.integers(0, 40)))
        draws = iter([texture, *corner])
        real = ic.np.random.randint
        ic.np.random.randint = lambda *a, **k: next(draws)
        try:
            expected = reference(img, severity, "frost")
        finally:
            ic.np.random.randint = real
        ours = rc._engine.frost_given_crop(img, severity, texture, *corner, "sized", folder)
        diff = np.abs(ours.astype(int) - expected.astype(int))
        where = f"frost{texture + 1} at {side} px: {np.count_nonzero(diff)} of {diff.size} values differ, by up to {diff.max()}"
        assert diff.max() <= 1 and np.count_nonzero(diff) <= diff.size // 1000, where
