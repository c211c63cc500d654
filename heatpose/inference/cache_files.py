"""The download cache's bookkeeping: safe file names, sidecar records, verification, locks.

Layout of a cache folder (``$HEATPOSE_HOME`` or ``~/.cache/heatpose``)::

    NAME                    a downloaded file
    NAME.part               an unfinished download
    .meta/NAME.json         its record: URL, size, SHA-256, the server's ETag / Last-Modified,
                            and the file's stat stamp when it was last hashed
    .meta/NAME.part.json    what NAME.part belongs to (URL + validators), for safe resuming
    .meta/NAME.lock         the lock held while one process downloads NAME

A cached file is *verified* when its SHA-256 matches the prefix in its name (MMPose / torch hub
``name-<8 hex>[_<date>].ext``), the caller's expected prefix and the recorded digest, and its
size matches the record. Hashing happens again whenever the stat stamp (size, mtime, ctime,
inode) differs from the recorded one, so a file replaced or rewritten in any way is re-checked;
``heatpose weights verify`` always re-hashes.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import sys
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional

from heatpose.errors import DownloadError

META_DIR = ".meta"
PART_SUFFIX = ".part"
LOCK_TIMEOUT_S = 1800.0        # how long a process waits for another one's download of a file
_LOCK_POLL_S = 0.1
_MAX_NAME = 200
# "...-c78dce93_20200708.pth" or "...-c78dce93.pth": the last "-<hex>" before the extension.
_HASH_RE = re.compile(r"-([0-9a-f]{8,64})(?:_\d{6,8})?\.[A-Za-z0-9]+$")
_UNSAFE_CHARS = re.compile(r"[^A-Za-z0-9._+=,@~-]")


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


def filename_for(url: str) -> str:
    """The cache file name for ``url``: the last path segment after percent-decoding, with
    anything that could leave the folder or hide the file neutralised (separators, control
    characters and other unusual characters become ``_``; leading dots are dropped). The
    query string and fragment never take part."""
    path = urllib.parse.unquote(urllib.parse.urlparse(url).path)
    name = re.split(r"[/\\]", path)[-1]
    name = _UNSAFE_CHARS.sub("_", name).lstrip(".")
    if not name or set(name) <= {"_", "."}:
        raise DownloadError(f"cannot tell a file name from the URL {url!r}")
    if len(name) > _MAX_NAME or name.endswith(PART_SUFFIX):
        raise DownloadError(f"refusing the file name {name[:60]!r} of the URL {url!r} "
                            f"(longer than {_MAX_NAME} characters or ending in {PART_SUFFIX})")
    return name


def cache_path(folder: Path, url: str) -> Path:
    """``folder / filename_for(url)``, checked to lie directly inside ``folder``."""
    dest = folder / filename_for(url)
    if dest.parent != folder or dest.name in (".", ".."):
        raise DownloadError(f"the URL {url!r} names no file inside {folder}")
    return dest


def meta_path(dest: Path, suffix: str = ".json") -> Path:
    return dest.parent / META_DIR / (dest.name + suffix)


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + PART_SUFFIX)


def read_record(path: Path) -> Optional[Dict[str, Any]]:
    """A sidecar record (None when missing or unreadable: then nothing is known)."""
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def write_record(path: Path, record: Dict[str, Any]) -> None:
    """Write a sidecar atomically (temp file + rename)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(record, indent=1, sort_keys=True))
    os.replace(tmp, path)


