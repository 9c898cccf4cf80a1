"""One HDF5 file per promoter task: sequences as codes, targets, masks, splits and the spec.

``prepare`` writes ``promoter/<task>.h5`` for each task of the promoter study
(``FluorescenceData``, ``FluorescenceData_classification``, ``RNASeq``,
``ENCODETFChIPSeq``, ``Sharpr_MPRA``, ``SuRE_classification``); ``train_promoter``
reads them back. Layout of a task file:

=========  ===============  ====================================================
dataset    dtype, shape     meaning
=========  ===============  ====================================================
ids        utf-8 str (N,)   record ids
codes      int8 (N, L)      sequences (:mod:`exprflow.data.promoter_codes`), L =
                            ``spec.max_length``, right-padded with 5
lengths    int32 (N,)       sequence lengths (non-padding codes of each row)
targets    float32 (N, T)   regression / binary targets; int64 class indices for
                            ``multiclass`` (T = cells)
mask       bool (N, T)      True = labelled
splits     int8 (N, S)      0 train, 1 val, 2 test, one column per split seed
group      int64 (N,)       RNASeq gene, SuRE genome, else the row number
=========  ===============  ====================================================

Root attributes: ``spec`` (:class:`TaskSpec` as JSON) and ``format_version`` (1).
Files are written atomically and validated on read: every problem names the file and
the field.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import h5py
import numpy as np

from exprflow.atomic import atomic_path
from exprflow.data.promoter_codes import PAD_CODE
from exprflow.errors import InputError

__all__ = [
    "FORMAT_VERSION",
    "KINDS",
    "SPLITS",
    "TaskData",
    "TaskSpec",
    "read_task",
    "read_tasks",
    "task_path",
    "validate_task",
    "write_task",
]

#: Version written to (and required from) a task file's ``format_version`` attribute.
FORMAT_VERSION = 1
#: Task kind → metric monitored on validation.
KINDS: dict[str, str] = {"regression": "spearman", "binary": "auroc", "multiclass": "accuracy"}
#: Split name → code in ``TaskData.splits``.
SPLITS: dict[str, int] = {"train": 0, "val": 1, "test": 2}
_ARRAYS = ("ids", "codes", "lengths", "targets", "mask", "splits", "group")
_DTYPES: dict[str, type] = {
    "codes": np.int8,
    "lengths": np.int32,
    "mask": np.bool_,
    "splits": np.int8,
    "group": np.int64,
}


@dataclass(frozen=True)
class TaskSpec:
    """What a task predicts and how a model head for it is shaped.

    Parameters
    ----------
    name : str
        Published task name (``FluorescenceData`` …).
    kind : str
        ``"regression"``, ``"binary"`` or ``"multiclass"``.
    outputs : tuple of str
        Names of the target columns (T).
    n_logits : int
        Model head width: T for regression and binary; ``n_heads * T * n_classes``
        for multiclass.
    n_heads : int, optional
        Multiclass only: heads (SuRE: 4 genomes). Default 1.
    n_classes : int, optional
        Multiclass only: classes per output (SuRE: 5). Default 0.
    max_length : int, optional
        Longest sequence (bp) = width of the codes. Default 0.
    monitor : str, optional
        Validation metric: ``"spearman"``, ``"auroc"`` or ``"accuracy"``. Default
        ``""``: the kind's (:data:`KINDS`).
    """

    name: str
    kind: str
    outputs: tuple[str, ...]
    n_logits: int
    n_heads: int = 1
    n_classes: int = 0
    max_length: int = 0
    monitor: str = ""

    def __post_init__(self) -> None:
        """Fill the default monitor and refuse an unknown kind or an inconsistent width."""
        if self.kind not in KINDS:
            raise ValueError(f"TaskSpec.kind must be one of {list(KINDS)}, got {self.kind!r}")
        object.__setattr__(self, "outputs", tuple(self.outputs))
        if not self.monitor:
            object.__setattr__(self, "monitor", KINDS[self.kind])
        expected = self.expected_logits()
        if self.n_logits != expected:
            raise ValueError(
                f"TaskSpec {self.name}: n_logits {self.n_logits} does not fit a {self.kind} task "
                f"with {len(self.outputs)} outputs, {self.n_heads} heads and {self.n_classes} "
                f"classes (expected {expected})"
            )

    def expected_logits(self) -> int:
        """Head width implied by kind, outputs, heads and classes."""
        if self.kind == "multiclass":
            return self.n_heads * len(self.outputs) * self.n_classes
        return len(self.outputs)

    def to_json(self) -> str:
        """The spec as a JSON object string."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> TaskSpec:
        """Rebuild a spec from :meth:`to_json` output.

        Parameters
        ----------
        text : str
            JSON object with the spec's fields.

        Returns
        -------
        TaskSpec
            The spec.
        """
        values = json.loads(text)
        known = {f.name for f in fields(cls)}
        if not isinstance(values, dict) or not known.issuperset(values):
            raise ValueError(f"not a TaskSpec JSON object: {text[:200]}")
        values["outputs"] = tuple(values.get("outputs", ()))
        return cls(**values)


