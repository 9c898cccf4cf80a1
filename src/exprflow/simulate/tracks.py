"""Write the synthetic epigenome: bigWig tracks, LAD calls and the Roadmap RPKM table.

Reads the world's FASTA (for CpG dinucleotides and CpG-island promoters) and the
:class:`~exprflow.simulate.layout.WorldLayout`; the signal model is in
:mod:`exprflow.simulate.marks`. Files written under ``out_dir`` (paths relative to it):

``tracks/{eid}/{track}.bigWig``
    One per cell type and track of :data:`TRACKS`: the seven histone marks (Chromoformer
    order), ``DNase``, ``CpG_methylation`` and ``lamina``. Intervals of
    ``size.track_resolution`` bp (a contig's last one may be shorter), contigs in layout
    order. Histone marks and DNase hold read-depth-like values (Poisson counts in mean
    per-bp depth, ≥ 0) over every bin. ``CpG_methylation`` holds the fraction of
    methylated reads over the CpGs of a bin (bisulfite-like, binomial with 10 reads per
    CpG), only in bins holding a CpG of the FASTA. ``lamina`` holds a log2 LMNB1/input
    enrichment: broad, positive on average over every LAD, negative elsewhere.
``tracks/{eid}/LADs.bed.gz`` (+ ``.tbi``)
    LAD calls as bgzipped, tabix-indexed BED9 like Shah et al. 2023: chrom, start, end
    (0-based half-open, as in BED), name ``T1LAD{k}`` (strong) or ``T2LAD{k}``, score 0,
    strand ``+``, thickStart, thickEnd, itemRgb.
``tracks/cell_types.tsv``
    Header ``eid, name, marks``; ``marks`` lists the tracks written, comma-separated.
``expression/57epigenomes.RPKM.pc.gz``
    Gzip (mtime 0) TSV like Roadmap's: header ``gene_id`` then one column per eid, one
    row per gene with its *unversioned* id (as in the Roadmap file), sorted, RPKM to
    3 decimals: the values of ``layout.cell_expression``.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pysam

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.simulate.bigwig_writer import add_dense, add_sparse, open_bigwigs
from exprflow.simulate.config import WorldSize
from exprflow.simulate.expression import write_gzip_text
from exprflow.simulate.layout import MARKS, WorldLayout
from exprflow.simulate.marks import (
    LAD_SEGMENT,
    ContigFeatures,
    call_lads,
    gene_activity,
    lad_latent,
    lads_to_bins,
    lamina_signal,
    mark_means,
    methylation_level,
    smooth_noise,
)

__all__ = ["CELL_TYPES_FILE", "EXPRESSION_FILE", "TRACKS", "track_path", "write_tracks"]

log = logging.getLogger(__name__)

#: Tracks written per cell type, in file order.
TRACKS: tuple[str, ...] = (*MARKS, "DNase", "CpG_methylation", "lamina")
EXPRESSION_FILE = "expression/57epigenomes.RPKM.pc.gz"
CELL_TYPES_FILE = "tracks/cell_types.tsv"

_MAX_ZOOMS = 4
_METH_READS = 10  # bisulfite reads per CpG
_LAD_FRACTION = 0.35  # share of lamina segments above the LAD threshold
_LAD_COLOURS = {"T1": "0,128,0", "T2": "194,225,5"}
_CGI_HALF = 500  # CpG-island test window: TSS ± 500 bp


def track_path(eid: str, track: str) -> str:
    """Relative path of a track's bigWig inside the world folder.

    Parameters
    ----------
    eid : str
        Cell type, e.g. ``"E116"``.
    track : str
        One of :data:`TRACKS`.

    Returns
    -------
    str
        E.g. ``"tracks/E116/H3K4me3.bigWig"``.
    """
    return f"tracks/{eid}/{track}.bigWig"


@dataclass(frozen=True)
class _ContigGenome:
    """What the tracks need from one contig's sequence."""

    resolution: int  # bp per bin
    cpg_per_bin: np.ndarray  # (n_bins,) CpG dinucleotides starting in each bin
    cpg_island: np.ndarray  # (g,) per gene of layout.genes_on(chrom)


