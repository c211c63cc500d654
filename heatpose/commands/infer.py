"""``heatpose infer INPUT``: keypoints for an image, a folder, a glob or a video; drawn + JSON."""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any, List

import numpy as np

from heatpose.errors import HeatposeError
from heatpose.inference.media import (VideoReader, VideoWriter, expand_images, image_id_of,
                                      is_video)
from heatpose.inference.pipeline import DEFAULT_MODEL, People, Pipeline
from heatpose.progress import ProgressBar


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser("infer", help="estimate keypoints on images or a video",
                       description=__doc__)
    add_model_args(p)
    p.add_argument("input", help="an image, a folder of images, a glob (quote it) or a video")
    p.add_argument("--out", default="heatpose_out", help="output folder (default heatpose_out)")
    p.add_argument("--kpt-thr", type=float, default=0.3,
                   help="draw keypoints with score above this (default 0.3)")
    p.add_argument("--heatmaps", action="store_true", help="overlay the heatmaps on the drawing")
    p.add_argument("--no-draw", action="store_true", help="write predictions only")
    p.set_defaults(func=run)
    return p


def add_model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", help=f"zoo model name (default: the model a heatpose --checkpoint "
                   f"describes, else {DEFAULT_MODEL})")
    p.add_argument("--checkpoint", help="weights file (default: download the zoo checkpoint)")
    boxes = p.add_mutually_exclusive_group()
    boxes.add_argument("--detector", default="yolox-nano", choices=["yolox-nano"],
                       help="person detector (default yolox-nano, needs onnxruntime)")
    boxes.add_argument("--det-file", help="COCO detection-results JSON giving the boxes")
    boxes.add_argument("--whole-image", action="store_true", help="one box = the whole image")
    p.add_argument("--detector-model", help="a local YOLOX .onnx file for --detector")
    p.add_argument("--det-thr", type=float, default=0.3, help="box score threshold (default 0.3)")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--batch-size", type=int, help="crops per forward pass (default 8 on CPU, "
                   "64 on GPU)")
    p.add_argument("--no-flip", action="store_true", help="turn the flip test off")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def make_pipeline(args: argparse.Namespace) -> Pipeline:
    detector: Any = None if (args.whole_image or args.det_file) else args.detector
    return Pipeline(model=args.model, detector=detector, checkpoint=args.checkpoint,
                    device=args.device, detector_model=args.detector_model,
                    det_score_thr=args.det_thr, batch_size=args.batch_size,
                    flip_test=False if args.no_flip else None)


def _draw(pipe: Pipeline, image: np.ndarray, people: People, args: argparse.Namespace) -> np.ndarray:
    from heatpose.inference.draw import draw_poses, overlay_heatmaps

    canvas = image
    if args.heatmaps and people.heatmaps is not None:
        for hm, center, scale in zip(people.heatmaps, people.centers, people.scales):
            canvas = overlay_heatmaps(canvas, hm, center=center, scale=scale)
    return draw_poses(canvas, people.keypoints, people.scores, pipe.model.schema,
                      kpt_thr=args.kpt_thr, boxes=people.boxes)


def _write_json(path: Path, obj: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)


def _people_record(people: People) -> List[dict]:
    return [{"bbox": [float(v) for v in people.boxes[i]], "bbox_score": float(people.box_scores[i]),
             "keypoints": people.keypoints[i].round(3).tolist(),
             "keypoint_scores": people.scores[i].round(5).tolist(),
             **({"keypoints_visible": people.visibility[i].round(4).tolist()}
                if people.visibility is not None else {})}
            for i in range(len(people))]


def run_images(pipe: Pipeline, files: List[Path], out: Path, args: argparse.Namespace) -> Path:
    import cv2

    from heatpose.data.images import read_image
    from heatpose.inference.detector import boxes_from_coco_detections

    results: List[dict] = []
    progress = ProgressBar(len(files), "images", enabled=not args.quiet and len(files) > 1)
    step = 4                              # images read and sent through the network together
    for start in range(0, len(files), step):
        chunk = files[start:start + step]
        images = [read_image(f) for f in chunk]
        bboxes = scores = None
        if args.det_file:
            pairs = [boxes_from_coco_detections(args.det_file, f.name, args.det_thr) for f in chunk]
            bboxes, scores = [b for b, _ in pairs], [s for _, s in pairs]
        batch = pipe(images, bboxes=bboxes, box_scores=scores, return_heatmaps=args.heatmaps)
        for j, (f, image, people) in enumerate(zip(chunk, images, batch)):
            results.extend(people.to_records(image_id_of(f, start + j)))
            if not args.no_draw:
                cv2.imwrite(str(out / f"{f.stem}_pose.jpg"), _draw(pipe, image, people, args))
        progress.update(len(chunk))
    progress.close()
    pred = out / "predictions.json"
    _write_json(pred, results)
    return pred


def run_video(pipe: Pipeline, path: Path, out: Path, args: argparse.Namespace) -> Path:
    reader = VideoReader(path)
    writer = None if args.no_draw else VideoWriter(out / f"{path.stem}_pose.mp4", reader.fps)
    frames: List[dict] = []
    progress = ProgressBar(reader.num_frames, "frames", enabled=not args.quiet)
    try:
        for chunk in reader.chunks(8):
            for people, frame in zip(pipe(chunk, return_heatmaps=args.heatmaps), chunk):
                frames.append({"frame": len(frames), "time": len(frames) / reader.fps,
                               "people": _people_record(people)})
                if writer is not None:
                    writer.write(_draw(pipe, frame, people, args))
            progress.update(len(chunk))
    finally:
        progress.close()
        if writer is not None:
            writer.close()
    if not frames:
        raise HeatposeError(f"{path}: the video has no readable frames")
    pred = out / f"{path.stem}_frames.json"
    _write_json(pred, {"video": str(path), "fps": reader.fps, "size": list(reader.size),
                       "keypoint_names": list(getattr(pipe.model.schema, "keypoint_names", [])),
                       "frames": frames})
    return pred


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if source.is_file() and is_video(source):
        if args.det_file:
            raise HeatposeError("--det-file works with image sets (boxes by image id), not videos")
        pipe = make_pipeline(args)
        pred = run_video(pipe, source, out, args)
    else:
        files = expand_images(args.input)
        pipe = make_pipeline(args)
        pred = run_images(pipe, files, out, args)
    print(f"predictions: {pred}")
    if not args.no_draw:
        print(f"drawings: {out}")
    return 0
