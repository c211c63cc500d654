"""Generate heatpose/models/zoo_*.py (the model zoo as plain Python data).

Run with the MMPose peer (it reads the MMPose 1.x configs with mmengine):

    /work/peer/bin/peer-python tools/gen_zoo.py [--seeds ../shared/seeds]

Inputs: the model-zoo markdown tables (seed files) and the MMPose 1.3.2 configs. Facts about
rows that have no 1.x config (MHP, MPII-TRB, Halpe, OCHuman) come from the MMPose 0.x configs
and are written out below (ZERO_X). Curated notes on inconsistencies are in NOTES."""
from __future__ import annotations

import argparse
import glob
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from zoo_fmt import common_training, shared_training, write_defaults, write_module  # noqa: E402
from zoo_seeds import SeedRow, parse_all  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = Path("/work/peer/lib/python3.11/site-packages/mmpose/.mim/configs")
COCO_DET = "person detector with human AP 56.4 on COCO val2017"

# ---------------------------------------------------------------- which table is which
# (heading prefix) -> dataset schema, dataset split, setting, detector
TABLES = [
    ("Results on COCO val2017", "coco", "COCO val2017", "det_boxes", COCO_DET),
    ("Results on OCHuman test", "ochuman", "OCHuman test", "gt_boxes", None),
    ("Results on AIC val", "aic", "AIC val", "gt_boxes", None),
    ("Results on MHP v2.0 val", "mhp", "MHP v2.0 val", "gt_boxes", None),
    ("Results on MPII val", "mpii", "MPII val", "gt_boxes", None),
    ("Results on MPII-TRB val", "mpii_trb", "MPII-TRB val", "gt_boxes", None),
    ("Results on CrowdPose test", "crowdpose", "CrowdPose test", "det_boxes", "YOLOv3 human detector"),
    ("Results on PoseTrack2018 val with ground-truth", "posetrack18", "PoseTrack18 val", "gt_boxes", None),
    ("Results on PoseTrack2018 val with [MMDetection]", "posetrack18", "PoseTrack18 val", "det_boxes",
     "MMDetection Cascade R-CNN X-101-64x4d-FPN (cascade_rcnn_x101_64x4d_fpn_20e_coco_20200509_224357-051557b1)"),
    ("Results on Sub-JHMDB dataset", "jhmdb", "Sub-JHMDB", "gt_boxes", None),
    ("Results on Halpe v1.0 val", "halpe", "Halpe v1.0 val", "det_boxes", COCO_DET),
    ("Results on DeepFashion dataset", "deepfashion", "DeepFashion (FLD) test", "gt_boxes", None),
    ("Results on DeepFashion2 dataset", "deepfashion2", "DeepFashion2 validation", "gt_boxes", None),
]
KEY_METRIC = {"coco": "AP", "ochuman": "AP", "aic": "AP", "mhp": "AP", "crowdpose": "AP", "mpii": "Mean",
              "mpii_trb": "Mean Acc", "posetrack18": "Total", "jhmdb": "Mean", "halpe": "Whole AP",
              "deepfashion": "PCK@0.2", "deepfashion2": "PCK@0.2"}
NUM_KPTS = {"coco": 17, "ochuman": 17, "aic": 14, "mhp": 16, "mpii": 16, "mpii_trb": 40, "crowdpose": 14,
            "posetrack18": 17, "jhmdb": 15, "halpe": 136, "deepfashion_upper": 6, "deepfashion_lower": 4,
            "deepfashion_full": 8, "deepfashion2": 294}

