from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import r2_score, roc_auc_score

from exprflow.errors import InputError
from exprflow.evaluation.chromatin_report import (
    REPORT_FILES,
    cv_metrics,
    heatmap_name,
    mark_ranking,
    mark_set_order,
    plot_mark_heatmap,
    pooled_metrics,
    summarise_folds,
    write_cv_report,
)

PNG = b"\x89PNG\r\n\x1a\n"
ALL = "H3K4me1+H3K4me3+H3K27ac"
#: Per-fold Pearson of E003 (two folds); E116 is 0.1 lower everywhere.
E003 = {
    "H3K27ac": [0.5, 0.5],
    "H3K4me3": [0.6, 0.8],
    "H3K4me1": [0.2, 0.4],
    "H3K4me3+H3K27ac": [0.85, 0.85],
    "H3K4me1+H3K4me3": [0.7, 0.9],
    "H3K4me1+H3K27ac": [0.5, 0.6],
    ALL: [0.9, 0.9],
}


def _mark_set(marks: str) -> str:
    return "all" if marks == ALL else ("pair" if "+" in marks else "single")


def _results() -> pd.DataFrame:
    rows = []
    for eid, shift in (("E116", -0.1), ("E003", 0.0)):
        for marks, values in E003.items():
            for fold, value in enumerate(values, start=1):
                common = {"model": "cnn", "eid": eid, "marks": marks, "fold": fold}
                common |= {"mark_set": _mark_set(marks), "n_test": 10, "seconds": 1.0}
                regression = {"pearson": value + shift, "spearman": value, "auroc": np.nan}
                rows.append(common | {"task": "regression", **regression})
                clf = {"pearson": np.nan, "spearman": np.nan, "auroc": 0.5 + value / 2}
                rows.append(common | {"task": "classification", **clf})
    return pd.DataFrame(rows)


