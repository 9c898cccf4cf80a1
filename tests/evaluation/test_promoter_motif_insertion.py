"""Motif insertion analysis: planted activators and repressors rank top and bottom."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from exprflow.evaluation.promoter_motif_insertion import (
    INSERTION_FILE,
    INSERTION_MARKDOWN,
    INSERTION_PLOT,
    INSERTION_TOP_FILE,
    insertion_influence,
    summarize_influence,
    write_insertion_report,
)
from exprflow.genome.jaspar import jaspar_pwms
from exprflow.genome.pwm import PWM
from exprflow.models.promoter.motif_counts import MotifScanner

torch.set_num_threads(1)
CELLS = ("JURKAT", "K562", "THP1")
ACTIVATOR, REPRESSOR = "GGTAACCA", "CATGCAGT"  # neither overlaps itself


def _exact(consensus: str, name: str) -> PWM:
    return PWM(name, "", np.eye(4)[["ACGT".index(b) for b in consensus]])


def _random_pwms(n: int, rng: np.random.Generator) -> list[PWM]:
    return [PWM(f"r{i}", "", rng.dirichlet(np.ones(4), size=6 + i % 5)) for i in range(n)]


def _occurrences(codes: np.ndarray, consensus: str) -> np.ndarray:
    """Occurrences of ``consensus`` (forward strand) in each row of codes."""
    site = np.array(["ACGT".index(b) for b in consensus])
    windows = np.lib.stride_tricks.sliding_window_view(codes, len(site), axis=1)
    return (windows == site).all(axis=2).sum(axis=1)


def _toy_predict(codes: np.ndarray) -> np.ndarray:
    """+1 per activator, −1 per repressor; cells scale it by 1, 2, 0.5."""
    assert codes.dtype == np.int8
    score = _occurrences(codes, ACTIVATOR) - _occurrences(codes, REPRESSOR)
    return score[:, None] * np.array([1.0, 2.0, 0.5])


def _background(n: int, length: int, seed: int = 0) -> np.ndarray:
    codes = np.random.default_rng(seed).integers(0, 4, (n, length)).astype(np.int8)
    keep = (_occurrences(codes, ACTIVATOR) == 0) & (_occurrences(codes, REPRESSOR) == 0)
    return codes[keep]


def test_exact_activator_and_repressor_rank_top_and_bottom() -> None:
    rng = np.random.default_rng(1)
    pwms = [*_random_pwms(6, rng), _exact(ACTIVATOR, "act"), _exact(REPRESSOR, "rep")]
    codes = _background(40, 60)
    table = insertion_influence(_toy_predict, codes, pwms, CELLS, n_insertions=5, seed=3)
    assert list(table.columns) == ["motif", "cell", "influence", "sd", "n"]
    assert len(table) == len(pwms) * len(CELLS) and set(table["n"]) == {len(codes) * 5}
    act = table[table["motif"] == "act"].set_index("cell")
    rep = table[table["motif"] == "rep"].set_index("cell")
    np.testing.assert_allclose(act["influence"], [1.0, 2.0, 0.5])
    np.testing.assert_allclose(rep["influence"], [-1.0, -2.0, -0.5])
    np.testing.assert_allclose(act["sd"], 0.0, atol=1e-12)
    summary = summarize_influence(table, top=2)
    assert summary.cells == CELLS
    assert (summary.top.query("rank == 1")["motif"] == "act").all()
    assert (summary.bottom.query("rank == 1")["motif"] == "rep").all()
    assert summary.shared_top[0] == "act" and summary.shared_bottom[0] == "rep"


def test_scanner_based_predictor_recovers_jaspar_motifs() -> None:
    pwms = jaspar_pwms(matrix_ids=["MA0079.5", "MA0095.4", "MA0139.2", "MA0035.5", "MA0108.3"])
    scanner = MotifScanner(pwms, pvalue=1e-4)
    weights = np.zeros((len(pwms), len(CELLS)))
    weights[0] = [1.0, 0.5, 2.0]  # SP1 activates
    weights[1] = [-1.0, -0.5, -2.0]  # YY1 represses

    def predict(codes: np.ndarray) -> np.ndarray:
        return scanner.counts(codes) @ weights

    codes = np.random.default_rng(0).integers(0, 4, (30, 250)).astype(np.int8)
    table = insertion_influence(predict, codes, pwms, CELLS, n_insertions=4, batch_size=50)
    summary = summarize_influence(table, top=1)
    assert summary.shared_top == ("MA0079.5 SP1",)
    assert summary.shared_bottom == ("MA0095.4 Yy1",)
    sp1 = table[table["motif"] == "MA0079.5 SP1"]["influence"].to_numpy()
    assert (sp1 > 0.5 * np.array([1.0, 0.5, 2.0])).all()


def test_deterministic_under_the_seed_and_batch_size() -> None:
    rng = np.random.default_rng(2)
    pwms = _random_pwms(3, rng)

    def predict(codes: np.ndarray) -> np.ndarray:
        weights = np.arange(codes.shape[1]) % 7 - 3.0
        return np.stack([(codes == b) @ weights for b in range(3)], axis=1)

    codes = rng.integers(0, 4, (25, 40)).astype(np.int8)
    first = insertion_influence(predict, codes, pwms, CELLS, n_insertions=3, seed=5)
    again = insertion_influence(predict, codes, pwms, CELLS, n_insertions=3, seed=5, batch_size=7)
    other = insertion_influence(predict, codes, pwms, CELLS, n_insertions=3, seed=6)
    pd.testing.assert_frame_equal(first, again)
    assert not np.allclose(first["influence"], other["influence"])


def test_each_copy_is_one_length_preserving_edit_before_padding() -> None:
    pwm = PWM("m", "", np.random.default_rng(4).dirichlet(np.ones(4), size=5))
    codes = np.random.default_rng(5).integers(0, 4, (6, 30)).astype(np.int8)
    codes[2, 20:] = 5
    codes[4, 9:] = 5
    seen: list[np.ndarray] = []

    def record(batch: np.ndarray) -> np.ndarray:
        assert batch.dtype == np.int8 and batch.shape[1] == 30
        seen.append(batch.copy())
        return np.zeros((len(batch), 1))

    insertion_influence(record, codes, [pwm], ["c"], n_insertions=4, batch_size=8)
    assert np.array_equal(seen[0], codes)  # the baseline
    copies = np.concatenate(seen[1:])
    assert len(copies) == 6 * 4
    originals = np.repeat(codes, 4, axis=0)
    for copy, original in zip(copies, originals, strict=True):
        changed = np.nonzero(copy != original)[0]
        assert changed.size == 0 or changed.max() - changed.min() < 5
        assert ((copy == 5) == (original == 5)).all()


def test_bad_inputs_are_refused() -> None:
    pwm = PWM("long", "", np.full((12, 4), 0.25))
    codes = np.zeros((3, 20), np.int8)
    codes[1, 10:] = 5
    with pytest.raises(ValueError, match=r"motif long \(12 bp\) does not fit in a sequence of 10"):
        insertion_influence(_toy_predict, codes, [pwm], CELLS)
    short = PWM("s", "", np.full((3, 4), 0.25))
    with pytest.raises(ValueError, match=r"expected \(3, 3\)"):
        insertion_influence(lambda c: np.zeros((len(c), 2)), codes, [short], CELLS)
    with pytest.raises(ValueError, match="non-empty"):
        insertion_influence(_toy_predict, codes[:0], [short], CELLS)
    with pytest.raises(ValueError, match="n_insertions"):
        insertion_influence(_toy_predict, codes, [short], CELLS, n_insertions=0)
    with pytest.raises(ValueError, match="missing"):
        summarize_influence(pd.DataFrame({"motif": ["a"]}))


def _hand_table() -> pd.DataFrame:
    values = {
        "X": {"a": 3.0, "b": 2.0, "c": 1.0, "d": -1.0, "e": -2.0},
        "Y": {"a": 1.0, "b": 5.0, "c": 2.0, "d": -3.0, "e": 0.0},
    }
    rows = [(m, cell, v, 0.1) for cell, per in values.items() for m, v in per.items()]
    return pd.DataFrame(rows, columns=["motif", "cell", "influence", "sd"])


def test_summary_lists_and_shared_sets() -> None:
    summary = summarize_influence(_hand_table(), top=2)
    assert summary.top.query("cell == 'X'")["motif"].tolist() == ["a", "b"]
    assert summary.top.query("cell == 'Y'")["motif"].tolist() == ["b", "c"]
    assert summary.bottom.query("cell == 'Y'")["motif"].tolist() == ["d", "e"]
    assert summary.shared_top == ("b",)
    assert summary.shared_bottom == ("d", "e")
    assert summarize_influence(_hand_table(), top=3).shared_top == ("b", "a", "c")


def test_report_files(tmp_path: Path) -> None:
    table = _hand_table()
    summary = summarize_influence(table, top=2)
    written = write_insertion_report(table, summary, tmp_path / "report")
    assert set(written) == {INSERTION_FILE, INSERTION_TOP_FILE, INSERTION_MARKDOWN, INSERTION_PLOT}
    assert len(pd.read_csv(written[INSERTION_FILE])) == 10
    lists = pd.read_csv(written[INSERTION_TOP_FILE])
    assert set(lists["direction"]) == {"top", "bottom"} and len(lists) == 8
    text = written[INSERTION_MARKDOWN].read_text()
    assert "- top: b" in text and "- bottom: d, e" in text and "## Bottom motifs in Y" in text
    assert written[INSERTION_PLOT].read_bytes()[:4] == b"\x89PNG"
