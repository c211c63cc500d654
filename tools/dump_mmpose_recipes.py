"""Write tests/fixtures/mmpose_recipes.json: what MMPose 1.3.2 itself builds from each
ResNet/HRNet heatmap config (the reference for tests/test_recipes*.py).

Runs ONLY with the MMPose peer (never imported by heatpose or its tests):

    /work/peer/bin/peer-python tools/dump_mmpose_recipes.py [--out tests/fixtures/mmpose_recipes.json]

Independently of tools/gen_recipes.py, the values come from the objects MMPose builds from the
resolved config: the head (``MODELS.build``: output channels, deconv layers), its decoder
(``KEYPOINT_CODECS.build``: attributes), the val ``TopdownAffine`` and the train transforms
(``TRANSFORMS.build``: attributes), the keypoint metainfo the dataset parses, and the runner
settings (optimizer, schedulers, epochs, batch, auto_scale_lr, init weights with
``torchvision://`` resolved by mmengine, ``load_from``, datasets). One compact line per config.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FAMILIES = ("body_2d_keypoint", "fashion_2d_keypoint", "wholebody_2d_keypoint")


def _codec(c) -> dict:
    out = {"type": type(c).__name__, "input_size": [int(v) for v in c.input_size],
           "heatmap_size": [int(v) for v in c.heatmap_size], "sigma": float(c.sigma)}
    for attr in ("unbiased", "blur_kernel_size", "heatmap_type", "radius_factor"):
        if hasattr(c, attr):
            v = getattr(c, attr)
            out[attr] = v if isinstance(v, (bool, str)) else float(v) if attr == "radius_factor" else int(v)
    return out


def _attrs(obj, names) -> dict:
    out = {}
    for n in names:
        v = getattr(obj, n)
        out[n] = list(v) if isinstance(v, tuple) else v
    return out


def _files(ds) -> dict:
    root = ds.get("data_root", "") or ""
    out = {"type": ds["type"], "ann_file": root + ds["ann_file"] if ds.get("ann_file") else None,
           "img_prefix": root + ds.get("data_prefix", {}).get("img", "")}
    for key in ("bbox_file", "headbox_file"):
        if ds.get(key):
            out[key] = ds[key]
    conv = [t for t in ds.get("pipeline", []) if t["type"] == "KeypointConverter"]
    if conv:
        out["mapping"] = [list(m) for m in conv[0]["mapping"]]
    return out


def dump_one(path: str, configs: str) -> dict:
    import torch
    from mmengine.config import Config
    from mmengine.runner.checkpoint import get_torchvision_models
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    from mmpose.registry import DATASETS, KEYPOINT_CODECS, MODELS, TRANSFORMS

    cfg = Config.fromfile(path)
    head_cfg = cfg.model.head
    vis = head_cfg.type == "VisPredictHead"
    pose_cfg = head_cfg.pose_cfg if vis else head_cfg
    head = MODELS.build(pose_cfg.to_dict() if hasattr(pose_cfg, "to_dict") else pose_cfg)
    deconvs = [m for m in head.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    final = head.final_layer
    bb = cfg.model.backbone
    tc = cfg.model.test_cfg
    affine = TRANSFORMS.build([t for t in cfg.val_dataloader.dataset.pipeline if t.type == "TopdownAffine"][0])
    ds = cfg.train_dataloader.dataset
    if ds.type == "CombinedDataset":
        meta = parse_pose_metainfo(dict(from_file=os.path.join(configs, "..", ds.metainfo.from_file)
                                        if not os.path.isabs(ds.metainfo.from_file) else ds.metainfo.from_file))
        sets = [_files(d) for d in ds.datasets]
    else:
        sets = [_files(ds)]
        if ds.type == "DeepFashionDataset":
            meta_file = os.path.join(configs, "_base_", "datasets", f"deepfashion_{ds.subset}.py")
        else:
            meta_file = DATASETS.get(ds.type).METAINFO["from_file"]
        meta = parse_pose_metainfo(dict(from_file=meta_file))
    steps = {t.type: t for t in ds.pipeline}
    target = TRANSFORMS.build(steps["GenerateTarget"])
    flip = TRANSFORMS.build(steps["RandomFlip"])
    bbt = TRANSFORMS.build(steps["RandomBBoxTransform"])
    half = TRANSFORMS.build(steps["RandomHalfBody"]) if "RandomHalfBody" in steps else None
    center = TRANSFORMS.build(steps["GetBBoxCenterScale"])
    sched = {s["type"]: s for s in cfg.param_scheduler}
    init = bb.get("init_cfg") or {}
    ckpt = init.get("checkpoint")
    if ckpt and ckpt.startswith("torchvision://"):
        ckpt = get_torchvision_models()[ckpt[len("torchvision://"):]]
    return {
        "backbone": f"resnet{bb.depth}" if bb.type == "ResNet" else f"hrnet_w{bb.extra.stage4.num_channels[0]}",
        "head_out_channels": int(final.out_channels), "deconv_out_channels": [int(d.out_channels) for d in deconvs],
        "deconv_kernel_sizes": [int(d.kernel_size[0]) for d in deconvs], "visibility_head": vis,
        "num_keypoints": int(meta["num_keypoints"]),
        "decoder": _codec(KEYPOINT_CODECS.build(pose_cfg.decoder)),
        "flip_test": bool(tc.get("flip_test", False)), "flip_mode": tc.get("flip_mode", "heatmap"),
        "shift_heatmap": bool(tc.get("shift_heatmap", False)),
        "output_keypoint_indices": tc.get("output_keypoint_indices"),
        "use_udp": bool(affine.use_udp), "input_size": [int(v) for v in affine.input_size],
        "train": {
            "encoder": _codec(target.encoder), "use_dataset_keypoint_weights": bool(
                target.use_dataset_keypoint_weights),
            "flip_prob": flip.prob, "flip_direction": flip.direction,
            "half_body": None if half is None else _attrs(half, (
                "min_total_keypoints", "min_upper_keypoints", "min_lower_keypoints", "padding", "prob",
                "upper_prioritized_prob")),
            "bbox_transform": _attrs(bbt, ("shift_factor", "shift_prob", "scale_factor", "scale_prob",
                                           "rotate_factor", "rotate_prob")),
            "bbox_padding": float(center.padding),
            "optimizer": dict(cfg.optim_wrapper.optimizer), "amp": cfg.optim_wrapper.get("type") == "AmpOptimWrapper",
            "warmup_iters": sched["LinearLR"]["end"], "warmup_start_factor": sched["LinearLR"]["start_factor"],
            "milestones": list(sched["MultiStepLR"]["milestones"]), "gamma": sched["MultiStepLR"]["gamma"],
            "max_epochs": cfg.train_cfg.max_epochs, "val_interval": cfg.train_cfg.val_interval,
            "batch_size": cfg.train_dataloader.batch_size,
            "base_batch_size": (cfg.get("auto_scale_lr") or {}).get("base_batch_size"),
            "pretrained": ckpt, "pretrained_prefix": init.get("prefix"), "load_from": cfg.get("load_from"),
            "datasets": sets, "val": _files(cfg.val_dataloader.dataset),
            "vis_loss_weight": head_cfg.loss.get("loss_weight") if vis else None,
        },
    }


def main() -> None:
    import mmpose
    from mmengine.config import Config
    from mmpose.utils import register_all_modules

    register_all_modules()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "tests" / "fixtures" / "mmpose_recipes.json"))
    args = parser.parse_args()
    configs = os.path.join(os.path.dirname(mmpose.__file__), ".mim", "configs")
    entries = {}
    for fam in FAMILIES:
        for path in sorted(glob.glob(os.path.join(configs, fam, "topdown_heatmap", "**", "*.py"), recursive=True)):
            cfg = Config.fromfile(path)
            head = cfg.model.head
            inner = head.pose_cfg.type if head.type == "VisPredictHead" else head.type
            if cfg.model.backbone.type in ("ResNet", "HRNet") and inner == "HeatmapHead":
                entries[os.path.relpath(path, configs)] = dump_one(path, configs)
    lines = ['{"mmpose_version": %s, "configs": {' % json.dumps(mmpose.__version__)]
    items = list(entries.items())
    for i, (rel, entry) in enumerate(items):
        lines.append(f"{json.dumps(rel)}: {json.dumps(entry, separators=(',', ':'))}"
                     + ("," if i < len(items) - 1 else ""))
    lines.append("}}")
    Path(args.out).write_text("\n".join(lines) + "\n")
    json.loads(Path(args.out).read_text())
    print(f"wrote {args.out} ({len(items)} configs, {Path(args.out).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
