from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pysam
import pytest

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.variant import Variant
from exprflow.genome.vcf import PhasedVCF, bgzip_index, read_sites

# chr1 = ACGTAGCTTA CGGATCCAGT ...: POS 5 is A, POS 10 is A, POS 12-14 is GGA, POS 20 is T;
# chr2 = TTGACC...: POS 3 is G.
LINES = [
    "chr1 5 rs1 A G GT:DS 0|1:1 1|1:2 0|0:0",
    "chr1 10 rs2 A AT GT 1|0 0|1 0|0",
    "chr1 12 rs3 GGA G GT 0|0 1|0 1|1",
    "chr1 20 rsSV T <DEL> GT 0|1 0|0 0|0",
    "chr2 3 rs5 G C GT 1 0 1|1",
]
R1 = Variant("chr1", 4, "A", "G", "rs1")
R2 = Variant("chr1", 9, "A", "AT", "rs2")
R3 = Variant("chr1", 11, "GGA", "G", "rs3")
R5 = Variant("chr2", 2, "G", "C", "rs5")


@pytest.fixture
def calls(make_vcf: Callable[..., Path]) -> Path:
    return make_vcf(LINES)


@pytest.fixture
def phased(calls: Path, genome: Genome) -> Iterator[PhasedVCF]:
    with PhasedVCF(calls, genome) as opened:
        yield opened


# --- PhasedVCF -------------------------------------------------------------------------


def test_samples_and_variants(phased: PhasedVCF) -> None:
    assert phased.samples == ["s1", "s2", "s3"]
    assert phased.variants("chr1", 0, 40) == [R1, R2, R3]
    assert phased.skipped == 1
    assert phased.variants("chr1", 0, 40)[0].source == str(phased.path)


def test_haplotypes_of_each_sample(phased: PhasedVCF) -> None:
    assert phased.haplotypes("s1", "chr1", 0, 40) == ([R2], [R1])
    assert phased.haplotypes("s2", "chr1", 0, 40) == ([R1, R3], [R1, R2])
    assert phased.haplotypes("s3", "chr1", 0, 40) == ([R3], [R3])


def test_haploid_calls_count_on_both_haplotypes(phased: PhasedVCF) -> None:
    assert phased.haplotypes("s1", "chr2", 0, 40) == ([R5], [R5])
    assert phased.haplotypes("s2", "chr2", 0, 40) == ([], [])
    assert phased.dosages("chr2", 0, 40).values.tolist() == [[2, 0, 2]]


def test_genotypes_and_dosages_matrices(phased: PhasedVCF) -> None:
    found = phased.genotypes("chr1", 0, 40, samples=["s3", "s1"])
    assert found.samples == ["s3", "s1"]
    assert found.alleles.dtype == np.int8
    assert found.alleles.tolist() == [[[0, 0], [0, 1]], [[0, 0], [1, 0]], [[1, 1], [0, 0]]]
    dosages = phased.dosages("chr1", 0, 40)
    assert dosages.values.dtype == np.int8
    assert dosages.values.tolist() == [[1, 2, 0], [1, 1, 0], [0, 1, 2]]
    assert dosages.variants == [R1, R2, R3]


def test_region_is_zero_based_half_open_and_overlap_based(phased: PhasedVCF) -> None:
    assert phased.variants("chr1", 4, 5) == [R1]
    assert phased.variants("chr1", 5, 9) == []
    assert phased.variants("chr1", 13, 14) == [R3]  # deletion starting before the region
    empty = phased.genotypes("chr1", 5, 9)
    assert empty.alleles.shape == (0, 3, 2)


def test_contig_aliases_and_contigs_without_records(phased: PhasedVCF) -> None:
    assert phased.variants("1", 0, 40) == [R1, R2, R3]
    assert phased.variants("chrM", 0, 16) == []  # in the header, no records
    assert phased.genotypes("chr9", 0, 10).alleles.shape == (0, 3, 2)  # not in the file


