from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from exprflow.data.chromatin_dataset import ChromatinFeatures
from exprflow.errors import InputError
from exprflow.evaluation.chromatin_activity import (
    ACTIVITY_COLUMNS,
    ACTIVITY_FILES,
    OTHER,
    SUMMARY_COLUMNS,
    activity_summary,
    cell_class,
    dataset_activity,
    mark_activity,
    plot_mark_activity,
    write_activity_report,
)

PNG = b"\x89PNG\r\n\x1a\n"
MARKS = ("H3K4me3", "H3K27me3")
GENES = ("G0", "G1", "G2")


def _promoter_100(n_genes: int = 3) -> np.ndarray:
    """Mark 0 of gene i: i + 1 in the CNN window (bins 170..229), 0 elsewhere; mark 1: 2 i."""
    bins = np.zeros((n_genes, 400, 2), np.float32)
    for i in range(n_genes):
        bins[i, 170:230, 0] = i + 1
        bins[i, :, 1] = 2 * i
    return bins


def _features(eid: str = "E003") -> ChromatinFeatures:
    promoter = _promoter_100()
    return ChromatinFeatures(
        eid=eid,
        gene_id=np.array(GENES),
        marks=MARKS,
        promoter={2000: promoter[:, ::20], 500: promoter[:, ::5], 100: promoter},
        pcre={r: np.zeros((3, 8, 40000 // r, 2), np.float32) for r in (2000, 500, 100)},
        pcre_length=np.zeros((3, 8), np.int32),
        pcre_score=np.zeros((3, 8), np.float32),
    )


def _meta() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "gene_id": ["G2", "G0", "G1", "G0", "G1"],
            "expression": [3.0, 0.0, 1.0, 7.0, 0.0],
            "eid": ["E003", "E003", "E003", "E123", "E123"],
            "label": [1, 0, 1, 1, 0],
        }
    )


def _is_png(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 1000 and path.read_bytes()[:8] == PNG


def test_cell_classes() -> None:
    expected = {
        "E003": "ESC",
        "E016": "ESC",
        "E005": "ESC-derived",
        "E007": "ESC-derived",
        "E114": "cancer line",
        "E118": "cancer line",
        "E123": "cancer line",
        "E066": "primary",
        "E116": "primary",
        "E122": "primary",
        "E999": OTHER,
    }
    assert {eid: cell_class(eid) for eid in expected} == expected


def test_mark_activity_by_hand() -> None:
    table = mark_activity(_features(), _meta())
    assert tuple(table.columns) == ACTIVITY_COLUMNS and len(table) == 2 * 3 * 2
    assert set(table["eid"]) == {"E003"} and set(table["cell_class"]) == {"ESC"}
    keyed = table.set_index(["window", "gene_id", "mark"])
    for i, gene in enumerate(GENES):
        assert keyed.loc[("promoter_6kb", gene, "H3K4me3"), "activity"] == pytest.approx(i + 1)
        assert keyed.loc[("window_40kb", gene, "H3K4me3"), "activity"] == pytest.approx(
            60 * (i + 1) / 400
        )
        for window in ("promoter_6kb", "window_40kb"):
            assert keyed.loc[(window, gene, "H3K27me3"), "activity"] == pytest.approx(2 * i)
    g2 = keyed.loc[("window_40kb", "G2", "H3K27me3")]
    assert g2["log2_rpkm"] == pytest.approx(2.0) and g2["label"] == 1
    # genes in the order of the metadata rows, marks in feature order
    assert list(table["gene_id"][:6]) == ["G2", "G2", "G0", "G0", "G1", "G1"]
    assert list(table["mark"][:2]) == list(MARKS)


def test_activity_summary_by_hand() -> None:
    table = pd.concat([mark_activity(_features(eid), _meta()) for eid in ("E003", "E123")])
    summary = activity_summary(table)
    assert tuple(summary.columns) == SUMMARY_COLUMNS and len(summary) == 2 * 2 * 2
    assert list(summary["cell_class"][:2]) == ["ESC", "ESC"]
    assert list(summary["mark"][:2]) == list(MARKS)
    row = summary.set_index(["window", "cell_class", "mark"]).loc[
        ("promoter_6kb", "ESC", "H3K4me3")
    ]
    # E003: expressed G2 (3), G1 (2); not expressed G0 (1)
    assert (row["n_expressed"], row["n_not_expressed"]) == (2, 1)
    assert row["mean_expressed"] == pytest.approx(2.5)
    assert row["mean_not_expressed"] == pytest.approx(1.0)
    assert row["difference"] == pytest.approx(1.5)
    cancer = summary.set_index(["window", "cell_class", "mark"]).loc[
        ("window_40kb", "cancer line", "H3K27me3")
    ]
    # E123: expressed G0 (0), not expressed G1 (2)
    assert cancer["difference"] == pytest.approx(-2.0)


def test_summary_with_one_side_missing() -> None:
    meta = _meta().assign(label=1)
    summary = activity_summary(mark_activity(_features(), meta))
    assert (summary["n_not_expressed"] == 0).all()
    assert summary["mean_not_expressed"].isna().all() and summary["difference"].isna().all()


def test_write_activity_report(tmp_path: Path) -> None:
    table = pd.concat([mark_activity(_features(eid), _meta()) for eid in ("E003", "E123")])
    paths = write_activity_report(table, tmp_path / "activity")
    assert set(paths) == {"table", "summary", "plot_promoter_6kb", "plot_window_40kb"}
    assert paths["table"].name == ACTIVITY_FILES["table"]
    assert len(pd.read_csv(paths["table"])) == len(table)
    assert len(pd.read_csv(paths["summary"])) == 8
    assert _is_png(paths["plot_promoter_6kb"]) and _is_png(paths["plot_window_40kb"])
    one_sided = mark_activity(_features(), _meta().assign(label=0))  # no expressed gene
    assert _is_png(plot_mark_activity(one_sided, tmp_path / "one.png", window="window_40kb"))


def _write_features(folder: Path, features: ChromatinFeatures) -> None:
    """The documented ``features/<eid>.h5`` layout."""
    (folder / "features").mkdir(parents=True, exist_ok=True)
    with h5py.File(folder / "features" / f"{features.eid}.h5", "w") as h5:
        h5.attrs.update(eid=features.eid, marks=list(features.marks))
        h5.attrs.update(resolutions=[2000, 500, 100], window=40000, max_pcres=8)
        h5["gene_id"] = np.array(features.gene_id, dtype=h5py.string_dtype())
        for r in (2000, 500, 100):
            h5[f"promoter_{r}"] = features.promoter[r]
            h5[f"pcre_{r}"] = features.pcre[r]
        h5["pcre_length"] = features.pcre_length
        h5["pcre_score"] = features.pcre_score


def test_dataset_activity(tmp_path: Path) -> None:
    for eid in ("E003", "E123"):
        _write_features(tmp_path, _features(eid))
    table = dataset_activity(tmp_path, _meta(), genes=["G1"], marks=["H3K27me3"])
    assert list(table["eid"]) == ["E003", "E003", "E123", "E123"]
    assert table["activity"].tolist() == pytest.approx([2.0] * 4)
    with pytest.raises(InputError, match="no gene of the metadata"):
        dataset_activity(tmp_path, _meta(), genes=["G9"])


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (_meta().drop(columns="label"), r"missing column\(s\) \['label'\]"),
        (_meta().assign(eid="E116"), "no rows of cell type E003"),
        (_meta().assign(gene_id="G1"), "gene appears twice"),
        (_meta().replace({"gene_id": {"G2": "G7"}}), "G7: gene is not in the chromatin"),
    ],
)
def test_bad_metadata(meta: pd.DataFrame, message: str) -> None:
    meta.attrs["path"] = "train.csv"
    with pytest.raises(InputError, match=message) as err:
        mark_activity(_features(), meta)
    assert "train.csv" in str(err.value)


def test_bad_features_and_tables(tmp_path: Path) -> None:
    features = _features()
    coarse = ChromatinFeatures(**{**features.__dict__, "promoter": {2000: features.promoter[2000]}})
    with pytest.raises(InputError, match="no 100 bp promoter bins"):
        mark_activity(coarse, _meta())
    wrong = ChromatinFeatures(**{**features.__dict__, "marks": ("H3K4me3",)})
    with pytest.raises(InputError, match="expected"):
        mark_activity(wrong, _meta())
    table = mark_activity(features, _meta())
    with pytest.raises(InputError, match="no rows of window 'tss'"):
        plot_mark_activity(table, tmp_path / "x.png", window="tss")
    with pytest.raises(InputError, match=r"missing column\(s\) \['activity'\]"):
        activity_summary(table.drop(columns="activity"))
