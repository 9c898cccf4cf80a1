"""Tiny genomic files for the genome tests: FASTA + .fai, phased VCF, bigWig, GTF.

Everything is written into ``tmp_path`` in milliseconds; sequences are literals so the
expected answers can be worked out by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path

import pyBigWig
import pysam
import pytest

from exprflow.genome.fasta import Genome

#: The tiny genome. chr1 has a soft-masked (lower-case) stretch at 40..50.
SEQS: dict[str, str] = {
    "chr1": (
        "ACGTAGCTTACGGATCCAGTTGACCATGCAAGTCGATCGG"
        "acgtaccgtt"
        "GATTACAGGCATGCCTAGGACTTGACCGATAGCTAGCTAA"
        "CGTTGCAAGTCCGATGGCAT"
    ),
    "chr2": "TTGACCATGCAAGTCGATCGGATCCAGTTGAAACCCGGGT",
    "chrM": "GATCACAGGTCTATCA",
}

VCF_HEADER = (
    "##fileformat=VCFv4.2\n"
    + "".join(f"##contig=<ID={name},length={len(seq)}>\n" for name, seq in SEQS.items())
    + '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
    + '##FORMAT=<ID=DS,Number=1,Type=Float,Description="Dosage">\n'
)


def _write_fasta(path: Path, records: Mapping[str, str], width: int = 30) -> Path:
    with open(path, "w") as out:
        for name, seq in records.items():
            out.write(f">{name}\n")
            out.writelines(seq[i : i + width] + "\n" for i in range(0, len(seq), width))
    return path


@pytest.fixture
def seqs() -> dict[str, str]:
    """The tiny genome's sequences, as written (chr1 partly lower-case)."""
    return dict(SEQS)


@pytest.fixture
def write_fasta(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``write_fasta(records, name="x.fa", index=True)`` → FASTA (with .fai)."""

    def write(records: Mapping[str, str], name: str = "extra.fa", index: bool = True) -> Path:
        path = _write_fasta(tmp_path / name, records)
        if index:
            pysam.faidx(str(path))
        return path

    return write


@pytest.fixture
def fasta_path(write_fasta: Callable[..., Path]) -> Path:
    """The tiny genome as an indexed FASTA."""
    return write_fasta(SEQS, "tiny.fa")


@pytest.fixture
def genome(fasta_path: Path) -> Iterator[Genome]:
    """The tiny genome, opened."""
    with Genome(fasta_path) as opened:
        yield opened


@pytest.fixture
def make_vcf(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``make_vcf(lines, samples)`` → bgzipped, tabix-indexed VCF.

    ``lines`` are data lines without the first 8 columns' QUAL/FILTER/INFO, i.e.
    ``"chr1 5 rs1 A G GT 0|1 1|1"`` with single spaces, turned into tabs.
    """

    def make(
        lines: Sequence[str],
        samples: Sequence[str] = ("s1", "s2", "s3"),
        name: str = "calls.vcf",
        index: bool = True,
    ) -> Path:
        path = tmp_path / name
        columns = ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
        with open(path, "w") as out:
            out.write(VCF_HEADER + "\t".join([*columns, *samples]) + "\n")
            for line in lines:
                chrom, pos, vid, ref, alt, fmt, *gts = line.split(" ")
                out.write("\t".join([chrom, pos, vid, ref, alt, ".", "PASS", ".", fmt, *gts]))
                out.write("\n")
        if not index:
            return path
        pysam.tabix_index(str(path), preset="vcf", force=True)
        return path.with_name(path.name + ".gz")

    return make


@pytest.fixture
def write_bw(tmp_path: Path) -> Callable[..., Path]:
    """Factory: ``write_bw(contigs, entries)`` → bigWig written directly with pyBigWig.

    ``entries`` maps contig → list of ``(start, end, value)``.
    """

    def write(
        contigs: Mapping[str, int],
        entries: Mapping[str, list[tuple[int, int, float]]],
        name: str = "track.bw",
    ) -> Path:
        path = tmp_path / name
        bw = pyBigWig.open(str(path), "w")
        bw.addHeader(list(contigs.items()))
        for chrom in contigs:
            rows = entries.get(chrom, [])
            if rows:
                bw.addEntries(
                    [chrom] * len(rows),
                    [r[0] for r in rows],
                    ends=[r[1] for r in rows],
                    values=[float(r[2]) for r in rows],
                )
        bw.close()
        return path

    return write


GTF_GENES = (
    'chr1\ttest\tgene\t11\t60\t.\t+\t.\tgene_id "G1"; gene_name "ONE"; gene_type "lncRNA";\n'
    'chr1\ttest\ttranscript\t11\t60\t.\t+\t.\tgene_id "G1"; transcript_id "T1";\n'
    'chr1\ttest\texon\t11\t20\t.\t+\t.\tgene_id "G1"; transcript_id "T1";\n'
    'chr2\ttest\tgene\t5\t30\t.\t-\t.\tgene_id "G2"; gene_name "TWO"; '
    'gene_biotype "protein_coding";\n'
    'chr2\ttest\texon\t5\t30\t.\t-\t.\tgene_id "G2"; transcript_id "T2";\n'
)


@pytest.fixture
def write_text(tmp_path: Path) -> Callable[[str, str], Path]:
    """Factory: ``write_text(name, content)`` → path of a text file in ``tmp_path``."""

    def write(name: str, content: str) -> Path:
        path = tmp_path / name
        path.write_text(content)
        return path

    return write


@pytest.fixture
def gtf_path(write_text: Callable[[str, str], Path]) -> Path:
    """A GTF with gene, transcript and exon records for two genes."""
    return write_text("genes.gtf", "##description: tiny\n" + GTF_GENES)
