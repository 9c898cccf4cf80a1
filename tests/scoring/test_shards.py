"""Gene chunks like np.array_split, and the chunk index from arguments or array-job env."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from exprflow.errors import InputError
from exprflow.scoring.shards import resolve_chunk_index, shard_genes

GENES = pd.DataFrame({"gene_id": [f"G{i}" for i in range(10)], "tss": range(10)})


@pytest.mark.parametrize("num_chunks", [1, 3, 4, 10, 13])
def test_chunks_match_array_split_and_cover_every_gene_once(num_chunks: int) -> None:
    expected = np.array_split(GENES["gene_id"].to_numpy(), num_chunks)
    chunks = [shard_genes(GENES, num_chunks, i)["gene_id"].tolist() for i in range(num_chunks)]
    assert chunks == [list(part) for part in expected]
    assert list(itertools.chain(*chunks)) == GENES["gene_id"].tolist()


def test_chunk_index_from_argument_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    assert resolve_chunk_index(2, 5, environ={"JOB_COMPLETION_INDEX": "4"}) == 2
    assert resolve_chunk_index(None, 5, environ={"JOB_COMPLETION_INDEX": "4"}) == 4
    assert resolve_chunk_index(None, 5, environ={"SLURM_ARRAY_TASK_ID": "3"}) == 3
    slurm = {"SLURM_ARRAY_TASK_ID": "5", "SLURM_ARRAY_TASK_MIN": "1"}
    assert resolve_chunk_index(None, 5, environ=slurm) == 4
    assert resolve_chunk_index(None, 1, environ={}) == 0
    monkeypatch.setenv("JOB_COMPLETION_INDEX", "1")
    monkeypatch.delenv("SLURM_ARRAY_TASK_ID", raising=False)
    assert shard_genes(GENES, 2, None)["gene_id"].tolist() == [f"G{i}" for i in range(5, 10)]


@pytest.mark.parametrize(
    ("chunk_index", "num_chunks", "environ", "message"),
    [
        (None, 4, {}, "no chunk index given for num_chunks=4"),
        (4, 4, {}, r"chunk index 4 is out of range for num_chunks=4; expected 0 … 3"),
        (-1, 4, {}, "out of range"),
        (None, 4, {"JOB_COMPLETION_INDEX": "7"}, "JOB_COMPLETION_INDEX=7.*out of range"),
        (None, 4, {"SLURM_ARRAY_TASK_ID": "x"}, "SLURM_ARRAY_TASK_ID='x' is not an integer"),
        (0, 0, {}, r"num_chunks=0; expected an integer >= 1"),
        (1.0, 4, {}, "chunk_index=1.0 is not an integer"),
    ],
)
def test_bad_chunk_requests_are_clear_errors(
    chunk_index: object, num_chunks: int, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        resolve_chunk_index(chunk_index, num_chunks, environ=environ)  # type: ignore[arg-type]
