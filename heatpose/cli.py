"""The ``heatpose`` command line.

Each sub-command lives in ``heatpose/commands/<module>.py`` and exposes ``register(subparsers)``
(adds its parser and sets ``func``) and ``run(args) -> int``. Only the command being run is
imported: the others are listed in ``heatpose --help`` by the first line of their module
docstring (read from the source, not imported), so start-up never pays for torch unless the
command needs it.

Exit status: 0 success; 1 finished, but some inputs were skipped (each one named) or an
unexpected internal error; 2 bad input, bad usage or a file that cannot be used (one line naming
it); 130 interrupted; 141 output pipe closed early. ``--debug`` shows the full traceback.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import os
import re
import sys
from typing import Any, Callable, List, Optional

from heatpose import __version__
from heatpose.errors import HeatposeError

# name -> module under heatpose.commands (one line per command; modules import heavy deps lazily)
COMMANDS = {
    "demo": "demo",
    "infer": "infer",
    "test": "test",
    "eval": "eval",
    "zoo": "zoo",
    "config": "config",
    "train": "train",
    "track": "track",
    "weights": "weights",
    "export": "export",
}

EXAMPLES = """examples:
  heatpose demo                                    # the default model on a bundled photo
  heatpose infer photos/ --out out/                # every image in a folder (+ a person detector)
  heatpose infer clip.mp4 --device auto            # a video: drawn .mp4 + COCO results
  heatpose test td-hm_res50_8xb64-210e_coco-256x192 --data-root data/coco
  heatpose eval --ann val.json --pred out/predictions.json
  heatpose zoo coco                                # the model zoo
  heatpose COMMAND --help                          # options and examples of one command"""

_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")        # :func:`x` -> x


def strip_markup(text: str) -> str:
    """Help text without reStructuredText markup (``code``, :role:`name`, trailing ``::``)."""
    text = re.sub(r"`([^`]{1,80})`", r"\1", _ROLE.sub(r"\1", text).replace("``", ""))
    return re.sub(r"::$", ":", text, flags=re.M)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and epilogs keep their line breaks; option help is wrapped without
    breaking names at hyphens (model names stay whole)."""

    def _split_lines(self, text: str, width: int) -> List[str]:
        import textwrap

        return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class CommandParser(argparse.ArgumentParser):
    """argparse with one-line usage errors and help texts free of RST markup."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def format_help(self) -> str:
        return strip_markup(super().format_help())

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ------------------------------------------------------------- argument types (range checks)
def _number(kind: Callable[[str], Any], low: Optional[float] = None,
            high: Optional[float] = None, low_open: bool = False) -> Callable[[str], Any]:
    name = "an integer" if kind is int else "a number"
    if low is not None and high is not None:
        rule = f"{name} in [{low:g}, {high:g}]"
    elif low is not None:
        rule = f"{name} {'>' if low_open else '>='} {low:g}"
    else:
        rule = name

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {rule}, got {text!r}") from None
        if value != value or value in (float("inf"), float("-inf")) or \
                (low is not None and (value < low or (low_open and value == low))) or \
                (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"expected {rule}, got {text!r}")
        return value

    parse.__name__ = rule
    return parse


positive_int = _number(int, 1)                    # --batch-size, --epochs, ...
non_negative_int = _number(int, 0)                # --workers
fraction = _number(float, 0.0, 1.0)               # score thresholds
positive_float = _number(float, 0.0, low_open=True)
non_negative_float = _number(float, 0.0)


def device_arg(text: str) -> str:
    """argparse type of ``--device``: the form is checked here, availability when resolved."""
    from heatpose.device import check_device_name

    try:
        return check_device_name(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err).split(": ", 1)[1]) from None


def add_device_arg(parser: argparse.ArgumentParser) -> None:
    """``--device`` with the shared default (``auto``) and help."""
    from heatpose.device import DEFAULT_DEVICE, DEVICE_HELP

    parser.add_argument("--device", type=device_arg, default=DEFAULT_DEVICE, help=DEVICE_HELP)


# ------------------------------------------------------------------------------ the parser
def command_summary(module: str) -> str:
    """The first line of a command module's docstring, without markup and without importing
    the module (so listing commands stays fast)."""
    spec = importlib.util.find_spec(f"heatpose.commands.{module}")
    try:
        with open(spec.origin, encoding="utf-8") as fh:        # type: ignore[union-attr]
            doc = ast.get_docstring(ast.parse(fh.read())) or ""
    except (OSError, SyntaxError, AttributeError):
        return ""
    para = " ".join(doc.strip().split("\n\n")[0].split())
    line = strip_markup(para).split(". ")[0].rstrip(".")
    return line.split(": ", 1)[1] if line.startswith("heatpose ") and ": " in line else line


def build_parser(command: Optional[str] = None) -> argparse.ArgumentParser:
    """The ``heatpose`` parser; only ``command``'s module is imported and registered in full."""
    parser = CommandParser(
        prog="heatpose", epilog=EXAMPLES,
        description="Top-down heatmap 2D keypoint estimation: MMPose's topdown_heatmap model "
                    "zoo in plain PyTorch.")
    parser.add_argument("--version", action="version",
                        version=f"heatpose {__version__} (Python {sys.version.split()[0]})")
    parser.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (also after the command)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=CommandParser)
    for name, module in COMMANDS.items():
        if name == command:
            importlib.import_module(f"heatpose.commands.{module}").register(sub)
        else:
            sub.add_parser(name, help=command_summary(module), add_help=False)
    return parser


def _command_of(argv: List[str]) -> Optional[str]:
    return next((a for a in argv if not a.startswith("-")), None)


def _pipe_closed() -> int:
    """stdout's reader went away (``heatpose zoo --json | head``): end quietly."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):
        pass
    return 141


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or bool(os.environ.get("HEATPOSE_DEBUG"))
    argv = [a for a in argv if a != "--debug"]
    name = _command_of(argv) or "heatpose"
    try:
        parser = build_parser(name if name in COMMANDS else None)
        try:
            args = parser.parse_args(argv)
        except SystemExit as stop:                  # --help, --version, usage errors
            return stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 2)
        if not getattr(args, "command", None):
            parser.print_help()
            return 2
        return int(args.func(args) or 0)
    except BrokenPipeError:
        return _pipe_closed()
    except KeyboardInterrupt:
        if debug:
            raise
        print(f"heatpose {name}: interrupted", file=sys.stderr)
        return 130
    except HeatposeError as exc:
        if debug:
            raise
        print(f"heatpose {name}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:                          # disk full, permission denied, ...
        if debug:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"heatpose {name}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # noqa: BLE001 - the last line of defence of the CLI
        if debug:
            raise
        text = str(exc).strip().splitlines()
        print(f"heatpose {name}: internal error: {type(exc).__name__}: "
              f"{text[0] if text else ''} (run again with --debug for the traceback)",
              file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
