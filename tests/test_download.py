"""heatpose.inference.download against a real HTTP server on 127.0.0.1 (Range, If-Range,
ETag / Last-Modified), with several processes, hostile names, corrupt caches and stale parts."""
from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from heatpose.errors import DownloadError
from heatpose.inference.cache_files import file_lock, filename_for
from heatpose.inference.download import cache_dir, cached_file, download, hash_prefix_from_name

LAST_MODIFIED = "Wed, 21 Oct 2015 07:28:00 GMT"


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; ETag = sha256 of the body and Last-Modified unless
    ``server.validators`` is False; honours ``Range: bytes=N-`` (and ``If-Range``) unless
    ``server.ignore_range``; after ``server.drop_after`` body bytes it drops the connection
    (once); ``server.delay`` seconds between 8 KiB blocks."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range"), self.headers.get("If-Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404, "not here")
            return
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
        if_range = self.headers.get("If-Range")
        if match and not srv.ignore_range and if_range in (None, etag, LAST_MODIFIED):
            start = int(match.group(1))
            if start >= len(body):
                self.send_error(416, "range not satisfiable")
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        else:
            self.send_response(200)
        chunk = body[start:]
        self.send_header("Content-Length", str(len(chunk)))
        if srv.validators:
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", LAST_MODIFIED)
        self.end_headers()
        cut = len(chunk)
        if srv.drop_after is not None:
            cut, srv.drop_after = srv.drop_after, None
        for i in range(0, cut, 8192):
            self.wfile.write(chunk[i:min(i + 8192, cut)])
            time.sleep(srv.delay)
        srv.sent.append(cut)
        if cut < len(chunk):
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.sent = {}, [], []
    srv.ignore_range, srv.drop_after, srv.validators, srv.delay = False, None, True, 0.0
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _checkpoint_bytes(seed: int = 0) -> bytes:
    gen = torch.Generator().manual_seed(seed)
    state = {"state_dict": {"head.weight": torch.randn(64, 1000, generator=gen)},
             "meta": {"schema": "coco"}}
    buf = io.BytesIO()
    torch.save(state, buf)
    return buf.getvalue()


@pytest.fixture(scope="module")
def ckpt():
    body = _checkpoint_bytes()
    prefix = hashlib.sha256(body).hexdigest()[:8]
    return f"tiny_res50-{prefix}_20240101.pth", body


def _publish(server, name: str, body: bytes) -> str:
    server.files["/models/" + name] = body
    return f"{server.base}/models/{name}"


def _gets(server, name: str):
    return [r for r in server.requests if r[0] == "/models/" + name]


# ------------------------------------------------------------------------------- basics
def test_hash_prefix_from_name():
    assert hash_prefix_from_name("td-hm_res50_8xb64-210e_coco-256x192-04af38ce_20220923.pth") \
        == "04af38ce"
    assert hash_prefix_from_name("resnet50-19c8e357.pth") == "19c8e357"
    assert hash_prefix_from_name("yolox_nano.onnx") is None
    assert hash_prefix_from_name("hrnet_coco-256x192.pth") is None


def test_cache_dir_env(monkeypatch, tmp_path):
    monkeypatch.setenv("HEATPOSE_HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "home"
    monkeypatch.delenv("HEATPOSE_HOME")
    assert cache_dir() == Path("~/.cache/heatpose").expanduser()


def test_download_success_records_and_reuses(server, ckpt, tmp_path, monkeypatch, capsys):
    name, body = ckpt
    url = _publish(server, name, body)
    monkeypatch.setenv("HEATPOSE_HOME", str(tmp_path))
    path = download(url)
    assert path == tmp_path / name and path.read_bytes() == body
    assert not (tmp_path / (name + ".part")).exists()
    record = json.loads((tmp_path / ".meta" / (name + ".json")).read_text())
    assert record["url"] == url and record["size"] == len(body)
    assert record["sha256"] == hashlib.sha256(body).hexdigest()
    assert record["etag"] and record["last_modified"] == LAST_MODIFIED
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    assert loaded["state_dict"]["head.weight"].shape == (64, 1000)
    assert "100.0%" in capsys.readouterr().err
    assert download(url) == path and cached_file(url) == path
    assert server.requests == [("/models/" + name, None, None)]       # fetched once


def test_offline_error_names_url_once_and_destination(tmp_path, capsys):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()                                   # nothing listens there now
    url = f"http://127.0.0.1:{port}/models/w-0123abcd.pth"
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path, progress=True)
    msg = str(err.value) + capsys.readouterr().err     # what the user sees, all together
    assert msg.count(url) == 1 and str(tmp_path / "w-0123abcd.pth") in msg
    assert "\n" not in msg and not (tmp_path / "w-0123abcd.pth").exists()


def test_http_404(server, tmp_path):
    url = f"{server.base}/models/missing.pth"
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        download(url, tmp_path, progress=False)
    assert str(tmp_path / "missing.pth") in str(err.value) and str(err.value).count(url) == 1


def test_file_url_and_local_path(ckpt, tmp_path):
    name, body = ckpt
    src = tmp_path / "src" / name
    src.parent.mkdir()
    src.write_bytes(body)
    got = download(src.as_uri(), tmp_path / "cache", progress=False)
    assert got == tmp_path / "cache" / name and got.read_bytes() == body
    assert download(str(src)) == src
    with pytest.raises(DownloadError, match="neither a URL nor an existing file"):
        download(str(tmp_path / "nope.pth"))


# -------------------------------------------------------------------------------- hashes
def test_hash_mismatch_deletes_download(server, ckpt, tmp_path):
    _, body = ckpt
    bad_prefix = "0" * 8 if not hashlib.sha256(body).hexdigest().startswith("0" * 8) else "1" * 8
    name = f"tiny_res50-{bad_prefix}_20240101.pth"
    url = _publish(server, name, body)
    with pytest.raises(DownloadError, match="SHA-256") as err:
        download(url, tmp_path, progress=False)
    assert str(tmp_path / name) in str(err.value) and bad_prefix in str(err.value)
    assert [p.name for p in tmp_path.iterdir() if p.name != ".meta"] == []
    assert cached_file(url, tmp_path) is None
    # check_hash=False skips the name's hash, as documented (the size is still checked)
    assert download(url, tmp_path, progress=False, check_hash=False).read_bytes() == body


def test_explicit_hash_prefix(server, ckpt, tmp_path):
    _, body = ckpt
    url = _publish(server, "model.onnx", body)
    digest = hashlib.sha256(body).hexdigest()
    wrong = "deadbeef" if not digest.startswith("deadbeef") else "beefdead"
    with pytest.raises(DownloadError, match="SHA-256"):
        download(url, tmp_path, progress=False, expected_sha256_prefix=wrong)
    assert download(url, tmp_path, progress=False, expected_sha256_prefix=digest[:12]).is_file()
    # the cached file is checked against the caller's prefix on every use
    assert cached_file(url, tmp_path, expected_sha256_prefix=wrong) is None
    with pytest.raises(DownloadError, match="SHA-256"):
        download(url, tmp_path, progress=False, expected_sha256_prefix=wrong)


# ------------------------------------------------------------------- the cache is verified
def test_corrupt_cached_file_is_detected_and_fetched_again(server, ckpt, tmp_path, capsys):
    name, body = ckpt
    url = _publish(server, name, body)
    path = download(url, tmp_path, progress=False)
    path.write_bytes(body[:100] + b"X" + body[101:])          # same size, one byte changed
    assert cached_file(url, tmp_path) is None
    assert download(url, tmp_path).read_bytes() == body
    err = capsys.readouterr().err
    assert f"the cached {path} is not the right file" in err and "SHA-256" in err
    assert len(_gets(server, name)) == 2
    path.write_bytes(body[:-10])                               # truncated
    assert cached_file(url, tmp_path) is None
    assert download(url, tmp_path, progress=False).read_bytes() == body


def test_wrong_file_without_name_hash_is_caught_by_the_record(server, tmp_path):
    """A name without a hash (e.g. yolox_nano.onnx): the sidecar's size and digest catch a
    different file put at the cache path, and an offline run reports it instead of using it."""
    body = _checkpoint_bytes(1)
    url = _publish(server, "detector.onnx", body)
    path = download(url, tmp_path, progress=False)
    other = bytearray(body)
    other[-1] ^= 0xFF
    path.write_bytes(bytes(other))
    assert cached_file(url, tmp_path) is None
    del server.files["/models/detector.onnx"]                  # the server no longer has it
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path, progress=False)
    msg = str(err.value)
    assert "not the right file" in msg and str(path) in msg and msg.count(url) == 1


