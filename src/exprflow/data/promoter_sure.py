"""The ``SuRE_classification`` promoter task: SuRE fragments of four genomes, binned expression.

Inputs (SuRE, van Arensbergen et al. 2019, one table per genome)
----------------------------------------------------------------
``SuRE_<sample>.txt.gz`` (gzip or plain), tab-separated, header naming at least
:data:`SURE_COLUMNS` (any order, extra columns ignored), one fragment per line:

* ``chrom``, ``start``, ``end``: the fragment, 0-based half-open on the genome FASTA;
* ``strand``: ``+`` or ``-``, its orientation in the plasmid (``-`` fragments are
  reverse-complemented after the alleles are applied);
* ``snp_pos``, ``snp_alt``: comma-separated 1-based genome positions (VCF ``POS``) of the
  sample's ALT alleles on the fragment's haplotype, and the ALT bases (forward strand,
  one base each); both empty when none;
* ``K562``, ``HepG2``: normalised SuRE expression, finite and ≥ 0.

Task (published rules of ``promoter_models``)
---------------------------------------------
Class per cell ``min(ceil(x / 10), 4)``: 0 for no expression, 1 for (0, 10], … 4 for
> 30. Targets ``(N, 2)`` int64 (``K562``, ``HepG2``); ``group`` = genome index (tables in
file-name order); spec ``n_heads`` = number of genomes (4 in the published data),
``n_classes = 5``, ``n_logits = n_heads × 2 × 5``. Sequences are of variable length,
right-padded with code 5. Balance: within each genome, each of the 25 (K562, HepG2)
class pairs keeps at most ``per_pair`` fragments drawn at random (``per_pair <= 0``
keeps everything); the kept fragments are then split 80/10/10 train/val/test at
random (seeded, not by chromosome). The published GC matching within a pair is not
reproduced. Ids are ``<sample>:<chrom>:<start>-<end>:<strand>``.
"""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from exprflow.data.promoter_codes import encode_codes
from exprflow.data.promoter_tasks import TaskData, TaskSpec
from exprflow.errors import InputError
from exprflow.genome._textio import open_text
from exprflow.genome.fasta import Genome

__all__ = [
    "SURE_CELLS",
    "SURE_CLASSES",
    "SURE_COLUMNS",
    "SURE_TASK",
    "SureTable",
    "build_sure_task",
    "expression_class",
    "read_sure_table",
]

log = logging.getLogger(__name__)

#: Published task name.
SURE_TASK = "SuRE_classification"
#: Columns every genome table needs.
SURE_COLUMNS = ("chrom", "start", "end", "strand", "snp_pos", "snp_alt", "K562", "HepG2")
#: Cells (target columns), in order.
SURE_CELLS = ("K562", "HepG2")
#: Expression classes per cell.
SURE_CLASSES = 5
_FIX = (
    "give SuRE genome tables with header chrom, start, end, strand, snp_pos, snp_alt, "
    "K562, HepG2 (tab-separated)."
)
_COMPLEMENT = str.maketrans("ACGTN", "TGCAN")


@dataclass
class SureTable:
    """The fragments of one genome table.

    Attributes
    ----------
    sample : str
        The genome (from ``SuRE_<sample>.txt.gz``).
    chrom : list of str
        Contig of each fragment.
    start, end : list of int
        0-based half-open coordinates.
    strand : list of str
        ``+`` or ``-``.
    snps : list of list of (int, str)
        ``(0-based position, ALT base)`` of each fragment's alleles.
    expression : numpy.ndarray
        float64 ``(F, 2)`` K562 and HepG2 expression.
    """

    sample: str
    chrom: list[str] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    end: list[int] = field(default_factory=list)
    strand: list[str] = field(default_factory=list)
    snps: list[list[tuple[int, str]]] = field(default_factory=list)
    expression: np.ndarray = field(default_factory=lambda: np.empty((0, 2)))


def expression_class(values: np.ndarray) -> np.ndarray:
    """SuRE expression class ``min(ceil(x / 10), 4)`` (0 for x = 0).

    Parameters
    ----------
    values : numpy.ndarray
        Expression, ≥ 0, any shape.

    Returns
    -------
    numpy.ndarray
        int64 classes 0..4, same shape.
    """
    return np.minimum(np.ceil(np.asarray(values, dtype=np.float64) / 10.0), 4).astype(np.int64)