# 0.x config stem -> 1.x config name, per dataset (OCHuman rows name the COCO configs)
ZERO_TO_ONE = {
    "coco": {"res50_coco_256x192": "td-hm_res50_8xb64-210e_coco-256x192",
             "res50_coco_384x288": "td-hm_res50_8xb64-210e_coco-384x288",
             "res101_coco_256x192": "td-hm_res101_8xb64-210e_coco-256x192",
             "res101_coco_384x288": "td-hm_res101_8xb32-210e_coco-384x288",
             "res152_coco_256x192": "td-hm_res152_8xb32-210e_coco-256x192",
             "res152_coco_384x288": "td-hm_res152_8xb32-210e_coco-384x288"},
    "ochuman": {"res50_coco_256x192": "td-hm_res50_8xb64-210e_ochuman-256x192",
                "res50_coco_384x288": "td-hm_res50_8xb64-210e_ochuman-384x288",
                "res101_coco_256x192": "td-hm_res101_8xb64-210e_ochuman-256x192",
                "res101_coco_384x288": "td-hm_res101_8xb32-210e_ochuman-384x288",
                "res152_coco_256x192": "td-hm_res152_8xb32-210e_ochuman-256x192",
                "res152_coco_384x288": "td-hm_res152_8xb48-210e_ochuman-384x288"},
    "aic": {"res101_aic_256x192": "td-hm_res101_8xb64-210e_aic-256x192"},
    "mhp": {"res50_mhp_256x192": "td-hm_res50_8xb64-210e_mhp-256x192"},
    "mpii": {"res50_mpii_256x256": "td-hm_res50_8xb64-210e_mpii-256x256",
             "res101_mpii_256x256": "td-hm_res101_8xb64-210e_mpii-256x256",
             "res152_mpii_256x256": "td-hm_res152_8xb32-210e_mpii-256x256"},
    "mpii_trb": {f"res{d}_mpii_trb_256x256": f"td-hm_res{d}_8xb32-210e_mpii-trb-256x256" for d in (50, 101, 152)},
    "crowdpose": {"res50_crowdpose_256x192": "td-hm_res50_8xb64-210e_crowdpose-256x192",
                  "res101_crowdpose_256x192": "td-hm_res101_8xb64-210e_crowdpose-256x192",
                  "res101_crowdpose_320x256": "td-hm_res101_8xb64-210e_crowdpose-320x256",
                  "res152_crowdpose_256x192": "td-hm_res152_8xb64-210e_crowdpose-256x192"},
    "posetrack18": {"res50_posetrack18_256x192": "td-hm_res50_8xb64-20e_posetrack18-256x192"},
    "jhmdb": {**{f"res50_jhmdb_sub{s}_256x256": f"td-hm_res50_8xb64-20e_jhmdb-sub{s}-256x256" for s in (1, 2, 3)},
              **{f"res50_2deconv_jhmdb_sub{s}_256x256": f"td-hm_res50-2deconv_8xb64-40e_jhmdb-sub{s}-256x256"
                 for s in (1, 2, 3)}},
    "halpe": {"hrnet_w48_halpe_384x288_dark_plus": "td-hm_hrnet-w48_dark_8xb32-210e_halpe-384x288"},
}
# extra 0.x config names (for presets whose seed rows are 1.x only)
EXTRA_ALIASES = {
    "td-hm_hrnet-w32_8xb64-20e_posetrack18-256x192": ["hrnet_w32_posetrack18_256x192"],
    "td-hm_hrnet-w32_8xb64-20e_posetrack18-384x288": ["hrnet_w32_posetrack18_384x288"],
    "td-hm_hrnet-w48_8xb64-20e_posetrack18-256x192": ["hrnet_w48_posetrack18_256x192"],
    "td-hm_hrnet-w48_8xb64-20e_posetrack18-384x288": ["hrnet_w48_posetrack18_384x288"],
    "td-hm_hrnet-w48_dark_8xb32-210e_halpe-384x288": ["td-hm_hrnet-w48_dark-8xb32-210e_halpe-384x288"],
    **{f"td-hm_res50_8xb64-210e_ochuman-{s}": [f"res50_ochuman_{s}"] for s in ("256x192", "384x288")},
    "td-hm_res101_8xb64-210e_ochuman-256x192": ["res101_ochuman_256x192"],
    "td-hm_res101_8xb32-210e_ochuman-384x288": ["res101_ochuman_384x288"],
    "td-hm_res152_8xb32-210e_ochuman-256x192": ["res152_ochuman_256x192"],
    "td-hm_res152_8xb48-210e_ochuman-384x288": ["res152_ochuman_384x288"],
}
for _part in ("upper", "lower", "full"):
    EXTRA_ALIASES[f"td-hm_res50_8xb64-210e_deepfashion_{_part}-256x192"] = [f"res50_deepfashion_{_part}_256x192"]
    EXTRA_ALIASES[f"td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_{_part}-256x192"] = [
        f"hrnet_w48_deepfashion_{_part}_256x192_udp"]

# ---------------------------------------------------------------- 0.x-only training facts
_0X_AUG = {"flip_prob": 0.5,
           "half_body": {"min_total_keypoints": 9, "min_upper_keypoints": 2, "min_lower_keypoints": 3,
                         "padding": 1.5, "prob": 0.3, "upper_prioritized_prob": 0.7},
           "bbox_transform": {"shift_factor": 0.16, "shift_prob": 0.0, "scale_factor": [0.5, 1.5],
                              "scale_prob": 1.0, "rotate_factor": 80.0, "rotate_prob": 0.6}}
