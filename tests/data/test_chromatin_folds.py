from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from exprflow.data.chromatin_folds import (
    PUBLISHED_GROUPS,
    FoldSplit,
    fold_groups,
    fold_split,
    natural_key,
    resolve_fold_scheme,
)
from exprflow.errors import InputError

HUMAN = [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY"]
SIX = [f"chr{i}" for i in range(1, 7)]


def _meta(chroms: list[str], per_chrom: int = 4, scheme: str = "cyclic") -> pd.DataFrame:
    """One epigenome's rows: ``per_chrom`` genes per chromosome, TSS descending on each."""
    groups = fold_groups(chroms, scheme)
    rows = [
        {"gene_id": f"G{c}_{i}", "eid": "E003", "chrom": c, "start": 1000 * (per_chrom - i),
         "split": groups[c]}
        for c in chroms
        for i in range(per_chrom)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def test_published_table() -> None:
    assert len(PUBLISHED_GROUPS) == 24
    assert [sum(g == k for g in PUBLISHED_GROUPS.values()) for k in (1, 2, 3, 4)] == [6] * 4
    assert fold_groups(["chr1", "2", "chr7", "X", "chrY", "22"], "published") == {
        "chr1": 1, "2": 3, "chr7": 2, "22": 4, "X": 4, "chrY": 1,
    }  # fmt: skip
    assert fold_groups(HUMAN, "auto") == PUBLISHED_GROUPS


def test_cyclic_on_six_chromosomes_and_natural_order() -> None:
    assert fold_groups(SIX, "cyclic") == {
        "chr1": 1, "chr2": 2, "chr3": 3, "chr4": 4, "chr5": 1, "chr6": 2,
    }  # fmt: skip
    assert list(fold_groups(["chrX", "chr10", "chr2", "chr1", "chr2"], "cyclic").items()) == [
        ("chr1", 1), ("chr2", 2), ("chr10", 3), ("chrX", 4),
    ]  # fmt: skip
    assert sorted(["chrY", "chr10", "chrX", "chr9", "2"], key=natural_key) == [
        "2", "chr9", "chr10", "chrX", "chrY",
    ]  # fmt: skip


def test_auto_picks_published_only_when_it_fills_four_groups() -> None:
    assert resolve_fold_scheme(HUMAN) == "published"
    assert resolve_fold_scheme(SIX) == "cyclic"  # published would leave groups 2 and 4 empty
    assert resolve_fold_scheme([*HUMAN, "chrM"]) == "cyclic"
    assert fold_groups(SIX) == fold_groups(SIX, "cyclic")


def test_chromosome_in_no_fold_and_unknown_scheme() -> None:
    with pytest.raises(InputError, match=r"chromosome 'chrUn_gl1' is in no published fold.*cyclic"):
        fold_groups(["chr1", "chrUn_gl1"], "published", source="genes.tsv")
    with pytest.raises(InputError, match=r"fold scheme 'hash'"):
        fold_groups(SIX, "hash")


def test_split_alternates_held_out_chromosomes() -> None:
    meta = _meta(HUMAN, scheme="published")
    split = fold_split(meta, 1)  # group 1: chr1, 5, 6, 8, 14, Y
    chrom = dict(zip(meta["gene_id"], meta["chrom"], strict=True))
    assert sorted({chrom[g] for g in split.val}, key=natural_key) == ["chr1", "chr6", "chr14"]
    assert sorted({chrom[g] for g in split.test}, key=natural_key) == ["chr5", "chr8", "chrY"]
    assert len(split.train) == 18 * 4
    assert set(split.train) | set(split.val) | set(split.test) == set(meta["gene_id"])


def test_single_held_out_chromosome_is_split_by_position() -> None:
    meta = _meta(SIX, per_chrom=5)
    split = fold_split(meta, 3)  # chr3 only; TSS 5000, 4000, … for genes 0..4
    assert split.val.tolist() == ["Gchr3_3", "Gchr3_4"]  # upstream n // 2
    assert split.test.tolist() == ["Gchr3_0", "Gchr3_1", "Gchr3_2"]
    assert isinstance(split, FoldSplit) and list(split._asdict()) == ["train", "val", "test"]
    assert fold_split(meta, 1).val.tolist() == [f"Gchr1_{i}" for i in range(5)]


def test_split_is_identical_across_calls_and_hash_seeds(tmp_path: Path) -> None:
    meta = _meta(HUMAN, scheme="published")
    path = tmp_path / "meta.csv"
    meta.to_csv(path, index=False)
    here = {
        f: {k: v.tolist() for k, v in fold_split(meta, f)._asdict().items()} for f in range(1, 5)
    }
    again = {
        f: {k: v.tolist() for k, v in fold_split(meta, f)._asdict().items()} for f in range(1, 5)
    }
    assert here == again
    script = (
        "import json, sys, pandas as pd\n"
        "from exprflow.data.chromatin_folds import fold_split\n"
        "meta = pd.read_csv(sys.argv[1])\n"
        "print(json.dumps({f: {k: v.tolist() for k, v in fold_split(meta, f)._asdict().items()}"
        " for f in range(1, 5)}))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}  # this process's seed is random
    out = subprocess.run(
        [sys.executable, "-c", script, str(path)], env=env, capture_output=True, text=True,
        check=True,
    )  # fmt: skip
    assert json.loads(out.stdout) == {str(f): v for f, v in here.items()}


def test_bad_splits() -> None:
    meta = _meta(SIX)
    with pytest.raises(InputError, match=r"one epigenome's rows, got 2"):
        fold_split(pd.concat([meta, meta.assign(eid="E004")]), 1)
    with pytest.raises(InputError, match=r"fold 5 is not one of"):
        fold_split(meta, 5)
    with pytest.raises(InputError, match=r"fold 4 holds 0 of 20 genes"):
        fold_split(meta.loc[meta["split"] != 4], 4)
