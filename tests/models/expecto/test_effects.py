from __future__ import annotations

import math
import re
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.models.expecto.effects import effect_shifts, effects_from_diffs, write_effects_csv
from exprflow.models.expecto.legacy import read_legacy_model
from exprflow.models.expecto.tissue import LinearTissueModel, load_tissue_models

CLOSEST = "example.vcf.bed.sorted.bed.closestgene"
PREDICT_PY_SHIFTS = [0, *range(-200, -801, -200), *range(200, 801, 200)]
# effects of the 10 example variants on the LCL model (computed by this implementation,
# pinned here; checked against the literal re-implementation below)
GOLDEN = [
    0.00365637,
    -0.00310955,
    -0.00277885,
    0.00137244,
    -0.005589,
    -0.00336853,
    -0.00267088,
    0.00670244,
    0.047702,
    -0.0165537,
]


def _predict_py(example: Path, save: Path) -> list[float]:
    """ExPecto's predict.py, literally: per variant, per shift, legacy layout, alt − ref."""
    effects_per_shift = []
    for shift in PREDICT_PY_SHIFTS:
        with h5py.File(example / f"example.vcf.shift_{shift}.diff.h5", "r") as h5:
            pred = np.asarray(h5["pred"])
        half = pred.shape[0] // 2
        effects_per_shift.append((pred[:half] + pred[half:]) / 2.0)
    raw = read_legacy_model(save)
    weights = raw.weights.astype(np.float64)
    out = []
    for i, line in enumerate((example / CLOSEST).read_text().splitlines()):
        row = line.split("\t")
        sign = 1 if row[8] == "+" else -1
        snpdist = -int(row[-1]) * sign
        diff = np.zeros(10 * 2002)
        for j, shift in enumerate(PREDICT_PY_SHIFTS):
            d = snpdist + shift * sign
            k = math.floor(abs(d) / 200.0)
            basis = [math.exp(-c * k) * (d <= 0) for c in (0.01, 0.02, 0.05, 0.1, 0.2)]
            basis += [math.exp(-c * k) * (d >= 0) for c in (0.01, 0.02, 0.05, 0.1, 0.2)]
            diff += np.tile(effects_per_shift[j][i], 10) * np.repeat(basis, 2002)
        legacy = np.concatenate([np.zeros((10, 1)), diff.reshape(10, 2002)], axis=1).reshape(-1)
        alt = raw.base_score + raw.bias + legacy @ weights
        ref = raw.base_score + raw.bias + (legacy * 0) @ weights
        out.append(alt - ref)
    return out


def test_real_example_matches_predict_py(example: Path, lcl: Path) -> None:
    pattern = str(example / "example.vcf.shift_SHIFT.diff.h5")
    table = effects_from_diffs(pattern, example / CLOSEST, lcl)
    assert list(table.columns) == [
        "chrom",
        "position",
        "gene",
        "distance",
        "strand",
        "Cells_EBV-transformed_lymphocytes",
    ]
    vcf = pd.read_csv(example / "example.vcf", sep="\t", header=None)
    np.testing.assert_array_equal(table["position"], vcf[1])
    assert table["gene"][8] == "ENSG00000120948" and table["distance"][8] == -50
    effects = table["Cells_EBV-transformed_lymphocytes"].to_numpy()
    np.testing.assert_allclose(effects, _predict_py(example, lcl), rtol=1e-9, atol=1e-15)
    np.testing.assert_allclose(effects, GOLDEN, rtol=1e-5)
    assert np.isfinite(effects).all() and np.all(effects != 0)


def test_vcf_matching_reorders_closest_genes(example: Path, lcl: Path, tmp_path: Path) -> None:
    pattern = str(example / "example.vcf.shift_SHIFT.diff.h5")
    lines = (example / CLOSEST).read_text().splitlines()
    shuffled = tmp_path / "shuffled.closestgene"
    shuffled.write_text("\n".join(lines[::-1]) + "\n")
    models = load_tissue_models(lcl)
    table = effects_from_diffs(pattern, shuffled, models, vcf=example / "example.vcf")
    np.testing.assert_allclose(table.iloc[:, -1], GOLDEN, rtol=1e-5)
    assert table["chrom"][0] == "chr1"
    shuffled.write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(InputError, match=r"shuffled\.closestgene: no closest gene .*'1 1265154'"):
        effects_from_diffs(pattern, shuffled, models, vcf=example / "example.vcf")


def _write_example(
    folder: Path,
    diffs: np.ndarray,
    distances: list[int],
    strand: str = "+",
    shifts: list[int] = PREDICT_PY_SHIFTS,
) -> tuple[str, Path]:
    """Shift files holding ``diffs`` (n_shifts, n, F) on both strands, and a closest-gene file."""
    for shift, diff in zip(shifts, diffs, strict=True):
        with h5py.File(folder / f"v.shift_{shift}.diff.h5", "w") as h5:
            h5["pred"] = np.concatenate([diff, diff]).astype(np.float32)
    rows = []
    for i, dist in enumerate(distances):
        pos, tss = 100_000 + 1000 * i, 100_000 + 1000 * i + dist
        rows.append(f"1\t{pos - 1}\t{pos}\tA\tG\t1\t{tss - 1}\t{tss}\t{strand}\tG{i}\t{dist}")
    closest = folder / "v.closestgene"
    closest.write_text("\n".join(rows) + "\n")
    return str(folder / "v.shift_SHIFT.diff.h5"), closest


