"""Compact MMPose 1.3.2 end-to-end parity fixtures for recipes beyond ../shared/reference.

Runs ONLY with the MMPose peer:

    /work/peer/bin/peer-python tools/dump_mmpose_parity.py [CONFIG_NAME ...]

Same weights and call convention as ../shared/reference (see its README): ``init_model`` on
the recipe's config, the deterministic weights of ``weights_rule.py``, ``test_cfg
['output_heatmaps'] = True`` and one ``inference_topdown`` call per image with the shared
reference's 13 boxes over 5 images (taken from its res50 fixture). To stay small (< 300 KB)
a fixture keeps, instead of full arrays: the e2e keypoints, scores, input centers/scales, the
middle heatmap row of every keypoint (flip-averaged network output) and the stability of each
keypoint under 16 re-decodings with ±1e-5·max noise (as the reference). Written to
``tests/fixtures/parity/<config>.npz``.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DEFAULT = ["td-hm_hrnet-w32_dark-8xb64-210e_coco-384x288",
           "td-hm_hrnet-w32_udp-regress-8xb64-210e_coco-256x192"]


def dump(name: str) -> Path:
    import glob

    import mmpose
    from mmengine.config import Config
    from mmpose.apis import inference_topdown, init_model

    sys.path.insert(0, str(SHARED / "reference"))
    from weights_rule import deterministic_state_dict

    configs = os.path.join(os.path.dirname(mmpose.__file__), ".mim", "configs")
    (path,) = glob.glob(os.path.join(configs, "**", name + ".py"), recursive=True)
    cfg = Config.fromfile(path)
    model = init_model(cfg, checkpoint=None, device="cpu")
    sd = model.state_dict()
    model.load_state_dict(deterministic_state_dict([(k, tuple(v.shape)) for k, v in sd.items()]), strict=True)
    model.eval()
    model.test_cfg["output_heatmaps"] = True
    ref = np.load(SHARED / "reference" / "td-hm_res50_8xb64-210e_coco-256x192.npz")
    images, index, boxes = ref["e2e_images"], ref["e2e_img_index"], ref["e2e_bboxes_xyxy"]
    decoder = model.head.decoder
    kpts, scores, centers, scales, rows, stable, moves = [], [], [], [], [], [], []
    rng = np.random.default_rng(0)
    for i, rel in enumerate(images):
        for res in inference_topdown(model, str(SHARED / "data" / str(rel)), bboxes=boxes[index == i],
                                     bbox_format="xyxy"):
            inst = res.pred_instances
            hm = res.pred_fields.heatmaps.numpy()                      # (C, h, w) flip-averaged
            center, scale = res.metainfo["input_center"], res.metainfo["input_scale"]
            kp = inst.keypoints[0]
            kpts.append(kp)
            scores.append(inst.keypoint_scores[0])
            centers.append(center)
            scales.append(scale)
            rows.append(hm[:, hm.shape[1] // 2, :])
            move = np.zeros(len(kp))
            input_size = np.array(cfg.codec["input_size"] if "input_size" in cfg.codec else decoder.input_size)
            for _ in range(16):
                noisy = hm + rng.uniform(-1, 1, hm.shape) * 1e-5 * np.abs(hm).max()
                k2, _ = decoder.decode(noisy.astype(np.float32))
                k2 = k2[0] / input_size * scale + center - 0.5 * scale
                move = np.maximum(move, np.linalg.norm(k2 - kp, axis=-1))
            moves.append(move)
            stable.append(move <= 0.01)
    meta = {"config": name, "mmpose_version": mmpose.__version__, "head_decoder": dict(cfg.model.head.decoder),
            "test_cfg": dict(cfg.model.test_cfg), "e2e_row": "middle row (h // 2)"}
    out = ROOT / "tests" / "fixtures" / "parity" / f"{name}.npz"
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        out, meta_json=np.array(json.dumps(meta)), e2e_images=images, e2e_img_index=index,
        e2e_bboxes_xyxy=boxes, e2e_keypoints=np.array(kpts, np.float32),
        e2e_keypoint_scores=np.array(scores, np.float32), e2e_input_center=np.array(centers, np.float32),
        e2e_input_scale=np.array(scales, np.float32), e2e_heatmap_rows=np.array(rows, np.float32),
        e2e_stable=np.array(stable), e2e_max_move_px=np.array(moves, np.float32))
    print(f"wrote {out} ({out.stat().st_size} bytes)")
    return out


if __name__ == "__main__":
    for config in sys.argv[1:] or DEFAULT:
        dump(config)
