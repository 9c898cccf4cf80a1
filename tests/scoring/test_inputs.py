"""Indels through the whole engine, and every bad input as a clear error (hand-made genome)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from tests.scoring._standin import StandIn
from tests.scoring.conftest import Hand

from exprflow.errors import ExprflowError, InputError
from exprflow.genome.vcf import PhasedVCF
from exprflow.scoring.engine import score_genes
from exprflow.scoring.merge import merge_shards, predictions_table
from exprflow.scoring.naive import score_genes_naive
from exprflow.scoring.store import read_gene


def _score(hand: Hand, vcf: PhasedVCF | None, samples: list[str], out: Path, **kwargs: object):
    model = StandIn()
    return score_genes(
        kwargs.pop("genes", hand.genes), hand.genome, vcf, samples, model.chromatin,
        model.reduce, model.heads, out, progress=False, **kwargs,
    )  # fmt: skip


def test_indels_through_the_engine(hand: Hand, indel_vcf: PhasedVCF, tmp_path: Path) -> None:
    result = _score(hand, indel_vcf, ["s1", "s2"], tmp_path / "fast")
    model = StandIn()
    score_genes_naive(
        hand.genes, hand.genome, indel_vcf, ["s1", "s2"], model.chromatin, model.reduce,
        model.heads, tmp_path / "slow", progress=False,
    )  # fmt: skip
    fast = predictions_table(tmp_path / "fast")
    pd.testing.assert_frame_equal(fast, predictions_table(tmp_path / "slow"))
    # s1|1 (insertion) and s1|2 (deletion) add windows; s2 is the reference throughout.
    assert result.requested == 3 * 5 * 200 and result.evaluations < 3 * 3 * 200
    for gene_id in ("G1", "G2", "G3"):
        gene = read_gene(tmp_path / "fast" / "genes" / f"{gene_id}.npz")
        ref, s1_1, s1_2, s2_1, s2_2 = gene.predictions
        np.testing.assert_array_equal(s2_1, ref)
        np.testing.assert_array_equal(s2_2, ref)
        changed = gene_id != "G3"  # G3 lies on chr2, away from both indels
        assert (not np.array_equal(s1_1, ref)) == changed
        assert (not np.array_equal(s1_2, ref)) == changed


def test_unknown_gene_id(hand: Hand, tmp_path: Path) -> None:
    with pytest.raises(
        InputError, match=r"2 requested gene id\(s\) are not in the gene table: GX, G9"
    ):
        _score(hand, None, [], tmp_path, gene_ids=["G1", "GX", "G9"])
    assert not (tmp_path / "genes").exists()


@pytest.mark.parametrize(
    ("column", "value", "message"),
    [
        ("strand", ".", "G2: strand '.' is not"),
        ("tss", -5, "G2: tss -5 is not a 0-based position"),
        ("tss", "12a", "G2: tss '12a' is not a 0-based position"),
        ("tss", 1.5, "G2: tss 1.5 is not a 0-based position"),
        ("chrom", "chr7", "gene G2 lies on contig 'chr7', which the FASTA does not hold"),
        ("tss", 200, r"TSS of gene G2 \(chr1:201, 1-based, strand -\) is too close to an end"),
        ("gene_id", "G1", "G1: gene id appears twice"),
        ("gene_id", "a/b", "gene id 'a/b' cannot name a file"),
    ],
)
def test_bad_gene_table_rows(
    hand: Hand, tmp_path: Path, column: str, value: object, message: str
) -> None:
    genes = hand.genes.copy()
    genes[column] = genes[column].astype(object)
    genes.loc[1, column] = value
    genes.attrs["path"] = "genes.csv"
    with pytest.raises(InputError, match=message):
        _score(hand, None, [], tmp_path, genes=genes)
    assert not (tmp_path / "genes").exists()


def test_missing_column(hand: Hand, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"lacks column\(s\) strand"):
        _score(hand, None, [], tmp_path, genes=hand.genes.drop(columns="strand"))


def test_padding_is_allowed_on_request(hand: Hand, tmp_path: Path) -> None:
    genes = pd.DataFrame({"gene_id": ["GX"], "chrom": ["chr2"], "tss": [44_000], "strand": ["+"]})
    with pytest.raises(InputError, match="allow_padding=True"):
        _score(hand, None, [], tmp_path, genes=genes)
    result = _score(hand, None, [], tmp_path, genes=genes, allow_padding=True)
    assert result.padded == ["GX"] and read_gene(tmp_path / "genes" / "GX.npz").padded


def test_bad_samples(hand: Hand, indel_vcf: PhasedVCF, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"sample 'HG1' is not in the VCF .*e\.g\. s1, s2"):
        _score(hand, indel_vcf, ["s1", "HG1"], tmp_path)
    with pytest.raises(InputError, match="requested twice"):
        _score(hand, indel_vcf, ["s1", "s1"], tmp_path)
    with pytest.raises(InputError, match=r"1 sample\(s\) requested but no VCF given"):
        _score(hand, None, ["s1"], tmp_path)
    assert not (tmp_path / "genes").exists()


def test_unphased_sample_leaves_nothing_partial(hand: Hand, tmp_path: Path) -> None:
    base = hand.seqs["chr2"][22_100]
    alt = "A" if base != "A" else "C"
    vcf = hand.write_vcf([f"chr2 22101 snv {base} {alt} 0/1 0|0"], ["s1", "s2"], "unphased.vcf")
    with pytest.raises(InputError, match="s1 has an unphased heterozygous genotype"):
        _score(hand, vcf, ["s1", "s2"], tmp_path, genes_per_batch=1)
    assert sorted(p.name for p in (tmp_path / "genes").iterdir()) == ["G1.npz", "G2.npz"]
    assert not list(tmp_path.rglob("*partial*"))
    with pytest.raises(InputError, match=r"unfinished: 1 gene\(s\) .* e\.g\. G3"):
        merge_shards(tmp_path, tmp_path / "merged.tsv")
    vcf.close()


def test_out_dir_of_other_samples_is_refused(
    hand: Hand, indel_vcf: PhasedVCF, tmp_path: Path
) -> None:
    _score(hand, indel_vcf, ["s1"], tmp_path, gene_ids=["G3"])
    with pytest.raises(InputError, match=r"G3\.npz: G3: was scored for other samples"):
        _score(hand, indel_vcf, ["s1", "s2"], tmp_path)


def test_bad_merges(hand: Hand, tmp_path: Path) -> None:
    _score(hand, None, [], tmp_path / "a", gene_ids=["G1"])
    _score(hand, None, [], tmp_path / "b", gene_ids=["G1", "G2"])
    with pytest.raises(InputError, match="gene G1 is also in"):
        merge_shards([tmp_path / "a", tmp_path / "b"], tmp_path / "m.tsv")
    with pytest.raises(InputError, match=r"1 of 2 expected gene\(s\) have no output .* e\.g\. G3"):
        merge_shards(tmp_path / "b", tmp_path / "m.tsv", expected=["G1", "G3"])
    with pytest.raises(InputError, match="unknown output format"):
        merge_shards(tmp_path / "a", tmp_path / "m.csv")
    with pytest.raises(InputError, match="scoring output folder not found"):
        merge_shards(tmp_path / "nowhere", tmp_path / "m.tsv")
    assert not list(tmp_path.glob("m.*"))


def test_plugins_breaking_their_contract(hand: Hand, tmp_path: Path) -> None:
    model = StandIn()
    args = (hand.genes, hand.genome, None, [], model.chromatin, model.reduce)
    with pytest.raises(ExprflowError, match=r"heads returned shape \(2,\) for 1 rows"):
        score_genes(*args, lambda x: np.zeros(2), tmp_path, progress=False)
    with pytest.raises(ExprflowError, match=r"2 tissue names .* for 3 prediction columns"):
        score_genes(*args, model.heads, tmp_path, tissues=["a", "b"], progress=False)
    assert not (tmp_path / "genes").exists()


def test_corrupt_gene_file_is_named(hand: Hand, tmp_path: Path) -> None:
    (tmp_path / "genes").mkdir()
    (tmp_path / "genes" / "G1.npz").write_bytes(b"not a zip")
    with pytest.raises(InputError, match=r"G1\.npz: is not a scoring gene file"):
        _score(hand, None, [], tmp_path)