def stat_stamp(path: Path) -> List[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


@dataclass
class Verdict:
    """What is known about a cached file. ``ok``: usable for the URL asked for; ``verified``:
    its contents were checked against a hash from its name, the caller or its download;
    ``reason``: one phrase for messages and listings; ``note``: something to tell the user."""

    ok: bool
    verified: bool
    reason: str
    record: Optional[Dict[str, Any]] = None
    note: Optional[str] = None


_UNCHECKABLE = "not verified (no hash known)"


def check_file(dest: Path, url: Optional[str] = None, expected: Optional[str] = None,
               full: bool = False, check_hash: bool = True) -> Verdict:
    """Check the cached ``dest`` against its name's hash prefix, ``expected`` (a hex SHA-256
    prefix), its sidecar record and (when given) the ``url`` it should come from.

    A file put there by hand with no hash anywhere cannot be checked: on its first use (``url``
    given) its digest is recorded, so that any later change is noticed. ``full``: hash even
    when the stat stamp says the file is unchanged since it was last hashed."""
    if not dest.is_file():
        return Verdict(False, False, "not downloaded")
    record = read_record(meta_path(dest))
    name_hash = hash_prefix_from_name(dest.name)
    hashes = [h.lower() for h in (name_hash, expected) if h]
    if record and isinstance(record.get("sha256"), str):
        hashes.append(record["sha256"].lower())
    if url is not None and record and record.get("url") not in (None, url) and not name_hash \
            and not expected:
        return Verdict(False, False, f"downloaded from another URL ({record.get('url')})", record)
    size = dest.stat().st_size
    if record and isinstance(record.get("size"), int) and record["size"] != size:
        return Verdict(False, False, f"{size} bytes, {record['size']} expected", record)
    if not check_hash:
        return Verdict(True, False, "not verified (hash check off)", record)
    note = None
    if not hashes:
        if url is None:                            # a listing: nothing known, nothing written
            return Verdict(True, False, _UNCHECKABLE, record)
        record = {"url": url, "first_seen": True}
        note = (f"using {dest} as it is (put there by hand, no hash to check it); its digest "
                "is recorded now, so a later change will be noticed")
    first_seen = bool(record and record.get("first_seen"))
    good = f"{_UNCHECKABLE[:-1]}; unchanged since first used)" if first_seen else "verified"
    if not full and not note and record and record.get("stamp") == stat_stamp(dest) and \
            all(record.get("sha256", "").startswith(h) for h in hashes):
        return Verdict(True, not first_seen, good, record)
    actual = sha256_of(dest)
    bad = [h for h in hashes if not actual.startswith(h)]
    if bad:
        return Verdict(False, False, f"SHA-256 {actual[:12]}... does not start with {bad[0]}",
                       record)
    record = dict(record or {}, sha256=actual, size=size, stamp=stat_stamp(dest))
    if url is not None:
        record.setdefault("url", url)
    with contextlib.suppress(OSError):            # a read-only cache is still usable
        write_record(meta_path(dest), record)
    return Verdict(True, not first_seen, good, record, note)


def cached_names(folder: Path) -> List[Path]:
    """The downloaded files in ``folder`` (not partial downloads, records or locks)."""
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and not p.name.startswith(".") and
                  not p.name.endswith(PART_SUFFIX))


def remove_idle_locks(folder: Path) -> int:
    """Delete the ``.meta/*.lock`` files no process holds (each download leaves its empty lock
    file behind); a lock held by a running download stays. Returns how many were removed."""
    try:
        import fcntl
    except ImportError:                            # Windows: file_lock makes no lock files
        return 0
    removed = 0
    for path in sorted((Path(folder) / META_DIR).glob("*.lock")):
        try:
            fd = os.open(path, os.O_RDWR)
        except OSError:
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path.unlink()                          # unlinked while held: no one else gets it
            removed += 1
        except OSError:                            # held by a download in progress
            pass
        finally:
            os.close(fd)
    return removed


@contextlib.contextmanager
def file_lock(dest: Path, url: str, timeout: float = LOCK_TIMEOUT_S,
              announce: bool = True) -> Iterator[None]:
    """Hold an exclusive lock on ``.meta/NAME.lock`` while downloading ``dest``; other
    processes (DDP ranks, parallel jobs) wait here, then find the finished file. The lock
    goes with its process, so a killed download never blocks the next one."""
    try:
        import fcntl
    except ImportError:                            # Windows: no advisory locks, no waiting
        yield
        return
    path = meta_path(dest, ".lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        start = time.monotonic()
        said = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                waited = time.monotonic() - start
                if waited >= timeout:
                    raise DownloadError(
                        f"gave up waiting {waited:.0f} s for another process downloading "
                        f"{url} to {dest} (it holds {path}); let it finish or stop it, then "
                        "try again") from None
                if announce and not said:
                    sys.stderr.write(f"waiting for another process downloading {dest.name}\n")
                    said = True
                time.sleep(_LOCK_POLL_S)
        yield
    finally:
        os.close(fd)                               # releases the lock
