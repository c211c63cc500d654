"""``heatpose eval`` through ``heatpose.cli.main``: the reference result files of metrics.json
evaluated from disk give MMPose's values; bad files fail with the file and record named."""
from __future__ import annotations

import json

import pytest

from heatpose.cli import main

SHORT = {"AP": "AP", "AP .5": "AP50", "AP .75": "AP75", "AP (M)": "APm", "AP (L)": "APl",
         "AR": "AR", "AR .5": "AR50", "AR .75": "AR75", "AR (M)": "ARm", "AR (L)": "ARl",
         "AP(E)": "AP(E)", "AP(M)": "AP(M)", "AP(H)": "AP(H)"}


@pytest.fixture(scope="module")
def runs(reference_dir):
    return {r["name"]: r for r in json.loads((reference_dir / "metrics.json").read_text())["runs"]}


@pytest.mark.parametrize("name,dataset", [("coco_det_boxes", None), ("crowdpose_gt_boxes", None),
                                          ("aic_gt_boxes", "aic"), ("halpe_gt_boxes", None)])
def test_eval_json_matches_reference(runs, data_dir, tmp_path, capsys, name, dataset):
    run = runs[name]
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(run["metric_results_json"]))
    argv = ["eval", "--ann", str(data_dir / run["ann_file"]), "--pred", str(pred), "--json"]
    if dataset:
        argv += ["--dataset", dataset]
    assert main(argv) == 0
    out = json.loads(capsys.readouterr().out)
    want = {SHORT[k.split("/", 1)[1]]: v for k, v in run["metrics"].items()}
    assert list(out) == list(want)
    for k, v in want.items():
        assert abs(out[k] - v) <= 1e-9, k


def test_eval_table(runs, data_dir, tmp_path, capsys):
    run = runs["coco_gt_boxes"]
    pred = tmp_path / "pred.json"
    pred.write_text(json.dumps(run["metric_results_json"]))
    assert main(["eval", "--ann", str(data_dir / run["ann_file"]), "--pred", str(pred)]) == 0
    text = capsys.readouterr().out
    assert "dataset: coco" in text
    assert f"AP50  {run['metrics']['coco/AP .5']:7.4f}" in text


def test_eval_bad_files(runs, data_dir, tmp_path, capsys):
    ann = data_dir / runs["coco_gt_boxes"]["ann_file"]
    missing = tmp_path / "nope.json"
    assert main(["eval", "--ann", str(ann), "--pred", str(missing)]) == 2
    assert "nope.json" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    res = list(runs["coco_gt_boxes"]["metric_results_json"])
    res[3] = dict(res[3], keypoints=res[3]["keypoints"][:-3])
    bad.write_text(json.dumps(res))
    assert main(["eval", "--ann", str(ann), "--pred", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.json" in err and "result #3" in err and "expected 51" in err
    broken = tmp_path / "broken.json"
    broken.write_text("[{")
    assert main(["eval", "--ann", str(broken), "--pred", str(bad)]) == 2
    assert "broken.json" in capsys.readouterr().err
