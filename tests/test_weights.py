"""``heatpose weights list|verify|clear`` on a cache filled by download() (file:// URLs), files
put there by hand, a corrupted file, an unfinished download and a file heatpose never made."""
from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from heatpose.cli import main as cli_main
from heatpose.inference.cache_files import file_lock
from heatpose.inference.download import download

PRETRAINED = "resnet50-0676ba61.pth"          # a name the zoo's recipes use as backbone weights


def _named(folder: Path, stem: str, body: bytes, ext: str = ".pth") -> Path:
    path = folder / f"{stem}-{hashlib.sha256(body).hexdigest()[:8]}_20240101{ext}"
    path.write_bytes(body)
    return path


@pytest.fixture()
def cache(tmp_path, monkeypatch) -> Path:
    """A cache with: a download (record), a hand-placed hash-named file, a corrupted download,
    a hand-placed zoo file with wrong contents, a partial download and a foreign file."""
    home = tmp_path / "cache"
    monkeypatch.setenv("HEATPOSE_HOME", str(home))
    src = tmp_path / "src"
    src.mkdir()
    good = _named(src, "good", b"good weights" * 100)
    download(good.as_uri(), progress=False)
    plain = src / "detector.onnx"
    plain.write_bytes(b"onnx bytes" * 10)
    download(plain.as_uri(), progress=False)                    # no hash in the name: record
    broken = _named(src, "broken", b"broken weights" * 100)
    download(broken.as_uri(), progress=False)
    (home / broken.name).write_bytes(b"x" * len(broken.read_bytes()))   # corrupted in place
    _named(home, "by_hand", b"hand placed" * 10)
    (home / PRETRAINED).write_bytes(b"not resnet weights")
    (home / "partial-0123abcd.pth.part").write_bytes(b"\0" * 1000)
    (home / "notes.txt").write_text("mine")
    return home


def _run(capsys, *args: str):
    code = cli_main(["weights", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_list_shows_checks_and_owners(cache, capsys):
    code, out, _ = _run(capsys, "list", "--json")
    assert code == 0
    files = {e["name"]: e for e in json.loads(out)["files"]}
    status = {name: e["status"] for name, e in files.items()}
    by_prefix = {name.split("-")[0]: s for name, s in status.items()}
    assert by_prefix["good"] == by_prefix["by_hand"] == "verified"
    assert by_prefix["broken"] == "wrong"
    assert status["detector.onnx"] == "verified"                 # against its record
    assert status["notes.txt"] == "unverified"
    assert status[PRETRAINED] == "wrong"
    assert status["partial-0123abcd.pth.part"] == "partial"
    assert files[PRETRAINED]["url"].endswith("/" + PRETRAINED)
    assert "pretrained backbone" in files[PRETRAINED]["used_by"]
    assert files["detector.onnx"]["url"].startswith("file://")
    code, table, _ = _run(capsys)                                # plain `heatpose weights`
    assert code == 0 and "WRONG" in table and "not verified (no hash known)" in table
    assert "7 file(s)" in table and str(cache) in table


def test_verify_rehashes_and_fails_on_wrong_files(cache, capsys):
    code, out, err = _run(capsys, "verify")
    assert code == 1
    assert PRETRAINED in err and "broken-" in err and "good-" not in err
    code, out, err = _run(capsys, "verify", "good-*", "by_hand-*")
    assert code == 0 and out.count("verified") == 2
    code, _, err = _run(capsys, "verify", "nothing-like-this*")
    assert code == 2 and "nothing-like-this" in err and len(err.strip().splitlines()) == 1


def test_clear_by_name_partial_and_all(cache, capsys):
    broken = next(cache.glob("broken-*"))
    code, out, _ = _run(capsys, "clear", broken.name)
    assert code == 0 and not broken.exists()
    assert not (cache / ".meta" / (broken.name + ".json")).exists()
    code, out, _ = _run(capsys, "clear", "--partial")
    assert code == 0 and not list(cache.glob("*.part")) and next(cache.glob("good-*")).exists()
    assert list((cache / ".meta").glob("*.lock"))                # left by the downloads
    with file_lock(cache / "busy.pth", "file:///busy.pth", announce=False):
        code, out, _ = _run(capsys, "clear", "--all")            # while another one downloads
    assert code == 0
    left = sorted(p.name for p in cache.iterdir() if p.is_file())
    assert left == ["notes.txt"] and "notes.txt" in out          # never heatpose's: kept
    assert not list((cache / ".meta").glob("*.json"))
    # idle lock files go; the one a running download holds stays
    assert [p.name for p in (cache / ".meta").glob("*.lock")] == ["busy.pth.lock"]
    code, out, _ = _run(capsys, "clear", "notes.txt")            # named: removed
    assert code == 0 and not (cache / "notes.txt").exists()


def test_clear_needs_a_target_and_help_has_examples(cache, capsys):
    code, _, err = _run(capsys, "clear")
    assert code == 2 and "--all" in err and len(err.strip().splitlines()) == 1
    code, _, err = _run(capsys, "clear", "missing.pth")
    assert code == 2 and "missing.pth" in err
    code, out, _ = _run(capsys, "--help")
    assert code == 0 and "examples:" in out and "heatpose weights clear --all" in out
    assert "``" not in out and ":func:" not in out


def test_onnx_exports_are_listed_and_cleared(cache, capsys):
    """The CPU backend's ONNX exports (made again on use) show in the list and go with --all
    or by name."""
    from heatpose.inference.backends import onnx_cache_dir

    exports = onnx_cache_dir()
    exports.mkdir(parents=True)
    (exports / "tiny-0123abcd.onnx").write_bytes(b"graph" * 100)
    (exports / "other-4567abcd.onnx").write_bytes(b"graph" * 10)
    assert cli_main(["weights", "list"]) == 0
    out = capsys.readouterr().out
    assert "onnx/tiny-0123abcd.onnx" in out and "ONNX export" in out
    assert cli_main(["weights", "clear", "onnx/tiny-*"]) == 0
    assert not (exports / "tiny-0123abcd.onnx").exists()
    assert (exports / "other-4567abcd.onnx").exists()
    assert cli_main(["weights", "clear", "--all"]) == 0
    assert not list(exports.glob("*.onnx"))
