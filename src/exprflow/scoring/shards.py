"""Split a gene table (or any list) into contiguous chunks, one per array job; find this job's.

:func:`shard_genes` (any list: :func:`chunk_bounds`) cuts the table like ``np.array_split``
(contiguous, in table order, sizes differing by at most one), so ``num_chunks`` jobs
cover every gene exactly once. :func:`resolve_chunk_index` reads the job's chunk from the
argument or, when it is not given, from the environment of an array job:
``JOB_COMPLETION_INDEX`` (Kubernetes indexed Jobs, 0-based) or ``SLURM_ARRAY_TASK_ID``
(minus ``SLURM_ARRAY_TASK_MIN`` when set, so ``--array=1-200`` maps onto chunks 0…199).
Reads and writes no files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import pandas as pd

from exprflow.errors import InputError

__all__ = ["CHUNK_ENV", "chunk_bounds", "resolve_chunk_index", "shard_genes"]

#: Environment variables read, in order, for the chunk index of an array job.
CHUNK_ENV = ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID")


def _check_num_chunks(num_chunks: int) -> None:
    """Refuse a chunk count that is not a positive integer."""
    if isinstance(num_chunks, bool) or not isinstance(num_chunks, int) or num_chunks < 1:
        raise InputError(
            "argument num_chunks",
            f"num_chunks={num_chunks!r}; expected an integer >= 1.",
            fix="give the number of array jobs the genes are split over (1: no split).",
        )


def _from_environment(environ: Mapping[str, str]) -> tuple[str, int] | None:
    """Return ``(source, index)`` from the first array-job variable set, else None."""
    for name in CHUNK_ENV:
        text = environ.get(name, "").strip()
        if not text:
            continue
        if not text.lstrip("-").isdigit():
            raise InputError(
                f"environment variable {name}",
                f"{name}={text!r} is not an integer.",
                fix=f"unset {name}, or pass chunk_index explicitly.",
            )
        index = int(text)
        low = environ.get("SLURM_ARRAY_TASK_MIN", "").strip()
        if name == "SLURM_ARRAY_TASK_ID" and low.isdigit():
            return f"{name}={text} - SLURM_ARRAY_TASK_MIN={low}", index - int(low)
        return f"{name}={text}", index
    return None


def resolve_chunk_index(
    chunk_index: int | None, num_chunks: int, environ: Mapping[str, str] | None = None
) -> int:
    """Return this job's chunk: the argument, else the array-job environment, else 0.

    Parameters
    ----------
    chunk_index : int or None
        Explicit chunk, ``0 <= chunk_index < num_chunks``; None reads :data:`CHUNK_ENV`.
    num_chunks : int
        Number of chunks (>= 1).
    environ : mapping, optional
        Environment to read. Default None: ``os.environ``.

    Returns
    -------
    int
        The 0-based chunk index.

    Raises
    ------
    InputError
        When ``num_chunks`` is not a positive integer, the index is out of range, or
        ``num_chunks > 1`` and neither the argument nor the environment gives an index.
    """
    _check_num_chunks(num_chunks)
    source = "argument chunk_index"
    if chunk_index is None:
        found = _from_environment(os.environ if environ is None else environ)
        if found is None:
            if num_chunks == 1:
                return 0
            raise InputError(
                source,
                f"no chunk index given for num_chunks={num_chunks}, and none of "
                f"{', '.join(CHUNK_ENV)} is set.",
                fix="pass chunk_index, or run as an array job (Kubernetes indexed Job, "
                "Slurm --array).",
            )
        source, chunk_index = found
    if isinstance(chunk_index, bool) or not isinstance(chunk_index, int):
        raise InputError(source, f"chunk_index={chunk_index!r} is not an integer.")
    if not 0 <= chunk_index < num_chunks:
        raise InputError(
            source,
            f"chunk index {chunk_index} is out of range for num_chunks={num_chunks}; "
            f"expected 0 … {num_chunks - 1}.",
            fix="give a 0-based index below num_chunks (Slurm: set --array to match, or "
            "let SLURM_ARRAY_TASK_MIN offset it).",
        )
    return chunk_index


def shard_genes(genes: pd.DataFrame, num_chunks: int, chunk_index: int | None) -> pd.DataFrame:
    """Return chunk ``chunk_index`` of ``num_chunks`` contiguous chunks of a gene table.

    Parameters
    ----------
    genes : pandas.DataFrame
        Gene table, in the order to split.
    num_chunks : int
        Number of chunks (>= 1); chunks may be empty when there are fewer genes.
    chunk_index : int or None
        0-based chunk; None resolves it with :func:`resolve_chunk_index`.

    Returns
    -------
    pandas.DataFrame
        The chunk's rows, in table order, index reset.
    """
    start, stop = chunk_bounds(len(genes), num_chunks, chunk_index)
    return genes.iloc[start:stop].reset_index(drop=True)


def chunk_bounds(n_items: int, num_chunks: int, chunk_index: int | None) -> tuple[int, int]:
    """Return ``(start, stop)`` of chunk ``chunk_index`` of ``n_items`` split in ``num_chunks``.

    Contiguous, as ``np.array_split``: the first ``n_items % num_chunks`` chunks get one
    extra item. ``chunk_index`` None resolves it with :func:`resolve_chunk_index`.
    """
    index = resolve_chunk_index(chunk_index, num_chunks)
    base, extra = divmod(n_items, num_chunks)
    start = index * base + min(index, extra)
    return start, start + base + int(index < extra)
