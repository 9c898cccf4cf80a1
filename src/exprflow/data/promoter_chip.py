"""The ``ENCODETFChIPSeq`` promoter task: TF ChIP-seq peak windows and shuffled negatives.

Inputs (ENCODE layout)
----------------------
``metadata.tsv``
    ENCODE file metadata, tab-separated, one row per peak file. Columns read:
    ``File accession``, ``Biosample term name``, ``Experiment target`` (``<TF>-human``)
    and, when present, ``File assembly`` (rows of another assembly are skipped) and
    ``File format`` (rows that are not ``narrowPeak`` are skipped).
``<File accession>.bed.gz``
    One narrowPeak file per row (gzip or plain), 10 tab-separated columns: chrom, start,
    end (0-based half-open), name, score, strand, signalValue, pValue, qValue
    (−log10; −1 = not computed, never significant), peak (summit offset from start;
    −1 = none, the middle is used). ``track``/``browser``/``#`` lines are skipped.

Task (published rules of ``promoter_models``)
---------------------------------------------
Peaks with ``qValue ≥ −log10(qvalue)`` are kept; a file with fewer than ``min_peaks``
of them is dropped (logged); targets in ``exclude`` (CTCF) are left out. One output per
``<biosample>:<TF>`` (files of the same pair are pooled). All summits, sorted along each
chromosome, are grouped: a summit within ``merge_distance`` bp of its group's first
summit joins it, otherwise it opens a new group. Each group gives one ``window``-bp
positive centred on the mean summit (rounded half to even, as numpy), and one
dinucleotide-shuffled copy of it as a negative (:mod:`exprflow.genome.shuffle`).

Labels are masked multi-label (binary): a positive is 1 on every track with a summit in
its group and 0 on the other tracks of those tracks' biosamples; tracks of biosamples
without a summit in the group are masked (unknown). Its negative is 0 on the same tracks
and masked on the same others. The split is by chromosome (:mod:`.promoter_chromsplit`:
val chr4, chr17; test chr2, 9, 10, 13, 20, 21); peaks on other contigs (chrX …) are
dropped, as published. Rows alternate positive, negative; ids are ``chrom:start-end``
and ``chrom:start-end:shuffled``.

Differences from the published code: summits are sorted numerically (the published
code sorted ``"chrom:position"`` strings); a positive is also labelled 0 on the other
tracks of its biosamples (the published mask covered only the tracks with a summit in
the group, so it had no negative labels from genomic sequence at all).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.data.promoter_chromsplit import (
    DROPPED,
    PUBLISHED_SPLIT,
    ChromosomeSplit,
    chromosome_split,
)
from exprflow.data.promoter_codes import encode_codes
from exprflow.data.promoter_tasks import TaskData, TaskSpec
from exprflow.errors import InputError
from exprflow.genome._textio import open_text
from exprflow.genome.fasta import Genome
from exprflow.genome.shuffle import dinucleotide_shuffle_batch

__all__ = ["CHIP_TASK", "METADATA_COLUMNS", "NarrowPeaks", "build_chip_task", "read_narrowpeak"]

log = logging.getLogger(__name__)

#: Published task name.
CHIP_TASK = "ENCODETFChIPSeq"
#: Metadata columns every row needs.
METADATA_COLUMNS = ("File accession", "Biosample term name", "Experiment target")
_NARROWPEAK_FIX = (
    "give ENCODE narrowPeak lines: chrom, start, end, name, score, strand, signalValue, "
    "pValue, qValue, peak (10 tab-separated columns)."
)


@dataclass(frozen=True)
class NarrowPeaks:
    """The peaks of one narrowPeak file.

    Attributes
    ----------
    chrom : numpy.ndarray
        str ``(P,)`` contig of each peak.
    summit : numpy.ndarray
        int64 ``(P,)`` 0-based summit position (start + peak offset).
    qvalue : numpy.ndarray
        float64 ``(P,)`` −log10 q-value.
    """

    chrom: np.ndarray
    summit: np.ndarray
    qvalue: np.ndarray


@dataclass(frozen=True)
class _Track:
    """One output: its name, biosample and pooled significant summits."""

    name: str
    biosample: str
    chrom: np.ndarray
    summit: np.ndarray


def _parse_peak_line(path: Path, number: int, line: str) -> tuple[str, int, float]:
    """``(chrom, summit, qValue)`` of one narrowPeak line, or an InputError naming it."""
    fields = line.rstrip("\r\n").split("\t")
    record = f"line {number}"
    if len(fields) < 10:
        raise InputError(
            path, f"has {len(fields)} columns, expected 10.", record=record, fix=_NARROWPEAK_FIX
        )
    try:
        start, end, offset = int(fields[1]), int(fields[2]), int(fields[9])
        qvalue = float(fields[8])
    except ValueError as exc:
        raise InputError(
            path, f"has a malformed number ({exc}).", record=record, fix=_NARROWPEAK_FIX
        ) from exc
    if not 0 <= start < end or not -1 <= offset < end - start or math.isnan(qvalue):
        raise InputError(
            path,
            f"has start {start}, end {end}, peak {offset}, qValue {fields[8]}: need "
            "0 <= start < end, -1 <= peak < end - start and a qValue.",
            record=record,
            fix=_NARROWPEAK_FIX,
        )
    summit = start + offset if offset >= 0 else (start + end) // 2
    return fields[0], summit, qvalue


def read_narrowpeak(path: str | os.PathLike[str]) -> NarrowPeaks:
    """Read a (gzipped) narrowPeak file: summits and q-values.

    Parameters
    ----------
    path : str or PathLike
        The file.

    Returns
    -------
    NarrowPeaks
        Every peak of the file, in file order.

    Raises
    ------
    InputError
        When the file is missing, or a line has too few columns, a malformed number or
        impossible coordinates (naming the file and the line number).
    """
    path = Path(path)
    chroms: list[str] = []
    summits: list[int] = []
    qvalues: list[float] = []
    with open_text(path, "narrowPeak") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip() or line.startswith(("#", "track", "browser")):
                continue
            chrom, summit, qvalue = _parse_peak_line(path, number, line)
            chroms.append(chrom)
            summits.append(summit)
            qvalues.append(qvalue)
    return NarrowPeaks(
        np.asarray(chroms, dtype=str),
        np.asarray(summits, dtype=np.int64),
        np.asarray(qvalues, dtype=np.float64),
    )


def _read_metadata(path: Path, assembly: str, exclude: Iterable[str]) -> pd.DataFrame:
    """Metadata rows to use: ``accession``, ``biosample``, ``tf``, ``line`` columns."""
    try:
        table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    except FileNotFoundError as exc:
        raise InputError(path, "ChIP-seq metadata file not found.", fix="check the path.") from exc
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as exc:
        raise InputError(path, f"cannot be read as a TSV table ({exc}).") from exc
    missing = [column for column in METADATA_COLUMNS if column not in table.columns]
    if missing:
        raise InputError(
            path,
            f"lacks column(s) {missing}; it has {list(table.columns)[:8]}.",
            record="header",
            fix="give the ENCODE metadata.tsv of the peak files.",
        )
    table["line"] = np.arange(len(table)) + 2
    keep = np.ones(len(table), dtype=bool)
    if "File assembly" in table.columns:
        keep &= (table["File assembly"] == assembly).to_numpy()
    if "File format" in table.columns:
        keep &= table["File format"].str.contains("narrowPeak", case=False).to_numpy()
    tf = table["Experiment target"].str.replace(r"-human$", "", regex=True)
    excluded = {name.upper() for name in exclude}
    keep &= ~tf.str.upper().isin(excluded).to_numpy()
    log.info(
        "%s: %d of %d rows used (assembly %s, narrowPeak, targets %s excluded)",
        path,
        int(keep.sum()),
        len(table),
        assembly,
        sorted(excluded),
    )
    used = table[["File accession", "Biosample term name", "line"]].assign(tf=tf)[keep]
    return used.rename(columns={"File accession": "accession", "Biosample term name": "biosample"})


def _read_tracks(
    metadata: pd.DataFrame, meta_path: Path, peak_dir: Path, threshold: float, min_peaks: int
) -> list[_Track]:
    """Significant summits of every file with enough of them, pooled per output name."""
    pooled: dict[str, tuple[str, list[np.ndarray], list[np.ndarray]]] = {}
    largest = 0
    for row in metadata.itertuples(index=False):
        path = peak_dir / f"{row.accession}.bed.gz"
        if not path.is_file():
            raise InputError(
                meta_path,
                f"the peak file of {row.accession} is missing: expected {path}.",
                record=f"line {row.line} ({row.accession})",
                fix="download it into the peak folder, or remove its metadata row.",
            )
        peaks = read_narrowpeak(path)
        significant = peaks.qvalue >= threshold
        count = int(significant.sum())
        largest = max(largest, count)
        if count < min_peaks:
            log.warning(
                "%s (%s %s): %d significant peaks < min_peaks %d; track dropped",
                path,
                row.biosample,
                row.tf,
                count,
                min_peaks,
            )
            continue
        name = f"{row.biosample}:{row.tf}"
        entry = pooled.setdefault(name, (str(row.biosample), [], []))
        entry[1].append(peaks.chrom[significant])
        entry[2].append(peaks.summit[significant])
    if not pooled:
        raise InputError(
            meta_path,
            f"no ChIP-seq track has at least min_peaks={min_peaks} peaks with qValue >= "
            f"{threshold:.3g} ({len(metadata)} files read; the largest has {largest}).",
            fix=f"lower min_peaks (to at most {largest}), or add peak files.",
        )
    return [
        _Track(name, bio, np.concatenate(chroms), np.concatenate(summits))
        for name, (bio, chroms, summits) in sorted(pooled.items())
    ]


def _group_summits(summits: np.ndarray, distance: int) -> np.ndarray:
    """Group id of each sorted summit: joins the group whose first summit is ≤ distance away."""
    groups = np.empty(summits.size, dtype=np.int64)
    group, anchor = -1, None
    for index, position in enumerate(summits.tolist()):
        if anchor is None or position - anchor > distance:
            group, anchor = group + 1, position
        groups[index] = group
    return groups


@dataclass(frozen=True)
class _Windows:
    """Merged peak groups: window coordinates, split codes and the tracks in each."""

    chrom: list[str]
    start: np.ndarray
    split: np.ndarray
    tracks: list[np.ndarray]


def _merge(tracks: list[_Track], split: ChromosomeSplit, window: int, distance: int) -> _Windows:
    """Pool every track's summits, group them per chromosome and place one window per group."""
    chrom = np.concatenate([t.chrom for t in tracks])
    summit = np.concatenate([t.summit for t in tracks])
    track = np.concatenate([np.full(t.summit.size, i) for i, t in enumerate(tracks)])
    codes = chromosome_split(chrom.tolist(), split)
    dropped = codes == DROPPED
    if dropped.any():
        log.info(
            "%d summits on contigs outside the split dropped (%s)",
            int(dropped.sum()),
            sorted(set(chrom[dropped].tolist()))[:8],
        )
    names: list[str] = []
    members_of: list[np.ndarray] = []
    starts: list[int] = []
    splits: list[int] = []
    for name in sorted(set(chrom[~dropped].tolist())):
        rows = np.flatnonzero(chrom == name)
        rows = rows[np.argsort(summit[rows], kind="stable")]
        bounds = np.flatnonzero(np.diff(_group_summits(summit[rows], distance))) + 1
        for members in np.split(rows, bounds):
            names.append(name)
            members_of.append(np.unique(track[members]))
            starts.append(int(np.around(summit[members].mean())) - window // 2)
            splits.append(int(codes[members[0]]))
    return _Windows(
        names, np.asarray(starts, dtype=np.int64), np.asarray(splits, dtype=np.int8), members_of
    )


def _check_splits(meta_path: Path, windows: _Windows, split: ChromosomeSplit) -> None:
    """Refuse a task without train, val or test windows, naming the chromosomes."""
    names = ("train", "val", "test")
    empty = [name for code, name in enumerate(names) if not (windows.split == code).any()]
    if empty:
        wanted = {name: getattr(split, name) for name in empty}
        raise InputError(
            meta_path,
            f"no peak window lies on a {'/'.join(empty)} chromosome {wanted}; the windows "
            f"lie on {sorted(set(windows.chrom)) or 'no split chromosome'}.",
            fix="check the peak files' contig names, or pass a ChromosomeSplit naming "
            "chromosomes that hold peaks.",
        )


def _labels(tracks: list[_Track], windows: _Windows) -> tuple[np.ndarray, np.ndarray]:
    """Positive targets and the mask of every window (its negative shares the mask)."""
    biosamples = sorted({t.biosample for t in tracks})
    bio_of = np.array([biosamples.index(t.biosample) for t in tracks])
    targets = np.zeros((len(windows.tracks), len(tracks)), dtype=np.float32)
    mask = np.zeros(targets.shape, dtype=bool)
    for row, members in enumerate(windows.tracks):
        targets[row, members] = 1.0
        mask[row] = np.isin(bio_of, bio_of[members])
    return targets, mask


def build_chip_task(
    metadata_tsv: str | os.PathLike[str],
    peak_dir: str | os.PathLike[str],
    genome_fasta: str | os.PathLike[str],
    *,
    min_peaks: int = 1000,
    qvalue: float = 0.05,
    window: int = 600,
    merge_distance: int = 100,
    exclude: Iterable[str] = ("CTCF",),
    assembly: str = "GRCh38",
    split: ChromosomeSplit = PUBLISHED_SPLIT,
    seed: int = 0,
) -> TaskData:
    """Build the ``ENCODETFChIPSeq`` task from ENCODE metadata, narrowPeaks and a genome.

    Parameters
    ----------
    metadata_tsv : str or PathLike
        ENCODE ``metadata.tsv`` (columns in the module docstring).
    peak_dir : str or PathLike
        Folder of ``<File accession>.bed.gz`` narrowPeak files.
    genome_fasta : str or PathLike
        Genome FASTA the peaks are on (windows past a contig end are ``N``-padded).
    min_peaks : int, optional
        Significant peaks a file needs to be used. Default 1000 (published).
    qvalue : float, optional
        q-value threshold: peaks with ``qValue >= -log10(qvalue)`` are kept. Default 0.05.
    window : int, optional
        Window length (bp) around the mean summit. Default 600.
    merge_distance : int, optional
        Greatest distance (bp) of a summit from its group's first summit. Default 100.
    exclude : iterable of str, optional
        TFs left out (case-insensitive). Default ``("CTCF",)``.
    assembly : str, optional
        ``File assembly`` to keep. Default ``"GRCh38"``.
    split : ChromosomeSplit, optional
        Chromosome split. Default the published one.
    seed : int, optional
        Seed of the dinucleotide shuffles. Default 0.

    Returns
    -------
    TaskData
        Binary masked multi-label task; outputs ``<biosample>:<TF>`` sorted; one split
        column; ``group`` = row number.

    Raises
    ------
    InputError
        For an unreadable metadata table, a missing peak file (naming the accession and
        the expected path), a malformed narrowPeak line (file and line number), or when
        no track keeps ``min_peaks`` peaks (the fix: lower ``min_peaks``).
    """
    meta_path = Path(metadata_tsv)
    metadata = _read_metadata(meta_path, assembly, exclude)
    threshold = -math.log10(qvalue)
    tracks = _read_tracks(metadata, meta_path, Path(peak_dir), threshold, min_peaks)
    windows = _merge(tracks, split, window, merge_distance)
    _check_splits(meta_path, windows, split)
    ids = [f"{c}:{s}-{s + window}" for c, s in zip(windows.chrom, windows.start, strict=True)]
    with Genome(genome_fasta) as genome:
        seqs = [
            genome.fetch(c, int(s), int(s) + window)
            for c, s in zip(windows.chrom, windows.start, strict=True)
        ]
    positives = encode_codes(seqs, window, ids=ids, source=str(genome_fasta))
    lengths = np.full(len(ids), window, dtype=np.int32)
    negatives = dinucleotide_shuffle_batch(positives, lengths, np.random.default_rng(seed))
    targets, mask = _labels(tracks, windows)
    n = 2 * len(ids)
    log.info(
        "%s: %d tracks, %d windows (train/val/test %s), %d rows with negatives",
        CHIP_TASK,
        len(tracks),
        len(ids),
        np.bincount(windows.split, minlength=3).tolist(),
        n,
    )
    spec = TaskSpec(
        name=CHIP_TASK,
        kind="binary",
        outputs=tuple(t.name for t in tracks),
        n_logits=len(tracks),
        max_length=window,
    )
    return TaskData(
        spec=spec,
        ids=np.array([x for i in ids for x in (i, f"{i}:shuffled")]),
        codes=np.stack([positives, negatives], axis=1).reshape(n, window),
        lengths=np.full(n, window, dtype=np.int32),
        targets=np.stack([targets, np.zeros_like(targets)], axis=1).reshape(n, -1),
        mask=np.repeat(mask, 2, axis=0),
        splits=np.repeat(windows.split, 2)[:, None],
        group=np.arange(n, dtype=np.int64),
    )
