"""A folder of real photos with the person detector: heatpose infer vs MMPose's topdown demo.

heatpose: what ``heatpose infer FOLDER --detector yolox-nano --detector-model ONNX --no-draw``
runs (``commands.infer.run_images`` on the pipeline ``infer_pipeline`` builds, results written to
a temporary folder). MMPose 1.3.2 + mmdet 3.2.0 (benchmarks/peer_folder_worker.py under the
peer's interpreter): ``demo/topdown_demo_with_mmdet.py``'s ``process_one_image`` per file
(``inference_detector`` -> label 0 and score > thr -> ``nms`` -> ``inference_topdown``), no
drawing. Both detectors are YOLOX-nano with the weights of the same ONNX file (mmdet's model
gets the ONNX graph's BN-folded convolutions), the same score threshold and NMS IoU; the pose
model gets the reference fixtures' deterministic weights on both sides; flip test on, the same
number of threads. heatpose and MMPose alternate within each round (round 0 warms up); the
table shows medians.

    .venv/bin/python benchmarks/bench_folder.py --peer-python /work/peer/bin/peer-python

Before timing it prints the agreement: the largest difference between the two detectors' raw
outputs on one letterboxed image, how many boxes match (IoU > 0.9) and the largest keypoint
difference over the persons whose boxes match.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Tuple

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from benchmarks.bench_inference import Peer, heatpose_model  # noqa: E402

SHARED = Path(os.environ.get("HEATPOSE_TEST_DATA", ROOT.parent / "shared"))
FOLDER = SHARED / "data" / "coco_mini" / "train2017"
DETECTOR = SHARED / "data" / "detectors" / "yolox_nano" / "yolox_nano_416x416.onnx"
MODELS = "td-hm_res50_8xb64-210e_coco-256x192"
MATCH_IOU = 0.9
SAME_WORK = "mmpose, no pose where no box"


class FolderPeer(Peer):
    """The MMPose + mmdet worker (benchmarks/peer_folder_worker.py)."""

    def __init__(self, python: str) -> None:
        self.proc = subprocess.Popen([python, str(ROOT / "benchmarks" / "peer_folder_worker.py")],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def folded_convs(onnx_file: Path, npz: Path) -> int:
    """The ONNX export's convolutions as ``conv{i}_w/_b`` in graph order (the BN-folded ones,
    whose initializers are unnamed numbers) and ``cls/reg/obj{k}_w/_b`` (the head's named
    prediction convs)."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load(str(onnx_file)).graph
    init = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    arrays: Dict[str, np.ndarray] = {}
    n = 0
    for node in graph.node:
        if node.op_type != "Conv":
            continue
        w, b = init[node.input[1]], init[node.input[2]]
        if node.input[1].startswith("head.") and "_preds." in node.input[1]:
            kind, k = node.input[1].split(".")[1].split("_")[0], node.input[1].split(".")[2]
            arrays[f"{kind}{k}_w"], arrays[f"{kind}{k}_b"] = w, b
        else:
            arrays[f"conv{n}_w"], arrays[f"conv{n}_b"] = w, b
            n += 1
    np.savez(npz, **arrays)
    return n


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of xyxy boxes."""
    a, b = np.asarray(a, np.float64).reshape(-1, 4), np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(np.clip(x[:, 2:] - x[:, :2], 0, None), axis=1)  # noqa: E731
    return inter / np.maximum(area(a)[:, None] + area(b)[None, :] - inter, 1e-12)


def match(a: np.ndarray, b: np.ndarray) -> List[Tuple[int, int]]:
    """Greedy one-to-one pairs (i, j) with IoU > MATCH_IOU, best IoU first."""
    m = iou(a, b)
    pairs = []
    while m.size and m.max() > MATCH_IOU:
        i, j = np.unravel_index(np.argmax(m), m.shape)
        pairs.append((int(i), int(j)))
        m[i, :], m[:, j] = -1, -1
    return pairs


def infer_args(folder: Path, out: Path, ckpt: Path, name: str,
               detector: Path) -> argparse.Namespace:
    from heatpose.cli import build_parser

    return build_parser("infer").parse_args([
        "infer", str(folder), "--model", name, "--checkpoint", str(ckpt),
        "--detector-model", str(detector), "--no-draw", "--quiet", "--out", str(out)])


def heatpose_people(out: Path) -> Dict[str, Tuple[np.ndarray, np.ndarray]]:
    """predictions.json -> {file_name: (boxes (N, 4) xyxy, keypoints (N, K, 2))}."""
    found: Dict[str, Tuple[list, list]] = {}
    for rec in json.loads((out / "predictions.json").read_text()):
        x, y, w, h = rec["bbox"]
        boxes, kpts = found.setdefault(rec["file_name"], ([], []))
        boxes.append([x, y, x + w, y + h])
        kpts.append(np.asarray(rec["keypoints"]).reshape(-1, 3)[:, :2])
    return {k: (np.asarray(b), np.asarray(p)) for k, (b, p) in found.items()}


def agreement(pipe: Any, files: List[Path], theirs: List[dict], out: Path,
              peer: Any, tmp: Path) -> List[str]:
    """Lines on how far the two detectors (raw outputs, boxes) and the keypoints agree."""
    from heatpose.data.images import read_image
    from heatpose.inference.detector import YOLOXDetector, letterbox

    det = YOLOXDetector(DETECTOR)
    canvas, _ = letterbox(read_image(files[0]), det.input_size)
    x = canvas.transpose(2, 0, 1)[None].astype(np.float32)
    np.save(tmp / "canvas.npy", x)
    ours_raw = det.session.run(None, {det.input_name: x})[0]
    theirs_raw = np.load(peer(op="raw", canvas=str(tmp / "canvas.npy"))["out"])
    ours_people = heatpose_people(out)
    n_ours = n_theirs = n_matched = n_kpt = n_same = 0
    worst = worst_same = 0.0
    for f, mm in zip(files, theirs):
        image = read_image(f)
        boxes, _ = pipe.boxes(image)
        mm_boxes = np.asarray(mm["boxes"], np.float32).reshape(-1, 4)
        n_ours, n_theirs = n_ours + len(boxes), n_theirs + len(mm_boxes)
        n_matched += len(match(boxes, mm_boxes))
        hb, hk = ours_people.get(f.name, (np.zeros((0, 4)), None))
        mk = np.asarray(mm["keypoints"])
        for i, j in match(hb, mm_boxes):
            worst = max(worst, float(np.abs(hk[i] - mk[j]).max()))
            n_kpt += 1
        if len(mm_boxes):                 # heatpose's pose model on MMPose's boxes
            same = pipe.model.predict(image, mm_boxes).keypoints
            worst_same = max(worst_same, float(np.abs(same - mk).max()))
            n_same += len(mm_boxes)
    whole = sum(1 for mm in theirs if not mm["boxes"])
    return [f"- detector raw outputs (one 416x416 letterboxed image, {ours_raw.shape[1]} "
            f"anchors x 85): max abs difference ONNX Runtime vs mmdet "
            f"{np.abs(ours_raw - theirs_raw).max():.1e}",
            f"- boxes: heatpose {n_ours}, mmdet {n_theirs}, matched (IoU > {MATCH_IOU}) "
            f"{n_matched} (the resize differs: YOLOX int(w * r), mmdet int(w * r + 0.5) "
            "with a scale per axis)",
            f"- keypoints, heatpose's pose model on MMPose's boxes: {n_same} persons, largest "
            f"abs difference {worst_same:.1e} px",
            f"- keypoints, each on its own boxes: {n_kpt} persons matched by box, largest abs "
            f"difference {worst:.2g} px (the untrained deterministic weights give flat heatmaps "
            "whose maximum moves with sub-pixel box changes)",
            f"- MMPose's inference_topdown poses the whole image when no box is found: "
            f"{whole} image(s) here (counted in its persons)"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--folder", type=Path, default=FOLDER, help="folder of photos "
                    "(default ../shared/data/coco_mini/train2017)")
    ap.add_argument("--limit", type=int, help="the first N images only")
    ap.add_argument("--models", default=MODELS, help="comma-separated zoo names")
    ap.add_argument("--rounds", type=int, default=2, help="timed rounds (after one warm-up)")
    ap.add_argument("--sequential", action="store_true", help="add a heatpose row with the "
                    "detector in the main thread (its default threads), between the pose "
                    "batches: the choice infer's detection in the reader thread replaced")
    ap.add_argument("--threads", type=int, default=2, help="threads on both sides")
    ap.add_argument("--detector-model", type=Path, default=DETECTOR, help="YOLOX ONNX file")
    ap.add_argument("--peer-python", default=os.environ.get("HEATPOSE_PEER_PYTHON",
                                                            "/work/peer/bin/peer-python"))
    ap.add_argument("--rule-dir", type=Path, default=SHARED / "reference",
                    help="folder holding weights_rule.py (default ../shared/reference)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    import heatpose.commands.infer as infer
    from heatpose.commands.infer import infer_pipeline, make_pipeline, run_images
    from heatpose.inference.media import expand_images
    from heatpose.inference.pipeline import DET_SCORE_THR

    files = expand_images(str(args.folder))[:args.limit]
    det_nms = 0.45                    # YOLOXDetector's NMS IoU (heatpose), mmdet's test_cfg
    peer = FolderPeer(args.peer_python)
    print(f"# {len(files)} photos of {args.folder}, YOLOX-nano {args.detector_model.name} "
          f"(score > {DET_SCORE_THR}, NMS IoU {det_nms}) + pose model, flip test on, "
          f"{args.threads} threads, medians of {args.rounds} interleaved rounds; "
          f"torch {torch.__version__}\n", flush=True)
    try:
        with tempfile.TemporaryDirectory() as tmp_name:
            tmp = Path(tmp_name)
            n_convs = folded_convs(args.detector_model, tmp / "yolox.npz")
            for name in args.models.split(","):
                ckpt = tmp / "weights.pth"
                torch.save({"state_dict": heatpose_model(name, args.rule_dir).state_dict(),
                            "meta": {}}, ckpt)
                out = tmp / "out"
                iargs = infer_args(args.folder, out, ckpt, name, args.detector_model)
                pipe = infer_pipeline(iargs, "cpu")
                sides = {"heatpose": pipe}
                if args.sequential:
                    sides["heatpose, detection in the main thread"] = make_pipeline(iargs, "cpu")
                loaded = peer(op="load", pose=name, checkpoint=str(ckpt), threads=args.threads,
                              det_weights=str(tmp / "yolox.npz"), score_thr=DET_SCORE_THR,
                              nms_thr=det_nms)
                t: Dict[str, List[float]] = {}
                people: Dict[str, int] = {}
                theirs: List[dict] = []
                for r in range(max(args.rounds, 1) + 1):
                    out.mkdir(exist_ok=True)
                    for side, p in sides.items():
                        ahead = infer.detects_ahead
                        if p is not pipe:           # what infer ran before detecting ahead
                            infer.detects_ahead = lambda _: False
                        try:
                            s = time.perf_counter()
                            report = run_images(p, files, out, iargs)
                            t.setdefault(side, []).append(time.perf_counter() - s)
                        finally:
                            infer.detects_ahead = ahead
                        people[side] = report.people
                    res = peer(op="folder", files=[str(f) for f in files])
                    t.setdefault("mmpose", []).append(res["s"])
                    theirs = res["images"]
                    people["mmpose"] = sum(len(i["keypoints"]) for i in theirs)
                    res = peer(op="folder", files=[str(f) for f in files], skip_empty=True)
                    t.setdefault(SAME_WORK, []).append(res["s"])
                    people[SAME_WORK] = sum(len(i["keypoints"]) for i in res["images"])
                    if r == 0:
                        print(f"## {name}\n\nagreement (mmdet {loaded['det_config']} with "
                              f"the ONNX file's {n_convs} BN-folded convs + 9 head convs):")
                        print("\n".join(agreement(pipe, files, theirs, out, peer, tmp)) + "\n",
                              flush=True)
                med = {k: statistics.median(v[1:]) for k, v in t.items()}
                print("| | images | persons | s | images/s | persons/s | rounds (s) |")
                print("|---|---|---|---|---|---|---|")
                for k in [*sides, "mmpose", SAME_WORK]:
                    print(f"| {k} | {len(files)} | {people[k]} | {med[k]:.2f} | "
                          f"{len(files) / med[k]:.2f} | {people[k] / med[k]:.2f} | "
                          f"{', '.join(f'{v:.2f}' for v in t[k][1:])} |")
                print(f"\nspeed-up (images/s): {med['mmpose'] / med['heatpose']:.2f}x over "
                      f"MMPose's demo path, {med[SAME_WORK] / med['heatpose']:.2f}x over the "
                      "same work (no whole-image pose where no person was found)\n",
                      flush=True)
    finally:
        peer.close()


if __name__ == "__main__":
    main()