def _header(path: Path, line: str) -> list[int]:
    """Column index of each of :data:`SURE_COLUMNS`, or an InputError naming the header."""
    names = line.rstrip("\r\n").split("\t")
    missing = [name for name in SURE_COLUMNS if name not in names]
    if missing:
        raise InputError(
            path,
            f"header lacks column(s) {missing}; it is {names[:10]}.",
            record="line 1",
            fix=_FIX,
        )
    return [names.index(name) for name in SURE_COLUMNS]


def _snps(start: int, end: int, positions: str, alts: str, where: str) -> list[tuple[int, str]]:
    """``(0-based position, ALT)`` pairs of one fragment; ValueError on a bad list."""
    if not positions and not alts:
        return []
    pos_list, alt_list = positions.split(","), alts.split(",")
    if len(pos_list) != len(alt_list):
        raise ValueError(f"{len(pos_list)} snp_pos but {len(alt_list)} snp_alt")
    snps = []
    for text, alt in zip(pos_list, alt_list, strict=True):
        pos = int(text)
        if not start < pos <= end:
            raise ValueError(
                f"SNP position {pos} (1-based) is outside its fragment {where} "
                f"(1-based {start + 1}..{end})"
            )
        if len(alt) != 1 or alt.upper() not in "ACGTN":
            raise ValueError(f"ALT {alt!r} at {pos} is not a single base")
        snps.append((pos - 1, alt.upper()))
    return snps


def _parse_line(table: SureTable, columns: list[int], fields: list[str]) -> list[float]:
    """Append one fragment to ``table``; return its expression. ValueError on bad fields."""
    chrom, start_text, end_text, strand, positions, alts, *cells = (fields[i] for i in columns)
    start, end = int(start_text), int(end_text)
    if not 0 <= start < end:
        raise ValueError(f"start {start}, end {end}: need 0 <= start < end")
    if strand not in ("+", "-"):
        raise ValueError(f"strand {strand!r} is not + or -")
    values = [float(value) for value in cells]
    if not all(math.isfinite(v) and v >= 0 for v in values):
        raise ValueError(f"expression {cells} must be finite and >= 0")
    snps = _snps(start, end, positions.strip(), alts.strip(), f"{chrom}:{start}-{end}")
    table.chrom.append(chrom)
    table.start.append(start)
    table.end.append(end)
    table.strand.append(strand)
    table.snps.append(snps)
    return values


def read_sure_table(path: str | os.PathLike[str]) -> SureTable:
    """Read one SuRE genome table (``SuRE_<sample>.txt.gz``).

    Parameters
    ----------
    path : str or PathLike
        The table (gzip or plain).

    Returns
    -------
    SureTable
        Its fragments in file order; ``sample`` from the file name.

    Raises
    ------
    InputError
        For a missing file, a bad header, a line with too few columns, a malformed
        number, strand or allele, or a SNP position outside its fragment (naming the
        file and the line number).
    """
    path = Path(path)
    sample = path.name.removeprefix("SuRE_").split(".")[0]
    table = SureTable(sample)
    values: list[list[float]] = []
    with open_text(path, "SuRE table") as handle:
        columns = _header(path, handle.readline())
        for number, line in enumerate(handle, start=2):
            if not line.strip():
                continue
            fields = line.rstrip("\r\n").split("\t")
            try:
                if len(fields) <= max(columns):
                    raise ValueError(f"{len(fields)} columns, the header has {max(columns) + 1}")
                values.append(_parse_line(table, columns, fields))
            except ValueError as exc:
                raise InputError(path, f"{exc}.", record=f"line {number}", fix=_FIX) from exc
    table.expression = np.asarray(values, dtype=np.float64).reshape(-1, 2)
    return table


def _balanced(classes: np.ndarray, per_pair: int, rng: np.random.Generator) -> np.ndarray:
    """Rows kept: at most ``per_pair`` drawn at random per (K562, HepG2) class pair."""
    if per_pair <= 0:
        return np.arange(len(classes))
    pair = classes[:, 0] * SURE_CLASSES + classes[:, 1]
    kept = []
    for value in np.unique(pair):
        rows = np.flatnonzero(pair == value)
        kept.append(rows if rows.size <= per_pair else rng.choice(rows, per_pair, replace=False))
    return np.sort(np.concatenate(kept)) if kept else np.empty(0, dtype=np.int64)


