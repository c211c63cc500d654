"""`heatpose demo`: runs offline with a local checkpoint; says what to do when weights are missing."""
from __future__ import annotations

import json
import urllib.error
import urllib.request

import cv2

from heatpose.cli import main


def test_demo_with_local_checkpoint(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--checkpoint", str(tiny_checkpoint), "--whole-image",
                 "--out", str(out), "--box-scores", "--line-width", "3"]) == 0
    drawn = cv2.imread(str(out / "astronaut_pose.jpg"))
    assert drawn is not None and drawn.shape == (512, 512, 3)
    recs = json.loads((out / "predictions.json").read_text())
    assert len(recs) == 1 and recs[0]["file_name"] == "astronaut.jpg"
    captured = capsys.readouterr()
    assert captured.err.startswith("heatpose demo: device cpu")     # the command run, named
    assert f"wrote        {out / 'astronaut_pose.jpg'}" in captured.out    # one photo: its name


def test_demo_without_weights_says_what_to_do(tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):               # no network: every download fails
        raise urllib.error.URLError("network is unreachable (test)")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    monkeypatch.setenv("HEATPOSE_HOME", str(tmp_path / "cache"))
    code = main(["demo", "--whole-image", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert err.splitlines()[0].startswith("heatpose demo: device ")   # first, then the note
    name = "td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth"
    line = next(x for x in err.splitlines() if x.startswith("heatpose demo: error"))
    assert f"/{name}" in line and str(tmp_path / "cache" / name) in line and "--checkpoint" in line