def test_absent_sample_lists_some_present(phased: PhasedVCF) -> None:
    with pytest.raises(InputError, match=r"sample 'NA12878' is not in the file; .*s1, s2, s3"):
        phased.haplotypes("NA12878", "chr1", 0, 40)


def test_missing_genotype_error_or_ref(make_vcf: Callable[..., Path]) -> None:
    path = make_vcf(["chr1 5 rs1 A G GT 0|1 .|. 0|."])
    with (
        PhasedVCF(path) as vcf,
        pytest.raises(
            InputError, match=r"chr1:5 rs1: sample s2 has a missing genotype.*missing='ref'"
        ),
    ):
        vcf.dosages("chr1", 0, 40)
    with PhasedVCF(path, missing="ref") as vcf:
        assert vcf.genotypes("chr1", 0, 40).alleles.tolist() == [[[0, 1], [0, 0], [0, 0]]]


def test_unphased_heterozygote_error_or_as_written(make_vcf: Callable[..., Path]) -> None:
    path = make_vcf(["chr1 5 rs1 A G GT 0|0 1/1 0/1"])
    with PhasedVCF(path) as vcf:
        with pytest.raises(InputError, match=r"chr1:5 rs1: sample s3 has an unphased.*SHAPEIT"):
            vcf.haplotypes("s3", "chr1", 0, 40)
        assert vcf.haplotypes("s2", "chr1", 0, 40) == ([R1], [R1])  # 1/1 is unambiguous
        assert vcf.dosages("chr1", 0, 40).values.tolist() == [[0, 2, 1]]  # phase ignored
    with PhasedVCF(path, unphased="as_written") as vcf:
        assert vcf.haplotypes("s3", "chr1", 0, 40) == ([], [R1])


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("chr1 5 rs1 A G,T GT 0|1 0|2 0|0", r"chr1:5 rs1: is multi-allelic.*bcftools norm -m-"),
        ("chr1 5 rs1 A G GT 0|1 0|2 0|0", r"chr1:5 rs1: sample s2 has GT '0\|2'"),
        ("chr1 5 rs1 A G GT 0|1|1 0|0 0|0", r"chr1:5 rs1: sample s1 has GT '0\|1\|1'"),
        ("chr1 5 rs1 A G DS 1 0 0", r"chr1:5 rs1: has no GT genotype field"),
        ("chr1 5 rs1 C G GT 0|1 0|0 0|0", r"chr1:5 rs1: REF C disagrees .*tiny\.fa.*has A"),
        ("chr1 108 rs9 CTAAC C GT 0|1 0|0 0|0", r"chr1:108 rs9: lies outside the sequence"),
    ],
)
def test_bad_records_name_the_record(
    make_vcf: Callable[..., Path], genome: Genome, line: str, message: str
) -> None:
    with PhasedVCF(make_vcf([line]), genome) as vcf, pytest.raises(InputError, match=message):
        vcf.dosages("chr1", 0, 200)


