"""A corpus of bad files through each CLI command (issue 9): a corrupt image, malformed JSON,
NaN numbers, a box outside the image, a wrong keypoint count, a truncated checkpoint.

Each case checks the exit status, that the error is one line naming the bad file (and the
record where there is one), no traceback, and that the output folder holds no half-written
file: every JSON there parses, no temporary or partial file is left."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from heatpose.cli import main

JHMDB = "td-hm_res50-2deconv_8xb64-40e_jhmdb-sub1-256x256"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory, data_dir, tiny_checkpoint):
    """name -> path of each bad file, plus good inputs to pair them with."""
    root = tmp_path_factory.mktemp("bad")
    coco = data_dir / "mmpose_tests" / "coco"
    images = root / "images"
    images.mkdir()
    for p in sorted(coco.glob("*.jpg"))[:2]:
        shutil.copy(p, images / p.name)
    first = sorted(images.glob("*.jpg"))[0]
    files = {"images": images, "image": first, "ann": coco / "test_coco.json",
             "checkpoint": tiny_checkpoint}
    corrupt = root / "corrupt.jpg"
    corrupt.write_bytes(first.read_bytes()[:200] + b"\x00" * 50)
    files["corrupt_image"] = corrupt
    mixed = root / "mixed"
    shutil.copytree(images, mixed)
    shutil.copy(corrupt, mixed / "corrupt.jpg")
    files["mixed"] = mixed
    files["mixed_corrupt"] = mixed / "corrupt.jpg"
    files["jhmdb_ann"] = data_dir / "mmpose_tests" / "jhmdb" / "test_jhmdb_sub1.json"
    bad_json = root / "bad.json"
    bad_json.write_text('[{"image_id": 785, "bbox": [1, 2,')
    files["bad_json"] = bad_json
    image_id = int(first.stem)
    nan_det = root / "nan_det.json"
    nan_det.write_text(json.dumps([{"image_id": image_id, "category_id": 1,
                                    "bbox": [10, 10, 50, 80], "score": 0.9},
                                   {"image_id": image_id, "category_id": 1,
                                    "bbox": [10, float("nan"), 50, 80], "score": 0.9}]))
    files["nan_det"] = nan_det
    outside = root / "outside_det.json"
    outside.write_text(json.dumps([{"image_id": image_id, "category_id": 1,
                                    "bbox": [-500, -500, 100, 100], "score": 0.9}]))
    files["outside_det"] = outside
    results = [{"image_id": 785, "category_id": 1, "keypoints": [10.0, 20.0, 0.9] * 17,
                "score": 0.9} for _ in range(3)]
    nan_pred = root / "nan_pred.json"
    nan_pred.write_text(json.dumps(results[:1] + [dict(results[1], score=float("nan"))]))
    files["nan_pred"] = nan_pred
    short = root / "short_pred.json"
    short.write_text(json.dumps(results[:2] + [dict(results[2], keypoints=[1.0, 2.0, 0.5] * 16)]))
    files["short_pred"] = short
    truncated = root / "truncated.pth"
    data = Path(tiny_checkpoint).read_bytes()
    truncated.write_bytes(data[:len(data) // 2])
    files["truncated_ckpt"] = truncated
    return files


# (argv template, exit status, bad file the message must name, text the message must hold)
CASES = {
    "infer: corrupt image": (["infer", "{corrupt_image}", "--checkpoint", "{checkpoint}",
                              "--whole-image"], 1, "corrupt_image", "not a readable image"),
    "infer: corrupt image among good ones": (["infer", "{mixed}", "--checkpoint", "{checkpoint}",
                                              "--whole-image"], 1, "mixed_corrupt", "skipped"),
    "infer: malformed det file": (["infer", "{images}", "--checkpoint", "{checkpoint}",
                                   "--det-file", "{bad_json}"], 2, "bad_json", ""),
    "infer: NaN in det file": (["infer", "{images}", "--checkpoint", "{checkpoint}",
                                "--det-file", "{nan_det}"], 2, "nan_det", "record 1"),
    "infer: box outside the image": (["infer", "{images}", "--checkpoint", "{checkpoint}",
                                      "--det-file", "{outside_det}"], 1, "outside_det",
                                     "record 0"),
    "infer: truncated checkpoint": (["infer", "{image}", "--checkpoint", "{truncated_ckpt}",
                                     "--whole-image"], 2, "truncated_ckpt", ""),
    "demo: corrupt image": (["demo", "--image", "{corrupt_image}", "--checkpoint",
                             "{checkpoint}", "--whole-image"], 1, "corrupt_image", ""),
    "demo: truncated checkpoint": (["demo", "--checkpoint", "{truncated_ckpt}",
                                    "--whole-image"], 2, "truncated_ckpt", ""),
    "eval: malformed annotation": (["eval", "--ann", "{bad_json}", "--pred", "{short_pred}"],
                                   2, "bad_json", ""),
    "eval: wrong keypoint count": (["eval", "--ann", "{ann}", "--pred", "{short_pred}"],
                                   2, "short_pred", "#2"),
    "eval: NaN score": (["eval", "--ann", "{ann}", "--pred", "{nan_pred}"], 2, "nan_pred",
                        "#1"),
    "test: malformed annotation": (["test", JHMDB, "--ann-file", "{bad_json}"], 2, "bad_json",
                                   ""),
    "test: wrong keypoint count": (["test", JHMDB, "--ann-file", "{ann}"], 2, "ann",
                                   "annotation id"),
    "test: truncated checkpoint": (["test", JHMDB, "--checkpoint", "{truncated_ckpt}",
                                    "--ann-file", "{jhmdb_ann}"], 2, "truncated_ckpt", ""),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_file(case, corpus, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    template, code, bad, text = CASES[case]
    argv = [a.format(**corpus) for a in template]
    out = tmp_path / "out"
    if argv[0] != "eval":
        argv += ["--out", str(out), "--quiet"] if argv[0] != "demo" else ["--out", str(out)]
    assert main(argv) == code, capsys.readouterr().err
    err = capsys.readouterr().err
    assert "Traceback" not in err
    named = [line for line in err.splitlines() if str(corpus[bad]) in line]
    assert named and all(text in line for line in named[:1]), err
    problems = [line for line in err.splitlines() if "error" in line or "skipped" in line]
    if code == 2:
        assert len(problems) == 1 and problems[0].startswith(f"heatpose {argv[0]}: error: ")
    # no half-written output: every file complete, nothing temporary
    for path in (out.rglob("*") if out.exists() else []):
        assert "tmp" not in path.name and ".part" not in path.name, path
        if path.suffix == ".json":
            json.loads(path.read_text())
    assert sorted(p.name for p in tmp_path.iterdir()) in ([], ["out"])
