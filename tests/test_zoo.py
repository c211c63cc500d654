"""Recipes / model zoo: every model-zoo table row is a recipe result with the published numbers,
names resolve, sizes are consistent, product text cites MMPose documents, and ``heatpose zoo``
prints tables by dataset / emits JSON."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Dict, List

import pytest

from heatpose.cli import main
from heatpose.errors import HeatposeError, UnknownModelError
from heatpose.models.zoo import aggregate_results, get_preset, list_models, list_presets
from heatpose.recipes import RECIPE_DIR

BACKBONES = ("resnet50", "resnet101", "resnet152", "hrnet_w32", "hrnet_w48")
SETTINGS = ("gt_boxes", "det_boxes")

PRESETS = list_presets()
BY_NAME = {p.name: p for p in PRESETS}


# ------------------------------------------------------------------ an independent seed-table reader
def _cells(line: str) -> List[str]:
    return [c.strip() for c in line.strip()[1:-1].split("|")]


def read_seed_tables(path: Path) -> List[Dict]:
    """Rows of every markdown table in ``path`` as dicts: header -> cell text, plus the heading
    lines (``Results on ...`` / ``Normalized by ...``) seen above the table."""
    rows: List[Dict] = []
    context: Dict[str, str] = {"results": "", "normalized": ""}
    header = None
    for line in path.read_text(encoding="utf-8").splitlines():
        s = line.strip()
        if not s.startswith("|"):
            header = None
            if "Results on" in s:
                context = {"results": s, "normalized": ""}
            elif "Normalized by" in s:
                context["normalized"] = s
            continue
        if header is None:
            header = [re.sub(r"<sup>(\d+)</sup>", r"\1", c) for c in _cells(s)]
        elif not set(s) <= set("|:- "):
            row = dict(zip(header, _cells(s)))
            row["_heading"], row["_normalized"] = context["results"], context["normalized"]
            rows.append(row)
    return rows


def _link(cell: str):
    m = re.fullmatch(r"\[[^\]]*\]\(([^)]*)\)", cell.strip())
    return m.group(1) if m else None


@pytest.fixture(scope="module")
def seed_rows(shared_dir):
    files = sorted((shared_dir / "seeds").glob("*.txt"))
    assert files, "no seed tables found"
    rows = [r for f in files for r in read_seed_tables(f)]
    assert len(rows) > 70
    return rows


def _model_rows(rows):
    return [r for r in rows if _link(r["ckpt"])]


METRIC_COLUMNS_SKIP = {"Arch", "Input Size", "ckpt", "log", "Set", "Split"}


def _seed_metrics(row) -> Dict[str, float]:
    return {k: float(v) for k, v in row.items() if not k.startswith("_") and k not in METRIC_COLUMNS_SKIP}


def _preset_for_row(row):
    config = _link(row["Arch"]).rsplit("/", 1)[-1]
    preset = get_preset(config)
    if "OCHuman" in row["_heading"]:            # OCHuman rows link the COCO config and checkpoint
        owners = [p for p in PRESETS if p.checkpoint_from == preset.name]
        assert len(owners) == 1, config
        preset = owners[0]
    return preset


# ------------------------------------------------------------------ seed tables <-> recipes
def _table_results(preset):
    return [r for r in preset.results if r.source.startswith("MMPose 1.x model zoo")
            or r.source.startswith("MMPose 0.x model zoo")]


def test_every_seed_row_is_a_recipe_result(seed_rows):
    for row in _model_rows(seed_rows):
        preset = _preset_for_row(row)
        h, w = (int(x) for x in row["Input Size"].split("x"))
        assert preset.input_size == (w, h), (preset.name, row["Input Size"])
        setting = "det_boxes" if "detector" in row["_heading"] else "gt_boxes"
        found = [r for r in _table_results(preset) if r.checkpoint_url == _link(row["ckpt"])
                 and r.log_url == _link(row["log"]) and dict(r.metrics) == _seed_metrics(row)]
        assert len(found) == 1, (preset.name, row["_heading"], _seed_metrics(row))
        assert found[0].setting == setting, (preset.name, row["_heading"])
        assert ("configs/" in found[0].source) and found[0].source.endswith((".md",)), found[0].source
        if row["_normalized"]:
            assert ("torso" in found[0].note) == ("Torso" in row["_normalized"]), preset.name


def test_counts_and_sources(seed_rows):
    """108 MMPose 1.3.2 configs + the 11 recipes only the 0.x zoo has; every table row once, and
    every other result comes from the MMPose metafile beside the recipe's config."""
    assert len(PRESETS) == 119
    assert sum(p.mmpose_config is not None for p in PRESETS) == 108
    assert sum(len(_table_results(p)) for p in PRESETS) == len(_model_rows(seed_rows))
    for p in PRESETS:
        for r in p.results:
            if r not in _table_results(p):
                folder = p.mmpose_config.rsplit("/", 1)[0]
                assert r.source.startswith(f"MMPose 1.3.2 metafile configs/{folder}/"), r.source
                assert r.source.endswith(".yml")