def _ones_model(n_chromatin: int) -> LinearTissueModel:
    return LinearTissueModel(np.ones(10 * n_chromatin), 0.7, 2.0, tissue="toy", source="toy.json")


def test_hand_computed_effect_at_the_tss(tmp_path: Path) -> None:
    diffs = np.full((9, 1, 2), 0.25)
    pattern, closest = _write_example(tmp_path, diffs, [0])
    table = effects_from_diffs(pattern, closest, [_ones_model(2)])
    per_side = sum(math.exp(-c * k) for c in (0.01, 0.02, 0.05, 0.1, 0.2) for k in range(5))
    assert table["toy"][0] == pytest.approx(0.25 * 2 * 2 * per_side, rel=1e-12)


@pytest.mark.parametrize("strand", ["+", "-"])
def test_effects_decay_with_distance(tmp_path: Path, strand: str) -> None:
    distances = [0, 300, 1000, 5000, 15000, 30000]
    both = distances + [-d for d in distances[1:]]
    diffs = np.full((9, len(both), 3), 0.5)
    pattern, closest = _write_example(tmp_path, diffs, both, strand)
    effects = effects_from_diffs(pattern, closest, [_ones_model(3)])["toy"].to_numpy()
    down, up = effects[: len(distances)], np.concatenate([effects[:1], effects[len(distances) :]])
    assert np.all(np.diff(np.abs(down)) < 0) and np.all(np.diff(np.abs(up)) < 0)
    np.testing.assert_allclose(down, up, rtol=1e-12)  # equal diffs at every shift: symmetric


def test_missing_shift_file(tmp_path: Path) -> None:
    shifts = [s for s in PREDICT_PY_SHIFTS if s != 400]
    pattern, closest = _write_example(tmp_path, np.ones((8, 2, 2)), [0, 1], shifts=shifts)
    with pytest.raises(InputError, match=r"v\.shift_400\.diff\.h5: missing .* shift 400"):
        effects_from_diffs(pattern, closest, [_ones_model(2)])


def test_row_count_mismatch(tmp_path: Path) -> None:
    pattern, closest = _write_example(tmp_path, np.ones((9, 3, 2)), [0, 1, 2])
    closest.write_text("\n".join(closest.read_text().splitlines()[:2]) + "\n")
    with pytest.raises(
        InputError, match=r"v\.closestgene: 2 rows, but .*v\.shift_0\.diff\.h5 holds 3"
    ):
        effects_from_diffs(pattern, closest, [_ones_model(2)])


def test_inconsistent_shift_files(tmp_path: Path) -> None:
    pattern, closest = _write_example(tmp_path, np.ones((9, 2, 2)), [0, 1])
    with h5py.File(tmp_path / "v.shift_800.diff.h5", "w") as h5:
        h5["pred"] = np.ones((6, 2), dtype=np.float32)
    with pytest.raises(InputError, match=r"shift_800\.diff\.h5: pred: 'pred' has shape \(6, 2\)"):
        effects_from_diffs(pattern, closest, [_ones_model(2)])
    with h5py.File(tmp_path / "v.shift_800.diff.h5", "w") as h5:
        h5["other"] = np.ones((4, 2), dtype=np.float32)
    with pytest.raises(InputError, match="no dataset 'pred'"):
        effects_from_diffs(pattern, closest, [_ones_model(2)])


def test_model_with_wrong_feature_count(tmp_path: Path, lcl: Path) -> None:
    pattern, closest = _write_example(tmp_path, np.ones((9, 2, 2)), [0, 1])
    with pytest.raises(
        InputError, match=rf"{re.escape(lcl.name)}: .*takes 20030 features .* have 2 features"
    ):
        effects_from_diffs(pattern, closest, lcl)
    with pytest.raises(InputError, match=r"toy\.json: toy: model takes 30 features"):
        effects_from_diffs(pattern, closest, [_ones_model(3)])


def test_effect_shifts_order() -> None:
    assert effect_shifts() == PREDICT_PY_SHIFTS
    assert effect_shifts(0) == [0]
    with pytest.raises(ValueError, match="multiple of 200"):
        effect_shifts(300)


def test_write_effects_csv_is_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pattern, closest = _write_example(tmp_path, np.ones((9, 2, 2)), [0, 1])
    table = effects_from_diffs(pattern, closest, [_ones_model(2)])
    dest = tmp_path / "out" / "effects.csv"
    write_effects_csv(table, dest)
    back = pd.read_csv(dest)
    assert list(back.columns) == list(table.columns)
    np.testing.assert_allclose(back["toy"], table["toy"], rtol=1e-15)

    def broken(self: pd.DataFrame, path: Path, **kwargs: object) -> None:
        Path(path).write_text("chrom,position\n1,")
        raise OSError("disk full")

    monkeypatch.setattr(pd.DataFrame, "to_csv", broken)
    fresh = tmp_path / "out" / "fresh.csv"
    with pytest.raises(OSError, match="disk full"):
        write_effects_csv(table, fresh)
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["effects.csv"]
    with pytest.raises(ValueError, match="lacks columns"):
        write_effects_csv(table.drop(columns="gene"), fresh)
