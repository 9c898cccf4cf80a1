from __future__ import annotations

import gzip
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from exprflow.data import mlm_dataset
from exprflow.data._mlm_sites import crop_bounds
from exprflow.data.geuvadis import EQTL_COLUMNS
from exprflow.data.mlm_dataset import (
    META_COLUMNS,
    MlmDatasetSummary,
    build_mlm_dataset,
    gene_maf,
    read_meta,
    read_mlm_dataset,
    select_mlm_genes,
)
from exprflow.errors import InputError
from exprflow.genome.vcf import bgzip_index

SAMPLES = ["S1", "S2", "S3", "S4", "S5"]
HEADER = """##fileformat=VCFv4.2
##contig=<ID=chr1,length=100000>
##contig=<ID=chr2,length=100000>
##contig=<ID=chr3,length=100000>
##FILTER=<ID=q10,Description="low quality">
##INFO=<ID=AF,Number=A,Type=Float,Description="ALT frequency">
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1\tS2\tS3\tS4\tS5
"""
# chr1: gene G1 at TSS 1000 (0-based), window 500 keeps POS 600, 1000, 1001, 1200.
CHR1 = [
    ("400", "rs1", "C", "T", "PASS", ".", "0|1 0|1 0|1 0|1 0|1"),  # outside the window
    ("600", "rs2", "A", "G", "PASS", ".", "0|1 1|0 1|1 0|0 0|0"),  # F M B R R, AF 0.4
    ("700", "rs3", "A", "G,T", "PASS", ".", "0|1 0|2 1|1 0|0 0|0"),  # multi-allelic
    ("800", "rs4", "A", "AT", "PASS", ".", "0|1 0|1 0|1 0|1 0|1"),  # indel
    ("900", "rs5", "C", "G", "PASS", "AF=0.5", "0|1 0|0 0|0 0|0 0|0"),  # AF 0.1 (INFO lies)
    ("950", "rs6", "G", "A", "q10", ".", "0|1 0|1 0|1 0|1 0|1"),  # not PASS
    ("1000", "rs7", "T", "C", "PASS", ".", "./. 0/1 1|1 0|0 .|1"),  # N N B R N, AF 4/7
    ("1001", "rs8", "G", "A", "PASS", ".", "1|1 1|0 0|1 0|0 0|0"),  # B M F R R, AF 0.4
    ("1100", "rs9", "A", "C", "PASS", ".", "1|1 1|1 1|1 1|1 1|0"),  # AF 0.9
    ("1200", ".", "G", "T", ".", ".", "0|0 0|1 1|0 1|1 0|0"),  # R F M B R, AF 0.4
    ("1600", "rs11", "C", "A", "PASS", ".", "0|1 0|1 0|1 0|1 0|1"),  # outside the window
]
G1_SEQS = {"S1": "FNBR", "S2": "MNMF", "S3": "BBFM", "S4": "RRRB", "S5": "RNRR"}
# chr3: ten SNPs at POS 100…1000; sample j carries PATTERN[(j + k) % 5] at SNP k.
PATTERN = ["0|1", "1|0", "1|1", "0|0", "0|0"]
CODE = {"0|1": "F", "1|0": "M", "1|1": "B", "0|0": "R"}
GENES = pd.DataFrame(
    {
        "gene_id": ["G1", "G2", "CENTRE", "LEFT", "RIGHT"],
        "chrom": ["chr1", "chr2", "chr3", "chr3", "chr3"],
        "tss": [1000, 5000, 450, 50, 2000],
        "strand": ["+", "-", "+", "+", "-"],
    }
)


def _chr3_line(k: int) -> str:
    gts = "\t".join(PATTERN[(j + k) % 5] for j in range(5))
    return f"chr3\t{100 * (k + 1)}\trs3{k}\tA\tC\t.\tPASS\t.\tGT\t{gts}\n"


def _chr3_seq(sample: str, snps: range) -> str:
    j = SAMPLES.index(sample)
    return "".join(CODE[PATTERN[(j + k) % 5]] for k in snps)


