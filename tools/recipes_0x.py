"""Facts for tools/gen_recipes.py that no MMPose 1.3.2 config holds.

- which model-zoo table (seed file) is which MMPose doc, and what each table measures;
- MMPose 0.x config names -> 1.x names (aliases);
- the recipes that exist only in the MMPose 0.x zoo (OCHuman, MHP, MPII-TRB, Halpe), written
  from their 0.x configs in the 1.x terms heatpose uses;
- curated notes on inconsistencies of the published tables.
"""
from __future__ import annotations

import copy
from typing import Any, Dict, List

COCO_DET = "person detector with human AP 56.4 on COCO val2017"
COCO_DET_FILE = "data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json"
COCO_TRAIN_ANN = "data/coco/annotations/person_keypoints_train2017.json"

# seed file -> the MMPose document it copies (cited in each result row)
SEED_DOCS = {
    "000_e93a900daeba7038.txt": "MMPose 1.x model zoo: configs/body_2d_keypoint/topdown_heatmap/coco/resnet_coco.md",
    "001_9e6497a4e5423118.txt": "MMPose 0.x model zoo: configs/top_down/resnet/README.md",
    "002_2fa5e2cbd126bce3.txt":
        "MMPose 1.x model zoo: configs/body_2d_keypoint/topdown_heatmap/posetrack18/hrnet_posetrack18.md",
    "003_ef30819b60faf13d.txt":
        "MMPose 0.x model zoo: configs/wholebody/2d_kpt_sview_rgb_img/topdown_heatmap/halpe/hrnet_dark_halpe.md",
    "004_1380b58fb1271d4d.txt": "MMPose 1.x model zoo: configs/fashion_2d_keypoint/topdown_heatmap/README.md",
}

# (table heading prefix) -> family, dataset split, setting, detector
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

# 0.x config stem -> 1.x config name, per table family (OCHuman rows name the COCO configs)
_COCO = {f"res{d}_coco_{s}": f"td-hm_res{d}_8xb{b}-210e_coco-{s}"
         for d, s, b in ((50, "256x192", 64), (50, "384x288", 64), (101, "256x192", 64), (101, "384x288", 32),
                         (152, "256x192", 32), (152, "384x288", 32))}
