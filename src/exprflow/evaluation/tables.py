"""Readers of the expression evaluation's inputs: prediction tables, truth and eQTL genes.

Formats
-------
``reference_predictions.tsv`` (written by ``expecto_reference``)
    Tab-separated: ``gene_id, chrom, tss`` (1-based), ``strand``, then one float column
    per tissue (a Roadmap eid such as ``E116``), values ``ln(RPKM + pseudocount)``.
    Only ``gene_id`` and ``chrom`` are required besides the tissues.
``personalized_predictions.tsv.gz`` (:func:`~exprflow.scoring.merge.merge_shards`)
    Long table: ``gene_id``, ``sample`` (``ref`` for the reference), ``haplotype`` (0 for
    ``ref``, else 1 or 2), then one float column per tissue; ``.tsv``, ``.tsv.gz`` or
    ``.parquet``.
``truth.json`` (:mod:`exprflow.simulate.truth`)
    Only ``lcl_cell_type`` and each ``causal_variants[*].gene_id`` are read.
``EUR373.gene.cis.FDR5.all.rs137.txt.gz`` (:func:`~exprflow.data.geuvadis.read_eqtls`)
    Every gene (``GENE_ID``) listed has an eQTL at FDR 5%.

Every table comes back with ``attrs["path"]`` naming its file, for later errors.
:func:`combine_haplotypes` turns the long personalized table into one prediction per
individual (genes × samples); the haplotype models are explained in
:mod:`exprflow.evaluation.expression`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from exprflow.data.geuvadis import read_eqtls
from exprflow.data.roadmap import strip_version
from exprflow.errors import InputError

__all__ = [
    "HAPLOTYPE_MODELS",
    "PERSONALIZED_ID_COLUMNS",
    "REFERENCE_ID_COLUMNS",
    "PlantedTruth",
    "combine_haplotypes",
    "read_eqtl_genes",
    "read_personalized_predictions",
    "read_reference_predictions",
    "read_truth",
]

#: Non-tissue columns of the reference predictions table.
REFERENCE_ID_COLUMNS = ("gene_id", "chrom", "tss", "strand")
#: Non-tissue columns of the personalized (long) predictions table.
PERSONALIZED_ID_COLUMNS = ("gene_id", "sample", "haplotype")
#: Ways of combining an individual's two haplotype predictions (:func:`combine_haplotypes`).
HAPLOTYPE_MODELS = ("additive", "meanlog")
_RESCORE = "score the individuals' haplotypes with expecto_personalized (samples × 2 rows)."


def _read(path: Path, layout: str) -> pd.DataFrame:
    """Read a TSV (plain or gzipped) or Parquet table, ids as text."""
    text = {"gene_id": str, "sample": str, "chrom": str, "strand": str}
    try:
        if path.name.lower().endswith(".parquet"):
            table = pd.read_parquet(path)
            table = table.astype({k: v for k, v in text.items() if k in table.columns})
        else:
            table = pd.read_csv(path, sep="\t", dtype=text, keep_default_na=False)
    except (OSError, ValueError, KeyError) as err:
        raise InputError(path, f"cannot read the table: {err}.", fix=f"give a {layout}.") from err
    table.attrs["path"] = str(path)
    return table


def _check_columns(path: Path, table: pd.DataFrame, required: tuple[str, ...], layout: str) -> None:
    absent = [c for c in required if c not in table.columns]
    if absent:
        raise InputError(
            path,
            f"missing column(s) {absent}; the header is {list(table.columns)[:8]}.",
            record="header",
            fix=f"give a {layout}.",
        )


def _numeric(path: Path, table: pd.DataFrame, columns: list[str], layout: str) -> None:
    """Convert ``columns`` to float64 in place, refusing none or a non-finite value."""
    if not columns:
        raise InputError(path, "has no tissue columns.", record="header", fix=f"give a {layout}.")
    for column in columns:
        values = pd.to_numeric(table[column], errors="coerce").astype(np.float64)
        bad = np.flatnonzero(~np.isfinite(values.to_numpy()))
        if bad.size:
            row = int(bad[0])
            raise InputError(
                path,
                f"value {table[column].iat[row]!r} in column {column} is not a finite number.",
                record=f"line {row + 2} (gene {table['gene_id'].iat[row]})",
                fix="give finite predictions in every tissue column.",
            )
        table[column] = values


def read_reference_predictions(path: str | Path) -> pd.DataFrame:
    """Read a reference predictions table.

    Parameters
    ----------
    path : str or Path
        ``reference_predictions.tsv`` (see module docstring).

    Returns
    -------
    pandas.DataFrame
        As in the file, tissue columns float64; ``attrs["path"]`` set.

    Raises
    ------
    InputError
        Unreadable table, no ``gene_id`` or ``chrom`` column, no tissue column, a
        non-finite prediction.
    """
    path = Path(path)
    layout = "reference predictions table (gene_id, chrom, tss, strand, <tissue>…)"
    table = _read(path, layout)
    _check_columns(path, table, ("gene_id", "chrom"), layout)
    _numeric(path, table, [c for c in table.columns if c not in REFERENCE_ID_COLUMNS], layout)
    return table


def read_personalized_predictions(path: str | Path) -> pd.DataFrame:
    """Read the long personalized predictions table of ``merge_shards``.

    Parameters
    ----------
    path : str or Path
        ``personalized_predictions.tsv.gz`` (see module docstring).

    Returns
    -------
    pandas.DataFrame
        As in the file: ``haplotype`` int64, tissue columns float64; ``attrs["path"]`` set.

    Raises
    ------
    InputError
        Unreadable table, a missing id column, a non-integer haplotype, no tissue
        column, a non-finite prediction.
    """
    path = Path(path)
    layout = "personalized predictions table (gene_id, sample, haplotype, <tissue>…)"
    table = _read(path, layout)
    _check_columns(path, table, PERSONALIZED_ID_COLUMNS, layout)
    haplotype = pd.to_numeric(table["haplotype"], errors="coerce")
    bad = np.flatnonzero(haplotype.isna().to_numpy() | (haplotype % 1 != 0).to_numpy())
    if bad.size:
        row = int(bad[0])
        raise InputError(
            path,
            f"haplotype {table['haplotype'].iat[row]!r} is not 0, 1 or 2.",
            record=f"line {row + 2}",
            fix=f"give a {layout}.",
        )
    table["haplotype"] = haplotype.astype(np.int64)
    _numeric(path, table, [c for c in table.columns if c not in PERSONALIZED_ID_COLUMNS], layout)
    return table


def combine_haplotypes(table: pd.DataFrame, tissue: str, how: str = "additive") -> pd.DataFrame:
    """Combine each individual's two haplotype predictions into one, genes × samples.

    Parameters
    ----------
    table : pandas.DataFrame
        The long table of :func:`~exprflow.scoring.merge.merge_shards`: ``gene_id``,
        ``sample`` (``ref`` rows are ignored), ``haplotype`` (1 or 2 for individuals),
        one column per tissue (``ln(RPKM + c)``).
    tissue : str
        The column to use.
    how : str, default "additive"
        ``"additive"``: ``ln((exp(h1) + exp(h2)) / 2)``; ``"meanlog"``: ``(h1 + h2) / 2``.

    Returns
    -------
    pandas.DataFrame
        float64, index ``gene_id`` (as in the table) × one column per sample; NaN where a
        gene was not scored for a sample.

    Raises
    ------
    InputError
        Unknown tissue, no individual rows, a haplotype other than 1 or 2, a row twice,
        or a sample with one haplotype only.
    """
    if how not in HAPLOTYPE_MODELS:
        raise ValueError(f"how must be one of {HAPLOTYPE_MODELS}, got {how!r}")
    source = str(table.attrs.get("path", "<personalized predictions>"))
    tissues = [c for c in table.columns if c not in PERSONALIZED_ID_COLUMNS]
    if tissue not in tissues:
        raise InputError(
            source,
            f"has no tissue column {tissue!r}; its tissues are {tissues[:8]}.",
            record="header",
            fix="pass -P tissue=<one of its tissue columns>.",
        )
    rows = table.loc[table["sample"].astype(str) != "ref", ["gene_id", "sample", "haplotype"]]
    if rows.empty:
        raise InputError(source, "has no individuals' rows, only the reference.", fix=_RESCORE)
    values = pd.Series(
        table.loc[rows.index, tissue].to_numpy(np.float64),
        index=pd.MultiIndex.from_frame(rows.astype({"gene_id": str, "sample": str})),
    )
    _check_haplotypes(values.index, source)
    pairs = values.unstack("haplotype").reindex(columns=[1, 2])
    lacking = pairs.isna().any(axis=1).to_numpy()
    if lacking.any():
        gene, sample = pairs.index[int(np.flatnonzero(lacking)[0])]
        raise InputError(
            source, "an individual has one haplotype only.", record=f"{gene} {sample}", fix=_RESCORE
        )
    h1, h2 = pairs[1], pairs[2]
    combined = np.logaddexp(h1, h2) - np.log(2.0) if how == "additive" else (h1 + h2) / 2
    wide = combined.unstack("sample")
    wide.attrs["path"] = source
    return wide


def _check_haplotypes(index: pd.MultiIndex, source: str) -> None:
    haplotypes = index.get_level_values("haplotype")
    bad = ~haplotypes.isin([1, 2])
    if bad.any():
        gene, sample, hap = index[int(np.flatnonzero(bad)[0])]
        raise InputError(
            source,
            f"haplotype {hap} of an individual is not 1 or 2.",
            record=f"{gene} {sample}",
            fix=_RESCORE,
        )
    if index.duplicated().any():
        gene, sample, hap = index[index.duplicated()][0]
        raise InputError(
            source, "row appears twice.", record=f"{gene} {sample} haplotype {hap}", fix=_RESCORE
        )


@dataclass(frozen=True)
class PlantedTruth:
    """What the evaluation reads from a synthetic world's ``truth.json``.

    Attributes
    ----------
    lcl_cell_type : str
        The LCL-like cell type's eid (the GEUVADIS cell type of the world).
    causal_genes : frozenset of str
        Unversioned ids of genes with at least one planted causal variant.
    """

    lcl_cell_type: str
    causal_genes: frozenset[str]


def read_truth(path: str | Path) -> PlantedTruth:
    """Read the LCL cell type and the causal genes of a world's ``truth.json``.

    Parameters
    ----------
    path : str or Path
        The truth document (:mod:`exprflow.simulate.truth`).

    Returns
    -------
    PlantedTruth

    Raises
    ------
    InputError
        Unreadable JSON, or a missing ``lcl_cell_type`` / ``causal_variants`` /
        ``gene_id``.
    """
    path = Path(path)
    fix = "give the truth.json of a world built by the simulate step."
    try:
        truth: Any = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise InputError(path, f"cannot read the truth document: {err}.", fix=fix) from err
    if not isinstance(truth, dict):
        raise InputError(path, "is not a JSON object.", fix=fix)
    for key in ("lcl_cell_type", "causal_variants"):
        if key not in truth:
            raise InputError(path, f"has no {key!r}.", record=key, fix=fix)
    genes = []
    for i, variant in enumerate(truth["causal_variants"]):
        if not isinstance(variant, dict) or "gene_id" not in variant:
            raise InputError(
                path, "causal variant without gene_id.", record=f"causal_variants[{i}]"
            )
        genes.append(str(variant["gene_id"]))
    return PlantedTruth(str(truth["lcl_cell_type"]), frozenset(strip_version(genes)))


def read_eqtl_genes(path: str | Path) -> frozenset[str]:
    """Return the unversioned ids of the genes listed in a GEUVADIS eQTL table.

    Parameters
    ----------
    path : str or Path
        ``EUR373.gene.cis.FDR5.all.rs137.txt.gz`` layout (every row is significant).

    Returns
    -------
    frozenset of str
    """
    return frozenset(strip_version(read_eqtls(path)["GENE_ID"].astype(str).tolist()))
