"""Heatmap codecs: keypoints <-> heatmaps, numerically as MMPose 1.3.2.

A codec owns the whole convention of a model: the crop warp (``use_udp``), the training
targets (``encode``), the flip test (``flip_mode``, ``flip_shift``) and the decoding.

    codec = codec_from_dict({"type": "MSRAHeatmap", "input_size": [192, 256],
                             "heatmap_size": [48, 64], "sigma": 2})
    keypoints, scores = codec.decode(heatmaps)     # (B, K, h, w) -> (B, K, 2), (B, K)
"""
from __future__ import annotations

from typing import Any, Dict, Mapping, Union

from heatpose.codecs.msra import MSRAHeatmap
from heatpose.codecs.udp import UDPHeatmap
from heatpose.errors import InputError

Codec = Union[MSRAHeatmap, UDPHeatmap]

CODECS: Dict[str, type] = {"MSRAHeatmap": MSRAHeatmap, "UDPHeatmap": UDPHeatmap}

_ARGS = {
    "MSRAHeatmap": ("input_size", "heatmap_size", "sigma", "unbiased", "blur_kernel_size"),
    "UDPHeatmap": ("input_size", "heatmap_size", "sigma", "heatmap_type", "radius_factor",
                   "blur_kernel_size"),
}


def codec_from_dict(d: Mapping[str, Any]) -> Codec:
    """Build a codec from ``codec.to_dict()`` output or an MMPose codec config dict.

    Args:
        d: ``{"type": "MSRAHeatmap" | "UDPHeatmap", "input_size": (w, h),
            "heatmap_size": (W, H), ...}`` plus the constructor's keyword arguments.

    Raises:
        InputError: unknown type, unknown or missing arguments, bad values.
    """
    if not isinstance(d, Mapping):
        raise InputError(f"codec config must be a mapping, got {type(d).__name__}")
    kind = d.get("type")
    if kind not in CODECS:
        raise InputError(f"unknown codec type {kind!r}; supported: {sorted(CODECS)}")
    args = {k: v for k, v in d.items() if k != "type"}
    unknown = sorted(set(args) - set(_ARGS[kind]))
    if unknown:
        raise InputError(f"codec {kind}: unknown argument(s) {unknown}; "
                         f"expected some of {list(_ARGS[kind])}")
    try:
        return CODECS[kind](**args)
    except TypeError as exc:          # a missing required argument
        raise InputError(f"codec {kind}: {exc}") from None


def __getattr__(name: str) -> Any:
    """The flip-test helpers (they need torch) load on first use, so that building a codec
    (e.g. checking a config's ``model.codec`` in ``heatpose config``) does not import torch."""
    if name in ("flip_heatmaps", "flip_visibility", "merge_flip", "merge_flip_visibility"):
        from heatpose.codecs import flip

        return getattr(flip, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["Codec", "CODECS", "MSRAHeatmap", "UDPHeatmap", "codec_from_dict", "flip_heatmaps",
           "flip_visibility", "merge_flip", "merge_flip_visibility"]