@dataclass
class TaskData:
    """One task's records: codes, targets, mask, splits and groups (layout in the module doc).

    Parameters
    ----------
    spec : TaskSpec
        What the task is.
    ids : numpy.ndarray
        str ``(N,)`` record ids.
    codes : numpy.ndarray
        int8 ``(N, L)`` sequence codes, ``L = spec.max_length``.
    lengths : numpy.ndarray
        int32 ``(N,)``.
    targets : numpy.ndarray
        float32 ``(N, T)``, or int64 ``(N, T)`` class indices for multiclass.
    mask : numpy.ndarray
        bool ``(N, T)``, True = labelled.
    splits : numpy.ndarray
        int8 ``(N, S)``: 0 train, 1 val, 2 test per split seed.
    group : numpy.ndarray
        int64 ``(N,)``.
    """

    spec: TaskSpec
    ids: np.ndarray
    codes: np.ndarray
    lengths: np.ndarray
    targets: np.ndarray
    mask: np.ndarray
    splits: np.ndarray
    group: np.ndarray

    def __post_init__(self) -> None:
        """Hold the ids as a numpy str array (lists and object arrays are accepted)."""
        self.ids = np.asarray(self.ids).astype(str)

    def __len__(self) -> int:
        """Number of records."""
        return len(self.ids)

    @property
    def n_split_seeds(self) -> int:
        """Number of split columns S."""
        return int(self.splits.shape[1])

    def indices(self, split: str, seed_index: int = 0) -> np.ndarray:
        """Row numbers of one split under one split seed.

        Parameters
        ----------
        split : str
            ``"train"``, ``"val"`` or ``"test"``.
        seed_index : int, optional
            Split column (0..S-1). Default 0.

        Returns
        -------
        numpy.ndarray
            int64 row numbers, ascending.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {list(SPLITS)}, got {split!r}")
        if not 0 <= seed_index < self.n_split_seeds:
            raise ValueError(
                f"seed_index must lie in 0..{self.n_split_seeds - 1} for task "
                f"{self.spec.name}, got {seed_index}"
            )
        return np.flatnonzero(self.splits[:, seed_index] == SPLITS[split])


def _shape_problem(data: TaskData) -> tuple[str, str] | None:
    """(field, problem) for the first array whose shape or dtype is wrong, else None."""
    n, spec = len(data.ids), data.spec
    t = len(spec.outputs)
    integer = spec.kind == "multiclass"
    wanted = {
        "ids": ((n,), "U"),
        "codes": ((n, spec.max_length), "i"),
        "lengths": ((n,), "i"),
        "targets": ((n, t), "i" if integer else "f"),
        "mask": ((n, t), "b"),
        "splits": ((n, data.splits.shape[1] if data.splits.ndim == 2 else -1), "i"),
        "group": ((n,), "i"),
    }
    for name, (shape, kind) in wanted.items():
        array = getattr(data, name)
        if array.shape != shape or array.dtype.kind != kind:
            return name, (
                f"has shape {array.shape} dtype {array.dtype}; expected shape {shape} "
                f"(N records, {t} outputs, width {spec.max_length}) of kind {kind!r}."
            )
    return None


def _value_problem(data: TaskData) -> tuple[str, str] | None:
    """(field, problem) for the first array with out-of-range values, else None."""
    spec = data.spec
    if data.codes.size and (data.codes.min() < 0 or data.codes.max() > PAD_CODE):
        return "codes", f"holds values outside 0..{PAD_CODE}."
    counted = (data.codes != PAD_CODE).sum(axis=1)
    bad = np.flatnonzero(counted != data.lengths)
    if len(bad):
        row = int(bad[0])
        return "lengths", (
            f"record {data.ids[row]} has length {data.lengths[row]} but {counted[row]} "
            "non-padding codes (padding must only fill the right end)."
        )
    if data.splits.shape[1] < 1 or not np.isin(data.splits, list(SPLITS.values())).all():
        return "splits", "needs at least one column, with values 0 (train), 1 (val), 2 (test)."
    targets = data.targets[data.mask]
    if spec.kind == "multiclass" and targets.size:
        if targets.min() < 0 or targets.max() >= spec.n_classes:
            return "targets", f"labelled classes must lie in 0..{spec.n_classes - 1}."
    elif not np.isfinite(targets).all():
        return "targets", "labelled targets must be finite."
    if spec.kind == "binary" and not np.isin(targets, (0.0, 1.0)).all():
        return "targets", "binary targets must be 0 or 1."
    return None


def validate_task(data: TaskData, source: str | Path) -> None:
    """Check shapes, dtypes and values of a task against its spec.

    Parameters
    ----------
    data : TaskData
        The task.
    source : str or Path
        File named in errors (being read or written).

    Raises
    ------
    InputError
        Naming the file and the field at fault.
    """
    found = _shape_problem(data) or _value_problem(data)
    if found:
        name, problem = found
        raise InputError(
            source,
            f"task {data.spec.name}: {name} {problem}",
            record=name,
            fix="rebuild the promoter datasets with prepare.",
        )


def task_path(folder: str | Path, name: str) -> Path:
    """Path of task ``name``'s file in ``folder``: ``<folder>/<name>.h5``."""
    return Path(folder) / f"{name}.h5"


