"""Tests of the SuRE_classification task builder on hand-made genome tables."""

from __future__ import annotations

import gzip
from collections import Counter
from pathlib import Path

import numpy as np
import pysam
import pytest

from exprflow.data.promoter_codes import decode_codes
from exprflow.data.promoter_sure import build_sure_task, expression_class, read_sure_table
from exprflow.errors import InputError

CHR1 = "ACGTACGTACGGCCTTAAGGCATGCATGCAATTTTTGGGGCCCC"
CHR2 = "GATTACAGATTACA"
HEADER = "chrom\tstart\tend\tstrand\tsnp_pos\tsnp_alt\tK562\tHepG2\n"
TABLE_A = [
    "chr1\t0\t10\t+\t\t\t0\t0\n",
    "chr1\t10\t20\t+\t13,15\tT,G\t5.5\t10\n",
    "chr1\t20\t32\t-\t21,32\tA,c\t10.01\t35\n",
    "chr2\t5\t9\t-\t\t\t31\t29.9\n",
]
TABLE_B = ["chr1\t0\t8\t+\t\t\t100\t0\n"]


def _revcomp(seq: str) -> str:
    return seq.translate(str.maketrans("ACGT", "TGCA"))[::-1]


def _write(root: Path, tables: dict[str, list[str]] | None = None) -> tuple[Path, Path]:
    fasta = root / "genome.fa"
    fasta.write_text(f">chr1\n{CHR1}\n>chr2\n{CHR2}\n")
    pysam.faidx(str(fasta))
    sure = root / "sure"
    sure.mkdir()
    for sample, lines in (tables or {"A": TABLE_A, "B": TABLE_B}).items():
        with gzip.open(sure / f"SuRE_{sample}.txt.gz", "wt") as out:
            out.write(HEADER + "".join(lines))
    return sure, fasta


def test_sequences_alleles_strands_and_classes(tmp_path: Path) -> None:
    sure, fasta = _write(tmp_path)
    task = build_sure_task(sure, fasta)
    spec = task.spec
    assert spec.name == "SuRE_classification" and spec.kind == "multiclass"
    assert spec.outputs == ("K562", "HepG2")
    assert (spec.n_heads, spec.n_classes, spec.n_logits) == (2, 5, 20)
    assert spec.max_length == 12 and spec.monitor == "accuracy"
    assert task.ids.tolist() == [
        "A:chr1:0-10:+",
        "A:chr1:10-20:+",
        "A:chr1:20-32:-",
        "A:chr2:5-9:-",
        "B:chr1:0-8:+",
    ]
    seqs = decode_codes(task.codes)
    assert seqs[0] == CHR1[0:10]
    # 1-based 13 and 15 are fragment offsets 2 and 4
    assert seqs[1] == "GGTCGTAAGG" and CHR1[10:20] == "GGCCTTAAGG"
    # ALT A at 21 (first base) and c at 32 (last base), then reverse-complemented
    assert seqs[2] == _revcomp("A" + CHR1[21:31] + "C")
    assert seqs[3] == _revcomp(CHR2[5:9])
    assert task.lengths.tolist() == [10, 10, 12, 4, 8]
    assert (task.codes[3, 4:] == 5).all() and (task.codes[2] != 5).all()
    np.testing.assert_array_equal(task.targets, [[0, 0], [1, 1], [2, 4], [4, 3], [4, 0]])
    assert task.targets.dtype == np.int64 and task.mask.all()
    assert task.group.tolist() == [0, 0, 0, 0, 1]
    assert sorted(task.splits[:, 0].tolist()) == [0, 0, 0, 1, 2]


def test_published_four_genomes_give_40_logits(tmp_path: Path) -> None:
    sure, fasta = _write(tmp_path, {s: TABLE_B for s in ("HG1", "HG2", "HG3", "HG4")})
    spec = build_sure_task(sure, fasta).spec
    assert (spec.n_heads, spec.n_classes, spec.n_logits) == (4, 5, 40)


