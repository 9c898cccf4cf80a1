from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.genome.fasta import Genome
from exprflow.genome.variant import Variant
from exprflow.genome.vcf import read_sites
from exprflow.models.expecto.effects import effect_shifts, effects_from_diffs
from exprflow.models.expecto.plugins import ExpectoPlugins, expecto_plugins
from exprflow.models.expecto.variant_diffs import VcfEffects, variant_windows, vcf_effects
from exprflow.scoring.dedup import encode_windows
from exprflow.simulate.world import load_manifest

SHIFTS = effect_shifts()


@pytest.fixture(scope="module")
def genome(tiny_world: Path) -> Iterator[Genome]:
    with Genome(load_manifest(tiny_world).path("fasta")) as handle:
        yield handle


@pytest.fixture(scope="module")
def genes(tiny_world: Path) -> pd.DataFrame:
    return read_genes(load_manifest(tiny_world).path("gene_list"))


@pytest.fixture(scope="module")
def plugins(tiny_expecto: Any) -> ExpectoPlugins:
    return expecto_plugins(tiny_expecto.checkpoint, tiny_expecto.modellist, device="cpu")


@pytest.fixture(scope="module")
def score(
    genome: Genome, genes: pd.DataFrame, plugins: ExpectoPlugins
) -> Callable[..., VcfEffects]:
    """``vcf_effects`` on the tiny world's genome, genes and model; keyword options pass on."""

    def run(variants: list[Variant], **options: Any) -> VcfEffects:
        models = plugins.heads.models
        return vcf_effects(
            variants, genome, plugins.chromatin, genes, models, progress=False, **options
        )

    return run


@pytest.fixture(scope="module")
def picked(tiny_world: Path, genes: pd.DataFrame) -> list[Variant]:
    """Three SNVs, an insertion and a deletion of the world's VCF within 3 kb of a TSS."""
    variants = read_sites(load_manifest(tiny_world).path("vcf"))
    tss = {chrom: group["tss"].to_numpy() for chrom, group in genes.groupby("chrom")}
    near = [v for v in variants if np.abs(tss[v.chrom.removeprefix("chr")] - v.pos0).min() < 3000]
    snvs = [v for v in near if len(v.ref) == len(v.alt) == 1][:3]
    insertion = next(v for v in near if len(v.alt) > len(v.ref) + 1)
    deletion = next(v for v in near if len(v.ref) > len(v.alt) + 1)
    return sorted([*snvs, insertion, deletion], key=lambda v: (v.chrom, v.pos0))


def _fetch_seqs(genome: Genome, v: Variant, allele: str, shift: int) -> str:
    """chromatin.py's fetchSeqs, literally (pyfasta is 1-based inclusive)."""
    pos = v.pos0 + 1
    seq = genome.fetch(v.chrom, pos + shift - 1049 - 1, pos + shift + 1050)
    mutpos = int(2100 / 2 - 1 - shift)
    return seq[:mutpos] + allele + seq[mutpos + len(v.ref) :]


def _chromatin_py(genome: Genome, v: Variant, allele: str, shift: int) -> str:
    """chromatin.py's window: fetchSeqs, then encodeSeqs' crop, literally."""
    line = _fetch_seqs(genome, v, allele, shift)
    return line[
        math.floor((len(line) - 2000) / 2.0) : math.floor(len(line) - (len(line) - 2000) / 2.0)
    ]


def test_snv_windows_by_hand(genome: Genome, picked: list[Variant]) -> None:
    v = next(v for v in picked if len(v.ref) == len(v.alt) == 1)
    windows = variant_windows(genome, v, SHIFTS)
    for shift, ref, alt in zip(SHIFTS, windows.ref, windows.alt, strict=True):
        expected = genome.fetch(v.chrom, v.pos0 + shift - 999, v.pos0 + shift + 1001)
        assert ref == expected and ref[999 - shift] == v.ref
        assert alt == expected[: 999 - shift] + v.alt + expected[1000 - shift :]


