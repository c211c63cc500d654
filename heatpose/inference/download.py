"""Fetch checkpoints and detector models into a local cache (standard library only).

``download(url)`` returns the cached file when it is already there; otherwise it fetches the
URL into ``<name>.part`` (resuming an interrupted ``.part`` with an HTTP Range request),
checks the SHA-256 prefix that MMPose / torch.hub file names carry
(``name-<8 hex>_<yyyymmdd>.pth`` or ``name-<8 hex>.pth``), fsyncs and renames it into place.
Every failure is a :class:`heatpose.errors.DownloadError` naming the URL and the exact path
where a manually fetched copy should be put.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Optional

from heatpose.errors import DownloadError
from heatpose.progress import ProgressBar

__all__ = ["cache_dir", "cached_file", "download", "hash_prefix_from_name", "sha256_of"]

_CHUNK = 1 << 16
_TIMEOUT_S = 30.0
_USER_AGENT = "heatpose-downloader/0.1 (+urllib)"
# "...-c78dce93_20200708.pth" or "...-c78dce93.pth": the last "-<hex>" before the extension.
_HASH_RE = re.compile(r"-([0-9a-f]{8,64})(?:_\d{6,8})?\.[A-Za-z0-9]+$")


def cache_dir() -> Path:
    """Folder for downloaded files: ``$HEATPOSE_HOME`` or ``~/.cache/heatpose``."""
    return Path(os.environ.get("HEATPOSE_HOME") or "~/.cache/heatpose").expanduser()


def hash_prefix_from_name(filename: str) -> Optional[str]:
    """The SHA-256 prefix embedded in an MMPose-style file name, or None if it has none."""
    match = _HASH_RE.search(filename)
    return match.group(1) if match else None


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's contents."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_url(text: str) -> bool:
    return urllib.parse.urlparse(text).scheme.lower() in ("http", "https", "ftp", "file")


def _filename_of(url: str) -> str:
    name = urllib.parse.unquote(Path(urllib.parse.urlparse(url).path).name)
    if not name:
        raise DownloadError(f"cannot tell a file name from the URL {url!r}")
    return name


def _manual_hint(url: str, dest: Path) -> str:
    return f"download {url} yourself and put the file at {dest}"


def _open(url: str, start: int):
    """urlopen with a Range header when resuming from byte ``start``."""
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if start > 0:
        request.add_header("Range", f"bytes={start}-")
    return urllib.request.urlopen(request, timeout=_TIMEOUT_S)  # noqa: S310 (user-chosen URL)


def _resume_offset(response, start: int) -> Optional[int]:
    """Where the body of ``response`` starts in the file: ``start`` for a matching 206
    Partial Content, 0 when the server sent the whole file, None when unusable."""
    status = response.getcode()
    if start == 0 or status in (None, 200):   # file:// answers have no status
        return 0
    if status == 206:
        content_range = response.headers.get("Content-Range", "")
        match = re.match(r"bytes\s+(\d+)-", content_range)
        return start if match and int(match.group(1)) == start else None
    return None


def _copy_body(response, out: IO[bytes], progress: ProgressBar) -> None:
    while True:
        block = response.read(_CHUNK)
        if not block:
            return
        out.write(block)
        progress.update(len(block))


def _fetch(url: str, part: Path, show_progress: bool) -> None:
    """Fetch ``url`` into ``part`` (resuming it if it exists); fsync; raise on a short body."""
    start = part.stat().st_size if part.exists() else 0
    try:
        response = _open(url, start)
    except urllib.error.HTTPError as err:
        if err.code != 416 or start == 0:      # 416: our .part is unusable, start over
            raise
        part.unlink()
        start = 0
        response = _open(url, 0)
    offset = _resume_offset(response, start)
    if offset is None:                         # odd partial answer: restart from scratch
        response.close()
        part.unlink(missing_ok=True)
        offset = 0
        response = _open(url, 0)
    with response:
        length = response.headers.get("Content-Length")
        total = offset + int(length) if length and length.isdigit() else None
        progress = ProgressBar(total, part.name[:-len(".part")], show_progress, unit="MB",
                               scale=1e-6, done=offset)
        with open(part, "ab" if offset else "wb") as out:
            try:
                _copy_body(response, out, progress)
            finally:
                out.flush()
                os.fsync(out.fileno())
                progress.close()
    size = part.stat().st_size
    if total is not None and size < total:
        raise ConnectionError(f"connection closed after {size} of {total} bytes")


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _check_hash(path: Path, expected: str, url: str, dest: Path) -> None:
    actual = sha256_of(path)
    if not actual.startswith(expected.lower()):
        path.unlink(missing_ok=True)
        raise DownloadError(
            f"{url} gave a file whose SHA-256 is {actual[:max(len(expected), 8)]}..., expected a "
            f"hash starting with {expected}; the corrupt download was deleted. Try again, or "
            f"{_manual_hint(url, dest)}")


def cached_file(url: str, dest_dir: Optional[Path] = None,
                expected_sha256_prefix: Optional[str] = None) -> Optional[Path]:
    """The verified cached copy of ``url`` (what :func:`download` would return without
    touching the network), or None when there is none or it fails verification."""
    dest_dir = Path(dest_dir).expanduser() if dest_dir is not None else cache_dir()
    dest = dest_dir / _filename_of(str(url))
    if not dest.is_file():
        return None
    expected = expected_sha256_prefix or hash_prefix_from_name(dest.name)
    if expected and not sha256_of(dest).startswith(expected.lower()):
        return None
    return dest


def download(url: str, dest_dir: Optional[Path] = None, progress: bool = True,
             expected_sha256_prefix: Optional[str] = None, check_hash: bool = True) -> Path:
    """Return a local path for ``url``, fetching it into ``dest_dir`` (default :func:`cache_dir`)
    unless a file of that name is already there.

    Args:
        url: ``http(s)://``, ``ftp://`` or ``file://`` URL, or a path to a local file (returned
            unchanged when it exists).
        dest_dir: folder to keep the file in.
        progress: draw a plain-text progress line on stderr.
        expected_sha256_prefix: hex prefix the file's SHA-256 must start with; by default the
            one embedded in the file name (``name-<8 hex>[_<date>].ext``), if any.
        check_hash: set False to skip the hash check entirely.

    Raises:
        DownloadError: the URL cannot be fetched (offline, HTTP error, short transfer) or the
            hash does not match; the message names the URL and where to put the file by hand.
    """
    url = str(url)
    if not _is_url(url):
        local = Path(url).expanduser()
        if local.is_file():
            return local
        raise DownloadError(f"{url} is neither a URL nor an existing file")
    dest_dir = Path(dest_dir).expanduser() if dest_dir is not None else cache_dir()
    name = _filename_of(url)
    dest = dest_dir / name
    if dest.is_file():
        return dest
    expected = expected_sha256_prefix or hash_prefix_from_name(name)
    if expected is not None and not re.fullmatch(r"[0-9a-fA-F]+", expected):
        raise DownloadError(f"expected_sha256_prefix {expected!r} for {url} is not hexadecimal")
    try:
        dest_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create the folder {dest_dir} ({err}); "
                            f"{_manual_hint(url, dest)}") from err
    part = dest_dir / (name + ".part")
    if progress:
        sys.stderr.write(f"Downloading {url} to {dest}\n")
    try:
        _fetch(url, part, progress)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"could not download {url}: HTTP {err.code} {err.reason}; "
                            f"{_manual_hint(url, dest)}") from err
    except urllib.error.URLError as err:
        raise DownloadError(f"could not download {url} ({err.reason}); are you offline? "
                            f"{_manual_hint(url, dest)}") from err
    except (OSError, ValueError, http.client.HTTPException) as err:  # timeouts, resets, short reads
        kept = (f" (the partial file {part} is kept; the next try resumes it)"
                if part.exists() and part.stat().st_size else "")
        raise DownloadError(f"could not download {url} ({type(err).__name__}: {err}){kept}; "
                            f"{_manual_hint(url, dest)}") from err
    if check_hash and expected:
        _check_hash(part, expected, url, dest)
    os.replace(part, dest)
    _fsync_dir(dest_dir)
    return dest
