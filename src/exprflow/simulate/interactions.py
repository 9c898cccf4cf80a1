"""Write a promoter-capture Hi-C-like interaction table for the synthetic world.

Chromoformer picks each gene's distal elements from pcHi-C (Jung et al. 2019): the bait
is the restriction fragment holding the promoter, the other end a distal fragment, and
contacts with a normalised frequency above 1.5 are kept. This writer produces that
table from the layout: every planted enhancer contacts its gene's promoter in every
cell type with its planted score (> 1.5 for a real contact), and each promoter also
gets a few background contacts to random fragments within ±1 Mb whose scores are
below 1.5, different in each cell type.

The genome is cut into HindIII-like fragments (500 bp plus an exponential length of
mean 3.5 kb); the bait is the fragment holding the TSS; a planted other end is the
enhancer itself, a background one a whole fragment.

File written under ``out_dir``: ``interactions/pchic.tsv``, tab-separated with a
header, columns :data:`COLUMNS`:

``cell_type``
    eid of the cell type (``layout.cell_types``).
``bait_chrom, bait_start, bait_end``
    The promoter fragment, **0-based half-open** (BED convention).
``bait_gene_id``
    The gene whose TSS lies in the bait (layout id, versioned).
``other_chrom, other_start, other_end``
    The distal end, 0-based half-open.
``score``
    Normalised interaction frequency (6 significant digits).

Rows are sorted by cell type (layout order), bait contig (layout order), bait start,
gene id, other start, other end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from exprflow.atomic import atomic_path
from exprflow.errors import InputError
from exprflow.simulate.layout import Gene, WorldLayout

__all__ = ["COLUMNS", "INTERACTIONS_FILE", "SCORE_THRESHOLD", "write_interactions"]

INTERACTIONS_FILE = "interactions/pchic.tsv"
#: Header of :data:`INTERACTIONS_FILE`, in order.
COLUMNS: tuple[str, ...] = (
    "cell_type",
    "bait_chrom",
    "bait_start",
    "bait_end",
    "bait_gene_id",
    "other_chrom",
    "other_start",
    "other_end",
    "score",
)
#: Contacts above this normalised frequency are real (Chromoformer keeps > 1.5).
SCORE_THRESHOLD = 1.5

_FRAGMENT_MIN, _FRAGMENT_MEAN_EXTRA = 500, 3500.0
_BACKGROUND_PER_GENE = (2, 6)  # inclusive range of background contacts per promoter
_MAX_DISTANCE = 1_000_000


def write_interactions(out_dir: Path, layout: WorldLayout, rng: np.random.Generator) -> dict:
    """Write ``interactions/pchic.tsv`` for every cell type of the layout.

    Parameters
    ----------
    out_dir : Path
        World folder.
    layout : WorldLayout
        Genes, enhancers (with their planted scores) and cell types.
    rng : np.random.Generator
        Draws the fragment map and the background contacts.

    Returns
    -------
    dict
        JSON-able truth: ``files`` (``{"pchic": ...}``), ``columns``, ``coordinates``,
        ``threshold``, ``planted`` (contacts per cell type), ``background`` (eid → count)
        and ``fragment_count``.
    """
    genes = {g.gene_id: g for g in layout.genes}
    _check(layout, genes)
    fragments = {c: _fragment_ends(n, rng) for c, n in layout.contigs.items()}
    rows: list[tuple] = []
    background: dict[str, int] = {}
    for cell in layout.cell_types:
        planted = [
            (cell.eid, *_bait(genes[e.gene_id], fragments), e.chrom, e.start, e.end, e.score)
            for e in layout.enhancers
        ]
        noise = _background(cell.eid, layout, fragments, rng)
        rows += planted + noise
        background[cell.eid] = len(noise)
    _write(Path(out_dir) / INTERACTIONS_FILE, rows, layout)
    return {
        "files": {"pchic": INTERACTIONS_FILE},
        "columns": list(COLUMNS),
        "coordinates": "0-based half-open",
        "threshold": SCORE_THRESHOLD,
        "planted": len(layout.enhancers),
        "background": background,
        "fragment_count": int(sum(f.size for f in fragments.values())),
    }


def _check(layout: WorldLayout, genes: dict[str, Gene]) -> None:
    """Raise InputError for enhancers pointing at unknown genes or outside their contig."""
    for enh in layout.enhancers:
        length = layout.contigs.get(enh.chrom, 0)
        if enh.gene_id not in genes or not 0 <= enh.start < enh.end <= length:
            raise InputError(
                "WorldLayout.enhancers",
                f"enhancer {enh.chrom}:{enh.start}-{enh.end} of gene {enh.gene_id!r} "
                "is outside its contig or targets an unknown gene.",
                record=enh.enhancer_id,
                fix="keep enhancers within layout.contigs and point them at layout genes.",
            )


def _fragment_ends(length: int, rng: np.random.Generator) -> np.ndarray:
    """End coordinates of restriction fragments tiling ``[0, length)``; the last is ``length``."""
    n = int(length / (_FRAGMENT_MIN + _FRAGMENT_MEAN_EXTRA) * 1.5) + 2
    sizes = _FRAGMENT_MIN + rng.exponential(_FRAGMENT_MEAN_EXTRA, n).astype(np.int64)
    ends = np.cumsum(sizes)
    ends = ends[ends < length]
    return np.append(ends, length)


def _fragment(ends: np.ndarray, index: int) -> tuple[int, int]:
    """0-based half-open bounds of fragment ``index``."""
    return (int(ends[index - 1]) if index else 0), int(ends[index])


def _bait(gene: Gene, fragments: dict[str, np.ndarray]) -> tuple:
    """``(chrom, start, end, gene_id)`` of the fragment holding the gene's TSS."""
    ends = fragments[gene.chrom]
    index = int(np.searchsorted(ends, gene.tss, side="right"))
    return (gene.chrom, *_fragment(ends, index), gene.gene_id)


