"""The typed recipe: one published MMPose model, as its resolved config and model-zoo rows say.

A :class:`Recipe` has four sections: :class:`ModelSpec` (network), :class:`TestSpec` (what
the model does at test time), :class:`TrainSpec` (how MMPose trains it) and the published
:class:`ResultRow` s. Sizes are ``(w, h)`` pixels; codecs are MMPose codec dicts with every
constructor argument (``{"type": "MSRAHeatmap", "input_size": [w, h], ...}``). Dataset files
are paths as MMPose's configs write them (``data/coco/annotations/...``).
"""
from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Tuple


@dataclass(frozen=True)
class ResultRow:
    """One published result: split, boxes (``gt_boxes``/``det_boxes``), metric values as printed,
    the MMPose document it comes from and the checkpoint that produced it."""

    dataset_split: str
    setting: str
    metrics: Mapping[str, float]
    source: str
    checkpoint_url: Optional[str]
    log_url: Optional[str] = None
    detector: Optional[str] = None
    note: Optional[str] = None

    def to_dict(self) -> Dict[str, Any]:
        return {**dataclasses.asdict(self), "metrics": dict(self.metrics)}


@dataclass(frozen=True)
class ModelSpec:
    """The network. ``backbone``: resnet50/101/152, hrnet_w32/w48; ``backbone_cfg``/``head``:
    MMPose's resolved component dicts (None for 0.x-only recipes); ``head_out_channels`` =
    ``num_keypoints`` x channels per keypoint of the codec (3 for UDP 'combined')."""

    backbone: str
    num_deconv: int
    deconv_out_channels: Tuple[int, ...]
    deconv_kernel_sizes: Tuple[int, ...]
    num_keypoints: int
    head_out_channels: int
    visibility_head: bool
    metainfo: str                                # MMPose dataset metainfo file (configs/_base_/datasets/)
    backbone_cfg: Optional[Mapping[str, Any]] = None
    head: Optional[Mapping[str, Any]] = None
    vis_head: Optional[Mapping[str, Any]] = None


@dataclass(frozen=True)
class TestSpec:
    """Test time: the head's decoder, ``test_cfg`` flip settings, the val pipeline's crop."""

    codec: Mapping[str, Any]
    flip_test: bool
    flip_mode: str                               # 'heatmap' or 'udp_combined'
    shift_heatmap: bool
    use_udp: bool                                # TopdownAffine(use_udp=...) of the val pipeline
    input_size: Tuple[int, int]
    output_keypoint_indices: Optional[Tuple[int, ...]] = None


@dataclass(frozen=True)
class TrainSpec:
    """Train time, as MMPose's resolved config says (see :mod:`heatpose.engine.presets` for what
    heatpose's trainer takes from it)."""

    codec: Mapping[str, Any]                     # GenerateTarget encoder
    use_dataset_keypoint_weights: bool
    pipeline: Tuple[Mapping[str, Any], ...]      # train transforms with their arguments
    loss: Mapping[str, Any]
    pretrained: Optional[str]                    # backbone init_cfg checkpoint URL (torchvision:// resolved)
    pretrained_cfg: Optional[Mapping[str, Any]]
    load_from: Optional[str]
    optim_wrapper: str
    amp: bool
    loss_scale: Optional[Any]
    optimizer: Mapping[str, Any]
    param_scheduler: Tuple[Mapping[str, Any], ...]
    max_epochs: int
    val_interval: int
    gpus: int
    batch_per_gpu: int
    auto_scale_lr_base_batch: Optional[int]
    datasets: Tuple[Mapping[str, Any], ...]      # train sets (several for CombinedDataset)
    combined: Optional[Mapping[str, Any]]        # CombinedDataset settings (metainfo)
    val_data: Mapping[str, Any]
    test_data: Mapping[str, Any]
    evaluator: Tuple[Mapping[str, Any], ...]
    save_best: Optional[str]
    checkpoint_interval: Optional[int]
    vis_loss: Optional[Mapping[str, Any]] = None
    name_batch_per_gpu: Optional[int] = None     # batch the config *name* states, where it differs

    def step(self, kind: str) -> Optional[Dict[str, Any]]:
        """The pipeline step of type ``kind`` (e.g. 'RandomHalfBody'), or None."""
        for s in self.pipeline:
            if s["type"] == kind:
                return dict(s)
        return None

    def scheduler(self, kind: str) -> Optional[Dict[str, Any]]:
        """The param scheduler of type ``kind`` ('LinearLR', 'MultiStepLR'), or None."""
        for s in self.param_scheduler:
            if s["type"] == kind:
                return dict(s)
        return None


