"""Write the world's gene annotation: a GENCODE-style GTF and the benchmark gene list.

``genes.gtf``: one ``gene``, one ``transcript`` and its ``exon`` records per gene,
tab-separated, 1-based inclusive coordinates, attributes in GENCODE style (``gene_id``,
``transcript_id``, ``gene_type``, ``gene_name``, ``transcript_type``,
``transcript_name``, ``exon_number``, ``exon_id``, ``level``), sorted by contig and start.
The transcript spans the gene body; its first exon starts at the TSS.

``gene_list.csv``: the personalized-expression benchmark's layout, no header: Ensembl id
(unversioned), chromosome without ``chr``, 1-based TSS, symbol, strand.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exprflow.atomic import atomic_path
from exprflow.simulate.layout import Gene, WorldLayout

__all__ = ["exon_structure", "write_gene_list", "write_gtf"]

_SOURCE = "exprflow"


def exon_structure(gene: Gene, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Exons of the gene's one transcript, 0-based half-open, in genome order.

    Parameters
    ----------
    gene : Gene
        The gene; exons cover its first and last base.
    rng : numpy.random.Generator
        Random stream.

    Returns
    -------
    list of (start, end)
        Non-overlapping exons separated by introns of ≥ 100 bp.
    """
    length = gene.end - gene.start
    n_exons = min(int(rng.integers(2, 9)), max(1, length // 600))
    widths = rng.integers(80, 301, n_exons)
    if n_exons == 1 or widths.sum() + 100 * (n_exons - 1) > length:
        return [(gene.start, gene.end)]
    slack = length - widths.sum() - 100 * (n_exons - 1)
    cuts = np.sort(rng.integers(0, slack + 1, n_exons - 1))
    gaps = np.diff(np.concatenate([[0], cuts, [slack]]))
    exons, cursor = [], gene.start
    for i in range(n_exons):
        cursor += int(gaps[i]) + (100 if i else 0)
        exons.append((cursor, cursor + int(widths[i])))
        cursor += int(widths[i])
    exons[0] = (gene.start, exons[0][1])
    exons[-1] = (exons[-1][0], gene.end)
    return exons


def _attributes(pairs: list[tuple[str, str | int]]) -> str:
    return " ".join(f"{k} {v};" if isinstance(v, int) else f'{k} "{v}";' for k, v in pairs)


def _gene_records(gene: Gene, index: int, rng: np.random.Generator) -> list[tuple[int, str]]:
    """(0-based start, GTF line) of the gene, its transcript and its exons."""
    transcript = f"ENST9{index:010d}.1"
    common: list[tuple[str, str | int]] = [("gene_id", gene.gene_id)]
    gene_info: list[tuple[str, str | int]] = [
        ("gene_type", gene.biotype),
        ("gene_name", gene.symbol),
    ]
    tx_info: list[tuple[str, str | int]] = [
        ("transcript_type", gene.biotype),
        ("transcript_name", f"{gene.symbol}-201"),
    ]

    def line(
        feature: str, start: int, end: int, attrs: list[tuple[str, str | int]]
    ) -> tuple[int, str]:
        fields = [
            gene.chrom,
            _SOURCE,
            feature,
            str(start + 1),
            str(end),
            ".",
            gene.strand,
            ".",
            _attributes(attrs),
        ]
        return start, "\t".join(fields)

    records = [line("gene", gene.start, gene.end, common + gene_info + [("level", 2)])]
    tx = [*common, ("transcript_id", transcript), *gene_info, *tx_info]
    records.append(line("transcript", gene.start, gene.end, [*tx, ("level", 2)]))
    exons = exon_structure(gene, rng)
    numbered = exons if gene.strand == "+" else exons[::-1]
    for number, (start, end) in enumerate(numbered, start=1):
        exon_id = f"ENSE9{index:08d}{number:02d}.1"
        attrs = [*tx, ("exon_number", number), ("exon_id", exon_id), ("level", 2)]
        records.append(line("exon", start, end, attrs))
    return records


def write_gtf(path: Path, layout: WorldLayout, rng: np.random.Generator) -> None:
    """Write ``genes.gtf`` (1-based inclusive), sorted by contig then start, atomically.

    Parameters
    ----------
    path : Path
        Destination.
    layout : WorldLayout
        Genes to write.
    rng : numpy.random.Generator
        The annotation's own random stream (exon structure).
    """
    order = {c: i for i, c in enumerate(layout.contigs)}
    records: list[tuple[int, int, int, str]] = []
    for index, gene in enumerate(layout.genes, start=1):
        for start, text in _gene_records(gene, index, rng):
            records.append((order[gene.chrom], start, len(records), text))
    records.sort()
    header = "##description: exprflow synthetic world annotation\n##format: gtf\n"
    with atomic_path(path) as tmp:
        tmp.write_text(header + "".join(r[3] + "\n" for r in records))


def write_gene_list(path: Path, layout: WorldLayout) -> None:
    """Write the benchmark ``gene_list.csv`` (no header; 1-based TSS), atomically.

    Parameters
    ----------
    path : Path
        Destination.
    layout : WorldLayout
        Genes to list, in layout order.
    """
    rows = [
        f"{g.gene_id.split('.')[0]},{g.chrom.removeprefix('chr')},{g.tss + 1},"
        f"{g.symbol},{g.strand}\n"
        for g in layout.genes
    ]
    with atomic_path(path) as tmp:
        tmp.write_text("".join(rows))