def test_hand_placed_files(server, ckpt, tmp_path, capsys):
    name, body = ckpt
    url = _publish(server, name, body)
    (tmp_path / name).write_bytes(body)                        # right file, hash in the name
    assert cached_file(url, tmp_path) == tmp_path / name
    assert download(url, tmp_path) == tmp_path / name and server.requests == []
    (tmp_path / name).write_bytes(b"something else")           # wrong file, hash in the name
    assert cached_file(url, tmp_path) is None
    assert download(url, tmp_path, progress=False).read_bytes() == body
    plain = _publish(server, "plain.pth", body)                # no hash, no record: used, said
    (tmp_path / "plain.pth").write_bytes(b"hand placed")
    capsys.readouterr()
    assert download(plain, tmp_path) == tmp_path / "plain.pth"
    assert "put there by hand" in capsys.readouterr().err
    assert download(plain, tmp_path) == tmp_path / "plain.pth"   # said once; now recorded
    assert capsys.readouterr().err == "" and len(server.requests) == 1
    (tmp_path / "plain.pth").write_bytes(b"hand placed, then changed")
    assert cached_file(plain, tmp_path) is None                # the change is noticed
    assert download(plain, tmp_path, progress=False).read_bytes() == body


def test_record_from_another_url_is_not_reused(server, tmp_path):
    a, b = _checkpoint_bytes(2), _checkpoint_bytes(3)
    server.files["/one/model.pth"], server.files["/two/model.pth"] = a, b
    assert download(f"{server.base}/one/model.pth", tmp_path, progress=False).read_bytes() == a
    assert cached_file(f"{server.base}/two/model.pth", tmp_path) is None
    assert download(f"{server.base}/two/model.pth", tmp_path, progress=False).read_bytes() == b


