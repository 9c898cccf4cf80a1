"""ExPecto's variant-effect files: per-shift chromatin differences and closest genes.

Formats (read and written; coordinates 0-based in the files, as in the tables)
------------------------------------------------------------------------------
``<prefix>.shift_<S>.diff.h5``
    HDF5, dataset ``pred`` (2n, F) float32, alt − ref chromatin: rows 0…n−1 forward,
    n…2n−1 reverse complement (chromatin.py); the reader averages the two halves in
    float32, as predict.py does. The writer (:func:`open_diff_files`) gets
    strand-averaged differences from the chromatin plug-in, so it stores them in both
    halves: their mean, all that predict.py uses, is the averaged difference.
``*.closestgene``
    Tab-separated, no header, one row per variant, the columns of
    :data:`CLOSEST_GENE_COLUMNS`: chrom, start (0-based), end, ref, alt, gene chrom, TSS
    start (0-based), TSS end, strand, gene id, signed distance ``TSS − position``.

:func:`closest_genes` computes that table from variants and a gene table, in place of
BEDOPS ``closest-features --closest --dist`` (ExPecto's README) on the variant BED
``[p, p+1)`` and the TSS BED ``[t, t+1)``: the nearest ``|t − p|`` wins, ties go to the
left (upstream in genome coordinates) TSS, then to the first in gene-table order; the
distance is ``t − p`` whatever the strand. Contigs match through aliases (``chr1`` ↔ ``1``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Final

import h5py
import numpy as np
import pandas as pd
from numpy.typing import NDArray

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.genome.contigs import contig_aliases
from exprflow.genome.variant import Variant

__all__ = [
    "CLOSEST_GENE_COLUMNS",
    "DiffRows",
    "closest_genes",
    "open_diff_files",
    "read_chromatin_diffs",
    "read_closest_genes",
    "write_closest_genes",
]

CLOSEST_GENE_COLUMNS: Final = (
    "chrom",
    "start",
    "end",
    "ref",
    "alt",
    "gene_chrom",
    "tss_start",
    "tss_end",
    "strand",
    "gene",
    "distance",
)


def _check_pred(path: Path, pred: NDArray[np.float32], first: tuple[int, ...] | None) -> None:
    if pred.ndim != 2 or pred.shape[0] % 2:
        raise InputError(
            path,
            f"'pred' has shape {pred.shape}, expected (2·n_variants, F).",
            record="pred",
            fix="store forward rows then reverse-complement rows.",
        )
    if first is not None and (pred.shape[0] // 2, pred.shape[1]) != first:
        raise InputError(
            path,
            f"'pred' has shape {pred.shape}, other shifts have {(2 * first[0], first[1])}.",
            record="pred",
            fix="compute every shift file from the same variants.",
        )


def read_chromatin_diffs(pattern: str, shifts: Sequence[int]) -> NDArray[np.float64]:
    """Read and strand-average the ``pred`` datasets of every shift file.

    Parameters
    ----------
    pattern : str
        File name with ``SHIFT`` where the shift goes.
    shifts : sequence of int
        Shifts to read, in order.

    Returns
    -------
    numpy.ndarray
        float64, shape (n_shifts, n_variants, F).
    """
    if "SHIFT" not in pattern:
        raise ValueError(f"pattern must contain 'SHIFT', got {pattern!r}")
    diffs: list[NDArray[np.float32]] = []
    for shift in shifts:
        path = Path(pattern.replace("SHIFT", str(shift)))
        if not path.is_file():
            raise InputError(
                path,
                f"missing chromatin-difference file for shift {shift}.",
                fix=f"compute Beluga differences for every shift in {list(shifts)}.",
            )
        with h5py.File(path, "r") as h5:
            if "pred" not in h5:
                raise InputError(path, f"no dataset 'pred'; found {list(h5)}.", record="pred")
            pred = np.asarray(h5["pred"])
        _check_pred(path, pred, diffs[0].shape if diffs else None)
        half = pred.shape[0] // 2
        diffs.append((pred[:half] + pred[half:]) / 2.0)
    return np.stack(diffs).astype(np.float64)


def read_closest_genes(path: str | Path) -> pd.DataFrame:
    """Read a bedtools-closest gene file (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The ``.closestgene`` file.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CLOSEST_GENE_COLUMNS`; chrom as str, coordinates and distance int64.
    """
    path = Path(path)
    fix = (
        "give 'bedtools closest -D b' output of the variant BED (chrom, start, end, ref, alt) "
        "against the TSS BED (chrom, start, end, strand, gene id), as ExPecto's README does."
    )
    try:
        table = pd.read_csv(path, sep="\t", header=None, dtype=str, keep_default_na=False)
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError) as err:
        raise InputError(path, f"cannot read the closest-gene table: {err}.", fix=fix) from err
    if table.shape[1] != len(CLOSEST_GENE_COLUMNS):
        raise InputError(
            path,
            f"{table.shape[1]} columns, expected {len(CLOSEST_GENE_COLUMNS)}: "
            f"{', '.join(CLOSEST_GENE_COLUMNS)}.",
            record="line 1",
            fix=fix,
        )
    table.columns = list(CLOSEST_GENE_COLUMNS)
    for column in ("start", "end", "tss_start", "tss_end", "distance"):
        numbers = pd.to_numeric(table[column], errors="coerce")
        if numbers.isna().any():
            line = int(np.flatnonzero(numbers.isna())[0]) + 1
            raise InputError(path, f"{column} is not an integer.", record=f"line {line}", fix=fix)
        table[column] = numbers.astype(np.int64)
    bad = ~table["strand"].isin(["+", "-"])
    if bad.any():
        line = int(np.flatnonzero(bad)[0]) + 1
        raise InputError(
            path,
            f"strand {table['strand'][line - 1]!r} is not + or -.",
            record=f"line {line}",
            fix=fix,
        )
    return table


def _gene_source(genes: pd.DataFrame) -> str:
    """The gene table's file when recorded in ``attrs["path"]``, else a label."""
    return str(genes.attrs.get("path", "<gene table>"))


def _nearest(tss: NDArray[np.int64], pos0: int) -> int:
    """Index of the nearest of sorted TSSs; ties go left, then to the first equal TSS."""
    right = int(np.searchsorted(tss, pos0, side="left"))
    if right < len(tss) and (right == 0 or tss[right] - pos0 < pos0 - tss[right - 1]):
        return right
    return int(np.searchsorted(tss, tss[right - 1], side="left"))


def closest_genes(variants: Sequence[Variant], genes: pd.DataFrame) -> pd.DataFrame:
    """Find each variant's nearest TSS: ExPecto's closest-gene table (module docstring).

    Parameters
    ----------
    variants : sequence of Variant
        The variants.
    genes : pandas.DataFrame
        Gene table (:func:`~exprflow.genome.annotation.read_genes`): gene_id, chrom, tss
        (0-based), strand; ``attrs["path"]``, when set, names the file in errors.

    Returns
    -------
    pandas.DataFrame
        One row per variant, in order, with the columns of :data:`CLOSEST_GENE_COLUMNS`
        (chrom as the variant spells it); coordinates 0-based, ``distance = tss − pos0``.

    Raises
    ------
    InputError
        When a variant's contig has no gene.
    """
    chroms = genes["chrom"].astype(str).to_numpy()
    all_tss = genes["tss"].to_numpy(dtype=np.int64)
    by_chrom = {}  # contig → gene rows sorted by TSS (stable: table order among equals)
    for chrom in dict.fromkeys(chroms):
        rows = np.flatnonzero(chroms == chrom)
        by_chrom[chrom] = rows[np.argsort(all_tss[rows], kind="stable")]
    picks = np.empty(len(variants), dtype=np.int64)
    for i, variant in enumerate(variants):
        chrom = next((c for c in contig_aliases(variant.chrom) if c in by_chrom), None)
        if chrom is None:
            raise InputError(
                variant.source or "<variants>",
                f"no gene of {_gene_source(genes)} lies on contig {variant.chrom}.",
                record=variant.label,
                fix="give a gene table covering every contig of the VCF, or drop the variant.",
            )
        picks[i] = by_chrom[chrom][_nearest(all_tss[by_chrom[chrom]], variant.pos0)]
    chosen = genes.iloc[picks]
    pos0 = np.array([v.pos0 for v in variants], dtype=np.int64)
    tss = chosen["tss"].to_numpy(dtype=np.int64)
    table = {
        "chrom": [v.chrom for v in variants],
        "start": pos0,
        "end": pos0 + 1,
        "ref": [v.ref for v in variants],
        "alt": [v.alt for v in variants],
        "gene_chrom": chosen["chrom"].astype(str).to_numpy(),
        "tss_start": tss,
        "tss_end": tss + 1,
        "strand": chosen["strand"].astype(str).to_numpy(),
        "gene": chosen["gene_id"].astype(str).to_numpy(),
        "distance": tss - pos0,
    }
    return pd.DataFrame(table, columns=list(CLOSEST_GENE_COLUMNS))


def write_closest_genes(table: pd.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a closest-gene table in ExPecto's layout (tab-separated, no header), atomically.

    Parameters
    ----------
    table : pandas.DataFrame
        From :func:`closest_genes`.
    path : str or PathLike
        Destination, e.g. ``<prefix>.closestgene``.

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        table.to_csv(tmp, sep="\t", header=False, index=False, columns=list(CLOSEST_GENE_COLUMNS))
    return path


class DiffRows:
    """Open ``pred`` datasets of the shift files; fill them with :meth:`write`.

    Made by :func:`open_diff_files`; the datasets are created at the first write, when
    the number of chromatin features is known.
    """

    def __init__(self, files: list[h5py.File], n_variants: int) -> None:
        self.files = files
        self.n_variants = n_variants
        self.written = 0

    def write(self, start: int, diffs: NDArray[np.float32]) -> None:
        """Store the differences of variants ``start … start + n_chunk − 1`` on both halves.

        Parameters
        ----------
        start : int
            Index of the chunk's first variant.
        diffs : numpy.ndarray
            float32, shape (n_shifts, n_chunk, F), in the files' shift order.
        """
        n, stop = self.n_variants, start + diffs.shape[1]
        if diffs.shape[0] != len(self.files) or stop > n:
            raise ValueError(f"diffs {diffs.shape} do not fit {len(self.files)} shifts × {n}")
        for h5, diff in zip(self.files, diffs, strict=True):
            if "pred" not in h5:
                h5.create_dataset("pred", shape=(2 * n, diff.shape[1]), dtype=np.float32)
            h5["pred"][start:stop] = diff
            h5["pred"][n + start : n + stop] = diff
        self.written += diffs.shape[1]


@contextmanager
def open_diff_files(
    prefix: str | os.PathLike[str], shifts: Sequence[int], n_variants: int
) -> Iterator[DiffRows]:
    """Write ``<prefix>.shift_<S>.diff.h5`` for every shift: all appear at the end, or none.

    Parameters
    ----------
    prefix : str or PathLike
        File name prefix (ExPecto uses the VCF path).
    shifts : sequence of int
        Shifts, in the order of the ``diffs`` passed to :meth:`DiffRows.write`.
    n_variants : int
        Rows per half (> 0); every one must be written before the block ends.

    Yields
    ------
    DiffRows
        The writer.
    """
    if n_variants < 1:
        raise ValueError(f"n_variants must be >= 1, got {n_variants}")
    with ExitStack() as stack:
        files = [
            stack.enter_context(
                h5py.File(stack.enter_context(atomic_path(f"{prefix}.shift_{shift}.diff.h5")), "w")
            )
            for shift in shifts
        ]
        rows = DiffRows(files, n_variants)
        yield rows
        if rows.written != n_variants:
            raise ValueError(f"{rows.written} of {n_variants} variants written; files dropped")
