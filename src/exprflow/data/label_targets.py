"""Label targets tables: which tracks become probe-head labels, and how, in Basenji's layout.

The layout of Basenji's ``targets.txt`` (``../shared/real/basenji2/targets_human.txt``):
tab-separated with a header naming the columns ``index genome identifier file clip scale
sum_stat description`` (any order; ``index``, ``genome`` and ``description`` may be
left out, extra columns such as Borzoi's ``strand_pair`` are ignored), plus an optional
``clip_soft`` column as in Basenji/Borzoi. One row per track, in output order.

``file`` is a bigWig (``.bw``/``.bigWig``), a BED (``.bed``/``.narrowPeak``, plain or
gzip/bgzip) or a FASTA (``.fa``/``.fasta``/``.fna``, plain or bgzip) for
sequence-derived counts; a relative path is taken from the table's folder. ``sum_stat``
is one of :data:`SUM_STATS` for bigWig and BED files and ``count_<KMER>`` (e.g.
``count_CG``) for a FASTA; ``sum_exp2`` needs a bigWig. ``clip`` is a positive number
(``inf`` for none), ``clip_soft`` empty or a number, ``scale`` a finite number. What
each statistic computes is in :mod:`exprflow.data.basenji_labels`.

:func:`world_label_targets` gives the default table for a synthetic world (CS282A's
tracks: lamina, LAD coverage, CpG methylation, CpG counts).
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.simulate.world import load_manifest

__all__ = [
    "SUM_STATS",
    "LabelTarget",
    "TrackKind",
    "read_label_targets",
    "track_kind",
    "world_label_targets",
    "write_label_targets",
]

TrackKind = Literal["bigwig", "bed", "fasta"]
#: Statistics of bigWig and BED tracks (FASTA tracks take ``count_<KMER>``).
SUM_STATS: tuple[str, ...] = ("sum", "mean", "max", "sum_sqrt", "sum_exp2")
_REQUIRED = ("identifier", "file", "clip", "scale", "sum_stat")
_COLUMNS = ("index", "genome", "identifier", "file", "clip", "scale", "sum_stat", "description")
_COUNT = re.compile(r"^count_([ACGT]+)$")
_SUFFIXES: dict[TrackKind, tuple[str, ...]] = {
    "bigwig": (".bw", ".bigwig"),
    "bed": (".bed", ".narrowpeak"),
    "fasta": (".fa", ".fasta", ".fna"),
}
_FIX = "follow Basenji's targets.txt layout (see exprflow.data.label_targets)."


def track_kind(path: str | os.PathLike[str]) -> TrackKind | None:
    """Return the kind of track file ``path`` names by its extension, or None.

    Parameters
    ----------
    path : str or PathLike
        A track file; a trailing ``.gz``/``.bgz`` is looked through.

    Returns
    -------
    {"bigwig", "bed", "fasta"} or None
    """
    name = Path(path).name.lower()
    for packed in (".gz", ".bgz"):
        name = name.removesuffix(packed)
    return next((k for k, ends in _SUFFIXES.items() if name.endswith(ends)), None)


@dataclass(frozen=True)
class LabelTarget:
    """One label track: a row of the targets table.

    Attributes
    ----------
    index : int
        The table's ``index`` (kept as written; rows keep file order).
    genome : int
        The table's ``genome`` (0 when absent).
    identifier : str
        Unique track name.
    file : Path
        Absolute path of the track file.
    clip : float
        Hard clip: values end in ``[-clip, clip]``; ``inf`` for none.
    scale : float
        Multiplies every per-base value before pooling.
    sum_stat : str
        One of :data:`SUM_STATS`, or ``count_<KMER>`` for a FASTA.
    description : str
        Free text.
    clip_soft : float or None
        Soft clip threshold (see :mod:`exprflow.data.basenji_labels`); None for none.
    """

    index: int
    genome: int
    identifier: str
    file: Path
    clip: float
    scale: float
    sum_stat: str
    description: str = ""
    clip_soft: float | None = None

    @property
    def kind(self) -> TrackKind:
        """The file's kind, from its extension."""
        kind = track_kind(self.file)
        if kind is None:
            raise InputError(self.file, "is not a known track file type.", record=self.identifier)
        return kind

    @property
    def kmer(self) -> str | None:
        """The k-mer a ``count_<KMER>`` statistic counts, else None."""
        match = _COUNT.match(self.sum_stat)
        return match.group(1) if match else None