def _random_split(n: int, rng: np.random.Generator) -> np.ndarray:
    """int8 split codes of ``n`` rows: 80/10/10 train/val/test in random order."""
    n_val = n_test = round(0.1 * n) if n >= 10 else min(1, n // 3)
    codes = np.zeros(n, dtype=np.int8)
    order = rng.permutation(n)
    codes[order[:n_val]] = 1
    codes[order[n_val : n_val + n_test]] = 2
    return codes


def _sequence(genome: Genome, table: SureTable, row: int) -> str:
    """The fragment with its ALT alleles, in plasmid orientation."""
    start = table.start[row]
    bases = list(genome.fetch(table.chrom[row], start, table.end[row]))
    for pos, alt in table.snps[row]:
        bases[pos - start] = alt
    seq = "".join(bases)
    return seq.translate(_COMPLEMENT)[::-1] if table.strand[row] == "-" else seq


def _sure_files(folder: Path) -> list[Path]:
    """The genome tables of ``folder``, in file-name order, or an InputError."""
    files = sorted(p for p in folder.glob("SuRE_*.txt*") if p.suffix in (".txt", ".gz"))
    if not files:
        raise InputError(
            folder,
            "has no SuRE genome table (SuRE_<sample>.txt.gz).",
            fix="point to the folder of the SuRE_<sample>.txt.gz tables.",
        )
    return files


def build_sure_task(
    sure_dir: str | os.PathLike[str],
    genome_fasta: str | os.PathLike[str],
    *,
    per_pair: int = 0,
    seed: int = 0,
) -> TaskData:
    """Build the ``SuRE_classification`` task from the genome tables and the FASTA.

    Parameters
    ----------
    sure_dir : str or PathLike
        Folder of ``SuRE_<sample>.txt.gz`` tables (one per genome).
    genome_fasta : str or PathLike
        Reference FASTA the fragments are on.
    per_pair : int, optional
        Most fragments kept per genome and (K562, HepG2) class pair; ``<= 0`` keeps
        every fragment. Default 0.
    seed : int, optional
        Seed of the downsampling and of the 80/10/10 split. Default 0.

    Returns
    -------
    TaskData
        Multiclass task: targets int64 ``(N, 2)`` classes 0..4, variable-length codes
        padded with 5, ``group`` = genome index, one split column.

    Raises
    ------
    InputError
        For a folder without tables, a malformed table (:func:`read_sure_table`), or
        when no fragment is left.
    """
    folder = Path(sure_dir)
    rng = np.random.default_rng(seed)
    tables = [read_sure_table(path) for path in _sure_files(folder)]
    seqs: list[str] = []
    ids: list[str] = []
    classes, groups = [], []
    with Genome(genome_fasta) as genome:
        for index, table in enumerate(tables):
            table_classes = expression_class(table.expression)
            kept = _balanced(table_classes, per_pair, rng)
            log.info("%s: %d of %d fragments kept", table.sample, kept.size, len(table.chrom))
            for row in kept.tolist():
                seqs.append(_sequence(genome, table, row))
                ids.append(
                    f"{table.sample}:{table.chrom[row]}:{table.start[row]}-"
                    f"{table.end[row]}:{table.strand[row]}"
                )
            classes.append(table_classes[kept])
            groups.append(np.full(kept.size, index, dtype=np.int64))
    if not seqs:
        raise InputError(folder, "the SuRE tables hold no fragment.", fix=_FIX)
    codes = encode_codes(seqs, ids=ids, source=str(folder))
    targets = np.concatenate(classes)
    spec = TaskSpec(
        name=SURE_TASK,
        kind="multiclass",
        outputs=SURE_CELLS,
        n_logits=len(tables) * len(SURE_CELLS) * SURE_CLASSES,
        n_heads=len(tables),
        n_classes=SURE_CLASSES,
        max_length=codes.shape[1],
    )
    return TaskData(
        spec=spec,
        ids=np.asarray(ids, dtype=str),
        codes=codes,
        lengths=np.asarray([len(s) for s in seqs], dtype=np.int32),
        targets=targets,
        mask=np.ones(targets.shape, dtype=bool),
        splits=_random_split(len(seqs), rng)[:, None],
        group=np.concatenate(groups),
    )
