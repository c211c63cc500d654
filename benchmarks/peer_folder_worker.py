"""MMPose side of bench_folder.py; run by the MMPose peer interpreter, never by heatpose.

MMPose's ``demo/topdown_demo_with_mmdet.py`` path per image (``process_one_image`` without
drawing): mmdet ``inference_detector`` -> keep label 0 with score > bbox_thr -> ``nms(...,
nms_thr)`` -> mmpose ``inference_topdown(pose_model, img, bboxes)`` -> ``merge_data_samples``.
The detector is mmdet's YOLOX-nano config with the weights of a YOLOX ONNX export (BN folded
into the convolutions: the conv gets the bias and the BN becomes the identity), handed over by
bench_folder.py as an .npz of the ONNX graph's convolutions in graph (= Megvii forward) order.

One JSON command per line on stdin, one JSON line answered on stdout:
  {"op": "load", "pose": CONFIG_NAME, "checkpoint": FILE, "threads": N, "det_weights": NPZ,
   "score_thr": T, "nms_thr": T}                           -> {"det_config": ..., "convs": n}
  {"op": "raw", "canvas": NPY}    -> {"out": NPY written beside it} (Megvii layout, (1, A, 85))
  {"op": "folder", "files": [...], "skip_empty": bool}  -> {"s": seconds, "images": [{boxes, scores, keypoints,
                                         keypoint_scores}, ...]}
  {"op": "quit"}
"""
import glob
import os
import time

import numpy as np
import torch

import mmdet
import mmpose
from mmdet.apis import inference_detector, init_detector
from mmengine.config import Config
from mmpose.apis import inference_topdown, init_model
from mmpose.evaluation.functional import nms
from mmpose.structures import merge_data_samples
from mmpose.utils import adapt_mmdet_pipeline
from peer_worker import serve

POSE_CONFIGS = os.path.join(os.path.dirname(mmpose.__file__), ".mim", "configs")
DET_CONFIG = os.path.join(os.path.dirname(mmdet.__file__), ".mim", "configs", "yolox",
                          "yolox_nano_8xb8-300e_coco.py")


def _convs(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.Conv2d)]


def _csp(layer):
    """Megvii's CSPLayer forward order: conv1 (main), conv2 (short), the blocks, conv3."""
    return (_convs(layer.main_conv) + _convs(layer.short_conv) + _convs(layer.blocks)
            + _convs(layer.final_conv))


def megvii_order(model):
    """mmdet's YOLOX ConvModules (the conv with a BN after it) in the order Megvii's YOLOX
    runs the same layers, which is the order of the ONNX export's conv nodes."""
    out = _convs(model.backbone.stem)
    for name in model.backbone.layers[1:]:
        for child in getattr(model.backbone, name):
            out += _csp(child) if hasattr(child, "main_conv") else _convs(child)
    neck, head = model.neck, model.bbox_head
    out += _convs(neck.reduce_layers[0]) + _csp(neck.top_down_blocks[0])
    out += _convs(neck.reduce_layers[1]) + _csp(neck.top_down_blocks[1])
    out += _convs(neck.downsamples[0]) + _csp(neck.bottom_up_blocks[0])
    out += _convs(neck.downsamples[1]) + _csp(neck.bottom_up_blocks[1])
    for k in range(len(head.strides)):            # Megvii's head stem k = mmdet's out_convs k
        out += (_convs(neck.out_convs[k]) + _convs(head.multi_level_cls_convs[k])
                + _convs(head.multi_level_reg_convs[k]))
    return out


def _set(conv, weight, bias):
    w = torch.from_numpy(weight)
    if tuple(conv.weight.shape) != tuple(w.shape):
        raise ValueError(f"shape {tuple(w.shape)} does not fit conv {tuple(conv.weight.shape)}")
    conv.weight.data.copy_(w)
    conv.bias = torch.nn.Parameter(torch.from_numpy(bias).clone())


