"""Variant expression effects from chromatin differences, as ExPecto's predict.py.

For each variant, Beluga's alt − ref chromatin difference at window shifts
S ∈ {0, −200, …, −800, 200, …, 800} is weighted by the 10 spatial decay functions of the
window centre's strand-oriented distance to the TSS, ``d = (variant − TSS)·strand + S·strand``
(basis ``exp(−c·floor(|d|/200))``, masked to ``d ≤ 0`` / ``d ≥ 0``), and summed:
``Δ = Σ_S diff_S ⊗ basis(d_S)`` (10 × F, basis-major). Tissue models are linear, so the
effect ``model(Δ) − model(0) = w·Δ`` is a predicted change of ln(RPKM + pseudocount).

:func:`effects_table` does that weighting and the tissue models for both ways of getting
the differences: read from ExPecto's files here (:func:`effects_from_diffs`), or computed
from a VCF with a chromatin model (:mod:`exprflow.models.expecto.variant_diffs`).

Formats (read)
--------------
``<prefix>.shift_<S>.diff.h5`` and ``*.closestgene``
    ExPecto's files, see :mod:`exprflow.models.expecto.diff_files`; closest-gene rows
    follow the h5 rows unless a VCF is given.
VCF (optional)
    When given, rows are matched to the h5 rows (the VCF order) by chrom (``chr`` dropped)
    and 1-based position, as predict.py does.

Format (write)
--------------
CSV: ``chrom, position`` (1-based), ``gene, distance`` (variant − TSS, as predict.py
writes it), ``strand``, then one column per tissue.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.models.expecto.diff_files import read_chromatin_diffs, read_closest_genes
from exprflow.models.expecto.features import (
    N_BASES,
    SHIFT_STEP,
    spatial_basis,
    strand_sign,
    to_legacy_layout,
)
from exprflow.models.expecto.tissue import LinearTissueModel, load_tissue_models

__all__ = [
    "ID_COLUMNS",
    "effect_shifts",
    "effects_from_diffs",
    "effects_table",
    "variant_features",
    "write_effects_csv",
]

ID_COLUMNS: Final = ("chrom", "position", "gene", "distance", "strand")


def effect_shifts(max_shift: int = 800) -> list[int]:
    """Return predict.py's shift order: 0, −200 … −max_shift, 200 … max_shift.

    Parameters
    ----------
    max_shift : int, default 800
        Largest shift in bp (a multiple of 200).

    Returns
    -------
    list of int
    """
    if max_shift < 0 or max_shift % SHIFT_STEP:
        raise ValueError(f"max_shift must be a non-negative multiple of 200, got {max_shift}")
    down = range(SHIFT_STEP, max_shift + 1, SHIFT_STEP)
    return [0, *(-s for s in down), *down]


def _match_vcf(genes: pd.DataFrame, vcf: Path, source: Path) -> pd.DataFrame:
    try:
        coor = pd.read_csv(vcf, sep="\t", header=None, comment="#", dtype=str, usecols=[0, 1])
    except (OSError, ValueError) as err:
        raise InputError(vcf, f"cannot read chrom and position: {err}.") from err
    key = (coor[0].str.replace("chr", "") + " " + coor[1]).to_numpy()
    gene_key = genes["chrom"].str.replace("chr", "") + " " + genes["end"].astype(str)
    first = pd.Series(np.arange(len(genes)), index=gene_key.to_numpy())
    found = first[~first.index.duplicated()].reindex(key)
    if found.isna().any():
        raise InputError(
            source,
            f"no closest gene for VCF variant {found.index[found.isna()][0]!r} of {vcf}.",
            fix="compute the closest-gene file from this VCF.",
        )
    matched = genes.iloc[found.to_numpy(dtype=np.int64)].reset_index(drop=True)
    matched["chrom"] = coor[0].to_numpy()
    return matched


def variant_features(
    diffs: NDArray[np.float64],
    distances: NDArray[np.int64],
    strands: NDArray[np.int64],
    shifts: Sequence[int],
) -> NDArray[np.float64]:
    """Combine per-shift chromatin differences into ΔX, predict.py's spatial features.

    Parameters
    ----------
    diffs : numpy.ndarray, shape (n_shifts, n_variants, F)
        Strand-averaged alt − ref chromatin differences.
    distances : numpy.ndarray of int, shape (n_variants,)
        The closest-gene distance column, ``TSS − variant``.
    strands : numpy.ndarray of int, shape (n_variants,)
        Gene strand signs (±1).
    shifts : sequence of int, length n_shifts
        The shift of each ``diffs`` slice.

    Returns
    -------
    numpy.ndarray
        float64, shape (n_variants, 10·F), basis-major (index ``b·F + f``).
    """
    oriented = -np.asarray(distances) * strands
    centre = oriented[:, None] + np.asarray(shifts)[None, :] * strands[:, None]
    basis = spatial_basis(centre)
    delta = np.einsum("svf,vsb->vbf", diffs, basis)
    return delta.reshape(delta.shape[0], -1)


def _check_models(models: Sequence[LinearTissueModel], n_chromatin: int, source: str) -> None:
    names = [m.tissue or m.name for m in models]
    if len(set(names)) != len(names):
        raise ValueError(f"models need distinct tissue names, got {names}")
    for model in models:
        expected = N_BASES * (n_chromatin + (model.feature_layout == "legacy"))
        if model.n_features != expected:
            raise InputError(
                model.source or model.name,
                f"model takes {model.n_features} features ({model.feature_layout} layout) but "
                f"the chromatin differences ({source}) have {n_chromatin} features, giving "
                f"{expected} in that layout.",
                record=model.tissue or None,
                fix="use models trained on the same chromatin features as the differences.",
            )


def effects_table(
    diffs: NDArray[np.float64],
    genes: pd.DataFrame,
    models: Sequence[LinearTissueModel],
    shifts: Sequence[int],
    *,
    source: str,
) -> pd.DataFrame:
    """Weight chromatin differences by TSS distance and apply every tissue model.

    Parameters
    ----------
    diffs : numpy.ndarray, shape (n_shifts, n_variants, F)
        Strand-averaged alt − ref chromatin differences.
    genes : pandas.DataFrame
        One closest-gene row per variant, in ``diffs`` order; columns ``chrom``, ``start``
        (0-based), ``gene``, ``strand`` and ``distance`` (``TSS − variant``).
    models : sequence of LinearTissueModel
        Tissue models (either layout), distinct tissue names.
    shifts : sequence of int, length n_shifts
        The shift of each ``diffs`` slice.
    source : str
        Where the differences come from, named when a model does not fit them.

    Returns
    -------
    pandas.DataFrame
        One row per variant: :data:`ID_COLUMNS` (position 1-based, distance
        ``variant − TSS``) then one float64 column per tissue.
    """
    _check_models(models, diffs.shape[2], source)
    strands = strand_sign(genes["strand"].to_numpy())
    delta = variant_features(diffs, genes["distance"].to_numpy(), strands, shifts)
    table = pd.DataFrame(
        {
            "chrom": genes["chrom"].to_numpy(),
            "position": genes["start"].to_numpy() + 1,
            "gene": genes["gene"].to_numpy(),
            "distance": -genes["distance"].to_numpy(),
            "strand": genes["strand"].to_numpy(),
        }
    )
    any_legacy = any(model.feature_layout == "legacy" for model in models)
    legacy = to_legacy_layout(delta, diffs.shape[2]) if any_legacy else delta
    for model in models:
        x = legacy if model.feature_layout == "legacy" else delta
        table[model.tissue or model.name] = model.contribution(x)
    return table


def effects_from_diffs(
    pattern: str,
    closest_genes: str | Path,
    models: Sequence[LinearTissueModel] | str | Path,
    *,
    vcf: str | Path | None = None,
    max_shift: int = 800,
) -> pd.DataFrame:
    """Compute ExPecto variant effects (log fold-changes) for every tissue model.

    Parameters
    ----------
    pattern : str
        Chromatin-difference file name with ``SHIFT`` as the shift placeholder.
    closest_genes : str or Path
        The closest-gene file, one row per h5 row (unless ``vcf`` is given).
    models : sequence of LinearTissueModel, or str / Path
        Tissue models, or a model list / model file for :func:`load_tissue_models`.
    vcf : str or Path, optional
        The variants' VCF; when given, closest-gene rows are matched to it by position.
    max_shift : int, default 800
        Largest shift (predict.py's ``--maxshift``).

    Returns
    -------
    pandas.DataFrame
        One row per variant: :data:`ID_COLUMNS` then one float64 column per tissue.
    """
    if isinstance(models, str | Path):
        models = load_tissue_models(models)
    shifts = effect_shifts(max_shift)
    diffs = read_chromatin_diffs(pattern, shifts)
    genes = read_closest_genes(closest_genes)
    if vcf is not None:
        genes = _match_vcf(genes, Path(vcf), Path(closest_genes))
    if len(genes) != diffs.shape[1]:
        raise InputError(
            closest_genes,
            f"{len(genes)} rows, but {pattern.replace('SHIFT', str(shifts[0]))} holds "
            f"{diffs.shape[1]} variants (2 × {diffs.shape[1]} rows).",
            fix="use the closest-gene file made from the same VCF (one gene per variant), "
            "or pass the VCF to match rows by position.",
        )
    return effects_table(diffs, genes, models, shifts, source=pattern)


def write_effects_csv(effects: pd.DataFrame, path: str | Path) -> Path:
    """Write an effects table as CSV atomically (nothing is left on failure).

    Parameters
    ----------
    effects : pandas.DataFrame
        From :func:`effects_from_diffs`.
    path : str or Path
        Destination ``.csv``.

    Returns
    -------
    Path
        ``path``.
    """
    missing = [c for c in ID_COLUMNS if c not in effects.columns]
    if missing:
        raise ValueError(f"effects table lacks columns {missing}; expected {list(ID_COLUMNS)}")
    path = Path(path)
    with atomic_path(path) as tmp:
        effects.to_csv(tmp, index=False)
    return path