ZERO_TO_ONE: Dict[str, Dict[str, str]] = {
    "coco": _COCO,
    "ochuman": {k: v.replace("_coco-", "_ochuman-").replace("res152_8xb32-210e_ochuman-384x288",
                                                             "res152_8xb48-210e_ochuman-384x288")
                for k, v in _COCO.items()},
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
# further 0.x names of recipes whose table rows use 1.x names
EXTRA_ALIASES: Dict[str, List[str]] = {
    **{f"td-hm_hrnet-w{w}_8xb64-20e_posetrack18-{s}": [f"hrnet_w{w}_posetrack18_{s}"]
       for w in (32, 48) for s in ("256x192", "384x288")},
    "td-hm_hrnet-w48_dark_8xb32-210e_halpe-384x288": ["td-hm_hrnet-w48_dark-8xb32-210e_halpe-384x288"],
    **{v: [k.replace("_coco_", "_ochuman_")] for k, v in ZERO_TO_ONE["ochuman"].items()},
    **{f"td-hm_res50_8xb64-210e_deepfashion_{p}-256x192": [f"res50_deepfashion_{p}_256x192"]
       for p in ("upper", "lower", "full")},
    **{f"td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_{p}-256x192": [f"hrnet_w48_deepfashion_{p}_256x192_udp"]
       for p in ("upper", "lower", "full")},
}

NOTES: Dict[str, List[str]] = {
    "td-hm_res152_8xb32-210e_coco-256x192": [
        "The 1.x config trains with 8x32 images but sets auto_scale_lr base_batch_size=512 (256 expected)."],
    "td-hm_res152_8xb32-210e_coco-384x288": [
        "The 1.x config trains with 8x32 images but sets auto_scale_lr base_batch_size=512 (256 expected); "
        "the 0.x checkpoint was trained with 48 images per GPU (res152_coco_384x288)."],
    "td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge": [
        "The model-zoo row's log link is the plain ResNet-50 log, not a log of this visibility-head model.",
        "Trained on COCO train2017 merged with AIC train (AIC's 14 keypoints mapped onto 12 COCO body "
        "joints by MMPose's KeypointConverter); evaluated on COCO val2017 only."],
    "td-hm_res50_8xb64-210e_mhp-256x192": [
        "The model-zoo row labels this model pose_resnet_101, but its config and checkpoint are ResNet-50 "
        "(res50_mhp_256x192).",
        "MHP mAP is COCO-style mAP adapted by MMPose; it differs from the official MHP evaluation code."],
    "td-hm_hrnet-w48_dark_8xb32-210e_halpe-384x288": [
        "'dark_plus': initialised from the COCO HRNet-W48 DARK 384x288 checkpoint (load_from), then "
        "fine-tuned on Halpe.",
        "Evaluated with COCO val2017 detections (human AP 56.4) on Halpe v1.0 val; whole-body AP/AR over "
        "136 keypoints."],
    "td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_upper-256x192": [
        "The 1.x model-zoo table links 'td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_uppder-256x192.py' "
        "(typo 'uppder'); the config file is spelled 'upper' (the typo is kept as an alias)."],
}
for _d in (50, 101, 152):
    for _s in ("256x192", "384x288"):
        _name = ZERO_TO_ONE["ochuman"][f"res{_d}_coco_{_s}"]
        NOTES[_name] = [f"Trained on COCO train2017 only (MMPose 0.x config res{_d}_coco_{_s}) and evaluated "
                        "on OCHuman test with ground-truth boxes: the checkpoint is the 0.x checkpoint of "
                        f"recipe {_COCO[f'res{_d}_coco_{_s}']}."]

# ------------------------------------------------------------------ 0.x-only recipes
_AUG_NOTE = ("MMPose 0.x TopDownHalfBodyTransform(num_joints_half_body=8, prob_half_body=0.3) and "
             "TopDownGetRandomScaleRotation(rot_factor=40, scale_factor=0.5) written as the 1.x "
             "RandomHalfBody / RandomBBoxTransform (rotation clipped to +-80 deg, scale in [0.5, 1.5]; "
             "0.x has no random shift, so shift_prob=0)")


def _pipeline(w: int, h: int, codec: Dict[str, Any], half_body: bool) -> List[Dict[str, Any]]:
    steps: List[Dict[str, Any]] = [
        {"type": "LoadImage"},
        {"type": "GetBBoxCenterScale", "padding": 1.25},
        {"type": "RandomFlip", "prob": 0.5, "direction": "horizontal"}]
    if half_body:
        steps.append({"type": "RandomHalfBody", "min_total_keypoints": 9, "min_upper_keypoints": 2,
                      "min_lower_keypoints": 3, "padding": 1.5, "prob": 0.3, "upper_prioritized_prob": 0.7})
    steps += [{"type": "RandomBBoxTransform", "shift_factor": 0.16, "shift_prob": 0.0,
               "scale_factor": [0.5, 1.5], "scale_prob": 1.0, "rotate_factor": 80.0, "rotate_prob": 0.6},
              {"type": "TopdownAffine", "input_size": [w, h], "use_udp": False},
              {"type": "GenerateTarget", "encoder": copy.deepcopy(codec), "target_type": None,
               "multilevel": False, "use_dataset_keypoint_weights": False},
              {"type": "PackPoseInputs"}]
    return steps


def _recipe(name: str, config: str, backbone: str, k: int, w: int, h: int, batch: int, half_body: bool,
            train: List[Dict[str, Any]], test: Dict[str, Any], evaluator: List[Dict[str, Any]],
            metainfo: str, dark: bool = False, pretrained: str = None, load_from: str = None
            ) -> Dict[str, Any]:
    sigma = 3 if w >= 288 else 2
    codec = {"type": "MSRAHeatmap", "input_size": [w, h], "heatmap_size": [w // 4, h // 4], "sigma": sigma,
             "unbiased": dark, "blur_kernel_size": 17 if dark else 11}
    hrnet = backbone.startswith("hrnet")
    n_deconv = 0 if hrnet else 3
    return {
        "name": name, "aliases": [], "family": metainfo, "dataset": metainfo, "mmpose_config": None,
        "source": f"MMPose 0.x config {config}",
        "model": {"backbone": backbone, "backbone_cfg": None, "head": None, "num_deconv": n_deconv,
                  "deconv_out_channels": [256] * n_deconv, "deconv_kernel_sizes": [4] * n_deconv,
                  "head_out_channels": k, "visibility_head": False, "num_keypoints": k,
                  "metainfo": metainfo + ".py"},
        "test": {"codec": dict(codec), "flip_test": True, "flip_mode": "heatmap", "shift_heatmap": True,
                 "use_udp": False, "input_size": [w, h], "output_keypoint_indices": None},
        "train": {"codec": dict(codec), "use_dataset_keypoint_weights": False,
                  "pipeline": _pipeline(w, h, codec, half_body),
                  "loss": {"type": "KeypointMSELoss", "use_target_weight": True},
                  "pretrained": pretrained, "pretrained_cfg": None, "load_from": load_from,
                  "optim_wrapper": "OptimWrapper", "amp": False, "loss_scale": None,
                  "optimizer": {"type": "Adam", "lr": 5e-4},
                  "param_scheduler": [
                      {"type": "LinearLR", "begin": 0, "end": 500, "start_factor": 0.001, "by_epoch": False},
                      {"type": "MultiStepLR", "begin": 0, "end": 210, "milestones": [170, 200], "gamma": 0.1,
                       "by_epoch": True}],
                  "max_epochs": 210, "val_interval": 10, "gpus": 8, "batch_per_gpu": batch,
                  "auto_scale_lr_base_batch": None, "datasets": train, "combined": None,
                  "val_data": dict(test), "test_data": dict(test), "evaluator": evaluator,
                  "save_best": None, "checkpoint_interval": 10},
        "key_metric": {"ochuman": "AP", "mhp": "AP", "mpii_trb": "Mean Acc", "halpe": "Whole AP"}[metainfo],
        "results": [], "notes": [_AUG_NOTE if half_body else _AUG_NOTE.replace(
            "TopDownHalfBodyTransform(num_joints_half_body=8, prob_half_body=0.3) and ", "(no half-body) ")],
    }


def zero_x_recipes() -> Dict[str, Dict[str, Any]]:
    """The 0.x-only recipes (no MMPose 1.x config), by 1.x-style name."""
    out: Dict[str, Dict[str, Any]] = {}
    coco_train = [{"type": "CocoDataset", "ann_file": COCO_TRAIN_ANN, "img_prefix": "data/coco/train2017/",
                   "data_mode": "topdown"}]
    och_test = {"type": "OCHumanDataset", "img_prefix": "data/ochuman/images/", "data_mode": "topdown",
                "ann_file": "data/ochuman/annotations/ochuman_coco_format_test_range_0.00_1.00.json"}
    for zero, name in ZERO_TO_ONE["ochuman"].items():
        d, size = int(zero.split("_")[0][3:]), zero.split("_")[-1]
        h, w = (int(v) for v in size.split("x"))
        batch = int(name.split("xb")[1].split("-")[0])
        out[name] = _recipe(name, f"configs/top_down/resnet/coco/{zero}.py", f"resnet{d}", 17, w, h, batch, True,
                            coco_train, och_test, [{"type": "CocoMetric"}], "ochuman",
                            pretrained=f"torchvision://resnet{d}")
    out["td-hm_res50_8xb64-210e_mhp-256x192"] = _recipe(
        "td-hm_res50_8xb64-210e_mhp-256x192", "configs/top_down/resnet/mhp/res50_mhp_256x192.py", "resnet50",
        16, 192, 256, 64, True,
        [{"type": "MhpDataset", "ann_file": "data/mhp/annotations/mhp_train.json",
          "img_prefix": "data/mhp/train/images/", "data_mode": "topdown"}],
        {"type": "MhpDataset", "ann_file": "data/mhp/annotations/mhp_val.json", "img_prefix": "data/mhp/val/images/",
         "data_mode": "topdown"}, [{"type": "CocoMetric"}], "mhp", pretrained="torchvision://resnet50")
    for d in (50, 101, 152):
        name = f"td-hm_res{d}_8xb32-210e_mpii-trb-256x256"
        out[name] = _recipe(
            name, f"configs/top_down/resnet/mpii_trb/res{d}_mpii_trb_256x256.py", f"resnet{d}", 40, 256, 256, 32,
            False, [{"type": "MpiiTrbDataset", "ann_file": "data/mpii/annotations/mpii_trb_train.json",
                     "img_prefix": "data/mpii/images/", "data_mode": "topdown"}],
            {"type": "MpiiTrbDataset", "ann_file": "data/mpii/annotations/mpii_trb_val.json",
             "img_prefix": "data/mpii/images/", "data_mode": "topdown"},
            [{"type": "MpiiTrbPCKh", "thr": 0.5}], "mpii_trb", pretrained=f"torchvision://resnet{d}")
    name = "td-hm_hrnet-w48_dark_8xb32-210e_halpe-384x288"
    out[name] = _recipe(
        name, "configs/wholebody/2d_kpt_sview_rgb_img/topdown_heatmap/halpe/hrnet_w48_halpe_384x288_dark_plus.py",
        "hrnet_w48", 136, 288, 384, 32, True,
        [{"type": "HalpeDataset", "ann_file": "data/halpe/annotations/halpe_train_v1.json",
          "img_prefix": "data/halpe/hico_20160224_det/images/train2015/", "data_mode": "topdown"}],
        {"type": "HalpeDataset", "ann_file": "data/halpe/annotations/halpe_val_v1.json",
         "img_prefix": "data/halpe/val2017/", "bbox_file": COCO_DET_FILE, "data_mode": "topdown"},
        [{"type": "CocoWholeBodyMetric"}], "halpe", dark=True,
        load_from="https://download.openmmlab.com/mmpose/top_down/hrnet/hrnet_w48_coco_384x288_dark-741844ba_20200812.pth")
    return out
