"""Fixtures shared by the simulate tests."""

from __future__ import annotations

import pytest

from exprflow.simulate.world import WorldManifest, simulate_world


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> WorldManifest:
    """The ``tiny`` world of seed 0, built once per session; tests must only read it."""
    return simulate_world(tmp_path_factory.mktemp("world"), "tiny", 0, progress=False)
