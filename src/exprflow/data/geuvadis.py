"""Readers of the GEUVADIS tables: per-individual expression and the cis-eQTL list.

Formats
-------
``GD660.GeneQuantRPKM.txt.gz``
    Tab-separated; columns ``TargetID, Gene_Symbol, Chr, Coord`` then one column per
    sequencing library, named ``<sample>.<…>`` (e.g. ``HG00096.1.M_111124_6``); the
    sample id is the text before the first ``.``; some samples have several libraries.
``EUR373.gene.cis.FDR5.all.rs137.txt.gz``
    Tab-separated; ``SNP_ID, ID, GENE_ID, PROBE_ID, CHR_SNP, CHR_GENE, SNPpos, TSSpos,
    distance, rvalue, pvalue, log10pvalue`` with 1-based positions.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from exprflow.errors import InputError

__all__ = ["EQTL_COLUMNS", "EXPRESSION_ID_COLUMNS", "read_eqtls", "read_expression"]

EXPRESSION_ID_COLUMNS = ("TargetID", "Gene_Symbol", "Chr", "Coord")
EQTL_COLUMNS = (
    "SNP_ID",
    "ID",
    "GENE_ID",
    "PROBE_ID",
    "CHR_SNP",
    "CHR_GENE",
    "SNPpos",
    "TSSpos",
    "distance",
    "rvalue",
    "pvalue",
    "log10pvalue",
)


def _missing(path: Path, table: pd.DataFrame, required: tuple[str, ...], layout: str) -> None:
    absent = [c for c in required if c not in table.columns]
    if absent:
        raise InputError(
            path,
            f"missing column(s) {absent}; found {list(table.columns)[:8]}…",
            record="header",
            fix=f"give a table in the {layout} layout.",
        )


def read_expression(path: str | Path) -> pd.DataFrame:
    """Read a GD660-layout table as RPKM, genes (``TargetID`` index) × samples.

    Libraries of the same sample are averaged.

    Returns
    -------
    pd.DataFrame
        float64, index ``gene_id``, one column per sample id (sorted).
    """
    path = Path(path)
    table = pd.read_csv(path, sep="\t")
    _missing(path, table, EXPRESSION_ID_COLUMNS, "GEUVADIS GD660.GeneQuantRPKM")
    if table["TargetID"].duplicated().any():
        dup = table.loc[table["TargetID"].duplicated(), "TargetID"].iloc[0]
        raise InputError(path, "gene listed twice.", record=str(dup), fix="keep one row per gene.")
    values = table.drop(columns=list(EXPRESSION_ID_COLUMNS)).set_index(table["TargetID"])
    bad = [c for c in values.columns if not pd.api.types.is_numeric_dtype(values[c])]
    if bad:
        raise InputError(path, "non-numeric expression values.", record=f"column {bad[0]}")
    samples = values.columns.str.split(".").str[0]
    by_sample = values.T.groupby(samples.to_numpy()).mean().T
    by_sample.index.name = "gene_id"
    return by_sample.sort_index(axis=1)


def read_eqtls(path: str | Path) -> pd.DataFrame:
    """Read an EUR373-layout cis-eQTL table (1-based positions kept as in the file)."""
    path = Path(path)
    table = pd.read_csv(path, sep="\t")
    _missing(path, table, EQTL_COLUMNS, "GEUVADIS EUR373.gene.cis.FDR5")
    return table
