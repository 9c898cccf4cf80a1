"""Signal model of the synthetic epigenome: expected per-bin depth of every track.

Pure numpy, no I/O. Given one contig's genes (with their activity in one cell type),
its enhancers and its lamina-associated domains (LADs), these functions return the
expected read depth of each histone mark and DNase per bin, the expected CpG
methylation level, and the lamina latent field from which LADs are called.
:mod:`exprflow.simulate.tracks` adds read-count noise and writes the bigWigs.

The biology planted (peak heights scale with gene activity, ``a`` in [0, 1)):

- H3K4me3, H3K9ac, H3K27ac: peaks just downstream of active TSSs;
- H3K4me1: flanking active TSSs (±1.8 kb) and over active enhancers, with H3K27ac;
- H3K36me3: over the bodies of expressed genes, rising towards the 3' end;
- H3K27me3: broad (±9 kb) domains over silent promoters, stronger at CpG islands;
- H3K9me3: raised throughout LADs (heterochromatin);
- DNase: sharp peaks at active promoters and enhancers;
- CpG methylation: ~0.8 in the background, ~0.65 in LADs, low at active (and
  CpG-island) promoters and at active enhancers;
- lamina: a smooth field over 20 kb segments, anti-correlated with gene density
  and activity; LADs are its top segments, where the log2 enrichment is positive.

Bins are ``resolution`` bp, bin ``i`` covering ``[i * resolution, (i + 1) * resolution)``
(0-based half-open, like every coordinate here).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "BACKGROUND",
    "LAD_SEGMENT",
    "ContigFeatures",
    "call_lads",
    "gene_activity",
    "lad_latent",
    "lads_to_bins",
    "lamina_signal",
    "mark_means",
    "methylation_level",
    "smooth_noise",
]

#: Expected depth of each track away from any feature.
BACKGROUND: dict[str, float] = {
    "H3K4me1": 0.4,
    "H3K4me3": 0.15,
    "H3K9me3": 0.4,
    "H3K27me3": 0.35,
    "H3K36me3": 0.3,
    "H3K27ac": 0.2,
    "H3K9ac": 0.15,
    "DNase": 0.1,
}

#: Size in bp of the segments on which the lamina field and LADs are defined.
LAD_SEGMENT = 20_000

# (track, offset downstream of the TSS in bp, sd in bp, peak depth at activity 1)
_PROMOTER_PEAKS: tuple[tuple[str, int, float, float], ...] = (
    ("H3K4me3", 300, 700.0, 25.0),
    ("H3K9ac", 200, 600.0, 18.0),
    ("H3K27ac", 200, 800.0, 15.0),
    ("H3K4me1", 1800, 700.0, 5.0),
    ("H3K4me1", -1800, 700.0, 5.0),
    ("DNase", 0, 150.0, 12.0),
)
# (track, sd in bp, peak depth at enhancer activity 1)
_ENHANCER_PEAKS: tuple[tuple[str, float, float], ...] = (
    ("H3K4me1", 1000.0, 8.0),
    ("H3K27ac", 700.0, 10.0),
    ("H3K4me3", 400.0, 1.0),
    ("DNase", 200.0, 8.0),
)
_K27ME3_SD, _K27ME3_PEAK = 3000.0, 5.0
_K36ME3_PEAK = 3.0
_K9ME3_LAD = 1.5
_GENE_SD = 0.25  # log-normal gene-to-gene variability of peak heights
_METH_BACKGROUND, _METH_LAD = 0.8, 0.65
_LAD_HALF_WINDOW = 15  # segments each side (±300 kb) for gene and activity density


@dataclass(frozen=True)
class ContigFeatures:
    """Genes and enhancers of one contig, with their activity in one cell type.

    Attributes
    ----------
    length : int
        Contig length in bp.
    resolution : int
        Bin size in bp.
    tss : np.ndarray
        0-based TSS of every gene, shape ``(g,)``, int.
    strand : np.ndarray
        +1 or -1 per gene, shape ``(g,)``.
    body_start, body_end : np.ndarray
        Gene bodies, 0-based half-open, shape ``(g,)``.
    activity : np.ndarray
        Gene activity in [0, 1), shape ``(g,)``, from :func:`gene_activity`.
    cpg_island : np.ndarray
        Whether each promoter is a CpG island, shape ``(g,)``, bool.
    enhancer_center : np.ndarray
        Centre of every enhancer in bp, shape ``(e,)``.
    enhancer_activity : np.ndarray
        Enhancer activity in [0, 1), shape ``(e,)``.
    """

    length: int
    resolution: int
    tss: np.ndarray
    strand: np.ndarray
    body_start: np.ndarray
    body_end: np.ndarray
    activity: np.ndarray
    cpg_island: np.ndarray
    enhancer_center: np.ndarray
    enhancer_activity: np.ndarray

    @property
    def n_bins(self) -> int:
        """Number of bins covering the contig (the last one may be partial)."""
        return -(-self.length // self.resolution)


def gene_activity(rpkm: np.ndarray) -> np.ndarray:
    """Map expression to a chromatin activity in [0, 1): ``1 - exp(-log2(RPKM + 1) / 3)``.

    Parameters
    ----------
    rpkm : np.ndarray
        Expression in RPKM, any shape, non-negative.

    Returns
    -------
    np.ndarray
        Activity, same shape; 0 for silent genes, ~0.9 at 100 RPKM.
    """
    return 1.0 - np.exp(-np.log2(np.asarray(rpkm, dtype=float) + 1.0) / 3.0)


def _gauss_sum(
    n_bins: int, resolution: int, centers: np.ndarray, peaks: np.ndarray, sd: float
) -> np.ndarray:
    """Sum of Gaussian bumps of height ``peaks`` at bin centres, shape ``(n_bins,)``."""
    centers = np.asarray(centers, dtype=float)
    if centers.size == 0:
        return np.zeros(n_bins)
    half = int(np.ceil(3.5 * sd / resolution))
    offsets = np.arange(-half, half + 1)
    bins = (centers // resolution).astype(np.int64)[:, None] + offsets[None, :]
    distance = (bins + 0.5) * resolution - centers[:, None]
    weights = np.asarray(peaks, dtype=float)[:, None] * np.exp(-0.5 * (distance / sd) ** 2)
    inside = (bins >= 0) & (bins < n_bins)
    return np.bincount(bins[inside], weights=weights[inside], minlength=n_bins)


def _ramp_sum(
    n_bins: int,
    resolution: int,
    starts: np.ndarray,
    ends: np.ndarray,
    v_start: np.ndarray,
    v_end: np.ndarray,
) -> np.ndarray:
    """Sum of linear ramps from ``v_start`` to ``v_end`` over bins ``[start, end)`` (bp in)."""
    first = np.clip(np.asarray(starts) // resolution, 0, n_bins).astype(np.int64)
    last = np.clip(-(-np.asarray(ends) // resolution), 0, n_bins).astype(np.int64)
    ok = last > first
    first, last = first[ok], last[ok]
    slope = (np.asarray(v_end, float)[ok] - np.asarray(v_start, float)[ok]) / (last - first)
    intercept = np.asarray(v_start, float)[ok] - slope * first
    d_const = np.bincount(first, intercept, n_bins + 1) - np.bincount(last, intercept, n_bins + 1)
    d_slope = np.bincount(first, slope, n_bins + 1) - np.bincount(last, slope, n_bins + 1)
    index = np.arange(n_bins)
    return np.cumsum(d_const)[:n_bins] + np.cumsum(d_slope)[:n_bins] * index


def mark_means(
    features: ContigFeatures, lad_bins: np.ndarray, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Expected depth per bin of the seven histone marks and DNase on one contig.

    Parameters
    ----------
    features : ContigFeatures
        Genes and enhancers of the contig, with activities in the cell type.
    lad_bins : np.ndarray
        Whether each bin lies in a LAD, shape ``(n_bins,)``, bool.
    rng : np.random.Generator
        Draws the gene-to-gene variability of peak heights.

    Returns
    -------
    dict[str, np.ndarray]
        Track name (keys of :data:`BACKGROUND`) → expected depth, shape ``(n_bins,)``.
    """
    f, n = features, features.n_bins
    means = {track: np.full(n, level) for track, level in BACKGROUND.items()}
    for track, offset, sd, peak in _PROMOTER_PEAKS:
        height = peak * f.activity * rng.lognormal(0.0, _GENE_SD, f.tss.size)
        means[track] += _gauss_sum(n, f.resolution, f.tss + f.strand * offset, height, sd)
    for track, sd, peak in _ENHANCER_PEAKS:
        height = peak * f.enhancer_activity * rng.lognormal(0.0, _GENE_SD, f.enhancer_center.size)
        means[track] += _gauss_sum(n, f.resolution, f.enhancer_center, height, sd)
    silence = (1.0 - f.activity) ** 2 * np.where(f.cpg_island, 1.0, 0.5)
    height = _K27ME3_PEAK * silence * rng.lognormal(0.0, _GENE_SD, f.tss.size)
    means["H3K27me3"] += _gauss_sum(n, f.resolution, f.tss, height, _K27ME3_SD)
    level = _K36ME3_PEAK * f.activity * rng.lognormal(0.0, _GENE_SD, f.tss.size)
    five, three = np.where(f.strand > 0, 0.4, 1.0) * level, np.where(f.strand > 0, 1.0, 0.4) * level
    means["H3K36me3"] += _ramp_sum(n, f.resolution, f.body_start, f.body_end, five, three)
    means["H3K9me3"] += _K9ME3_LAD * lad_bins
    return means