# ---------------------------------------------------------------------- names stay inside
@pytest.mark.parametrize("path,expected", [
    ("/models/..%2F..%2Fevil.pth", "evil.pth"),
    ("/models/%2e%2e%2F%2e%2e%2Fevil.pth", "evil.pth"),
    ("/models/..%5C..%5Cevil.pth", "evil.pth"),
    ("/models/%2Ftmp%2Fevil.pth", "evil.pth"),
    ("/models/w.pth?name=../../evil.pth&x=%2F..", "w.pth"),
    ("/models/w.pth#../../evil", "w.pth"),
    ("/models/.bashrc", "bashrc"),
    ("/models/a%00b%0A.pth", "a_b_.pth"),
    ("/models/%2e%2e", None),
    ("/models/..", None),
    ("/models/", None),
    ("/models/%2F", None),
    ("/models/x.pth.part", None),
])
def test_names_cannot_leave_the_cache(path, expected, tmp_path):
    url = "http://127.0.0.1:9" + path
    if expected is None:
        with pytest.raises(DownloadError):
            filename_for(url)
        with pytest.raises(DownloadError):
            download(url, tmp_path / "cache", progress=False)
        return
    assert filename_for(url) == expected


def test_traversal_url_downloads_inside_the_cache(server, tmp_path):
    body = _checkpoint_bytes(4)
    server.files["/models/..%2F..%2Fevil.pth"] = body
    cache = tmp_path / "a" / "b" / "cache"
    got = download(f"{server.base}/models/..%2F..%2Fevil.pth", cache, progress=False)
    assert got == cache / "evil.pth" and got.read_bytes() == body
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file() and ".meta" not in p.parts) \
        == ["evil.pth"]


# ------------------------------------------------------------------------- resuming parts
def test_resume_after_interrupted_transfer(server, ckpt, tmp_path):
    name, body = ckpt
    url = _publish(server, name, body)
    cut = len(body) // 3
    server.drop_after = cut
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path, progress=False)
    msg = str(err.value)
    assert url in msg and str(tmp_path / name) in msg and "next try resumes" in msg
    part = tmp_path / (name + ".part")
    assert part.stat().st_size == cut and not (tmp_path / name).exists()

    path = download(url, tmp_path, progress=False)
    assert server.requests[-1][1] == f"bytes={cut}-" and server.requests[-1][2]  # If-Range
    assert server.sent[-1] == len(body) - cut          # only the rest travelled
    assert path.read_bytes() == body and not part.exists()