@dataclass(frozen=True)
class Recipe:
    """A published model: name (MMPose 1.x config name, or 1.x-style for 0.x-only rows),
    aliases (0.x names, names as the tables spell them), schema ``dataset``, the sections above,
    the checkpoint and the published results."""

    name: str
    aliases: Tuple[str, ...]
    dataset: str
    mmpose_config: Optional[str]                 # path under MMPose's configs/, None for 0.x-only rows
    source: str                                  # the MMPose config (or 0.x config) the recipe is
    model: ModelSpec
    test: TestSpec
    train: TrainSpec
    checkpoint_url: Optional[str]
    key_metric: str
    results: Tuple[ResultRow, ...]
    notes: Tuple[str, ...] = ()
    other_checkpoint_urls: Tuple[str, ...] = ()
    category: Optional[str] = None               # DeepFashion2 clothing category
    split: Optional[str] = None                  # JHMDB split
    checkpoint_from: Optional[str] = None        # recipe whose training run produced the checkpoint
    family: str = field(default="", compare=False)  # recipe file (heatpose/recipes/<family>.json)

    # ---- the attribute names callers use
    @property
    def backbone(self) -> str:
        return self.model.backbone

    @property
    def num_deconv(self) -> int:
        return self.model.num_deconv

    @property
    def num_keypoints(self) -> int:
        return self.model.num_keypoints

    @property
    def visibility_head(self) -> bool:
        return self.model.visibility_head

    @property
    def codec(self) -> Dict[str, Any]:
        """The test-time decoder (MMPose codec dict)."""
        return copy.deepcopy(dict(self.test.codec))

    @property
    def input_size(self) -> Tuple[int, int]:
        return tuple(self.test.input_size)

    @property
    def heatmap_size(self) -> Tuple[int, int]:
        return tuple(self.test.codec["heatmap_size"])

    @property
    def uses_udp(self) -> bool:
        """Whether the test crop uses UDP (TopdownAffine use_udp)."""
        return self.test.use_udp

    @property
    def flip_test(self) -> Dict[str, Any]:
        return {"enabled": self.test.flip_test, "mode": self.test.flip_mode,
                "shift_heatmap": self.test.shift_heatmap}

    @property
    def training(self) -> Dict[str, Any]:
        """The train section as a plain dict (``test_data``, ``datasets``, ...)."""
        return plain(dataclasses.asdict(self.train))

    @property
    def key_result(self) -> Tuple[Optional[float], Optional[ResultRow]]:
        """The key metric value and the result row of the recipe's own checkpoint (else the first
        result; (None, None) without results)."""
        if not self.results:
            return None, None
        own = [r for r in self.results if r.checkpoint_url == self.checkpoint_url]
        first = (own or list(self.results))[0]
        return first.metrics.get(self.key_metric), first

    def to_dict(self) -> Dict[str, Any]:
        """All fields as JSON-friendly types (the recipe file's form)."""
        d = plain(dataclasses.asdict(self))
        d.pop("family")
        return d


def plain(x: Any) -> Any:
    """Nested mappings, lists and tuples as plain dicts and lists (JSON-comparable)."""
    if isinstance(x, Mapping):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def _tuple(x: Any) -> Any:
    if isinstance(x, list):
        return tuple(_tuple(v) for v in x)
    return x


def _section(cls: type, d: Mapping[str, Any], where: str) -> Any:
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(d) - names)
    if unknown:
        raise ValueError(f"{where}: unknown key(s) {unknown} in {cls.__name__}")
    hints = {f.name: str(f.type) for f in dataclasses.fields(cls)}
    return cls(**{k: (_tuple(v) if hints[k].startswith(("Tuple", "Optional[Tuple")) else v)
                  for k, v in d.items()})


def recipe_from_dict(d: Mapping[str, Any], family: str = "", where: str = "recipe") -> Recipe:
    """Build a :class:`Recipe` from its JSON form; ValueError naming ``where`` and the key."""
    try:
        d = dict(d)
        where = f"{where} {d.get('name')!r}"
        results = tuple(_section(ResultRow, r, where) for r in d.pop("results"))
        sections = {"model": _section(ModelSpec, d.pop("model"), where),
                    "test": _section(TestSpec, d.pop("test"), where),
                    "train": _section(TrainSpec, d.pop("train"), where)}
        return _section(Recipe, {**d, **sections, "results": results, "family": family}, where)
    except (KeyError, TypeError) as exc:
        raise ValueError(f"{where}: bad recipe ({exc!r})") from None
