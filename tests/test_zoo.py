"""Model zoo: every model-zoo table row is a preset with the published numbers, names resolve,
sizes are consistent, and the ``heatpose zoo`` command prints / emits JSON."""
from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path
from typing import Dict, List

import pytest

from heatpose.cli import main
from heatpose.errors import HeatposeError, UnknownModelError
from heatpose.models.zoo import (BACKBONES, SETTINGS, aggregate_results, get_preset, list_models,
                                 list_presets)

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
            row["_heading"], row["_normalized"], row["_file"] = context["results"], context["normalized"], path.name
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


# ------------------------------------------------------------------ seed tables <-> presets
def test_every_seed_row_is_a_preset_result(seed_rows):
    for row in _model_rows(seed_rows):
        preset = _preset_for_row(row)
        h, w = (int(x) for x in row["Input Size"].split("x"))
        assert preset.input_size == (w, h), (preset.name, row["Input Size"])
        setting = "det_boxes" if "detector" in row["_heading"] else "gt_boxes"
        found = [r for r in preset.results
                 if r.source == row["_file"] and r.checkpoint_url == _link(row["ckpt"])
                 and r.log_url == _link(row["log"]) and dict(r.metrics) == _seed_metrics(row)]
        assert len(found) == 1, (preset.name, row["_file"], row["_heading"], _seed_metrics(row))
        assert found[0].setting == setting, (preset.name, row["_heading"])
        if row["_normalized"]:
            assert ("torso" in found[0].note) == ("Torso" in row["_normalized"]), preset.name


def test_no_result_without_a_seed_row(seed_rows):
    assert sum(len(p.results) for p in PRESETS) == len(_model_rows(seed_rows))
    assert len(PRESETS) == 56


def test_metric_values_are_the_printed_numbers(seed_rows):
    """Values are stored as printed (percent stays percent, fractions stay fractions)."""
    df = get_preset("td-hm_res50_8xb64-210e_deepfashion_upper-256x192").results[0].metrics
    df2 = get_preset("res50_deepfashion2_sling_256x192").results[0].metrics
    assert df == {"PCK@0.2": 95.4, "AUC": 57.8, "EPE": 16.8}
    assert df2 == {"PCK@0.2": 0.94, "AUC": 0.557, "EPE": 21.6}


def test_average_rows(seed_rows):
    averages = [r for r in seed_rows if r.get("Split") == "Average"]
    aggregates = aggregate_results()
    assert len(averages) == len(aggregates) == 4
    for row in averages:
        metrics = _seed_metrics(row)
        two = "2 Deconv" in row["Arch"]
        match = [a for a in aggregates if a["metrics"] == metrics]
        assert len(match) == 1
        members = [get_preset(n) for n in match[0]["presets"]]
        assert sorted(p.split for p in members) == ["sub1", "sub2", "sub3"]
        assert all(p.num_deconv == (2 if two else 3) for p in members)
        torso = "Torso" in row["_normalized"]
        for key, value in metrics.items():      # the average of the three splits, to the printed precision
            rows = [r for p in members for r in p.results if ("torso" in r.note) == torso]
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
    assert list_models() == sorted(BY_NAME)


def test_known_aliases():
    assert get_preset("res50_coco_256x192").name == "td-hm_res50_8xb64-210e_coco-256x192"
    assert get_preset("hrnet_w48_halpe_384x288_dark_plus").dataset == "halpe"
    up = get_preset("td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_uppder-256x192")
    assert up.name == "td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_upper-256x192"
    assert get_preset("configs/top_down/resnet/jhmdb/res50_2deconv_jhmdb_sub1_256x256.py").name == \
        "td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256"
    assert get_preset("res50_coco_256x192-ec54d7f3_20200709.pth").name == "td-hm_res50_8xb64-210e_coco-256x192"


