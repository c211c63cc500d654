"""The recipes' pixel-level train steps equal MMPose's: PhotometricDistortion (MMPose 1.3.2's own
transform) and Albumentation's CoarseDropout / GridDropout (albumentations 1.3.1, which MMPose
wraps), on the same input with the same random draws (tests/fixtures/pixel_augment.npz, written
by tools/dump_pixel_augment.py with the peer); the draws' ranges and probabilities; and the
recipes that turn them on."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from heatpose.data.dropout import (CoarseDropoutConfig, GridDropoutConfig, cutout,
                                   draw_coarse_holes, draw_grid, grid_holes, rng_sources)
from heatpose.data.photometric import (PhotometricConfig, PhotometricDraws, apply_photometric,
                                       draw_photometric)
from heatpose.data.pixel_augment import PixelAugment, pixel_augment, random_pixel_augment

FIX = np.load(Path(__file__).parent / "fixtures" / "pixel_augment.npz")
IMAGE = FIX["image"]
# the recipes' arguments (td-hm_hrnet-w32_{photometric,coarsedropout,gridmask}-8xb64-210e_coco)
PHOTO = PhotometricConfig(32, (0.5, 1.5), (0.5, 1.5), 18)
COARSE = CoarseDropoutConfig(prob=0.5, num_holes=(1, 8), hole_height=(10, 40),
                             hole_width=(10, 40))
GRID = GridDropoutConfig(prob=0.5, unit_size=(10, 40), random_offset=True)


def _cases(prefix):
    return sorted({k.split("/")[0] for k in FIX.files if k.startswith(prefix)},
                  key=lambda k: int(k[len(prefix):]))


@pytest.mark.parametrize("case", _cases("photo"))
def test_photometric_equals_mmpose(case):
    d = FIX[f"{case}/draws"]
    draws = PhotometricDraws(*(int(v) for v in d[:5]), float(d[5]), float(d[6]), float(d[7]),
                             int(d[8]), tuple(int(v) for v in d[9:]))
    image = IMAGE[:32, :24].copy()
    out = apply_photometric(image, draws)
    np.testing.assert_array_equal(out, FIX[f"{case}/out"])
    np.testing.assert_array_equal(image, IMAGE[:32, :24])          # input untouched
    assert out.dtype == np.uint8


def test_photometric_cases_cover_every_branch():
    d = np.stack([FIX[f"{c}/draws"] for c in _cases("photo")])
    changed = [not np.array_equal(FIX[f"{c}/out"], IMAGE[:32, :24]) for c in _cases("photo")]
    assert set(d[:, 3]) == {0, 1, 2, 3} and set(d[:, 0]) == set(d[:, 2]) == {0, 1}
    assert (d[:, 0] * d[:, 2]).any() and d[:, 4].any() and d[:, 1].any() and any(changed)


def test_photometric_draw_ranges():
    rng = np.random.default_rng(0)
    draws = [draw_photometric(rng, PHOTO) for _ in range(3000)]
    a = np.array([[d.contrast_mode, d.brightness_flag, d.contrast_flag, d.hsv_mode, d.swap_flag,
                   d.brightness_beta, d.contrast_alpha, d.saturation_alpha, d.hue_delta]
                  for d in draws])
    for col in (0, 1, 2, 4):
        assert set(a[:, col]) == {0, 1} and abs(a[:, col].mean() - 0.5) < 0.04
    assert set(a[:, 3]) == {0, 1, 2, 3}
    assert -32 <= a[:, 5].min() < -31 and 31 < a[:, 5].max() < 32
    for col in (6, 7):
        assert 0.5 <= a[:, col].min() < 0.52 and 1.48 < a[:, col].max() < 1.5
    assert (a[:, 8].min(), a[:, 8].max()) == (-18, 17)       # numpy randint: high excluded
    assert all(sorted(d.swap_channel_order) == [0, 1, 2] for d in draws)


class Replay:
    """albumentations' logged ``random.random`` / ``random.randint(a, b)`` calls, served in order;
    a call whose kind or bounds differ from the log fails."""

    def __init__(self, calls):
        self.calls = [tuple(r) for r in calls]

    def random(self):
        kind, _, _, value = self.calls.pop(0)
        assert kind == 0, "heatpose drew random() where albumentations drew randint"
        return value

    def randint(self, a, b):
        kind, la, lb, value = self.calls.pop(0)
        assert (kind, la, lb) == (1, a, b), f"randint({a}, {b}) where albumentations drew " \
                                            f"randint({la:g}, {lb:g})"
        return int(value)


@pytest.mark.parametrize("case", _cases("coarse"))
def test_coarse_dropout_equals_albumentations(case):
    replay = Replay(FIX[f"{case}/calls"])
    replay.random()                                    # albumentations' Compose (p=1) draw
    size = (IMAGE.shape[1], IMAGE.shape[0])
    holes = draw_coarse_holes(size, COARSE, replay.randint, replay.random)
    assert not replay.calls
    np.testing.assert_array_equal(cutout(IMAGE, holes), FIX[f"{case}/out"])


@pytest.mark.parametrize("case", _cases("grid"))
def test_grid_dropout_equals_albumentations(case):
    replay = Replay(FIX[f"{case}/calls"])
    replay.random()
    size = (IMAGE.shape[1], IMAGE.shape[0])
    grid = draw_grid(size, GRID, replay.randint, replay.random)
    assert not replay.calls
    holes = [] if grid is None else grid_holes(size, grid)
    np.testing.assert_array_equal(cutout(IMAGE, holes), FIX[f"{case}/out"])


def test_dropout_fixture_covers_both_outcomes():
    for prefix in ("coarse", "grid"):
        changed = [not np.array_equal(FIX[f"{c}/out"], IMAGE) for c in _cases(prefix)]
        assert any(changed) and not all(changed), prefix


def test_dropout_draw_ranges():
    randint, random = rng_sources(np.random.default_rng(1))
    size = (192, 256)
    coarse = [draw_coarse_holes(size, COARSE, randint, random) for _ in range(2000)]
    assert abs(np.mean([bool(h) for h in coarse]) - 0.5) < 0.04
    counts = [len(h) for h in coarse if h]
    assert (min(counts), max(counts)) == (1, 8)
    holes = np.array([h for hs in coarse for h in hs])
    w, h = holes[:, 2] - holes[:, 0], holes[:, 3] - holes[:, 1]
    assert (w.min(), w.max(), h.min(), h.max()) == (10, 40, 10, 40)
    assert holes[:, :2].min() == 0 and (holes[:, 2] <= 192).all() and (holes[:, 3] <= 256).all()
    assert holes[:, 2].max() == 192 and holes[:, 3].max() == 256
    grids = [draw_grid(size, GRID, randint, random) for _ in range(2000)]
    units = [g[0] for g in grids if g is not None]
    assert abs(len(units) / 2000 - 0.5) < 0.04
    assert (min(units), max(units)) == (10, 41)        # albumentations 1.3.1: randint(min, max+1)
    assert all(g[2] == g[3] == g[0] // 2 and 0 <= g[4] <= g[0] - g[2] for g in grids if g)


def test_grid_unit_size_must_fit_the_crop():
    from heatpose.engine.config import ConfigError, TrainConfig, apply_overrides

    with pytest.raises(ValueError, match="shorter side 40"):
        draw_grid((40, 48), GridDropoutConfig(prob=1.0, unit_size=(10, 41)), *rng_sources(
            np.random.default_rng(0)))
    with pytest.raises(ConfigError, match=r"data.augment.grid_dropout_unit_size \[10, 200\]"):
        apply_overrides(TrainConfig(), ["data.augment.grid_dropout=true",
                                        "data.augment.grid_dropout_unit_size=[10,200]"])
    with pytest.raises(ConfigError, match=r"coarse_dropout_width \[8, 193\]: holes up to the "
                                          r"crop's width 192"):
        apply_overrides(TrainConfig(), ["data.augment.coarse_dropout=true",
                                        "data.augment.coarse_dropout_width=[8,193]"])
    with pytest.raises(ConfigError, match=r"coarse_dropout_height = \[40, 10\]: the first"):
        apply_overrides(TrainConfig(), ["data.augment.coarse_dropout_height=[40,10]"])
    with pytest.raises(ConfigError, match=r"photometric_hue_delta = 91: must be in \[0, 90\]"):
        apply_overrides(TrainConfig(), ["data.augment.photometric_hue_delta=91"])


def test_recipes_turn_on_exactly_their_steps():
    from heatpose.engine.presets import config_from_preset
    from heatpose.recipes import list_recipes

    on = {}
    for r in list_recipes():
        p = pixel_augment(config_from_preset(r).data.augment)
        if p is not None:
            on[r.name] = p
    assert on == {
        "td-hm_hrnet-w32_photometric-8xb64-210e_coco-256x192": PixelAugment(photometric=PHOTO),
        "td-hm_hrnet-w32_coarsedropout-8xb64-210e_coco-256x192": PixelAugment(
            coarse_dropout=COARSE),
        "td-hm_hrnet-w32_gridmask-8xb64-210e_coco-256x192": PixelAugment(grid_dropout=GRID)}


def test_unsupported_albumentation_arguments_are_refused():
    from heatpose.engine.config import ConfigError
    from heatpose.engine.presets import albumentation_settings

    with pytest.raises(ConfigError, match="'Blur' is not supported"):
        albumentation_settings([{"type": "Blur"}], "r")
    with pytest.raises(ConfigError, match=r"\['fill_value'\] are not supported"):
        albumentation_settings([{"type": "CoarseDropout", "fill_value": 255}], "r")
    with pytest.raises(ConfigError, match="only pixel"):
        albumentation_settings([{"type": "CoarseDropout", "max_height": 0.2}], "r")
    kw = albumentation_settings([{"type": "CoarseDropout", "max_holes": 4}], "r")
    assert kw["coarse_dropout_holes"] == (4, 4) and kw["coarse_dropout_height"] == (8, 8)


def test_random_pixel_augment_runs_the_configured_steps():
    rng = np.random.default_rng(3)
    img = IMAGE.copy()
    assert random_pixel_augment(img, rng, PixelAugment()) is img
    both = PixelAugment(photometric=PHOTO, grid_dropout=GridDropoutConfig(prob=1.0,
                                                                          unit_size=(10, 20)))
    out = random_pixel_augment(img, np.random.default_rng(3), both)
    assert out.shape == img.shape and out.dtype == np.uint8 and (out == 0).all(axis=2).sum() > 100
    np.testing.assert_array_equal(img, IMAGE)
