"""Fetch checkpoints and detector models into a local cache (standard library only).

``download(url)`` returns the cached file when it is there and passes its checks (see
:mod:`heatpose.inference.cache_files`: hash prefix in the name, expected prefix, recorded size
and digest); otherwise it fetches the URL into ``NAME.part`` under an exclusive lock (other
processes wait, then reuse the file), checks the size the server announced and the hash, records
URL / size / SHA-256 / ETag / Last-Modified beside it, fsyncs and renames it into place.

An interrupted download is resumed (HTTP Range) only when the ``.part`` is known to belong to
the same URL and the server gave a validator (ETag or Last-Modified), sent back in ``If-Range``
so that a changed file comes back whole; anything else starts over. A wrong file at the cache
path is reported and fetched again. Every failure is a :class:`heatpose.errors.DownloadError`
naming the URL once and the exact path where a manually fetched copy should be put.
"""
from __future__ import annotations

import contextlib
import http.client
import os
import re
import sys
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import IO, Any, Dict, Optional, Tuple

from heatpose.errors import DownloadError
from heatpose.inference.cache_files import (
    LOCK_TIMEOUT_S, cache_path, check_file, file_lock, hash_prefix_from_name, meta_path,
    part_path, read_record, sha256_of, stat_stamp, write_record)
from heatpose.progress import ProgressBar

__all__ = ["cache_dir", "cached_file", "download", "hash_prefix_from_name", "sha256_of"]

_CHUNK = 1 << 16
_TIMEOUT_S = 30.0
_USER_AGENT = "heatpose-downloader/0.1 (+urllib)"


def cache_dir() -> Path:
    """Folder for downloaded files: ``$HEATPOSE_HOME`` or ``~/.cache/heatpose``."""
    return Path(os.environ.get("HEATPOSE_HOME") or "~/.cache/heatpose").expanduser()


def _is_url(text: str) -> bool:
    return urllib.parse.urlparse(text).scheme.lower() in ("http", "https", "ftp", "file")


def _folder(dest_dir: Optional[Path]) -> Path:
    return Path(dest_dir).expanduser() if dest_dir is not None else cache_dir()


def _expected(url: str, prefix: Optional[str]) -> Optional[str]:
    if prefix is not None and not re.fullmatch(r"[0-9a-fA-F]+", prefix):
        raise DownloadError(f"expected_sha256_prefix {prefix!r} for {url} is not hexadecimal")
    return prefix.lower() if prefix else None


def cached_file(url: str, dest_dir: Optional[Path] = None,
                expected_sha256_prefix: Optional[str] = None) -> Optional[Path]:
    """The cached copy of ``url`` that :func:`download` would use without touching the
    network, or None when there is none or it fails its checks (wrong hash or size, or
    recorded as coming from another URL). A file put there by hand whose name carries no
    hash cannot be checked; it is returned, as download would use it."""
    url = str(url)
    dest = cache_path(_folder(dest_dir), url)
    verdict = check_file(dest, url, _expected(url, expected_sha256_prefix))
    return dest if verdict.ok else None


def _hint(dest: Path) -> str:
    return f"put a copy of the file at {dest} to use it without downloading"


def download(url: str, dest_dir: Optional[Path] = None, progress: bool = True,
             expected_sha256_prefix: Optional[str] = None, check_hash: bool = True,
             lock_timeout: float = LOCK_TIMEOUT_S) -> Path:
    """Return a local path for ``url``, fetching it into ``dest_dir`` (default
    :func:`cache_dir`) unless a verified copy is already there.

    Args:
        url: ``http(s)://``, ``ftp://`` or ``file://`` URL, or a path to a local file (returned
            unchanged when it exists).
        dest_dir: folder to keep the file in.
        progress: draw a plain-text progress line (and notes) on stderr.
        expected_sha256_prefix: hex prefix the file's SHA-256 must start with, in addition to
            the one embedded in the file name (``name-<8 hex>[_<date>].ext``), if any.
        check_hash: set False to skip the hash checks (sizes are still checked).
        lock_timeout: seconds to wait for another process downloading the same file.

    Raises:
        DownloadError: the URL cannot be fetched (offline, HTTP error, short transfer), the
            file fails its checks, or the name would leave the cache; the message names the URL
            and where to put the file by hand.
    """
    url = str(url)
    if not _is_url(url):
        local = Path(url).expanduser()
        if local.is_file():
            return local
        raise DownloadError(f"{url} is neither a URL nor an existing file")
    folder = _folder(dest_dir)
    dest = cache_path(folder, url)
    expected = _expected(url, expected_sha256_prefix)
    verdict = check_file(dest, url, expected, check_hash=check_hash)
    if verdict.ok:
        return _use(dest, verdict, progress)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        meta_path(dest).parent.mkdir(exist_ok=True)
    except OSError as err:
        raise DownloadError(f"cannot create the folder {folder} to download {url} ({err}); "
                            f"{_hint(dest)}") from err
    with file_lock(dest, url, lock_timeout, announce=progress):
        verdict = check_file(dest, url, expected, check_hash=check_hash)
        if verdict.ok:                            # another process fetched it meanwhile
            return _use(dest, verdict, progress)
        bad = f"the cached {dest} is not the right file ({verdict.reason})" \
            if dest.exists() else None
        if bad and progress:
            sys.stderr.write(f"{bad}; downloading it again\n")
        _download_locked(url, dest, expected, check_hash, progress, bad)
    return dest


def _use(dest: Path, verdict: Any, progress: bool) -> Path:
    if progress and verdict.note:
        sys.stderr.write(f"note: {verdict.note}\n")
    return dest