def _number(path: Path, record: str, column: str, text: str, *, optional: bool = False) -> float:
    """Parse one numeric cell; clear error naming the line and the column."""
    if optional and text.strip().lower() in ("", "nan", "none", "na"):
        return math.nan
    try:
        return float(text)
    except ValueError:
        raise InputError(
            path, f"column {column!r} is {text!r}, not a number.", record=record, fix=_FIX
        ) from None


def _check_names(path: Path, record: str, identifier: str, stat: str) -> None:
    """Refuse an empty identifier or an unknown statistic."""
    if not identifier.strip():
        raise InputError(path, "has an empty identifier.", record=record, fix=_FIX)
    if stat not in SUM_STATS and not _COUNT.match(stat):
        raise InputError(
            path,
            f"unknown sum_stat {stat!r}; expected one of {', '.join(SUM_STATS)} "
            "(bigWig/BED) or count_<KMER> such as count_CG (FASTA).",
            record=record,
            fix=_FIX,
        )


def _check_kind(path: Path, record: str, stat: str, kind: TrackKind | None, file: str) -> None:
    """Refuse an unknown file type, or a statistic the file type lacks."""
    if kind is None:
        suffixes = ", ".join(s for ends in _SUFFIXES.values() for s in ends)
        raise InputError(
            path,
            f"file {file!r} is not a known track type (extensions {suffixes}, optionally .gz).",
            record=record,
            fix="convert coverage to bigWig, intervals to BED.",
        )
    allowed = {
        "fasta": "count_<KMER>",
        "bed": "sum, mean, max or sum_sqrt",
        "bigwig": ", ".join(SUM_STATS),
    }[kind]
    counts = bool(_COUNT.match(stat))
    if counts != (kind == "fasta") or (kind == "bed" and stat == "sum_exp2"):
        raise InputError(
            path,
            f"sum_stat {stat!r} does not apply to a {kind} file ({file}); use {allowed}.",
            record=record,
            fix=_FIX,
        )


def _row(path: Path, number: int, row: dict[str, str], check_files: bool) -> LabelTarget:
    """One table row as a :class:`LabelTarget`; clear errors for any bad cell."""
    record = f"line {number} ({row['identifier']})"
    _check_names(path, record, row["identifier"], row["sum_stat"])
    numbers = {c: _number(path, record, c, row[c]) for c in ("clip", "scale")}
    soft = _number(path, record, "clip_soft", row.get("clip_soft", ""), optional=True)
    index = _number(path, record, "index", row.get("index", str(number - 2)))
    genome = _number(path, record, "genome", row.get("genome", "0") or "0")
    if not numbers["clip"] > 0 or not math.isfinite(numbers["scale"]) or soft < 0:
        raise InputError(
            path,
            f"clip {row['clip']} must be > 0, scale {row['scale']} finite and clip_soft "
            f"{row.get('clip_soft', '')!r} empty or >= 0.",
            record=record,
            fix=_FIX,
        )
    if not (index.is_integer() and genome.is_integer()):
        raise InputError(path, "index and genome must be integers.", record=record, fix=_FIX)
    file = path.parent / row["file"]
    if check_files:
        _check_kind(path, record, row["sum_stat"], track_kind(file), row["file"])
        if not file.is_file():
            raise InputError(
                path, f"track file {file} not found.", record=record, fix="check the path."
            )
    return LabelTarget(
        index=int(index),
        genome=int(genome),
        identifier=row["identifier"],
        file=file.resolve() if check_files else file,
        clip=numbers["clip"],
        scale=numbers["scale"],
        sum_stat=row["sum_stat"],
        description=row.get("description", ""),
        clip_soft=None if math.isnan(soft) else soft,
    )


