"""``heatpose zoo``: list the model-zoo presets, or show one.

    heatpose zoo                 # table of all models
    heatpose zoo coco --json     # models whose name/alias/dataset contains "coco", all fields as JSON
    heatpose zoo show res50_coco_256x192
"""
from __future__ import annotations

import argparse
import json
import sys
from typing import List

from heatpose.models.zoo import ModelPreset, get_preset, list_models


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "zoo", help="list model-zoo presets (or `zoo show NAME`)",
        description="List the model-zoo presets (name, dataset, input size, key metric, setting), "
                    "or `heatpose zoo show NAME` for one preset.")
    parser.add_argument("args", nargs="*", metavar="FILTER | show NAME",
                        help="substring of a name, alias, dataset or backbone; or 'show' and a model name")
    parser.add_argument("--json", action="store_true", help="print JSON with every field")
    parser.set_defaults(func=run)


def _table(presets: List[ModelPreset]) -> str:
    rows = [("name", "dataset", "input (w x h)", "key metric", "setting")]
    for p in presets:
        value, first = p.key_result
        dataset = p.dataset + (f"/{p.category}" if p.category else "") + (f"/{p.split}" if p.split else "")
        rows.append((p.name, dataset, f"{p.input_size[0]}x{p.input_size[1]}",
                     f"{p.key_metric} {value:g}" if value is not None else "-", first.setting))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _show(p: ModelPreset) -> str:
    out = [p.name, f"  aliases:        {', '.join(p.aliases) or '-'}",
           f"  dataset:        {p.dataset}" + (f" (category {p.category})" if p.category else "")
           + (f" (split {p.split})" if p.split else ""),
           f"  network:        {p.backbone}, {p.num_deconv} deconv layers, {p.num_keypoints} keypoints"
           + (", visibility head" if p.visibility_head else ""),
           f"  input/heatmap:  {p.input_size[0]}x{p.input_size[1]} -> {p.heatmap_size[0]}x{p.heatmap_size[1]} (w x h)",
           f"  codec:          {json.dumps(dict(p.codec))}",
           f"  flip test:      {json.dumps(dict(p.flip_test))}",
           f"  checkpoint:     {p.checkpoint_url}"]
    if p.checkpoint_from:
        out.append(f"  checkpoint of:  {p.checkpoint_from}")
    for url in p.other_checkpoint_urls:
        out.append(f"  also published: {url}")
    out.append(f"  config:         {p.mmpose_config or '(MMPose 0.x only)'}")
    out.append("  results:")
    for r in p.results:
        metrics = ", ".join(f"{k} {v:g}" for k, v in r.metrics.items())
        extra = "; ".join(x for x in (r.detector, r.note) if x)
        out.append(f"    {r.dataset_split} [{r.setting}{'; ' + extra if extra else ''}]: {metrics}")
    t = p.training
    out.append(f"  training:       {t['epochs']} epochs, {t['gpus']}x{t['batch_per_gpu']} images, "
               f"{t['optimizer']} lr {t['base_lr']:g}, steps {t['lr_milestones']} ({t['source']})")
    for note in p.notes:
        out.append(f"  note: {note}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    words = list(args.args)
    if words and words[0] == "show":
        if len(words) != 2:
            from heatpose.errors import InputError
            raise InputError("usage: heatpose zoo show NAME")
        preset = get_preset(words[1])
        print(json.dumps(preset.to_dict(), indent=2) if args.json else _show(preset))
        return 0
    if len(words) > 1:
        from heatpose.errors import InputError
        raise InputError(f"give at most one FILTER (got {words}); use `heatpose zoo show NAME` for one model")
    names = list_models(words[0] if words else None)
    presets = [get_preset(n) for n in names]
    if args.json:
        print(json.dumps([p.to_dict() for p in presets], indent=2))
    elif not presets:
        print(f"no model matches {words[0]!r}", file=sys.stderr)
        return 1
    else:
        print(_table(presets))
    return 0
