"""Pose drawing and heatmap overlays: the right pixels change, in the right (BGR) colours."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from heatpose.errors import InputError
from heatpose.inference.draw import default_sizes, draw_poses, overlay_heatmaps
from heatpose.schema.base import KeypointSchema

GRAY = 128


def _near(pixel, expected, tol: int = 24) -> bool:
    """Anti-aliased lines are within a few levels of their colour at their centre."""
    return bool(np.all(np.abs(np.asarray(pixel, int) - np.asarray(expected)) <= tol))


@pytest.fixture()
def schema() -> KeypointSchema:
    return KeypointSchema(
        name="toy", keypoint_names=("head", "left", "right"), flip_indices=(0, 2, 1),
        skeleton=((0, 1), (1, 2)),
        keypoint_colors=((255, 0, 0), (0, 255, 0), (0, 0, 255)),   # RGB: red, green, blue
        skeleton_colors=((255, 255, 0), (0, 255, 255)))             # RGB: yellow, cyan


def _scene():
    image = np.full((200, 300, 3), GRAY, np.uint8)
    kpts = np.array([[[50, 50], [150, 50], [150, 150]]], np.float32)
    return image, kpts


def test_keypoints_drawn_above_threshold_in_bgr(schema):
    image, kpts = _scene()
    before = image.copy()
    out = draw_poses(image, kpts, np.array([[0.9, 0.8, 0.1]]), schema, kpt_thr=0.3)
    np.testing.assert_array_equal(image, before)                # input untouched
    assert out is not image and out.shape == image.shape and out.dtype == np.uint8
    assert out[50, 50].tolist() == [0, 0, 255]                   # red keypoint, BGR
    assert out[50, 150].tolist() == [0, 255, 0]                  # green keypoint
    assert out[150, 150].tolist() == [GRAY] * 3                  # score 0.1: not drawn
    assert _near(out[50, 100], [0, 255, 255])                   # yellow link 0-1, BGR
    assert out[100, 150].tolist() == [GRAY] * 3                  # link 1-2 hidden with kpt 2
    changed = np.any(out != GRAY, axis=2)
    assert not changed[120:, :].any()                            # nothing near keypoint 2


def test_rgb_images_keep_schema_colours(schema):
    image, kpts = _scene()
    out = draw_poses(image, kpts, None, schema, rgb=True)
    assert out[50, 50].tolist() == [255, 0, 0]
    assert out[150, 150].tolist() == [0, 0, 255]
    assert _near(out[100, 150], [0, 255, 255])                  # cyan link 1-2, RGB


def test_threshold_is_strict_and_batches(schema):
    image, kpts = _scene()
    two = np.concatenate([kpts, kpts + [100, 20]])
    out = draw_poses(image, two, np.array([[0.3, 0.31, 1.0], [1.0, 1.0, 1.0]]), schema,
                     kpt_thr=0.3)
    assert out[50, 50].tolist() == [GRAY] * 3                   # score == thr: hidden
    assert out[50, 150].tolist() == [0, 255, 0]
    assert out[70, 150].tolist() == [0, 0, 255]                  # second person's head
    assert out[170, 250].tolist() == [255, 0, 0]                 # second person's blue kpt


def test_boxes_and_non_finite_points(schema):
    image, kpts = _scene()
    kpts = kpts.copy()
    kpts[0, 1] = np.nan
    out = draw_poses(image, kpts, None, schema, boxes=np.array([[20, 20, 180, 180]]),
                     thickness=1, radius=3)
    assert _near(out[20, 100], [0, 255, 0])                     # box edge (green)
    assert out[50, 150].tolist() == [GRAY] * 3                   # NaN keypoint skipped
    assert out[50, 100].tolist() == [GRAY] * 3                   # and its links
    assert out[50, 50].tolist() == [0, 0, 255]


def test_sizes_scale_with_image(schema):
    assert default_sizes((640, 480)) == (4, 2)
    assert default_sizes((100, 80)) == (1, 1)
    counts = []
    for side in (200, 800):
        image = np.full((side, side, 3), GRAY, np.uint8)
        kp = np.array([[[side / 4, side / 4], [3 * side / 4, side / 4], [side / 2, side / 2]]])
        out = draw_poses(image, kp, np.array([[1.0, 0.0, 0.0]]), schema)
        counts.append(int(np.any(out != GRAY, axis=2).sum()))
    assert counts[1] > 8 * counts[0] > 0          # area of a dot grows with side^2


def test_bad_shapes(schema):
    image, kpts = _scene()
    with pytest.raises(InputError, match="expected \\(N, 3, 2\\)"):
        draw_poses(image, np.zeros((1, 17, 2)), None, schema)
    with pytest.raises(InputError, match="scores"):
        draw_poses(image, kpts, np.ones((1, 2)), schema)
    with pytest.raises(InputError, match="uint8"):
        draw_poses(image.astype(np.float32), kpts, None, schema)


def test_schema_without_colours_uses_palette():
    bare = KeypointSchema(name="bare", keypoint_names=("a", "b"), flip_indices=(0, 1),
                          skeleton=((0, 1),))
    out = draw_poses(np.zeros((60, 60, 3), np.uint8), np.array([[[10, 10], [50, 50]]]),
                     None, bare)
    assert out[10, 10].any() and out[50, 50].any() and out[30, 30].any()


def test_coco_schema_on_real_photo(data_dir):
    from heatpose.schema import get_schema
    coco = get_schema("coco")
    image = cv2.imread(str(data_dir / "images" / "astronaut.png"))
    kpts = np.stack(np.meshgrid(np.linspace(150, 350, 17), [256]), -1).reshape(1, 17, 2)
    out = draw_poses(image, kpts, np.full((1, 17), 0.9), coco)
    r, g, b = coco.keypoint_colors[0]
    assert out[256, 150].tolist() == [b, g, r]
    assert np.any(out != image, axis=2).sum() > 17 * 9


def test_overlay_heatmap_peak_lands_where_the_decode_rule_says():
    image = np.full((240, 320, 3), GRAY, np.uint8)
    heat = np.zeros((3, 64, 48), np.float32)                     # (K, h, w): aspect 3:4
    heat[1, 40, 12] = 1.0
    heat[1] = cv2.GaussianBlur(heat[1], (0, 0), 2)
    box = np.array([100, 40, 180, 200], np.float32)              # 80 x 160, centre (140, 120)
    out = overlay_heatmaps(image, heat, box=box)
    np.testing.assert_array_equal(image, np.full((240, 320, 3), GRAY, np.uint8))
    # crop: 1.25 x (80, 160) = (100, 200), aspect 0.75 -> (150, 200); peak px (12, 40)
    expected = np.array([12 / 48 * 150 + 140 - 75, 40 / 64 * 200 + 120 - 100])
    jet_top = cv2.applyColorMap(np.array([[255]], np.uint8), cv2.COLORMAP_JET)[0, 0]
    assert jet_top[2] > 100 and jet_top[0] == 0                  # dark red, BGR
    x, y = np.round(expected).astype(int)
    assert _near(out[y, x], 0.4 * GRAY + 0.6 * jet_top.astype(float), tol=16)
    # on black with a monotonic colour map the brightest pixel is the heat peak
    hot = overlay_heatmaps(np.zeros_like(image), heat, box=box, colormap=cv2.COLORMAP_HOT)
    brightness = hot.astype(int).sum(2)
    peak = np.array(np.unravel_index(np.argmax(brightness), brightness.shape))[::-1]
    assert np.linalg.norm(peak - expected) <= 1.5
    assert np.all(out[:, :60] == GRAY) and np.all(out[:, 230:] == GRAY)   # outside the crop
    # the same window given as centre/scale gives the same picture; RGB flips the colours
    same = overlay_heatmaps(image, heat, center=(140, 120), scale=(150, 200))
    np.testing.assert_array_equal(same, out)
    rgb = overlay_heatmaps(image, heat, center=(140, 120), scale=(150, 200), rgb=True)
    np.testing.assert_array_equal(rgb, out[..., ::-1])


def test_overlay_whole_image_and_errors():
    image = np.zeros((40, 80, 3), np.uint8)
    heat = np.ones((10, 20), np.float32) * 0.5
    out = overlay_heatmaps(image, heat, alpha=1.0)
    assert np.all(out[2:-2, 2:-2].sum(2) > 0)                    # covers the image
    with pytest.raises(InputError, match="center and scale"):
        overlay_heatmaps(image, heat, center=(1, 1))
    with pytest.raises(InputError, match="heatmaps"):
        overlay_heatmaps(image, np.zeros((1, 1, 0, 4)))


def test_box_score_labels_line_width_and_radius(schema):
    image, kpts = _scene()
    box = np.array([[40, 60, 200, 190]], np.float32)
    plain = draw_poses(image, kpts, None, schema, boxes=box, thickness=1, radius=2)
    labelled = draw_poses(image, kpts, None, schema, boxes=box, box_scores=[0.87],
                          thickness=1, radius=2)
    diff = np.any(plain != labelled, axis=2)
    ys, xs = np.nonzero(diff)
    assert diff.sum() > 20                                      # the label is drawn ...
    assert ys.max() <= 62 and xs.min() >= 40                    # ... above the box's corner
    thick = draw_poses(image, kpts, None, schema, boxes=box, thickness=5, radius=9)
    changed = [np.count_nonzero(np.any(d != image, axis=2)) for d in (plain, thick)]
    assert changed[1] > 2 * changed[0]
    with pytest.raises(InputError, match="2 box scores for 1 boxes"):
        draw_poses(image, kpts, None, schema, boxes=box, box_scores=[0.5, 0.6])
    with pytest.raises(InputError, match="at least 1 pixel"):
        draw_poses(image, kpts, None, schema, thickness=0)