@pytest.fixture(scope="module")
def vcf(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("mlm_vcf")
    lines = [HEADER]
    for pos, vid, ref, alt, filt, info, gts in CHR1:
        lines.append("\t".join(["chr1", pos, vid, ref, alt, ".", filt, info, "GT", *gts.split()]))
        lines.append("\n")
    lines += [_chr3_line(k) for k in range(10)]
    (folder / "mini.vcf").write_text("".join(lines))
    return bgzip_index(folder / "mini.vcf")


def _build(vcf: Path, out: Path, genes: list[str], **kwargs: object) -> MlmDatasetSummary:
    options: dict[str, object] = {"n_genes": 10, "max_snps": 4, "min_maf": 0.15, "window": 500}
    options.update(kwargs)
    table = GENES.loc[GENES["gene_id"].isin(genes)]
    return build_mlm_dataset(vcf, table, None, ["S2", "S4"], out, **options)


def test_g1_strings_and_meta_are_exact(vcf: Path, tmp_path: Path) -> None:
    summary = _build(vcf, tmp_path, ["G1"])
    table = read_mlm_dataset(tmp_path / "dataset.parquet", tmp_path / "meta.csv.gz")
    assert table.columns.tolist() == ["split", "sample", "gene_id", "seq"]
    assert table["split"].tolist() == ["train", "test", "train", "test", "train"]
    assert dict(zip(table["sample"], table["seq"], strict=True)) == G1_SEQS
    meta = read_meta(tmp_path / "meta.csv.gz")
    assert meta.columns.tolist() == list(META_COLUMNS)
    assert meta["chrom"].tolist() == ["1"] * 4
    assert meta["pos"].tolist() == [600, 1000, 1001, 1200]
    assert meta["id"].tolist() == ["rs2", "rs7", "rs8", "."]
    assert meta["ref"].tolist() == ["A", "T", "G", "G"]
    assert meta["alt"].tolist() == ["G", "C", "A", "T"]
    assert meta["AF"].tolist() == pytest.approx([0.4, 4 / 7, 0.4, 0.4])
    assert meta["initial_counts"].tolist() == [4] * 4
    assert meta["seq_idx"].tolist() == [0, 1, 2, 3]
    assert gene_maf(meta)["G1"] == pytest.approx([0.4, 3 / 7, 0.4, 0.4])
    assert (summary.genes, summary.snps, summary.span_bp) == (("G1",), {"G1": 4}, {"G1": 600})
    assert (summary.n_train, summary.n_test) == (3, 2)


def test_parquet_layout_is_the_published_one(vcf: Path, tmp_path: Path) -> None:
    _build(vcf, tmp_path, ["G1"])
    arrow = pq.read_table(tmp_path / "dataset.parquet")
    assert [str(t) for t in arrow.schema.types] == ["string", "string"]
    frame = arrow.to_pandas()
    assert frame.columns.tolist() == ["seq"]
    assert frame.index.tolist() == [
        "train:S1:G1",
        "test:S2:G1",
        "train:S3:G1",
        "test:S4:G1",
        "train:S5:G1",
    ]
    assert frame["seq"].tolist() == list(G1_SEQS.values())


@pytest.mark.parametrize(
    ("gene", "snps"), [("CENTRE", range(2, 6)), ("LEFT", range(0, 4)), ("RIGHT", range(6, 10))]
)
def test_cropping_centres_on_the_tss_and_stops_at_the_edges(
    vcf: Path, tmp_path: Path, gene: str, snps: range
) -> None:
    _build(vcf, tmp_path, ["CENTRE", "LEFT", "RIGHT"], window=10_000)
    meta = read_meta(tmp_path / "meta.csv.gz")
    rows = meta.loc[meta["GENE_ID"] == gene]
    assert rows["pos"].tolist() == [100 * (k + 1) for k in snps]
    assert rows["initial_counts"].tolist() == [10] * 4
    table = read_mlm_dataset(tmp_path / "dataset.parquet", meta)
    got = table.loc[table["gene_id"] == gene].set_index("sample")["seq"].to_dict()
    assert got == {s: _chr3_seq(s, snps) for s in SAMPLES}


def test_genes_read_together_equal_genes_read_alone(
    vcf: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    clusters = mlm_dataset._clusters
    sizes: list[list[int]] = []

    def spy(table: pd.DataFrame, window: int) -> list[tuple[str, int, int, list[int]]]:
        found = clusters(table, window)
        sizes.append([len(rows) for *_, rows in found])
        return found

    monkeypatch.setattr(mlm_dataset, "_clusters", spy)
    genes = ["G1", "CENTRE", "LEFT", "RIGHT"]
    _build(vcf, tmp_path / "together", genes, window=10_000)
    monkeypatch.setattr(mlm_dataset, "_MAX_SPAN", 0)
    _build(vcf, tmp_path / "alone", genes, window=10_000)
    assert sizes == [[1, 3], [1, 1, 1, 1]]
    for read in (read_mlm_dataset, read_meta):
        name = "dataset.parquet" if read is read_mlm_dataset else "meta.csv.gz"
        pd.testing.assert_frame_equal(
            read(tmp_path / "together" / name), read(tmp_path / "alone" / name)
        )


def test_crop_bounds() -> None:
    assert crop_bounds(3, 1, 5) == (0, 3)
    assert crop_bounds(100, 50, 10) == (45, 55)
    assert crop_bounds(100, 2, 10) == (0, 10)
    assert crop_bounds(100, 99, 10) == (90, 100)


def test_train_samples_restrict_the_rows(vcf: Path, tmp_path: Path) -> None:
    summary = _build(vcf, tmp_path, ["G1"], train_samples=["S1", "S2"])
    table = read_mlm_dataset(tmp_path / "dataset.parquet")
    assert list(zip(table["split"], table["sample"], strict=True)) == [
        ("train", "S1"),
        ("test", "S2"),
        ("test", "S4"),
    ]
    assert (summary.n_train, summary.n_test) == (1, 2)


def test_gene_without_common_snps_is_refused_or_skipped(vcf: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"mini\.vcf\.gz: G2: no biallelic PASS SNP .* G2"):
        _build(vcf, tmp_path, ["G1", "G2"])
    summary = _build(vcf, tmp_path, ["G1", "G2"], skip_empty=True)
    assert summary.genes == ("G1",)
    with pytest.raises(InputError, match="no gene has a common SNP"):
        _build(vcf, tmp_path, ["G2"], skip_empty=True)


def test_test_sample_missing_from_the_vcf(vcf: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match=r"NA999: test sample 'NA999' is not in the VCF"):
        build_mlm_dataset(vcf, GENES, None, ["S1", "NA999"], tmp_path, n_genes=1)
    assert not (tmp_path / "dataset.parquet").exists()


def _eqtls(path: Path, rows: list[tuple[str, int, int, float]]) -> Path:
    table = pd.DataFrame(
        [
            (f"rs{i}", "-", gene, gene, chr_snp, chr_gene, 1, 1, 0, 0.5, p, 1.0)
            for i, (gene, chr_snp, chr_gene, p) in enumerate(rows)
        ],
        columns=list(EQTL_COLUMNS),
    )
    table.to_csv(path, sep="\t", index=False)
    return path


def test_genes_are_ranked_by_eqtl_count(tmp_path: Path) -> None:
    eqtls = _eqtls(
        tmp_path / "eqtls.txt",
        [("LEFT", 3, 3, 1e-13)] * 2
        + [("G1", 1, 1, 1e-13)] * 2
        + [("RIGHT", 3, 3, 1e-13)] * 3
        + [("CENTRE", 3, 2, 1e-13)] * 5  # trans: not counted
        + [("G2", 2, 2, 1e-5)] * 5  # above the threshold
        + [("OTHER", 1, 1, 1e-20)] * 9,  # not in the gene table
    )
    # Genes with eQTLs below the threshold first; then those with eQTLs above it fill in.
    assert select_mlm_genes(GENES, eqtls, 10) == ["RIGHT", "G1", "LEFT", "G2"]
    assert select_mlm_genes(GENES, eqtls, 2) == ["RIGHT", "G1"]
    assert select_mlm_genes(GENES, eqtls, 10, eqtl_pvalue=1e-4)[0] == "G2"
    assert select_mlm_genes(GENES, eqtls, 2, eqtl_pvalue=1e-30) == ["G2", "RIGHT"]
    assert select_mlm_genes(GENES, None, 2) == ["G1", "G2"]
    trans_only = _eqtls(tmp_path / "trans.txt", [("CENTRE", 3, 2, 1e-13)])
    with pytest.raises(InputError, match=r"trans\.txt: no gene of the gene table has a cis-eQTL"):
        select_mlm_genes(GENES, trans_only, 10)


def test_the_real_meta_reads(real_dir: Path) -> None:
    meta = read_meta(real_dir / "mlm" / "meta.csv.gz")
    assert meta.shape == (50_000, 9)
    assert meta["GENE_ID"].nunique() == 10
    assert (
        meta.groupby("GENE_ID")["seq_idx"]
        .agg(["min", "max", "size"])
        .eq([0, 4999, 5000])
        .all(axis=None)
    )
    assert meta["chrom"].iloc[0] == "17" and meta["id"].iloc[0] == "rs62056930"
    assert meta.groupby("GENE_ID")["initial_counts"].nunique().eq(1).all()


def _dataset(path: Path, index: list[str], seqs: list[object]) -> Path:
    pd.DataFrame({"seq": pd.Series(seqs, dtype=object, index=index)}).to_parquet(path)
    return path


@pytest.mark.parametrize(
    ("index", "seqs", "message"),
    [
        (["train:S1"], ["RF"], r"train:S1: index entry is not 'split:sample_id:GENE_ID'"),
        (["valid:S1:G1"], ["RF"], r"valid:S1:G1: index entry is not"),
        (["train:S1:G1", "test:S2:G1"], ["RF", "RXN"], r"test:S2:G1: .* 'X' at position 1"),
        (["train:S1:G1"], ["rf"], r"train:S1:G1: .* 'r' at position 0"),
        (["train:S1:G1"], [None], r"train:S1:G1: seq is NoneType"),
        (["train:S1:G1", "test:S2:G1"], ["RF", "RFM"], r"test:S2:G1: .* has 3 SNPs, .* 2"),
    ],
)
def test_malformed_datasets_are_refused(
    tmp_path: Path, index: list[str], seqs: list[object], message: str
) -> None:
    path = _dataset(tmp_path / "bad.parquet", index, seqs)
    with pytest.raises(InputError, match=rf"bad\.parquet: {message}"):
        read_mlm_dataset(path)


def test_dataset_must_agree_with_its_meta(vcf: Path, tmp_path: Path) -> None:
    _build(vcf, tmp_path, ["G1"])
    meta = read_meta(tmp_path / "meta.csv.gz")
    short = _dataset(tmp_path / "short.parquet", ["train:S1:G1"], ["RRR"])
    with pytest.raises(InputError, match=r"train:S1:G1: genotype string has 3 SNPs, .* 4"):
        read_mlm_dataset(short, meta)
    other = _dataset(tmp_path / "other.parquet", ["train:S1:G9"], ["RRRR"])
    with pytest.raises(InputError, match=r"train:S1:G9: gene G9 has no rows in the meta"):
        read_mlm_dataset(other, meta)
    frame = pd.DataFrame({"genotype": ["R"]}, index=["train:S1:G1"])
    frame.to_parquet(tmp_path / "nocol.parquet")
    with pytest.raises(InputError, match="has no 'seq' column"):
        read_mlm_dataset(tmp_path / "nocol.parquet")


def test_malformed_meta_is_refused(tmp_path: Path) -> None:
    header = ",".join(META_COLUMNS)
    rows = ["1,10,rs1,A,C,0.5,2,G1,0", "1,20,rs2,A,C,0.5,2,G1,2"]
    bad_idx = tmp_path / "idx.csv.gz"
    with gzip.open(bad_idx, "wt") as handle:
        handle.write("\n".join([header, *rows]) + "\n")
    with pytest.raises(InputError, match=r"line 3, gene G1: seq_idx 2 where 1 was expected"):
        read_meta(bad_idx)
    no_af = tmp_path / "noaf.csv"
    no_af.write_text(header.replace(",AF", "") + "\n")
    with pytest.raises(InputError, match=r"header: missing column\(s\) \['AF'\]"):
        read_meta(no_af)
