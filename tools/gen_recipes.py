"""Generate heatpose/recipes/*.json: every MMPose 1.3.2 ResNet/HRNet heatmap recipe, as data.

Run with the MMPose peer (it resolves the configs with mmengine and reads the metafiles):

    /work/peer/bin/peer-python tools/gen_recipes.py [--seeds ../shared/seeds]

Which configs: every ``configs/{body,fashion,wholebody}_2d_keypoint/topdown_heatmap/**.py`` whose
resolved model has a ``ResNet`` or ``HRNet`` backbone and a ``HeatmapHead`` (directly or inside a
``VisPredictHead``). Each is resolved with ``Config.fromfile`` and written out as MMPose uses it:
the head's decoder and ``test_cfg`` (test time), the train pipeline, codec, init weights,
optimizer, schedule and datasets (train time), plus the metafile (``*.yml`` beside the config):
checkpoint URL and published results. The model-zoo tables of ``--seeds`` add their result rows
and the rows that exist only in the MMPose 0.x zoo (facts in tools/recipes_0x.py; result rows
in tools/recipes_results.py).
One JSON file per dataset family (``coco.json``, ``deepfashion2.json``, ...).
"""
from __future__ import annotations

import argparse
import glob
import inspect
import json
import os
import re
import sys
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recipes_0x import EXTRA_ALIASES, NOTES, zero_x_recipes  # noqa: E402
from recipes_results import (CONFIGS, FAMILY_DIRS, load_metafiles, metafile_results,  # noqa: E402
                             seed_name, seed_result)
from zoo_seeds import parse_all  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
# dataset folder of the config tree -> recipe file (family)
KEY_METRIC = {"coco": "AP", "ochuman": "AP", "aic": "AP", "mhp": "AP", "crowdpose": "AP", "mpii": "Mean",
              "mpii_trb": "Mean Acc", "posetrack18": "Total", "jhmdb": "Mean", "halpe": "Whole AP",
              "deepfashion": "PCK@0.2", "deepfashion2": "PCK@0.2", "coco-wholebody": "Whole AP",
              "ubody2d": "Whole AP", "humanart": "AP", "exlpose": "AP"}


def plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {k: plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [plain(v) for v in x]
    return x


def defaults(cls) -> Dict[str, Any]:
    return {k: plain(v.default) for k, v in inspect.signature(cls.__init__).parameters.items()
            if v.default is not inspect.Parameter.empty and k not in ("self", "init_cfg")}


def with_defaults(cfg: Dict[str, Any], registry) -> Dict[str, Any]:
    """An MMPose component dict with the constructor defaults it leaves out filled in."""
    cfg = plain(cfg)
    cls = registry.get(cfg["type"])
    if cls is None:
        return cfg
    return {"type": cfg["type"], **{k: v for k, v in defaults(cls).items() if k not in cfg},
            **{k: v for k, v in cfg.items() if k != "type"}}


def torchvision_url(checkpoint: Optional[str]) -> Optional[str]:
    """``torchvision://resnet50`` -> the URL mmengine's load_from_torchvision fetches."""
    if not checkpoint or not checkpoint.startswith("torchvision://"):
        return checkpoint
    from mmengine.runner.checkpoint import get_torchvision_models
    return get_torchvision_models()[checkpoint[len("torchvision://"):]]


def gpus_batch(name: str) -> Tuple[int, int]:
    m = re.search(r"[_-](\d+)xb(\d+)-", name)
    return int(m.group(1)), int(m.group(2))


def dataset_entry(ds: Dict[str, Any]) -> Dict[str, Any]:
    """A dataset config as plain data: files joined with data_root (paths as in MMPose's repo),
    the KeypointConverter of its own pipeline, other keys as given."""
    ds = plain(ds)
    root = ds.pop("data_root", "") or ""
    out: Dict[str, Any] = {"type": ds.pop("type")}
    out["ann_file"] = root + ds.pop("ann_file") if ds.get("ann_file") else None
    prefix = ds.pop("data_prefix", {}) or {}
    out["img_prefix"] = root + prefix.pop("img", "")
    if prefix:
        out["data_prefix_other"] = prefix
    for key in ("bbox_file",):
        if ds.get(key):
            out[key] = ds.pop(key)
        else:
            ds.pop(key, None)
    pipeline = ds.pop("pipeline", []) or []
    conv = [t for t in pipeline if t["type"] == "KeypointConverter"]
    if conv:
        out["keypoint_converter"] = {"num_keypoints": conv[0]["num_keypoints"],
                                     "mapping": [list(m) for m in conv[0]["mapping"]]}
    metainfo = ds.pop("metainfo", None)
    if metainfo:
        out["metainfo"] = os.path.basename(metainfo["from_file"])
    for k in ("test_mode", "serialize_data", "lazy_init"):
        ds.pop(k, None)
    out.update(ds)                      # data_mode, sample_interval, ...
    return out


def model_section(cfg) -> Dict[str, Any]:
    from mmpose.registry import MODELS
    head = cfg.model.head
    vis = head.type == "VisPredictHead"
    pose_head = plain(head.pose_cfg if vis else head)
    bb = plain(cfg.model.backbone)
    init = bb.pop("init_cfg", None)
    if bb["type"] == "ResNet":
        backbone = f"resnet{bb['depth']}"
    else:
        backbone = f"hrnet_w{bb['extra']['stage4']['num_channels'][0]}"
    full_head = {k: v for k, v in with_defaults(pose_head, MODELS).items() if k not in ("decoder", "loss")}
    deconv = full_head.get("deconv_out_channels") or []
    out = {"backbone": backbone, "backbone_cfg": with_defaults(bb, MODELS), "head": full_head,
           "num_deconv": len(deconv), "deconv_out_channels": list(deconv),
           "deconv_kernel_sizes": list(full_head.get("deconv_kernel_sizes") or [])[:len(deconv)],
           "head_out_channels": pose_head["out_channels"], "visibility_head": vis}
    if vis:
        out["vis_head"] = {k: v for k, v in plain(head).items() if k not in ("pose_cfg", "loss", "type")}
    return out, init


def test_section(cfg, pose_head) -> Dict[str, Any]:
    from mmpose.registry import KEYPOINT_CODECS
    codec = with_defaults(plain(pose_head.decoder), KEYPOINT_CODECS)
    tc = plain(cfg.model.test_cfg)
    affine = [t for t in plain(cfg.val_dataloader.dataset.pipeline) if t["type"] == "TopdownAffine"][0]
    test_affine = [t for t in plain(cfg.test_dataloader.dataset.pipeline) if t["type"] == "TopdownAffine"][0]
    assert affine == test_affine, "val and test pipelines differ"
    return {"codec": codec, "flip_test": bool(tc.get("flip_test", False)),
            "flip_mode": tc.get("flip_mode", "heatmap"),
            # HeatmapHead.predict: test_cfg.get('shift_heatmap', False)
            "shift_heatmap": bool(tc.get("shift_heatmap", False)),
            "use_udp": bool(affine.get("use_udp", False)), "input_size": list(affine["input_size"]),
            "output_keypoint_indices": tc.get("output_keypoint_indices")}


def train_section(name: str, cfg, pose_head, head, init) -> Dict[str, Any]:
    from mmpose.registry import KEYPOINT_CODECS, TRANSFORMS
    ds = cfg.train_dataloader.dataset
    pipeline = [t if t["type"] in ("LoadImage", "PackPoseInputs") else with_defaults(t, TRANSFORMS)
                for t in plain(ds.pipeline)]
    target = [t for t in pipeline if t["type"] == "GenerateTarget"][0]
    target["encoder"] = with_defaults(target["encoder"], KEYPOINT_CODECS)
    gpus, name_batch = gpus_batch(name)
    batch = cfg.train_dataloader.batch_size
    if ds.type == "CombinedDataset":
        datasets = [dataset_entry(d) for d in ds.datasets]
        combined = {"metainfo": os.path.basename(ds.metainfo.from_file)}
    else:
        datasets, combined = [dataset_entry(ds)], None
    evaluator = plain(cfg.test_evaluator)
    ow = plain(cfg.optim_wrapper)
    val_ds = dataset_entry(cfg.val_dataloader.dataset)
    test_ds = dataset_entry(cfg.test_dataloader.dataset)
    init = plain(init)
    out = {
        "codec": target["encoder"],
        "use_dataset_keypoint_weights": bool(target.get("use_dataset_keypoint_weights", False)),
        "pipeline": pipeline,
        "loss": plain(pose_head.loss),
        "pretrained": torchvision_url(init["checkpoint"]) if init else None,
        "pretrained_cfg": init,
        "load_from": cfg.get("load_from"),
        "optim_wrapper": ow.get("type", "OptimWrapper"), "amp": ow.get("type") == "AmpOptimWrapper",
        "loss_scale": ow.get("loss_scale"), "optimizer": ow["optimizer"],
        "param_scheduler": plain(cfg.param_scheduler),
        "max_epochs": cfg.train_cfg.max_epochs, "val_interval": cfg.train_cfg.val_interval,
        "gpus": gpus, "batch_per_gpu": batch,
        "auto_scale_lr_base_batch": (cfg.get("auto_scale_lr") or {}).get("base_batch_size"),
        "datasets": datasets, "combined": combined,
        "val_data": val_ds, "test_data": test_ds,
        "evaluator": evaluator if isinstance(evaluator, list) else [evaluator],
        "save_best": plain(cfg.default_hooks.checkpoint).get("save_best"),
        "checkpoint_interval": plain(cfg.default_hooks.checkpoint).get("interval"),
    }
    if batch != name_batch:
        out["name_batch_per_gpu"] = name_batch
    if head.type == "VisPredictHead":
        out["vis_loss"] = plain(head.loss)
    return out


def declared_codec_note(cfg, test: Dict[str, Any], train: Dict[str, Any]) -> List[str]:
    """A config whose top-level ``codec`` is not what its head and pipeline use (inheritance quirk)."""
    declared = plain(cfg.get("codec"))
    if not declared or declared["type"] == test["codec"]["type"] == train["codec"]["type"]:
        return []
    return [f"MMPose 1.3.2 config quirk: the config declares codec {declared} but never assigns it to "
            f"head.decoder or the dataloaders, so the inherited settings are what run: decoder "
            f"{test['codec']['type']}, train targets {train['codec']['type']}, "
            f"TopdownAffine use_udp={test['use_udp']}, flip_test.shift_heatmap={test['shift_heatmap']}. "
            "The recipe records that effective behaviour."]


def recipe_from_config(rel: str, meta: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    from mmengine.config import Config
    cfg = Config.fromfile(str(CONFIGS / rel))
    name = Path(rel).stem
    folder = Path(rel).parts[2]
    head = cfg.model.head
    pose_head = head.pose_cfg if head.type == "VisPredictHead" else head
    model, init = model_section(cfg)
    test = test_section(cfg, pose_head)
    train = train_section(name, cfg, pose_head, head, init)
    from mmpose.datasets.datasets.utils import parse_pose_metainfo
    meta_file = train["combined"]["metainfo"] if train["combined"] else None
    first = train["datasets"][0]
    if meta_file is None and first.get("metainfo"):
        meta_file = first["metainfo"]
    elif meta_file is None and first["type"] == "DeepFashionDataset":     # metainfo chosen by subset
        meta_file = f"deepfashion_{first['subset']}.py"
    elif meta_file is None:
        from mmpose.registry import DATASETS
        meta_file = os.path.basename(DATASETS.get(first["type"]).METAINFO["from_file"])
    info = parse_pose_metainfo({"from_file": str(CONFIGS / "_base_" / "datasets" / meta_file)})
    model["num_keypoints"] = info["num_keypoints"]
    model["metainfo"] = meta_file
    results = metafile_results(meta, folder, train["test_data"]) if meta else []
    return {"name": name, "aliases": [], "family": folder.replace("-", "_"),
            "dataset": dataset_of(meta_file), "mmpose_config": rel,
            "source": "MMPose 1.3.2 config configs/" + rel, "model": model, "test": test, "train": train,
            "checkpoint_url": (meta or {}).get("Weights"), "key_metric": KEY_METRIC[folder],
            "results": results, "notes": declared_codec_note(cfg, test, train)}


def dataset_of(meta_file: str) -> str:
    """heatpose dataset (schema) name of a recipe: its keypoint metainfo file's stem."""
    return meta_file[:-3] if meta_file.endswith(".py") else meta_file


def finish(p: Dict[str, Any]) -> Dict[str, Any]:
    name = p["name"]
    for a in EXTRA_ALIASES.get(name, []):
        if a not in p["aliases"]:
            p["aliases"].append(a)
    if p["family"] == "deepfashion2":
        cat = re.search(r"deepfasion2-(.+)-256x192", name).group(1).replace("-", "_")
        p["category"] = cat
        p["aliases"] += [name.replace("deepfasion2", "deepfashion2"), f"res50_deepfashion2_{cat}_256x192"]
    if p["family"] == "jhmdb":
        p["split"] = re.search(r"jhmdb-(sub\d)", name).group(1)
    urls: List[str] = [p["checkpoint_url"]] if p.get("checkpoint_url") else []
    for r in p["results"]:
        if r.get("checkpoint_url") and r["checkpoint_url"] not in urls:
            urls.append(r["checkpoint_url"])
    w, h = p["test"]["input_size"]
    matching = [u for u in urls if f"{h}x{w}" in u.rsplit("/", 1)[-1]]
    primary = ([u for u in matching if "/v1/" in u] or matching or urls or [None])[0]
    if p.get("checkpoint_url") and primary != p["checkpoint_url"]:
        p["notes"].append(f"MMPose links {p['checkpoint_url'].rsplit('/', 1)[-1]} (a checkpoint of another "
                          f"input size) for this {h}x{w} config; checkpoint_url is therefore "
                          f"{primary.rsplit('/', 1)[-1]}, and each result row keeps the URL as published.")
    p["checkpoint_url"] = primary
    p["other_checkpoint_urls"] = [u for u in urls if u != p["checkpoint_url"]]
    p["notes"] = p["notes"] + NOTES.get(name, [])
    t = p["train"]
    if t.get("name_batch_per_gpu"):
        p["notes"].append(f"The config name says {t['name_batch_per_gpu']} images per GPU, but the config's "
                          f"train_dataloader uses batch_size={t['batch_per_gpu']} (what MMPose runs).")
    v1 = [u for u in urls if "/v1/" in u]
    v0 = [u for u in urls if "/v1/" not in u]
    if v1 and v0 and not p.get("checkpoint_from"):
        p["notes"].append("Results come from two training runs (MMPose 1.x and 0.x checkpoints); each "
                          "result row names its checkpoint.")
    elif v0 and p["mmpose_config"] and not p.get("checkpoint_from"):
        p["notes"].append("The published checkpoint was trained with MMPose 0.x; the training settings "
                          "here are those of the 1.x port of its config.")
    return p


def build(seed_dir: Path) -> Tuple[Dict[str, Dict[str, Any]], List[Dict[str, Any]]]:
    from mmpose.utils import register_all_modules
    register_all_modules()
    metas = load_metafiles()
    recipes: Dict[str, Dict[str, Any]] = {}
    for fam in FAMILY_DIRS:
        for path in sorted(glob.glob(str(CONFIGS / fam / "topdown_heatmap" / "**" / "*.py"), recursive=True)):
            from mmengine.config import Config
            cfg = Config.fromfile(path)
            head = cfg.model.head
            inner = head.pose_cfg.type if head.type == "VisPredictHead" else head.type
            if cfg.model.backbone.type not in ("ResNet", "HRNet") or inner != "HeatmapHead":
                continue
            rel = os.path.relpath(path, CONFIGS)
            recipes[Path(rel).stem] = recipe_from_config(rel, metas.get(Path(rel).stem))
    zero = zero_x_recipes()
    for z in zero.values():
        ckpt = z["train"]["pretrained"]
        if ckpt and ckpt.startswith("torchvision://"):
            z["train"]["pretrained_cfg"] = {"type": "Pretrained", "checkpoint": ckpt}
            z["train"]["pretrained"] = torchvision_url(ckpt)
    aggregates: List[Dict[str, Any]] = []
    for row in parse_all(seed_dir):
        if row.config is None:                          # JHMDB "Average" rows: not a model
            res = seed_result(row)
            members = sorted(n for n, p in recipes.items() if p["family"] == "jhmdb" and
                             p["model"]["num_deconv"] == (2 if "2 Deconv" in row.arch else 3))
            aggregates.append({"label": f"{row.set_label} {row.arch}", "recipes": members,
                               "dataset_split": "Sub-JHMDB (mean of Sub1-3)", "setting": res["setting"],
                               "metrics": res["metrics"], "source": res["source"], "note": res.get("note")})
            continue
        name, aliases, checkpoint_from = seed_name(row)
        if name not in recipes:
            recipes[name] = zero[name]
        p = recipes[name]
        if checkpoint_from:
            p["checkpoint_from"] = checkpoint_from
        h, w = (int(x) for x in row.input_size.split("x"))
        assert p["test"]["input_size"] == [w, h], name
        for a in aliases:
            if a not in p["aliases"]:
                p["aliases"].append(a)
        res = seed_result(row)
        # a metafile row with the same checkpoint and metrics as a table row is the same result
        p["results"] = [r for r in p["results"] if not (
            r["source"].startswith("MMPose 1.3.2 metafile") and r["checkpoint_url"] == res["checkpoint_url"]
            and all(res["metrics"].get(k) == v for k, v in r["metrics"].items()))]
        p["results"].append(res)
    return {n: finish(p) for n, p in recipes.items()}, aggregates


def dumps(x: Any, depth: int = 0, max_depth: int = 4) -> str:
    """JSON indented to ``max_depth`` levels, compact below (readable and small)."""
    if depth >= max_depth or not isinstance(x, (dict, list)) or not x:
        return json.dumps(x)
    pad, inner = " " * depth, " " * (depth + 1)
    if isinstance(x, dict):
        items = [f"{inner}{json.dumps(k)}: {dumps(v, depth + 1, max_depth)}" for k, v in x.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    return "[\n" + ",\n".join(inner + dumps(v, depth + 1, max_depth) for v in x) + "\n" + pad + "]"


def write(out_dir: Path, recipes: Dict[str, Dict[str, Any]], aggregates: List[Dict[str, Any]]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.glob("*.json"):
        old.unlink()
    families: Dict[str, List[Dict[str, Any]]] = {}
    for name in sorted(recipes):
        p = dict(recipes[name])
        families.setdefault(p.pop("family"), []).append(p)
    for fam, items in sorted(families.items()):
        doc = {"generated_by": "tools/gen_recipes.py (MMPose 1.3.2 configs, metafiles and model-zoo tables)",
               "recipes": items}
        if fam == "jhmdb":
            doc["aggregates"] = aggregates
        (out_dir / f"{fam}.json").write_text(dumps(doc) + "\n")
        print(f"{fam}.json: {len(items)} recipes")
    print(f"total: {len(recipes)} recipes")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default=str(ROOT.parent / "shared" / "seeds"))
    ap.add_argument("--out", default=str(ROOT / "heatpose" / "recipes"))
    args = ap.parse_args()
    recipes, aggregates = build(Path(args.seeds))
    write(Path(args.out), recipes, aggregates)


if __name__ == "__main__":
    main()
