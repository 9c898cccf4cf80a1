from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from exprflow.evaluation.expression import cross_gene, cross_individual
from exprflow.evaluation.plots import (
    plot_cross_gene,
    plot_cross_individual_histogram,
    plot_gene_scatter,
    plot_metric_bars,
)

PNG = b"\x89PNG\r\n\x1a\n"


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


def _cross_individual() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    observed = pd.DataFrame(rng.normal(size=(6, 20)), index=[f"G{i}" for i in range(6)])
    predicted = observed * np.array([[1], [-1], [0.1], [0], [1], [1]])
    predicted.iloc[3] = 2.0  # constant prediction
    return predicted, observed


def test_cross_gene_plot(tmp_path: Path) -> None:
    genes = [f"G{i}" for i in range(20)]
    observed = pd.DataFrame(
        np.random.default_rng(0).normal(size=(20, 5)),
        index=genes,
        columns=[f"E{i:03d}" for i in range(5)],
    )
    reference = observed.copy()
    reference.insert(0, "chrom", ["chr1"] * 15 + ["chr4"] * 5)
    reference.insert(0, "gene_id", genes)
    result = cross_gene(reference, observed, ["chr4"])
    dest = plot_cross_gene(
        result, tmp_path / "plots" / "cross_gene.png", first="E004", max_panels=2
    )
    assert dest == tmp_path / "plots" / "cross_gene.png" and _is_png(dest)
    assert [p.name for p in dest.parent.iterdir()] == ["cross_gene.png"]  # nothing left over


def test_cross_individual_histogram_and_gene_scatter(tmp_path: Path) -> None:
    result = cross_individual(*_cross_individual())
    assert _is_png(plot_cross_individual_histogram(result, tmp_path / "hist.png"))
    scatter = plot_gene_scatter(result, ["G0", "G1", "G3", "unknown"], tmp_path / "genes.png")
    assert _is_png(scatter)


def test_plots_without_genes_to_show(tmp_path: Path) -> None:
    predicted, observed = _cross_individual()
    result = cross_individual(predicted.loc[["G3"]], observed)  # constant only: nothing evaluated
    assert _is_png(plot_cross_individual_histogram(result, tmp_path / "hist.png"))
    assert _is_png(plot_gene_scatter(result, [], tmp_path / "genes.png"))


def test_metric_bars(tmp_path: Path) -> None:
    dest = plot_metric_bars(
        ["expecto\ntrain_tissue", "expecto\nexpecto_evaluate", "mlm\ntrain_mlm"],
        [0.5, float("nan"), 0.7],
        ["expecto", "expecto", "mlm"],
        tmp_path / "expression.png",
        title="expression: test_spearman",
        ylabel="test_spearman",
    )
    assert _is_png(dest)
    with pytest.raises(ValueError, match="2 labels, 1 values, 2 groups"):
        plot_metric_bars(["a", "b"], [1.0], ["a", "b"], dest, title="", ylabel="")
