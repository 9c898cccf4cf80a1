"""Gene annotation: GTF, ExPecto ``geneanno.csv`` and benchmark ``gene_list.csv`` into one table.

Every reader returns a gene table, a pandas DataFrame with the columns of
:data:`GENE_COLUMNS`:

========= ====== =====================================================================
column    dtype  meaning
========= ====== =====================================================================
gene_id   str    gene id as in the file (versions kept)
symbol    str    gene name, missing (NA) when the file has none
chrom     str    contig as in the file
tss       int64  0-based position of the TSS base
strand    str    ``+`` or ``-``
start     Int64  0-based gene start (GTF only, else NA)
end       Int64  0-based exclusive gene end (GTF only, else NA)
biotype   str    gene_type / gene_biotype / type, NA when absent
========= ====== =====================================================================

Formats and their coordinate conversions (all 1-based in the file):

* GTF (plain or gzipped): genes from ``gene`` records when the file has any; otherwise the
  span of each gene's ``transcript``/``exon`` records. TSS is the first base on ``+``
  (``start - 1``), the last on ``-`` (``end - 1``).
* ExPecto ``geneanno.csv``: header ``id,symbol,seqnames,strand,TSS,CAGE_representative_TSS,type``;
  ``TSS`` (or, with ``cage_tss=True``, ``CAGE_representative_TSS``) minus 1.
* Benchmark ``gene_list.csv``: no header; ``ens_id,chrom,TSS,symbol,strand`` with chrom
  without ``chr`` and symbol possibly empty; ``TSS`` minus 1. :func:`write_gene_list`
  writes this layout.

:func:`read_genes` picks the reader by sniffing the content. Duplicated gene ids, bad
strands and non-integer positions are an :class:`~exprflow.errors.InputError` naming the
line.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.genome._textio import open_text

__all__ = [
    "GENE_COLUMNS",
    "read_gene_list",
    "read_geneanno",
    "read_genes",
    "read_gtf",
    "write_gene_list",
]

#: Columns of a gene table, in order.
GENE_COLUMNS = ["gene_id", "symbol", "chrom", "tss", "strand", "start", "end", "biotype"]

_GENEANNO_HEADER = "id,symbol,seqnames,strand,TSS,CAGE_representative_TSS,type"
_GENE_LIST = ["gene_id", "chrom", "TSS", "symbol", "strand"]
_ATTRIBUTE = re.compile(r'\s*([^\s;]+)\s+"?([^";]*)"?\s*;?')
_GTF_SPAN = ("transcript", "exon")
_POSITIVE = re.compile(r"^[1-9][0-9]*$")


def read_genes(path: str | os.PathLike[str], *, cage_tss: bool = False) -> pd.DataFrame:
    """Read a gene table from a GTF, a ``geneanno.csv`` or a ``gene_list.csv``, by content.

    Parameters
    ----------
    path : str or PathLike
        The annotation file.
    cage_tss : bool, optional
        For ``geneanno.csv``: use ``CAGE_representative_TSS``. Default False.

    Returns
    -------
    pandas.DataFrame
        Gene table (:data:`GENE_COLUMNS`).

    Raises
    ------
    InputError
        When the layout is none of the three.
    """
    path = Path(path)
    with open_text(path, "annotation") as lines:
        first = next((line for line in lines if line.strip() and not line.startswith("#")), "")
    fields = first.rstrip("\r\n").split(",")
    gtf = first.split("\t")
    if first.startswith(_GENEANNO_HEADER):
        return read_geneanno(path, cage_tss=cage_tss)
    if len(gtf) == 9 and gtf[3].isdigit() and gtf[4].isdigit():
        return read_gtf(path)
    if len(fields) == 5 and fields[2].isdigit() and fields[4] in {"+", "-"}:
        return read_gene_list(path)
    raise InputError(
        path,
        f"is not a known annotation layout (first record: {first[:80]!r}).",
        fix="give a GTF, an ExPecto geneanno.csv (header "
        f"{_GENEANNO_HEADER}) or a headerless gene_list.csv (ens_id,chrom,TSS,symbol,strand).",
    )


def read_gtf(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read genes from a GTF: ``gene`` records, or else spans of ``transcript``/``exon`` ones.

    Parameters
    ----------
    path : str or PathLike
        GTF, plain or gzip-compressed; 1-based inclusive coordinates.

    Returns
    -------
    pandas.DataFrame
        Gene table (:data:`GENE_COLUMNS`), in order of first appearance.
    """
    path = Path(path)
    genes: dict[str, _GtfGene] = {}
    spans: dict[str, _GtfGene] = {}
    with open_text(path, "GTF") as lines:
        for number, line in enumerate(lines, start=1):
            if line.startswith("#") or not line.strip():
                continue
            record = f"line {number}"
            found = _gtf_record(path, line, record)
            if found is None:
                continue
            feature, gene = found
            if feature == "gene":
                if gene.gene_id in genes:
                    raise InputError(
                        path,
                        f"gene {gene.gene_id} has a second gene record.",
                        record=record,
                        fix="keep one gene record per gene_id.",
                    )
                genes[gene.gene_id] = gene
            else:
                _extend(path, spans, gene, record)
    frame = pd.DataFrame([asdict(gene) for gene in (genes or spans).values()])
    if frame.empty:
        return _finish(pd.DataFrame(columns=GENE_COLUMNS))
    return _finish(
        frame.assign(tss=np.where(frame["strand"] == "+", frame["start"], frame["end"] - 1))
    )


