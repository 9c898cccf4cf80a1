from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.simulate.config import SIZES
from exprflow.simulate.regions import FOLDS, SEQUENCES_FILE, write_sequences_bed

TINY = SIZES["tiny"]
LENGTH = TINY.basenji_seq_length
NAMES = ["chrom", "start", "end", "fold"]


def _contigs(size=TINY) -> dict[str, int]:
    return {f"chr{i + 1}": size.chrom_length for i in range(size.n_chromosomes)}


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, sep="\t", header=None, names=NAMES)


def _fold_blocks(folds: pd.Series) -> list[str]:
    """Folds in file order, consecutive repeats collapsed."""
    return [f for i, f in enumerate(folds) if i == 0 or folds.iloc[i - 1] != f]


def test_tiny_world_holds_out_whole_chromosomes(tmp_path: Path) -> None:
    contigs = _contigs()
    truth = write_sequences_bed(tmp_path, contigs, TINY, np.random.default_rng(0))
    table = _read(tmp_path / SEQUENCES_FILE)
    assert truth["files"] == {"sequences": SEQUENCES_FILE} and truth["chromosome_split"]
    assert _fold_blocks(table["fold"]) == list(FOLDS)
    assert ((table["end"] - table["start"]) == LENGTH).all()
    assert (table["start"] >= 0).all() and (table["end"] <= table["chrom"].map(contigs)).all()
    by_fold = {f: set(table.loc[table["fold"] == f, "chrom"]) for f in FOLDS}
    assert all(by_fold[f] for f in FOLDS)
    assert not (by_fold["train"] & by_fold["valid"] or by_fold["train"] & by_fold["test"])
    assert not by_fold["valid"] & by_fold["test"]
    assert by_fold == {f: set(truth["fold_contigs"][f]) for f in FOLDS}
    assert truth["counts"] == table["fold"].value_counts().to_dict()
    per_contig = table.groupby("chrom").size()
    assert (per_contig[list(by_fold["train"])] >= 4).all()
    held = table[table["fold"] != "train"].sort_values(["chrom", "start"])
    gaps = held.groupby("chrom")["start"].diff().dropna()
    assert (gaps >= LENGTH).all()


def test_like_the_published_file(tmp_path: Path, real_dir: Path) -> None:
    real = _read(real_dir / "basenji2" / "sequences.bed")
    write_sequences_bed(tmp_path, _contigs(SIZES["demo"]), SIZES["demo"], np.random.default_rng(1))
    mine = _read(tmp_path / SEQUENCES_FILE)
    assert list(mine.dtypes) == list(real.dtypes)
    assert _fold_blocks(real["fold"]) == _fold_blocks(mine["fold"]) == list(FOLDS)
    assert set((real["end"] - real["start"]).unique()) == {LENGTH}
    first = (tmp_path / SEQUENCES_FILE).read_text().splitlines()[0].split("\t")
    assert len(first) == 4 and first[3] == "train"


def test_two_contigs_split_within_contigs(tmp_path: Path) -> None:
    contigs = {"chr1": 2_000_000, "chr2": 1_500_000, "chrM": 16_569}
    truth = write_sequences_bed(tmp_path, contigs, TINY, np.random.default_rng(0))
    table = _read(tmp_path / SEQUENCES_FILE)
    assert not truth["chromosome_split"]
    assert set(table["chrom"]) == {"chr1", "chr2"}
    assert _fold_blocks(table["fold"]) == list(FOLDS)
    ordered = table.sort_values(["chrom", "start"])
    assert (ordered.groupby("chrom")["start"].diff().dropna() >= LENGTH).all()
    # chr1: 15 regions, 2 + 2 held out; chr2: 11 regions, 1 + 1 held out
    assert truth["counts"] == {"train": 20, "valid": 3, "test": 3}


def test_same_seed_gives_identical_bytes(tmp_path: Path) -> None:
    size = SIZES["demo"]
    first = write_sequences_bed(tmp_path / "a", _contigs(size), size, np.random.default_rng(5))
    second = write_sequences_bed(tmp_path / "b", _contigs(size), size, np.random.default_rng(5))
    assert first == second
    data = (tmp_path / "a" / SEQUENCES_FILE).read_bytes()
    assert data == (tmp_path / "b" / SEQUENCES_FILE).read_bytes()


def test_contigs_shorter_than_a_region_are_refused(tmp_path: Path) -> None:
    short = dataclasses.replace(TINY, basenji_seq_length=500_000)
    with pytest.raises(InputError, match=r"sequences\.bed: no contig is at least 500000 bp"):
        write_sequences_bed(tmp_path, _contigs(), short, np.random.default_rng(0))
    assert not (tmp_path / SEQUENCES_FILE).exists()
