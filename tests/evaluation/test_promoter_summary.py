"""The promoter grid summary: mean ± sd over seeds × splits, the ranking and the report files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.evaluation.promoter_summary import (
    MEAN_OVER_CELLS,
    REPORT_FILES,
    bar_plot_name,
    strategy_ranking,
    summarize_runs,
    summary_metrics,
    write_promoter_report,
)

PNG = b"\x89PNG\r\n\x1a\n"
CELLS = ("JURKAT", "K562", "THP1")
PRETRAIN = "SuRE_classification,Sharpr_MPRA"
#: Spearman of run (split, seed) in cell c: base + 0.1·split + 0.02·seed + CELL_SHIFT[c].
CELL_SHIFT = {"JURKAT": 0.0, "K562": 0.06, "THP1": -0.03}
BASE = {("single_task", ""): 0.4, ("pretrain+finetune", PRETRAIN): 0.5, ("joint", PRETRAIN): 0.3}


def _runs() -> pd.DataFrame:
    rows = []
    for (strategy, tasks), base in BASE.items():
        for split in (0, 1):
            for seed in (0, 1):
                for cell in CELLS:
                    value = base + 0.1 * split + 0.02 * seed + CELL_SHIFT[cell]
                    key = {"model": "MTLucifer", "strategy": strategy, "tasks": tasks}
                    key |= {"split": split, "seed": seed, "cell": cell}
                    rows.append(
                        key | {"pearson": value + 0.1, "spearman": value, "r2": value - 0.2}
                    )
    return pd.DataFrame(rows)


def test_mean_and_sd_are_over_seeds_and_splits() -> None:
    summary = summarize_runs(_runs())
    assert len(summary) == 3 * 4
    first = summary.iloc[:4]
    assert list(first["cell"]) == [*CELLS, MEAN_OVER_CELLS]
    assert set(first["strategy"]) == {"single_task"}
    # JURKAT single task: values 0.40, 0.42, 0.50, 0.52
    values = np.array([0.40, 0.42, 0.50, 0.52])
    jurkat = first.iloc[0]
    assert jurkat["n"] == 4
    assert jurkat["spearman_mean"] == pytest.approx(values.mean())
    assert jurkat["spearman_sd"] == pytest.approx(values.std(ddof=1))
    assert jurkat["pearson_mean"] == pytest.approx(values.mean() + 0.1)
    assert jurkat["r2_sd"] == pytest.approx(values.std(ddof=1))
    # mean over cells: each run shifted by mean(CELL_SHIFT) = 0.01, same spread
    mean_row = first.iloc[3]
    assert mean_row["n"] == 4
    assert mean_row["spearman_mean"] == pytest.approx(values.mean() + 0.01)
    assert mean_row["spearman_sd"] == pytest.approx(values.std(ddof=1))


def test_mean_over_cells_averages_each_run_first() -> None:
    runs = _runs()
    runs = runs[runs["strategy"] == "single_task"].copy()
    runs.loc[(runs["split"] == 1) & (runs["cell"] == "THP1"), "spearman"] = np.nan
    row = summarize_runs(runs).set_index("cell").loc[MEAN_OVER_CELLS]
    per_run = [
        np.mean([0.40, 0.46, 0.37]),
        np.mean([0.42, 0.48, 0.39]),
        np.mean([0.50, 0.56]),
        np.mean([0.52, 0.58]),
    ]
    assert row["spearman_mean"] == pytest.approx(np.mean(per_run))
    assert row["spearman_sd"] == pytest.approx(np.std(per_run, ddof=1))


def test_one_run_has_nan_sd_and_missing_tasks_count_as_empty() -> None:
    runs = _runs().query("split == 0 and seed == 0 and strategy == 'single_task'").copy()
    runs["tasks"] = np.nan
    summary = summarize_runs(runs)
    assert set(summary["tasks"]) == {""}
    assert summary["n"].tolist() == [1] * 4
    assert summary["spearman_sd"].isna().all()


def test_ranking_orders_configurations_by_mean_spearman() -> None:
    ranking = strategy_ranking(summarize_runs(_runs()))
    assert ranking["rank"].tolist() == [1, 2, 3]
    assert ranking["strategy"].tolist() == ["pretrain+finetune", "single_task", "joint"]
    assert ranking["spearman_mean"].iloc[0] == pytest.approx(0.5 + 0.05 + 0.01 + 0.01)
    assert "cell" not in ranking.columns


def test_summary_metrics_have_mlflow_safe_names() -> None:
    metrics = summary_metrics(summarize_runs(_runs()))
    assert metrics["MTLucifer_single_task_mean_spearman_mean"] == pytest.approx(0.47)
    name = "MTLucifer_pretrain-finetune_SuRE_classification-Sharpr_MPRA_K562_pearson_sd"
    assert name in metrics


def test_report_writes_tables_markdown_and_plots(tmp_path: Path) -> None:
    written = write_promoter_report(_runs(), tmp_path / "report")
    names = [p.name for p in written]
    plots = [bar_plot_name(m) for m in ("pearson", "spearman", "r2")]
    assert names == [*REPORT_FILES.values(), *plots]
    assert all(p.is_file() for p in written)
    assert all(p.read_bytes().startswith(PNG) for p in written if p.suffix == ".png")
    summary = pd.read_csv(tmp_path / "report" / "summary.csv", keep_default_na=False)
    assert len(summary) == 12
    ranking = pd.read_csv(tmp_path / "report" / "ranking.csv")
    assert ranking["strategy"].iloc[0] == "pretrain+finetune"
    assert len(pd.read_csv(tmp_path / "report" / "runs.csv")) == 36
    markdown = (tmp_path / "report" / "summary.md").read_text()
    assert "0.470 ± 0.059" in markdown  # single task, mean over cells, Spearman
    assert "![bars_spearman.png](bars_spearman.png)" in markdown


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="r2"), r"missing column\(s\) \['r2'\]"),
        (lambda t: t.iloc[:0], "has no rows"),
        (lambda t: t.assign(seed=t["seed"] + 0.5), "seed is not an integer"),
        (lambda t: t.assign(split="a"), "split is not an integer"),
        (lambda t: pd.concat([t, t.iloc[:1]]), "appear twice"),
        (lambda t: t.assign(cell=MEAN_OVER_CELLS), "reserved cell name"),
    ],
)
def test_bad_run_tables_are_refused(
    change: Callable[[pd.DataFrame], pd.DataFrame], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        summarize_runs(change(_runs()))


def test_ranking_needs_a_summary() -> None:
    with pytest.raises(InputError, match="no 'mean over cells' rows"):
        strategy_ranking(_runs())
