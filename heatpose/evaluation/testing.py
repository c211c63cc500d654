"""Testing a model on a zoo dataset's test split: where the split's files are, reading its
instances, and batched prediction of every instance (MMPose's ``val_pipeline``: box -> centre
and 1.25x scale -> affine crop -> network with flip test -> decode -> image pixels).

Data layout rule. MMPose configs name test files relative to the working directory, e.g.
``data/coco/annotations/person_keypoints_val2017.json`` with images under
``data/coco/val2017/``. ``data_root`` is that dataset folder (``data/coco``): a config path
``data/<folder>/<rest>`` becomes ``<data_root>/<rest>``; a path in another dataset's folder
(Halpe's COCO detections) becomes ``<data_root>/../<folder>/<rest>``. If ``data_root`` holds
``<folder>/`` itself (it is MMPose's ``data/``), paths go under ``<data_root>/<folder>/``.
Images are under ``<data_root>/<IMAGE_DIRS[dataset]>``. Explicit ``ann_file`` / ``img_prefix``
/ ``headbox_file`` override; without a data root, images are looked up next to ``ann_file``.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from heatpose.errors import InputError
from heatpose.evaluation.dataset_metrics import TEST_DATASET, InstancePredictions

PathLike = Union[str, Path]

# test images relative to the dataset folder, as the zoo's MMPose configs set data_prefix
# (0.x-only rows — ochuman, mhp, mpii_trb, halpe — as MMPose 0.x laid them out)
IMAGE_DIRS = {
    "coco": "val2017", "halpe": "val2017", "ochuman": "images", "mhp": "val/images",
    "aic": "ai_challenger_keypoint_validation_20170911/keypoint_validation_images_20170911",
    "crowdpose": "images", "posetrack18": "", "jhmdb": "", "mpii": "images",
    "mpii_trb": "images", "deepfashion_upper": "img", "deepfashion_lower": "img",
    "deepfashion_full": "img", "deepfashion2": "validation/image",
}
# MPII's PCKh head boxes (MpiiDataset's headbox_file), relative to the dataset folder
HEADBOX_FILES = {"mpii": "annotations/mpii_gt_val.mat"}


@dataclass
class TestData:
    """Resolved test files of a preset. ``bbox_file`` None = ground-truth boxes;
    ``bbox_score_thr``: boxes of ``bbox_file`` scoring below it are dropped (the recipe's test
    ``filter_cfg``, PoseTrack18's 0.4; None keeps every box)."""

    dataset: str
    ann_file: str
    img_prefix: str
    bbox_file: Optional[str] = None
    headbox_file: Optional[str] = None
    bbox_score_thr: Optional[float] = None

    @property
    def setting(self) -> str:
        """The zoo's result setting these files reproduce: 'gt_boxes' or 'det_boxes'."""
        return "det_boxes" if self.bbox_file else "gt_boxes"


def _split_config_path(path: str) -> tuple:
    """'data/coco/annotations/x.json' -> ('coco', 'annotations/x.json'); 'data/ExLPose/' ->
    ('ExLPose', ''); 'data/' -> ('', '')."""
    parts = Path(path).parts
    if not parts or parts[0] != "data":
        raise ValueError(f"config path {path!r} is not under data/")
    return (parts[1] if len(parts) > 1 else ""), (str(Path(*parts[2:])) if len(parts) > 2 else "")


def under_root(config_path: str, data_root: PathLike, own_folder: str) -> str:
    """A config path ``data/<folder>/<rest>`` under ``data_root`` (see the module docstring)."""
    folder, rest = _split_config_path(config_path)
    root = Path(data_root)
    if (root / own_folder).is_dir() and not (rest and (root / rest).exists()):
        return str(Path(root, folder, rest))       # data_root is MMPose's data/ folder
    if folder == own_folder:
        return str(Path(root, rest))
    return str(Path(root.parent, folder, rest))


def resolve_test_data(preset: Any, data_root: Optional[PathLike] = None,
                      ann_file: Optional[PathLike] = None, img_prefix: Optional[PathLike] = None,
                      det_file: Optional[PathLike] = None,
                      headbox_file: Optional[PathLike] = None,
                      bbox_score_thr: Optional[float] = None) -> TestData:
    """The files to test ``preset`` on: its config's test annotation file under ``data_root``
    (or ``ann_file``), images (``img_prefix``), boxes (``det_file``: COCO detection results,
    else ground truth; ``bbox_score_thr`` overrides the recipe's test ``filter_cfg``
    threshold) and MPII head boxes. Nothing is checked for existence here. A model tested on
    another dataset's split (COCO+AIC 'combine': COCO val2017) gets that dataset's reader and
    image folder."""
    from heatpose.data.readers.posetrack_filter import recipe_score_thr

    dataset = TEST_DATASET.get(preset.dataset, preset.dataset)
    test = preset.training.get("test_data") or {}
    own = _split_config_path(test["ann_file"])[0] if test.get("ann_file") else dataset
    # the recipe's test data_prefix, else the 0.x layout
    root_img = test.get("img_prefix") or f"data/{os.path.join(own, IMAGE_DIRS.get(dataset, ''))}"
    if ann_file is None:
        if data_root is None:
            raise InputError(f"{preset.name}: pass --data-root (the folder MMPose calls "
                             f"data/{own}/) or --ann-file")
        if not test.get("ann_file"):
            raise InputError(f"{preset.name}: the zoo lists no test annotation file; pass "
                             "--ann-file")
        ann_file = under_root(test["ann_file"], data_root, own)
    if img_prefix is None:
        if data_root is not None:
            img_prefix = under_root(root_img, data_root, own)
        else:
            img_prefix = os.path.dirname(os.path.abspath(ann_file))
    if headbox_file is None and dataset in HEADBOX_FILES and data_root is not None:
        headbox_file = under_root(f"data/{own}/{HEADBOX_FILES[dataset]}", data_root, own)
    return TestData(dataset, os.fspath(ann_file), os.fspath(img_prefix),
                    None if det_file is None else os.fspath(det_file),
                    None if headbox_file is None else os.fspath(headbox_file),
                    recipe_score_thr(test) if bbox_score_thr is None else float(bbox_score_thr))


def read_test_records(data: TestData) -> List[Any]:
    """The test instances (MMPose's test-mode dataset): ground-truth instances after the
    top-down filter, or the person detections of ``bbox_file`` scoring at least
    ``bbox_score_thr`` (MMPose's ``filter_cfg`` rule; None: every one)."""
    from heatpose.data.readers import DATASET_FORMATS, read_dataset
    from heatpose.data.readers.posetrack_filter import score_threshold
    from heatpose.evaluation.dataset_metrics import family

    fam = family(data.dataset)
    if data.dataset not in DATASET_FORMATS:
        raise InputError(f"{data.ann_file}: heatpose cannot read {data.dataset} test data "
                         f"(readers: {', '.join(sorted(DATASET_FORMATS))})")
    if not os.path.exists(data.ann_file):
        raise InputError(f"{data.ann_file}: {data.dataset} test annotation file not found "
                         "(--data-root is the dataset folder, MMPose's data/<folder>/; or pass "
                         "--ann-file)")
    if data.bbox_file is not None:
        if fam not in ("coco", "crowdpose", "halpe", "posetrack18"):
            raise InputError(f"{data.bbox_file}: {data.dataset} is scored with ground-truth "
                             "boxes only (its metrics need the annotated instance per box)")
        if not os.path.isfile(data.bbox_file):
            raise InputError(f"{data.bbox_file}: detection file not found")
    if not os.path.isdir(data.img_prefix):
        raise InputError(f"{data.img_prefix}: image folder not found (set --img-prefix)")
    headbox = data.headbox_file
    if headbox is not None and not os.path.isfile(headbox):
        raise InputError(f"{headbox}: MPII head-box file not found (PCKh needs it; set "
                         "--headbox-file)")
    return read_dataset(data.dataset, data.ann_file, img_prefix=data.img_prefix,
                        bbox_file=data.bbox_file,
                        score_thr=score_threshold(data.bbox_score_thr), headbox_file=headbox)


@dataclass
class PredictedRecords:
    """What :func:`predict_records` gives: the ``records`` that were predicted (input order,
    unreadable ones left out), their ``predictions``, and ``skipped``: input index -> one line
    naming the image file and record."""

    records: List[Any]
    predictions: InstancePredictions
    skipped: Dict[int, str] = field(default_factory=dict)


@torch.no_grad()
def run_model(model: Any, records: Sequence[Any], batch_size: int = 32, workers: int = 0,
              schema: Any = None,
              progress: Optional[Callable[[int, int], None]] = None) -> InstancePredictions:
    """Predict every record's instance (test-mode crops, the model's flip test).

    Args:
        model: a TopdownEstimator (on its device).
        records: instance records whose ``img_path`` are absolute or relative to the cwd.
        batch_size: crops per forward pass (x2 with the flip test).
        workers: DataLoader worker processes reading and cropping images.
        schema: the records' keypoint schema (default: the model's ``output_schema``, the
            keypoints its predictions report: MMPose's ``output_keypoint_indices`` select
            COCO's 17 of the COCO+AIC 'combine' models' 19).
        progress: called with (done, total) after each batch.

    Returns:
        InstancePredictions in record order (keypoints in image pixels, crop scales). An
        unreadable record (missing/corrupt image, non-finite box) raises InputError naming the
        file and record; :func:`predict_records` skips and counts them instead.
    """
    return predict_records(model, records, batch_size, workers, schema, progress,
                           skip_bad=False).predictions


def output_keypoints(model: Any, schema: Any) -> int:
    """How many keypoints the model's predictions report (``predict_crops`` applies MMPose's
    test_cfg ``output_keypoint_indices``: COCO's 17 of the 19-keypoint COCO+AIC model; else
    all), checked against data of ``schema``: InputError when the counts differ."""
    keep = getattr(model, "output_keypoint_indices", None)
    k = len(model.flip_indices) if keep is None else len(keep)
    if k != schema.num_keypoints:
        raise InputError(f"the model gives {k} keypoints (of {len(model.flip_indices)}) "
                         f"but the test data's schema '{schema.name}' has "
                         f"{schema.num_keypoints}")
    return k


@torch.no_grad()
def predict_records(model: Any, records: Sequence[Any], batch_size: int = 32,
                    workers: int = 0, schema: Any = None,
                    progress: Optional[Callable[[int, int], None]] = None,
                    skip_bad: bool = True,
                    report: Optional[Callable[[str], None]] = None) -> PredictedRecords:
    """:func:`run_model` that skips unreadable records (missing or corrupt image, non-finite or
    empty box) and counts them: each is reported once through ``report`` (one line naming the
    file and record, the same with and without ``workers``). ``skip_bad=False``: the first one
    raises InputError with that line instead. Too many bad records (more than half of those
    read, after 20) raise InputError (a wrong image folder). See
    :mod:`heatpose.engine.samples`."""
    from torch.utils.data import DataLoader

    from heatpose.data.dataset import TopdownDataset, collate_topdown
    from heatpose.engine.samples import SafeSamples, SkipCounter, collate_skipping

    schema = schema if schema is not None else getattr(model, "output_schema", model.schema)
    if schema is None:
        raise InputError("run_model: the model carries no keypoint schema; pass schema=")
    k = output_keypoints(model, schema)
    wrong = next((r for r in records if np.shape(r.keypoints)[0] != k), None)
    if wrong is not None:
        raise InputError(f"{wrong.img_path}: record ann_id {wrong.ann_id} has "
                         f"{np.shape(wrong.keypoints)[0]} keypoints but the model reports {k} "
                         f"('{schema.name}')")
    dataset = SafeSamples(TopdownDataset(records, "", schema, model.codec, train=False))
    loader = DataLoader(dataset, batch_size=max(1, int(batch_size)), shuffle=False,
                        num_workers=int(workers), collate_fn=collate_skipping(collate_topdown))
    counter = SkipCounter(skip_bad, report=report,
                          hint="heatpose test skips unreadable samples without --strict-data")
    kpts, scores, scales, vis = [], [], [], []
    done = 0
    for images, _, _, meta in loader:
        counter.batch(meta, 0 if images is None else len(images))
        done += len(meta["skipped"])
        if images is None:
            if progress is not None:
                progress(done, len(dataset))
            continue
        crops = images.permute(0, 2, 3, 1).numpy()           # (N, h, w, 3) uint8 BGR
        centers, crop_scales = meta["center"].numpy(), meta["scale"].numpy()
        res = model.predict_crops(crops, centers, crop_scales, meta["bbox"].numpy(),
                                  batch_size=len(crops))
        kpts.append(res.keypoints)
        scores.append(res.scores)
        scales.append(crop_scales.astype(np.float32))
        if res.visibility is not None:
            vis.append(res.visibility)
        done += len(crops)
        if progress is not None:
            progress(done, len(dataset))
    kept = [r for i, r in enumerate(records) if i not in counter.skipped]
    if not kpts:
        preds = InstancePredictions(np.zeros((0, k, 2), np.float32),
                                    np.zeros((0, k), np.float32), np.zeros((0, 2), np.float32))
    else:
        preds = InstancePredictions(np.concatenate(kpts), np.concatenate(scores),
                                    np.concatenate(scales), np.concatenate(vis) if vis else None)
    return PredictedRecords(kept, preds, dict(counter.skipped))
