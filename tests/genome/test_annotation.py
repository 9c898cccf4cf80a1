from __future__ import annotations

import gzip
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.genome.annotation import (
    GENE_COLUMNS,
    read_gene_list,
    read_geneanno,
    read_genes,
    read_gtf,
    write_gene_list,
)

WriteText = Callable[[str, str], Path]


def _row(genes: pd.DataFrame, gene_id: str) -> dict:
    return genes.set_index("gene_id").loc[gene_id].to_dict()


def test_gtf_gene_records_win(gtf_path: Path) -> None:
    genes = read_gtf(gtf_path)
    assert list(genes.columns) == GENE_COLUMNS
    assert genes["gene_id"].tolist() == ["G1", "G2"]
    assert _row(genes, "G1") == {
        "symbol": "ONE",
        "chrom": "chr1",
        "tss": 10,
        "strand": "+",
        "start": 10,
        "end": 60,
        "biotype": "lncRNA",
    }
    assert _row(genes, "G2") == {
        "symbol": "TWO",
        "chrom": "chr2",
        "tss": 29,
        "strand": "-",
        "start": 4,
        "end": 30,
        "biotype": "protein_coding",
    }
    assert str(genes["tss"].dtype) == "int64" and str(genes["start"].dtype) == "Int64"


def test_gtf_without_gene_records_uses_exon_spans(write_text: WriteText, tmp_path: Path) -> None:
    exons = (
        'chrX\tt\texon\t101\t150\t.\t-\t.\tgene_id "G3"; transcript_id "a";\n'
        'chrX\tt\texon\t301\t320\t.\t-\t.\tgene_id "G3"; transcript_id "a";\n'
        'chrX\tt\tCDS\t1\t1000\t.\t+\t.\tgene_id "G3";\n'
        'chrX\tt\texon\t201\t250\t.\t-\t.\tgene_id "G3"; transcript_id "b";\n'
    )
    genes = read_gtf(write_text("exons.gtf", exons))
    assert _row(genes, "G3")["tss"] == 319
    assert (_row(genes, "G3")["start"], _row(genes, "G3")["end"]) == (100, 320)
    assert pd.isna(_row(genes, "G3")["symbol"]) and pd.isna(_row(genes, "G3")["biotype"])
    packed = tmp_path / "exons.gtf.gz"
    packed.write_bytes(gzip.compress(exons.encode()))
    pd.testing.assert_frame_equal(read_gtf(packed), genes)


def test_empty_gtf(write_text: WriteText) -> None:
    genes = read_gtf(write_text("empty.gtf", "#nothing\n"))
    assert genes.empty and list(genes.columns) == GENE_COLUMNS


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('chr1\tt\tgene\t1\t5\t.\t+\t.\tgene_id "A";\n' * 2, r"line 2: gene A has a second gene"),
        ("chr1\tt\tgene\t1\t5\n", r"line 1: has 5 tab-separated columns, GTF needs 9"),
        ('chr1\tt\tgene\t0\t5\t.\t+\t.\tgene_id "A";\n', r"line 1: start '0' / end '5'"),
        ('chr1\tt\texon\t1\tx\t.\t+\t.\tgene_id "A";\n', r"line 1: start '1' / end 'x'"),
        ('chr1\tt\tgene\t1\t5\t.\t*\t.\tgene_id "A";\n', r"line 1: strand '\*' is not"),
        ('chr1\tt\tgene\t1\t5\t.\t+\t.\tgene_name "A";\n', r"line 1: has no gene_id"),
        (
            'chr1\tt\texon\t1\t5\t.\t+\t.\tgene_id "A";\n'
            'chr1\tt\texon\t9\t12\t.\t-\t.\tgene_id "A";\n',
            r"line 2: gene A is on chr1- here but on chr1\+",
        ),
    ],
)
def test_bad_gtf_names_the_line(write_text: WriteText, text: str, message: str) -> None:
    with pytest.raises(InputError, match=r"bad\.gtf: " + message):
        read_gtf(write_text("bad.gtf", text))


GENEANNO = (
    "id,symbol,seqnames,strand,TSS,CAGE_representative_TSS,type\n"
    "E1,AAA,chr1,+,101,105,protein_coding\n"
    "E2,BBB,chr2,-,50,48,lincRNA\n"
)


def test_geneanno_one_based_and_cage(write_text: WriteText) -> None:
    path = write_text("geneanno.csv", GENEANNO)
    genes = read_geneanno(path)
    assert genes["tss"].tolist() == [100, 49]
    assert genes["biotype"].tolist() == ["protein_coding", "lincRNA"]
    assert genes["start"].isna().all()
    assert read_geneanno(path, cage_tss=True)["tss"].tolist() == [104, 47]


GENE_LIST = "E1,1,101,AAA,+\nE2,X,50,,-\n"


def test_gene_list_layout_and_round_trip(write_text: WriteText, tmp_path: Path) -> None:
    genes = read_gene_list(write_text("gene_list.csv", GENE_LIST))
    assert genes["chrom"].tolist() == ["1", "X"]
    assert genes["tss"].tolist() == [100, 49]
    assert genes["symbol"].isna().tolist() == [False, True]
    write_gene_list(tmp_path / "out" / "genes.csv", genes)
    assert (tmp_path / "out" / "genes.csv").read_text() == GENE_LIST


