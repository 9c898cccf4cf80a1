"""Write Sharpr-MPRA-like tiles (Movva et al. 2019 layout): three HDF5 files of 145-bp tiles.

``size.sharpr_tiles`` tiles of the world genome (+ strand, uppercase ACGT) are drawn over
promoters (45 %), enhancers (35 %) and background (20 %), in random order. Tiles of the
second-to-last contig form the validation set and tiles of the last contig the test set
(like the published chr8 and chr18); the other contigs form the training set.

Activity: a tile's latent activity ``a`` in a cell is ``Σ`` over the planted sites fully
inside it of the TF's activity in that cell × site occupancy (the world's model,
:mod:`exprflow.simulate.genes`); K562 is the world's ``E123`` and HepG2 its ``E118`` (a
missing one is replaced by the first unused cell type, recorded in the truth). With
``c`` the mean of ``a`` over all tiles and ``z`` a per-tile sequence effect (sd 0.25):

* minP: ``y = 1.5 (a - c) + z + e`` (``e`` sd 0.15 per cell and promoter);
* SV40P (a stronger promoter: higher baseline, compressed range):
  ``y = 0.8 + 0.7 (a - c) + z + e``;
* ``rep1`` and ``rep2`` are ``y`` plus replicate noise (sd 0.3), ``avg`` their mean.

Files written under ``out_dir``: ``sharpr/{train,valid,test}.hdf5``, each with
``X/sequence`` float32 ``(N, 145, 4)`` one-hot A, C, G, T and ``Y/output`` float32
``(N, 12)``, columns in :data:`SHARPR_OUTPUTS` order.
"""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.simulate._genomic_activity import (
    REGIONS,
    assay_cells,
    draw_intervals,
    read_contigs,
    site_table,
)
from exprflow.simulate.config import WorldSize
from exprflow.simulate.layout import WorldLayout

__all__ = ["SHARPR_DIR", "SHARPR_OUTPUTS", "SHARPR_SPLITS", "TILE_LENGTH", "write_sharpr"]

SHARPR_DIR = "sharpr"
#: Tile length (bases).
TILE_LENGTH = 145
#: File stem of each split, in order.
SHARPR_SPLITS: tuple[str, ...] = ("train", "valid", "test")
#: Columns of ``Y/output``, in order (the published names).
SHARPR_OUTPUTS: tuple[str, ...] = tuple(
    f"{cell}_{promoter}_{rep}"
    for cell in ("k562", "hepg2")
    for promoter in ("minp", "sv40p")
    for rep in ("rep1", "rep2", "avg")
)