def _synthetic(genome: Genome, chrom: str, pos0: int, ref_len: int, alt: str) -> Variant:
    ref = genome.fetch(chrom, pos0, pos0 + ref_len)
    return Variant(chrom, pos0, ref, ref[0] + alt if alt else ref[0])


def test_indel_windows_follow_chromatin_py(genome: Genome, picked: list[Variant]) -> None:
    variants = [
        *picked,
        _synthetic(genome, "chr2", 50_000, 1, "ACGTACG"),  # k = +7 (odd)
        _synthetic(genome, "chr2", 50_000, 1, "TTTTTTTTTTTT"),  # k = +12
        _synthetic(genome, "chr2", 50_000, 4, ""),  # k = -3
        _synthetic(genome, "chr2", 50_000, 101, ""),  # k = -100, the longest chromatin.py handles
        _synthetic(genome, "chr2", 50_000, 300, "ACGT" * 50),  # REF past the fetch at -800
    ]
    for v in variants:
        windows = variant_windows(genome, v, SHIFTS)
        for i, shift in enumerate(SHIFTS):
            assert windows.ref[i] == _chromatin_py(genome, v, v.ref, shift), (v, shift)
            assert windows.alt[i] == _chromatin_py(genome, v, v.alt, shift), (v, shift)
    deletion = variants[-2]  # k = -100: the ALT window starts 50 bp upstream
    alt0 = variant_windows(genome, deletion, [0]).alt[0]
    assert alt0 == genome.fetch("chr2", 50_000 - 1049, 50_001) + genome.fetch(
        "chr2", 50_101, 50_101 + 950
    )


def test_long_deletion_windows_continue_into_the_genome(genome: Genome) -> None:
    v = _synthetic(genome, "chr2", 60_000, 401, "")  # k = -400: chromatin.py's slice wraps
    for shift, alt in zip(SHIFTS, variant_windows(genome, v, SHIFTS).alt, strict=True):
        length = len(_fetch_seqs(genome, v, v.alt, shift))  # < 2000
        start = v.pos0 + shift - 1049 + (length - 2000) // 2  # same centring, on the haplotype
        left = genome.fetch("chr2", start, v.pos0) + v.alt
        assert alt == left + genome.fetch("chr2", v.end0, v.end0 + 2000 - len(left)), shift