def methylation_level(features: ContigFeatures, lad_bins: np.ndarray) -> np.ndarray:
    """Expected fraction of methylated CpGs per bin on one contig.

    Background 0.8, 0.65 in LADs; promoters are unmethylated by ``0.25 + 0.7 a`` at
    CpG islands and ``0.4 a`` elsewhere, enhancers by ``0.5 a`` (Gaussian profiles,
    sd 500 and 300 bp).

    Parameters
    ----------
    features : ContigFeatures
        Genes and enhancers of the contig, with activities in the cell type.
    lad_bins : np.ndarray
        Whether each bin lies in a LAD, shape ``(n_bins,)``, bool.

    Returns
    -------
    np.ndarray
        Methylation level in (0, 1), shape ``(n_bins,)``.
    """
    f, n = features, features.n_bins
    unmethylated = np.where(f.cpg_island, 0.25 + 0.7 * f.activity, 0.4 * f.activity)
    drop = _gauss_sum(n, f.resolution, f.tss, unmethylated, 500.0)
    drop += _gauss_sum(n, f.resolution, f.enhancer_center, 0.5 * f.enhancer_activity, 300.0)
    base = np.where(lad_bins, _METH_LAD, _METH_BACKGROUND)
    return base * (1.0 - np.clip(drop, 0.0, 0.95))


