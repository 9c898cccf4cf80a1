"""``expecto_effects`` through real ``mlflow run`` on the published ExPecto example."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.models.expecto.effects import effects_from_diffs
from exprflow.steps.expecto_effects import ExpectoEffectsParams, run

PROJECT_ROOT = Path(__file__).resolve().parents[2]
LCL = (
    "allhistones2000.1.fixed.all.pseudocount0.0001.lambda100.round100.basescore2."
    "Cells_EBV-transformed_lymphocytes.save"
)


def _example(real_dir: Path) -> dict[str, str]:
    example = real_dir / "expecto" / "example"
    return {
        "diffs": str(example / "example.vcf.shift_SHIFT.diff.h5"),
        "closest_genes": str(example / "example.vcf.bed.sorted.bed.closestgene"),
        "models": str(real_dir / "expecto" / LCL),
    }


@pytest.mark.integration
def test_effects_on_the_published_example_through_mlflow_run(
    tracking: str, real_dir: Path, tmp_path: Path
) -> None:
    inputs = _example(real_dir)
    output = tmp_path / "effects.csv"
    command = [str(Path(sys.executable).parent / "mlflow"), "run", str(PROJECT_ROOT)]
    command += ["-e", "expecto_effects", "--env-manager", "local"]
    for key, value in {**inputs, "output": str(output)}.items():
        command += ["-P", f"{key}={value}"]
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-4000:]

    written = pd.read_csv(output)
    expected = effects_from_diffs(inputs["diffs"], inputs["closest_genes"], inputs["models"])
    assert list(written.columns[:5]) == ["chrom", "position", "gene", "distance", "strand"]
    assert len(written) == 10
    np.testing.assert_allclose(written.iloc[:, 5].to_numpy(), expected.iloc[:, 5].to_numpy())
    (finished,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    assert finished.info.status == "FINISHED"
    assert finished.data.tags["exprflow.family"] == "expecto"
    names = {d.dataset.name for d in finished.inputs.dataset_inputs}
    assert {"closest_genes", "models", "diffs_shift_0", "diffs_shift_-800"} <= names
    assert finished.data.metrics["n_variants"] == 10


def test_a_pattern_without_shift_is_refused(tracking: str, real_dir: Path) -> None:
    inputs = _example(real_dir)
    inputs["diffs"] = inputs["diffs"].replace("SHIFT", "0")
    with pytest.raises(InputError, match="no SHIFT placeholder"):
        run(ExpectoEffectsParams(**inputs))


def test_required_inputs_are_named(tracking: str) -> None:
    with pytest.raises(InputError, match="closest_genes is required"):
        run(ExpectoEffectsParams(diffs="x.shift_SHIFT.h5", models="m.save"))