def write_tracks(
    out_dir: Path, layout: WorldLayout, fasta: Path, size: WorldSize, rng: np.random.Generator
) -> dict:
    """Write every cell type's tracks, LADs, the cell-type table and the RPKM table.

    Parameters
    ----------
    out_dir : Path
        World folder; files go under ``tracks/`` and ``expression/``.
    layout : WorldLayout
        Genes, enhancers, cell types and ``cell_expression`` (gene_id × eid, RPKM).
    fasta : Path
        Indexed FASTA of the world; its contigs must match ``layout.contigs``.
    size : WorldSize
        Gives ``track_resolution`` (bp per bigWig interval).
    rng : np.random.Generator
        Source of all noise; the same seed gives byte-identical files.

    Returns
    -------
    dict
        JSON-able truth: ``files`` (key → relative path), ``tracks``, ``resolution``,
        ``cpg_island_genes``, per-eid ``lads`` (count, genome fraction) and
        ``depth_factor`` (per-track sequencing depth multiplier).
    """
    started = time.perf_counter()
    out_dir = Path(out_dir)
    _check_layout(layout)
    res = size.track_resolution
    genome = _read_genome(Path(fasta), layout, res)
    strength = rng.uniform(0.5, 1.0, len(layout.enhancers))
    shared = {c: smooth_noise(-(-n // LAD_SEGMENT), 9, rng) for c, n in layout.contigs.items()}
    files: dict[str, str] = {}
    truth: dict = {"lads": {}, "depth_factor": {}}
    for cell in layout.cell_types:
        cell_files, lads, depth = _write_cell(
            out_dir, layout, cell.eid, genome, strength, shared, rng
        )
        files.update(cell_files)
        truth["lads"][cell.eid], truth["depth_factor"][cell.eid] = lads, depth
        log.info("tracks for %s written (%.1f s)", cell.eid, time.perf_counter() - started)
    files["cell_types"] = _write_cell_table(out_dir, layout)
    files["expression"] = _write_expression(out_dir, layout)
    cgi = [
        gene.gene_id
        for chrom in layout.contigs
        for gene, island in zip(layout.genes_on(chrom), genome[chrom].cpg_island, strict=True)
        if island
    ]
    return {
        "files": files,
        "tracks": list(TRACKS),
        "resolution": res,
        "cpg_island_genes": cgi,
        **truth,
    }


def _write_cell(
    out_dir: Path,
    layout: WorldLayout,
    eid: str,
    genome: dict[str, _ContigGenome],
    strength: np.ndarray,
    shared: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> tuple[dict[str, str], dict, dict[str, float]]:
    """Write one cell type's bigWigs and LADs; return (files, LAD summary, depth factors)."""
    expression = layout.cell_expression[eid]
    activity = dict(zip(expression.index, gene_activity(expression.to_numpy()), strict=True))
    features = {
        chrom: _contig_features(layout, chrom, genome[chrom], activity, strength)
        for chrom in layout.contigs
    }
    latents, threshold = _lamina(layout, features, shared, rng)
    lads = {c: call_lads(latents[c], threshold) for c in layout.contigs}
    depth = dict(zip(TRACKS[:8], rng.uniform(0.8, 1.25, 8).tolist(), strict=True))
    _write_cell_tracks(out_dir, layout, eid, features, genome, lads, latents, threshold, depth, rng)
    files = {f"{eid}/{t}": track_path(eid, t) for t in TRACKS}
    files[f"{eid}/LADs"] = f"tracks/{eid}/LADs.bed.gz"
    _write_lads(out_dir / files[f"{eid}/LADs"], lads, layout.contigs)
    n_lad = sum(e - s for rows in lads.values() for s, e, _ in rows)
    n_seg = sum(latent.size for latent in latents.values())
    return files, {"n": sum(map(len, lads.values())), "fraction": n_lad / n_seg}, depth


def _check_layout(layout: WorldLayout) -> None:
    """Raise InputError unless genes, enhancers, cell types and expression agree."""
    where = "WorldLayout"
    if not layout.cell_types:
        raise InputError(where, "no cell types to write tracks for.", fix="add cell_types.")
    ids = {g.gene_id for g in layout.genes}
    for gene in layout.genes:
        length = layout.contigs.get(gene.chrom)
        if length is None or not 0 <= gene.start < gene.end <= length:
            raise InputError(
                where,
                f"gene {gene.chrom}:{gene.start}-{gene.end} is not inside a contig.",
                record=gene.gene_id,
                fix="keep genes within layout.contigs.",
            )
    for enh in layout.enhancers:
        if enh.gene_id not in ids or enh.chrom not in layout.contigs:
            raise InputError(
                where,
                f"enhancer targets unknown gene {enh.gene_id!r} or contig {enh.chrom!r}.",
                record=enh.enhancer_id,
                fix="point enhancers at genes of the layout.",
            )
    table = layout.cell_expression
    missing_ids = sorted(ids - set(table.index))
    missing_eids = [c.eid for c in layout.cell_types if c.eid not in table.columns]
    if missing_ids or missing_eids:
        raise InputError(
            f"{where}.cell_expression",
            f"missing genes {missing_ids[:3]} / cell types {missing_eids}.",
            fix="give cell_expression one row per gene and one column per cell type.",
        )
    values = table.loc[sorted(ids), [c.eid for c in layout.cell_types]].to_numpy(dtype=float)
    if not np.all(np.isfinite(values) & (values >= 0)):
        raise InputError(
            f"{where}.cell_expression",
            "RPKM values must be finite and >= 0.",
            fix="replace negative or missing expression values.",
        )


def _read_genome(fasta: Path, layout: WorldLayout, res: int) -> dict[str, _ContigGenome]:
    """CpG counts per bin and CpG-island flags per promoter for every contig."""
    if not fasta.exists():
        raise InputError(fasta, "FASTA not found.", fix="write the world's genome first.")
    genome = {}
    with pysam.FastaFile(str(fasta)) as fa:
        lengths = dict(zip(fa.references, fa.lengths, strict=True))
        for chrom, length in layout.contigs.items():
            if lengths.get(chrom) != length:
                raise InputError(
                    fasta,
                    f"contig length {lengths.get(chrom)} != layout length {length}.",
                    record=chrom,
                    fix="write tracks against the FASTA of the same world.",
                )
            seq = np.frombuffer(fa.fetch(chrom).upper().encode("ascii"), dtype=np.uint8)
            genome[chrom] = _contig_genome(seq, layout, chrom, res)
    return genome


def _contig_genome(seq: np.ndarray, layout: WorldLayout, chrom: str, res: int) -> _ContigGenome:
    """CpG dinucleotides per bin; Gardiner-Garden CpG islands (GC ≥ 0.5, o/e ≥ 0.6)."""
    is_c, is_g = seq == ord("C"), seq == ord("G")
    cpg = np.flatnonzero(is_c[:-1] & is_g[1:])
    n_bins = -(-seq.size // res)
    per_bin = np.bincount(cpg // res, minlength=n_bins)
    cum_c = np.concatenate([[0], np.cumsum(is_c)])
    cum_g = np.concatenate([[0], np.cumsum(is_g)])
    tss = np.array([g.tss for g in layout.genes_on(chrom)], dtype=np.int64)
    lo = np.clip(tss - _CGI_HALF, 0, seq.size)
    hi = np.clip(tss + _CGI_HALF, 0, seq.size)
    n_c, n_g = cum_c[hi] - cum_c[lo], cum_g[hi] - cum_g[lo]
    n_cpg = np.searchsorted(cpg, hi - 1) - np.searchsorted(cpg, lo)
    span = np.maximum(hi - lo, 1)
    gc = (n_c + n_g) / span
    obs_exp = n_cpg * span / np.maximum(n_c * n_g, 1)
    return _ContigGenome(res, per_bin, (gc >= 0.5) & (obs_exp >= 0.6))


def _contig_features(
    layout: WorldLayout,
    chrom: str,
    genome: _ContigGenome,
    activity: dict[str, float],
    strength: np.ndarray,
) -> ContigFeatures:
    """Genes and enhancers of ``chrom`` with their activities in one cell type."""
    genes = layout.genes_on(chrom)
    on = [i for i, e in enumerate(layout.enhancers) if e.chrom == chrom]
    enhancers = [layout.enhancers[i] for i in on]
    return ContigFeatures(
        length=layout.contigs[chrom],
        resolution=genome.resolution,
        tss=np.array([g.tss for g in genes], dtype=np.int64),
        strand=np.array([g.strand_sign for g in genes], dtype=np.int64),
        body_start=np.array([g.start for g in genes], dtype=np.int64),
        body_end=np.array([g.end for g in genes], dtype=np.int64),
        activity=np.array([activity[g.gene_id] for g in genes], dtype=float),
        cpg_island=genome.cpg_island,
        enhancer_center=np.array([(e.start + e.end) / 2 for e in enhancers], dtype=float),
        enhancer_activity=np.array(
            [activity[e.gene_id] * strength[i] for i, e in zip(on, enhancers, strict=True)],
            dtype=float,
        ),
    )


def _lamina(
    layout: WorldLayout,
    features: dict[str, ContigFeatures],
    shared: dict[str, np.ndarray],
    rng: np.random.Generator,
) -> tuple[dict[str, np.ndarray], float]:
    """Lamina field per contig (shared + cell-specific noise) and the LAD threshold."""
    n_seg = sum(s.size for s in shared.values())
    gene_rate = max(len(layout.genes), 1) / n_seg
    activity_rate = max(sum(float(f.activity.sum()) for f in features.values()), 1e-9) / n_seg
    latents = {}
    for chrom, f in features.items():
        noise = 0.8 * shared[chrom] + 0.6 * smooth_noise(shared[chrom].size, 9, rng)
        latents[chrom] = lad_latent(f.length, f.tss, f.activity, noise, gene_rate, activity_rate)
    threshold = float(np.quantile(np.concatenate(list(latents.values())), 1 - _LAD_FRACTION))
    return latents, threshold


def _write_cell_tracks(
    out_dir: Path,
    layout: WorldLayout,
    eid: str,
    features: dict[str, ContigFeatures],
    genome: dict[str, _ContigGenome],
    lads: dict[str, list[tuple[int, int, float]]],
    latents: dict[str, np.ndarray],
    threshold: float,
    depth: dict[str, float],
    rng: np.random.Generator,
) -> None:
    """Write the :data:`TRACKS` bigWigs of one cell type, contig by contig."""
    paths = {track: out_dir / track_path(eid, track) for track in TRACKS}
    with open_bigwigs(paths, layout.contigs, max_zooms=_MAX_ZOOMS) as writers:
        for chrom, f in features.items():
            lad_bins = lads_to_bins(lads[chrom], f.n_bins, f.resolution)
            for track, mean in mark_means(f, lad_bins, rng).items():
                counts = rng.poisson(depth[track] * mean).astype(np.float64)
                add_dense(writers[track], chrom, f.length, f.resolution, counts)
            bins = np.flatnonzero(genome[chrom].cpg_per_bin)
            reads = genome[chrom].cpg_per_bin[bins] * _METH_READS
            level = methylation_level(f, lad_bins)[bins]
            fraction = rng.binomial(reads, level) / reads
            add_sparse(writers["CpG_methylation"], chrom, f.length, f.resolution, bins, fraction)
            lamina = lamina_signal(f, latents[chrom] - threshold, lad_bins, rng)
            add_dense(writers["lamina"], chrom, f.length, f.resolution, lamina)


def _write_lads(
    dest: Path, lads: dict[str, list[tuple[int, int, float]]], contigs: dict[str, int]
) -> None:
    """Write LADs as bgzipped BED9 (T1 = stronger half) plus its tabix index."""
    strengths = [m for rows in lads.values() for _, _, m in rows]
    cut = float(np.median(strengths)) if strengths else 0.0
    counters = {"T1": 0, "T2": 0}
    lines = []
    for chrom, rows in lads.items():
        for first, end, mean in rows:
            tier = "T1" if mean > cut else "T2"
            start, stop = first * LAD_SEGMENT, min(end * LAD_SEGMENT, contigs[chrom])
            name, colour = f"{tier}LAD{counters[tier]}", _LAD_COLOURS[tier]
            lines.append(f"{chrom}\t{start}\t{stop}\t{name}\t0\t+\t{start}\t{stop}\t{colour}\n")
            counters[tier] += 1
    with atomic_path(dest) as tmp, atomic_path(Path(f"{dest}.tbi")) as tmp_index:
        with pysam.BGZFile(str(tmp), "wb", None) as out:
            out.write("".join(lines).encode("ascii"))
        pysam.tabix_index(str(tmp), preset="bed", index=str(tmp_index), force=True)


def _write_cell_table(out_dir: Path, layout: WorldLayout) -> str:
    """Write ``tracks/cell_types.tsv`` (eid, name, marks); return its relative path."""
    lines = ["eid\tname\tmarks\n"]
    lines += [f"{c.eid}\t{c.name}\t{','.join(TRACKS)}\n" for c in layout.cell_types]
    with atomic_path(out_dir / CELL_TYPES_FILE) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
    return CELL_TYPES_FILE


def _write_expression(out_dir: Path, layout: WorldLayout) -> str:
    """Write the Roadmap-style RPKM table (gzip, mtime 0); return its relative path."""
    eids = [c.eid for c in layout.cell_types]
    table = layout.cell_expression.loc[[g.gene_id for g in layout.genes], eids]
    ids = [gene_id.split(".")[0] for gene_id in table.index]
    if len(set(ids)) != len(ids):
        raise InputError(
            "WorldLayout.cell_expression",
            "two genes share an unversioned gene id.",
            fix="give every gene a distinct ENSG number.",
        )
    order = np.argsort(ids, kind="stable")
    values = table.to_numpy(dtype=float)
    lines = ["\t".join(["gene_id", *eids]) + "\n"]
    lines += ["\t".join([ids[i], *(f"{v:.3f}" for v in values[i])]) + "\n" for i in order]
    write_gzip_text(out_dir / EXPRESSION_FILE, "".join(lines))
    return EXPRESSION_FILE