_0X_AUG_NOTE = ("0.x TopDownHalfBodyTransform(num_joints_half_body=8, prob_half_body=0.3) and "
                "TopDownGetRandomScaleRotation(rot_factor=40, scale_factor=0.5) written in 1.x "
                "RandomHalfBody/RandomBBoxTransform terms (rotation clipped to +-80 deg, scale in "
                "[0.5, 1.5]; 0.x has no random shift, so shift_prob=0)")
COCO_TRAIN_ANN = "data/coco/annotations/person_keypoints_train2017.json"
COCO_DET_FILE = "data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json"


def _ochuman(depth: int, size: str, batch: int, sigma: int) -> Dict[str, Any]:
    return dict(config=f"res{depth}_ochuman_{size}.py", backbone=f"resnet{depth}", batch=batch, sigma=sigma,
                half_body=True, pretrained=f"torchvision://resnet{depth}", load_from=None,
                train_data=[{"type": "CocoDataset", "ann_file": COCO_TRAIN_ANN}],
                test_data={"type": "OCHumanDataset",
                           "ann_file": "data/ochuman/annotations/ochuman_coco_format_test_range_0.00_1.00.json",
                           "bbox_file": None},
                evaluator=[{"type": "CocoMetric"}])


ZERO_X: Dict[str, Dict[str, Any]] = {
    "td-hm_res50_8xb64-210e_ochuman-256x192": _ochuman(50, "256x192", 64, 2),
    "td-hm_res50_8xb64-210e_ochuman-384x288": _ochuman(50, "384x288", 64, 3),
    "td-hm_res101_8xb64-210e_ochuman-256x192": _ochuman(101, "256x192", 64, 2),
    "td-hm_res101_8xb32-210e_ochuman-384x288": _ochuman(101, "384x288", 32, 3),
    "td-hm_res152_8xb32-210e_ochuman-256x192": _ochuman(152, "256x192", 32, 2),
    "td-hm_res152_8xb48-210e_ochuman-384x288": _ochuman(152, "384x288", 48, 3),
    "td-hm_res50_8xb64-210e_mhp-256x192": dict(
        config="res50_mhp_256x192.py", backbone="resnet50", batch=64, sigma=2, half_body=True,
        pretrained="torchvision://resnet50", load_from=None,
        train_data=[{"type": "MhpDataset", "ann_file": "data/mhp/annotations/mhp_train.json"}],
        test_data={"type": "MhpDataset", "ann_file": "data/mhp/annotations/mhp_val.json", "bbox_file": None},
        evaluator=[{"type": "CocoMetric"}]),
    **{f"td-hm_res{d}_8xb32-210e_mpii-trb-256x256": dict(
        config=f"res{d}_mpii_trb_256x256.py", backbone=f"resnet{d}", batch=32, sigma=2, half_body=False,
        pretrained=f"torchvision://resnet{d}", load_from=None,
        train_data=[{"type": "MpiiTrbDataset", "ann_file": "data/mpii/annotations/mpii_trb_train.json"}],
        test_data={"type": "MpiiTrbDataset", "ann_file": "data/mpii/annotations/mpii_trb_val.json",
                   "bbox_file": None},
        evaluator=[{"type": "MpiiTrbPCKh", "thr": 0.5}]) for d in (50, 101, 152)},
    "td-hm_hrnet-w48_dark_8xb32-210e_halpe-384x288": dict(
        config="hrnet_w48_halpe_384x288_dark_plus.py", backbone="hrnet_w48", batch=32, sigma=3, half_body=True,
        unbiased=True, blur_kernel_size=17, pretrained=None,
        load_from="https://download.openmmlab.com/mmpose/top_down/hrnet/hrnet_w48_coco_384x288_dark-741844ba_20200812.pth",
        train_data=[{"type": "HalpeDataset", "ann_file": "data/halpe/annotations/halpe_train_v1.json"}],
        test_data={"type": "HalpeDataset", "ann_file": "data/halpe/annotations/halpe_val_v1.json",
                   "bbox_file": COCO_DET_FILE},
        evaluator=[{"type": "CocoWholeBodyMetric"}]),
}

