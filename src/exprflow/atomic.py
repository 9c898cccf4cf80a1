"""Atomic writes: produce a file or folder under a temporary name, rename when complete.

A reader never sees a half-written output: on success the temporary path is renamed
onto the destination (``os.replace``), on failure it is removed.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_path", "temporary_sibling"]


def temporary_sibling(dest: str | os.PathLike[str]) -> Path:
    """Return an unused path beside ``dest`` (same folder, so the rename is atomic)."""
    dest = Path(dest)
    suffix = "".join(dest.suffixes)
    stem = dest.name[: len(dest.name) - len(suffix)] if suffix else dest.name
    return dest.with_name(f".{stem}.partial-{uuid.uuid4().hex[:8]}{suffix}")


@contextmanager
def atomic_path(dest: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path to write; rename it onto ``dest`` when the block succeeds.

    Works for files and for folders. The temporary name keeps ``dest``'s suffixes, so
    writers that infer the format from the extension (``.vcf.gz``, ``.bw``) still work.
    An existing ``dest`` is replaced.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(dest)
    try:
        yield tmp
        if dest.is_dir() and not dest.is_symlink():
            shutil.rmtree(dest)
        os.replace(tmp, dest)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()
