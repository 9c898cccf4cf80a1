from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.data.promoter_fluorescence import (
    CELL_NAMES,
    build_fluorescence,
    build_fluorescence_tasks,
    count_filter,
    median_labels,
    read_fluorescence_table,
    stratified_splits,
)
from exprflow.data.promoter_tasks import read_task, write_task
from exprflow.errors import InputError
from exprflow.simulate.mpra import COUNT_COLUMNS

#: Counts of the hand-made table: rows P1..P3 pass the filter, P4 has K_sum 4.
COUNTS = {
    "J1_P4": [0, 1, 2, 100],
    "J2_P4": [3, 3, 3, 50],
    "K1_P4": [7, 7, 7, 0],
    "K2_P4": [1, 3, 7, 0],
    "T1_P4": [5, 5, 5, 5],
    "T2_P4": [5, 5, 5, 5],
    "J1_P7": [2, 1, 0, 100],
    "J2_P7": [1, 1, 1, 7],
    "K1_P7": [7, 7, 7, 0],
    "K2_P7": [3, 3, 3, 4],
    "T1_P7": [5, 5, 5, 5],
    "T2_P7": [5, 5, 5, 5],
    "J_sum": [10, 10, 10, 257],
    "K_sum": [10, 10, 10, 4],
    "T_sum": [10, 10, 10, 20],
}


def _table(seqs: list[str], classes: list[str] | None = None, counts: dict | None = None):
    n = len(seqs)
    counts = counts or {column: [10] * n for column in COUNT_COLUMNS}
    return pd.DataFrame(
        {
            "sequence_id": [f"P{i + 1}" for i in range(n)],
            "sequence": seqs,
            "promoter_class": classes or ["ClassI"] * n,
            "gc": [0.5] * n,
            **counts,
        }
    )


def _write(tmp_path: Path, table: pd.DataFrame, name: str = "fluorescence.tsv") -> Path:
    path = tmp_path / name
    table.to_csv(path, sep="\t", index=False)
    return path


@pytest.fixture
def hand_table(tmp_path: Path) -> Path:
    return _write(
        tmp_path, _table(["ACGTACGTAC", "AAAAACCCCC", "GGGGGTTTTT", "ACGTNACGTA"], None, COUNTS)
    )


