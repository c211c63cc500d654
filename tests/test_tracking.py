"""Pose tracker on synthetic sequences: moving people (drawn as textured patches), short
occlusions, tracks dying after L frames, flow-based matching, detector misses recovered by
box propagation, and MOTA of the tracker's PoseTrack18 output through heatpose's poseval."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest

from heatpose.inference.pipeline import People
from heatpose.schema import get_schema
from heatpose.tracking import PoseTracker, TrackerConfig, TrackingSession
from heatpose.tracking.flow import FlowPropagator
from heatpose.tracking.output import posetrack_video
from heatpose.tracking.tracker import pose_box

SCHEMA = get_schema("posetrack18")
H, W = 240, 480
# a standing person in a 60 x 120 box: (x, y) per PoseTrack18 keypoint, box-relative
TEMPLATE = np.array([[30, 10], [30, 22], [30, 0], [0, 0], [0, 0], [18, 30], [42, 30],
                     [12, 52], [48, 52], [10, 72], [50, 72], [22, 70], [38, 70], [20, 95],
                     [40, 95], [20, 120], [40, 120]], np.float32)
TEMPLATE[3:5] = TEMPLATE[0]                       # ears sit on the nose


def _poses(starts, velocities, n):
    """(n, P, 17, 2): person p at frame t = template + start + t * velocity."""
    s, v = np.asarray(starts, np.float32), np.asarray(velocities, np.float32)
    t = np.arange(n, dtype=np.float32)[:, None, None, None]
    return TEMPLATE[None, None] + s[None, :, None] + t * v[None, :, None]


def _box(kp):
    return pose_box(kp, np.ones(len(kp)), 0.0, 0.15)


def _run(tracker, poses, present=None, images=None):
    """Ids per frame (list of {person: id})."""
    out = []
    for t, frame in enumerate(poses):
        tracker.proposals(None if images is None else images[t])
        people = [p for p in range(len(frame)) if present is None or present[t][p]]
        kp = frame[people] if people else np.zeros((0, 17, 2), np.float32)
        boxes = np.array([_box(k) for k in kp], np.float32).reshape(-1, 4)
        ids = tracker.update(kp, np.full(kp.shape[:2], 0.9), boxes, np.full(len(kp), 0.9))
        out.append(dict(zip(people, ids.tolist())))
    return out


def _textured_frames(poses, seed=0):
    """Frames with each person drawn as a fixed random texture over its box, moving with it."""
    rng = np.random.default_rng(seed)
    bg = (rng.random((H, W)) * 60 + 100).astype(np.uint8)
    textures = [rng.integers(0, 256, (140, 80), dtype=np.uint8) for _ in range(poses.shape[1])]
    frames = []
    for frame in poses:
        img = bg.copy()
        for p, kp in enumerate(frame):
            x0, y0 = (int(round(v)) - 10 for v in kp.min(0))
            ys, xs = slice(max(y0, 0), min(y0 + 140, H)), slice(max(x0, 0), min(x0 + 80, W))
            img[ys, xs] = textures[p][ys.start - y0:ys.stop - y0, xs.start - x0:xs.stop - x0]
        frames.append(np.repeat(img[..., None], 3, 2))
    return frames


def test_ids_stable_for_moving_people():
    poses = _poses([[20, 40], [200, 60], [380, 30]], [[4, 1], [-3, 0], [-2, 2]], 15)
    ids = _run(PoseTracker(SCHEMA.sigmas, TrackerConfig(flow="none")), poses)
    assert all(f == ids[0] for f in ids) and len(set(ids[0].values())) == 3


@pytest.mark.parametrize("gap, same_id", [(3, True), (4, True), (5, False)])
def test_occlusion_keeps_id_until_track_dies(gap, same_id):
    poses = _poses([[20, 40], [250, 60]], [[3, 0], [-2, 0]], 12)
    present = [[True, not 3 <= t < 3 + gap] for t in range(12)]
    tracker = PoseTracker(SCHEMA.sigmas, TrackerConfig(flow="none", max_age=5))
    ids = _run(tracker, poses, present)
    before, after = ids[2][1], ids[3 + gap][1]
    assert (before == after) is same_id
    assert all(f[0] == ids[0][0] for f in ids)               # the other person is untouched
    assert len(tracker.tracks) == 2


def test_track_dies_after_l_frames_unseen():
    poses = _poses([[20, 40], [250, 60]], [[0, 0], [0, 0]], 10)
    present = [[True, t < 2] for t in range(10)]
    tracker = PoseTracker(SCHEMA.sigmas, TrackerConfig(flow="none", max_age=3))
    for t in range(10):
        _run(tracker, poses[t:t + 1], present[t:t + 1])
        alive = {tr.track_id for tr in tracker.tracks}
        assert (1 in alive) is (t < 1 + 3), t                   # last seen at frame 1


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_moves_joints_with_the_image(method):
    poses = _poses([[100, 50]], [[6, 3]], 2)
    a, b = _textured_frames(poses)
    prop = FlowPropagator(method, max_side=512)
    pts = poses[0, 0][[5, 6, 11, 12]]                          # shoulders and hips
    moved = prop.move(pts, prop.flow(a, b))
    np.testing.assert_allclose(moved - pts, np.broadcast_to([6, 3], pts.shape), atol=1.0)
    assert np.array_equal(FlowPropagator("none").move(pts, prop.flow(a, b) * 0), pts)


def test_flow_based_similarity_keeps_fast_people():
    """20 px per frame: plain OKS loses the people, OKS on flow-moved poses keeps them."""
    poses = _poses([[20, 20], [300, 110]], [[20, 0], [-20, 0]], 8)
    frames = _textured_frames(poses)
    plain = _run(PoseTracker(SCHEMA.sigmas, TrackerConfig(flow="none")), poses, images=frames)
    flow = _run(PoseTracker(SCHEMA.sigmas, TrackerConfig(flow="dis")), poses, images=frames)
    assert len({f[0] for f in plain}) > 1
    assert all(f == flow[0] for f in flow) and len(set(flow[0].values())) == 2


class FakePipe:
    """A detector that misses some people and a 'pose model' that returns the synthetic pose
    of the person a box covers best."""

    def __init__(self, frames, poses, misses=()):
        self.frames, self.poses, self.misses = frames, poses, set(misses)
        self.model = SimpleNamespace(schema=SCHEMA, output_schema=SCHEMA)

    def _t(self, image):
        return next(t for t, f in enumerate(self.frames) if f is image)

    def boxes(self, image, index=0):
        t = self._t(image)
        keep = [p for p in range(self.poses.shape[1]) if (t, p) not in self.misses]
        return (np.array([_box(self.poses[t, p]) for p in keep], np.float32).reshape(-1, 4),
                np.full(len(keep), 0.95, np.float32))

    def _people(self, image, boxes, scores):
        t = self._t(image)
        boxes = np.asarray(boxes, np.float32).reshape(-1, 4)
        gt = np.array([_box(k) for k in self.poses[t]])
        ix = np.maximum(0, np.minimum(boxes[:, None, 2], gt[None, :, 2])
                        - np.maximum(boxes[:, None, 0], gt[None, :, 0]))
        iy = np.maximum(0, np.minimum(boxes[:, None, 3], gt[None, :, 3])
                        - np.maximum(boxes[:, None, 1], gt[None, :, 1]))
        who = np.argmax(ix * iy, axis=1)
        kp = self.poses[t][who].reshape(-1, 17, 2)
        return People(boxes, np.asarray(scores, np.float32).reshape(-1), kp,
                      np.full(kp.shape[:2], 0.9, np.float32), image=image, schema=SCHEMA)

    def __call__(self, images, bboxes=None, box_scores=None, return_heatmaps=False):
        if isinstance(images, np.ndarray):
            return self._people(images, bboxes, box_scores)
        return [self._people(im, b, s) for im, b, s in zip(images, bboxes, box_scores)]


def _gt_video(poses):
    names = list(SCHEMA.keypoint_names)
    images, anns = [], []
    for t, frame in enumerate(poses):
        images.append({"id": t + 1, "file_name": f"seq/{t:06d}.jpg"})
        for p, kp in enumerate(frame):
            k = np.concatenate([kp, np.ones((17, 1))], 1)
            k[3:5] = 0                                               # no ears in PoseTrack
            hx, hy = kp[2]
            anns.append({"id": len(anns) + 1, "image_id": t + 1, "track_id": p,
                         "keypoints": k.reshape(-1).tolist(),
                         "bbox_head": [float(hx) - 10, float(hy) - 5, 20.0, 20.0]})
    return {"images": images, "annotations": anns,
            "categories": [{"id": 1, "name": "person", "keypoints": names}]}


@pytest.mark.parametrize("propagate, mota", [(True, 100.0), (False, None)])
def test_session_recovers_missed_detections_mota(tmp_path, propagate, mota):
    from heatpose.evaluation.poseval import evaluate_folders

    poses = _poses([[20, 40], [250, 60], [380, 80]], [[5, 0], [-4, 1], [-3, 0]], 12)
    frames = _textured_frames(poses)
    misses = {(4, 0), (5, 0), (8, 1)}
    pipe = FakePipe(frames, poses, misses)
    cfg = TrackerConfig(flow="dis", prop_decay=0.9 if propagate else 0.0)
    session = TrackingSession(pipe, cfg)
    tracked = session(frames[:5]) + session(frames[5:])              # state carries over
    assert [len(p) for p in tracked] == \
        [3 - (0 if propagate else sum((t, q) in misses for q in range(3))) for t in range(12)]
    (tmp_path / "gt").mkdir()
    (tmp_path / "pred").mkdir()
    (tmp_path / "gt" / "seq.json").write_text(json.dumps(_gt_video(poses)))
    pred = posetrack_video([(f"seq/{t:06d}.jpg", p) for t, p in enumerate(tracked)],
                           SCHEMA.keypoint_names)
    (tmp_path / "pred" / "seq.json").write_text(json.dumps(pred))
    res = evaluate_folders(tmp_path / "gt", tmp_path / "pred")
    counts = res.to_json()["counts"]["mot"]
    if mota is not None:
        assert res.mot["mota"][-1] == pytest.approx(mota)
        assert res.ap.ap[-1] == pytest.approx(100.0)
    else:
        assert sum(counts["num_misses"]) > 0 and res.mot["mota"][-1] < 100.0
    assert sum(counts["num_switches"]) == 0


def test_drawing_colours_each_track():
    from heatpose.tracking.output import draw_tracks, track_color

    kp = _poses([[20, 40], [250, 60]], [[0, 0], [0, 0]], 1)[0]
    boxes = np.array([_box(k) for k in kp], np.float32)
    people = People(boxes, np.ones(2, np.float32), kp, np.full((2, 17), 0.9, np.float32),
                    track_ids=np.array([3, 8]))
    image = np.zeros((H, W, 3), np.uint8)
    out = draw_tracks(image, people, SCHEMA)
    assert not image.any()                                      # the input is not drawn on
    for tid, box in zip((3, 8), boxes):
        x1, y1 = (int(v) for v in box[:2])
        patch = out[max(0, y1 - 2):y1 + 3, x1 + 5:x1 + 15].reshape(-1, 3)
        assert (patch == track_color(tid)[::-1]).all(1).any(), tid     # BGR image
    assert track_color(3) != track_color(8)