def test_write_gene_list_strips_chr(tmp_path: Path, gtf_path: Path) -> None:
    genes = read_gtf(gtf_path)
    genes.loc[1, "chrom"] = "chrM"
    write_gene_list(tmp_path / "g.csv", genes)
    assert (tmp_path / "g.csv").read_text() == "G1,1,11,ONE,+\nG2,MT,30,TWO,-\n"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "gene_list.csv",
            "E1,1,101,A,+\nE1,2,5,B,-\n",
            r"line 2: gene id E1 appears again \(first on line 1\)",
        ),
        ("gene_list.csv", "E1,1,101,A,+\nE2,2,5,B,?\n", r"line 2: strand '\?' is not"),
        (
            "gene_list.csv",
            "E1,1,101,A,+\nE2,2,5.5,B,-\n",
            r"line 2: TSS '5.5' is not a positive integer",
        ),
        ("gene_list.csv", "E1,1,0,A,+\n", r"line 1: TSS '0' is not a positive integer"),
        ("gene_list.csv", "E1,1,101,A\n", r"line 1: has 4 columns, expected 5"),
        (
            "anno.csv",
            GENEANNO + "E1,C,chr3,+,7,7,x\n",
            r"line 4: gene id E1 appears again \(first on line 2\)",
        ),
        ("anno.csv", GENEANNO + "E3,C,chr3,+,,7,x\n", r"line 4: TSS '' is not a positive integer"),
        ("anno.csv", "id,symbol,chrom\nE1,A,chr1\n", r"line 1: header is 'id,symbol,chrom'"),
    ],
)
def test_bad_tables_name_the_line(
    write_text: WriteText, name: str, text: str, message: str
) -> None:
    path = write_text(name, text)
    reader = read_gene_list if name == "gene_list.csv" else read_geneanno
    with pytest.raises(InputError, match=name.replace(".", r"\.") + ": " + message):
        reader(path)


def test_read_genes_dispatches_on_content(write_text: WriteText, gtf_path: Path) -> None:
    pd.testing.assert_frame_equal(read_genes(gtf_path), read_gtf(gtf_path))
    anno = write_text("a.txt", GENEANNO)
    pd.testing.assert_frame_equal(
        read_genes(anno, cage_tss=True), read_geneanno(anno, cage_tss=True)
    )
    listed = write_text("b.txt", GENE_LIST)
    pd.testing.assert_frame_equal(read_genes(listed), read_gene_list(listed))
    with pytest.raises(InputError, match=r"odd\.tsv: is not a known annotation layout.*GTF"):
        read_genes(write_text("odd.tsv", "gene\ttss\nA\t5\n"))
    with pytest.raises(InputError, match=r"empty\.csv: is not a known annotation layout"):
        read_genes(write_text("empty.csv", ""))


# --- the real files --------------------------------------------------------------------


def test_real_gencode_exon_only_gtf(real_dir: Path) -> None:
    genes = read_genes(real_dir / "annotation" / "genes.gtf")
    assert genes["gene_id"].tolist() == ["ENSG00000102974.14_1", "ENSG00000153187.17_2"]
    assert _row(genes, "ENSG00000102974.14_1") == {
        "symbol": "CTCF",
        "chrom": "chr16",
        "tss": 67_596_309,
        "strand": "+",
        "start": 67_596_309,
        "end": 67_673_086,
        "biotype": "protein_coding",
    }
    assert _row(genes, "ENSG00000153187.17_2") == {
        "symbol": "HNRNPU",
        "chrom": "chr1",
        "tss": 245_027_826,
        "strand": "-",
        "start": 245_014_467,
        "end": 245_027_827,
        "biotype": "protein_coding",
    }


def test_real_expecto_geneanno(real_dir: Path) -> None:
    path = real_dir / "expecto" / "geneanno.csv"
    genes = read_genes(path)
    assert len(genes) == 24_339 and genes["gene_id"].is_unique
    assert _row(genes, "ENSG00000000003")["tss"] == 99_894_987
    cage = read_geneanno(path, cage_tss=True)
    assert _row(cage, "ENSG00000000003")["tss"] == 99_891_747
    # ExPecto's own closest-gene table puts TAS1R3's CAGE TSS at BED start 1266659
    closest = real_dir / "expecto" / "example" / "example.vcf.bed.sorted.bed.closestgene"
    first = closest.read_text().splitlines()[0].split("\t")
    assert first[9] == "ENSG00000169962" and int(first[6]) == 1_266_659
    assert _row(cage, "ENSG00000169962")["tss"] == 1_266_659
    assert set(genes["strand"]) == {"+", "-"}


def test_real_benchmark_gene_list(real_dir: Path, tmp_path: Path) -> None:
    path = real_dir / "benchmark" / "gene_list.csv"
    genes = read_genes(path)
    assert len(genes) == 3_259
    assert genes.iloc[0][["gene_id", "chrom", "tss", "symbol", "strand"]].tolist() == [
        "ENSG00000000457",
        "1",
        169_863_407,
        "SCYL3",
        "-",
    ]
    assert pd.isna(_row(genes, "ENSG00000006075")["symbol"])
    assert genes["symbol"].isna().sum() == 108
    write_gene_list(tmp_path / "gene_list.csv", genes)
    assert (tmp_path / "gene_list.csv").read_bytes() == path.read_bytes()
