"""A small, batch-invariant stand-in for Beluga + ExPecto (chromatin, reduce, heads).

Exactness: the chromatin weights are multiples of 1/64, so each window's linear score is
an exact float32 sum whatever the batch; ``reduce`` and ``heads`` work row by row. So the
de-duplicated and the naive paths must agree bit for bit.
"""

from __future__ import annotations

import numpy as np

from exprflow.errors import ExprflowError


class StandIn:
    """Linear filter + sigmoid on the one-hot (averaged with the reverse complement),
    decay-weighted up/downstream sums, linear heads; counts chromatin calls and windows."""

    def __init__(self, features: int = 6, tissues: int = 3, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.weights = (rng.integers(-8, 9, size=(4 * 2000, features)) / 64).astype(np.float32)
        distance = np.abs(np.arange(200) - 100)
        decay = np.exp(-0.05 * distance)
        self.up = np.where(np.arange(200) <= 100, decay, 0.0)
        self.down = np.where(np.arange(200) >= 100, decay, 0.0)
        self.heads = Heads(rng.normal(size=(2 * features, tissues)))
        self.tissues = self.heads.tissues
        self.calls = 0
        self.windows = 0
        self.fail_at_call: int | None = None

    def chromatin(self, onehot: np.ndarray) -> np.ndarray:
        assert onehot.dtype == np.float32 and onehot.shape[1:] == (4, 2000)
        self.calls += 1
        if self.fail_at_call is not None and self.calls >= self.fail_at_call:
            raise ExprflowError("stand-in chromatin killed")
        self.windows += len(onehot)
        flat = onehot.reshape(len(onehot), -1)
        reverse = onehot[:, ::-1, ::-1].reshape(len(onehot), -1)
        score = ((flat @ self.weights).astype(np.float64) + reverse @ self.weights) / 2
        return (1 / (1 + np.exp(-score / 8))).astype(np.float32)

    def reduce(self, features: np.ndarray) -> np.ndarray:
        assert features.ndim == 3 and features.shape[1] == 200
        rows = [row.astype(np.float64) for row in features]
        return np.stack([np.concatenate([self.up @ row, self.down @ row]) for row in rows])


class Heads:
    """Linear heads, row by row; ``tissues`` names the columns (read by the engine)."""

    def __init__(self, weights: np.ndarray) -> None:
        self.weights = weights
        self.tissues = [f"tissue{i}" for i in range(weights.shape[1])]

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return np.stack([row.astype(np.float64) @ self.weights for row in features])
