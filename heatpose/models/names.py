"""Reading an MMPose top-down heatmap config name: what network, codec and data it implies.

MMPose names configs ``td-hm[-vis]_<backbone>[-2deconv][_dark|_udp][-|_]<gpus>xb<batch>-<epochs>e_
<dataset>-<h>x<w>``; 0.x names read ``<backbone>[_2deconv]_<dataset>_<h>x<w>[_dark|_udp]``.
This module turns such a name into an :class:`~heatpose.models.build.Architecture` and codec
settings, so that models that are not recipes (:mod:`heatpose.recipes`) can still be built by
name; ``build_model`` then warns that their settings are inferred.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

from heatpose.errors import UnknownModelError

_BACKBONE = re.compile(r"(?:^|[_-])(?:pose_)?(res(?:net)?(\d+)|hrnet[-_]?w(\d+))(?=[_-]|$)")
_SIZE = re.compile(r"(\d+)x(\d+)")


@dataclass(frozen=True)
class ParsedName:
    """What a config name says. input_size is (w, h) pixels."""

    backbone: str
    num_deconv: int
    visibility_head: bool
    codec_kind: str                 # 'msra', 'dark' or 'udp'
    input_size: Optional[Tuple[int, int]]

    def codec_dict(self) -> Dict[str, Any]:
        """MMPose codec config this name implies (heatmap = input / 4, or / 8 with 2 deconvs;
        sigma 2, or 3 for inputs of 288 px width and wider, as every MMPose 1.3.2 recipe; the
        codec's own defaults otherwise, e.g. DARK blur kernel 11)."""
        if self.input_size is None:
            raise ValueError("the name carries no input size")
        w, h = self.input_size
        stride = 8 if self.num_deconv == 2 else 4
        sigma = 3 if w >= 288 else 2
        d: Dict[str, Any] = {"input_size": [w, h], "heatmap_size": [w // stride, h // stride],
                             "sigma": sigma}
        if self.codec_kind == "udp":
            return {"type": "UDPHeatmap", **d}
        d = {"type": "MSRAHeatmap", **d}
        if self.codec_kind == "dark":
            d.update(unbiased=True)
        return d


def parse_config_name(name: str) -> ParsedName:
    """Parse an MMPose (1.x or 0.x) top-down heatmap config name or file name."""
    base = re.sub(r"\.py$", "", name.replace("\\", "/").rsplit("/", 1)[-1])
    m = _BACKBONE.search(base)
    if not m:
        raise UnknownModelError(f"{name!r}: cannot tell the backbone (expected resNN or hrnet-wNN)")
    if m.group(2):
        depth = int(m.group(2))
        if depth not in (18, 34, 50, 101, 152):
            raise UnknownModelError(f"{name!r}: no ResNet of depth {depth}")
        backbone = f"resnet{depth}"
    else:
        width = int(m.group(3))
        if width not in (32, 48):
            raise UnknownModelError(f"{name!r}: no HRNet of width {width}")
        backbone = f"hrnet_w{width}"
    lowered = base.lower()
    if "2deconv" in lowered:
        num_deconv = 2
    elif backbone.startswith("hrnet"):
        num_deconv = 0
    else:
        num_deconv = 3
    kind = "msra"
    if re.search(r"(?:^|[_-])dark(?:[_-]|$|\+|-plus|_plus)", lowered):
        kind = "dark"
    elif re.search(r"(?:^|[_-])udp(?:[_-]|$)", lowered):
        kind = "udp"
    sizes = _SIZE.findall(lowered.split("e_", 1)[-1]) or _SIZE.findall(lowered)
    input_size = None
    if sizes:
        h, w = (int(v) for v in sizes[-1])
        input_size = (w, h)
    return ParsedName(backbone, num_deconv, lowered.startswith("td-hm-vis"), kind, input_size)
