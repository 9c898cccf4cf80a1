"""A hand-made chromatin world for the dataset tests: tracks with known values, tables.

Two 100 kb contigs, two cell types (E003, E004), two marks written (H3K4me3, H3K27ac).
Gene ``ENSG1.1`` (+) and ``ENSG2.3`` (−) have their TSS at 50,000 on chr1 / chr2, whose
H3K4me3 signal is the same: 2 on [30,000, 32,000), 1 on [50,000, 50,500), 4 on
[69,900, 70,000) (the promoter window is [30,000, 70,000)), and 3 on [10,000, 11,000),
1 on [11,000, 11,250) (ENSG1's pCRE, 1,250 bp). H3K27ac is H3K4me3 × 2 in E003, zero
elsewhere. ENSG3 (+, chr2:80,000) has interactions below the threshold only.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd

from exprflow.genome.bigwig import write_bigwig

CONTIGS = {"chr1": 100_000, "chr2": 100_000}
CELLS = ("E003", "E004")
MARKS_WRITTEN = ("H3K4me3", "H3K27ac")
#: (start, end, value) of H3K4me3 on both contigs.
SIGNAL = [
    (10_000, 11_000, 3.0),
    (11_000, 11_250, 1.0),
    (30_000, 32_000, 2.0),
    (50_000, 50_500, 1.0),
    (69_900, 70_000, 4.0),
]
GENES = pd.DataFrame(
    {
        "gene_id": ["ENSG1.1", "ENSG2.3", "ENSG3.1"],
        "symbol": ["A", "B", "C"],
        "chrom": ["chr1", "chr2", "chr2"],
        "tss": [50_000, 50_000, 80_000],
        "strand": ["+", "-", "+"],
    }
)
#: RPKM per cell type (E003 median 2.0, E004 median 5.0).
RPKM = "gene_id\tE003\tE004\nENSG1\t1.0\t5.0\nENSG2\t2.0\t4.0\nENSG3\t3.0\t6.5\n"
INTERACTION_HEADER = (
    "cell_type\tbait_chrom\tbait_start\tbait_end\tbait_gene_id\t"
    "other_chrom\tother_start\tother_end\tscore\n"
)
INTERACTIONS = [
    ("E003", "chr1", 49_000, 52_000, "ENSG1.1", "chr1", 10_000, 11_250, 4.0),
    ("E003", "chr1", 49_000, 52_000, "ENSG1.1", "chr1", 90_000, 91_000, 1.2),
    ("E003", "chr2", 49_000, 52_000, "ENSG2.3", "chr2", 20_000, 20_400, 2.5),
    ("E003", "chr2", 79_000, 81_000, "ENSG3.1", "chr2", 60_000, 61_000, 0.9),
    ("E004", "chr1", 49_000, 52_000, "ENSG1.1", "chr1", 90_000, 91_000, 1.7),
    ("E004", "chr2", 49_000, 52_000, "ENSG2.3", "chr2", 20_000, 20_400, 1.4),
    ("E004", "chr2", 79_000, 81_000, "ENSG3.1", "chr2", 60_000, 61_000, 1.1),
]


def write_interactions(path: Path, rows: list[tuple]) -> Path:
    """Write an interaction table with the world header."""
    lines = [INTERACTION_HEADER, *("\t".join(map(str, row)) + "\n" for row in rows)]
    path.write_text("".join(lines))
    return path


def _intervals(eid: str, mark: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts, ends, values) of one track on each contig."""
    factor = 1.0 if mark == "H3K4me3" else (2.0 if eid == "E003" else 0.0)
    starts, ends, values = (np.array(column) for column in zip(*SIGNAL, strict=True))
    return starts, ends, values * factor


def write_world(root: Path, *, bedgraph: bool = False) -> dict[str, Path]:
    """Write tracks, the RPKM table and the interactions under ``root``; return the paths."""
    tracks = root / "tracks"
    for eid in CELLS:
        for mark in MARKS_WRITTEN:
            arrays = _intervals(eid, mark)
            if bedgraph:
                lines = [
                    f"{chrom}\t{s}\t{e}\t{v:g}\n"
                    for chrom in CONTIGS
                    for s, e, v in zip(*arrays, strict=True)
                ]
                dest = tracks / eid / f"{mark}.bedGraph.gz"
                dest.parent.mkdir(parents=True, exist_ok=True)
                dest.write_bytes(gzip.compress(("track type=bedGraph\n" + "".join(lines)).encode()))
            else:
                write_bigwig(
                    tracks / eid / f"{mark}.bigWig", CONTIGS, dict.fromkeys(CONTIGS, arrays)
                )
    rpkm = root / "57epigenomes.RPKM.pc"
    rpkm.write_text(RPKM)
    return {
        "tracks": tracks,
        "rpkm": rpkm,
        "interactions": write_interactions(root / "pchic.tsv", INTERACTIONS),
    }
