from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

from exprflow.errors import InputError
from exprflow.simulate.population import (
    DELETION,
    INSERTION,
    POPULATIONS,
    SNV,
    Haplotypes,
    alt_code_for,
    drop_collisions,
    out_of_africa,
    variant_ids,
    write_vcf,
)
from exprflow.simulate.world import WorldManifest


@pytest.fixture(scope="module")
def records(world: WorldManifest) -> list[pysam.VariantRecord]:
    with pysam.VariantFile(str(world.path("vcf"))) as vcf:
        return list(vcf)


@pytest.fixture(scope="module")
def haplotypes(records: list[pysam.VariantRecord]) -> np.ndarray:
    """ALT alleles (records × haplotypes) of the VCF."""
    return np.array([[a for s in r.samples.values() for a in s["GT"]] for r in records])


def test_header_contigs_and_samples(world: WorldManifest) -> None:
    samples = pd.read_csv(world.path("samples"), sep="\t")
    with pysam.VariantFile(str(world.path("vcf"))) as vcf:
        contigs = {c: vcf.header.contigs[c].length for c in vcf.header.contigs}
        assert list(vcf.header.samples) == samples["sample"].tolist()
    assert contigs == {f"chr{i}": 400_000 for i in range(1, 5)}


def test_ref_matches_fasta_and_alleles_are_vcf_style(
    world: WorldManifest, records: list[pysam.VariantRecord]
) -> None:
    kinds = {"snv": 0, "indel": 0}
    with pysam.FastaFile(str(world.path("fasta"))) as fa:
        for r in records:
            assert fa.fetch(r.chrom, r.pos - 1, r.pos - 1 + len(r.ref)) == r.ref
            assert r.alts is not None and len(r.alts) == 1  # biallelic
            alt = r.alts[0]
            assert alt != r.ref and set(r.ref + alt) <= set("ACGT")
            if len(r.ref) == len(alt) == 1:
                kinds["snv"] += 1
            else:
                assert r.ref[0] == alt[0] and min(len(r.ref), len(alt)) == 1  # anchored
                kinds["indel"] += 1
    assert kinds["indel"] > 0.03 * len(records) and kinds["snv"] > 0.85 * len(records)


def test_sorted_unique_phased_with_consistent_info(
    records: list[pysam.VariantRecord], haplotypes: np.ndarray
) -> None:
    order = [(int(r.chrom.removeprefix("chr")), r.pos) for r in records]
    assert order == sorted(order) and len(set(order)) == len(order)
    assert all(s.phased for r in records[:200] for s in r.samples.values())
    assert [r.id for r in records] == variant_ids(len(records))
    ac = haplotypes.sum(axis=1)
    assert [r.info["AC"][0] for r in records] == ac.tolist()
    assert {r.info["AN"] for r in records} == {haplotypes.shape[1]}
    # REF spans never overlap: no variant starts inside the previous one's REF.
    ends = [(r.chrom, r.stop) for r in records]
    for (chrom, stop), nxt in zip(ends, records[1:], strict=False):
        if nxt.chrom == chrom:
            assert nxt.pos - 1 >= stop


def test_tabix_fetch(world: WorldManifest, records: list[pysam.VariantRecord]) -> None:
    expected = [r.id for r in records if r.chrom == "chr2" and 100_000 <= r.pos - 1 < 150_000]
    with pysam.VariantFile(str(world.path("vcf"))) as vcf:
        fetched = [r.id for r in vcf.fetch("chr2", 100_000, 150_000) if r.pos - 1 >= 100_000]
    assert fetched == expected and expected


