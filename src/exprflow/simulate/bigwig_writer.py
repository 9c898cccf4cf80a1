"""Write several binned bigWig tracks side by side, contig by contig, atomically.

The tracks of one cell type are drawn contig by contig, so their bigWigs are written
together: :func:`open_bigwigs` opens every file under a temporary name (renamed when all
are complete, removed on failure) with the same contig header, and :func:`add_dense` /
:func:`add_sparse` append one contig's bins of ``res`` bp as fixed-step or variable-step
sections. Bins are 0-based: bin ``i`` covers ``[i * res, (i + 1) * res)``, and a contig's
last bin stops at its end. Unlike :func:`exprflow.genome.bigwig.write_bigwig`, nothing
holds a whole genome's intervals in memory.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path

import numpy as np
import pyBigWig

from exprflow.atomic import atomic_path

__all__ = ["add_dense", "add_sparse", "open_bigwigs"]


@contextmanager
def open_bigwigs(
    paths: Mapping[str, Path], contigs: Mapping[str, int], max_zooms: int = 4
) -> Iterator[dict[str, pyBigWig.pyBigWig]]:
    """Open one bigWig writer per track, all with the same header.

    Parameters
    ----------
    paths : mapping of str to Path
        Track name → destination ``.bigWig``.
    contigs : mapping of str to int
        Contig name → length, in header order; entries must be added in this order.
    max_zooms : int
        Zoom levels written by pyBigWig. Default is 4.

    Yields
    ------
    dict[str, pyBigWig.pyBigWig]
        Track name → open writer; every file is closed and renamed into place on exit.
    """
    with ExitStack() as stack:
        writers = {}
        for track, path in paths.items():
            tmp = stack.enter_context(atomic_path(path))
            bw = pyBigWig.open(str(tmp), "w")
            stack.callback(bw.close)
            bw.addHeader(list(contigs.items()), maxZooms=max_zooms)
            writers[track] = bw
        yield writers


def add_dense(bw: pyBigWig.pyBigWig, chrom: str, length: int, res: int, values: np.ndarray) -> None:
    """Add one value per bin of ``chrom`` (fixed step); a partial last bin is its own interval.

    Parameters
    ----------
    bw : pyBigWig.pyBigWig
        Writer from :func:`open_bigwigs`.
    chrom : str
        Contig, the next one in header order.
    length : int
        Contig length in bp.
    res : int
        Bin size in bp.
    values : np.ndarray
        Shape ``(ceil(length / res),)``, float64.
    """
    full = length // res
    if full:
        bw.addEntries(chrom, 0, values=values[:full], span=res, step=res)
    if full < values.size:
        bw.addEntries([chrom], [full * res], ends=[length], values=[float(values[full])])


def add_sparse(
    bw: pyBigWig.pyBigWig, chrom: str, length: int, res: int, bins: np.ndarray, values: np.ndarray
) -> None:
    """Add values for some bins of ``chrom`` only (variable step).

    Parameters
    ----------
    bw : pyBigWig.pyBigWig
        Writer from :func:`open_bigwigs`.
    chrom : str
        Contig, the next one in header order.
    length : int
        Contig length in bp.
    res : int
        Bin size in bp.
    bins : np.ndarray
        Sorted, distinct bin indices, shape ``(k,)``, int.
    values : np.ndarray
        Value of each bin, shape ``(k,)``.
    """
    full = length // res
    head = bins < full
    if head.any():
        bw.addEntries(chrom, bins[head] * res, values=values[head].astype(np.float64), span=res)
    if not head.all():
        bw.addEntries([chrom], [full * res], ends=[length], values=[float(values[-1])])
