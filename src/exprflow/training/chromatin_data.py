"""Chromatin-model training data from bigWig tracks: windows, binary labels, one-hot DNA.

The labelling follows DeepSEA/Beluga: the genome is cut into bins of ``bin_size`` (200)
bases; a ``seq_len`` (2000) bp window is centred on one bin (the bin starts
``(seq_len - bin_size) // 2`` = 900 bases into the window) and is labelled, per track,
positive when that central bin's mean signal **exceeds** (strictly) the track's
threshold. DeepSEA used peak calls; from raw signal the threshold here is the
``quantile`` (default 0.98, numpy's linear interpolation) of the track's genome-wide
distribution of full-bin means, over every full bin of every contig of the genome, a
contig the track lacks counting as zero signal. Bin means are coverage-weighted
(:meth:`exprflow.genome.bigwig.BigWig.binned`: the per-base sum over the bin / bin_size,
no coverage counting as 0).

Reads a FASTA (:class:`~exprflow.genome.fasta.Genome`) and bigWig tracks laid out as
``<tracks_dir>/<eid>/<track>.bigWig`` (the synthetic world's layout); feature names are
``"<eid>|<track>"``. Windows are :class:`~exprflow.genome.intervals.Interval`, 0-based
half-open; central bins lie on the genome-wide grid (``start + 900`` a multiple of 200).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from exprflow.errors import InputError
from exprflow.genome.bigwig import BigWig
from exprflow.genome.fasta import Genome
from exprflow.genome.intervals import Interval
from exprflow.genome.onehot import one_hot_batch

__all__ = [
    "LOCAL_TRACKS",
    "ChromatinLabels",
    "chromatin_labels",
    "encode_regions",
    "sample_windows",
    "track_files",
]

log = logging.getLogger(__name__)

#: Tracks that 2 kb of local sequence can predict (promoter and enhancer peaks); lamina,
#: gene-body and methylation tracks are not local and score AUROC ≈ 0.5.
LOCAL_TRACKS: tuple[str, ...] = ("H3K4me3", "H3K27ac", "H3K9ac", "DNase")


@dataclass(frozen=True)
class ChromatinLabels:
    """Binary chromatin labels of windows, one column per track.

    Attributes
    ----------
    regions : list of Interval
        The windows, 0-based half-open.
    labels : numpy.ndarray
        uint8 0/1, ``(len(regions), len(feature_names))``.
    feature_names : list of str
        ``"<eid>|<track>"``, in column order.
    thresholds : numpy.ndarray
        float64 ``(len(feature_names),)``: a label is 1 when the central-bin mean exceeds it.
    bin_size : int
        Central-bin size in bases.
    quantile : float
        Genome-wide quantile the thresholds were taken at.
    """

    regions: list[Interval]
    labels: np.ndarray
    feature_names: list[str]
    thresholds: np.ndarray
    bin_size: int
    quantile: float

    @property
    def chroms(self) -> np.ndarray:
        """Contig of every window, ``(len(regions),)`` str."""
        return np.array([r.chrom for r in self.regions], dtype=str)

    def data_params(
        self, genome: str, held_out_chroms: Sequence[str], seq_len: int
    ) -> dict[str, Any]:
        """JSON-able data parameters for a checkpoint.

        Parameters
        ----------
        genome : str
            Genome build or FASTA the windows came from.
        held_out_chroms : sequence of str
            Validation contigs.
        seq_len : int
            Window length in bases.

        Returns
        -------
        dict
            ``feature_names``, ``seq_len``, ``genome``, ``held_out_chroms``, ``bin_size``,
            ``quantile``, ``thresholds`` and ``n_windows``.
        """
        return {
            "feature_names": list(self.feature_names),
            "seq_len": int(seq_len),
            "genome": str(genome),
            "held_out_chroms": list(held_out_chroms),
            "bin_size": self.bin_size,
            "quantile": self.quantile,
            "thresholds": [float(t) for t in self.thresholds],
            "n_windows": len(self.regions),
        }


def track_files(
    tracks_dir: str | os.PathLike[str], names: Collection[str] | None = None
) -> dict[str, Path]:
    """Find the bigWig tracks of ``<tracks_dir>/<eid>/<track>.bigWig``.

    Parameters
    ----------
    tracks_dir : str or PathLike
        Folder with one sub-folder per cell type (the world's ``tracks/``).
    names : collection of str, optional
        Keep only these tracks (in every cell type), e.g. :data:`LOCAL_TRACKS`.
        Default None: all.

    Returns
    -------
    dict of str to Path
        ``"<eid>|<track>"`` → file, sorted by eid then track.

    Raises
    ------
    InputError
        When the folder holds no such bigWig, or none for one of ``names``.
    """
    folder = Path(tracks_dir)
    found = sorted(folder.glob("*/*.bigWig"))
    if not found:
        raise InputError(
            folder,
            "holds no <eid>/<track>.bigWig files.",
            fix="point at the world's tracks/ folder, or lay tracks out as <eid>/<track>.bigWig.",
        )
    tracks = {f"{path.parent.name}|{path.stem}": path for path in found}
    if names is None:
        return tracks
    if missing := sorted(set(names) - {path.stem for path in found}):
        raise InputError(
            folder,
            f"no bigWig for track(s) {missing} in any cell type.",
            fix="name tracks present as <eid>/<track>.bigWig, or ask for other tracks.",
        )
    return {key: path for key, path in tracks.items() if path.stem in names}


def _valid_bins(length: int, seq_len: int, bin_size: int) -> tuple[int, int]:
    """Range ``[lo, hi)`` of bin indices whose window lies inside a contig of ``length``."""
    offset = (seq_len - bin_size) // 2
    lo = -(-offset // bin_size)
    hi = (length - seq_len + offset) // bin_size + 1
    return lo, max(lo, hi)


def sample_windows(
    genome: Genome,
    tss: Iterable[tuple[str, int]],
    *,
    n_background: int,
    tss_flank: int = 2000,
    seq_len: int = 2000,
    bin_size: int = 200,
    seed: int = 0,
) -> list[Interval]:
    """Pick training windows: every bin near a TSS plus random bins, per chromosome.

    Each window is centred on a grid bin (see the module docstring) and lies inside its
    contig. Random bins are spread over contigs in proportion to their usable bins, so
    every contig (and any held-out one) gets windows.

    Parameters
    ----------
    genome : Genome
        Gives contig names (aliases resolve TSS contigs) and lengths.
    tss : iterable of (str, int)
        ``(contig, 0-based TSS position)``.
    n_background : int
        Random windows over the whole genome (≥ 0), drawn without replacement.
    tss_flank : int, optional
        Bins whose centre lies within this many bases of a TSS are taken. Default 2000.
    seq_len : int, optional
        Window length. Default 2000.
    bin_size : int, optional
        Central-bin size. Default 200.
    seed : int, optional
        Seed of the random windows. Default 0.

    Returns
    -------
    list of Interval
        Distinct windows, sorted by contig (genome order) and start.
    """
    if not 0 < bin_size <= seq_len or n_background < 0 or tss_flank < 0:
        raise ValueError(
            f"need 0 < bin_size <= seq_len, n_background >= 0 and tss_flank >= 0, got "
            f"bin_size={bin_size}, seq_len={seq_len}, n_background={n_background}, "
            f"tss_flank={tss_flank}"
        )
    contigs = genome.contigs
    ranges = {c: _valid_bins(n, seq_len, bin_size) for c, n in contigs.items()}
    chosen: dict[str, set[int]] = {c: set() for c in contigs}
    for chrom, pos in tss:
        name = genome.resolve(chrom)
        lo, hi = ranges[name]
        first = (pos - tss_flank - bin_size // 2) // bin_size + 1
        last = (pos + tss_flank - bin_size // 2) // bin_size
        chosen[name].update(range(max(first, lo), min(last, hi - 1) + 1))
    usable = np.array([hi - lo for lo, hi in ranges.values()], dtype=float)
    share = usable / usable.sum() if usable.sum() else usable
    counts = np.floor(share * n_background + 0.5).astype(int)
    rng = np.random.default_rng(seed)
    for (chrom, (lo, hi)), count in zip(ranges.items(), counts, strict=True):
        picks = rng.choice(hi - lo, size=min(count, hi - lo), replace=False) + lo
        chosen[chrom].update(int(k) for k in picks)
    offset = (seq_len - bin_size) // 2
    return [
        Interval(chrom, k * bin_size - offset, k * bin_size - offset + seq_len)
        for chrom in contigs
        for k in sorted(chosen[chrom])
    ]


def _track_bins(bw: BigWig, contigs: Mapping[str, int], bin_size: int) -> dict[str, np.ndarray]:
    """Mean signal of every full bin of every contig; zeros where the track lacks a contig."""
    bins = {}
    for chrom, length in contigs.items():
        n = length // bin_size
        try:
            bins[chrom] = bw.binned(chrom, 0, n * bin_size, bin_size)
        except InputError:
            log.warning("%s has no contig %s; counting it as zero signal", bw.path, chrom)
            bins[chrom] = np.zeros(n, dtype=np.float32)
    return bins


def _central_bins(
    genome: Genome, regions: Sequence[Interval], bin_size: int
) -> tuple[list[str], np.ndarray]:
    """Resolved contig and central-bin index of every region; InputError when off-grid."""
    chroms, index = [], np.empty(len(regions), dtype=np.int64)
    for i, region in enumerate(regions):
        centre = region.start + (len(region) - bin_size) // 2
        if len(region) < bin_size or centre % bin_size:
            raise InputError(
                "regions",
                f"the central {bin_size} bp bin starts at {centre}, not on the "
                f"{bin_size} bp grid (or the window is shorter than a bin).",
                record=f"{region.chrom}:{region.start}-{region.end}",
                fix="make windows with sample_windows(), or align their central bins.",
            )
        name = genome.resolve(region.chrom)
        if region.end > genome.contigs[name]:
            raise InputError(
                "regions",
                f"window ends past the contig end ({genome.contigs[name]}).",
                record=f"{region.chrom}:{region.start}-{region.end}",
                fix="keep windows inside their contigs.",
            )
        chroms.append(name)
        index[i] = centre // bin_size
    return chroms, index


def chromatin_labels(
    genome: Genome,
    tracks: Mapping[str, str | os.PathLike[str]],
    regions: Sequence[Interval],
    *,
    bin_size: int = 200,
    quantile: float = 0.98,
    thresholds: Mapping[str, float] | None = None,
) -> ChromatinLabels:
    """Label windows by whether each track's central-bin mean exceeds its threshold.

    Parameters
    ----------
    genome : Genome
        Contigs and lengths: the genome-wide distribution covers all their full bins.
    tracks : mapping of str to path
        Feature name (``"<eid>|<track>"``, see :func:`track_files`) → bigWig.
    regions : sequence of Interval
        Windows, central bins on the ``bin_size`` grid, inside their contigs.
    bin_size : int, optional
        Central-bin size in bases. Default 200.
    quantile : float, optional
        Genome-wide quantile used as threshold, in (0, 1). Default 0.98.
    thresholds : mapping of str to float, optional
        Fixed thresholds for some features, used instead of the quantile. Default None.

    Returns
    -------
    ChromatinLabels
        uint8 labels ``(len(regions), len(tracks))`` and the thresholds used.
    """
    if not 0.0 < quantile < 1.0 or bin_size <= 0 or not tracks:
        raise ValueError(
            f"need 0 < quantile < 1, bin_size > 0 and at least one track; got "
            f"quantile={quantile}, bin_size={bin_size}, {len(tracks)} tracks"
        )
    fixed = dict(thresholds or {})
    unknown = sorted(set(fixed) - set(tracks))
    if unknown:
        raise ValueError(f"thresholds given for unknown features {unknown}")
    chroms, index = _central_bins(genome, regions, bin_size)
    labels = np.zeros((len(regions), len(tracks)), dtype=np.uint8)
    cuts = np.zeros(len(tracks))
    for j, (name, path) in enumerate(tracks.items()):
        with BigWig(path) as bw:
            bins = _track_bins(bw, genome.contigs, bin_size)
        genome_wide = np.concatenate(list(bins.values()))
        cuts[j] = fixed[name] if name in fixed else float(np.quantile(genome_wide, quantile))
        means = np.array([bins[c][k] for c, k in zip(chroms, index, strict=True)])
        labels[:, j] = means > cuts[j]
    return ChromatinLabels(list(regions), labels, list(tracks), cuts, bin_size, quantile)


def encode_regions(
    genome: Genome, regions: Sequence[Interval], alphabet: str = "AGCT"
) -> np.ndarray:
    """One-hot DNA of equal-length windows, channels first (Beluga's input layout).

    Parameters
    ----------
    genome : Genome
        The FASTA; bases past contig ends would be ``N`` (all-zero columns).
    regions : sequence of Interval
        Windows, all the same length.
    alphabet : str, optional
        Channel order. Default ``"AGCT"`` (Beluga).

    Returns
    -------
    numpy.ndarray
        float32, ``(len(regions), 4, length)``.
    """
    sequences = [genome.fetch(r.chrom, r.start, r.end) for r in regions]
    return np.ascontiguousarray(one_hot_batch(sequences, alphabet).transpose(0, 2, 1))