# ---------------------------------------------------------------- curated notes
NOTES: Dict[str, List[str]] = {
    "td-hm_res101_8xb32-210e_coco-384x288": [
        "The 1.x model-zoo row links the 256x192 checkpoint and log "
        "(td-hm_res101_8xb64-210e_coco-256x192-065d3625_20220926.pth) for this 384x288 config; "
        "checkpoint_url is therefore the 0.x 384x288 checkpoint (res101_coco_384x288-8c71bdc9), and the "
        "1.x result row keeps the URL exactly as published.",
    ],
    "td-hm_res152_8xb32-210e_coco-256x192": [
        "1.x config trains with 8x32 images but sets auto_scale_lr base_batch_size=512 (256 expected).",
    ],
    "td-hm_res152_8xb32-210e_coco-384x288": [
        "1.x config trains with 8x32 images but sets auto_scale_lr base_batch_size=512 (256 expected); "
        "the 0.x checkpoint was trained with 48 images per GPU (res152_coco_384x288).",
    ],
    "td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge": [
        "The model-zoo row's log link is the plain ResNet-50 log (td-hm_res50_8xb64-210e_coco-256x192_20220923.log), "
        "not a log of this visibility-head model.",
        "Trained on COCO train2017 merged with AIC train (AIC's 14 keypoints mapped onto 12 COCO body joints); "
        "evaluated on COCO val2017 only.",
    ],
    "td-hm_res50_8xb64-210e_mhp-256x192": [
        "The model-zoo row labels this model pose_resnet_101, but its config and checkpoint are ResNet-50 "
        "(res50_mhp_256x192).",
        "MHP mAP is COCO-style mAP adapted by MMPose; it differs from the official MHP evaluation code.",
    ],
    "td-hm_hrnet-w48_dark_8xb32-210e_halpe-384x288": [
        "'dark_plus': initialised from the COCO HRNet-W48 DARK 384x288 checkpoint (load_from), then fine-tuned on Halpe.",
        "Evaluated with COCO val2017 detections (human AP 56.4) on Halpe v1.0 val; whole-body AP/AR over 136 keypoints.",
    ],
    "td-hm_res50_8xb64-210e_deepfashion_upper-256x192": [
        "1.x config sets auto_scale_lr base_batch_size=64 although it trains with 8x64 (the 'full' config uses 512).",
    ],
    "td-hm_res50_8xb64-210e_deepfashion_lower-256x192": [
        "1.x config sets auto_scale_lr base_batch_size=64 although it trains with 8x64 (the 'full' config uses 512).",
    ],
    "td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_upper-256x192": [
        "The 1.x model-zoo table links 'td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_uppder-256x192.py' (typo 'uppder'); "
        "the config file is spelled 'upper' (the typo is kept as an alias).",
    ],
}
UDP_FASHION_NOTE = (
    "MMPose 1.3.2 config quirk: this '_udp' config declares codec UDPHeatmap and a UDP train/val pipeline "
    "(TopdownAffine use_udp=True, RandomHalfBody) but never assigns them to the dataloaders or to "
    "head.decoder, so the inherited non-UDP settings are what run: MSRAHeatmap sigma 2 targets and decoding, "
    "plain (non-UDP) affine crops, no half-body; only flip_test.shift_heatmap=False comes from the UDP config. "
    "codec/flip_test/training here record that effective behaviour; the declared codec was "
    "{'type': 'UDPHeatmap', 'input_size': [192, 256], 'heatmap_size': [48, 64], 'sigma': 2}.")
for _part in ("upper", "lower", "full"):
    NOTES.setdefault(f"td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_{_part}-256x192", []).append(UDP_FASHION_NOTE)
DF2_NOTE = ("Config names spell the dataset 'deepfasion2' (sic), as MMPose does; the correctly spelled "
            "'deepfashion2' name is accepted as an alias. All 13 category models share the 294-keypoint "
            "DeepFashion2 layout (one head of 294 channels). Metrics are fractions (0.988), whereas the "
            "DeepFashion (FLD) table reports percentages (95.4).")
POSETRACK_HRNET_NOTE = ("Checkpoint is the MMPose 0.x fine-tune (initialised from the 0.x COCO HRNet); the 1.x "
                        "config's load_from points to the 1.x COCO HRNet checkpoint instead.")


# ---------------------------------------------------------------- 1.x config reading
def load_1x(name: str):
    from mmengine.config import Config
    hits = glob.glob(str(CONFIGS / "**" / f"{name}.py"), recursive=True)
    if len(hits) != 1:
        return None, None
    return Config.fromfile(hits[0]), os.path.relpath(hits[0], CONFIGS)


def plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def full_codec(c: Dict[str, Any]) -> Dict[str, Any]:
    out = {"type": c["type"], "input_size": list(c["input_size"]), "heatmap_size": list(c["heatmap_size"]),
           "sigma": c.get("sigma", 2)}
    if c["type"] == "MSRAHeatmap":
        out.update(unbiased=bool(c.get("unbiased", False)), blur_kernel_size=int(c.get("blur_kernel_size", 11)))
    elif c["type"] == "UDPHeatmap":
        out.update(heatmap_type=c.get("heatmap_type", "gaussian"), blur_kernel_size=int(c.get("blur_kernel_size", 11)))
    else:
        raise ValueError(c)
    return out


def gpus_batch(name: str) -> Tuple[int, int]:
    m = re.search(r"_(\d+)xb(\d+)-", name)
    return int(m.group(1)), int(m.group(2))


def data_entry(ds) -> Dict[str, Any]:
    root = ds.get("data_root") or ""
    out = {"type": ds.type, "ann_file": root + ds.ann_file}
    return out


def from_1x(name: str, cfg, rel: str) -> Dict[str, Any]:
    from mmpose.datasets.transforms import common_transforms as ct
    import inspect

    def defaults(cls):
        return {k: plain(v.default) for k, v in inspect.signature(cls.__init__).parameters.items()
                if v.default is not inspect._empty}

    head = cfg.model.head
    vis = head.type == "VisPredictHead"
    pose_head = head.pose_cfg if vis else head
    codec = full_codec(plain(pose_head.decoder))          # what the model decodes with
    bb = cfg.model.backbone
    if bb.type == "ResNet":
        backbone = f"resnet{bb.depth}"
    else:
        backbone = f"hrnet_w{bb.extra.stage4.num_channels[0]}"
    if "deconv_out_channels" in pose_head:
        dec = pose_head.deconv_out_channels
        num_deconv = 0 if dec is None else len(dec)
    else:
        num_deconv = 3
    ds = cfg.train_dataloader.dataset
    pipeline = [plain(t) for t in ds.pipeline]
    types = {t["type"]: t for t in pipeline}
    target = types["GenerateTarget"]
    flip = {**defaults(ct.RandomFlip), **types.get("RandomFlip", {})}
    half = None
    if "RandomHalfBody" in types:
        half = {**defaults(ct.RandomHalfBody), **types["RandomHalfBody"]}
        half.pop("type")
    bbt = {**defaults(ct.RandomBBoxTransform), **types["RandomBBoxTransform"]}
    bbt.pop("type")
    bbt = {k: (float(v) if k in ("rotate_factor", "shift_factor", "shift_prob", "scale_prob", "rotate_prob") else
               [float(x) for x in v] if k == "scale_factor" else v) for k, v in bbt.items()}
    sched = {s["type"]: s for s in plain(cfg.param_scheduler)}
    gpus, batch = gpus_batch(name)
    assert batch == cfg.train_dataloader.batch_size, name
    train_sets = [data_entry(d) for d in ds.datasets] if ds.type == "CombinedDataset" else [data_entry(ds)]
    test_ds = cfg.test_dataloader.dataset
    test_data = data_entry(test_ds)
    test_data["bbox_file"] = test_ds.get("bbox_file")
    evaluator = plain(cfg.test_evaluator)
    evaluator = evaluator if isinstance(evaluator, list) else [evaluator]
    for e in evaluator:
        e.pop("ann_file", None)
    affine = [t for t in pipeline if t["type"] == "TopdownAffine"][0]
    training = {
        "source": "mmpose-1.x config " + rel,
        "epochs": cfg.train_cfg.max_epochs, "gpus": gpus, "batch_per_gpu": batch,
        "optimizer": cfg.optim_wrapper.optimizer.type, "base_lr": cfg.optim_wrapper.optimizer.lr,
        "auto_scale_lr_base_batch": (cfg.get("auto_scale_lr") or {}).get("base_batch_size"),
        "warmup": {"type": "linear", "iters": sched["LinearLR"]["end"],
                   "start_factor": sched["LinearLR"]["start_factor"]},
        "lr_milestones": sched["MultiStepLR"]["milestones"], "lr_gamma": sched["MultiStepLR"]["gamma"],
        "sigma": plain(target["encoder"]).get("sigma", 2),
        "target_codec": full_codec(plain(target["encoder"])),
        "use_dataset_joint_weights": bool(target.get("use_dataset_keypoint_weights", False)),
        "loss": {k: v for k, v in plain(pose_head.loss).items()},
        "flip_prob": flip["prob"], "half_body": half, "bbox_transform": bbt,
        "udp_affine": bool(affine.get("use_udp", False)),
        "pretrained": (bb.get("init_cfg") or {}).get("checkpoint"),
        "load_from": cfg.get("load_from"),
        "train_data": train_sets, "test_data": test_data, "evaluator": evaluator,
    }
    if vis:
        training["visibility_loss"] = plain(head.loss)
    tc = cfg.model.test_cfg
    return dict(mmpose_config=rel, backbone=backbone, num_deconv=num_deconv,
                num_keypoints=pose_head.out_channels, codec=codec,
                flip_test={"enabled": bool(tc.get("flip_test", False)), "mode": tc.get("flip_mode", "heatmap"),
                           "shift_heatmap": bool(tc.get("shift_heatmap", True))},
                visibility_head=vis, training=training)


