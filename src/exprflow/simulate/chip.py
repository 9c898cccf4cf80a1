"""Write ENCODE-like TF ChIP-seq peaks: a metadata table and one narrowPeak per experiment.

One experiment (one file) per world cell type × TF whose activity there is at least
:data:`ACTIVE_THRESHOLD` (CTCF, active everywhere, is always among them). Its peaks are
the TF's planted sites (:class:`~exprflow.simulate.layout.MotifSite`) bound with
probability TF activity × site occupancy, each a peak of 200–800 bp whose summit lies
within the site (a few bases of jitter), plus a few false peaks at random places. About
one true peak in ten and half the false ones have a qValue below
:data:`Q_THRESHOLD` (``-log10 0.05``), so filtering at q ≤ 0.05 matters.

The biosample term name is the cell type name's first word before any ``-``
(:func:`biosample_name`): ``GM12878`` (E116), ``K562`` (E123), ``HepG2`` (E118), ``H1``
(E003), ``HUVEC`` (E122), ``Liver`` (E066), ``NHEK`` (E127), ``Lung`` (E096).

Files written under ``out_dir``:

``chip/metadata.tsv``
    Tab-separated, header :data:`METADATA_COLUMNS` (ENCODE's names): file accession
    (``ENCFF…``), ``bed narrowPeak``, ``IDR thresholded peaks``, experiment accession
    (``ENCSR…``), biosample term name, ``<TF>-human``, ``GRCh38``; one row per file,
    cell types in layout order, TFs in ``layout.tf_activity`` order.
``chip/<File accession>.bed.gz``
    Gzip (mtime 0) narrowPeak, no header, columns :data:`NARROWPEAK_COLUMNS`: chrom,
    start, end (0-based half-open), name ``.``, score (0–1000), strand ``.``,
    signalValue, pValue and qValue (−log10, 5 decimals), peak (summit offset from
    start); sorted by contig (layout order), start, end.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from exprflow.atomic import atomic_path
from exprflow.simulate._genomic_activity import SiteTable, biosample_name, site_table
from exprflow.simulate.expression import write_gzip_text
from exprflow.simulate.layout import WorldLayout

__all__ = [
    "ACTIVE_THRESHOLD",
    "CHIP_DIR",
    "METADATA_COLUMNS",
    "METADATA_FILE",
    "NARROWPEAK_COLUMNS",
    "Q_THRESHOLD",
    "biosample_name",
    "write_chip",
]

CHIP_DIR = "chip"
METADATA_FILE = f"{CHIP_DIR}/metadata.tsv"
#: Header of :data:`METADATA_FILE`, in order (ENCODE metadata column names).
METADATA_COLUMNS: tuple[str, ...] = (
    "File accession",
    "File format",
    "Output type",
    "Experiment accession",
    "Biosample term name",
    "Experiment target",
    "File assembly",
)
#: Columns of every narrowPeak file, in order (the file has no header).
NARROWPEAK_COLUMNS: tuple[str, ...] = (
    "chrom",
    "start",
    "end",
    "name",
    "score",
    "strand",
    "signalValue",
    "pValue",
    "qValue",
    "peak",
)
#: A TF gets an experiment in a cell type where its activity is at least this.
ACTIVE_THRESHOLD = 0.5
#: ``-log10(0.05)``: peaks with a qValue below it fail the q ≤ 0.05 filter.
Q_THRESHOLD = -math.log10(0.05)

_WIDTH = (200, 801)  # peak width range (bases)
_SUMMIT_SD = 4.0  # summit jitter around the site centre (bases), kept within the site
_LOW_Q_SHARE = (0.1, 0.5)  # share of true / false peaks with qValue < Q_THRESHOLD
_FALSE_RATE = 0.05  # false peaks per true peak, plus one
_EDGE = 1_000


def write_chip(out_dir: Path, layout: WorldLayout, rng: np.random.Generator) -> dict:
    """Write the metadata table and every experiment's narrowPeak file.

    Parameters
    ----------
    out_dir : Path
        World folder; files go under ``chip/``.
    layout : WorldLayout
        Planted sites, cell types and TF activity.
    rng : np.random.Generator
        Source of every draw; the same seed gives byte-identical files.

    Returns
    -------
    dict
        JSON-able truth: ``files`` (``metadata`` and ``peaks`` → list of narrowPeak
        paths), ``columns`` (narrowPeak), ``coordinates``, ``active_threshold``,
        ``q_threshold``, ``biosamples`` (eid → biosample term name) and ``experiments``:
        one entry per file (metadata order) with ``file``, ``accession``,
        ``experiment``, ``eid``, ``biosample``, ``tf``, ``activity``, ``n_peaks``,
        ``n_pass`` (qValue ≥ ``q_threshold``) and ``site`` (per peak in file order: the
        index of its planted site in ``layout.sites``, i.e. in truth's
        ``motif_sites``, or -1 for a false peak).
    """
    out_dir = Path(out_dir)
    sites = site_table(layout)
    active = [
        (cell, tf_row, tf)
        for cell in layout.cell_types
        for tf_row, tf in enumerate(layout.tf_activity.index)
        if layout.tf_activity.at[tf, cell.eid] >= ACTIVE_THRESHOLD
    ]
    files = _accessions("ENCFF", len(active), rng)
    experiments = _accessions("ENCSR", len(active), rng)
    rows: list[tuple[str, ...]] = []
    truth: list[dict] = []
    for (cell, tf_row, tf), accession, experiment in zip(active, files, experiments, strict=True):
        lines, site, n_pass = _experiment(layout, sites, cell.eid, tf_row, rng)
        rel = f"{CHIP_DIR}/{accession}.bed.gz"
        write_gzip_text(out_dir / rel, "".join(lines))
        name = biosample_name(cell)
        rows.append(
            (
                accession,
                "bed narrowPeak",
                "IDR thresholded peaks",
                experiment,
                name,
                f"{tf}-human",
                "GRCh38",
            )
        )
        truth.append(
            {
                "file": rel,
                "accession": accession,
                "experiment": experiment,
                "eid": cell.eid,
                "biosample": name,
                "tf": tf,
                "activity": float(layout.tf_activity.at[tf, cell.eid]),
                "n_peaks": len(site),
                "n_pass": n_pass,
                "site": site,
            }
        )
    _write_metadata(out_dir / METADATA_FILE, rows)
    return {
        "files": {"metadata": METADATA_FILE, "peaks": [t["file"] for t in truth]},
        "columns": list(NARROWPEAK_COLUMNS),
        "coordinates": "0-based half-open",
        "active_threshold": ACTIVE_THRESHOLD,
        "q_threshold": Q_THRESHOLD,
        "biosamples": {c.eid: biosample_name(c) for c in layout.cell_types},
        "experiments": truth,
    }


def _accessions(prefix: str, n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct ENCODE-like accessions: prefix, three digits, three letters."""
    found: list[str] = []
    while len(found) < n:
        letters = "".join(chr(ord("A") + int(k)) for k in rng.integers(0, 26, 3))
        accession = f"{prefix}{int(rng.integers(100, 1000))}{letters}"
        if accession not in found:
            found.append(accession)
    return found


