"""heatpose.inference.download against a real HTTP server on 127.0.0.1 (with Range support)."""
from __future__ import annotations

import hashlib
import io
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from heatpose.errors import DownloadError
from heatpose.inference.download import cache_dir, download, hash_prefix_from_name


class _Handler(BaseHTTPRequestHandler):
    """Serves ``server.files``; honours ``Range: bytes=N-`` unless ``server.ignore_range``;
    after ``server.drop_after`` body bytes it drops the connection (once)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server API)
        srv = self.server
        srv.requests.append((self.path, self.headers.get("Range")))
        body = srv.files.get(self.path)
        if body is None:
            self.send_error(404, "not here")
            return
        start = 0
        rng = self.headers.get("Range")
        match = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if match and not srv.ignore_range:
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
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if srv.drop_after is not None:
            cut, srv.drop_after = srv.drop_after, None
            self.wfile.write(chunk[:cut])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            srv.sent.append(cut)
            return
        self.wfile.write(chunk)
        srv.sent.append(len(chunk))

    def log_message(self, *args) -> None:  # keep pytest output clean
        pass


@pytest.fixture()
def server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    srv.files, srv.requests, srv.sent = {}, [], []
    srv.ignore_range, srv.drop_after = False, None
    thread = threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    srv.base = f"http://127.0.0.1:{srv.server_address[1]}"
    yield srv
    srv.shutdown()
    srv.server_close()


def _checkpoint_bytes() -> bytes:
    gen = torch.Generator().manual_seed(0)
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


def test_download_success_and_default_cache(server, ckpt, tmp_path, monkeypatch, capsys):
    name, body = ckpt
    url = _publish(server, name, body)
    monkeypatch.setenv("HEATPOSE_HOME", str(tmp_path))
    path = download(url)
    assert path == tmp_path / name
    assert path.read_bytes() == body
    assert not (tmp_path / (name + ".part")).exists()
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    assert loaded["state_dict"]["head.weight"].shape == (64, 1000)
    assert "100.0%" in capsys.readouterr().err
    assert server.requests == [("/models/" + name, None)]


def test_cached_file_not_downloaded_again(server, ckpt, tmp_path):
    name, body = ckpt
    url = _publish(server, name, body)
    first = download(url, tmp_path, progress=False)
    second = download(url, tmp_path, progress=False)
    assert first == second and len(server.requests) == 1


def test_resume_after_interrupted_transfer(server, ckpt, tmp_path):
    name, body = ckpt
    url = _publish(server, name, body)
    cut = len(body) // 3
    server.drop_after = cut
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path, progress=False)
    assert url in str(err.value) and str(tmp_path / name) in str(err.value)
    part = tmp_path / (name + ".part")
    assert part.stat().st_size == cut and not (tmp_path / name).exists()

    path = download(url, tmp_path, progress=False)
    assert server.requests[-1] == ("/models/" + name, f"bytes={cut}-")
    assert server.sent[-1] == len(body) - cut          # only the rest travelled
    assert path.read_bytes() == body and not part.exists()


def test_server_ignoring_range_restarts(server, ckpt, tmp_path):
    name, body = ckpt
    url = _publish(server, name, body)
    server.ignore_range = True
    (tmp_path / (name + ".part")).write_bytes(body[:1000])
    path = download(url, tmp_path, progress=False)
    assert server.requests[-1][1] == "bytes=1000-" and server.sent[-1] == len(body)
    assert path.read_bytes() == body


def test_stale_part_larger_than_file_restarts(server, ckpt, tmp_path):
    name, body = ckpt
    url = _publish(server, name, body)
    (tmp_path / (name + ".part")).write_bytes(body + b"junk")
    assert download(url, tmp_path, progress=False).read_bytes() == body


def test_hash_mismatch_deletes_file(server, ckpt, tmp_path):
    _, body = ckpt
    bad_prefix = "0" * 8 if not hashlib.sha256(body).hexdigest().startswith("0" * 8) else "1" * 8
    name = f"tiny_res50-{bad_prefix}_20240101.pth"
    url = _publish(server, name, body)
    with pytest.raises(DownloadError, match="SHA-256") as err:
        download(url, tmp_path, progress=False)
    assert str(tmp_path / name) in str(err.value) and bad_prefix in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_explicit_hash_prefix(server, ckpt, tmp_path):
    _, body = ckpt
    url = _publish(server, "model.onnx", body)
    with pytest.raises(DownloadError, match="SHA-256"):
        download(url, tmp_path, progress=False, expected_sha256_prefix="deadbeef"
                 if not hashlib.sha256(body).hexdigest().startswith("deadbeef") else "beefdead")
    good = hashlib.sha256(body).hexdigest()[:12]
    assert download(url, tmp_path, progress=False, expected_sha256_prefix=good).is_file()


def test_offline_error_names_url_and_destination(tmp_path):
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()                                   # nothing listens there now
    url = f"http://127.0.0.1:{port}/models/w-0123abcd.pth"
    with pytest.raises(DownloadError) as err:
        download(url, tmp_path, progress=False)
    msg = str(err.value)
    assert url in msg and str(tmp_path / "w-0123abcd.pth") in msg
    assert not (tmp_path / "w-0123abcd.pth").exists()


def test_http_404(server, tmp_path):
    url = f"{server.base}/models/missing.pth"
    with pytest.raises(DownloadError, match="HTTP 404") as err:
        download(url, tmp_path, progress=False)
    assert str(tmp_path / "missing.pth") in str(err.value)


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