def _direct_effects(
    genome: Genome, v: Variant, gene: pd.Series, plugins: ExpectoPlugins
) -> dict[str, float]:
    """Windows by hand, the chromatin model, predict.py's weights, the tissue models."""
    sign = 1 if gene["strand"] == "+" else -1
    delta = np.zeros((10, plugins.heads.n_features // 10))
    for shift in SHIFTS:
        ref = genome.fetch(v.chrom, v.pos0 + shift - 999, v.pos0 + shift + 1001)
        alt = ref[: 999 - shift] + v.alt + ref[1000 - shift :]
        out = plugins.chromatin(encode_windows([ref, alt]))
        d = (v.pos0 - int(gene["tss"])) * sign + shift * sign
        k = math.floor(abs(d) / 200)
        for b, c in enumerate((0.01, 0.02, 0.05, 0.1, 0.2)):
            delta[b] += math.exp(-c * k) * (d <= 0) * (out[1] - out[0])
            delta[5 + b] += math.exp(-c * k) * (d >= 0) * (out[1] - out[0])
    return {m.tissue: float(delta.reshape(-1) @ m.weights) for m in plugins.heads.models}


def test_snv_effect_equals_a_direct_computation(
    genome: Genome,
    genes: pd.DataFrame,
    picked: list[Variant],
    plugins: ExpectoPlugins,
    score: Callable[..., VcfEffects],
) -> None:
    result = score(picked)
    table = result.effects
    ids = ["chrom", "position", "gene", "distance", "strand"]
    assert list(table.columns) == [*ids, *plugins.heads.tissues]
    i = next(i for i, v in enumerate(picked) if len(v.ref) == len(v.alt) == 1)
    v = picked[i]
    gene = genes.set_index("gene_id").loc[table["gene"][i]]
    assert table["position"][i] == v.pos0 + 1
    assert table["distance"][i] == v.pos0 - gene["tss"]
    direct = _direct_effects(genome, v, gene, plugins)
    for tissue, value in direct.items():
        assert table[tissue][i] == pytest.approx(value, rel=1e-5, abs=1e-12)
        assert abs(value) > 1e-9
    assert result.windows_requested == 2 * 9 * len(picked)


def test_round_trip_through_expecto_files(
    picked: list[Variant],
    plugins: ExpectoPlugins,
    score: Callable[..., VcfEffects],
    tmp_path: Path,
) -> None:
    prefix = tmp_path / "out" / "picked.vcf"
    result = score(picked, export=prefix, chunk_size=2)
    with h5py.File(f"{prefix}.shift_-800.diff.h5") as h5:
        pred = np.asarray(h5["pred"])
    assert pred.dtype == np.float32
    assert pred.shape == (2 * len(picked), plugins.heads.n_features // 10)
    np.testing.assert_array_equal(pred[: len(picked)], pred[len(picked) :])
    back = effects_from_diffs(
        f"{prefix}.shift_SHIFT.diff.h5", f"{prefix}.closestgene", plugins.heads.models
    )
    pd.testing.assert_frame_equal(back, result.effects, check_exact=False, rtol=1e-12)
    assert sorted(p.name for p in prefix.parent.iterdir()) == sorted(
        [f"picked.vcf.shift_{s}.diff.h5" for s in SHIFTS] + ["picked.vcf.closestgene"]
    )


def test_identical_windows_are_evaluated_once(
    genome: Genome, score: Callable[..., VcfEffects]
) -> None:
    def snv(pos0: int, n: int = 0) -> Variant:
        ref = genome.fetch("chr1", pos0, pos0 + 1)
        return Variant("chr1", pos0, ref, "ACGT".replace(ref, "")[n])

    # the same position twice (all REF windows shared), then 200 bp on (8 shared)
    variants = [snv(30_000), snv(30_000, 1), snv(30_200)]
    run = score(variants)
    assert run.windows_requested == 54
    assert run.windows_evaluated == 10 + 3 * 9  # REF centres 29,200 … 31,000; ALTs distinct
    in_pairs = score(variants, chunk_size=2)
    assert in_pairs.windows_evaluated == 9 + 18 + 18  # only the first chunk shares
    pd.testing.assert_frame_equal(in_pairs.effects, run.effects, check_exact=False, rtol=1e-5)


def test_ref_mismatch_names_the_variant(
    genome: Genome, score: Callable[..., VcfEffects], tmp_path: Path
) -> None:
    ref = genome.fetch("chr1", 20_000, 20_001)
    wrong = "ACGT".replace(ref, "")[0]
    vcf = tmp_path / "bad.vcf"
    vcf.write_text(f"#CHROM\tPOS\tID\tREF\tALT\nchr1\t20001\trsBad\t{wrong}\t{ref}\n")
    with pytest.raises(InputError, match=rf"bad\.vcf: chr1:20001 rsBad: REF {wrong} disagrees"):
        score(read_sites(vcf), export=tmp_path / "x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.vcf"]


def test_variants_near_a_contig_end(genome: Genome, score: Callable[..., VcfEffects]) -> None:
    end = genome.contigs["chr4"]
    ref = genome.fetch("chr4", end - 1500, end - 1499)
    near = Variant("chr4", end - 1500, ref, "ACGT".replace(ref, "")[0], source="v.vcf")
    with pytest.raises(InputError, match=r"v\.vcf: chr4:398501 \.: .*past an end of the 400,000"):
        score([near])
    assert score([near], allow_padding=True).padded_variants == 1
    windows = variant_windows(genome, near, SHIFTS)
    assert windows.ref[-1].endswith("N" * 301) and windows.ref[0].count("N") == 0
