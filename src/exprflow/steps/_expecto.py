"""Shared parts of the ExPecto scoring steps: parameters, input checks, plug-ins, samples.

``expecto_reference`` and ``expecto_personalized`` take the same genome and model inputs
(:class:`ExpectoScoringParams`); this module checks them, records them on the step's run
and builds the scoring plug-ins (:func:`~exprflow.models.expecto.plugins.expecto_plugins`).

Formats read
------------
* gene annotation: benchmark ``gene_list.csv``, GTF or ExPecto ``geneanno.csv``
  (:func:`~exprflow.genome.annotation.read_genes`; TSS 0-based in the table);
* tissue models: a folder holding a ``modellist`` (what ``train_tissue`` writes), an
  ExPecto model list, one ``.save`` or one exprflow ``.json`` model;
* samples: the synthetic world's ``samples.tsv`` (tab-separated, header line with a
  ``sample`` column) or a plain list, one sample id per line (blank lines and ``#``
  comments ignored).

Writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd
import torch

from exprflow.errors import InputError
from exprflow.genome.annotation import read_genes
from exprflow.models.expecto.plugins import ExpectoPlugins, expecto_plugins
from exprflow.tracking.step import StepContext

__all__ = [
    "SCORING_UPSTREAM",
    "ExpectoScoringParams",
    "build_plugins",
    "check_scoring_params",
    "log_inputs",
    "read_gene_table",
    "read_samples",
    "resolve_dtype",
]

#: File naming the models in a tissue-model folder.
#: Where ``main`` feeds the scoring steps' inputs from: param → (step, output).
SCORING_UPSTREAM = {
    "world": ("simulate", "world"),
    "chromatin_model": ("train_chromatin", "chromatin_model"),
    "tissue_models": ("train_tissue", "tissue_models"),
}
_DTYPES = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class ExpectoScoringParams:
    """Parameters shared by the ExPecto scoring steps (genome, genes, model, batching)."""

    world: str = field(default="", metadata={"help": "synthetic world folder (world.json)"})
    fasta: str = field(default="", metadata={"help": "genome FASTA; empty: the world's"})
    genes: str = field(
        default="",
        metadata={"help": "gene_list.csv, GTF or geneanno.csv; empty: the world's gene_list"},
    )
    chromatin_model: str = field(
        default="", metadata={"help": "Beluga checkpoint (path or URI, e.g. runs:/…/beluga.pt)"}
    )
    tissue_models: str = field(
        default="",
        metadata={"help": "folder with a modellist, a model list, a .save or a .json model"},
    )
    batch_size: int = field(default=1024, metadata={"help": "windows per chromatin batch"})
    dtype: str = field(
        default="auto", metadata={"help": "'auto' (bf16 on CUDA, fp32 on CPU), 'fp32', 'bf16'"}
    )
    genes_per_batch: int = field(
        default=4, metadata={"help": "genes sharing one window bank (memory grows with it)"}
    )


def check_scoring_params(params: ExpectoScoringParams, step: str) -> None:
    """Refuse missing model inputs and out-of-range batching parameters.

    Parameters
    ----------
    params : ExpectoScoringParams
        The step's parameters.
    step : str
        Step name, for messages.

    Raises
    ------
    InputError
        Naming the parameter, its value and what is expected.
    """
    where = f"{step} parameters"
    for name in ("chromatin_model", "tissue_models"):
        if not getattr(params, name):
            raise InputError(where, f"{name} is required.", fix=f"pass -P {name}=<path or URI>.")
    for name in ("batch_size", "genes_per_batch"):
        value = getattr(params, name)
        if value < 1:
            raise InputError(where, f"{name}={value}; expected an integer >= 1.")
    resolve_dtype(params.dtype)


def resolve_dtype(dtype: str) -> Literal["fp32", "bf16"]:
    """Return the chromatin model's precision: ``auto`` is bf16 on CUDA, fp32 on the CPU.

    Parameters
    ----------
    dtype : {"auto", "fp32", "bf16"}
        Requested precision.

    Returns
    -------
    {"fp32", "bf16"}
    """
    if dtype not in _DTYPES:
        raise InputError(
            "argument dtype", f"dtype={dtype!r}; expected one of {', '.join(_DTYPES)}."
        )
    if dtype == "auto":
        return "bf16" if torch.cuda.is_available() else "fp32"
    return "bf16" if dtype == "bf16" else "fp32"


def log_inputs(ctx: StepContext, params: object, names: Sequence[str]) -> dict[str, Path]:
    """Record each non-empty input parameter on the run; return local paths by name.

    Parameters
    ----------
    ctx : StepContext
        The step's run.
    params : dataclass instance
        Step parameters holding the inputs' paths or URIs.
    names : sequence of str
        Input parameters to record (empty ones are left out).

    Returns
    -------
    dict of str to Path
        Parameter name → local path (URIs fetched).
    """
    return {
        name: ctx.log_input(name, getattr(params, name)) for name in names if getattr(params, name)
    }


def build_plugins(
    checkpoint: Path, tissue_models: Path, batch_size: int, dtype: Literal["fp32", "bf16"]
) -> ExpectoPlugins:
    """Build the scoring plug-ins from the logged model inputs.

    Parameters
    ----------
    checkpoint : Path
        Beluga checkpoint.
    tissue_models : Path
        Folder with a ``modellist``, a model list, a ``.save`` or a ``.json``.
    batch_size : int
        Windows per chromatin forward pass.
    dtype : {"fp32", "bf16"}
        Chromatin model precision (:func:`resolve_dtype`).

    Returns
    -------
    ExpectoPlugins
        Chromatin (CUDA when available), spatial reduce and tissue heads, checked to fit.
    """
    return expecto_plugins(checkpoint, tissue_models, batch_size=batch_size, dtype=dtype)


def read_gene_table(path: Path) -> pd.DataFrame:
    """Read the gene annotation; ``attrs["path"]`` names the file in scoring errors.

    Parameters
    ----------
    path : Path
        gene_list.csv, GTF or geneanno.csv.

    Returns
    -------
    pandas.DataFrame
        Gene table (0-based ``tss``), see :mod:`exprflow.genome.annotation`.
    """
    genes = read_genes(path)
    genes.attrs["path"] = str(path)
    return genes


def read_samples(path: Path) -> list[str]:
    """Read sample ids from the world's ``samples.tsv`` or a one-id-per-line list.

    Parameters
    ----------
    path : Path
        Tab-separated with a header holding a ``sample`` column, or one id per line.

    Returns
    -------
    list of str
        Sample ids in file order (at least one).
    """
    try:
        lines = path.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(path, f"cannot read the samples file ({exc}).") from exc
    rows = [
        (number, line)
        for number, line in enumerate(lines, start=1)
        if line.strip() and not line.startswith("#")
    ]
    if rows and ("\t" in rows[0][1] or rows[0][1].strip() == "sample"):
        rows = _sample_column(path, rows)
    if not rows:
        raise InputError(
            path, "lists no samples.", fix="list sample ids, or leave samples empty for all."
        )
    return [sample.strip() for _, sample in rows]


def _sample_column(path: Path, rows: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Return the ``sample`` column of a tab-separated table's rows (header first)."""
    header = [name.strip() for name in rows[0][1].split("\t")]
    if "sample" not in header:
        raise InputError(
            path,
            f"tab-separated samples file without a 'sample' column (header: {header}).",
            record=f"line {rows[0][0]}",
            fix="give a header with a 'sample' column, or one sample id per line.",
        )
    column, found = header.index("sample"), []
    for number, row in rows[1:]:
        fields = row.split("\t")
        if len(fields) <= column or not fields[column].strip():
            raise InputError(
                path, "row has no sample id.", record=f"line {number}", fix="fill the column."
            )
        found.append((number, fields[column].strip()))
    return found
