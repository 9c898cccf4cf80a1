"""Fixtures shared by every test folder."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import mlflow
import pytest
import torch

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL = PROJECT_ROOT.parent / "shared" / "real"


@pytest.fixture(autouse=True)
def one_torch_thread() -> Iterator[None]:
    """One torch thread: tiny models run ~10x faster where other jobs share the 2 cores.

    With two OpenMP threads on a busy machine, every small parallel region waits for a
    descheduled sibling thread; results are identical either way.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def real_dir() -> Path:
    """``../shared/real``: published artifacts; tests using it skip where it is absent."""
    if not REAL.is_dir():
        pytest.skip(f"{REAL} is not present")
    return REAL


@pytest.fixture(scope="session")
def empty_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty, migrated MLflow sqlite store: creating one takes seconds, copying it not.

    Created from inside its folder: the default experiment's artifact root (``./mlruns``
    made absolute) lies there, not in the repository.
    """
    path = tmp_path_factory.mktemp("store") / "mlflow.db"
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(path.parent)
        mlflow.MlflowClient(f"sqlite:///{path}").search_experiments()
    return path


def _use_store(root: Path, empty: Path, patch: pytest.MonkeyPatch) -> str:
    """Point MLflow and the data root at a copy of ``empty`` in ``root`` (also the cwd)."""
    shutil.copy(empty, root / "mlflow.db")
    patch.chdir(root)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    patch.setenv("MLFLOW_TRACKING_URI", uri)
    patch.setenv("EXPRFLOW_DATA_ROOT", str(root / "data"))
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        patch.delenv(name, raising=False)
    mlflow.set_tracking_uri(uri)
    return uri


def _end_runs() -> None:
    """End open runs and forget the store and the active experiment (MLflow globals).

    ``mlflow.set_experiment`` also exports ``MLFLOW_EXPERIMENT_ID``, which would point later
    tests (and ``configure``) at an experiment of a store they do not use.
    """
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)
    mlflow.tracking.fluent._active_experiment_id = None
    os.environ.pop("MLFLOW_EXPERIMENT_ID", None)


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, empty_store: Path) -> Iterator[str]:
    """An empty sqlite tracking store in ``tmp_path`` (also the working folder)."""
    yield _use_store(tmp_path, empty_store, monkeypatch)
    _end_runs()


@pytest.fixture(scope="module")
def module_tracking(tmp_path_factory: pytest.TempPathFactory, empty_store: Path) -> Iterator[Path]:
    """One tracking store (and data root) per test module; returns its folder (the cwd)."""
    root = tmp_path_factory.mktemp("store")
    with pytest.MonkeyPatch.context() as patch:
        _use_store(root, empty_store, patch)
        yield root
        _end_runs()


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic world (seed 0), written once per test session; treat it as read-only."""
    from exprflow.simulate.world import simulate_world

    root = tmp_path_factory.mktemp("world") / "tiny-seed0"
    simulate_world(root, "tiny", 0, progress=False)
    return root


@dataclass(frozen=True)
class TinyExpecto:
    """A tiny ExPecto model trained on the tiny world: a Beluga checkpoint and tissue models.

    Attributes
    ----------
    checkpoint : Path
        exprflow Beluga checkpoint (``beluga.pt``).
    tissue_models : Path
        Folder of ``<eid>.json`` tissue models, a ``modellist`` and ``metrics.tsv``.
    modellist : Path
        ``tissue_models / "modellist"``.
    """

    checkpoint: Path
    tissue_models: Path
    modellist: Path


@pytest.fixture(scope="session")
def tiny_expecto(tiny_world: Path, tmp_path_factory: pytest.TempPathFactory) -> TinyExpecto:
    """Beluga (tiny config, 1 epoch) and tissue models on its reference features (~10 s).

    Quality is not the point (the tiny world has 24 genes); shapes, names and files are
    those of the real pipeline's outputs. Treat the files as read-only.
    """
    from exprflow.data.roadmap import read_roadmap_rpkm
    from exprflow.genome.annotation import read_genes
    from exprflow.genome.fasta import Genome
    from exprflow.models.beluga.config import BelugaConfig
    from exprflow.models.beluga.load import save_checkpoint
    from exprflow.models.expecto.plugins import BelugaChromatin, SpatialReduce
    from exprflow.simulate.world import load_manifest
    from exprflow.training.chromatin import train_chromatin_model
    from exprflow.training.chromatin_data import (
        LOCAL_TRACKS,
        chromatin_labels,
        encode_regions,
        sample_windows,
        track_files,
    )
    from exprflow.training.tissue import (
        reference_features,
        train_tissue_models,
        write_tissue_models,
    )

    manifest = load_manifest(tiny_world)
    root = tmp_path_factory.mktemp("tiny_expecto")
    genes = read_genes(manifest.path("gene_list"))
    with Genome(manifest.path("fasta")) as genome:
        regions = sample_windows(
            genome, zip(genes["chrom"], genes["tss"], strict=True), n_background=200
        )
        tracks = track_files(manifest.path("tracks"), LOCAL_TRACKS)
        labels = chromatin_labels(genome, tracks, regions)
        onehot = encode_regions(genome, regions)
        config = BelugaConfig.tiny(len(labels.feature_names))
        fit = train_chromatin_model(
            config, onehot, labels.labels, list(labels.chroms), epochs=1, lr=3e-3,
            batch_size=64, held_out_chroms=["chr4"], seed=0, progress=False,
        )  # fmt: skip
        checkpoint = save_checkpoint(
            root / "beluga.pt",
            fit.model,
            config,
            {"epochs": 1},
            labels.data_params(str(manifest.path("fasta")), ["chr4"], config.seq_len),
        )
        chromatin = BelugaChromatin(fit.model, device="cpu")
        features = reference_features(genes, genome, chromatin, SpatialReduce(), progress=False)
    rpkm = read_roadmap_rpkm(manifest.path("roadmap_rpkm"))
    fits = train_tissue_models(features, genes, rpkm, progress=False)
    modellist = write_tissue_models(fits, root / "tissue_models")
    return TinyExpecto(checkpoint, modellist.parent, modellist)
