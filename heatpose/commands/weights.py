"""heatpose weights: list, verify or clear the downloaded weights (the download cache).

The cache is the folder HEATPOSE_HOME names, else ~/.cache/heatpose. Each file is checked
against the SHA-256 prefix in its name (MMPose and torch hub files carry one) and against the
size and digest recorded when heatpose downloaded it; list shows what each file is for (the
zoo recipes whose checkpoint or pretrained backbone it is, or the person detector).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List

from heatpose.errors import InputError

EXAMPLES = """examples:
  heatpose weights                      # the same as: heatpose weights list
  heatpose weights list --json          # every field, including the URL of each file
  heatpose weights verify               # hash every file again; exit status 1 if one is wrong
  heatpose weights verify 'td-hm_hrnet*'
  heatpose weights clear resnet50-0676ba61.pth
  heatpose weights clear --partial      # only unfinished downloads
  heatpose weights clear --all          # everything heatpose downloaded into the cache
  heatpose weights list --dir /data/heatpose_cache

Files that fail a check are downloaded again the next time they are needed."""
ACTIONS = ("list", "verify", "clear")


def register(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    doc = __doc__.split("\n\n")
    p = sub.add_parser("weights", help=doc[0].split(": ", 1)[1], description="\n\n".join(doc),
                       epilog=EXAMPLES)
    p.add_argument("action", nargs="?", choices=ACTIONS, default="list",
                   help="list (default), verify or clear")
    p.add_argument("names", nargs="*", metavar="NAME",
                   help="file names or shell patterns (quote them), default: every file")
    p.add_argument("--dir", help="the cache folder (default: HEATPOSE_HOME or ~/.cache/heatpose)")
    p.add_argument("--json", action="store_true", help="list / verify: print JSON")
    p.add_argument("--all", action="store_true", help="clear: every file heatpose downloaded")
    p.add_argument("--partial", action="store_true", help="clear: unfinished downloads only")
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    from heatpose.inference.download import cache_dir

    folder = Path(args.dir).expanduser() if args.dir else cache_dir()
    if args.dir and not folder.is_dir():
        raise InputError(f"{folder}: no such folder")
    if args.action == "clear":
        return clear(folder, args.names, args.all, args.partial)
    if args.all or args.partial:
        raise InputError("--all and --partial go with clear")
    entries = describe(folder, args.names, full=args.action == "verify")
    if args.json:
        print(json.dumps({"folder": str(folder), "files": entries}, indent=1))
    else:
        print_table(folder, entries)
    bad = [e["name"] for e in entries if e["status"] == "wrong"]
    if bad and args.action == "verify":
        print(f"{len(bad)} file(s) failed their check: {', '.join(bad)}; heatpose downloads "
              "them again when they are next needed (or: heatpose weights clear NAME)",
              file=sys.stderr)
        return 1
    return 0


# ------------------------------------------------------------------------------- listing
def owners() -> Dict[str, Dict[str, Any]]:
    """Cache file name -> {"url": ..., "recipes": [...], "backbone_of": [...], "detector": ...}
    for every file the zoo and the detector may download."""
    from heatpose.inference.cache_files import filename_for
    from heatpose.inference.detector import DEFAULT_YOLOX_NANO_URL
    from heatpose.recipes import list_recipes

    known: Dict[str, Dict[str, Any]] = defaultdict(
        lambda: {"url": None, "recipes": [], "backbone_of": [], "detector": None})

    def add(url: str, key: str, value: str) -> None:
        entry = known[filename_for(url)]
        entry["url"] = entry["url"] or url
        if key == "detector":
            entry["detector"] = value
        elif value not in entry[key]:
            entry[key].append(value)

    add(DEFAULT_YOLOX_NANO_URL, "detector", "yolox-nano")
    for recipe in list_recipes():
        for url in filter(None, (recipe.checkpoint_url, *recipe.other_checkpoint_urls)):
            add(url, "recipes", recipe.name)
        if recipe.train is not None and recipe.train.pretrained:
            add(recipe.train.pretrained, "backbone_of", recipe.name)
    return dict(known)


def _used_by(info: Dict[str, Any]) -> str:
    parts = []
    if info.get("detector"):
        parts.append(f"person detector ({info['detector']})")
    recipes = info.get("recipes") or []
    if recipes:
        more = f" (+{len(recipes) - 1} more)" if len(recipes) > 1 else ""
        parts.append(recipes[0] + more)
    backbone = info.get("backbone_of") or []
    if backbone:
        parts.append(f"pretrained backbone of {len(backbone)} recipe{'s' * (len(backbone) > 1)}")
    return "; ".join(parts) or (info.get("url") or "-")


def _selected(name: str, patterns: List[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def describe(folder: Path, patterns: List[str], full: bool) -> List[Dict[str, Any]]:
    """One entry per cached file (and unfinished download) matching ``patterns``; ``full``
    re-hashes every file."""
    from heatpose.inference.cache_files import (PART_SUFFIX, cached_names, check_file,
                                                meta_path, read_record)

    known = owners()
    entries = []
    for path in cached_names(folder):
        if not _selected(path.name, patterns):
            continue
        verdict = check_file(path, full=full)
        info = dict(known.get(path.name) or {})
        record = verdict.record or {}
        info["url"] = record.get("url") or info.get("url")
        status = "wrong" if not verdict.ok else "verified" if verdict.verified else "unverified"
        entries.append({"name": path.name, "path": str(path), "bytes": path.stat().st_size,
                        "status": status, "detail": verdict.reason, **info,
                        "used_by": _used_by(info)})
    for part in sorted(folder.glob("*" + PART_SUFFIX)) if folder.is_dir() else []:
        name = part.name[:-len(PART_SUFFIX)]
        if not _selected(name, patterns) and not _selected(part.name, patterns):
            continue
        total = (read_record(meta_path(part.with_name(name), ".part.json")) or {}).get("total")
        of = f" of {total / 1e6:.1f} MB" if isinstance(total, int) else ""
        entries.append({"name": part.name, "path": str(part), "bytes": part.stat().st_size,
                        "status": "partial", "detail": f"unfinished download"
                        f" ({part.stat().st_size / 1e6:.1f}{of} MB)",
                        "used_by": _used_by(known.get(name) or {})})
    for path in _exports(folder, patterns):
        entries.append({"name": f"{path.parent.name}/{path.name}", "path": str(path),
                        "bytes": path.stat().st_size, "status": "export",
                        "detail": "ONNX export", "used_by": "CPU backend (made again on use)"})
    for pattern in patterns:
        if not any(fnmatch.fnmatchcase(e["name"], pattern) or
                   fnmatch.fnmatchcase(e["name"], pattern + PART_SUFFIX) for e in entries):
            raise InputError(f"no downloaded file matches {pattern!r} in {folder}")
    return entries


def print_table(folder: Path, entries: List[Dict[str, Any]]) -> None:
    from heatpose.progress import format_table

    if not entries:
        print(f"no downloaded weights in {folder}")
        return
    check = {"verified": lambda e: "verified", "unverified": lambda e: e["detail"],
             "partial": lambda e: "partial", "wrong": lambda e: f"WRONG: {e['detail']}",
             "export": lambda e: e["detail"]}
    rows = [(e["name"], f"{e['bytes'] / 1e6:.1f} MB", check[e["status"]](e), e["used_by"])
            for e in entries]
    print(format_table(rows, header=("file", "size", "check", "used by"), right=False))
    total = sum(e["bytes"] for e in entries)
    print(f"\n{len(entries)} file(s), {total / 1e6:.1f} MB in {folder}")


def _exports(folder: Path, patterns: List[str]) -> List[Path]:
    """The CPU backend's ONNX exports (``HEATPOSE_HOME/onnx/*.onnx``) matching ``patterns``
    (by ``onnx/NAME`` or ``NAME``; all when none is given)."""
    from heatpose.inference.backends import EXPORTS_DIR as EXPORTS

    sub = folder / EXPORTS
    return [p for p in (sorted(sub.glob("*.onnx")) if sub.is_dir() else [])
            if not patterns or _selected(p.name, patterns) or
            _selected(f"{EXPORTS}/{p.name}", patterns)]


# ------------------------------------------------------------------------------ clearing
def clear(folder: Path, patterns: List[str], everything: bool, partial: bool) -> int:
    """Delete the named files (or every heatpose download, or the unfinished ones) with their
    records. Files heatpose did not download are only removed when named."""
    from heatpose.inference.cache_files import (META_DIR, PART_SUFFIX, cached_names,
                                                hash_prefix_from_name, meta_path, part_path,
                                                remove_idle_locks)

    if not (patterns or everything or partial):
        raise InputError("say what to clear: file names or patterns, --partial or --all "
                         "(see heatpose weights --help)")
    if everything and patterns:
        raise InputError("--all clears every file: give names or --all, not both")
    known = owners()
    targets: List[Path] = []
    left: List[str] = []
    if not partial:
        for path in cached_names(folder):
            if patterns:
                if _selected(path.name, patterns):
                    targets.append(path)
            elif meta_path(path).exists() or hash_prefix_from_name(path.name) or \
                    path.name in known:
                targets.append(path)
            else:
                left.append(path.name)
    parts = [p for p in (folder.glob("*" + PART_SUFFIX) if folder.is_dir() else [])
             if not patterns or _selected(p.name[:-len(PART_SUFFIX)], patterns)
             or _selected(p.name, patterns)]
    targets += _exports(folder, patterns) if (patterns or everything) else []
    if patterns and not targets and not parts:
        raise InputError(f"no downloaded file matches {' '.join(patterns)} in {folder}")
    freed = 0
    for path in targets + parts:
        freed += path.stat().st_size
        path.unlink()
        print(f"removed {path}")
        name = path.name[:-len(PART_SUFFIX)] if path.name.endswith(PART_SUFFIX) else path.name
        dest = path.with_name(name)
        for extra in (meta_path(dest, ".part.json"),) + (
                () if path.name.endswith(PART_SUFFIX) else (meta_path(dest), part_path(dest))):
            extra.unlink(missing_ok=True)
    if everything and (folder / META_DIR).is_dir():
        for record in (folder / META_DIR).glob("*.json"):    # records of files gone by hand
            record.unlink()
        remove_idle_locks(folder)
    print(f"freed {freed / 1e6:.1f} MB in {folder}")
    if left:
        print(f"kept {len(left)} file(s) heatpose did not download (name them to remove): "
              f"{', '.join(left)}")
    return 0

