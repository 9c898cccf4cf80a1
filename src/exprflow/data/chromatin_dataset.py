"""The chromatin → expression dataset (Chromoformer / ChromExpress): build it, read it back.

Inputs
------
Tracks: per cell type one bigWig (or bedGraph) per histone mark,
``<tracks_dir>/<eid>/<mark>.bigWig`` (:mod:`exprflow.data._chromatin_tracks`). Genes:
``prepare``'s gene table (``gene_id`` maybe versioned, ``chrom``, ``tss`` 0-based,
``strand``). Expression: Roadmap ``57epigenomes.RPKM.pc`` layout
(:func:`exprflow.data.roadmap.read_roadmap_rpkm`; genes joined on unversioned ids,
genes without expression dropped). Interactions: pcHi-C table
(:mod:`exprflow.data._chromatin_pcres`).

Folder written (``out_dir``)
----------------------------
``train.csv``
    Chromoformer's metadata (:mod:`exprflow.data.chromatin_meta`), one row per gene ×
    cell type; per cell type, genes in genomic order (chromosomes in natural order, then
    TSS); ``label`` = RPKM >= the cell type's median over the dataset's genes; ``split``
    from :func:`exprflow.data.chromatin_folds.fold_groups`.
``features/<eid>.h5``
    Promoter and pCRE bins at 2,000 / 500 / 100 bp (:mod:`exprflow.data._chromatin_h5`).
``summary.json``
    Genes, cells, marks, fold groups, pCREs per gene, labels, seconds.

Each track is read once per mark over merged spans of the regions at 1 bp; all three
resolutions are derived from that read (:mod:`exprflow.data._chromatin_bins`).
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.data._chromatin_h5 import (
    FEATURES_DIR,
    ChromatinFeatures,
    feature_file,
    features_path,
    read_chromatin_features,
)
from exprflow.data._chromatin_pcres import NO_INTERACTIONS, Pcre, read_interactions, select_pcres
from exprflow.data._chromatin_regions import chunk_features
from exprflow.data._chromatin_tracks import TRACK_SUFFIXES, TrackSpec, open_track, track_files
from exprflow.data.chromatin_folds import fold_groups, natural_key, resolve_fold_scheme
from exprflow.data.chromatin_meta import (
    CNN_FLANK,
    MARKS,
    MAX_PCRES,
    RESOLUTIONS,
    WINDOW,
    format_intervals,
    write_chromatin_meta,
)
from exprflow.data.roadmap import read_roadmap_rpkm, strip_version
from exprflow.errors import InputError

__all__ = [
    "FEATURES_DIR",
    "NO_INTERACTIONS",
    "SUMMARY_FILE",
    "TRACK_SUFFIXES",
    "TRAIN_FILE",
    "ChromatinBuilt",
    "ChromatinFeatures",
    "build_chromatin_dataset",
    "cnn_window",
    "features_path",
    "read_chromatin_features",
]

log = logging.getLogger(__name__)

TRAIN_FILE = "train.csv"
SUMMARY_FILE = "summary.json"
_GENE_COLUMNS = ("gene_id", "chrom", "tss", "strand")


@dataclass(frozen=True)
class ChromatinBuilt:
    """What :func:`build_chromatin_dataset` wrote.

    Attributes
    ----------
    folder : Path
        Dataset folder (``train.csv``, ``features/``, ``summary.json``).
    cells : tuple of str
        Cell types, in ``train.csv`` order.
    marks : tuple of str
        Channels (MARKS order).
    n_genes : int
        Genes per cell type.
    fold_scheme : str
        ``published`` or ``cyclic``.
    groups : dict of str to int
        Fold group of each chromosome.
    pcres_per_gene : dict of str to float
        Mean pCREs per gene, per cell type.
    seconds : float
        Build time.
    """

    folder: Path
    cells: tuple[str, ...]
    marks: tuple[str, ...]
    n_genes: int
    fold_scheme: str
    groups: dict[str, int]
    pcres_per_gene: dict[str, float]
    seconds: float


def cnn_window(promoter_100: np.ndarray) -> np.ndarray:
    """Return the promoter CNN's input: TSS ± 3 kb of the 100 bp promoter bins.

    Parameters
    ----------
    promoter_100 : numpy.ndarray
        (G, 400, M) promoter bins at 100 bp (strand-flipped).

    Returns
    -------
    numpy.ndarray
        (G, 60, M), bins 170..229 (symmetric, so the same bases on either strand).
    """
    n = WINDOW // 100
    if promoter_100.ndim != 3 or promoter_100.shape[1] != n:
        raise ValueError(f"promoter_100 must be (G, {n}, M), got {promoter_100.shape}")
    flank = CNN_FLANK // 100
    return promoter_100[:, n // 2 - flank : n // 2 + flank]


def build_chromatin_dataset(
    tracks: TrackSpec,
    genes: pd.DataFrame,
    rpkm_path: str | os.PathLike[str],
    interactions_path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    cells: Sequence[str] | None = None,
    marks: Sequence[str] = MARKS,
    folds: str = "auto",
    no_interactions: str = "error",
    chunk_genes: int = 512,
) -> ChromatinBuilt:
    """Build the chromatin dataset: ``train.csv``, ``features/<eid>.h5``, ``summary.json``.

    Parameters
    ----------
    tracks : str, PathLike or mapping
        Folder ``<eid>/<mark>.bigWig`` (or ``.bedGraph[.gz]``), or ``{eid: {mark: path}}``.
    genes : pandas.DataFrame
        ``gene_id``, ``chrom``, ``tss`` (0-based), ``strand``; ``attrs["path"]`` named in
        errors if set.
    rpkm_path : str or PathLike
        Roadmap ``57epigenomes.RPKM.pc`` table.
    interactions_path : str or PathLike
        pcHi-C interaction table (world ``interactions/pchic.tsv`` layout).
    out_dir : str or PathLike
        Folder to write (created; files replaced).
    cells : sequence of str, optional
        Cell types; None (default): every epigenome of the RPKM table with tracks, sorted.
    marks : sequence of str, optional
        Histone marks (of :data:`MARKS`; stored in MARKS order). Default all seven.
    folds : {"auto", "published", "cyclic"}, optional
        Fold scheme (:func:`exprflow.data.chromatin_folds.fold_groups`). Default "auto".
    no_interactions : {"error", "allow"}, optional
        A gene without any interaction row for a cell type: raise, or give it no pCRE.
        Default "error".
    chunk_genes : int, optional
        Genes binned at once (bounds memory: ≈ 0.5 GB at 512 genes). Default 512.

    Returns
    -------
    ChromatinBuilt
        Folder, cells, marks, counts, fold groups, seconds.

    Raises
    ------
    InputError
        Before any feature is computed: unknown marks or cell types, a cell type without
        a mark's track, bad gene table, no gene with expression, a chromosome in no fold
        (``published``), a gene without interactions (``error``); while reading: a
        contig missing from a bigWig.
    """
    start = time.perf_counter()
    out = Path(out_dir)
    marks = _marks(marks)
    rpkm = read_roadmap_rpkm(Path(rpkm_path))
    cells = _cells(cells, rpkm, tracks, rpkm_path)
    files = track_files(tracks, cells, marks)
    table = _gene_table(genes, rpkm)
    source = genes.attrs.get("path", "gene table")
    scheme = resolve_fold_scheme(table["chrom"], folds, source=source)
    groups = fold_groups(table["chrom"], scheme, source=source)
    interactions = read_interactions(interactions_path)
    pcres = {
        eid: select_pcres(
            interactions, eid, table["gene"].tolist(), no_interactions=no_interactions
        )
        for eid in cells
    }
    meta = pd.concat([_meta(table, rpkm[eid], eid, groups, pcres[eid]) for eid in cells])
    for eid in cells:
        _write_features(features_path(out, eid), table, pcres[eid], files[eid], eid, chunk_genes)
    write_chromatin_meta(meta, out / TRAIN_FILE)
    seconds = time.perf_counter() - start
    summary = _summary(meta, cells, marks, scheme, groups, seconds)
    with atomic_path(out / SUMMARY_FILE) as tmp:
        tmp.write_text(json.dumps(summary, indent=1))
    log.info("chromatin dataset: %d genes × %d cells in %.1f s", len(table), len(cells), seconds)
    return ChromatinBuilt(
        folder=out,
        cells=tuple(cells),
        marks=marks,
        n_genes=len(table),
        fold_scheme=scheme,
        groups=groups,
        pcres_per_gene={eid: v["mean"] for eid, v in summary["pcres_per_gene"].items()},
        seconds=seconds,
    )


def _marks(marks: Sequence[str]) -> tuple[str, ...]:
    """The marks in MARKS order; raise on unknown or none."""
    unknown = [m for m in marks if m not in MARKS]
    if unknown or not marks:
        raise InputError(
            "chromatin_marks",
            f"marks {unknown or list(marks)} are not histone marks of the dataset.",
            fix=f"choose one or more of {', '.join(MARKS)}.",
        )
    return tuple(m for m in MARKS if m in marks)


def _cells(
    cells: Sequence[str] | None,
    rpkm: pd.DataFrame,
    tracks: TrackSpec,
    rpkm_path: str | os.PathLike[str],
) -> list[str]:
    """The cell types: given ones (checked against the RPKM table) or those with tracks."""
    if cells is not None:
        absent = [eid for eid in cells if eid not in rpkm.columns]
        if absent or not cells:
            raise InputError(
                rpkm_path,
                f"cell types {absent or list(cells)} have no expression column; "
                f"it has {list(rpkm.columns)}.",
                fix="choose cell types of the RPKM table.",
            )
        return list(cells)
    if isinstance(tracks, Mapping):
        with_tracks = [eid for eid in rpkm.columns if eid in tracks]
    else:
        with_tracks = [eid for eid in rpkm.columns if (Path(tracks) / eid).is_dir()]
    if not with_tracks:
        raise InputError(
            "tracks" if isinstance(tracks, Mapping) else tracks,
            f"no cell type of the RPKM table ({list(rpkm.columns)}) has tracks.",
            fix="give <tracks>/<eid>/<mark>.bigWig for the table's epigenomes.",
        )
    return sorted(with_tracks)


def _gene_table(genes: pd.DataFrame, rpkm: pd.DataFrame) -> pd.DataFrame:
    """Genes with expression, unversioned ids in ``gene``, in genomic order."""
    source = genes.attrs.get("path", "gene table")
    missing = [c for c in _GENE_COLUMNS if c not in genes.columns]
    if missing:
        raise InputError(source, f"lacks columns {missing}.", fix="give prepare's genes.tsv.")
    table = genes[list(_GENE_COLUMNS)].assign(gene=strip_version(genes["gene_id"]))
    table = table.astype({"chrom": str, "strand": str}).astype({"tss": np.int64})
    bad = ~table["strand"].isin(["+", "-"]) | (table["tss"] < 0)
    repeated = table["gene"].duplicated()
    if bad.any() or repeated.any():
        row = table.loc[bad | repeated].iloc[0]
        raise InputError(
            source,
            f"gene {row['gene_id']} is repeated (versions ignored), or its strand "
            f"{row['strand']!r} is not +/- or its TSS {row['tss']} is negative.",
            record=str(row["gene_id"]),
            fix="give one row per gene with strand + or - and a 0-based TSS.",
        )
    expressed = table["gene"].isin(rpkm.index)
    if not expressed.any():
        raise InputError(
            rpkm.attrs.get("path", "RPKM table"),
            "no gene of the gene table has expression (ids compared without version).",
            fix="give the RPKM table of the same annotation.",
        )
    if not expressed.all():
        log.warning("%d genes without expression dropped", int((~expressed).sum()))
    table = table.loc[expressed]
    keys = zip(map(natural_key, table["chrom"]), table["tss"], table["gene"], strict=True)
    order = sorted(range(len(table)), key=list(keys).__getitem__)
    return table.iloc[order].reset_index(drop=True)


def _meta(
    table: pd.DataFrame,
    rpkm: pd.Series,
    eid: str,
    groups: dict[str, int],
    pcres: dict[str, list[Pcre]],
) -> pd.DataFrame:
    """One cell type's ``train.csv`` rows."""
    expression = rpkm.loc[table["gene"]].to_numpy(np.float64)
    chosen = [pcres[gene] for gene in table["gene"]]
    return pd.DataFrame(
        {
            "gene_id": table["gene"].to_numpy(),
            "expression": expression,
            "eid": eid,
            "label": (expression >= np.median(expression)).astype(np.int64),
            "chrom": table["chrom"].to_numpy(),
            "start": table["tss"].to_numpy(),
            "end": table["tss"].to_numpy() + 1,
            "strand": table["strand"].to_numpy(),
            "split": table["chrom"].map(groups).to_numpy(np.int64),
            "neighbors": [format_intervals([p[:3] for p in c]) for c in chosen],
            "scores": [";".join(str(p[3]) for p in c) for c in chosen],
        }
    )