def test_site_frequency_spectrum_has_many_rare_variants(haplotypes: np.ndarray) -> None:
    n = haplotypes.shape[1]
    mac = np.minimum(haplotypes.sum(axis=1), n - haplotypes.sum(axis=1))
    counts = np.bincount(mac, minlength=n // 2 + 1)
    assert counts[1] == counts[1:].max()  # singletons are the largest class
    assert counts[1] > counts[2] > counts[10:].mean()
    assert (mac < 0.05 * n).mean() > 0.3


def test_linkage_disequilibrium_decays(
    records: list[pysam.VariantRecord], haplotypes: np.ndarray
) -> None:
    freq = haplotypes.mean(axis=1)
    near, far = [], []
    for chrom in ("chr1", "chr2", "chr3", "chr4"):
        idx = [i for i, r in enumerate(records) if r.chrom == chrom and 0.1 <= freq[i] <= 0.9]
        pos = np.array([records[i].pos for i in idx])
        r2 = np.corrcoef(haplotypes[idx].astype(float)) ** 2
        distance = np.abs(pos[:, None] - pos[None, :])
        upper = np.triu(np.ones_like(r2, dtype=bool), 1)
        near += r2[upper & (distance < 2_000)].tolist()
        far += r2[upper & (distance > 150_000)].tolist()
    assert len(near) > 20 and len(far) > 100
    assert np.mean(near) > np.mean(far) + 0.15


def test_samples_table(world: WorldManifest) -> None:
    samples = pd.read_csv(world.path("samples"), sep="\t")
    assert list(samples.columns) == ["sample", "population", "super_pop", "sex", "split"]
    assert len(samples) == 40 and samples["sample"].is_unique
    supers = {p: s for p, s, _ in POPULATIONS}
    assert (samples["super_pop"] == samples["population"].map(supers)).all()
    assert set(samples["population"]) == set(supers)
    assert samples["split"].value_counts().to_dict() == {"train": 32, "test": 8}
    assert set(samples["sex"]) == {"male", "female"}


def test_out_of_africa_demography() -> None:
    demography = out_of_africa()
    names = [p.name for p in demography.populations]
    assert names == ["YRI", "CEU", "CHB", "OOA", "AMH", "ANC"]
    assert demography["YRI"].initial_size == 12300
    assert demography["CEU"].growth_rate == 0.004
    demography.validate()


def test_allele_codes() -> None:
    assert alt_code_for("A", "G") == 0 and alt_code_for("C", "T") == 0
    assert alt_code_for("A", "C") == 1 and alt_code_for("T", "G") == 2


def _haplotypes(chrom: list[int], pos: list[int], kind: list[int], size: list[int]) -> Haplotypes:
    n = len(pos)
    return Haplotypes(
        samples=pd.DataFrame({"sample": ["S1"]}),
        contigs={"chr1": 40, "chr2": 40},
        chrom=np.array(chrom, dtype=np.int16),
        pos=np.array(pos, dtype=np.int64),
        kind=np.array(kind, dtype=np.int8),
        size=np.array(size, dtype=np.int64),
        alt_code=np.zeros(n, dtype=np.int8),
        inserted=np.array(["GG" if k == INSERTION else "" for k in kind], dtype=object),
        genotypes=np.tile(np.array([[0, 1]], dtype=np.uint8), (n, 1)),
    )


def test_drop_collisions_known_answer() -> None:
    haps = _haplotypes(
        chrom=[0, 0, 0, 1, 0, 0],
        pos=[12, 10, 11, 5, 14, 20],
        kind=[SNV, DELETION, SNV, SNV, SNV, INSERTION],
        size=[0, 3, 0, 0, 0, 2],
    )
    kept = drop_collisions(haps)
    assert list(zip(kept.chrom.tolist(), kept.pos.tolist(), strict=True)) == [
        (0, 10),
        (0, 14),
        (0, 20),
        (1, 5),
    ]


def _tiny_fasta(tmp_path: Path, seq: str) -> Path:
    fasta = tmp_path / "ref.fa"
    fasta.write_text(f">chr1\n{seq}\n>chr2\n{seq}\n")
    pysam.faidx(str(fasta))
    return fasta


def test_write_vcf_known_records(tmp_path: Path) -> None:
    fasta = _tiny_fasta(tmp_path, "ACGTACGTACGTACGTACGTACGTACGTACGTACGTACGT")
    haps = _haplotypes([0, 0, 0], [2, 10, 20], [SNV, DELETION, INSERTION], [0, 2, 2])
    write_vcf(tmp_path / "v.vcf.gz", haps, fasta)
    with pysam.VariantFile(str(tmp_path / "v.vcf.gz")) as vcf:
        got = [(r.pos, r.ref, r.alts[0] if r.alts else "", r.samples["S1"]["GT"]) for r in vcf]
    assert got == [(3, "G", "A", (0, 1)), (11, "GTA", "G", (0, 1)), (21, "A", "AGG", (0, 1))]
    first = (tmp_path / "v.vcf.gz").read_bytes()
    write_vcf(tmp_path / "v.vcf.gz", haps, fasta)
    assert (tmp_path / "v.vcf.gz").read_bytes() == first


def test_write_vcf_refuses_bad_input(tmp_path: Path) -> None:
    fasta = _tiny_fasta(tmp_path, "ACGTNCGTACGTACGTACGTACGTACGTACGTACGTACGT")
    with pytest.raises(InputError, match=r"ref\.fa: position 5: reference base 'N'"):
        write_vcf(tmp_path / "v.vcf.gz", _haplotypes([0], [4], [SNV], [0]), fasta)
    unsorted = _haplotypes([0, 0], [9, 3], [SNV, SNV], [0, 0])
    with pytest.raises(ValueError, match="sorted and unique"):
        write_vcf(tmp_path / "v.vcf.gz", unsorted, fasta)
    assert not list(tmp_path.glob("*.vcf.gz*"))
