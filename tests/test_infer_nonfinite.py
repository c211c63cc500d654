"""A model whose outputs are NaN (what a diverged run's weights give): `heatpose infer` on a
video and `heatpose track` skip those frames and name them in one line, as unreadable
frames, and write no NaN; the library call raises with every image's people attached."""
from __future__ import annotations

import json
import re

import numpy as np
import pytest

from heatpose.cli import main
from heatpose.inference.pipeline import NonFiniteOutput, Pipeline

VIDEO = "mmpose_tests/posetrack18/videos/000001_mpiinew_test/000001_mpiinew_test.mp4"
LINE = "5 frame(s) where the model gave non-finite keypoints or scores (NaN/Inf): 0-4"


@pytest.fixture(scope="module")
def nan_checkpoint(tiny_checkpoint, tmp_path_factory):
    import torch

    from heatpose.models.build import load_model, save_model

    model = load_model(tiny_checkpoint)
    with torch.no_grad():
        for p in model.head.parameters():
            p.fill_(float("nan"))
    path = tmp_path_factory.mktemp("nan") / "nan.pth"
    save_model(model, path)
    return path


@pytest.mark.parametrize("command", ["infer", "track"])
def test_video_frames_with_nan_outputs_are_skipped_and_named(command, nan_checkpoint, data_dir,
                                                             tmp_path, capsys):
    out = tmp_path / "out"
    code = main([command, str(data_dir / VIDEO), "--checkpoint", str(nan_checkpoint),
                 "--whole-image", "--no-draw", "--quiet", "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 1, err
    assert LINE in err and "5 frame(s) skipped" in err
    assert json.loads((out / "predictions.json").read_text()) == []


def test_pipeline_raises_with_every_images_people(nan_checkpoint, tiny_checkpoint):
    image = np.full((64, 48, 3), 128, np.uint8)
    pipe = Pipeline(checkpoint=nan_checkpoint, detector="whole-image", nms_thr=0.9,
                    device="cpu")
    with pytest.raises(NonFiniteOutput, match="non-finite keypoints or scores") as caught:
        pipe([image, image])
    assert caught.value.bad == [0, 1] and not caught.value.people[0].finite
    good = Pipeline(checkpoint=tiny_checkpoint, detector="whole-image", device="cpu")(image)
    assert good.finite and len(good) == 1


@pytest.mark.parametrize("command", ["infer", "track"])
def test_skipped_nan_frames_count_as_inputs(command, nan_checkpoint, data_dir, tmp_path, capsys,
                                            monkeypatch):
    """A video whose container gives no frame count: the summary's 'frames done D of N' counts
    the frames skipped for NaN outputs among the N read (as it counts unreadable ones)."""
    from heatpose.inference.media import VideoReader

    init = VideoReader.__init__

    def no_count(self, *args, **kwargs):
        init(self, *args, **kwargs)
        self.num_frames = 0

    monkeypatch.setattr(VideoReader, "__init__", no_count)
    code = main([command, str(data_dir / VIDEO), "--checkpoint", str(nan_checkpoint),
                 "--whole-image", "--no-draw", "--quiet", "--out", str(tmp_path / "out")])
    captured = capsys.readouterr()
    assert code == 1 and LINE in captured.err
    assert re.search(r"frames done\s+0 of 5\b", captured.out), captured.out