def test_v2_target_by_hand(hand_table: Path) -> None:
    built = build_fluorescence(hand_table, length=10)
    assert (built.n_rows, built.n_filtered) == (4, 1)
    np.testing.assert_array_equal(built.regression.ids, ["P1", "P2", "P3"])
    # JURKAT: rep1 (P4+1)/6 over (P7+1)/6 = 1/3, 1, 3; rep2 (4/12)/(2/6) = 1.
    jurkat = np.array([math.log2(1 / 3), 0.0, math.log2(3)]) / 2
    # K562: rep1 ratio 1; rep2 ((P4+1)/14) / ((P7+1)/12) = 3/7, 6/7, 12/7.
    k562 = np.log2([3 / 7, 6 / 7, 12 / 7]) / 2
    expected = np.stack([jurkat, k562, np.zeros(3)], axis=1)
    np.testing.assert_allclose(built.regression.targets, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(built.classification.targets, [[0, 0, 0], [0, 0, 0], [1, 1, 0]])
    assert built.regression.spec.outputs == CELL_NAMES == ("JURKAT", "K562", "THP1")
    assert built.classification.spec.kind == "binary"
    assert built.regression.codes.shape == (3, 10) and built.regression.spec.max_length == 10


def test_count_filter_needs_every_sum(hand_table: Path) -> None:
    table = read_fluorescence_table(hand_table, length=10)
    np.testing.assert_array_equal(count_filter(table), [True, True, True, False])
    np.testing.assert_array_equal(count_filter(table, min_reads=11), [False] * 4)
    assert table["K_sum"].dtype == np.int64


def test_median_labels_use_strictly_above() -> None:
    values = np.array([[1.0, 5.0], [2.0, 5.0], [3.0, 5.0], [4.0, 6.0]])
    np.testing.assert_array_equal(median_labels(values), [[0, 0], [0, 0], [1, 0], [1, 1]])


#: (class, GC bin) → stratum size, for the split tests.
STRATA = {("ClassI", 10): 37, ("ClassI", 11): 10, ("ClassII", 10): 3, ("ClassII", 8): 1}
STRATA[("ClassIII", 12)] = 20


def _strata_rows() -> tuple[np.ndarray, np.ndarray]:
    keys = [key for key, n in STRATA.items() for _ in range(n)]
    order = np.random.default_rng(7).permutation(len(keys))
    return np.array([keys[i][0] for i in order]), np.array([keys[i][1] for i in order])


def test_splits_are_stratified_70_10_20() -> None:
    classes, bins = _strata_rows()
    splits = stratified_splits(classes, bins)
    assert splits.shape == (71, 5) and splits.dtype == np.int8
    for (cls, gc_bin), n in STRATA.items():
        rows = (classes == cls) & (bins == gc_bin)
        for k in range(5):
            counts = np.bincount(splits[rows, k], minlength=3)
            assert counts.tolist() == [math.ceil(0.7 * n), math.floor(0.1 * n), counts[2]]
            assert np.all(np.abs(counts - np.array([0.7, 0.1, 0.2]) * n) <= 1)


def test_splits_are_deterministic_and_differ_by_seed() -> None:
    classes, bins = _strata_rows()
    splits = stratified_splits(classes, bins)
    np.testing.assert_array_equal(splits, stratified_splits(classes, bins))
    np.testing.assert_array_equal(splits[:, 3], stratified_splits(classes, bins, seeds=(3,))[:, 0])
    for a in range(5):
        for b in range(a + 1, 5):
            assert (splits[:, a] != splits[:, b]).any()


def _gc_sequence(n_gc: int, length: int = 20) -> str:
    return "G" * n_gc + "A" * (length - n_gc)


def test_built_splits_stratify_by_gc_of_the_sequence(tmp_path: Path) -> None:
    # GC 0.30 and 0.35 must be two bins (0.35 / 0.05 is 6.999… in floating point).
    seqs = [_gc_sequence(6)] * 10 + [_gc_sequence(7)] * 10 + [_gc_sequence(7)] * 10
    classes = ["ClassI"] * 20 + ["ClassII"] * 10
    built = build_fluorescence(_write(tmp_path, _table(seqs, classes)), length=20)
    for rows in (slice(0, 10), slice(10, 20), slice(20, 30)):
        for k in range(5):
            assert np.bincount(built.regression.splits[rows, k], minlength=3).tolist() == [7, 1, 2]
    np.testing.assert_array_equal(built.regression.splits, built.classification.splits)


def test_merged_table_and_tasks(tmp_path: Path) -> None:
    seqs = [_gc_sequence(n % 20) for n in range(40)]
    path = _write(tmp_path, _table(seqs))
    built = build_fluorescence(path, length=20)
    tasks = build_fluorescence_tasks(path, tmp_path / "fluorescence", length=20, split_seeds=3)
    assert [task.spec.name for task in tasks] == [
        "FluorescenceData",
        "FluorescenceData_classification",
    ]
    merged = pd.read_csv(tmp_path / "fluorescence" / "merged.tsv", sep="\t")
    splits = [f"split_{k}" for k in range(3)]
    expected = ["sequence_id", "sequence", "promoter_class", "gc", *COUNT_COLUMNS, *CELL_NAMES]
    assert merged.columns.tolist() == [*expected, "is_train", "is_val", "is_test", *splits]
    for name in ("train", "val", "test"):
        np.testing.assert_array_equal(merged[f"is_{name}"], merged["split_0"] == name)
        in_split = np.isin(np.arange(40), tasks[0].indices(name, 2))
        np.testing.assert_array_equal(merged["split_2"] == name, in_split)
    np.testing.assert_allclose(merged[list(CELL_NAMES)], tasks[0].targets, atol=1e-6)
    np.testing.assert_array_equal(tasks[0].splits, built.regression.splits[:, :3])
    for task in tasks:
        back = read_task(write_task(task, tmp_path / "promoter"))
        np.testing.assert_array_equal(back.targets, task.targets)
        np.testing.assert_array_equal(back.codes, task.codes)


def test_wrong_promoter_length_names_the_sequence(tmp_path: Path) -> None:
    path = _write(tmp_path, _table(["A" * 250, "C" * 249, "G" * 250]))
    with pytest.raises(InputError, match=r"line 3 \(P2\): sequence P2 is 249 bp; .* 250 bp") as err:
        read_fluorescence_table(path)
    assert "length=" in str(err.value)


@pytest.mark.parametrize("bad", ["12x", "-1", "1.5", ""])
def test_malformed_count_names_column_and_sequence(tmp_path: Path, bad: str) -> None:
    table = _table(["ACGT", "ACGT"])
    table["K1_P4"] = table["K1_P4"].astype(str)
    table.loc[1, "K1_P4"] = bad
    with pytest.raises(InputError, match=r"of P2 in column K1_P4 is not a non-negative integer"):
        read_fluorescence_table(_write(tmp_path, table), length=4)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.drop(columns=["T_sum", "sequence"]),
            r"lacks column\(s\) \['sequence', 'T_sum'\]",
        ),
        (lambda t: t.assign(sequence_id=["P1", "P1"]), "sequence id P1 appears twice"),
        (lambda t: t.assign(sequence=["ACGT", "ACGU"]), r"sequence P2 has letters \['U'\]"),
        (lambda t: t.iloc[:0], "has no promoters"),
    ],
)
def test_bad_tables_get_clear_errors(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(InputError, match=message):
        read_fluorescence_table(_write(tmp_path, edit(_table(["ACGT", "ACGT"]))), length=4)


def test_no_promoter_passing_the_filter(tmp_path: Path) -> None:
    path = _write(tmp_path, _table(["ACGT"]))
    with pytest.raises(InputError, match="no promoter has every _sum >= 11"):
        build_fluorescence(path, length=4, min_reads=11)


def test_world_table_filter_matches_the_truth(tiny_world: Path) -> None:
    built = build_fluorescence(tiny_world / "mpra" / "fluorescence.tsv")
    truth = json.loads((tiny_world / "truth.json").read_text())["components"]["mpra"]
    table = read_fluorescence_table(tiny_world / "mpra" / "fluorescence.tsv")
    assert set(table["sequence_id"]) - set(built.regression.ids) == set(truth["low_count"])
    activity = pd.DataFrame(truth["activity"]).set_index("sequence_id").loc[built.regression.ids]
    for c, cell in enumerate(CELL_NAMES):
        assert np.corrcoef(activity[cell], built.regression.targets[:, c])[0, 1] > 0.8
