from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest
from scipy import stats

from exprflow.data.geuvadis import EQTL_COLUMNS
from exprflow.errors import InputError
from exprflow.simulate.eqtl import (
    benjamini_hochberg,
    read_dosages,
    read_expression,
    scan_cis_eqtls,
)
from exprflow.simulate.world import WorldManifest

SAMPLES = [f"S{i}" for i in range(1, 9)]


@pytest.fixture(scope="module")
def eqtls(world: WorldManifest) -> pd.DataFrame:
    return pd.read_csv(world.path("eqtls"), sep="\t")


def _write_vcf(path: Path, rows: list[tuple[str, int, str, list[str]]], fmt: str = "GT") -> Path:
    header = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=chr1,length=10000>",
        "##contig=<ID=chr2,length=10000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(SAMPLES),
    ]
    body = [f"{c}\t{p}\t{i}\tA\tG\t.\tPASS\t.\t{fmt}\t" + "\t".join(gts) for c, p, i, gts in rows]
    plain = path.with_suffix("")
    plain.write_text("\n".join(header + body) + "\n")
    pysam.tabix_index(str(plain), preset="vcf", force=True)
    return path


def _write_expression(path: Path, values: dict[str, list[float]]) -> Path:
    table = pd.DataFrame(
        {
            "TargetID": ["G1.1", "G2.1"],
            "Gene_Symbol": ["G1.1", "G2.1"],
            "Chr": ["1", "2"],
            "Coord": [1000, 5000],
        }
    )
    for library, column in values.items():
        table[library] = column
    table.to_csv(path, sep="\t", index=False)
    return path


def test_benjamini_hochberg_known_answer() -> None:
    q = benjamini_hochberg(np.array([0.01, 0.04, 0.03, 0.2]))
    np.testing.assert_allclose(q, [0.04, 0.04 * 4 / 3, 0.04 * 4 / 3, 0.2])
    assert benjamini_hochberg(np.array([])).size == 0


def test_read_expression_averages_replicates(tmp_path: Path) -> None:
    values = {f"{s}.1.M_111124_1": [1.0, 2.0] for s in SAMPLES}
    values["S1.2.M_120208_3"] = [3.0, 8.0]
    genes, logged = read_expression(_write_expression(tmp_path / "e.txt.gz", values))
    assert genes["Chr"].tolist() == ["1", "2"] and genes["Coord"].tolist() == [1000, 5000]
    assert list(logged.columns) == SAMPLES
    expected = (np.log2(1.01) + np.log2(3.01)) / 2
    assert logged.loc["G1.1", "S1"] == pytest.approx(expected)
    assert logged.loc["G2.1", "S2"] == pytest.approx(np.log2(2.01))


def test_read_dosages_known_answer(tmp_path: Path) -> None:
    gts = ["0|0", "0|1", "1|0", "1|1", "0|0", "0|1", "1|1", "0|0"]
    vcf = _write_vcf(
        tmp_path / "v.vcf.gz", [("chr1", 1500, "rs1", gts), ("chr2", 10, "rs2", gts[::-1])]
    )
    ids, pos, dosage = read_dosages(vcf, "chr1", ["S4", "S2", "S1"])
    assert ids == ["rs1"] and pos.tolist() == [1500] and dosage.tolist() == [[2, 1, 0]]


def test_scan_finds_a_perfect_eqtl(tmp_path: Path) -> None:
    dosage = [0, 1, 1, 2, 0, 1, 2, 0]
    gts = [{0: "0|0", 1: "0|1", 2: "1|1"}[d] for d in dosage]
    noise = [0, 1, 0, 1, 1, 0, 1, 0]
    vcf = _write_vcf(
        tmp_path / "v.vcf.gz", [("chr1", 1200, "rs1", gts), ("chr1", 9000, "rs2", gts[::-1])]
    )
    values = {
        f"{s}.1.M_111124_1": [2.0 ** (3 * d + 0.1 * e), 1.0 + i]
        for i, (s, d, e) in enumerate(zip(SAMPLES, dosage, noise, strict=True))
    }
    table = scan_cis_eqtls(vcf, _write_expression(tmp_path / "e.txt.gz", values), window=1000)
    assert list(table.columns) == list(EQTL_COLUMNS)
    assert table[["SNP_ID", "GENE_ID", "SNPpos", "TSSpos", "distance"]].values.tolist() == [
        ["rs1", "G1.1", 1200, 1000, 200]
    ]
    ranks = stats.rankdata([3 * d + 0.1 * e for d, e in zip(dosage, noise, strict=True)])
    expected = stats.pearsonr(dosage, stats.norm.ppf((ranks - 0.5) / 8))
    assert table["rvalue"].iloc[0] == pytest.approx(expected.statistic)
    assert table["pvalue"].iloc[0] == pytest.approx(expected.pvalue)
    assert table["log10pvalue"].iloc[0] == pytest.approx(-np.log10(expected.pvalue))


