"""`heatpose demo`: runs offline with a local checkpoint; says what to do when weights are missing."""
from __future__ import annotations

import dataclasses

import cv2

import heatpose.models.zoo as zoo
from heatpose.cli import main


def test_demo_with_local_checkpoint(tiny_checkpoint, tmp_path):
    out = tmp_path / "demo"
    assert main(["demo", "--checkpoint", str(tiny_checkpoint), "--whole-image",
                 "--out", str(out)]) == 0
    drawn = cv2.imread(str(out / "astronaut_pose.jpg"))
    assert drawn is not None and drawn.shape == (512, 512, 3)
    assert (out / "predictions.json").is_file()


def test_demo_without_weights_says_what_to_do(tmp_path, monkeypatch, capsys):
    real = zoo.get_preset

    def offline_preset(name):      # the published URL, moved to a closed loopback port
        p = real(name)
        return dataclasses.replace(p, checkpoint_url="http://127.0.0.1:9/" +
                                   p.checkpoint_url.rsplit("/", 1)[1])

    monkeypatch.setattr(zoo, "get_preset", offline_preset)
    monkeypatch.setenv("HEATPOSE_HOME", str(tmp_path / "cache"))
    code = main(["demo", "--whole-image", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2
    expected = tmp_path / "cache" / "td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth"
    assert "127.0.0.1:9" in err and str(expected) in err and "--checkpoint" in err