def test_no_resume_without_validators(server, ckpt, tmp_path):
    name, body = ckpt
    url = _publish(server, name, body)
    server.validators = False
    server.drop_after = len(body) // 2
    with pytest.raises(DownloadError):
        download(url, tmp_path, progress=False)
    assert download(url, tmp_path, progress=False).read_bytes() == body
    assert server.requests[-1][1] is None               # started over
    assert server.sent[-1] == len(body)


def test_file_changed_on_the_server_is_not_spliced(server, tmp_path):
    old, new = _checkpoint_bytes(5), _checkpoint_bytes(6)
    url = _publish(server, "live.pth", old)
    server.drop_after = len(old) // 2
    with pytest.raises(DownloadError):
        download(url, tmp_path, progress=False)
    server.files["/models/live.pth"] = new              # new ETag: If-Range fails
    assert download(url, tmp_path, progress=False).read_bytes() == new
    assert server.requests[-1][1] is not None and server.sent[-1] == len(new)


@pytest.mark.parametrize("stale", ["foreign", "other url", "longer"])
def test_stale_part_files_are_never_resumed_into(stale, server, ckpt, tmp_path):
    name, body = ckpt
    url = _publish(server, name, body)
    part = tmp_path / (name + ".part")
    if stale == "foreign":                               # no record of what it belongs to
        part.write_bytes(b"garbage from somewhere" * 100)
    elif stale == "other url":
        server.drop_after = 1000
        other = _publish(server, "other/" + name, body[::-1])
        with pytest.raises(DownloadError):
            download(other, tmp_path / "x", progress=False)
        (tmp_path / "x" / (name + ".part")).rename(part)
        (tmp_path / ".meta").mkdir()
        (tmp_path / "x" / ".meta" / (name + ".part.json")).rename(
            tmp_path / ".meta" / (name + ".part.json"))
    else:
        part.write_bytes(body + b"junk")
    assert download(url, tmp_path, progress=False).read_bytes() == body
    assert server.requests[-1][1] is None


def test_server_ignoring_range_restarts(server, ckpt, tmp_path):
    name, body = ckpt
    url = _publish(server, name, body)
    server.drop_after = 1000
    with pytest.raises(DownloadError):
        download(url, tmp_path, progress=False)
    server.ignore_range = True
    path = download(url, tmp_path, progress=False)
    assert server.requests[-1][1] == "bytes=1000-" and server.sent[-1] == len(body)
    assert path.read_bytes() == body


# --------------------------------------------------------------------- several processes
def _worker(url: str, folder: str, queue) -> None:
    try:
        path = download(url, Path(folder), progress=False)
        queue.put(("ok", str(path), hashlib.sha256(path.read_bytes()).hexdigest()))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        queue.put(("error", repr(exc), ""))


def test_concurrent_processes_download_once(server, ckpt, tmp_path):
    """Four processes (like DDP ranks) ask for the same file at once: one downloads, the others
    wait on the lock and reuse it."""
    name, body = ckpt
    url = _publish(server, name, body)
    server.delay = 0.01                                   # ~0.3 s transfer: they overlap
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, str(tmp_path), queue)) for _ in range(4)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    digest = hashlib.sha256(body).hexdigest()
    assert results == [("ok", str(tmp_path / name), digest)] * 4
    assert len(_gets(server, name)) == 1


def test_lock_timeout_names_the_lock(server, ckpt, tmp_path):
    name, body = ckpt
    url = _publish(server, name, body)
    dest = tmp_path / name
    with file_lock(dest, url, announce=False):
        with pytest.raises(DownloadError, match="gave up waiting") as err:
            download(url, tmp_path, progress=False, lock_timeout=0.3)
    assert str(tmp_path / ".meta" / (name + ".lock")) in str(err.value)
    assert download(url, tmp_path, progress=False).read_bytes() == body
