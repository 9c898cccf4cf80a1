"""``train_basenji2`` on the tiny world (tiny params, 131,072 bp), then ``embed_basenji2`` with it.

The trained model's ``params`` and ``weights`` outputs feed ``embed_basenji2``, whose
embeddings must be the trained trunk's (not a seeded random trunk's).
"""

from __future__ import annotations

import json
from pathlib import Path

import mlflow
import numpy as np
import pytest
from tests.steps._runs import latest_run

from exprflow.embedding.reader import EmbeddingFile
from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.onehot import ACGT, one_hot
from exprflow.models.basenji2.config import Basenji2Config
from exprflow.simulate.world import load_manifest
from exprflow.steps.embed_basenji2 import EmbedBasenji2Params
from exprflow.steps.embed_basenji2 import run as run_embed
from exprflow.steps.train_basenji2 import LABELS_ROOT, TrainBasenji2Params, run

N_TRACKS = 3 * 8  # the tiny world's cell types × chromatin marks


@pytest.fixture(scope="module")
def regions(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six of the world's regions: 4 train, 1 valid, 1 test (an epoch takes ~1 s)."""
    lines = load_manifest(tiny_world).path("sequences_bed").read_text().splitlines(True)
    by_fold = {f: [x for x in lines if x.rstrip().endswith(f)] for f in ("train", "valid", "test")}
    path = tmp_path_factory.mktemp("regions") / "sequences.bed"
    path.write_text("".join(by_fold["train"][:4] + by_fold["valid"][:1] + by_fold["test"][:1]))
    return path


@pytest.fixture(scope="module")
def trained(module_tracking: Path, tiny_world: Path, regions: Path) -> dict[str, str]:
    params = TrainBasenji2Params(
        world=str(tiny_world), regions=str(regions), epochs=2, min_updates=0
    )
    return run(params)


def test_trains_and_logs_the_model(trained: dict[str, str], module_tracking: Path) -> None:
    run_id = trained["params"].split("/")[1]
    assert trained["params"] == f"runs:/{run_id}/basenji2/params.json"
    assert trained["weights"] == f"runs:/{run_id}/basenji2/model.h5"
    client = mlflow.MlflowClient()
    finished = client.get_run(run_id)
    assert finished.data.params["n_tracks"] == str(N_TRACKS)
    assert (finished.data.params["n_train"], finished.data.params["n_valid"]) == ("4", "1")
    assert finished.data.tags["exprflow.step"] == "train_basenji2"
    assert finished.data.tags["exprflow.labels"].startswith(
        str(module_tracking / "data" / LABELS_ROOT)
    )
    assert {d.dataset.name for d in finished.inputs.dataset_inputs} == {"fasta", "regions"}
    for name in ("train_loss", "valid_loss", "train_pearson", "valid_pearson"):
        history = client.get_metric_history(run_id, name)
        assert [m.step for m in history] == [1, 2] and all(np.isfinite(m.value) for m in history)
    assert finished.data.metrics["best_epoch"] in (1, 2)
    files = {a.path for a in client.list_artifacts(run_id, "basenji2")}
    assert files == {"basenji2/params.json", "basenji2/model.h5", "basenji2/targets.txt"}
    document = json.loads(Path(mlflow.artifacts.download_artifacts(trained["params"])).read_text())
    assert document["model"]["head_human"]["units"] == N_TRACKS
    assert document["exprflow"]["targets"][:2] == ["E116_DNase", "E116_H3K27ac"]
    assert document["exprflow"]["bin_size"] == 128 and document["exprflow"]["crop_bp"] == 8192


def test_embed_basenji2_uses_the_trained_trunk(
    trained: dict[str, str],
    tiny_world: Path,
    regions: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from exprflow.models.basenji2.trunk import load_trunk

    monkeypatch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path / "data"))
    manifest = load_manifest(tiny_world)
    outputs = run_embed(EmbedBasenji2Params(world=str(tiny_world), regions=str(regions),
                                            params=trained["params"], weights=trained["weights"],
                                            batch_size=3))  # fmt: skip
    config = Basenji2Config.from_params(mlflow.artifacts.download_artifacts(trained["params"]))
    weights = Path(mlflow.artifacts.download_artifacts(trained["weights"]))
    with EmbeddingFile(outputs["embeddings"]) as emb:
        first = emb.region(0).astype(np.float32)
        chrom, start, end = emb.regions.iloc[0][["chrom", "start", "end"]]
    with Genome(manifest.path("fasta")) as genome:
        x = one_hot(genome.fetch(chrom, int(start), int(end)), ACGT)[None]
    expected = np.asarray(load_trunk(config, weights, 0, "float32")(x, training=False))[0]
    random = np.asarray(load_trunk(config, None, 0, "float32")(x, training=False))[0]
    np.testing.assert_allclose(first, expected, rtol=2e-3, atol=2e-3)
    assert np.abs(first - random).mean() > 100 * np.abs(first - expected).mean()


def test_a_targets_table_naming_a_missing_file(tiny_world: Path, tmp_path: Path) -> None:
    table = tmp_path / "targets.txt"
    table.write_text(
        "index\tgenome\tidentifier\tfile\tclip\tscale\tsum_stat\tdescription\n"
        "0\t0\tgone\tmissing.bigWig\tinf\t1\tmean\tnothing\n"
    )
    with pytest.raises(InputError, match=r"line 2 \(gone\): track file .*missing.bigWig not found"):
        run(TrainBasenji2Params(world=str(tiny_world), targets=str(table)))
    assert latest_run().info.status == "FAILED"


def test_regions_without_a_valid_fold(tiny_world: Path, tmp_path: Path) -> None:
    manifest = load_manifest(tiny_world)
    lines = manifest.path("sequences_bed").read_text().splitlines(True)
    regions = tmp_path / "no_valid.bed"
    regions.write_text("".join(line.replace("\tvalid", "\ttest") for line in lines))
    with pytest.raises(InputError, match=r"no_valid.bed: has no region in fold 'valid'"):
        run(TrainBasenji2Params(world=str(tiny_world), regions=str(regions)))


def test_no_targets_without_a_world(tiny_world: Path) -> None:
    manifest = load_manifest(tiny_world)
    params = TrainBasenji2Params(
        fasta=str(manifest.path("fasta")), regions=str(manifest.path("sequences_bed"))
    )
    with pytest.raises(InputError, match="no targets table given and no world"):
        run(params)