_SHARES = (0.45, 0.35, 0.20)  # promoter, enhancer, background tiles
_TILE_SD, _CONDITION_SD, _REPLICATE_SD = 0.25, 0.15, 0.3
#: Promoter → (offset, slope) on the centred latent activity.
_PROMOTERS: dict[str, tuple[float, float]] = {"minp": (0.0, 1.5), "sv40p": (0.8, 0.7)}
_LOOKUP = np.full(256, 255, dtype=np.uint8)
_LOOKUP[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(4, dtype=np.uint8)


def write_sharpr(
    out_dir: Path, layout: WorldLayout, fasta: Path, size: WorldSize, rng: np.random.Generator
) -> dict:
    """Draw the tiles, simulate their activity and write the three HDF5 files.

    Parameters
    ----------
    out_dir : Path
        World folder; files go under ``sharpr/``.
    layout : WorldLayout
        Genes, enhancers, planted sites, cell types and TF activity.
    fasta : Path
        The world's indexed genome FASTA (tiles are read from it).
    size : WorldSize
        Gives ``sharpr_tiles``.
    rng : np.random.Generator
        Source of every draw; the same seed gives byte-identical files.

    Returns
    -------
    dict
        JSON-able truth: ``files`` (split → path), ``outputs``, ``cells`` (``k562`` and
        ``hepg2`` → eid), ``contigs`` (split → contigs), ``centre`` (cell → ``c``) and
        ``tiles`` (split → ``chrom``, ``start`` (0-based), ``region``, ``activity``
        (cell → latent ``a``), in file order).
    """
    out_dir = Path(out_dir)
    contigs = list(layout.contigs)
    if len(contigs) < 3:
        raise InputError(
            "WorldLayout.contigs",
            f"{len(contigs)} contig(s); Sharpr tiles need 3 (train, valid, test)",
            fix="simulate a world with n_chromosomes >= 3",
        )
    n = size.sharpr_tiles
    lengths = np.full(n, TILE_LENGTH, dtype=np.int64)
    region, chrom, start = draw_intervals(layout, n, _SHARES, lengths, rng)
    cells = {name.lower(): eid for name, eid in assay_cells(layout).items()}
    sites = site_table(layout)
    latent = {
        c: sites.interval_activity(e, chrom, start, start + lengths) for c, e in cells.items()
    }
    centre = {c: float(a.mean()) for c, a in latent.items()}
    outputs = _outputs(latent, centre, rng)
    onehot = _onehot(read_contigs(fasta, layout), chrom, start)
    split_of = {contigs[-2]: "valid", contigs[-1]: "test"}
    split = np.array([split_of.get(c, "train") for c in chrom])
    files, tiles = {}, {}
    for name in SHARPR_SPLITS:
        rows = np.flatnonzero(split == name)
        rel = f"{SHARPR_DIR}/{name}.hdf5"
        _write_h5(out_dir / rel, onehot[rows], outputs[rows])
        files[name] = rel
        tiles[name] = {
            "chrom": chrom[rows].tolist(),
            "start": start[rows].tolist(),
            "region": [REGIONS[r] for r in region[rows]],
            "activity": {c: np.round(a[rows], 6).tolist() for c, a in latent.items()},
        }
    return {
        "files": files,
        "outputs": list(SHARPR_OUTPUTS),
        "cells": cells,
        "contigs": {
            "train": contigs[:-2],
            "valid": [contigs[-2]],
            "test": [contigs[-1]],
        },
        "centre": centre,
        "tiles": tiles,
    }


def _outputs(
    latent: dict[str, np.ndarray], centre: dict[str, float], rng: np.random.Generator
) -> np.ndarray:
    """The ``(N, 12)`` float32 table in :data:`SHARPR_OUTPUTS` order."""
    n = len(next(iter(latent.values())))
    tile = rng.normal(0.0, _TILE_SD, n)
    columns = []
    for cell in ("k562", "hepg2"):
        for offset, slope in _PROMOTERS.values():
            y = offset + slope * (latent[cell] - centre[cell]) + tile
            y = y + rng.normal(0.0, _CONDITION_SD, n)
            reps = y[:, None] + rng.normal(0.0, _REPLICATE_SD, (n, 2))
            columns += [reps[:, 0], reps[:, 1], reps.mean(axis=1)]
    return np.stack(columns, axis=1).astype(np.float32)


def _onehot(genome: dict[str, np.ndarray], chrom: np.ndarray, start: np.ndarray) -> np.ndarray:
    """One-hot ``(N, TILE_LENGTH, 4)`` float32 of the tiles, A, C, G, T."""
    codes = np.empty((len(start), TILE_LENGTH), dtype=np.uint8)
    for c in np.unique(chrom):
        rows = np.flatnonzero(chrom == c)
        codes[rows] = _LOOKUP[genome[c][start[rows, None] + np.arange(TILE_LENGTH)]]
    return (codes[:, :, None] == np.arange(4, dtype=np.uint8)).astype(np.float32)


def _write_h5(dest: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Write ``X/sequence`` and ``Y/output`` (gzip-compressed when not empty, no timestamps)."""
    packed = {"compression": "gzip", "shuffle": True} if len(x) else {}
    with atomic_path(dest) as tmp, h5py.File(tmp, "w", track_order=False) as h5:
        h5.create_dataset("X/sequence", data=x, track_times=False, **packed)
        h5.create_dataset("Y/output", data=y, track_times=False, **packed)