def read_label_targets(
    path: str | os.PathLike[str], *, check_files: bool = True
) -> list[LabelTarget]:
    """Read and check a label targets table.

    Parameters
    ----------
    path : str or PathLike
        The table (layout in the module docstring).
    check_files : bool, optional
        Also check each statistic against its file type and that each file exists.
        Default True; False reads tables whose files are elsewhere (the published
        ``targets_human.txt``).

    Returns
    -------
    list of LabelTarget
        In file order.

    Raises
    ------
    InputError
        Naming the table, the line and the fix: a missing column, a bad number, an
        unknown ``sum_stat``, a duplicate identifier, a missing track file.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "label targets table not found.", fix="check the path.")
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    missing = [c for c in _REQUIRED if c not in table.columns]
    if missing:
        raise InputError(
            path,
            f"has no column(s) {missing}; the header is {list(table.columns)}.",
            record="header",
            fix=f"start with the tab-separated header {' '.join(_COLUMNS)}.",
        )
    if table.empty:
        raise InputError(path, "lists no target.", fix="add one row per label track.")
    rows = table.to_dict("records")
    targets = [_row(path, n, row, check_files) for n, row in enumerate(rows, 2)]
    seen: dict[str, int] = {}
    for number, target in enumerate(targets, 2):
        if target.identifier in seen:
            raise InputError(
                path,
                f"identifier {target.identifier!r} is also on line {seen[target.identifier]}.",
                record=f"line {number}",
                fix="give every track its own identifier.",
            )
        seen[target.identifier] = number
    return targets


def _format(value: float) -> str:
    return str(int(value)) if value.is_integer() else repr(value)


def write_label_targets(path: str | os.PathLike[str], targets: Sequence[LabelTarget]) -> Path:
    """Write a label targets table (absolute file paths), atomically.

    Parameters
    ----------
    path : str or PathLike
        Destination.
    targets : sequence of LabelTarget
        Rows, in order; a ``clip_soft`` column is written when any target has one.

    Returns
    -------
    Path
        ``path``.
    """
    soft = any(t.clip_soft is not None for t in targets)
    header = [*_COLUMNS, "clip_soft"] if soft else list(_COLUMNS)
    lines = ["\t".join(header)]
    for t in targets:
        cells = [str(t.index), str(t.genome), t.identifier, str(Path(t.file).resolve())]
        cells += [_format(t.clip), _format(t.scale), t.sum_stat, t.description]
        if soft:
            cells.append("" if t.clip_soft is None else _format(t.clip_soft))
        lines.append("\t".join(cells))
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return Path(path)


def world_label_targets(world: str | os.PathLike[str], bin_size: int = 128) -> list[LabelTarget]:
    """The default label targets of a synthetic world, after CS282A's 18 tracks.

    Grouped by kind, each group over the cell types of ``tracks/cell_types.tsv`` in
    their order: ``<eid>_lamina`` (the log2 LMNB1 enrichment bigWig, ``sum_exp2``:
    2^value summed per bin, clip ``8 * bin_size`` = enrichment 8 over a whole bin), then
    ``<eid>_LADs`` (the LAD calls, ``mean``: covered fraction, clip 1), then
    ``<eid>_CpG_methylation`` (bigWig, ``mean`` over CpG bases ×500, clip 500); last one
    ``CpG_count`` track from the FASTA (``count_CG`` ×10, clip ``10 * bin_size / 2``, the
    most CpGs a bin can hold).

    Parameters
    ----------
    world : str or PathLike
        World folder (``world.json``).
    bin_size : int, optional
        Bin width the clips are set for. Default 128.

    Returns
    -------
    list of LabelTarget
    """
    manifest = load_manifest(Path(world))
    tracks = manifest.path("tracks")
    table = tracks / "cell_types.tsv"
    if not table.is_file():
        raise InputError(table, "cell type table not found.", fix="rebuild the world.")
    cells = pd.read_csv(table, sep="\t", dtype=str)
    specs = [
        ("lamina", "lamina.bigWig", "sum_exp2", 8.0 * bin_size, 1.0, "LMNB1"),
        ("LADs", "LADs.bed.gz", "mean", 1.0, 1.0, "LAD coverage"),
        ("CpG_methylation", "CpG_methylation.bigWig", "mean", 500.0, 500.0, "CpG methylation"),
    ]
    rows = [
        (f"{eid}_{name}", tracks / eid / file, stat, clip, scale, f"{what}:{label}")
        for name, file, stat, clip, scale, what in specs
        for eid, label in zip(cells["eid"], cells["name"], strict=True)
    ]
    rows.append(("CpG_count", manifest.path("fasta"), "count_CG", 5.0 * bin_size, 10.0, "CpG"))
    return [
        LabelTarget(i, 0, ident, Path(file), clip, scale, stat, description)
        for i, (ident, file, stat, clip, scale, description) in enumerate(rows)
    ]