def test_expression_classes() -> None:
    values = np.array([0, 0.001, 10, 10.0001, 20, 30, 30.5, 1000])
    assert expression_class(values).tolist() == [0, 1, 1, 2, 2, 3, 4, 4]


def _many() -> list[str]:
    pairs = [(0, 0)] * 30 + [(5, 5)] * 5 + [(50, 45)] * 2
    return [f"chr1\t{i}\t{i + 20}\t+\t\t\t{k}\t{h}\n" for i, (k, h) in enumerate(pairs)]


def test_balance_per_pair_and_seeded_split(tmp_path: Path) -> None:
    sure, fasta = _write(tmp_path, {"A": _many(), "B": _many()[:3]})
    task = build_sure_task(sure, fasta, per_pair=4, seed=1)
    pairs = Counter((int(g), *map(int, t)) for g, t in zip(task.group, task.targets, strict=True))
    assert pairs == {(0, 0, 0): 4, (0, 1, 1): 4, (0, 4, 4): 2, (1, 0, 0): 3}
    assert np.bincount(task.splits[:, 0], minlength=3).tolist() == [11, 1, 1]
    again = build_sure_task(sure, fasta, per_pair=4, seed=1)
    np.testing.assert_array_equal(again.ids, task.ids)
    np.testing.assert_array_equal(again.splits, task.splits)
    other = build_sure_task(sure, fasta, per_pair=4, seed=2)
    assert other.ids.tolist() != task.ids.tolist()
    everything = build_sure_task(sure, fasta, per_pair=0)
    assert len(everything) == 40
    assert np.bincount(everything.splits[:, 0]).tolist() == [32, 4, 4]


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("chr1\t10\t20\t+\t10\tA\t1\t1\n", r"SNP position 10 \(1-based\) is outside"),
        ("chr1\t10\t20\t+\t21\tA\t1\t1\n", r"SNP position 21 \(1-based\) is outside"),
        ("chr1\t10\t20\t+\t12,14\tA\t1\t1\n", "2 snp_pos but 1 snp_alt"),
        ("chr1\t10\t20\t+\t12\tAT\t1\t1\n", "not a single base"),
        ("chr1\t1x\t20\t+\t\t\t1\t1\n", "invalid literal"),
        ("chr1\t10\t20\t+\t\t\tabc\t1\n", "could not convert"),
        ("chr1\t10\t20\t+\t\t\t-1\t1\n", "finite and >= 0"),
        ("chr1\t10\t20\t*\t\t\t1\t1\n", "strand"),
        ("chr1\t20\t20\t+\t\t\t1\t1\n", "start < end"),
        ("chr1\t10\t20\t+\n", "4 columns"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    sure, fasta = _write(tmp_path, {"A": [TABLE_A[0], line]})
    with pytest.raises(InputError, match=rf"SuRE_A\.txt\.gz: line 3: .*{problem}"):
        build_sure_task(sure, fasta)


def test_bad_header_and_empty_folder(tmp_path: Path) -> None:
    path = tmp_path / "SuRE_X.txt"
    path.write_text(HEADER.replace("HepG2", "HEPG2") + TABLE_A[0])
    with pytest.raises(
        InputError, match=r"SuRE_X\.txt: line 1: header lacks column\(s\) \['HepG2'\]"
    ):
        read_sure_table(path)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(InputError, match="no SuRE genome table"):
        build_sure_task(empty, tmp_path / "genome.fa")


def test_snp_at_the_last_base_and_header_order(tmp_path: Path) -> None:
    path = tmp_path / "SuRE_Y.txt"
    path.write_text(
        "K562\tHepG2\tchrom\tstart\tend\tstrand\tsnp_pos\tsnp_alt\textra\n"
        "1.5\t0\tchr1\t10\t20\t-\t20\tT\tx\n"
    )
    table = read_sure_table(path)
    assert table.sample == "Y"
    assert table.snps == [[(19, "T")]]
    np.testing.assert_array_equal(table.expression, [[1.5, 0.0]])
