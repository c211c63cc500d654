"""Write tests/fixtures/mmpose_output_keypoints.json: what MMPose 1.3.2's ``inference_topdown``
returns for a model whose test_cfg has ``output_keypoint_indices`` (the COCO+AIC 'combine'
recipes' setting): the selected keypoints, scores and heatmap channels.

Runs ONLY with the MMPose reference install (never imported by heatpose; the test loads
:func:`fixed_weights` from this file to give heatpose the same weights):

    /work/peer/bin/peer-python tools/dump_output_keypoints.py \
        [--image ../shared/data/images/astronaut.png] \
        [--out tests/fixtures/mmpose_output_keypoints.json]

The network is a small SimpleBaseline (ResNet-18 with 8 base channels, two 16-channel deconvs)
with the 19 COCO+AIC keypoints, weights from :func:`fixed_weights` (NumPy's PCG64, seed 0,
keys in sorted order), flip test on, heatmaps kept.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Dict

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUTPUT_KEYPOINT_INDICES = [0, 5, 6, 17, 18, 2, 11]
BOXES_XYXY = [[15.0, 10.0, 370.0, 512.0], [100.0, 40.0, 300.0, 300.0]]
CODEC = {"type": "MSRAHeatmap", "input_size": [96, 128], "heatmap_size": [12, 16], "sigma": 2}
NETWORK = {"depth": 18, "stem_channels": 8, "base_channels": 8, "deconv": (16, 16),
           "num_keypoints": 19}


def fixed_weights(shapes: Dict[str, tuple]) -> Dict[str, np.ndarray]:
    """float32 values for every state_dict key (``shapes``: key -> shape), the same in any
    framework with MMPose's key names: BatchNorm near the identity, other weights scaled by
    1/sqrt(fan-in), biases small, ``num_batches_tracked`` 0."""
    rng = np.random.default_rng(0)
    out = {}
    for key in sorted(shapes):
        shape = tuple(shapes[key])
        if key.endswith("num_batches_tracked"):
            out[key] = np.zeros(shape, np.int64)
            continue
        draw = rng.standard_normal(shape)
        if key.endswith("running_var"):
            value = 1.0 + 0.2 * np.abs(draw)
        elif key.endswith(("running_mean", "bias")):
            value = 0.1 * draw
        elif len(shape) == 1:                                   # BatchNorm weight
            value = 1.0 + 0.1 * draw
        else:
            fan_in = int(np.prod(shape[1:])) if "deconv" not in key else shape[0]
            value = draw / np.sqrt(fan_in)
        out[key] = value.astype(np.float32)
    return out


def main() -> None:
    import torch
    from mmengine.config import Config

    from mmpose.apis import inference_topdown, init_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--image", default=str(ROOT.parent / "shared/data/images/astronaut.png"))
    p.add_argument("--out", default=str(ROOT / "tests/fixtures/mmpose_output_keypoints.json"))
    args = p.parse_args()
    codec = dict(CODEC)
    w, h = codec["input_size"]
    cfg = Config(dict(
        default_scope="mmpose",
        model=dict(
            type="TopdownPoseEstimator",
            data_preprocessor=dict(type="PoseDataPreprocessor", mean=[123.675, 116.28, 103.53],
                                   std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
            backbone=dict(type="ResNet", depth=NETWORK["depth"],
                          stem_channels=NETWORK["stem_channels"],
                          base_channels=NETWORK["base_channels"]),
            head=dict(type="HeatmapHead", in_channels=NETWORK["base_channels"] * 8,
                      out_channels=NETWORK["num_keypoints"],
                      deconv_out_channels=NETWORK["deconv"], deconv_kernel_sizes=(4, 4),
                      loss=dict(type="KeypointMSELoss", use_target_weight=True),
                      decoder=codec),
            test_cfg=dict(flip_test=True, flip_mode="heatmap", shift_heatmap=True,
                          output_heatmaps=True,
                          output_keypoint_indices=OUTPUT_KEYPOINT_INDICES)),
        train_dataloader=dict(dataset=dict(
            type="CocoDataset", metainfo=dict(from_file="configs/_base_/datasets/coco_aic.py"))),
        test_dataloader=dict(dataset=dict(type="CocoDataset", pipeline=[
            dict(type="LoadImage"), dict(type="GetBBoxCenterScale"),
            dict(type="TopdownAffine", input_size=(w, h)), dict(type="PackPoseInputs")]))))
    model = init_model(cfg, device="cpu")
    state = model.state_dict()
    weights = fixed_weights({k: tuple(v.shape) for k, v in state.items()})
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    samples = inference_topdown(model, args.image, np.array(BOXES_XYXY, np.float32))
    pred = [s.pred_instances for s in samples]
    heatmaps = np.stack([s.pred_fields.heatmaps.numpy() for s in samples])
    out = {
        "image": Path(args.image).name, "boxes_xyxy": BOXES_XYXY, "codec": CODEC,
        "network": NETWORK, "output_keypoint_indices": OUTPUT_KEYPOINT_INDICES,
        "keypoints": np.concatenate([p.keypoints for p in pred]).tolist(),
        "keypoint_scores": np.concatenate([p.keypoint_scores for p in pred]).tolist(),
        "heatmaps_shape": list(heatmaps.shape),
        "heatmaps": np.round(heatmaps.astype(np.float64), 6).ravel().tolist(),
    }
    Path(args.out).write_text(json.dumps(out) + "\n")
    print(f"wrote {args.out}: keypoints {np.shape(out['keypoints'])}, heatmaps {heatmaps.shape}")


if __name__ == "__main__":
    main()