def load_folded_weights(model, npz):
    """Put the ONNX export's folded convolutions into mmdet's model (BN -> identity)."""
    data = np.load(npz)
    modules = dict(model.named_modules())
    convs = megvii_order(model)
    n = sum(1 for k in data.files if k.startswith("conv") and k.endswith("_w"))
    if n != len(convs):
        raise ValueError(f"the ONNX graph has {n} folded convs, mmdet's model {len(convs)}")
    name_of = {id(m): k for k, m in modules.items()}
    for i, conv in enumerate(convs):
        _set(conv, data[f"conv{i}_w"], data[f"conv{i}_b"])
        owner = modules[name_of[id(conv)].rsplit(".", 1)[0]]   # the ConvModule
        setattr(owner, owner.norm_name, torch.nn.Identity())
    head = model.bbox_head
    for ours, theirs in (("cls", "multi_level_conv_cls"), ("reg", "multi_level_conv_reg"),
                         ("obj", "multi_level_conv_obj")):
        for k, conv in enumerate(getattr(head, theirs)):
            _set(conv, data[f"{ours}{k}_w"], data[f"{ours}{k}_b"])
    return len(convs)


def raw_outputs(model, canvas):
    """Megvii-layout outputs (1, A, 4 + 1 + 80): raw box offsets, sigmoid objectness and
    class scores, level by level, of one (1, 3, H, W) BGR 0-255 canvas."""
    with torch.no_grad():
        cls, reg, obj = model.bbox_head(model.neck(model.backbone(torch.from_numpy(canvas))))
    levels = [torch.cat([r, o.sigmoid(), c.sigmoid()], 1).flatten(2)
              for c, r, o in zip(cls, reg, obj)]
    return torch.cat(levels, 2).permute(0, 2, 1).numpy()


def process_one_image(img, detector, pose_model, bbox_thr, nms_thr, skip_empty=False):
    """The demo's process_one_image without the visualizer (det_cat_id 0). With no box left,
    ``inference_topdown`` poses the whole image; ``skip_empty`` leaves that out (the work
    heatpose does, for a like-for-like row)."""
    det_result = inference_detector(detector, img)
    pred_instance = det_result.pred_instances.cpu().numpy()
    bboxes = np.concatenate((pred_instance.bboxes, pred_instance.scores[:, None]), axis=1)
    bboxes = bboxes[np.logical_and(pred_instance.labels == 0, pred_instance.scores > bbox_thr)]
    bboxes = bboxes[nms(bboxes, nms_thr), :4]
    if skip_empty and not len(bboxes):
        return bboxes, None
    pose_results = inference_topdown(pose_model, img, bboxes)
    data_samples = merge_data_samples(pose_results)
    return bboxes, data_samples.get("pred_instances", None)


def main():
    state = {}

    def handle(cmd):
        op = cmd["op"]
        if op == "load":
            torch.set_num_threads(int(cmd["threads"]))
            cfg = Config.fromfile(DET_CONFIG)
            cfg.model.test_cfg = dict(score_thr=cmd["score_thr"],
                                      nms=dict(type="nms", iou_threshold=cmd["nms_thr"]))
            detector = init_detector(cfg, checkpoint=None, device="cpu")
            detector.cfg = adapt_mmdet_pipeline(detector.cfg)
            n = load_folded_weights(detector, cmd["det_weights"])
            detector.eval()
            pose_cfg = glob.glob(os.path.join(POSE_CONFIGS, "**", cmd["pose"] + ".py"),
                                 recursive=True)
            state.update(detector=detector, pose=init_model(
                pose_cfg[0], checkpoint=cmd["checkpoint"], device="cpu"),
                thr={"bbox_thr": cmd["score_thr"], "nms_thr": cmd["nms_thr"]})
            return {"det_config": os.path.basename(DET_CONFIG), "convs": n}
        if op == "raw":
            res = raw_outputs(state["detector"], np.load(cmd["canvas"]))
            path = cmd["canvas"][:-4] + "_mmdet.npy"
            np.save(path, res)
            return {"out": path}
        if op == "folder":
            images = []
            t = time.perf_counter()
            for f in cmd["files"]:
                images.append(process_one_image(f, state["detector"], state["pose"],
                                                **state["thr"],
                                                skip_empty=bool(cmd.get("skip_empty"))))
            return {"s": time.perf_counter() - t, "images": [
                {"boxes": b.tolist(),
                 "keypoints": [] if p is None else p.keypoints.tolist(),
                 "keypoint_scores": [] if p is None else p.keypoint_scores.tolist()}
                for b, p in images]}
        return {}

    serve(handle)


if __name__ == "__main__":
    main()