def test_unknown_name_suggests_close_matches():
    with pytest.raises(UnknownModelError) as info:
        get_preset("res50_coco_265x192")
    assert isinstance(info.value, HeatposeError) and isinstance(info.value, KeyError)
    assert "res50_coco_256x192" in str(info.value)


def test_list_models_filter():
    assert list_models("deepfashion2") == sorted(p.name for p in PRESETS if p.dataset == "deepfashion2")
    assert set(list_models("HRNET")) == {p.name for p in PRESETS if p.backbone.startswith("hrnet")}
    assert list_models("no-such-model") == []


NAME = re.compile(r"td-hm(-vis)?_(res\d+|hrnet-w\d+)(-2deconv)?(_dark|_udp)?_(\d+)xb(\d+)-(\d+)e_([a-z0-9_-]+?)"
                  r"-(\d+)x(\d+)(-merge)?$")


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_preset_consistency(preset):
    m = NAME.match(preset.name)
    assert m, preset.name
    vis, arch, two, variant, gpus, batch, epochs, _, h, w, _ = m.groups()
    assert preset.input_size == (int(w), int(h))
    assert preset.backbone in BACKBONES and preset.backbone == arch.replace("res", "resnet").replace("-", "_")
    assert (preset.num_deconv == 2) == bool(two)
    assert preset.num_deconv == (0 if arch.startswith("hrnet") else 2 if two else 3)
    assert preset.visibility_head == bool(vis)
    stride = 8 if preset.num_deconv == 2 else 4
    assert preset.heatmap_size == (preset.input_size[0] // stride, preset.input_size[1] // stride)
    assert list(preset.codec["input_size"]) == list(preset.input_size)
    assert list(preset.codec["heatmap_size"]) == list(preset.heatmap_size)
    t = preset.training
    assert (t["gpus"], t["batch_per_gpu"], t["epochs"]) == (int(gpus), int(batch), int(epochs))
    assert t["sigma"] == preset.codec["sigma"] and t["optimizer"] == "Adam"
    assert t["lr_milestones"][-1] < t["epochs"]
    if variant == "_dark":
        assert preset.codec["unbiased"] is True
    quirk = any("config quirk" in n for n in preset.notes)
    assert quirk == (variant == "_udp")                   # see test_udp_fashion_quirk
    if not quirk:
        assert preset.flip_test["shift_heatmap"] == (not preset.uses_udp)
    assert preset.flip_test["enabled"] is True
    assert all(r.setting in SETTINGS for r in preset.results)
    assert all(k for r in preset.results for k in r.metrics) and preset.key_metric in preset.results[0].metrics
    # the preset's own checkpoint is for its input size
    size_tag = f"{h}x{w}"
    assert size_tag in preset.checkpoint_url.rsplit("/", 1)[-1]
    for r in preset.results:                            # a linked checkpoint of another size is called out
        if size_tag not in r.checkpoint_url.rsplit("/", 1)[-1]:
            assert any(r.checkpoint_url.rsplit("/", 1)[-1] in n for n in preset.notes), preset.name


def test_res101_384x288_links_the_256x192_checkpoint():
    p = get_preset("td-hm_res101_8xb32-210e_coco-384x288")
    v1 = [r for r in p.results if "/v1/" in r.checkpoint_url]
    assert len(v1) == 1 and "256x192" in v1[0].checkpoint_url
    assert p.checkpoint_url.endswith("res101_coco_384x288-8c71bdc9_20200709.pth")
    assert v1[0].checkpoint_url in p.other_checkpoint_urls


def test_udp_fashion_quirk():
    """MMPose 1.3.2's hrnet-w48 '_udp' DeepFashion configs effectively run MSRA heatmaps without
    the flip shift; the presets record that and say so."""
    for part in ("upper", "lower", "full"):
        p = get_preset(f"td-hm_hrnet-w48_udp_8xb32-210e_deepfashion_{part}-256x192")
        assert p.codec["type"] == "MSRAHeatmap" and p.flip_test["shift_heatmap"] is False
        assert p.training["udp_affine"] is False and p.training["half_body"] is None


def test_shared_checkpoints():
    ochuman = [p for p in PRESETS if p.dataset == "ochuman"]
    assert len(ochuman) == 6
    for p in ochuman:
        coco = get_preset(p.checkpoint_from)
        assert coco.dataset == "coco" and coco.input_size == p.input_size and coco.backbone == p.backbone
        assert p.checkpoint_url in (coco.checkpoint_url, *coco.other_checkpoint_urls)
        assert [r.setting for r in p.results] == ["gt_boxes"]
    for p in (p for p in PRESETS if p.dataset == "posetrack18"):
        assert sorted(r.setting for r in p.results) == ["det_boxes", "gt_boxes"]
        assert {r.checkpoint_url for r in p.results} == {p.checkpoint_url}
    both = get_preset("res50_coco_256x192")                 # 1.x and 0.x tables: one preset, two results
    assert sorted(r.source[:3] for r in both.results) == ["000", "001"]


def test_zero_x_only_rows_follow_0x_conventions():
    zero = [p for p in PRESETS if p.mmpose_config is None]
    assert {p.dataset for p in zero} == {"ochuman", "mhp", "mpii_trb", "halpe"}
    for p in zero:
        t = p.training
        assert t["source"].startswith("mmpose-0.x")
        assert (t["epochs"], t["base_lr"], t["lr_milestones"]) == (210, 5e-4, [170, 200])
        assert t["warmup"] == {"type": "linear", "iters": 500, "start_factor": 0.001}
    halpe = get_preset("hrnet_w48_halpe_384x288_dark_plus")
    assert (halpe.codec["sigma"], halpe.codec["unbiased"], halpe.codec["blur_kernel_size"]) == (3, True, 17)
    assert halpe.num_keypoints == 136 and halpe.training["load_from"].endswith("dark-741844ba_20200812.pth")
    mhp = get_preset("res50_mhp_256x192")
    assert mhp.backbone == "resnet50" and any("pose_resnet_101" in n for n in mhp.notes)


def test_to_dict_is_json_and_frozen():
    p = get_preset("td-hm-vis_res50_8xb64-210e_coco-aic-256x192-merge")
    d = json.loads(json.dumps(p.to_dict()))
    assert d["codec"] == {"type": "MSRAHeatmap", "input_size": [192, 256], "heatmap_size": [48, 64],
                          "sigma": 2, "unbiased": False, "blur_kernel_size": 11}
    assert d["visibility_head"] is True and d["results"][0]["metrics"]["AP"] == 0.729
    d["training"]["epochs"] = 1                          # a copy: the preset is unchanged
    assert p.training["epochs"] == 210
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.name = "x"


# ------------------------------------------------------------------ the command
def test_cli_table(capsys):
    assert main(["zoo"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in BY_NAME)
    line = next(ln for ln in out.splitlines() if ln.startswith("td-hm_res50_8xb64-210e_coco-256x192 "))
    assert "192x256" in line and "AP 0.718" in line and "det_boxes" in line


def test_cli_json_filter(capsys):
    assert main(["zoo", "crowdpose", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert sorted(d["name"] for d in data) == list_models("crowdpose") and len(data) == 4
    assert all(d["dataset"] == "crowdpose" and d["num_keypoints"] == 14 for d in data)


def test_cli_show(capsys):
    assert main(["zoo", "show", "res101_coco_384x288.py"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("td-hm_res101_8xb32-210e_coco-384x288") and "note:" in out
    assert main(["zoo", "show", "res50_jhmdb_sub2_256x256", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["split"] == "sub2"


def test_cli_unknown(capsys):
    assert main(["zoo", "show", "res50_coco_256x191"]) == 2
    assert "res50_coco_256x192" in capsys.readouterr().err
    assert main(["zoo", "nothing-like-this"]) == 1
