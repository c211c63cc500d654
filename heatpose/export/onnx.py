"""ONNX export of a top-down estimator, with the flip test and decoding optionally inside.

    export_onnx(model, "model.onnx")                           # (N,3,H,W) -> heatmaps (N,K,h,w)
    export_onnx(model, "model.onnx", flip_test=True, decode=True)

Graph input ``input``: a normalised float32 RGB batch (N, 3, H, W) (``(x - mean) / std`` on the
0..255 scale, mean/std in the metadata). Outputs, in this order: ``heatmaps`` (N, C, h, w)
(flip-averaged when the flip test is inside), ``visibility`` (N, K) for visibility-head models,
then with ``decode=True`` ``keypoints`` (N, K, 2) in input-crop pixels (x, y) and ``scores``
(N, K). Every decoder of heatpose is expressible (MSRA argmax + quarter-pixel step, DARK,
UDP gaussian and combined), so ``decode`` works for all codecs.

The file's metadata (``metadata_props``, each value JSON) holds the model description
(``model.metadata()``: name, codec, input size, flip indices, schema, ...), ``normalization``
and ``graph`` (what the graph contains), so the file alone is enough to run it
(``heatpose.inference.onnx_backend.OnnxEstimator``).
"""
from __future__ import annotations

import io
import json
import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Tuple, Union

import torch
from torch import Tensor, nn

from heatpose.codecs.decode_torch import decode_torch
from heatpose.errors import InputError

FORMAT = 1
OPSET = 17
PathLike = Union[str, Path]


class ExportGraph(nn.Module):
    """What gets exported: ``model.forward_test`` (optionally with the flip test) and optionally
    ``decode_torch``; returns the tuple of outputs named by ``output_names``."""

    def __init__(self, model: nn.Module, flip_test: bool = False, decode: bool = False) -> None:
        super().__init__()
        self.model = model
        self.flip_test = bool(flip_test)
        self.decode = bool(decode)

    @property
    def output_names(self) -> List[str]:
        names = ["heatmaps"] + (["visibility"] if self.model.has_visibility else [])
        return names + (["keypoints", "scores"] if self.decode else [])

    def forward(self, x: Tensor) -> Tuple[Tensor, ...]:
        heatmaps, vis = self.model.forward_test(x, self.flip_test)
        out = [heatmaps] + ([vis] if vis is not None else [])
        if self.decode:
            out += list(decode_torch(self.model.codec, heatmaps))
        return tuple(out)


def onnx_metadata(model: Any, graph: ExportGraph, dynamic_batch: bool, batch: int
                  ) -> Dict[str, Any]:
    """Everything a runner needs besides the graph (values are JSON-friendly)."""
    from heatpose.models.estimator import IMAGENET_MEAN, IMAGENET_STD

    meta = dict(model.metadata())
    meta["heatpose_format"] = FORMAT
    meta["normalization"] = {"mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
                             "channel_order": "RGB", "pixel_range": [0, 255],
                             "formula": "(pixel - mean) / std"}
    meta["graph"] = {"input": "input", "layout": "NCHW", "outputs": graph.output_names,
                     "flip_test": graph.flip_test, "decode": graph.decode,
                     "dynamic_batch": bool(dynamic_batch),
                     "batch_size": None if dynamic_batch else int(batch),
                     "keypoints": "input-crop pixels (x, y)" if graph.decode else None}
    return meta


def export_onnx(model: Any, path: PathLike, flip_test: bool = False, decode: bool = False,
                dynamic_batch: bool = True, batch_size: int = 1, opset: int = OPSET,
                check: bool = True) -> Path:
    """Write ``model`` (a TopdownEstimator) as an ONNX file with heatpose metadata.

    Args:
        model: the estimator (its weights are exported as they are, in eval mode).
        path: output ``.onnx`` file (written atomically).
        flip_test: put the flip test inside the graph (one batched forward of 2N crops).
        decode: add ``keypoints`` (N, K, 2) input-crop px and ``scores`` (N, K) outputs.
        dynamic_batch: batch dimension ``N`` free; else fixed to ``batch_size``.
        opset: ONNX opset version.
        check: run ``onnx.checker.check_model`` (full check) on the result.

    Returns:
        the path written.
    """
    import onnx

    path = Path(path)
    was_training = model.training               # before .eval() below switches it off
    graph = ExportGraph(model, flip_test, decode).eval()
    w, h = model.input_size
    device = next(model.parameters()).device
    dummy = torch.zeros(max(1, int(batch_size)), 3, h, w, device=device)
    names = graph.output_names
    axes = {n: {0: "batch"} for n in ["input"] + names} if dynamic_batch else None
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")    # concurrent exports of one file
    try:
        buffer = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(graph, (dummy,), buffer, dynamo=False, input_names=["input"],
                              output_names=names, dynamic_axes=axes, opset_version=opset,
                              do_constant_folding=True)
        proto = onnx.load_from_string(buffer.getvalue())
        meta = onnx_metadata(model, graph, dynamic_batch, dummy.shape[0])
        del proto.metadata_props[:]
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = key, json.dumps(value)
        proto.producer_name = "heatpose"
        proto.doc_string = (f"heatpose export of {meta.get('model_name') or 'a model'}: "
                            f"input (N,3,{h},{w}) normalised RGB; outputs {', '.join(names)}")
        if check:
            onnx.checker.check_model(proto, full_check=True)
        onnx.save(proto, str(tmp))
        os.replace(tmp, path)
    finally:
        model.train(was_training)
        if tmp.exists():
            tmp.unlink()
    return path


def read_onnx_metadata(path: PathLike) -> Dict[str, Any]:
    """The heatpose metadata of an exported file (see :func:`onnx_metadata`).

    Raises:
        InputError: the file is missing, not ONNX, or not a heatpose export.
    """
    import onnx

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such ONNX file")
    try:
        proto = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError and friends
        raise InputError(f"{path}: not a readable ONNX file ({type(exc).__name__})") from None
    return parse_onnx_metadata({p.key: p.value for p in proto.metadata_props}, path)


def parse_onnx_metadata(props: Dict[str, str], path: PathLike) -> Dict[str, Any]:
    """Decode and check the ``metadata_props`` key/value strings of file ``path``."""
    if "heatpose_format" not in props:
        raise InputError(f"{path}: not a heatpose export (no heatpose metadata); "
                         "write one with `heatpose export`")
    meta = {}
    for key, value in props.items():
        try:
            meta[key] = json.loads(value)
        except ValueError:
            raise InputError(f"{path}: metadata entry {key!r} is not valid JSON") from None
    if meta["heatpose_format"] != FORMAT:
        raise InputError(f"{path}: heatpose export format {meta['heatpose_format']!r} is not "
                         f"supported (this heatpose reads format {FORMAT})")
    for key in ("codec", "input_size", "flip_indices", "normalization", "graph"):
        if key not in meta:
            raise InputError(f"{path}: heatpose metadata lacks {key!r}")
    return meta
