"""Where converted model artifacts live, and how they are written so a crash never leaves a half cache.

Every artifact is a directory built in a temporary sibling, given a ``manifest.json`` listing the size
and SHA-256 of each file, then renamed into place. A load re-checks the manifest, so a truncated,
edited or partial directory is detected and rebuilt instead of failing deep inside a model loader.
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


def verify(directory: Path, meta: dict[str, Any], *, checksums: bool = True) -> bool:
    """True when ``directory`` has a manifest for ``meta`` and every listed file matches it."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("version") != MANIFEST_VERSION or manifest.get("meta") != meta:
        return False
    files = manifest.get("files") or {}
    if not files:
        return False
    for rel, info in files.items():
        p = directory / rel
        try:
            if p.stat().st_size != info["size"]:
                return False
        except OSError:
            return False
        if checksums and file_sha256(p) != info["sha256"]:
            return False
    return True


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