def from_0x(name: str, spec: Dict[str, Any], input_wh: List[int]) -> Dict[str, Any]:
    heat = [input_wh[0] // 4, input_wh[1] // 4]
    codec = {"type": "MSRAHeatmap", "input_size": input_wh, "heatmap_size": heat, "sigma": spec["sigma"],
             "unbiased": spec.get("unbiased", False), "blur_kernel_size": spec.get("blur_kernel_size", 11)}
    gpus, batch = gpus_batch(name)
    assert batch == spec["batch"], name
    training = {
        "source": "mmpose-0.x config " + spec["config"],
        "epochs": 210, "gpus": gpus, "batch_per_gpu": batch, "optimizer": "Adam", "base_lr": 5e-4,
        "auto_scale_lr_base_batch": None,
        "warmup": {"type": "linear", "iters": 500, "start_factor": 0.001},
        "lr_milestones": [170, 200], "lr_gamma": 0.1, "sigma": spec["sigma"], "target_codec": dict(codec),
        "use_dataset_joint_weights": False,
        "loss": {"type": "KeypointMSELoss", "use_target_weight": True},
        "flip_prob": _0X_AUG["flip_prob"], "half_body": dict(_0X_AUG["half_body"]) if spec["half_body"] else None,
        "bbox_transform": dict(_0X_AUG["bbox_transform"]), "udp_affine": False,
        "pretrained": spec["pretrained"], "load_from": spec["load_from"],
        "train_data": spec["train_data"], "test_data": spec["test_data"], "evaluator": spec["evaluator"],
        "augmentation_origin": _0X_AUG_NOTE if spec["half_body"] else _0X_AUG_NOTE.replace(
            "TopDownHalfBodyTransform(num_joints_half_body=8, prob_half_body=0.3) and ", "(no half-body) "),
    }
    return dict(mmpose_config=None, backbone=spec["backbone"], num_deconv=0 if spec["backbone"].startswith("hrnet") else 3,
                num_keypoints=None, codec=codec,
                flip_test={"enabled": True, "mode": "heatmap", "shift_heatmap": True},
                visibility_head=False, training=training)


# ---------------------------------------------------------------- assembling presets
def table_info(row: SeedRow):
    for prefix, family, split, setting, detector in TABLES:
        if row.table.startswith(prefix):
            return family, split, setting, detector
    raise ValueError(f"{row.source}: unknown table {row.table!r}")


def result_of(row: SeedRow, family: str, split: str, setting: str, detector: Optional[str]) -> Dict[str, Any]:
    note = None
    if family == "jhmdb":
        split = f"{split} {row.set_label} test"
        note = ("PCK@0.2 normalised by person (bbox) size" if "Person Size" in row.table
                else "tPCK@0.2 normalised by torso size")
    elif family == "deepfashion":
        split = f"DeepFashion (FLD) {row.set_label} test"
    elif family == "deepfashion2":
        split = f"DeepFashion2 {row.set_label} validation"
    return {"dataset_split": split, "setting": setting, "detector": detector,
            "metrics": {k: float(v) for k, v in row.metrics.items()},
            "source": row.source, "checkpoint_url": row.ckpt, "log_url": row.log, "note": note}


def build(seed_dir: Path):
    presets: Dict[str, Dict[str, Any]] = {}
    aggregates: List[Dict[str, Any]] = []
    for row in parse_all(seed_dir):
        family, split, setting, detector = table_info(row)
        if row.config is None:                          # JHMDB "Average" rows: not a model
            members = [p for p in presets.values() if p["dataset"] == "jhmdb"
                       and p["num_deconv"] == (2 if "2 Deconv" in row.arch else 3)]
            aggregates.append({"label": f"{row.set_label} {row.arch}", "presets": sorted(p["name"] for p in members),
                               "dataset_split": "Sub-JHMDB (mean of Sub1-3)", "setting": setting,
                               "metrics": {k: float(v) for k, v in row.metrics.items()},
                               "source": row.source,
                               "note": result_of(row, family, split, setting, detector)["note"]})
            continue
        aliases: List[str] = []
        checkpoint_from = None
        if row.config.startswith("td-hm"):
            name = row.config.replace("deepfashion_uppder", "deepfashion_upper")
            if name != row.config:
                aliases.append(row.config)
        else:
            name = ZERO_TO_ONE[family][row.config]
            if family == "ochuman":
                checkpoint_from = ZERO_TO_ONE["coco"][row.config]
            else:
                aliases.append(row.config)
        h, w = (int(x) for x in row.input_size.split("x"))
        if name not in presets:
            dataset = f"deepfashion_{row.set_label}" if family == "deepfashion" else family
            presets[name] = {"name": name, "aliases": [], "dataset": dataset,
                             "category": row.set_label if family == "deepfashion2" else None,
                             "split": row.set_label.lower() if family == "jhmdb" else None,
                             "input_size": [w, h], "checkpoint_from": checkpoint_from,
                             "key_metric": KEY_METRIC[family], "results": [], "family": family}
            cfg, rel = load_1x(name)
            if cfg is not None:
                presets[name].update(from_1x(name, cfg, rel))
            else:
                presets[name].update(from_0x(name, ZERO_X[name], [w, h]))
                presets[name]["num_keypoints"] = NUM_KPTS[dataset]
        p = presets[name]
        assert p["input_size"] == [w, h] == p["codec"]["input_size"], name
        for a in aliases:
            if a not in p["aliases"]:
                p["aliases"].append(a)
        p["results"].append(result_of(row, family, split, setting, detector))
    return presets, aggregates


def finish(p: Dict[str, Any]) -> Dict[str, Any]:
    name, fam = p["name"], p["family"]
    assert p["num_keypoints"] == NUM_KPTS[p["dataset"]], name
    for a in EXTRA_ALIASES.get(name, []):
        if a not in p["aliases"]:
            p["aliases"].append(a)
    if fam == "deepfashion2":
        cat = p["category"]
        p["aliases"] += [name.replace("deepfasion2", "deepfashion2"), f"res50_deepfashion2_{cat}_256x192"]
    target = p["training"].pop("target_codec")
    assert target == p["codec"], (name, target, p["codec"])   # train targets and decoding share one codec
    w, h = p["input_size"]
    stride = 8 if p["num_deconv"] == 2 else 4
    assert p["codec"]["heatmap_size"] == [w // stride, h // stride], name
    urls: List[str] = []
    for r in p["results"]:
        if r["checkpoint_url"] not in urls:
            urls.append(r["checkpoint_url"])
    size_tag = f"{h}x{w}"
    matching = [u for u in urls if size_tag in u.rsplit("/", 1)[-1]]
    primary = ([u for u in matching if "/v1/" in u] or matching)[0]
    notes = list(NOTES.get(name, []))
    if p["checkpoint_from"]:
        notes.append(f"Trained on COCO train2017 only (0.x config res{name.split('_')[1][3:]}_coco_{size_tag}) and "
                     f"evaluated on OCHuman test with ground-truth boxes: the checkpoint is the 0.x checkpoint "
                     f"of preset {p['checkpoint_from']}.")
    v1 = [u for u in urls if "/v1/" in u]
    v0 = [u for u in urls if "/v1/" not in u]
    if v1 and v0:
        notes.append("Results come from two training runs: the MMPose 1.x checkpoint (1.x table) and the 0.x "
                     "checkpoint (0.x table); each result row names its checkpoint.")
    elif v0 and p["mmpose_config"] and not p["checkpoint_from"]:
        notes.append("The published checkpoint was trained with MMPose 0.x; training settings here are those of "
                     "the 1.x port of its config.")
    if fam == "deepfashion2":
        notes.append(DF2_NOTE)
    if fam == "posetrack18" and p["backbone"].startswith("hrnet"):
        notes.append(POSETRACK_HRNET_NOTE)
    if fam == "posetrack18" and not p["training"]["test_data"]["bbox_file"]:
        notes.append("The 1.x config evaluates with ground-truth boxes only (no bbox_file); the detector row "
                     "used data/posetrack18/annotations/posetrack18_val_human_detections.json.")
    if fam == "jhmdb":
        notes.append("Fine-tuned from the MPII ResNet-50 checkpoint (load_from); the table states no multi-scale or "
                     "rotation test-time augmentation (flip test is on in the config).")
    if fam == "crowdpose":
        notes.append("Trained on CrowdPose trainval, tested on CrowdPose test with YOLOv3 detections "
                     "(det_for_crowd_test_0.1_0.5.json); AP (E/M/H) = easy/medium/hard crowd index.")
    if p["visibility_head"]:
        pass
    out = {
        "name": name, "aliases": p["aliases"], "dataset": p["dataset"], "category": p["category"],
        "split": p["split"], "mmpose_config": p["mmpose_config"], "backbone": p["backbone"],
        "num_deconv": p["num_deconv"], "num_keypoints": p["num_keypoints"], "input_size": p["input_size"],
        "heatmap_size": p["codec"]["heatmap_size"],
        "codec": {k: v for k, v in p["codec"].items() if k not in ("input_size", "heatmap_size")},
        "flip_test": p["flip_test"],
        "visibility_head": p["visibility_head"], "checkpoint_url": primary,
        "other_checkpoint_urls": [u for u in urls if u != primary], "checkpoint_from": p["checkpoint_from"],
        "key_metric": p["key_metric"], "results": p["results"], "training": p["training"], "notes": notes,
    }
    for key in ("category", "split", "checkpoint_from"):
        if out[key] is None:
            del out[key]
    for key in ("other_checkpoint_urls", "notes"):
        if not out[key]:
            del out[key]
    for r in out["results"]:
        for key in ("detector", "note"):
            if r[key] is None:
                del r[key]
    return out


MODULES = [
    ("zoo_coco", ("coco",), "Model-zoo presets: COCO (SimpleBaseline ResNet; one with a visibility head)."),
    ("zoo_ochuman", ("ochuman",), "Model-zoo presets: OCHuman (COCO-trained checkpoints evaluated on OCHuman)."),
    ("zoo_body", ("aic", "mhp", "mpii", "mpii_trb", "halpe"),
     "Model-zoo presets: AIC, MHP, MPII, MPII-TRB and Halpe."),
    ("zoo_crowdpose", ("crowdpose",), "Model-zoo presets: CrowdPose."),
    ("zoo_posetrack", ("posetrack18",), "Model-zoo presets: PoseTrack18 (ground-truth and detector boxes)."),
    ("zoo_jhmdb", ("jhmdb",), "Model-zoo presets: Sub-JHMDB (plus the table's average rows)."),
    ("zoo_deepfashion", ("deepfashion",), "Model-zoo presets: DeepFashion (FLD) upper / lower / full."),
    ("zoo_deepfashion2_tops", ("deepfashion2",),
     "Model-zoo presets: DeepFashion2 tops (shirts, outwear, vest, sling), one model per category."),
    ("zoo_deepfashion2_dresses", ("deepfashion2",),
     "Model-zoo presets: DeepFashion2 bottoms and dresses, one model per category."),
]


DF2_TOPS = ("short_sleeved_shirt", "long_sleeved_shirt", "short_sleeved_outwear", "long_sleeved_outwear",
            "vest", "sling")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seeds", default=str(ROOT.parent / "shared" / "seeds"))
    ap.add_argument("--out", default=str(ROOT / "heatpose" / "models"))
    args = ap.parse_args()
    presets, aggregates = build(Path(args.seeds))
    chosen_by_module = []
    for module, families, doc in MODULES:
        chosen = [finish(p) for p in presets.values() if p["family"] in families
                  and (module != "zoo_deepfashion2_tops" or p["category"] in DF2_TOPS)
                  and (module != "zoo_deepfashion2_dresses" or p["category"] not in DF2_TOPS)]
        chosen_by_module.append((module, doc, chosen))
    common = common_training([shared_training(c) for _, _, c in chosen_by_module])
    write_defaults(Path(args.out) / "zoo_training.py", common)
    for module, doc, chosen in chosen_by_module:
        extra = ""
        if module == "zoo_jhmdb":
            from zoo_fmt import fmt
            extra = ("# Rows of the JHMDB table that average the three splits (no checkpoint of their own)\n"
                     "AGGREGATES = " + fmt(aggregates, 0))
        write_module(Path(args.out) / f"{module}.py", doc, chosen, extra, common)
        print(f"{module}: {len(chosen)} presets")


if __name__ == "__main__":
    main()
