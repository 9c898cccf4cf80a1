"""Content fingerprints of inputs and of the code, for lineage and the step cache.

A fingerprint is the SHA-256 of a file's bytes, or for a folder of every file's relative
path and bytes in sorted order (hidden files and ``.partial`` leftovers excluded), so two
copies of the same data anywhere have the same fingerprint. Digests of large files are
memoised per process on (path, size, mtime).
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import exprflow

__all__ = ["code_version", "fingerprint"]

_CHUNK = 1 << 20


def fingerprint(path: str | os.PathLike[str]) -> str:
    """Return the hex SHA-256 content fingerprint of a file or folder.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    """
    path = Path(path)
    if path.is_file():
        stat = path.stat()
        return _file_digest(str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: no such file or folder to fingerprint")
    digest = hashlib.sha256()
    for file in sorted(_visible_files(path)):
        digest.update(file.relative_to(path).as_posix().encode())
        digest.update(bytes.fromhex(fingerprint(file)))
    return digest.hexdigest()


def _visible_files(folder: Path) -> list[Path]:
    files = []
    for root, dirs, names in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        files += [Path(root) / n for n in names if not n.startswith(".")]
    return files


@lru_cache(maxsize=4096)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


@lru_cache(maxsize=1)
def code_version() -> str:
    """``<package version>+<digest of the package's Python sources>``.

    Unlike a git commit it changes with uncommitted edits and is the same in a container
    that has the code but no ``.git``.
    """
    package = Path(exprflow.__file__).parent
    digest = hashlib.sha256()
    for file in sorted(package.rglob("*.py")):
        digest.update(file.relative_to(package).as_posix().encode())
        digest.update(file.read_bytes())
    return f"{exprflow.__version__}+{digest.hexdigest()[:12]}"
