"""``expecto_effects``: diff mode on the published ExPecto example (also through real
``mlflow run``), VCF mode on the tiny world, and the round trip between the two."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import mlflow
import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.genome.vcf import read_sites
from exprflow.models.expecto.effects import effects_from_diffs
from exprflow.models.expecto.tissue import load_tissue_models
from exprflow.simulate.world import load_manifest
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


def test_required_and_foreign_inputs_are_named(tracking: str) -> None:
    with pytest.raises(InputError, match="closest_genes is required in diff mode"):
        run(ExpectoEffectsParams(diffs="x.shift_SHIFT.h5", models="m.save"))
    with pytest.raises(InputError, match="fasta, chromatin_model, genes are required in VCF"):
        run(ExpectoEffectsParams(vcf="v.vcf", models="m.save"))
    vcf_mode = {"vcf": "v.vcf", "fasta": "g.fa", "chromatin_model": "b.pt", "genes": "g.gtf"}
    with pytest.raises(InputError, match="closest_genes does not apply in VCF mode"):
        run(ExpectoEffectsParams(**vcf_mode, models="m.save", closest_genes="c.closestgene"))
    with pytest.raises(InputError, match="chromatin_model, export_diffs do not apply in diff"):
        diff_mode = {"diffs": "x.shift_SHIFT.h5", "closest_genes": "c", "models": "m.save"}
        run(ExpectoEffectsParams(**diff_mode, chromatin_model="b.pt", export_diffs="out"))


def _picked_vcf(world: Path, folder: Path) -> Path:
    """A sites VCF of four of the world's variants (an indel among them), near genes."""
    variants = read_sites(load_manifest(world).path("vcf"))
    snvs = [v for v in variants if len(v.ref) == len(v.alt) == 1 and 40_000 < v.pos0 < 50_000]
    indel = next(v for v in variants if len(v.ref) != len(v.alt) and v.pos0 > 40_000)
    lines = ["##fileformat=VCFv4.2", "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]
    for v in sorted([*snvs[:3], indel], key=lambda v: v.pos0):
        lines.append(f"{v.chrom}\t{v.pos0 + 1}\t{v.id or '.'}\t{v.ref}\t{v.alt}\t.\t.\t.")
    path = folder / "picked.vcf"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_vcf_mode_then_diff_mode_on_its_export(
    tracking: str, tiny_world: Path, tiny_expecto: Any, tmp_path: Path
) -> None:
    manifest = load_manifest(tiny_world)
    vcf = _picked_vcf(tiny_world, tmp_path)
    prefix = tmp_path / "export" / "picked.vcf"
    outputs = run(
        ExpectoEffectsParams(
            vcf=str(vcf),
            fasta=str(manifest.path("fasta")),
            chromatin_model=str(tiny_expecto.checkpoint),
            genes=str(manifest.path("gene_list")),
            models=str(tiny_expecto.tissue_models),
            output=str(tmp_path / "vcf_mode.csv"),
            export_diffs=str(prefix),
        )
    )
    written = pd.read_csv(outputs["effects"])
    tissues = [t.tissue for t in load_tissue_models(tiny_expecto.modellist)]
    assert list(written.columns) == ["chrom", "position", "gene", "distance", "strand", *tissues]
    assert list(written["position"]) == list(
        pd.read_csv(vcf, sep="\t", comment="#", header=None)[1]
    )
    assert outputs["diffs"] == f"{prefix}.shift_SHIFT.diff.h5"
    (finished,) = mlflow.search_runs(search_all_experiments=True, output_format="list")
    metrics = finished.data.metrics
    assert metrics["n_variants"] == 4 and metrics["n_tissues"] == len(tissues)
    assert metrics["windows_requested"] == 4 * 18
    assert 4 * 9 < metrics["windows_evaluated"] <= 4 * 18
    names = {d.dataset.name for d in finished.inputs.dataset_inputs}
    assert names == {"vcf", "fasta", "genes", "chromatin_model", "models"}

    again = run(
        ExpectoEffectsParams(
            diffs=outputs["diffs"],
            closest_genes=outputs["closest_genes"],
            models=str(tiny_expecto.modellist),
            output=str(tmp_path / "diff_mode.csv"),
            vcf=str(vcf),
        )
    )
    pd.testing.assert_frame_equal(pd.read_csv(again["effects"]), written, rtol=1e-12)
