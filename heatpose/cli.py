"""The ``heatpose`` command line.

Each sub-command lives in ``heatpose/commands/<name>.py`` and exposes ``register(subparsers)``
(adds its parser and sets ``func``) and ``run(args) -> int``."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

from heatpose.errors import HeatposeError

# name -> module under heatpose.commands (each module imports its heavy dependencies lazily).
COMMANDS = {
    "infer": "infer",
    "demo": "demo",
    "train": "train",
    "config": "config",
    "test": "test",
    "eval": "eval",
    "zoo": "zoo",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="heatpose", description="Top-down heatmap 2D keypoint estimation: "
        "MMPose's topdown_heatmap model zoo in plain PyTorch.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in COMMANDS.values():
        importlib.import_module(f"heatpose.commands.{module}").register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except HeatposeError as exc:
        print(f"heatpose {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