def test_symbolic_record_is_skipped_with_a_warning(
    phased: PhasedVCF, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        assert phased.variants("chr1", 15, 25) == []
    assert "chr1:20 rsSV has symbolic ALT '<DEL>'; skipped" in caplog.text


def test_unindexed_or_unreadable_file(make_vcf: Callable[..., Path], tmp_path: Path) -> None:
    plain = make_vcf(LINES, index=False)
    with pytest.raises(InputError, match=r"calls\.vcf: has no index.*tabix -p vcf"):
        PhasedVCF(plain)
    with pytest.raises(InputError, match=r"absent\.vcf\.gz: cannot be opened"):
        PhasedVCF(tmp_path / "absent.vcf.gz")


def test_bgzip_index_makes_a_queryable_file(make_vcf: Callable[..., Path], tmp_path: Path) -> None:
    plain = make_vcf(LINES, index=False, name="plain.vcf")
    out = bgzip_index(plain, tmp_path / "out" / "calls.vcf.gz")
    assert out.is_file() and out.with_name("calls.vcf.gz.tbi").is_file()
    with PhasedVCF(out) as vcf:
        assert vcf.variants("chr1", 0, 40) == [R1, R2, R3]
    assert sorted(p.name for p in out.parent.iterdir()) == ["calls.vcf.gz", "calls.vcf.gz.tbi"]
    assert bgzip_index(plain) == tmp_path / "plain.vcf.gz"


def test_bgzip_index_refuses_unsorted(make_vcf: Callable[..., Path], tmp_path: Path) -> None:
    plain = make_vcf([LINES[1], LINES[0]], index=False)
    with pytest.raises(InputError, match=r"calls\.vcf: cannot be indexed.*bcftools sort"):
        bgzip_index(plain, tmp_path / "sorted.vcf.gz")
    assert not (tmp_path / "sorted.vcf.gz").exists()
    assert not list(tmp_path.glob("*partial*"))


# --- read_sites ------------------------------------------------------------------------


def test_read_sites_plain_and_compressed_agree(
    make_vcf: Callable[..., Path], genome: Genome
) -> None:
    plain = make_vcf(LINES, index=False)
    assert read_sites(plain, genome) == [R1, R2, R3, R5]
    packed = make_vcf(LINES, name="packed.vcf")
    assert read_sites(packed, genome) == [R1, R2, R3, R5]


def test_read_sites_unsorted(make_vcf: Callable[..., Path], tmp_path: Path) -> None:
    swapped = make_vcf([LINES[1], LINES[0]], index=False)
    with pytest.raises(InputError, match=r"calls\.vcf: chr1:5 rs1: position 5 comes after 10"):
        read_sites(swapped)
    back = make_vcf(
        [LINES[0], LINES[4], "chr1 10 rs2 A AT GT 1|0 0|1 0|0"], index=False, name="b.vcf"
    )
    with pytest.raises(InputError, match=r"chr1:10 rs2: contig chr1 comes back after chr2"):
        read_sites(back)
    packed = tmp_path / "swapped.vcf.gz"
    pysam.tabix_compress(str(swapped), str(packed))
    with pytest.raises(InputError, match=r"swapped\.vcf\.gz: chr1:5 rs1: position 5 comes after"):
        read_sites(packed)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("#CHROM\tPOS\tREF\tALT\nchr1\t5\tA\tG\n", r"line 1: header line starts"),
        ("chr1\t5\trs1\tA\n", r"line 1: has 4 tab-separated column\(s\)"),
        ("chr1\tfive\trs1\tA\tG\n", r"chr1:five rs1: POS 'five' is not a positive integer"),
        ("chr1\t5\trs1\tA\tG,C\n", r"chr1:5 rs1: is multi-allelic.*bcftools norm -m-"),
        ("chr1\t5\trs1\tAR\tG\n", r"chr1:5 rs1: REF 'AR' / ALT 'G' must be made of A, C, G, T, N"),
    ],
)
def test_read_sites_bad_input(
    write_text: Callable[[str, str], Path], text: str, message: str
) -> None:
    path = write_text("bad.vcf", text)
    with pytest.raises(InputError, match=r"bad\.vcf: " + message):
        read_sites(path)


def test_read_sites_skips_symbolic_alleles(write_text: Callable[[str, str], Path]) -> None:
    rows = ["<DEL>", "*", "G[chr2:5[", "]chr2:5]G", ".G", "G.", "."]
    text = "".join(f"chr1\t{i + 1}\tsv{i}\tA\t{alt}\n" for i, alt in enumerate(rows))
    assert read_sites(write_text("sv.vcf", text + "chr1\t50\tok\ta\tc\n")) == [
        Variant("chr1", 49, "A", "C", "ok")
    ]


def test_read_sites_missing_file_and_unparsable_compressed(tmp_path: Path, real_dir: Path) -> None:
    with pytest.raises(InputError, match="VCF file not found"):
        read_sites(tmp_path / "absent.vcf")
    packed = tmp_path / "regulatory.vcf.gz"
    pysam.tabix_compress(str(real_dir / "variants" / "regulatory_validated.vcf"), str(packed))
    with pytest.raises(InputError, match=r"regulatory\.vcf\.gz: cannot be parsed as VCF/BCF"):
        read_sites(packed)