def test_product_text_names_no_local_file():
    """Recipe files cite MMPose's config paths and documents, never a local seed file."""
    for path in RECIPE_DIR.glob("*.json"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"\d{3}_[0-9a-f]{16}\.txt", text), path.name
        assert "/work/" not in text and "seeds" not in text, path.name


def test_metric_values_are_the_printed_numbers(seed_rows):
    """Values are stored as printed (percent stays percent, fractions stay fractions)."""
    df = get_preset("td-hm_res50_8xb64-210e_deepfashion_upper-256x192").results
    df2 = get_preset("res50_deepfashion2_sling_256x192").results
    assert {"PCK@0.2": 95.4, "AUC": 57.8, "EPE": 16.8} in [dict(r.metrics) for r in df]
    assert {"PCK@0.2": 0.94, "AUC": 0.557, "EPE": 21.6} in [dict(r.metrics) for r in df2]


def test_average_rows(seed_rows):
    averages = [r for r in seed_rows if r.get("Split") == "Average"]
    aggregates = aggregate_results()
    assert len(averages) == len(aggregates) == 4
    for row in averages:
        metrics = _seed_metrics(row)
        two = "2 Deconv" in row["Arch"]
        match = [a for a in aggregates if a["metrics"] == metrics]
        assert len(match) == 1
        members = [get_preset(n) for n in match[0]["recipes"]]
        assert sorted(p.split for p in members) == ["sub1", "sub2", "sub3"]
        assert all(p.num_deconv == (2 if two else 3) for p in members)
        torso = "Torso" in row["_normalized"]
        for key, value in metrics.items():      # the average of the three splits, to the printed precision
            rows = [r for p in members for r in _table_results(p) if ("torso" in r.note) == torso]
            mean = sum(r.metrics[key] for r in rows) / 3
            assert abs(mean - value) <= 0.1 + 1e-9, (key, mean, value)


# ------------------------------------------------------------------ names and lookup
def test_names_and_aliases_unique_and_resolve():
    seen = {}
    for p in PRESETS:
        for key in (p.name, *p.aliases):
            assert key not in seen, (key, p.name, seen.get(key))
            seen[key] = p.name
            assert get_preset(key) is p
            assert get_preset(key + ".py") is p
            assert get_preset(f"/some/configs/dir/{key}.py") is p
        if p.mmpose_config:
            assert get_preset("configs/" + p.mmpose_config) is p
        if p.checkpoint_url and not p.checkpoint_from:
            assert get_preset(p.checkpoint_url.rsplit("/", 1)[-1]) is p
    assert list_models() == sorted(BY_NAME)


def test_known_aliases():
    assert get_preset("res50_coco_256x192").name == "td-hm_res50_8xb64-210e_coco-256x192"
    assert get_preset("hrnet_w48_halpe_384x288_dark_plus").dataset == "halpe"
    up = get_preset("td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_uppder-256x192")
    assert up.name == "td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_upper-256x192"
    assert get_preset("configs/top_down/resnet/jhmdb/res50_2deconv_jhmdb_sub1_256x256.py").name == \
        "td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256"
    assert get_preset("res50_coco_256x192-ec54d7f3_20200709.pth").name == "td-hm_res50_8xb64-210e_coco-256x192"
    assert get_preset("td-hm_hrnet-w32_8xb64-210e_coco-256x192-81c58e40_20220909.pth").name == \
        "td-hm_hrnet-w32_8xb64-210e_coco-256x192"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownModelError) as info:
        get_preset("res50_coco_265x192")
    assert isinstance(info.value, HeatposeError) and isinstance(info.value, KeyError)
    assert "res50_coco_256x192" in str(info.value)


def test_list_models_filter():
    assert list_models("deepfashion2") == sorted(p.name for p in PRESETS if p.dataset == "deepfashion2")
    assert set(list_models("HRNET")) == {p.name for p in PRESETS if p.backbone.startswith("hrnet")}
    assert list_models("no-such-model") == []