def write_task(data: TaskData, folder: str | Path) -> Path:
    """Validate a task and write it atomically to ``<folder>/<name>.h5``.

    Parameters
    ----------
    data : TaskData
        The task; validated first (:func:`validate_task`).
    folder : str or Path
        Destination folder (created when missing).

    Returns
    -------
    Path
        The file written.
    """
    dest = task_path(folder, data.spec.name)
    validate_task(data, dest)
    with atomic_path(dest) as tmp, h5py.File(tmp, "w") as out:
        out.attrs["spec"] = data.spec.to_json()
        out.attrs["format_version"] = FORMAT_VERSION
        out.create_dataset("ids", data=data.ids.astype(object), dtype=h5py.string_dtype())
        for name in _ARRAYS[1:]:
            array = getattr(data, name).astype(_dtype(data.spec, name), copy=False)
            chunked = {"compression": "gzip", "compression_opts": 4} if array.size else {}
            out.create_dataset(name, data=array, **chunked)
    return dest


def _dtype(spec: TaskSpec, name: str) -> type:
    """The stored dtype of array ``name``."""
    if name == "targets":
        return np.int64 if spec.kind == "multiclass" else np.float32
    return _DTYPES[name]


def _read_spec(path: Path, handle: h5py.File) -> TaskSpec:
    """The file's spec, or an InputError naming the attribute."""
    version = handle.attrs.get("format_version")
    if version != FORMAT_VERSION:
        raise InputError(
            path,
            f"format_version is {version}; this exprflow reads {FORMAT_VERSION}.",
            record="format_version",
            fix="rebuild the promoter datasets with prepare.",
        )
    try:
        return TaskSpec.from_json(str(handle.attrs["spec"]))
    except (KeyError, ValueError, TypeError) as exc:
        raise InputError(
            path, f"has no valid task spec ({exc}).", record="spec", fix="rebuild with prepare."
        ) from exc


def read_task(path: str | Path) -> TaskData:
    """Read and validate one task file.

    Parameters
    ----------
    path : str or Path
        A file written by :func:`write_task`.

    Returns
    -------
    TaskData
        The task, arrays in memory.

    Raises
    ------
    InputError
        Naming the file and the field: missing or unreadable file, wrong format
        version, bad spec, missing dataset, wrong shape, dtype or values.
    """
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "task file not found.", fix="run prepare to build it.")
    try:
        with h5py.File(path, "r") as handle:
            spec = _read_spec(path, handle)
            missing = [name for name in _ARRAYS if name not in handle]
            if missing:
                raise InputError(
                    path, f"lacks dataset(s) {missing}.", record=missing[0], fix="rebuild it."
                )
            arrays = {name: handle[name][()] for name in _ARRAYS}
    except OSError as exc:
        raise InputError(path, f"is not a readable HDF5 file ({exc}).", fix="rebuild it.") from exc
    arrays["ids"] = np.array([v.decode() if isinstance(v, bytes) else v for v in arrays["ids"]])
    data = TaskData(spec=spec, **arrays)
    validate_task(data, path)
    return data


def read_tasks(folder: str | Path, names: Iterable[str]) -> dict[str, TaskData]:
    """Read several tasks of a promoter folder by name.

    Parameters
    ----------
    folder : str or Path
        Folder of ``<task>.h5`` files.
    names : iterable of str
        Task names.

    Returns
    -------
    dict of str to TaskData
        In the order asked.

    Raises
    ------
    InputError
        For a task without a file, listing the tasks present.
    """
    folder = Path(folder)
    present = sorted(p.stem for p in folder.glob("*.h5")) if folder.is_dir() else []
    tasks = {}
    for name in names:
        if name not in present:
            raise InputError(
                folder,
                f"has no task {name!r}; tasks present: {present or 'none'}.",
                record=name,
                fix="choose among those, or build the task's inputs in prepare.",
            )
        tasks[name] = read_task(task_path(folder, name))
    return tasks
