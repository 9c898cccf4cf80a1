"""Fixtures for the ExPecto tests: the real LCL tissue model and the variant example."""

from __future__ import annotations

from pathlib import Path

import pytest

LCL = (
    "allhistones2000.1.fixed.all.pseudocount0.0001.lambda100.round100.basescore2."
    "Cells_EBV-transformed_lymphocytes.save"
)


@pytest.fixture
def lcl(real_dir: Path) -> Path:
    """The released lymphoblastoid (LCL) model, xgboost 0.7 binary."""
    return real_dir / "expecto" / LCL


@pytest.fixture
def example(real_dir: Path) -> Path:
    """ExPecto's example folder: 10 variants, closest genes, 9 shift files."""
    return real_dir / "expecto" / "example"