NAME = re.compile(r"td-hm(-vis)?_(res\d+|hrnet-w\d+)(-2deconv)?([_-][a-z0-9-]+?)?[_-](\d+)xb(\d+)-(\d+)e_"
                  r"([a-z0-9_-]+?)-(\d+)x(\d+)(-merge|-combine)?$")


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_recipe_consistency(preset):
    m = NAME.match(preset.name)
    assert m, preset.name
    vis, arch, two, variant, gpus, batch, epochs, _, h, w, _ = m.groups()
    variant = (variant or "")[1:]
    assert preset.input_size == (int(w), int(h))
    assert preset.backbone in BACKBONES and preset.backbone == arch.replace("res", "resnet").replace("-", "_")
    assert preset.num_deconv == (0 if arch.startswith("hrnet") else 2 if two else 3)
    assert preset.visibility_head == bool(vis)
    stride = 8 if preset.num_deconv == 2 else 4
    assert preset.heatmap_size == (preset.input_size[0] // stride, preset.input_size[1] // stride)
    assert list(preset.codec["input_size"]) == list(preset.input_size)
    t = preset.train
    assert (t.gpus, t.max_epochs) == (int(gpus), int(epochs))
    if t.batch_per_gpu != int(batch):                    # the config's own batch wins, and is noted
        assert any("batch_size" in n for n in preset.notes), preset.name
    assert t.scheduler("MultiStepLR")["milestones"][-1] < t.max_epochs
    if variant.startswith("dark"):
        assert preset.codec["unbiased"] is True
    quirk = any("config quirk" in n for n in preset.notes)
    assert quirk == (variant == "udp" and "deepfashion" in preset.name)    # see test_udp_fashion_quirk
    if not quirk:
        assert preset.uses_udp == variant.startswith("udp") == (preset.codec["type"] == "UDPHeatmap")
        assert preset.flip_test["shift_heatmap"] == (not preset.uses_udp)
    assert preset.flip_test["enabled"] is True
    assert all(r.setting in SETTINGS for r in preset.results)
    if preset.results:
        assert preset.key_result[0] is not None, preset.name
    if preset.checkpoint_url:                            # its own checkpoint is for its input size
        size_tag = f"{h}x{w}"
        assert size_tag in preset.checkpoint_url.rsplit("/", 1)[-1]
        for r in preset.results:                        # a linked checkpoint of another size is called out
            if size_tag not in r.checkpoint_url.rsplit("/", 1)[-1]:
                assert any(r.checkpoint_url.rsplit("/", 1)[-1] in n for n in preset.notes), preset.name


def test_res101_384x288_links_the_256x192_checkpoint():
    p = get_preset("td-hm_res101_8xb32-210e_coco-384x288")
    v1 = [r for r in p.results if "/v1/" in r.checkpoint_url]
    assert len(v1) == 1 and "256x192" in v1[0].checkpoint_url
    assert p.checkpoint_url.endswith("res101_coco_384x288-8c71bdc9_20200709.pth")
    assert v1[0].checkpoint_url in p.other_checkpoint_urls
    assert p.key_result[1].checkpoint_url == p.checkpoint_url


def test_udp_fashion_quirk():
    """MMPose 1.3.2's hrnet '_udp' DeepFashion configs effectively run MSRA heatmaps without the
    flip shift (the UDP codec they declare is never used); the recipes record that and say so."""
    quirky = [p for p in PRESETS if "hrnet" in p.name and "_udp_" in p.name and "deepfashion" in p.name]
    assert len(quirky) == 6
    for p in quirky:
        assert p.codec["type"] == "MSRAHeatmap" and p.flip_test["shift_heatmap"] is False
        assert p.uses_udp is False and p.train.codec["type"] == "MSRAHeatmap"
        assert p.train.step("RandomHalfBody") is None


def test_shared_checkpoints():
    ochuman = [p for p in PRESETS if p.dataset == "ochuman"]
    assert len(ochuman) == 6
    for p in ochuman:
        coco = get_preset(p.checkpoint_from)
        assert coco.dataset == "coco" and coco.input_size == p.input_size and coco.backbone == p.backbone
        assert p.checkpoint_url in (coco.checkpoint_url, *coco.other_checkpoint_urls)
        assert [r.setting for r in p.results] == ["gt_boxes"]
    for p in (p for p in PRESETS if p.dataset == "posetrack18" and p.backbone.startswith("hrnet")):
        assert sorted(r.setting for r in _table_results(p)) == ["det_boxes", "gt_boxes"]
    both = get_preset("res50_coco_256x192")                 # 1.x and 0.x tables: one recipe, two results
    assert sorted(r.source.split(":")[0] for r in both.results) == ["MMPose 0.x model zoo",
                                                                     "MMPose 1.x model zoo"]


def test_zero_x_only_rows_follow_0x_conventions():
    zero = [p for p in PRESETS if p.mmpose_config is None]
    assert {p.dataset for p in zero} == {"ochuman", "mhp", "mpii_trb", "halpe"} and len(zero) == 11
    for p in zero:
        t = p.train
        assert p.source.startswith("MMPose 0.x config configs/")
        assert (t.max_epochs, t.optimizer["lr"]) == (210, 5e-4)
        assert t.scheduler("MultiStepLR")["milestones"] == [170, 200]
        assert t.scheduler("LinearLR")["end"] == 500
    halpe = get_preset("hrnet_w48_halpe_384x288_dark_plus")
    assert (halpe.codec["sigma"], halpe.codec["unbiased"], halpe.codec["blur_kernel_size"]) == (3, True, 17)
    assert halpe.num_keypoints == 136 and halpe.train.load_from.endswith("dark-741844ba_20200812.pth")
    mhp = get_preset("res50_mhp_256x192")
    assert mhp.backbone == "resnet50" and any("pose_resnet_101" in n for n in mhp.notes)
    assert mhp.train.pretrained == "https://download.pytorch.org/models/resnet50-0676ba61.pth"


def test_to_dict_is_json_and_frozen():
    p = get_preset("td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge")
    d = json.loads(json.dumps(p.to_dict()))
    assert d["test"]["codec"] == {"type": "MSRAHeatmap", "input_size": [192, 256], "heatmap_size": [48, 64],
                                  "sigma": 2, "unbiased": False, "blur_kernel_size": 11}
    assert d["model"]["visibility_head"] is True and d["results"][0]["metrics"]["AP"] == 0.729
    d["train"]["max_epochs"] = 1                          # a copy: the recipe is unchanged
    assert p.train.max_epochs == 210 and p.training["max_epochs"] == 210
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"


# ------------------------------------------------------------------ the command
def test_cli_tables_by_dataset(capsys, tmp_path, monkeypatch):
    """Grouped by dataset, size as MMPose names it (h×w), key metric in percent, and whether the
    weights are in the cache."""
    p = get_preset("td-hm_res50_8xb64-210e_coco-256x192")
    monkeypatch.setenv("HEATPOSE_HOME", str(tmp_path))
    (tmp_path / p.checkpoint_url.rsplit("/", 1)[-1]).write_bytes(b"x")     # fails the hash check
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in BY_NAME)
    assert "COCO (33)" in out and "DeepFashion2 (13)" in out and "OCHuman (6)" in out
    line = next(ln for ln in out.splitlines() if ln.strip().startswith("td-hm_res50_8xb64-210e_coco-256x192 "))
    assert "256×192" in line and " 71.8 " in line and line.rstrip().endswith("-")
    df = next(ln for ln in out.splitlines() if "td-hm_res50_8xb64-210e_deepfashion_upper-256x192" in ln)
    assert " 95.4 " in df
    import hashlib
    from heatpose.commands import zoo as zoo_cmd
    good = "w-" + hashlib.sha256(b"weights").hexdigest()[:8] + "_20200709.pth"
    (tmp_path / good).write_bytes(b"weights")
    assert zoo_cmd.downloaded("https://example.invalid/" + good) == str(tmp_path / good)
    assert zoo_cmd.downloaded(p.checkpoint_url) is None
    monkeypatch.setattr(zoo_cmd, "downloaded", lambda url: "/x" if url == p.checkpoint_url else None)
    assert main(["zoo", "coco"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines()
                if ln.strip().startswith("td-hm_res50_8xb64-210e_coco-256x192 "))
    assert line.rstrip().endswith("downloaded")


def test_cli_json_filter(capsys):
    assert main(["zoo", "crowdpose", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(d["name"] for d in data) == list_models("crowdpose") and len(data) == 5
    assert all(d["dataset"] == "crowdpose" and d["model"]["num_keypoints"] == 14 for d in data)


def test_cli_show(capsys):
    assert main(["zoo", "show", "res101_coco_384x288.py"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("td-hm_res101_8xb32-210e_coco-384x288") and "note:" in out
    p = get_preset("res101_coco_384x288")
    assert all(f"checkpoint: {r.checkpoint_url}" in out for r in p.results)     # each result's checkpoint
    assert main(["zoo", "show", "res50_jhmdb_sub2_256x256", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "sub2"


def test_cli_unknown(capsys):
    assert main(["zoo", "show", "res50_coco_256x191"]) == 2
    assert "res50_coco_256x192" in capsys.readouterr().err
    assert main(["zoo", "nothing-like-this"]) == 1
