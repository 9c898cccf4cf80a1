from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.data.promoter_codes import decode_codes
from exprflow.data.promoter_rnaseq import WINDOWS, build_rnaseq_task
from exprflow.data.promoter_tasks import read_task, write_task
from exprflow.errors import InputError
from exprflow.genome.fasta import Genome

_RNG = np.random.default_rng(3)
#: Train (chr1), val (Ensembl spelling "4"), test (chr2) and an off-split contig (chrX).
CONTIGS = {name: "".join(_RNG.choice(list("ACGT"), 700)) for name in ("chr1", "4", "chr2", "chrX")}
GENES = pd.DataFrame(
    {
        "gene_id": ["G1.3", "G2", "G3", "G4", "G5"],
        "chrom": ["chr1", "chr4", "chr2", "chrX", "chr1"],
        "tss": [400, 350, 300, 300, 200],
        "strand": ["+", "-", "+", "+", "-"],
    }
)
#: log2(x + 1): G1 (0, 1), G2 (1, 2), G3 (2, 3); G9 is not in the gene table.
RPKM = "gene_id\tE116\tE123\nG9\t5\t5\nG1\t0\t1\nG2\t1\t3\nG3\t3\t7\n"


def _revcomp(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    fasta = tmp_path / "genome.fa"
    fasta.write_text("".join(f">{name}\n{seq}\n" for name, seq in CONTIGS.items()))
    rpkm = tmp_path / "rpkm.txt"
    rpkm.write_text(RPKM)
    genes = tmp_path / "genes.tsv"
    GENES.to_csv(genes, sep="\t", index=False)
    return {"fasta": fasta, "rpkm": rpkm, "genes": genes}


def test_windows_targets_splits_and_groups(
    files: dict[str, Path], caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), Genome(files["fasta"]) as genome:
        task = build_rnaseq_task(genome, GENES, files["rpkm"])
    assert "1 of 5 genes lie off the split's chromosomes" in caplog.text
    assert "1 of 5 genes have no expression row" in caplog.text
    assert task.spec.name == "RNASeq" and task.spec.outputs == ("E116", "E123")
    assert task.ids.tolist()[:4] == [
        "G1.3:-300:-50",
        "G1.3:-100:150",
        "G1.3:100:350",
        "G2:-300:-50",
    ]
    chr1, chr4, chr2 = CONTIGS["chr1"], CONTIGS["4"], CONTIGS["chr2"]
    expected = [
        chr1[100:350],
        chr1[300:550],
        chr1[500:700] + "N" * 50,  # past the contig end
        _revcomp(chr4[401:651]),
        _revcomp(chr4[201:451]),
        _revcomp(chr4[1:251]),
        chr2[0:250],
        chr2[200:450],
        chr2[400:650],
    ]
    assert decode_codes(task.codes) == expected
    assert task.codes.shape == (9, 250) and (task.lengths == 250).all()
    # The TSS is base 100 of the middle window, on the gene's strand.
    assert decode_codes(task.codes[1])[0][100] == chr1[400]
    assert decode_codes(task.codes[4])[0][100] == _revcomp(chr4[350])
    z = math.sqrt(1.5)
    np.testing.assert_allclose(
        task.targets, np.repeat([[-z, -z], [0, 0], [z, z]], 3, axis=0), rtol=1e-6
    )
    np.testing.assert_array_equal(task.group, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    np.testing.assert_array_equal(task.splits[:, 0], [0, 0, 0, 1, 1, 1, 2, 2, 2])
    assert task.mask.all() and task.n_split_seeds == 1
    assert [b - a for a, b in WINDOWS] == [250, 250, 250]


def test_paths_give_the_same_task_and_it_round_trips(
    files: dict[str, Path], tmp_path: Path
) -> None:
    task = build_rnaseq_task(files["fasta"], files["genes"], files["rpkm"])
    with Genome(files["fasta"]) as genome:
        same = build_rnaseq_task(genome, GENES, files["rpkm"])
    back = read_task(write_task(task, tmp_path / "promoter"))
    for name in ("ids", "codes", "targets", "splits", "group"):
        np.testing.assert_array_equal(getattr(task, name), getattr(same, name))
        np.testing.assert_array_equal(getattr(back, name), getattr(task, name))


@pytest.mark.parametrize(
    ("chroms", "missing"),
    [
        (["chr1", "chr2", "chr2", "chrX", "chr1"], "val"),
        (["chr1", "4", "4", "chrX", "chr1"], "test"),
    ],
)
def test_no_val_or_test_chromosome_is_refused(
    files: dict[str, Path], chroms: list[str], missing: str
) -> None:
    genes = GENES.assign(chrom=chroms)
    wanted = "chr4, chr17" if missing == "val" else "chr2, chr9, chr10, chr13, chr20, chr21"
    with pytest.raises(
        InputError,
        match=rf"genome\.fa: {missing} chromosomes: no gene lies on a {missing} chromosome "
        rf"\({wanted}\)",
    ) as err:
        build_rnaseq_task(files["fasta"], genes, files["rpkm"])
    assert "Fix:" in str(err.value) and "ChromosomeSplit" in str(err.value)


@pytest.mark.parametrize(
    ("genes", "message"),
    [
        (GENES.drop(columns=["strand"]), r"lacks column\(s\) \['strand'\]"),
        (GENES.assign(strand=["+", "-", ".", "+", "+"]), r"G3: strand '\.' is neither"),
        (GENES.assign(gene_id=["A", "B", "C", "D", "E"]), "none of the 5 genes"),
        (GENES.assign(chrom=["chr1", "chr17", "chr2", "chrX", "chr1"]), "chr17"),
    ],
)
def test_bad_gene_tables_get_clear_errors(
    files: dict[str, Path], genes: pd.DataFrame, message: str
) -> None:
    with pytest.raises(InputError, match=message):
        build_rnaseq_task(files["fasta"], genes, files["rpkm"])
