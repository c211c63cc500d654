"""``heatpose train NAME_OR_CONFIG --data-root DIR --work-dir DIR``: train a top-down model.

NAME is a model-zoo preset (its MMPose training settings) or a config file written by
``heatpose config NAME > file.json`` and edited. Several GPUs: ``torchrun --nproc_per_node N
-m heatpose.cli train ... --device cuda`` (the batch size is per process).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, List

from heatpose.errors import InputError

EXAMPLES = """examples:
  heatpose train td-hm_res50_8xb64-210e_coco-256x192 --data-root data/coco --work-dir work/res50
  heatpose train res50.json --data-root data/coco --work-dir work/res50 --resume
  heatpose train res50_coco_256x192 --data-root data/coco --work-dir work/r18 \\
      --set model.backbone=resnet18 --set model.pretrained_backbone=null --max-iters 100
  torchrun --nproc_per_node 4 -m heatpose.cli train NAME --data-root D --work-dir W --device cuda"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train a model (zoo preset or config file)",
                              description="\n\n".join(__doc__.split("\n\n")[:2]).strip(),
                              epilog=EXAMPLES)
    p.add_argument("config", metavar="NAME_OR_CONFIG_FILE",
                   help="model-zoo name, or a .json/.yaml file from `heatpose config`")
    p.add_argument("--data-root", required=True, help="folder the config's data paths are in")
    p.add_argument("--work-dir", required=True, help="folder for checkpoints and logs")
    p.add_argument("--batch-size", type=int, help="batch per process (train.batch_size)")
    p.add_argument("--max-iters", type=int, help="stop after N iterations (train.max_iters)")
    p.add_argument("--epochs", type=int, help="train.epochs")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config value, e.g. --set model.backbone=resnet18 "
                        "(repeatable; values are JSON or plain text)")
    p.add_argument("--strict-data", action="store_true",
                   help="stop at the first unreadable sample (default: skip and count them; "
                        "train.skip_bad_samples)")
    p.add_argument("--amp", action="store_true",
                   help="mixed precision on CUDA (train.amp; MMPose trains in fp32 unless asked)")
    p.add_argument("--auto-scale-lr", action="store_true",
                   help="scale the lr by (batch x processes) / the recipe's base batch "
                        "(optim.auto_scale_lr; off by default, as MMPose)")
    p.add_argument("--resume", nargs="?", const=True, default=False, metavar="CHECKPOINT",
                   help="continue from WORK_DIR/latest.pth (or the given checkpoint)")
    from heatpose.cli import add_device_arg

    add_device_arg(p)
    p.set_defaults(func=run)


def build_config(args: argparse.Namespace) -> Any:
    """The config of NAME_OR_CONFIG_FILE with the command-line overrides applied."""
    from heatpose.engine.config import apply_overrides
    from heatpose.engine.presets import resolve_config

    cfg = resolve_config(args.config)
    overrides: List[str] = list(args.overrides)
    for flag, key in (("batch_size", "train.batch_size"), ("max_iters", "train.max_iters"),
                      ("epochs", "train.epochs")):
        value = getattr(args, flag)
        if value is not None:
            if value < 1:
                raise InputError(f"--{flag.replace('_', '-')} {value}: must be at least 1")
            overrides.append(f"{key}={value}")
    if getattr(args, "strict_data", False):
        overrides.append("train.skip_bad_samples=false")
    for flag, key in (("amp", "train.amp"), ("auto_scale_lr", "optim.auto_scale_lr")):
        if getattr(args, flag, False):
            overrides.append(f"{key}=true")
    cfg = apply_overrides(cfg, overrides)
    from heatpose.engine.model import check_start_weights

    check_start_weights(cfg.model, cfg.preset or cfg.model.name)    # before any download
    return cfg


def run(args: argparse.Namespace) -> int:
    from heatpose.engine.config import save_config
    from heatpose.engine.distributed import cleanup_distributed, init_distributed
    from heatpose.engine.trainer import Trainer

    cfg = build_config(args)
    data_root = Path(args.data_root)
    if not data_root.is_dir():
        raise InputError(f"--data-root {data_root}: no such folder")
    from heatpose.device import describe_device, resolve_device

    requested, device = args.device, resolve_device(args.device)   # auto -> cuda, mps or cpu
    args.device = device.type
    info = init_distributed(args.device)
    if info.is_main:
        print(f"heatpose train: device {describe_device(device, requested)}", file=sys.stderr)
    try:
        work_dir = Path(args.work_dir)
        if info.is_main:
            work_dir.mkdir(parents=True, exist_ok=True)
            save_config(cfg, work_dir / "config.json")
        trainer = Trainer(cfg, data_root, work_dir, device=args.device, resume=args.resume,
                          info=info)
        result = trainer.train()
    finally:
        cleanup_distributed()
    if info.is_main:
        best = f", best {cfg.train.val_metric} {result.best:.4f}" if result.best is not None \
            else ""
        print(f"trained {result.iteration} iterations ({result.epoch} epochs){best}; "
              f"checkpoints in {work_dir}")
    return 0
