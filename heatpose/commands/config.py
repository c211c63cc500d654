"""``heatpose config NAME [-o FILE]``: print a preset's full training config as editable JSON
(YAML with ``--yaml`` or an ``-o`` file ending in .yaml), for ``heatpose train FILE``."""
from __future__ import annotations

import argparse
import sys
from typing import Any

EXAMPLES = """examples:
  heatpose config td-hm_res50_8xb64-210e_coco-256x192 -o res50.json   # edit, then train it
  heatpose config res50_coco_256x192 --yaml --set model.backbone=resnet18 \\
      --set model.pretrained_backbone=null
  heatpose train res50.json --data-root data/coco --work-dir work/res50"""


def register(subparsers: Any) -> None:
    p = subparsers.add_parser("config", help="write a preset's training config (JSON/YAML)",
                              description=__doc__, epilog=EXAMPLES)
    p.add_argument("name", help="model-zoo name, or a config file to normalise")
    p.add_argument("-o", "--output", help="write to this file (.json, .yaml) instead of stdout")
    p.add_argument("--yaml", action="store_true", help="print YAML (needs pyyaml)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="override a value before writing (repeatable)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from heatpose.engine.config import apply_overrides, dump_config, save_config
    from heatpose.engine.presets import resolve_config

    cfg = apply_overrides(resolve_config(args.name), args.overrides)
    if args.output:
        path = save_config(cfg, args.output)
        print(f"wrote {path}", file=sys.stderr)
    else:
        sys.stdout.write(dump_config(cfg, yaml=args.yaml))
    return 0