def _predictions(n: int = 24) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    target = rng.normal(size=n)
    prediction = target + rng.normal(scale=0.7, size=n)
    frame = pd.DataFrame(
        {
            "model": "cnn",
            "task": "regression",
            "eid": "E003",
            "marks": "H3K4me3",
            "fold": np.repeat([1, 2], n // 2),
            "gene_id": [f"G{i}" for i in range(n)],
            "target": target,
            "prediction": prediction,
        }
    )
    return frame, target, prediction


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


def test_summary_means_sds_and_order() -> None:
    summary = summarise_folds(_results())
    assert len(summary) == 2 * 2 * len(E003)
    row = summary.set_index(["task", "eid", "marks"]).loc[("regression", "E003", "H3K4me3")]
    assert row["pearson_mean"] == pytest.approx(0.7)
    assert row["pearson_sd"] == pytest.approx(np.std([0.6, 0.8], ddof=1))
    assert row["n_folds"] == 2 and row["n_test"] == 20 and row["mark_set"] == "single"
    assert np.isnan(row["auroc_mean"]) and np.isnan(row["pearson_pooled"])
    first = summary[(summary["task"] == "classification") & (summary["eid"] == "E003")]
    assert list(first["marks"]) == [
        "H3K4me1",
        "H3K4me3",
        "H3K27ac",
        "H3K4me1+H3K4me3",
        "H3K4me1+H3K27ac",
        "H3K4me3+H3K27ac",
        ALL,
    ]
    assert list(dict.fromkeys(summary["eid"])) == ["E003", "E116"]
    assert mark_set_order(summary) == list(first["marks"])


def test_one_fold_has_undefined_sd() -> None:
    results = _results()
    summary = summarise_folds(results[results["fold"] == 1])
    assert summary["pearson_sd"].isna().all() and (summary["n_folds"] == 1).all()


def test_pooled_metric_equals_scipy_on_concatenated_predictions() -> None:
    predictions, target, prediction = _predictions()
    summary = summarise_folds(_results(), predictions)
    keyed = summary.set_index(["task", "eid", "marks"])
    row = keyed.loc[("regression", "E003", "H3K4me3")]
    assert row["pearson_pooled"] == pytest.approx(stats.pearsonr(prediction, target).statistic)
    assert row["spearman_pooled"] == pytest.approx(stats.spearmanr(prediction, target).statistic)
    assert row["r2_pooled"] == pytest.approx(r2_score(target, prediction))
    assert np.isnan(keyed.loc[("regression", "E116", "H3K4me3"), "pearson_pooled"])


def test_pooled_metrics_classification_and_undefined() -> None:
    label = np.array([0, 0, 1, 1, 0, 1])
    probability = np.array([0.1, 0.6, 0.4, 0.9, 0.2, 0.8])
    auroc = pooled_metrics("classification", label, probability)["auroc"]
    assert auroc == pytest.approx(roc_auc_score(label, probability))
    assert np.isnan(pooled_metrics("classification", np.ones(6), probability)["auroc"])
    constant = pooled_metrics("regression", np.ones(6), probability)
    assert all(np.isnan(v) for v in constant.values())
    with pytest.raises(ValueError, match="task must be one of"):
        pooled_metrics("ranking", label, probability)


def test_mark_ranking_order_and_best_partner() -> None:
    summary = summarise_folds(_results())
    ranking = mark_ranking(summary[summary["task"] == "regression"], "pearson")
    assert list(ranking["mark"]) == ["H3K4me3", "H3K27ac", "H3K4me1"]
    assert list(ranking["rank"]) == [1, 2, 3]
    top = ranking.iloc[0]
    assert top["mean_over_cells"] == pytest.approx((0.7 + 0.6) / 2)
    assert top["sd_over_cells"] == pytest.approx(np.std([0.7, 0.6], ddof=1))
    assert top["best_partner"] == "H3K27ac" and top["n_cells"] == 2
    assert top["pair_mean_over_cells"] == pytest.approx((0.85 + 0.75) / 2)
    assert top["pair_gain"] == pytest.approx(0.8 - 0.65)
    last = ranking.iloc[2]
    assert last["best_partner"] == "H3K4me3"
    assert last["all_marks_mean_over_cells"] == pytest.approx(0.85)
    # classification rows have no Pearson: no ranking for them
    assert mark_ranking(summary[summary["task"] == "classification"], "pearson").empty
    assert list(mark_ranking(summary, "auroc")["task"].unique()) == ["classification"]


def test_cv_metrics_names_and_values() -> None:
    metrics = cv_metrics(summarise_folds(_results()))
    assert metrics["cnn_regression_pearson_H3K4me3"] == pytest.approx(0.65)
    assert metrics["cnn_regression_pearson_all"] == pytest.approx(0.85)
    assert metrics["cnn_regression_best_pearson"] == pytest.approx(0.85)
    assert metrics["cnn_regression_best_pair_pearson"] == pytest.approx(0.8)
    assert metrics["cnn_regression_spearman_H3K4me1"] == pytest.approx(0.3)
    assert metrics["cnn_classification_auroc_H3K4me3"] == pytest.approx(0.85)
    assert "cnn_classification_pearson_H3K4me3" not in metrics
    renamed = _results().assign(model="cnn+v2")
    assert "cnn-v2_regression_best_pearson" in cv_metrics(summarise_folds(renamed))


def test_write_cv_report(tmp_path: Path) -> None:
    predictions, _, _ = _predictions()
    metrics = write_cv_report(_results(), predictions, tmp_path / "cv")
    folder = tmp_path / "cv"
    for name in REPORT_FILES.values():
        assert (folder / name).stat().st_size > 0, name
    for task in ("regression", "classification"):
        assert _is_png(folder / heatmap_name("cnn", task))
    ranking = pd.read_csv(folder / "ranking.csv")
    assert list(ranking["metric"].unique()) == ["pearson", "auroc"]
    assert len(pd.read_csv(folder / "predictions.csv.gz")) == len(predictions)
    report = (folder / "summary.md").read_text()
    assert "## Mark ranking: cnn, regression (pearson" in report
    assert "](heatmap_cnn_regression.png)" in report
    assert metrics["cnn_regression_pearson_H3K4me3"] == pytest.approx(0.65)
    assert not [p for p in folder.iterdir() if p.name.startswith(".")]


def test_heatmap_with_missing_values(tmp_path: Path) -> None:
    results = _results()
    results = results[~((results["eid"] == "E116") & (results["marks"] == "H3K4me1"))]
    summary = summarise_folds(results)
    dest = plot_mark_heatmap(summary, "cnn", "regression", "pearson", tmp_path / "h.png")
    assert _is_png(dest)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda t: t.drop(columns="mark_set"), r"missing column\(s\) \['mark_set'\]"),
        (lambda t: t.drop(columns=["pearson", "spearman", "auroc"]), "no metric column"),
        (lambda t: t.iloc[:0], "has no rows"),
        (lambda t: t.assign(task="ranking"), "unknown task"),
        (lambda t: t.assign(mark_set="single"), "marks do not match mark_set"),
        (lambda t: t.assign(mark_set="triple"), "mark_set not in"),
        (lambda t: t.assign(fold=0), "bad fold"),
        (lambda t: pd.concat([t, t.iloc[:1]]), "appear twice"),
    ],
)
def test_bad_results(change, message) -> None:
    results = change(_results())
    results.attrs["path"] = "folds.csv"
    with pytest.raises(InputError, match=message) as err:
        summarise_folds(results)
    assert "folds.csv" in str(err.value)


def test_bad_predictions() -> None:
    predictions, _, _ = _predictions()
    with pytest.raises(InputError, match=r"missing column\(s\) \['target'\]"):
        summarise_folds(_results(), predictions.drop(columns="target"))
    twice = predictions.assign(gene_id="G0")
    with pytest.raises(InputError, match="predicted twice"):
        summarise_folds(_results(), twice)
    with pytest.raises(InputError, match="no fold results"):
        summarise_folds(_results(), predictions.assign(eid="E999"))


def test_bad_ranking_and_heatmap_requests(tmp_path: Path) -> None:
    summary = summarise_folds(_results())
    with pytest.raises(InputError, match="has no column 'r2_mean'"):
        mark_ranking(summary, "r2")
    with pytest.raises(InputError, match="no rows of model 'chromoformer'"):
        plot_mark_heatmap(summary, "chromoformer", "regression", "pearson", tmp_path / "x.png")
    assert not (tmp_path / "x.png").exists()