# --- the real variant lists ------------------------------------------------------------


def test_real_regulatory_list_read_tolerantly(real_dir: Path) -> None:
    # 7 columns under an 8-column header: htslib refuses it, the text reader does not.
    found = read_sites(real_dir / "variants" / "regulatory_validated.vcf")
    assert len(found) == 16
    assert found[0] == Variant("chr1", 56_972_352, "G", "A", "rs72664324")
    assert found[2] == Variant("chr1", 226_595_402, "A", "AGGGCCC", "rs144361550")
    assert found[-1] == Variant("chr22", 21_921_685, "G", "T", "rs140490")


def test_real_variants_vcf_with_stray_space(real_dir: Path) -> None:
    assert read_sites(real_dir / "variants" / "variants.vcf") == [
        Variant("chr16", 67_596_293, "G", "A", "rsDK1"),
        Variant("chr16", 67_596_296, "C", "G", "rsDK2"),
    ]


def test_real_expecto_headerless_example(real_dir: Path) -> None:
    found = read_sites(real_dir / "expecto" / "example" / "example.vcf")
    assert len(found) == 10
    assert found[0] == Variant("chr1", 1_265_153, "C", "T", "-")
    # the published closest-gene table puts these variants at BED start = pos0
    table = real_dir / "expecto" / "example" / "example.vcf.bed.sorted.bed.closestgene"
    starts = [int(line.split("\t")[1]) for line in table.read_text().splitlines()]
    assert [v.pos0 for v in found] == starts


def test_real_misorder_names_the_record_out_of_order(real_dir: Path) -> None:
    with pytest.raises(
        InputError,
        match=r"regulatory_validated_misorder\.vcf: chr1:56972353 rs72664324: "
        r"position 56972353 comes after 109817590.*bcftools sort",
    ):
        read_sites(real_dir / "variants" / "regulatory_validated_misorder.vcf")


@pytest.fixture
def regulatory_genome(real_dir: Path, write_fasta: Callable[..., Path]) -> Iterator[Genome]:
    """hg38 stand-in: a 101-bp region-named window around each validated variant.

    The windows carry the validated REF at the variant and random bases elsewhere.
    """
    rng = np.random.default_rng(7)
    records = {}
    for variant in read_sites(real_dir / "variants" / "regulatory_validated.vcf"):
        pos1 = variant.pos0 + 1
        left = "".join(rng.choice(list("ACGT"), 50))
        right = "".join(rng.choice(list("ACGT"), 51 - len(variant.ref)))
        records[f"{variant.chrom}:{pos1 - 50}-{pos1 + 50}"] = left + variant.ref + right
    with Genome(write_fasta(records, "hg38_windows.fa")) as genome:
        yield genome


def test_real_valid_list_passes_the_ref_check(real_dir: Path, regulatory_genome: Genome) -> None:
    found = read_sites(real_dir / "variants" / "regulatory_validated.vcf", regulatory_genome)
    assert len(found) == 16
    assert regulatory_genome.fetch("chr1", 56_972_352, 56_972_353) == "G"


def test_real_misref_names_record_vcf_ref_and_fasta_base(
    real_dir: Path, regulatory_genome: Genome
) -> None:
    with pytest.raises(
        InputError,
        match=r"regulatory_validated_misref\.vcf: chr1:56972353 rs72664324: REF A disagrees "
        r"with the FASTA .*hg38_windows\.fa, which has G there.*genome build",
    ):
        read_sites(real_dir / "variants" / "regulatory_validated_misref.vcf", regulatory_genome)


def test_real_misref_passes_without_a_genome(real_dir: Path, tmp_path: Path) -> None:
    copy = shutil.copy(real_dir / "variants" / "regulatory_validated_misref.vcf", tmp_path)
    assert read_sites(copy)[0].ref == "A"