def smooth_noise(n: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """White Gaussian noise smoothed by a moving average of ``width`` samples.

    Parameters
    ----------
    n : int
        Number of samples.
    width : int
        Moving-average window; the result keeps unit variance away from the ends.
    rng : np.random.Generator
        Source of the noise.

    Returns
    -------
    np.ndarray
        Shape ``(n,)``.
    """
    white = rng.standard_normal(n + width - 1)
    return np.convolve(white, np.ones(width) / np.sqrt(width), mode="valid")


def lad_latent(
    length: int,
    tss: np.ndarray,
    activity: np.ndarray,
    noise: np.ndarray,
    gene_rate: float,
    activity_rate: float,
) -> np.ndarray:
    """Lamina field over the :data:`LAD_SEGMENT` segments of one contig.

    ``noise`` minus the local density of genes and of gene activity (each relative to
    its genome-wide rate, smoothed over ±300 kb), minus 2 at segments holding an
    active (a ≥ 0.5) TSS, so that LADs fall in gene-poor, silent regions.

    Parameters
    ----------
    length : int
        Contig length in bp.
    tss : np.ndarray
        TSS positions, shape ``(g,)``.
    activity : np.ndarray
        Gene activities, shape ``(g,)``.
    noise : np.ndarray
        Smooth noise, shape ``(n_segments,)``, see :func:`smooth_noise`.
    gene_rate, activity_rate : float
        Genome-wide genes and summed activity per segment.

    Returns
    -------
    np.ndarray
        Latent value per segment, shape ``(n_segments,)``; higher = more lamina-bound.
    """
    n_seg = -(-length // LAD_SEGMENT)
    segment = np.asarray(tss, dtype=np.int64) // LAD_SEGMENT
    genes = _window_sum(np.bincount(segment, minlength=n_seg), _LAD_HALF_WINDOW)
    active = _window_sum(np.bincount(segment, activity, n_seg), _LAD_HALF_WINDOW)
    expected = 2 * _LAD_HALF_WINDOW + 1
    latent = noise - 0.5 * genes / (gene_rate * expected) - active / (activity_rate * expected)
    latent[segment[np.asarray(activity) >= 0.5]] -= 2.0
    return latent


def _window_sum(values: np.ndarray, half: int) -> np.ndarray:
    """Sum of ``values`` over the window ``[i - half, i + half]`` (clipped at the ends)."""
    cumulative = np.concatenate([[0.0], np.cumsum(values, dtype=float)])
    index = np.arange(values.size)
    high = np.minimum(index + half + 1, values.size)
    return cumulative[high] - cumulative[np.maximum(index - half, 0)]


def call_lads(latent: np.ndarray, threshold: float) -> list[tuple[int, int, float]]:
    """LADs as runs of ≥ 2 segments whose latent exceeds ``threshold``.

    Parameters
    ----------
    latent : np.ndarray
        Lamina field per segment, shape ``(n_segments,)``.
    threshold : float
        Cut-off on the field.

    Returns
    -------
    list of (int, int, float)
        ``(first segment, end segment (exclusive), mean latent)`` per LAD, in order.
    """
    above = np.concatenate([[False], latent > threshold, [False]]).astype(np.int8)
    edges = np.flatnonzero(np.diff(above))
    runs = zip(edges[::2], edges[1::2], strict=True)
    return [(int(s), int(e), float(latent[s:e].mean())) for s, e in runs if e - s >= 2]


def lads_to_bins(lads: list[tuple[int, int, float]], n_bins: int, resolution: int) -> np.ndarray:
    """Mark the bins that lie in a LAD.

    Parameters
    ----------
    lads : list of (int, int, float)
        LADs from :func:`call_lads` (segment indices).
    n_bins : int
        Bins on the contig.
    resolution : int
        Bin size in bp (a divisor of :data:`LAD_SEGMENT` keeps LAD edges exact).

    Returns
    -------
    np.ndarray
        Shape ``(n_bins,)``, bool.
    """
    inside = np.zeros(n_bins + 1, dtype=np.int64)
    for first, end, _ in lads:
        inside[min(first * LAD_SEGMENT // resolution, n_bins)] += 1
        inside[min(-(-end * LAD_SEGMENT // resolution), n_bins)] -= 1
    return np.cumsum(inside)[:n_bins] > 0


def lamina_signal(
    features: ContigFeatures, latent: np.ndarray, lad_bins: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Log2 LMNB1 enrichment per bin: ±0.9 in/out of LADs, plus the field and noise.

    The field adds ``0.6 tanh(latent)`` (interpolated between segment centres) and the
    noise is Gaussian (sd 0.3), so the mean signal is positive over every LAD and
    negative elsewhere.

    Parameters
    ----------
    features : ContigFeatures
        The contig (for its length and bins).
    latent : np.ndarray
        Lamina field minus the LAD threshold, shape ``(n_segments,)``.
    lad_bins : np.ndarray
        LAD membership per bin, shape ``(n_bins,)``, from :func:`lads_to_bins`.
    rng : np.random.Generator
        Source of the noise.

    Returns
    -------
    np.ndarray
        Shape ``(n_bins,)``.
    """
    centres = (np.arange(features.n_bins) + 0.5) * features.resolution
    seg_centres = (np.arange(latent.size) + 0.5) * LAD_SEGMENT
    smooth = 0.6 * np.tanh(np.interp(centres, seg_centres, latent))
    return np.where(lad_bins, 0.9, -0.9) + smooth + rng.normal(0.0, 0.3, features.n_bins)