def _download_locked(url: str, dest: Path, expected: Optional[str], check_hash: bool,
                     progress: bool, bad: Optional[str]) -> None:
    part = part_path(dest)
    also = f"{bad[0].upper()}{bad[1:]}; " if bad else ""
    try:
        headers = _fetch(url, dest, progress)
    except urllib.error.HTTPError as err:
        raise DownloadError(f"could not download {url}: HTTP {err.code} {err.reason}. "
                            f"{also}{_hint(dest)}") from err
    except urllib.error.URLError as err:
        raise DownloadError(f"could not download {url} ({err.reason}); are you offline? "
                            f"{also}{_hint(dest)}") from err
    except (OSError, ValueError, http.client.HTTPException) as err:  # timeouts, resets, short
        kept = (f" (the partial file {part} is kept; the next try resumes it)"
                if _resume_point(url, part, read_record(meta_path(dest, ".part.json")))[0]
                else "")
        raise DownloadError(f"could not download {url} ({type(err).__name__}: {err}){kept}. "
                            f"{also}{_hint(dest)}") from err
    digest = sha256_of(part)
    prefixes = (hash_prefix_from_name(dest.name), expected) if check_hash else ()
    for prefix in filter(None, prefixes):
        if not digest.startswith(prefix.lower()):
            part.unlink(missing_ok=True)
            meta_path(dest, ".part.json").unlink(missing_ok=True)
            raise DownloadError(
                f"{url} gave a file whose SHA-256 is {digest[:max(len(prefix), 8)]}..., "
                f"expected a hash starting with {prefix}; the corrupt download was deleted. "
                f"Try again, or {_hint(dest)}")
    record = {"url": url, "size": part.stat().st_size, "sha256": digest, **headers}
    write_record(meta_path(dest), record)          # before the rename: never a file unrecorded
    os.replace(part, dest)
    _fsync_dir(dest.parent)
    write_record(meta_path(dest), dict(record, stamp=stat_stamp(dest)))
    meta_path(dest, ".part.json").unlink(missing_ok=True)


# ----------------------------------------------------------------------------- HTTP transfer
def _validators(info: Dict[str, Any]) -> Dict[str, str]:
    """The usable If-Range validators: a strong ETag, else Last-Modified."""
    etag = info.get("etag")
    if isinstance(etag, str) and etag and not etag.startswith("W/"):
        return {"etag": etag}
    modified = info.get("last_modified")
    return {"last_modified": modified} if isinstance(modified, str) and modified else {}


def _open(url: str, start: int = 0, if_range: Optional[str] = None):
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    if start > 0:
        request.add_header("Range", f"bytes={start}-")
        if if_range:
            request.add_header("If-Range", if_range)
    return urllib.request.urlopen(request, timeout=_TIMEOUT_S)  # noqa: S310 (user-chosen URL)


def _headers_of(response) -> Dict[str, Any]:
    length = response.headers.get("Content-Length")
    return {"etag": response.headers.get("ETag"),
            "last_modified": response.headers.get("Last-Modified"),
            "length": int(length) if length and length.isdigit() else None}


def _resume_point(url: str, part: Path, info: Optional[Dict[str, Any]]) -> Tuple[int, str]:
    """Where to resume ``part`` from and the If-Range value; (0, "") = start over."""
    if not part.exists() or not info or info.get("url") != url:
        return 0, ""
    valid = _validators(info)
    size, total = part.stat().st_size, info.get("total")
    if not valid or not size or not isinstance(total, int) or size >= total:
        return 0, ""
    return size, valid.get("etag") or valid["last_modified"]


def _fetch(url: str, dest: Path, show_progress: bool) -> Dict[str, Any]:
    """Fetch ``url`` into ``NAME.part``, resuming it when that is known to be safe; fsync;
    raise on a short body. Returns the server's validators (etag, last_modified)."""
    part, info_path = part_path(dest), meta_path(dest, ".part.json")
    info = read_record(info_path)
    start, if_range = _resume_point(url, part, info)
    try:
        response = _open(url, start, if_range)
    except urllib.error.HTTPError as err:
        if err.code != 416 or not start:           # 416: the .part is no prefix of the file
            raise
        response, start = _open(url), 0
    head = _headers_of(response)
    offset = 0
    if start and response.getcode() == 206:
        match = re.match(r"bytes\s+(\d+)-\d+/(\d+)", response.headers.get("Content-Range", ""))
        if match and int(match.group(1)) == start and int(match.group(2)) == info["total"] \
                and head["etag"] in (None, info.get("etag")):
            offset = start
        else:                                      # not the file the .part came from
            response.close()
            response = _open(url)
            head = _headers_of(response)
    total = offset + head["length"] if head["length"] is not None else None
    if show_progress:        # once connected: an offline error names the URL only once
        sys.stderr.write(f"Downloading {url} to {dest}" +
                         (f" (resuming at {offset / 1e6:.1f} MB)" if offset else "") + "\n")
    if not offset:
        write_record(info_path, {"url": url, "etag": head["etag"],
                                      "last_modified": head["last_modified"], "total": total})
    with response:
        bar = ProgressBar(total, dest.name, show_progress, unit="MB",
                          scale=1e-6, done=offset)
        with open(part, "ab" if offset else "wb") as out:
            try:
                _copy_body(response, out, bar)
            finally:
                out.flush()
                os.fsync(out.fileno())
                bar.close()
    size = part.stat().st_size
    if total is not None and size != total:
        raise ConnectionError(f"connection closed after {size} of {total} bytes")
    return {"etag": head["etag"], "last_modified": head["last_modified"]}


def _copy_body(response, out: IO[bytes], progress: ProgressBar) -> None:
    while True:
        block = response.read(_CHUNK)
        if not block:
            return
        out.write(block)
        progress.update(len(block))


def _fsync_dir(folder: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