def _write_features(
    dest: Path,
    table: pd.DataFrame,
    pcres: dict[str, list[Pcre]],
    files: dict[str, Path],
    eid: str,
    chunk_genes: int,
) -> None:
    """Bin every gene's promoter and pCREs for one cell type and write ``dest``."""
    marks = tuple(files)
    tracks = {mark: open_track(path) for mark, path in files.items()}
    try:
        with feature_file(dest, eid, table["gene"].tolist(), marks) as h5:
            for lo in range(0, len(table), chunk_genes):
                rows = table.iloc[lo : lo + chunk_genes]
                chunk = chunk_features(rows, [pcres[g] for g in rows["gene"]], tracks)
                hi = lo + len(rows)
                for name, values in chunk.items():
                    h5[name][lo:hi] = values
    finally:
        for track in tracks.values():
            track.close()


def _summary(
    meta: pd.DataFrame,
    cells: Sequence[str],
    marks: Sequence[str],
    scheme: str,
    groups: dict[str, int],
    seconds: float,
) -> dict:
    """The JSON summary of the dataset."""
    counts = meta["neighbors"].map(lambda s: s.count(";") + 1 if s else 0)
    per_cell = counts.groupby(meta["eid"].to_numpy())
    first = meta.loc[meta["eid"] == cells[0]]
    return {
        "genes": len(first),
        "cells": list(cells),
        "marks": list(marks),
        "resolutions": list(RESOLUTIONS),
        "window": WINDOW,
        "max_pcres": MAX_PCRES,
        "fold_scheme": scheme,
        "fold_groups": groups,
        "genes_per_fold": {
            int(k): int(v) for k, v in first["split"].value_counts().sort_index().items()
        },
        "pcres_per_gene": {
            eid: {
                "mean": float(per_cell.get_group(eid).mean()),
                "min": int(per_cell.get_group(eid).min()),
                "max": int(per_cell.get_group(eid).max()),
                "none": int((per_cell.get_group(eid) == 0).sum()),
            }
            for eid in cells
        },
        "positive_labels": {eid: int(meta.loc[meta["eid"] == eid, "label"].sum()) for eid in cells},
        "seconds": seconds,
    }
