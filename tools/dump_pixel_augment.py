"""Reference outputs of the pixel-level train steps for tests/test_pixel_augment.py.

Runs ONLY with the MMPose peer, with albumentations 1.3.1 importable (MMPose wraps it; the
peer does not install it)::

    pip download --no-deps albumentations==1.3.1 -d /tmp/albu_dl
    unzip -q /tmp/albu_dl/albumentations-1.3.1-py3-none-any.whl -d /tmp/albu131
    PYTHONPATH=/tmp/albu131 /work/peer/bin/peer-python tools/dump_pixel_augment.py

albumentations 1.3.1's CoarseDropout / GridDropout take the parameter names MMPose's configs
use (max_holes, unit_size_min, ...) as their own (1.4 deprecates them, 2.x ignores
unit_size_min/max with a warning); its imports of scikit-image,
scikit-learn and qudida (unused by these two transforms) are stubbed here. Writes
``tests/fixtures/pixel_augment.npz``:

* ``image``: (48, 40, 3) uint8 BGR input: a crop of a COCO test image (upper rows) and
  random colours (lower rows).
* ``photo<i>/out`` and ``photo<i>/draws``: MMPose's ``PhotometricDistortion`` (the photometric
  recipe's arguments) on the top-left 32 x 24 part, seed i, and the draws its ``_random_flags`` made
  (contrast_mode, brightness_flag, contrast_flag, hsv_mode, swap_flag, brightness_beta,
  contrast_alpha, saturation_alpha, hue_delta, order x 3).
* ``coarse<i>/out``, ``grid<i>/out`` and ``.../calls``: ``Albumentation`` with the
  coarsedropout / gridmask recipe's transform on ``image``, seed i, and every
  ``random.random`` / ``random.randint(a, b)`` call albumentations made, in order:
  rows (kind 0 = random, 1 = randint; a; b; result).
"""
from __future__ import annotations

import importlib.machinery
import os.path as osp
import random
import sys
import types

import cv2
import numpy as np

class _Stubs:
    """Empty modules for ``skimage``, ``sklearn`` and ``qudida`` (imported by albumentations 1.3.1 at import
    time, never called by CoarseDropout / GridDropout)."""

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("skimage", "qudida", "sklearn"):
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        mod = types.ModuleType(spec.name)
        mod.__path__ = []
        mod.__getattr__ = lambda attr: object
        return mod

    def exec_module(self, module):
        pass


sys.meta_path.append(_Stubs())

from mmpose.datasets.transforms import Albumentation, PhotometricDistortion  # noqa: E402

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
IMAGE = osp.join(osp.dirname(ROOT), "shared", "data", "mmpose_tests", "coco", "000000000785.jpg")
OUT = osp.join(ROOT, "tests", "fixtures", "pixel_augment.npz")

PHOTOMETRIC = dict(brightness_delta=32, contrast_range=(0.5, 1.5), saturation_range=(0.5, 1.5),
                   hue_delta=18)
COARSE = dict(type="CoarseDropout", max_holes=8, max_height=40, max_width=40, min_holes=1,
              min_height=10, min_width=10, p=0.5)
GRID = dict(type="GridDropout", unit_size_min=10, unit_size_max=40, random_offset=True, p=0.5)


def test_image() -> np.ndarray:
    img = cv2.imread(IMAGE)
    assert img is not None, IMAGE
    top = cv2.resize(img[100:356, 200:413], (40, 32), interpolation=cv2.INTER_AREA)
    rest = np.random.default_rng(7).integers(0, 256, (16, 40, 3), dtype=np.uint8)
    rest[0, :4] = [[0, 0, 0], [255, 255, 255], [0, 0, 255], [255, 0, 255]]
    return np.ascontiguousarray(np.concatenate([top, rest]))


def photometric(image: np.ndarray, out: dict, seeds: int = 24) -> None:
    t = PhotometricDistortion(**PHOTOMETRIC)
    flags_of = t._random_flags
    for i in range(seeds):
        seen = []

        def record(_f=flags_of, _seen=seen):
            r = _f()
            _seen.append(r)
            return r

        t._random_flags = record
        np.random.seed(i)
        res = t.transform({"img": image[:32, :24].copy()})
        *head, order = seen[0]
        out[f"photo{i}/draws"] = np.array([float(v) for v in head] + [float(v) for v in order])
        out[f"photo{i}/out"] = res["img"]


class CallLog:
    """Wraps ``random.random`` / ``random.randint`` and records each call."""

    def __init__(self) -> None:
        self.rows = []
        self._random, self._randint = random.random, random.randint

    def __enter__(self) -> "CallLog":
        def rnd():
            v = self._random()
            self.rows.append((0, 0, 0, v))
            return v

        def rint(a, b):
            v = self._randint(a, b)
            self.rows.append((1, a, b, v))
            return v

        random.random, random.randint = rnd, rint
        return self

    def __exit__(self, *exc) -> None:
        random.random, random.randint = self._random, self._randint


def dropout(image: np.ndarray, out: dict, key: str, cfg: dict, seeds: int = 12) -> None:
    t = Albumentation(transforms=[cfg])
    for i in range(seeds):
        random.seed(1000 + i)
        with CallLog() as log:
            res = t.transform({"img": image.copy()})
        out[f"{key}{i}/out"] = res["img"]
        out[f"{key}{i}/calls"] = np.array(log.rows, dtype=np.float64)


def main() -> None:
    import albumentations

    assert albumentations.__version__ == "1.3.1", albumentations.__version__
    image = test_image()
    out = {"image": image}
    photometric(image, out)
    dropout(image, out, "coarse", COARSE)
    dropout(image, out, "grid", GRID)
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({len(out)} arrays)")


if __name__ == "__main__":
    main()