def _background(
    eid: str, layout: WorldLayout, fragments: dict[str, np.ndarray], rng: np.random.Generator
) -> list[tuple]:
    """Weak contacts (score < 1.5) from each promoter to random fragments within ±1 Mb."""
    rows = []
    span = max(1, int(_MAX_DISTANCE / (_FRAGMENT_MIN + _FRAGMENT_MEAN_EXTRA)))
    for gene in layout.genes:
        ends = fragments[gene.chrom]
        bait = _bait(gene, fragments)
        here = int(np.searchsorted(ends, gene.tss, side="right"))
        n = int(rng.integers(_BACKGROUND_PER_GENE[0], _BACKGROUND_PER_GENE[1] + 1))
        offsets = rng.integers(1, span + 1, n) * rng.choice([-1, 1], n)
        partners = np.unique(here + offsets)
        partners = partners[(partners >= 0) & (partners < ends.size)]
        scores = 0.2 + 1.29 * rng.beta(2.0, 3.0, partners.size)
        for index, score in zip(partners, scores, strict=True):
            rows.append((eid, *bait, gene.chrom, *_fragment(ends, int(index)), float(score)))
    return rows


def _write(dest: Path, rows: list[tuple], layout: WorldLayout) -> None:
    """Sort the rows and write them with the header."""
    cell_order = {c.eid: i for i, c in enumerate(layout.cell_types)}
    contig_order = {c: i for i, c in enumerate(layout.contigs)}
    rows = sorted(
        rows, key=lambda r: (cell_order[r[0]], contig_order[r[1]], r[2], r[4], r[6], r[7])
    )
    lines = ["\t".join(COLUMNS) + "\n"]
    lines += ["\t".join(map(str, r[:8])) + f"\t{r[8]:.6g}\n" for r in rows]
    with atomic_path(dest) as tmp:
        tmp.write_text("".join(lines), encoding="utf-8")
