"""Run a heatpose ONNX export through ONNX Runtime with the estimator's API.

    model = OnnxEstimator("model.onnx")            # the file's metadata says everything
    result = model.predict("photo.jpg", boxes)     # PoseResult, as TopdownEstimator.predict

The flip test runs inside the graph when it was exported that way, otherwise here (one batch
of 2N crops, flipped back with the codec's rule); decoding uses the graph's ``keypoints``
output when it has one and matches the requested flip test, otherwise ``codec.decode``.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from heatpose.codecs import codec_from_dict
from heatpose.codecs.flip import merge_flip, merge_flip_visibility
from heatpose.errors import InputError
from heatpose.models.estimator import BatchOutput, TopdownPredictor, check_output_indices

PathLike = Union[str, Path]


def _session(path: Path, threads: Optional[int]) -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise InputError(f"{path}: running ONNX models needs onnxruntime "
                         "(pip install onnxruntime)") from None
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own Fail / InvalidGraph types
        raise InputError(f"{path}: ONNX Runtime cannot load it: "
                         f"{str(exc).splitlines()[0][:200]}") from None


class OnnxEstimator(TopdownPredictor):
    """A heatpose ONNX export (``heatpose export``) behind the ``predict`` API.

    Args:
        path: the ``.onnx`` file.
        threads: ONNX Runtime intra-op threads (None: its default, one per core).
        flip_test: default flip test (None: as the model was exported / configured).
    """

    def __init__(self, path: PathLike, threads: Optional[int] = None,
                 flip_test: Optional[bool] = None) -> None:
        from heatpose.export.onnx import parse_onnx_metadata

        self.path = Path(path)
        if not self.path.is_file():
            raise InputError(f"{self.path}: no such ONNX file")
        self.session = _session(self.path, threads)
        meta = parse_onnx_metadata(self.session.get_modelmeta().custom_metadata_map, self.path)
        self.meta: Dict[str, Any] = meta
        self.graph: Dict[str, Any] = meta["graph"]
        self.codec = codec_from_dict(meta["codec"])
        self.flip_indices: List[int] = [int(i) for i in meta["flip_indices"]]
        self.flip_shift = bool(meta.get("flip_shift", self.codec.flip_shift))
        self.name = meta.get("model_name")
        self.schema = None
        if isinstance(meta.get("schema"), dict):
            from heatpose.schema import KeypointSchema

            self.schema = KeypointSchema.from_dict(meta["schema"], source=str(self.path))
        try:                                       # the keypoints predictions report
            self.output_keypoint_indices = check_output_indices(
                meta.get("output_keypoint_indices"), len(self.flip_indices))
        except ValueError as exc:
            raise InputError(f"{self.path}: heatpose metadata: {exc}") from None
        norm = meta["normalization"]
        self._mean = np.asarray(norm["mean"], np.float32)
        self._std = np.asarray(norm["std"], np.float32)
        self.outputs: List[str] = list(self.graph["outputs"])
        self.flip_test = bool(self.graph["flip_test"] or meta.get("flip_test", True)) \
            if flip_test is None else bool(flip_test)
        self.preset = None

    # ---------------------------------------------------------- estimator-like API
    @property
    def input_size(self):
        return tuple(int(v) for v in self.meta["input_size"])

    @property
    def num_keypoints(self) -> int:
        return len(self.flip_indices)

    @property
    def has_visibility(self) -> bool:
        return "visibility" in self.outputs

    @property
    def default_batch_size(self) -> int:
        return int(self.graph["batch_size"] or 8)

    def eval(self) -> "OnnxEstimator":
        """For API compatibility with torch modules (an ONNX graph is always in eval mode)."""
        return self

    def metadata(self) -> Dict[str, Any]:
        return {k: v for k, v in self.meta.items() if k not in ("graph", "normalization")}

    def __repr__(self) -> str:
        return f"OnnxEstimator({str(self.path)!r}, model={self.name!r})"

    # ------------------------------------------------------------------ inference
    def normalize(self, crops: np.ndarray) -> np.ndarray:
        """uint8 BGR crops (N, H, W, 3) -> float32 RGB (N, 3, H, W), normalised."""
        x = (crops[..., ::-1].astype(np.float32) - self._mean) / self._std
        return np.ascontiguousarray(x.transpose(0, 3, 1, 2))

    def run(self, x: np.ndarray) -> Dict[str, np.ndarray]:
        """Normalised (N, 3, H, W) float32 -> the graph's outputs by name (a fixed-batch
        graph is fed in padded chunks)."""
        fixed = self.graph["batch_size"]
        if not fixed:
            return dict(zip(self.outputs, self.session.run(None, {"input": x})))
        parts = []
        for s in range(0, len(x), fixed):
            chunk = x[s:s + fixed]
            pad = fixed - len(chunk)
            if pad:
                chunk = np.concatenate([chunk, np.zeros((pad,) + chunk.shape[1:], chunk.dtype)])
            parts.append([o[:len(chunk) - pad] for o in self.session.run(None, {"input": chunk})])
        return {name: np.concatenate([p[i] for p in parts]) for i, name in enumerate(self.outputs)}

    def infer_batch(self, crops: np.ndarray, flip_test: bool) -> BatchOutput:
        x = self.normalize(crops)
        if self.graph["flip_test"]:
            if not flip_test:
                raise InputError(f"{self.path}: the flip test was exported inside the graph; "
                                 "export again without --flip-test to run without it")
            out = self.run(x)
        elif flip_test:
            n = len(x)
            both = self.run(np.concatenate([x, x[..., ::-1]]))
            hm = both["heatmaps"]
            out = {"heatmaps": merge_flip(hm[:n], hm[n:], self.flip_indices,
                                          self.codec.flip_mode, self.flip_shift)}
            if "visibility" in both:
                v = both["visibility"]
                out["visibility"] = merge_flip_visibility(v[:n], v[n:], self.flip_indices)
        else:
            out = self.run(x)
        return BatchOutput(out["heatmaps"], out.get("visibility"), out.get("keypoints"),
                           out.get("scores"))