def _experiment(
    layout: WorldLayout, sites: SiteTable, eid: str, tf_row: int, rng: np.random.Generator
) -> tuple[list[str], list[int], int]:
    """One experiment's sorted narrowPeak lines, the site of each peak, peaks passing q."""
    own = np.flatnonzero(sites.tf == tf_row)
    bound = own[rng.random(own.size) < sites.weight(eid)[own]]
    n_false = 1 + int(rng.poisson(_FALSE_RATE * bound.size))
    centre = (sites.start[bound] + sites.end[bound]) // 2
    half = (sites.end[bound] - sites.start[bound]) // 2
    jitter = np.clip(np.round(rng.normal(0.0, _SUMMIT_SD, bound.size)), -half, half - 1)
    names = list(layout.contigs)
    lengths = np.array(list(layout.contigs.values()), dtype=np.int64)
    false_contig = rng.choice(len(names), n_false, p=lengths / lengths.sum())
    false_summit = _EDGE + np.floor(
        rng.random(n_false) * (lengths[false_contig] - 2 * _EDGE)
    ).astype(np.int64)
    chrom = np.concatenate([[names.index(c) for c in sites.chrom[bound]], false_contig])
    summit = np.concatenate([centre + jitter.astype(np.int64), false_summit])
    site = np.concatenate([bound, np.full(n_false, -1)])
    strength = np.concatenate(
        [sites.weight(eid)[bound] * rng.lognormal(0.0, 0.3, bound.size), np.zeros(n_false)]
    )
    width = rng.integers(*_WIDTH, site.size)
    start = np.maximum(summit - np.floor(width * rng.uniform(0.3, 0.7, site.size)), 0)
    start = start.astype(np.int64)
    end = np.minimum(start + width, lengths[chrom])
    signal = np.where(site >= 0, 5.0 + 40.0 * strength, rng.uniform(2.0, 8.0, site.size))
    low = rng.random(site.size) < np.where(site >= 0, *_LOW_Q_SHARE)
    q = np.where(low, rng.uniform(0.2, 1.29, site.size), 1.5 + signal * rng.uniform(0.1, 0.4))
    p = q + rng.uniform(0.5, 3.0, site.size)
    score = np.minimum(1000, np.round(signal * 20)).astype(np.int64)
    order = np.lexsort((end, start, chrom))
    lines = [
        f"{names[chrom[i]]}\t{start[i]}\t{end[i]}\t.\t{score[i]}\t.\t{signal[i]:.5f}\t"
        f"{p[i]:.5f}\t{q[i]:.5f}\t{summit[i] - start[i]}\n"
        for i in order
    ]
    return lines, site[order].tolist(), int((q >= Q_THRESHOLD).sum())


def _write_metadata(dest: Path, rows: list[tuple[str, ...]]) -> None:
    """Write the metadata table (header :data:`METADATA_COLUMNS`)."""
    lines = ["\t".join(METADATA_COLUMNS) + "\n", *("\t".join(r) + "\n" for r in rows)]
    with atomic_path(dest) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
