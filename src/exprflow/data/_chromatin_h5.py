"""The per-cell-type feature file of the chromatin dataset (``features/<eid>.h5``).

Layout (h5py; G genes in the order of that eid's rows in ``train.csv``, M marks)
-------------------------------------------------------------------------------
attrs
    ``eid``; ``marks`` (MARKS order, the marks built); ``resolutions`` [2000, 500, 100];
    ``window`` 40000; ``max_pcres`` 8.
``gene_id`` (G,) utf-8
    Unversioned gene ids.
``promoter_{r}`` (G, 40000 // r, M) float32
    ln(mean depth + 1) of TSS ± 20 kb in bins of r bp, reversed along bins for ``-``
    strand genes.
``pcre_{r}`` (G, 8, 40000 // r, M) float32
    Each pCRE binned and centred (:mod:`exprflow.data._chromatin_bins`), never flipped;
    absent pCREs zero.
``pcre_length`` (G, 8) int32, ``pcre_score`` (G, 8) float32
    bp and interaction score; 0 where absent.

Datasets are chunked and gzip-compressed; the file is written under a temporary name and
renamed when complete.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import h5py
import numpy as np

from exprflow.atomic import atomic_path
from exprflow.data.chromatin_meta import MAX_PCRES, RESOLUTIONS, WINDOW
from exprflow.errors import InputError

__all__ = [
    "FEATURES_DIR",
    "ChromatinFeatures",
    "feature_file",
    "features_path",
    "read_chromatin_features",
]

#: Sub-folder of the dataset holding one ``<eid>.h5`` per cell type.
FEATURES_DIR = "features"
_GZIP = 1


@dataclass(frozen=True)
class ChromatinFeatures:
    """One cell type's features, in memory.

    Attributes
    ----------
    eid : str
        Epigenome id.
    gene_id : numpy.ndarray
        (G,) str, the order of the eid's ``train.csv`` rows.
    marks : tuple of str
        Channel order of the last axis.
    promoter : dict of int to numpy.ndarray
        ``{r: (G, 40000 // r, M) float32}``.
    pcre : dict of int to numpy.ndarray
        ``{r: (G, 8, 40000 // r, M) float32}``.
    pcre_length : numpy.ndarray
        (G, 8) int, bp (0 = absent).
    pcre_score : numpy.ndarray
        (G, 8) float, interaction score (0 = absent).
    """

    eid: str
    gene_id: np.ndarray
    marks: tuple[str, ...]
    promoter: dict[int, np.ndarray]
    pcre: dict[int, np.ndarray]
    pcre_length: np.ndarray
    pcre_score: np.ndarray


def features_path(folder: str | os.PathLike[str], eid: str) -> Path:
    """Return ``<folder>/features/<eid>.h5``.

    Parameters
    ----------
    folder : str or PathLike
        The chromatin dataset folder.
    eid : str
        Epigenome id.

    Returns
    -------
    Path
        The feature file of ``eid``.
    """
    return Path(folder) / FEATURES_DIR / f"{eid}.h5"


@contextmanager
def feature_file(
    dest: Path, eid: str, gene_ids: Sequence[str], marks: Sequence[str]
) -> Iterator[h5py.File]:
    """Create a feature file with empty datasets; yield it open; rename it into place.

    Parameters
    ----------
    dest : Path
        ``features/<eid>.h5``.
    eid : str
        Epigenome id.
    gene_ids : sequence of str
        Rows, in ``train.csv`` order.
    marks : sequence of str
        Channels.

    Yields
    ------
    h5py.File
        Open for writing; fill rows of every dataset but ``gene_id``.
    """
    n_genes, n_marks = len(gene_ids), len(marks)
    rows = max(1, min(n_genes, 64))
    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as h5:
        h5.attrs.update(
            eid=eid,
            marks=list(marks),
            resolutions=list(RESOLUTIONS),
            window=WINDOW,
            max_pcres=MAX_PCRES,
        )
        h5.create_dataset(
            "gene_id", data=np.asarray(gene_ids, dtype=object), dtype=h5py.string_dtype()
        )
        for r in RESOLUTIONS:
            n = WINDOW // r
            _dataset(h5, f"promoter_{r}", (n_genes, n, n_marks), np.float32, (rows, n, n_marks))
            _dataset(
                h5,
                f"pcre_{r}",
                (n_genes, MAX_PCRES, n, n_marks),
                np.float32,
                (max(1, rows // 8), MAX_PCRES, n, n_marks),
            )
        _dataset(h5, "pcre_length", (n_genes, MAX_PCRES), np.int32, (rows, MAX_PCRES))
        _dataset(h5, "pcre_score", (n_genes, MAX_PCRES), np.float32, (rows, MAX_PCRES))
        yield h5


def _dataset(
    h5: h5py.File, name: str, shape: tuple[int, ...], dtype: type, chunks: tuple[int, ...]
) -> None:
    """Create a zero-filled, chunked, gzip-compressed dataset."""
    h5.create_dataset(
        name, shape=shape, dtype=dtype, chunks=chunks if shape[0] else None,
        compression="gzip", compression_opts=_GZIP, shuffle=True, fillvalue=0,
    )  # fmt: skip


def read_chromatin_features(
    folder: str | os.PathLike[str], eid: str, marks: Sequence[str] | None = None
) -> ChromatinFeatures:
    """Read one cell type's feature file.

    Parameters
    ----------
    folder : str or PathLike
        The chromatin dataset folder (holding ``features/``).
    eid : str
        Epigenome id.
    marks : sequence of str, optional
        Channels to keep, in this order; None (default): all, file order.

    Returns
    -------
    ChromatinFeatures
        Arrays in memory.

    Raises
    ------
    InputError
        When the file is missing (naming the cell types present) or lacks a mark (naming
        the marks it has).
    """
    path = features_path(folder, eid)
    if not path.is_file():
        present = sorted(p.stem for p in path.parent.glob("*.h5"))
        raise InputError(
            path,
            f"no feature file for cell type {eid}; cell types present: {present or 'none'}.",
            fix="pick one of those cell types, or rebuild the dataset with it.",
        )
    with h5py.File(path, "r") as h5:
        stored = tuple(str(m) for m in h5.attrs["marks"])
        chosen = stored if marks is None else tuple(marks)
        unknown = [m for m in chosen if m not in stored]
        if unknown or not chosen:
            raise InputError(
                path,
                f"marks {unknown or list(chosen)} are not in the file; it has {list(stored)}.",
                fix="choose marks the dataset was built with, or rebuild it with them.",
            )
        channels = [stored.index(m) for m in chosen]
        return ChromatinFeatures(
            eid=eid,
            gene_id=h5["gene_id"].asstr()[:].astype(str),
            marks=chosen,
            promoter={r: h5[f"promoter_{r}"][:][..., channels] for r in RESOLUTIONS},
            pcre={r: h5[f"pcre_{r}"][:][..., channels] for r in RESOLUTIONS},
            pcre_length=h5["pcre_length"][:],
            pcre_score=h5["pcre_score"][:],
        )
