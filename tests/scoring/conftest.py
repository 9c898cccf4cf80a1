"""Fixtures for the scoring tests: the tiny world opened, a hand-made genome with indels.

The hand-made genome (``hand``) has ``chr1`` (60 kb) and ``chr2`` (45 kb) of seeded random
bases and three genes far enough from the ends; its VCF (samples ``s1``, ``s2``) carries an
insertion upstream of ``G1``'s TSS on ``s1|1`` and a deletion downstream on ``s1|2``, while
``s2`` carries nothing, so its predictions must equal the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from tests.scoring._standin import StandIn

from exprflow.genome.annotation import read_gene_list
from exprflow.genome.fasta import Genome
from exprflow.genome.vcf import PhasedVCF, bgzip_index

HAND_LENGTHS = {"chr1": 60_000, "chr2": 45_000}
#: G1 on chr1 (+), G2 on chr1 (-), G3 on chr2 (+); 0-based TSS.
HAND_GENES = pd.DataFrame(
    {
        "gene_id": ["G1", "G2", "G3"],
        "chrom": ["chr1", "chr1", "chr2"],
        "tss": [30_000, 28_000, 22_000],
        "strand": ["+", "-", "+"],
    }
)
INSERTION_AT = 25_000  # 0-based; ALT adds "GGG" after the REF base
DELETION_AT = 33_000  # 0-based; REF 5 bases, ALT the first: 4 bases deleted


@dataclass
class Tiny:
    """The tiny world, opened once per session."""

    genome: Genome
    vcf: PhasedVCF
    genes: pd.DataFrame
    samples: list[str]


@dataclass
class Hand:
    """The hand-made genome, its sequences, genes and VCF writer."""

    root: Path
    seqs: dict[str, str]
    genome: Genome
    genes: pd.DataFrame
    write_vcf: Callable[[list[str], list[str], str], PhasedVCF]


@pytest.fixture(scope="session")
def tiny(tiny_world: Path) -> Iterator[Tiny]:
    with (
        Genome(tiny_world / "genome" / "genome.fa") as genome,
        PhasedVCF(tiny_world / "variants" / "population.vcf.gz") as vcf,
    ):
        genes = read_gene_list(tiny_world / "annotation" / "gene_list.csv")
        yield Tiny(genome, vcf, genes, vcf.samples)


@pytest.fixture
def model() -> StandIn:
    return StandIn()


def _vcf_writer(
    root: Path, seqs: dict[str, str]
) -> Callable[[list[str], list[str], str], PhasedVCF]:
    def write(lines: list[str], samples: list[str], name: str = "hand.vcf") -> PhasedVCF:
        header = "##fileformat=VCFv4.2\n" + "".join(
            f"##contig=<ID={chrom},length={len(seq)}>\n" for chrom, seq in seqs.items()
        )
        header += '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
        path = root / name
        with open(path, "w") as out:
            out.write(header + "\t".join([*columns, *samples]) + "\n")
            for line in lines:
                chrom, pos, vid, ref, alt, *gts = line.split()
                out.write("\t".join([chrom, pos, vid, ref, alt, ".", "PASS", ".", "GT", *gts]))
                out.write("\n")
        return PhasedVCF(bgzip_index(path))

    return write


@pytest.fixture(scope="session")
def hand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hand]:
    root = tmp_path_factory.mktemp("hand")
    rng = np.random.default_rng(7)
    seqs = {name: "".join(rng.choice(list("ACGT"), size=n)) for name, n in HAND_LENGTHS.items()}
    fasta = root / "hand.fa"
    with open(fasta, "w") as out:
        for name, seq in seqs.items():
            out.write(f">{name}\n")
            out.writelines(seq[i : i + 60] + "\n" for i in range(0, len(seq), 60))
    pysam.faidx(str(fasta))
    with Genome(fasta) as genome:
        yield Hand(root, seqs, genome, HAND_GENES.copy(), _vcf_writer(root, seqs))


def indel_lines(seqs: dict[str, str]) -> list[str]:
    """The hand VCF: insertion on s1|1, deletion on s1|2, s2 reference."""
    chr1 = seqs["chr1"]
    ins_ref = chr1[INSERTION_AT]
    del_ref = chr1[DELETION_AT : DELETION_AT + 5]
    return [
        f"chr1 {INSERTION_AT + 1} ins {ins_ref} {ins_ref}GGG 1|0 0|0",
        f"chr1 {DELETION_AT + 1} del {del_ref} {del_ref[0]} 0|1 0|0",
    ]


@pytest.fixture(scope="session")
def indel_vcf(hand: Hand) -> Iterator[PhasedVCF]:
    with hand.write_vcf(indel_lines(hand.seqs), ["s1", "s2"], "indels.vcf") as vcf:
        yield vcf
