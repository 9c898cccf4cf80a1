"""Open plain or gzip/bgzip-compressed text files, telling the two apart by content."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import TextIO

from exprflow.errors import InputError

__all__ = ["open_text"]


def open_text(path: Path, what: str) -> TextIO:
    """Open ``path`` for reading text, decompressing it when it starts with the gzip magic.

    Parameters
    ----------
    path : Path
        The file.
    what : str
        The format expected (``"BED"``, ``"GTF"``), for the not-found error.

    Returns
    -------
    TextIO
        An open text stream; the caller closes it.
    """
    if not path.is_file():
        raise InputError(path, f"{what} file not found.", fix="check the path.")
    with open(path, "rb") as head:
        gzipped = head.read(2) == b"\x1f\x8b"
    return gzip.open(path, "rt") if gzipped else open(path)
