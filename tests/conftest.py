"""Fixtures shared by every test folder."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture
def tracking(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An empty sqlite tracking store in ``tmp_path`` (also the working folder)."""
    monkeypatch.chdir(tmp_path)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("EXPRFLOW_DATA_ROOT", str(tmp_path / "data"))
    for name in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(name, raising=False)
    mlflow.set_tracking_uri(uri)
    yield uri
    while mlflow.active_run():
        mlflow.end_run()
    mlflow.set_tracking_uri(None)


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny synthetic world (seed 0), written once per test session; treat it as read-only."""
    from exprflow.simulate.world import simulate_world

    root = tmp_path_factory.mktemp("world") / "tiny-seed0"
    simulate_world(root, "tiny", 0, progress=False)
    return root