@dataclass
class _GtfGene:
    """A gene as one GTF record describes it (0-based half-open span)."""

    gene_id: str
    symbol: str | None
    chrom: str
    strand: str
    start: int
    end: int
    biotype: str | None


def _gtf_record(path: Path, line: str, record: str) -> tuple[str, _GtfGene] | None:
    """Parse one GTF line into ``(feature, gene)``, or None for other features."""
    fields = line.rstrip("\r\n").split("\t")
    if len(fields) != 9:
        raise InputError(
            path,
            f"has {len(fields)} tab-separated columns, GTF needs 9.",
            record=record,
            fix="give a tab-separated GTF.",
        )
    if fields[2] != "gene" and fields[2] not in _GTF_SPAN:
        return None
    if not (_POSITIVE.match(fields[3]) and _POSITIVE.match(fields[4])):
        raise InputError(
            path,
            f"start {fields[3]!r} / end {fields[4]!r} are not positive integers.",
            record=record,
            fix="GTF coordinates are 1-based integers.",
        )
    _check_strand(path, fields[6], record)
    attributes = dict(_ATTRIBUTE.findall(fields[8]))
    if "gene_id" not in attributes:
        raise InputError(path, "has no gene_id attribute.", record=record, fix="add gene_id.")
    gene = _GtfGene(
        gene_id=attributes["gene_id"],
        symbol=attributes.get("gene_name"),
        chrom=fields[0],
        strand=fields[6],
        start=int(fields[3]) - 1,
        end=int(fields[4]),
        biotype=attributes.get("gene_type", attributes.get("gene_biotype")),
    )
    return fields[2], gene


def _extend(path: Path, spans: dict[str, _GtfGene], gene: _GtfGene, record: str) -> None:
    """Grow the span of ``gene`` by one transcript/exon record."""
    known = spans.setdefault(gene.gene_id, gene)
    if (known.chrom, known.strand) != (gene.chrom, gene.strand):
        raise InputError(
            path,
            f"gene {gene.gene_id} is on {gene.chrom}{gene.strand} here but on "
            f"{known.chrom}{known.strand} in an earlier record.",
            record=record,
            fix="give each gene_id one contig and one strand.",
        )
    known.start = min(known.start, gene.start)
    known.end = max(known.end, gene.end)


def read_geneanno(path: str | os.PathLike[str], *, cage_tss: bool = False) -> pd.DataFrame:
    """Read ExPecto's ``geneanno.csv`` (1-based TSS) into a gene table.

    Parameters
    ----------
    path : str or PathLike
        CSV with header ``id,symbol,seqnames,strand,TSS,CAGE_representative_TSS,type``.
    cage_tss : bool, optional
        Use ``CAGE_representative_TSS`` instead of ``TSS``. Default False.

    Returns
    -------
    pandas.DataFrame
        Gene table (:data:`GENE_COLUMNS`); start and end are NA.
    """
    path = Path(path)
    frame = _read_csv(path, header=0)
    if ",".join(frame.columns) != _GENEANNO_HEADER:
        raise InputError(
            path,
            f"header is {','.join(frame.columns)!r}.",
            record="line 1",
            fix=f"give the ExPecto layout {_GENEANNO_HEADER}.",
        )
    column = "CAGE_representative_TSS" if cage_tss else "TSS"
    genes = pd.DataFrame(
        {
            "gene_id": frame["id"],
            "symbol": frame["symbol"],
            "chrom": frame["seqnames"],
            "tss": _tss(path, frame[column], column, first_line=2),
            "strand": frame["strand"],
            "biotype": frame["type"],
        }
    )
    return _checked(path, genes, first_line=2)


