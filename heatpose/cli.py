"""The ``heatpose`` command. Each sub-command lives in ``heatpose/commands/<name>.py`` and
exposes ``register(subparsers)`` (adds its parser) and ``run(args) -> int``."""
from __future__ import annotations

import argparse
import importlib
import sys
from typing import List, Optional

# name -> module under heatpose.commands; a module is imported only when its command runs.
COMMANDS = {
    "infer": "infer",
    "demo": "demo",
    "train": "train",
    "config": "config",
    "test": "test",
    "eval": "eval",
    "zoo": "zoo",
    "convert": "convert",
    "export": "export",
}


from heatpose.errors import HeatposeError

CommandError = HeatposeError   # commands raise HeatposeError (or a subclass) for user errors


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="heatpose", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module in COMMANDS.items():
        try:
            mod = importlib.import_module(f"heatpose.commands.{module}")
        except ModuleNotFoundError as exc:
            if exc.name == f"heatpose.commands.{module}":
                continue          # command not available in this build
            raise
        mod.register(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"heatpose {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
