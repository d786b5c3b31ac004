"""Where converted model artifacts live, and how they are written so a crash never leaves a half cache.

Every artifact is a directory built in a temporary sibling, given a ``manifest.json`` listing the size
and SHA-256 of each file, then renamed into place. A load re-checks the manifest, so a truncated,
edited or partial directory is detected and rebuilt instead of failing deep inside a model loader
(checksums of files unchanged since they were last verified are not recomputed).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import platformdirs

ENV_CACHE_DIR = "GHOSTSCORE_CACHE_DIR"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
STAMP = ".verified.json"  # files whose checksum matched, with their stat, so unchanged files are not re-hashed
RACY_NS = 2_000_000_000  # trust a stamp only for files last changed this long before it was written


def cache_root(cache_dir: str | Path | None = None) -> Path:
    """Cache root: the argument, else ``$GHOSTSCORE_CACHE_DIR``, else the platform user cache dir."""
    if cache_dir:
        root = Path(cache_dir)
    elif os.environ.get(ENV_CACHE_DIR):
        root = Path(os.environ[ENV_CACHE_DIR])
    else:
        root = Path(platformdirs.user_cache_dir("ghostscore"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def file_sha256(path: Path, chunk: int = 1 << 22) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def write_manifest(directory: Path, meta: dict[str, Any]) -> None:
    """Record size and checksum of every file in ``directory`` (written last: its presence means done)."""
    files = {}
    for p in sorted(directory.rglob("*")):
        if p.is_file() and p.name != MANIFEST:
            rel = p.relative_to(directory).as_posix()
            files[rel] = {"size": p.stat().st_size, "sha256": file_sha256(p)}
    manifest = {"version": MANIFEST_VERSION, "meta": meta, "files": files, "created": time.time()}
    tmp = directory / (MANIFEST + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, sort_keys=True))
    os.replace(tmp, directory / MANIFEST)


def _stat_key(p: Path) -> list[int]:
    st = p.stat()
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _trusted_stamp(directory: Path) -> dict[str, list[int]]:
    """Files whose checksum was verified earlier and that have not changed since (same size, times and
    inode, last changed well before that check, so a rewrite within one clock tick is not missed)."""
    try:
        stamp = json.loads((directory / STAMP).read_text())
        if stamp.get("manifest") != _stat_key(directory / MANIFEST):
            return {}
        limit = int(stamp["at_ns"]) - RACY_NS
        return {rel: key for rel, key in stamp["files"].items() if key[1] < limit and key[2] < limit}
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return {}


def verify(directory: Path, meta: dict[str, Any], *, checksums: bool = True) -> bool:
    """True when ``directory`` has a manifest for ``meta`` and every listed file matches it.

    Checksums cost ~1 s per 500 MB, on every model load; a file already verified and unchanged since (see
    ``_trusted_stamp``) is not hashed again, which keeps the cold start short.
    """
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("version") != MANIFEST_VERSION or manifest.get("meta") != meta:
        return False
    files = manifest.get("files") or {}
    if not files:
        return False
    trusted = _trusted_stamp(directory) if checksums else {}
    keys = {}
    for rel, info in files.items():
        p = directory / rel
        try:
            keys[rel] = _stat_key(p)
        except OSError:
            return False
        if keys[rel][0] != info["size"]:
            return False
        if checksums and trusted.get(rel) != keys[rel] and file_sha256(p) != info["sha256"]:
            return False
    if checksums and any(trusted.get(rel) != key for rel, key in keys.items()):
        _write_stamp(directory, keys)
    return True


def _write_stamp(directory: Path, keys: dict[str, list[int]]) -> None:
    try:
        stamp = {"manifest": _stat_key(directory / MANIFEST), "at_ns": time.time_ns(), "files": keys}
        tmp = directory / f"{STAMP}.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(stamp))
        os.replace(tmp, directory / STAMP)
    except OSError:  # a read-only cache still works, it just hashes every time
        pass


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    """Serialize builders of one artifact across processes (POSIX flock; no-op elsewhere)."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        yield
        return
    lock_path = path.parent / f".{path.name}.lock"
    with open(lock_path, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_artifact(path: Path, meta: dict[str, Any], build: Callable[[Path], None]) -> Path:
    """Return ``path`` after making sure it holds a verified artifact, (re)building it atomically if not.

    ``build(tmp_dir)`` writes the files into an empty temporary directory next to ``path``.
    """
    if verify(path, meta):
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    with _build_lock(path):
        if verify(path, meta):  # another process finished it while we waited
            return path
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
        try:
            build(tmp)
            write_manifest(tmp, meta)
            if path.exists():
                old = Path(tempfile.mkdtemp(prefix=f".{path.name}.old-", dir=path.parent))
                os.replace(path, old / "x")
                shutil.rmtree(old, ignore_errors=True)
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
    return path