def read_gene_list(path: str | os.PathLike[str]) -> pd.DataFrame:
    """Read the benchmark's headerless ``gene_list.csv`` (ens_id,chrom,TSS,symbol,strand).

    Parameters
    ----------
    path : str or PathLike
        CSV without header; chrom without ``chr``; TSS 1-based; symbol may be empty.

    Returns
    -------
    pandas.DataFrame
        Gene table (:data:`GENE_COLUMNS`); start, end and biotype are NA.
    """
    path = Path(path)
    frame = _read_csv(path, header=None)
    if frame.shape[1] != len(_GENE_LIST):
        raise InputError(
            path,
            f"has {frame.shape[1]} columns, expected {len(_GENE_LIST)}: {','.join(_GENE_LIST)}.",
            record="line 1",
            fix="give the headerless layout ens_id,chrom,TSS,symbol,strand.",
        )
    frame.columns = _GENE_LIST
    genes = frame.assign(
        tss=_tss(path, frame["TSS"], "TSS", first_line=1),
        symbol=frame["symbol"].mask(frame["symbol"] == ""),
    )
    return _checked(path, genes.drop(columns="TSS"), first_line=1)


def write_gene_list(path: str | os.PathLike[str], genes: pd.DataFrame) -> None:
    """Write a gene table in the benchmark ``gene_list.csv`` layout, atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination. Rows are ``gene_id,chrom,TSS,symbol,strand`` with no header, chrom
        without ``chr`` (``chrM`` as ``MT``), TSS 1-based, missing symbols empty.
    genes : pandas.DataFrame
        Gene table with at least gene_id, chrom, tss (0-based), symbol, strand.
    """
    chrom = genes["chrom"].astype(str)
    chrom = chrom.where(~chrom.isin(["chrM", "chrMT", "M"]), "MT").str.removeprefix("chr")
    out = pd.DataFrame(
        {
            "gene_id": genes["gene_id"],
            "chrom": chrom,
            "TSS": genes["tss"].astype("int64") + 1,
            "symbol": genes["symbol"].fillna(""),
            "strand": genes["strand"],
        }
    )
    with atomic_path(path) as tmp:
        out.to_csv(tmp, header=False, index=False)


def _read_csv(path: Path, header: int | None) -> pd.DataFrame:
    """Read a CSV as strings, empty fields kept as ``""``."""
    with open_text(path, "CSV") as handle:
        return pd.read_csv(handle, header=header, dtype=str, keep_default_na=False)


def _tss(path: Path, values: pd.Series, column: str, first_line: int) -> pd.Series:
    """Convert a 1-based TSS column to 0-based int64, or raise naming the first bad line."""
    bad = ~values.str.fullmatch(_POSITIVE.pattern)
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(
            path,
            f"{column} {values.iloc[row]!r} is not a positive integer.",
            record=f"line {row + first_line}",
            fix="give 1-based integer TSS positions.",
        )
    return values.astype("int64") - 1


def _checked(path: Path, genes: pd.DataFrame, first_line: int) -> pd.DataFrame:
    """Check strands and unique ids of a CSV-read gene table, then finish it."""
    for row, strand in enumerate(genes["strand"]):
        _check_strand(path, strand, f"line {row + first_line}")
    duplicated = genes["gene_id"].duplicated()
    if duplicated.any():
        row = int(np.flatnonzero(duplicated.to_numpy())[0])
        gene_id = genes["gene_id"].iloc[row]
        earlier = int(np.flatnonzero((genes["gene_id"] == gene_id).to_numpy())[0])
        raise InputError(
            path,
            f"gene id {gene_id} appears again (first on line {earlier + first_line}).",
            record=f"line {row + first_line}",
            fix="keep one row per gene id.",
        )
    return _finish(genes)


def _check_strand(path: Path, strand: str, record: str) -> None:
    """Raise unless ``strand`` is ``+`` or ``-``."""
    if strand not in ("+", "-"):
        raise InputError(
            path, f"strand {strand!r} is not '+' or '-'.", record=record, fix="give + or -."
        )


def _finish(genes: pd.DataFrame) -> pd.DataFrame:
    """Return ``genes`` with exactly :data:`GENE_COLUMNS`, in order, with their dtypes."""
    missing = pd.Series([None] * len(genes), index=genes.index)
    column = {name: genes.get(name, missing) for name in GENE_COLUMNS}
    return pd.DataFrame(
        {
            "gene_id": column["gene_id"].astype("str"),
            "symbol": column["symbol"].astype("str"),
            "chrom": column["chrom"].astype("str"),
            "tss": column["tss"].astype("int64"),
            "strand": column["strand"].astype("str"),
            "start": column["start"].astype("Int64"),
            "end": column["end"].astype("Int64"),
            "biotype": column["biotype"].astype("str"),
        }
    ).reset_index(drop=True)
