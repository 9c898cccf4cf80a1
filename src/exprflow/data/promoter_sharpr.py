"""The ``Sharpr_MPRA`` promoter task from the Sharpr-MPRA HDF5 files (Movva et al. 2019).

Inputs (the files ``promoter_models`` downloads)
------------------------------------------------
``train.hdf5``, ``valid.hdf5``, ``test.hdf5`` in one folder, each with

* ``X/sequence``: one-hot 145-bp tiles in ``A, C, G, T`` channel order, ``(N, 145, 4)``
  (any numeric dtype: uint8, bool or float); the Keras-era layout ``(N, 1, 145, 4)`` is
  accepted too, its singleton axis dropped;
* ``Y/output``: ``(N, 12)`` activities, columns in :data:`SHARPR_OUTPUTS` order.

A one-hot row that is not exactly one 1 among 0s (all zeros, 0.25 everywhere) is read as
``N``. The split is the file (train 0, val 1, test 2); ids are ``<file stem>:<row>``.
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from exprflow.data.promoter_codes import N_CODE
from exprflow.data.promoter_tasks import SPLITS, TaskData, TaskSpec
from exprflow.errors import InputError

__all__ = ["SHARPR_FILES", "SHARPR_LENGTH", "SHARPR_OUTPUTS", "SHARPR_TASK", "build_sharpr_task"]

#: Published task name.
SHARPR_TASK = "Sharpr_MPRA"
#: Tile length (bp).
SHARPR_LENGTH = 145
#: Output columns of ``Y/output``: {K562, HepG2} × {minP, SV40P} × {rep1, rep2, avg}.
SHARPR_OUTPUTS: tuple[str, ...] = tuple(
    f"{cell}_{promoter}_{rep}"
    for cell in ("k562", "hepg2")
    for promoter in ("minp", "sv40p")
    for rep in ("rep1", "rep2", "avg")
)
#: Split name → file name.
SHARPR_FILES: dict[str, str] = {"train": "train.hdf5", "val": "valid.hdf5", "test": "test.hdf5"}
_FIX = (
    "give the Sharpr-MPRA files of Movva et al. 2019: X/sequence (N, 145, 4) one-hot ACGT "
    "and Y/output (N, 12)."
)


def _dataset(path: Path, handle: h5py.File, name: str) -> np.ndarray:
    """Read one dataset, or an InputError naming the file and the dataset."""
    item = handle.get(name)
    if not isinstance(item, h5py.Dataset):
        raise InputError(path, f"has no dataset {name}.", record=name, fix=_FIX)
    return np.asarray(item[()])


def _onehot_codes(path: Path, onehot: np.ndarray) -> np.ndarray:
    """int8 codes ``(N, 145)`` of a one-hot ``(N, 145, 4)`` (or ``(N, 1, 145, 4)``) array."""
    if onehot.ndim == 4 and onehot.shape[1] == 1:
        onehot = onehot[:, 0]
    if onehot.ndim != 3 or onehot.shape[1:] != (SHARPR_LENGTH, 4):
        raise InputError(
            path,
            f"X/sequence has shape {onehot.shape}; expected (N, {SHARPR_LENGTH}, 4) "
            f"or (N, 1, {SHARPR_LENGTH}, 4).",
            record="X/sequence",
            fix=_FIX,
        )
    if onehot.dtype.kind not in "biuf":
        raise InputError(
            path, f"X/sequence has dtype {onehot.dtype}; expected numbers.", record="X/sequence"
        )
    values = onehot.astype(np.float32)
    exact = ((values == 1).sum(axis=2) == 1) & ((values == 0).sum(axis=2) == 3)
    return np.where(exact, values.argmax(axis=2), N_CODE).astype(np.int8)


def _read_split(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Codes ``(N, 145)`` and outputs ``(N, 12)`` float32 of one file."""
    if not path.is_file():
        raise InputError(path, "Sharpr-MPRA file not found.", fix=_FIX)
    try:
        with h5py.File(path, "r") as handle:
            onehot = _dataset(path, handle, "X/sequence")
            output = _dataset(path, handle, "Y/output")
    except OSError as exc:
        raise InputError(path, f"is not a readable HDF5 file ({exc}).", fix=_FIX) from exc
    codes = _onehot_codes(path, onehot)
    if output.shape != (len(codes), len(SHARPR_OUTPUTS)) or output.dtype.kind not in "iuf":
        raise InputError(
            path,
            f"Y/output has shape {output.shape} dtype {output.dtype}; expected numbers of "
            f"shape ({len(codes)}, {len(SHARPR_OUTPUTS)}) (one row per X/sequence tile).",
            record="Y/output",
            fix=_FIX,
        )
    output = output.astype(np.float32)
    bad = np.flatnonzero(~np.isfinite(output).all(axis=1))
    if bad.size:
        raise InputError(
            path,
            f"Y/output row {int(bad[0])} is not finite.",
            record="Y/output",
            fix="drop or fix the non-finite rows.",
        )
    return codes, output


def build_sharpr_task(folder: str | os.PathLike[str]) -> TaskData:
    """Build the ``Sharpr_MPRA`` regression task from ``{train,valid,test}.hdf5``.

    Parameters
    ----------
    folder : str or PathLike
        Folder holding the three files.

    Returns
    -------
    TaskData
        12 regression outputs (:data:`SHARPR_OUTPUTS`), 145-bp codes, all labelled, one
        split column taken from the files, ``group`` = row number.

    Raises
    ------
    InputError
        When a file is missing or unreadable, or a dataset is missing or has the wrong
        shape or non-finite values (naming the file and the dataset).
    """
    folder = Path(folder)
    codes, outputs, splits, ids = [], [], [], []
    for split, name in SHARPR_FILES.items():
        path = folder / name
        split_codes, split_outputs = _read_split(path)
        codes.append(split_codes)
        outputs.append(split_outputs)
        splits.append(np.full(len(split_codes), SPLITS[split], dtype=np.int8))
        ids += [f"{path.stem}:{row}" for row in range(len(split_codes))]
    targets = np.concatenate(outputs)
    n = len(targets)
    spec = TaskSpec(
        name=SHARPR_TASK,
        kind="regression",
        outputs=SHARPR_OUTPUTS,
        n_logits=len(SHARPR_OUTPUTS),
        max_length=SHARPR_LENGTH,
    )
    return TaskData(
        spec=spec,
        ids=np.asarray(ids, dtype=str),
        codes=np.concatenate(codes),
        lengths=np.full(n, SHARPR_LENGTH, dtype=np.int32),
        targets=targets,
        mask=np.ones(targets.shape, dtype=bool),
        splits=np.concatenate(splits)[:, None],
        group=np.arange(n, dtype=np.int64),
    )