def test_bad_inputs_get_clear_errors(tmp_path: Path) -> None:
    gts = ["0|1"] * 8
    bad_format = _write_vcf(
        tmp_path / "f.vcf.gz", [("chr1", 5, "rs1", [g + ":9" for g in gts])], "GT:DP"
    )
    with pytest.raises(InputError, match=r"f\.vcf\.gz: chr1:5 rs1: expected FORMAT GT"):
        read_dosages(bad_format, "chr1", SAMPLES)
    missing = tmp_path / "m.txt"
    pd.DataFrame({"TargetID": ["G1"], "S1.1.M_1_1": [1.0]}).to_csv(missing, sep="\t", index=False)
    with pytest.raises(InputError, match=r"missing columns \['Gene_Symbol', 'Chr', 'Coord'\]"):
        read_expression(missing)
    vcf = _write_vcf(tmp_path / "v.vcf.gz", [("chr1", 5, "rs1", gts)])
    strangers = _write_expression(tmp_path / "e.txt", {"X1.1.M_1_1": [1.0, 2.0]})
    with pytest.raises(InputError, match="only 0 of its samples"):
        scan_cis_eqtls(vcf, strangers)


def test_world_table_layout(world: WorldManifest, eqtls: pd.DataFrame) -> None:
    assert list(eqtls.columns) == list(EQTL_COLUMNS)
    assert (eqtls["ID"] == "-").all() and (eqtls["GENE_ID"] == eqtls["PROBE_ID"]).all()
    assert (eqtls["CHR_SNP"] == eqtls["CHR_GENE"]).all()
    assert set(eqtls["CHR_SNP"].astype(str)) <= {"1", "2", "3", "4"}
    assert (eqtls["distance"] == (eqtls["SNPpos"] - eqtls["TSSpos"]).abs()).all()
    assert eqtls["pvalue"].max() < 0.05 and eqtls["rvalue"].abs().min() > 0.4
    np.testing.assert_allclose(eqtls["log10pvalue"], -np.log10(eqtls["pvalue"]))
    genes = pd.read_csv(world.path("gene_list"), header=None)
    tss = dict(zip(genes[0], genes[2], strict=True))
    assert (eqtls["TSSpos"] == eqtls["GENE_ID"].str.split(".").str[0].map(tss)).all()


def test_scan_recovers_planted_causal_variants(world: WorldManifest, eqtls: pd.DataFrame) -> None:
    truth = json.loads(world.path("truth").read_text())
    causal = truth["causal_variants"]
    with pysam.VariantFile(str(world.path("vcf"))) as vcf:
        alleles = {r.id: np.array([a for s in r.samples.values() for a in s["GT"]]) for r in vcf}
    found = 0
    for v in causal:
        hits = eqtls[eqtls["GENE_ID"] == v["gene_id"]]
        for snp, r in zip(hits["SNP_ID"], hits["rvalue"], strict=True):
            ld = np.corrcoef(alleles[snp], alleles[v["id"]])[0, 1]
            if ld**2 >= 0.8 and np.sign(r * ld) == np.sign(v["effect"]):
                found += 1
                break
    assert found >= 0.8 * len(causal)
    exact = eqtls.merge(
        pd.DataFrame(causal), left_on=["SNP_ID", "GENE_ID"], right_on=["id", "gene_id"]
    )
    assert len(exact) >= 0.8 * len(causal)
    assert (np.sign(exact["rvalue"]) == np.sign(exact["effect"])).all()
