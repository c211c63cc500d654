"""``heatpose zoo``: list the recipes (MMPose's published models) by dataset, or show one."""
from __future__ import annotations

import argparse
import json
import sys
from itertools import groupby
from typing import List, Optional

from heatpose.recipes import Recipe, get_recipe, list_names

EXAMPLES = """examples:
  heatpose zoo                 # tables by dataset: size (h×w), key metric, weights downloaded?
  heatpose zoo hrnet           # recipes whose name/alias/dataset/backbone contains "hrnet"
  heatpose zoo coco --json     # every field as JSON
  heatpose zoo show res50_coco_256x192"""
# recipe file (family) -> heading
DATASET_TITLES = {
    "coco": "COCO", "ochuman": "OCHuman", "aic": "AI Challenger", "mhp": "MHP", "mpii": "MPII",
    "mpii_trb": "MPII-TRB", "crowdpose": "CrowdPose", "posetrack18": "PoseTrack18",
    "jhmdb": "Sub-JHMDB", "halpe": "Halpe", "humanart": "Human-Art", "exlpose": "ExLPose",
    "coco_wholebody": "COCO-WholeBody", "ubody2d": "UBody (COCO-WholeBody val)",
    "deepfashion": "DeepFashion (FLD)", "deepfashion2": "DeepFashion2",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "zoo", help="list the model recipes (or `zoo show NAME`)",
        epilog=EXAMPLES,
        description="List MMPose's published top-down heatmap models by dataset (input size\n"
                    "h×w as MMPose names it, key metric in percent, whether the weights are\n"
                    "downloaded), or `heatpose zoo show NAME` for one recipe.")
    parser.add_argument("args", nargs="*", metavar="FILTER | show NAME",
                        help="substring of a name, alias, dataset or backbone; or 'show' and a model name")
    parser.add_argument("--json", action="store_true", help="print JSON with every field")
    parser.set_defaults(func=run)


def percent(value: Optional[float]) -> str:
    """A published metric in percent (tables print AP as 0.718 and PCK as 95.4: one scale)."""
    if value is None:
        return "-"
    return f"{value * 100 if abs(value) <= 1.0 else value:.1f}"


def size_hw(r: Recipe) -> str:
    w, h = r.input_size
    return f"{h}×{w}"


def downloaded(url: Optional[str]) -> Optional[str]:
    """Path of the cached checkpoint of ``url``, or None."""
    if not url:
        return None
    from heatpose.inference.download import cached_file

    path = cached_file(url)
    return str(path) if path is not None else None


def _weights(r: Recipe) -> str:
    if not r.checkpoint_url:
        return "none published"
    return "downloaded" if downloaded(r.checkpoint_url) else "-"


def _tables(recipes: List[Recipe]) -> str:
    out: List[str] = []
    recipes = sorted(recipes, key=lambda r: (r.family, r.name))
    for family, group in groupby(recipes, key=lambda r: r.family):
        rows = list(group)
        metrics = sorted({r.key_metric for r in rows})
        out.append(f"{DATASET_TITLES.get(family, family)} ({len(rows)})")
        table = [("name", "size (h×w)", f"{'/'.join(metrics)} (%)", "weights")]
        for r in rows:
            table.append((r.name, size_hw(r), percent(r.key_result[0]), _weights(r)))
        widths = [max(len(t[i]) for t in table) for i in range(4)]
        for i, t in enumerate(table):
            out.append("  " + "  ".join(c.ljust(w) for c, w in zip(t, widths)).rstrip())
            if i == 0:
                out.append("  " + "  ".join("-" * w for w in widths))
        out.append("")
    return "\n".join(out).rstrip()


def _show(r: Recipe) -> str:
    m, te, t = r.model, r.test, r.train
    out = [r.name, f"  aliases:        {', '.join(r.aliases) or '-'}",
           f"  dataset:        {r.dataset}" + (f" (category {r.category})" if r.category else "")
           + (f" (split {r.split})" if r.split else ""),
           f"  recipe from:    {r.source}",
           f"  network:        {m.backbone}, {m.num_deconv} deconv layers, {m.num_keypoints} keypoints"
           + (", visibility head" if m.visibility_head else ""),
           f"  input/heatmap:  {size_hw(r)} -> {r.heatmap_size[1]}×{r.heatmap_size[0]} (h×w)",
           f"  decoder:        {json.dumps(dict(te.codec))}",
           f"  test:           flip {te.flip_test} ({te.flip_mode}, shift {te.shift_heatmap}), "
           f"UDP crop {te.use_udp}",
           f"  checkpoint:     {r.checkpoint_url or '(none published)'}"
           + (" [downloaded]" if downloaded(r.checkpoint_url) else "")]
    if r.checkpoint_from:
        out.append(f"  checkpoint of:  {r.checkpoint_from}")
    for url in r.other_checkpoint_urls:
        out.append(f"  also published: {url}")
    out.append("  results:" + ("" if r.results else "        (none published)"))
    for res in r.results:
        metrics = ", ".join(f"{k} {v:g}" for k, v in res.metrics.items())
        extra = "; ".join(x for x in (res.detector, res.note) if x)
        out.append(f"    {res.dataset_split} [{res.setting}{'; ' + extra if extra else ''}]: {metrics}")
        out.append(f"      checkpoint: {res.checkpoint_url or '-'}")
        out.append(f"      from: {res.source}")
    warm = t.scheduler("LinearLR") or {}
    steps = t.scheduler("MultiStepLR") or {}
    out.append(f"  training:       {t.max_epochs} epochs, {t.gpus}x{t.batch_per_gpu} images, "
               f"{t.optimizer['type']} lr {t.optimizer['lr']:g}, warm-up {warm.get('end', 0)} iters, "
               f"steps {steps.get('milestones')} x{steps.get('gamma')}" + (", AMP" if t.amp else ""))
    out.append(f"  init weights:   {t.pretrained or '-'} (backbone)"
               + (f"; load_from {t.load_from}" if t.load_from else ""))
    out.append("  train data:     " + ", ".join(f"{d['type']} {d.get('ann_file')}" for d in t.datasets))
    for note in r.notes:
        out.append(f"  note: {note}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    from heatpose.errors import InputError

    words = list(args.args)
    if words and words[0] == "show":
        if len(words) != 2:
            raise InputError("usage: heatpose zoo show NAME")
        recipe = get_recipe(words[1])
        print(json.dumps(recipe.to_dict(), indent=2) if args.json else _show(recipe))
        return 0
    if len(words) > 1:
        raise InputError(f"give at most one FILTER (got {words}); use `heatpose zoo show NAME` for one model")
    recipes = [get_recipe(n) for n in list_names(words[0] if words else None)]
    if args.json:
        print(json.dumps([r.to_dict() for r in recipes], indent=2))
    elif not recipes:
        print(f"no model matches {words[0]!r}", file=sys.stderr)
        return 1
    else:
        print(_tables(recipes))
    return 0
