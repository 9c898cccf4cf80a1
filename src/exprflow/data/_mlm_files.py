"""Readers of the haplotype MLM dataset files; :mod:`exprflow.data.mlm_dataset` re-exports them.

Layouts are described in :mod:`exprflow.data.mlm_dataset`. Every refusal is an
:class:`~exprflow.errors.InputError` naming the file, the record and the fix.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.errors import InputError

__all__ = [
    "DATASET_FILE",
    "GENOTYPE_CODES",
    "META_COLUMNS",
    "META_FILE",
    "SPLITS",
    "gene_maf",
    "read_meta",
    "read_mlm_dataset",
]

#: Genotype characters of ``seq``; code i is ``GENOTYPE_CODES[i]``.
GENOTYPE_CODES = "RFMBN"
#: Columns of ``meta.csv.gz``, in file order.
META_COLUMNS = ("chrom", "pos", "id", "ref", "alt", "AF", "initial_counts", "GENE_ID", "seq_idx")
#: File names inside the dataset folder.
DATASET_FILE = "dataset.parquet"
META_FILE = "meta.csv.gz"
#: Values of the index's split field.
SPLITS = ("train", "test")

_BAD_CHAR = re.compile(f"[^{GENOTYPE_CODES}]")


def read_meta(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read a ``meta.csv.gz`` (:data:`META_COLUMNS`; ``chrom`` and ``id`` as strings).

    Parameters
    ----------
    path : str or PathLike
        The file (gzip or plain CSV).

    Returns
    -------
    pandas.DataFrame
        The columns of :data:`META_COLUMNS`, in file order.

    Raises
    ------
    InputError
        On a missing column, a non-integer position, or ``seq_idx`` not 0…n-1 per gene.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "meta file not found.", fix="check the path.")
    table = pd.read_csv(path, dtype={"chrom": str, "id": str, "GENE_ID": str})
    absent = [c for c in META_COLUMNS if c not in table.columns]
    if absent:
        raise InputError(
            path,
            f"missing column(s) {absent}; found {list(table.columns)}.",
            record="header",
            fix=f"give a meta.csv.gz with columns {','.join(META_COLUMNS)}.",
        )
    for name in ("pos", "initial_counts", "seq_idx"):
        if not pd.api.types.is_integer_dtype(table[name]):
            raise InputError(
                path, f"column {name} is not integer.", record=name, fix="write integers."
            )
    expected = table.groupby("GENE_ID", sort=False).cumcount()
    wrong = table["seq_idx"].to_numpy() != expected.to_numpy()
    if wrong.any():
        first = int(np.flatnonzero(wrong)[0])
        raise InputError(
            path,
            f"seq_idx {table['seq_idx'].iloc[first]} where {expected.iloc[first]} was "
            "expected: seq_idx must run 0…n-1 in file order within each gene.",
            record=f"line {first + 2}, gene {table['GENE_ID'].iloc[first]}",
            fix="write each gene's SNPs in seq order.",
        )
    return table[list(META_COLUMNS)]


def gene_maf(meta: pd.DataFrame) -> dict[str, np.ndarray]:
    """Return each gene's minor allele frequencies in ``seq`` order.

    Parameters
    ----------
    meta : pandas.DataFrame
        From :func:`read_meta`.

    Returns
    -------
    dict of str to numpy.ndarray
        float64 ``(n,)`` per gene, ``min(AF, 1 - AF)``.
    """
    af = meta["AF"].to_numpy(dtype=float)
    maf = np.minimum(af, 1 - af)
    genes = meta["GENE_ID"].astype(str).to_numpy()
    return {gene: maf[genes == gene] for gene in dict.fromkeys(genes)}


def _parse_index(path: Path, index: pd.Index) -> pd.DataFrame:
    """Split ``split:sample:gene`` labels into columns, refusing malformed ones."""
    labels = pd.Series(index.astype(str), dtype=object)
    fields = labels.str.split(":")
    bad = fields.str.len() != 3
    if not bad.any():
        parts = pd.DataFrame(fields.tolist(), columns=["split", "sample", "gene_id"])
        bad = ~parts["split"].isin(SPLITS) | (parts["sample"] == "") | (parts["gene_id"] == "")
    if bad.any():
        raise InputError(
            path,
            "index entry is not 'split:sample_id:GENE_ID' with split train or test.",
            record=str(labels[bad.to_numpy()].iloc[0]),
            fix="write the index as published, e.g. 'test:HG00096:ENSG00000176681.9'.",
        )
    return parts


def _check_chars(path: Path, labels: pd.Index, seqs: pd.Series) -> None:
    """Refuse a ``seq`` that is not a string of R/F/M/B/N, naming the first bad character."""
    is_text = seqs.map(lambda value: isinstance(value, str)).to_numpy(dtype=bool)
    if not is_text.all():
        first = int(np.flatnonzero(~is_text)[0])
        raise InputError(
            path,
            f"seq is {type(seqs.iloc[first]).__name__}, not a string.",
            record=str(labels[first]),
            fix=f"write one string of {GENOTYPE_CODES} characters per row.",
        )
    bad = seqs.str.contains(_BAD_CHAR).to_numpy(dtype=bool)
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        match = _BAD_CHAR.search(seqs.iloc[first])
        assert match is not None
        raise InputError(
            path,
            f"genotype string has {match.group()!r} at position {match.start()} "
            f"(0-based, length {len(seqs.iloc[first])}); only {GENOTYPE_CODES} are allowed.",
            record=str(labels[first]),
            fix="code genotypes 0|0→R, 0|1→F, 1|0→M, 1|1→B, anything else →N.",
        )


def _check_lengths(path: Path, table: pd.DataFrame, meta: pd.DataFrame | None) -> None:
    """Refuse genes whose strings differ in length, or from their meta row count."""
    lengths = table["seq"].str.len()
    expected = lengths.groupby(table["gene_id"]).transform("first")
    if meta is not None:
        counts = meta["GENE_ID"].astype(str).value_counts()
        unknown = ~table["gene_id"].isin(counts.index)
        if unknown.any():
            row = table.loc[unknown].iloc[0]
            raise InputError(
                path,
                f"gene {row['gene_id']} has no rows in the meta table.",
                record=f"{row['split']}:{row['sample']}:{row['gene_id']}",
                fix="read the dataset with the meta.csv.gz written with it.",
            )
        expected = table["gene_id"].map(counts)
    wrong = (lengths != expected).to_numpy()
    if wrong.any():
        row = table.loc[wrong].iloc[0]
        raise InputError(
            path,
            f"genotype string has {len(row['seq'])} SNPs, the gene has "
            f"{expected[wrong].iloc[0]} ({'meta rows' if meta is not None else 'first row'}).",
            record=f"{row['split']}:{row['sample']}:{row['gene_id']}",
            fix="write every string of a gene over the same SNPs as its meta rows.",
        )


def read_mlm_dataset(
    path: str | os.PathLike[str], meta: pd.DataFrame | str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Read and validate a ``dataset.parquet``.

    Parameters
    ----------
    path : str or PathLike
        The parquet file.
    meta : pandas.DataFrame, str or PathLike, optional
        Its meta table (or file); when given, every gene must be in it and every string
        as long as the gene's meta rows. Default None: strings of a gene must agree.

    Returns
    -------
    pandas.DataFrame
        Columns ``split``, ``sample``, ``gene_id``, ``seq`` (str), in file order.

    Raises
    ------
    InputError
        On a malformed index entry, a character other than R/F/M/B/N, a length mismatch
        or a gene absent from ``meta``.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "dataset file not found.", fix="check the path.")
    frame = pd.read_parquet(path)
    if "seq" not in frame.columns:
        raise InputError(
            path,
            f"has no 'seq' column; found {list(frame.columns)}.",
            record="header",
            fix="write the published layout: index 'split:sample_id:GENE_ID', column 'seq'.",
        )
    parts = _parse_index(path, frame.index)
    _check_chars(path, frame.index, frame["seq"])
    table = parts.assign(seq=frame["seq"].astype(str).to_numpy())
    if meta is not None and not isinstance(meta, pd.DataFrame):
        meta = read_meta(meta)
    _check_lengths(path, table, meta)
    return table
