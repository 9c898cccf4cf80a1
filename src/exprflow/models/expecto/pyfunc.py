"""ExPecto as an MLflow pyfunc model: a TSS's sequence in, one prediction per tissue out.

The whole model — Beluga chromatin checkpoint, spatial decay transform, linear tissue
models — is one :class:`ExpectoModel` loaded from two MLflow artifacts:
``chromatin_model`` (an exprflow Beluga checkpoint or a released state dict) and
``tissue_models`` (a folder with an ExPecto ``modellist``, as written by
:func:`~exprflow.training.tissue.write_tissue_models`). It runs the plug-ins of
:func:`~exprflow.models.expecto.plugins.expecto_plugins` on the same windows, with the same
de-duplication, as :func:`~exprflow.scoring.engine.score_genes`, so predicting on a gene's
reference sequence gives that gene's reference row of ``score_genes``.

Input: a pandas DataFrame, one row per gene, columns

* ``sequence`` (str): the :data:`SEQUENCE_LENGTH` = 41,800 bases of the genomic ``+``
  strand that the gene's 200 windows cover, ``[tss - left, tss + right)`` with
  ``(left, right) =`` :func:`~exprflow.scoring.windows.gene_span` ``(strand)``:
  ``(20999, 20801)`` on ``+`` and ``(20799, 21001)`` on ``-``. So the TSS base is at
  0-based index 20,999 (``+``) or 20,799 (``-``), and the windows tile the sequence every
  200 bp from index 0. Not reverse-complemented for ``-`` genes. ``A, C, G, T, N`` in either case.
  :func:`tss_sequence` cuts it from a :class:`~exprflow.genome.fasta.Genome`.
* ``strand`` (str): ``"+"`` or ``"-"``.

At most :data:`MAX_ROWS` rows per call (model configuration ``max_rows``). Bad input raises
:class:`~exprflow.serving.validation.RequestError`: an ``InputError`` naming the row, which
``mlflow models serve`` answers with HTTP 400 and that message.

Output: a DataFrame with the input's index and one float32 column per tissue (named as
in the model list), ``ln(RPKM + pseudocount)``; served, ``{"predictions": [{tissue:
value, ...}, ...]}`` in row order. The JSON request and answer: ``registry/examples/README.md``.

Reads the two artifacts; :func:`log_expecto_model` writes an MLflow model (MLmodel,
pickled :class:`ExpectoModel` settings, the artifacts, the signature, the input example
and the model configuration ``{"max_rows": ...}``).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
from mlflow.models import infer_signature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PythonModel, PythonModelContext

from exprflow.errors import InputError
from exprflow.genome.fasta import Genome
from exprflow.genome.haplotype import anchored_window
from exprflow.models.expecto.plugins import ExpectoPlugins, expecto_plugins
from exprflow.scoring.dedup import WindowBank
from exprflow.scoring.windows import CENTRE, WINDOW, check_gene_span, gene_span, window_offsets
from exprflow.serving.log_model import log_pyfunc_model
from exprflow.serving.validation import (
    RequestError,
    check_frame,
    configured_max_rows,
    sequence_problem,
)
from exprflow.tracking.uris import local_path

__all__ = [
    "CHROMATIN_ARTIFACT",
    "INPUT_COLUMNS",
    "MAX_ROWS",
    "SEQUENCE_LENGTH",
    "TISSUE_ARTIFACT",
    "ExpectoModel",
    "log_expecto_model",
    "tss_sequence",
]

#: Artifact key of the Beluga checkpoint file.
CHROMATIN_ARTIFACT: Final = "chromatin_model"
#: Artifact key of the folder holding the tissue models and their ``modellist``.
TISSUE_ARTIFACT: Final = "tissue_models"
#: Input columns, in order.
INPUT_COLUMNS: Final = ("sequence", "strand")
#: Bases of every input sequence (either strand): the span of a gene's 200 windows.
SEQUENCE_LENGTH: Final = sum(gene_span("+"))
#: Default cap on input rows per call: 256 genes are ~10.7 MB of JSON, 51,200 Beluga windows.
MAX_ROWS: Final = 256
#: Distributions the model imports at serving time (besides exprflow itself).
_SERVING_PACKAGES: Final = ("mlflow", "numpy", "pandas", "pysam", "scipy", "torch", "tqdm")
_SOURCE: Final = "ExPecto model input"


def tss_sequence(
    genome: Genome,
    chrom: str,
    tss: int,
    strand: str,
    *,
    gene_id: str | None = None,
    allow_padding: bool = False,
) -> str:
    """Cut a gene's model input sequence out of the reference genome.

    Parameters
    ----------
    genome : Genome
        The reference FASTA.
    chrom : str
        Contig (aliases accepted).
    tss : int
        0-based position of the TSS base.
    strand : str
        ``"+"`` or ``"-"``.
    gene_id : str, optional
        Names the gene in errors. Default None: ``chrom:tss`` (1-based).
    allow_padding : bool, default False
        Accept a TSS whose windows run past a contig end (``N``-padded, as
        :func:`~exprflow.scoring.engine.score_genes` with ``allow_padding``).

    Returns
    -------
    str
        :data:`SEQUENCE_LENGTH` upper-case bases, genome ``+`` strand, laid out as
        :func:`~exprflow.scoring.windows.gene_span` says.

    Raises
    ------
    InputError
        When the windows run past a contig end and ``allow_padding`` is False.
    """
    name = gene_id or f"{chrom}:{tss + 1}"
    check_gene_span(genome, name, chrom, tss, strand, allow_padding=allow_padding)
    left, right = gene_span(strand)
    return anchored_window(genome, chrom, tss, left, right, ())


def _windows(sequence: str, strand: str) -> list[str]:
    """The 200 windows of an input sequence, in shift order (as ``haplotype_windows``)."""
    left, _ = gene_span(strand)
    starts = window_offsets(strand) + left - CENTRE
    return [sequence[start : start + WINDOW] for start in starts.tolist()]


def _row_problem(sequence: object, strand: object) -> str | None:
    """What is wrong with one input row, or None."""
    if not isinstance(strand, str) or strand not in ("+", "-"):
        return f"strand is {strand!r:.80}, expected '+' or '-'."
    left, right = gene_span(strand)
    return sequence_problem(
        sequence,
        length=SEQUENCE_LENGTH,
        length_note=f"({left} before the TSS and {right} from it on, strand {strand})",
    )


def _check_input(model_input: object, max_rows: int | None) -> list[tuple[str, str]]:
    """Return ``(upper-case sequence, strand)`` per row, or raise naming the bad row."""
    frame = check_frame(model_input, INPUT_COLUMNS, source=_SOURCE, max_rows=max_rows)
    rows = []
    for position, (label, sequence, strand) in enumerate(
        zip(frame.index, frame["sequence"], frame["strand"], strict=True)
    ):
        problem = _row_problem(sequence, strand)
        if problem:
            raise RequestError(
                _SOURCE,
                problem,
                record=f"row {position} (index {label!r})",
                fix="give each gene's sequence as tss_sequence() cuts it, and its strand.",
            )
        rows.append((str(sequence).upper(), str(strand)))
    return rows


class ExpectoModel(PythonModel):
    """The whole ExPecto model (Beluga, spatial transform, tissue models) as a pyfunc.

    Parameters
    ----------
    batch_size : int, default 1024
        Windows per chromatin forward pass.
    genes_per_batch : int, default 16
        Input rows whose windows share one de-duplication bank.
    device : str, optional
        Where Beluga runs. Default None: CUDA when available, else the CPU.
    max_rows : int or None, default MAX_ROWS
        Most input rows per :meth:`predict` call; None: no cap. Loaded as a pyfunc, the
        model configuration's ``max_rows`` overrides it.
    """

    def __init__(
        self,
        batch_size: int = 1024,
        genes_per_batch: int = 16,
        device: str | None = None,
        max_rows: int | None = MAX_ROWS,
    ) -> None:
        if batch_size < 1 or genes_per_batch < 1:
            raise ValueError(
                f"batch_size and genes_per_batch must be >= 1, got {batch_size}, {genes_per_batch}"
            )
        self.batch_size = batch_size
        self.genes_per_batch = genes_per_batch
        self.device = device
        self.max_rows = configured_max_rows(None, max_rows)  # checks the value
        self._plugins: ExpectoPlugins | None = None

    def __getstate__(self) -> dict[str, Any]:
        """Pickle the settings only; the weights travel as artifacts."""
        return {**self.__dict__, "_plugins": None}

    def __setstate__(self, state: dict[str, Any]) -> None:
        """Unpickle the settings; models logged before the row cap get :data:`MAX_ROWS`."""
        self.__dict__.update({"max_rows": MAX_ROWS, **state})

    def load(
        self, checkpoint: str | os.PathLike[str], tissue_models: str | os.PathLike[str]
    ) -> ExpectoModel:
        """Load the chromatin checkpoint and the tissue models; return ``self``.

        Parameters
        ----------
        checkpoint : str or PathLike
            Beluga checkpoint, path or URI.
        tissue_models : str or PathLike
            Local folder with a ``modellist``, or a model list / single model file.

        Returns
        -------
        ExpectoModel
            ``self``, ready to predict.

        Raises
        ------
        InputError
            When a file cannot be read or the tissue models do not fit the checkpoint.
        """
        self._plugins = expecto_plugins(
            checkpoint, Path(tissue_models), batch_size=self.batch_size, device=self.device
        )
        return self

    def load_context(self, context: PythonModelContext) -> None:
        """Load from the artifacts :data:`CHROMATIN_ARTIFACT` and :data:`TISSUE_ARTIFACT`.

        Parameters
        ----------
        context : mlflow.pyfunc.PythonModelContext
            Its ``artifacts`` map the two keys to local paths; its ``model_config`` may
            set ``max_rows``.

        Raises
        ------
        InputError
            When a file cannot be read or the configured ``max_rows`` is not valid.
        """
        self.max_rows = configured_max_rows(context, self.max_rows)
        self.load(context.artifacts[CHROMATIN_ARTIFACT], context.artifacts[TISSUE_ARTIFACT])

    @property
    def tissues(self) -> list[str]:
        """Output column names, in model-list order."""
        return list(self._loaded().heads.tissues)

    def _loaded(self) -> ExpectoPlugins:
        if self._plugins is None:
            raise RuntimeError("ExpectoModel is not loaded; call load() or load_context()")
        return self._plugins

    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Predict every tissue's expression for each input row.

        Parameters
        ----------
        context : mlflow.pyfunc.PythonModelContext or None
            Unused (the model is loaded in :meth:`load_context`).
        model_input : pandas.DataFrame
            Columns ``sequence`` and ``strand`` (see the module docstring), at most
            ``max_rows`` rows.
        params : dict, optional
            Unused.

        Returns
        -------
        pandas.DataFrame
            ``model_input``'s index, one float32 column per tissue,
            ``ln(RPKM + pseudocount)``.

        Raises
        ------
        RequestError
            An :class:`~exprflow.errors.InputError` (HTTP 400 when served) naming the
            problem: not a DataFrame, a missing column, too many rows, or the row with a
            bad strand, a wrong length or other characters.
        """
        rows = _check_input(model_input, self.max_rows)
        chromatin, reduce, heads = self._loaded()
        bank, predictions = WindowBank(WINDOW), []
        for first in range(0, len(rows), self.genes_per_batch):
            group = rows[first : first + self.genes_per_batch]
            slots = np.stack([bank.add(_windows(sequence, strand)) for sequence, strand in group])
            bank.evaluate(chromatin, self.batch_size)
            predictions.append(heads(reduce(bank.features(slots))))
            bank.clear()
        values = (
            np.concatenate(predictions)
            if predictions
            else np.empty((0, len(heads.tissues)), dtype=np.float32)
        )
        return pd.DataFrame(values, index=model_input.index, columns=heads.tissues)


def _default_example() -> pd.DataFrame:
    """A valid input of no particular gene: one all-``N`` ``+`` strand sequence."""
    return pd.DataFrame({"sequence": ["N" * SEQUENCE_LENGTH], "strand": ["+"]})


def log_expecto_model(
    checkpoint: str | os.PathLike[str],
    tissue_models_dir: str | os.PathLike[str],
    *,
    name: str = "model",
    registered_model_name: str | None = None,
    input_example: pd.DataFrame | None = None,
    batch_size: int = 1024,
    max_rows: int | None = MAX_ROWS,
) -> ModelInfo:
    """Log the ExPecto model to the active run as a pyfunc model with signature and example.

    The model is first loaded and run on ``input_example`` here; that prediction gives the
    signature (inputs ``sequence``/``strand`` as strings, one float output per tissue), so a
    checkpoint that does not fit its tissue models fails before anything is logged.

    No ``code_paths``: the model imports the installed ``exprflow``, which is what
    ``mlflow models serve -m … --env-manager local`` finds in this project's virtualenv (and
    the step images have). Copying ``src/exprflow`` in would let a served model run other
    code than the package beside it, and exprflow is not on PyPI, so other environment
    managers need it installed anyway. The pinned requirements list what the model imports
    besides exprflow; the metadata records the exprflow code version it was logged with.

    Parameters
    ----------
    checkpoint : str or PathLike
        Beluga checkpoint (exprflow or released state dict), path or URI; artifact
        :data:`CHROMATIN_ARTIFACT`.
    tissue_models_dir : str or PathLike
        Folder with the tissue models and their ``modellist``, path or URI; artifact
        :data:`TISSUE_ARTIFACT`.
    name : str, default "model"
        Name of the logged model.
    registered_model_name : str, optional
        Also register the model under this name. Default None: do not register.
    input_example : pandas.DataFrame, optional
        Example input (e.g. one gene's :func:`tss_sequence` and strand). Default None:
        one all-``N`` ``+`` strand sequence.
    batch_size : int, default 1024
        Windows per chromatin forward pass of the logged model.
    max_rows : int or None, default MAX_ROWS
        Most rows per call of the logged model (None: no cap), logged as the model
        configuration ``{"max_rows": max_rows}`` so that loading or serving can change it.

    Returns
    -------
    mlflow.models.model.ModelInfo
        Where the model was logged (``model_uri``) and its signature.

    Raises
    ------
    InputError
        When a file cannot be read, the tissue models do not fit the checkpoint, or the
        input example is not a valid input.
    """
    example = _default_example() if input_example is None else input_example
    checkpoint_path = local_path(str(checkpoint))
    tissue_path = local_path(str(tissue_models_dir))
    if not tissue_path.is_dir():
        raise InputError(
            tissue_path, "is not a folder.", fix="give the folder holding the modellist."
        )
    local = ExpectoModel(batch_size=batch_size, max_rows=max_rows)
    signature = infer_signature(
        example, local.load(checkpoint_path, tissue_path).predict(None, example)
    )
    return log_pyfunc_model(
        ExpectoModel(batch_size=batch_size, max_rows=max_rows),
        name=name,
        artifacts={CHROMATIN_ARTIFACT: str(checkpoint_path), TISSUE_ARTIFACT: str(tissue_path)},
        signature=signature,
        input_example=example,
        max_rows=max_rows,
        registered_model_name=registered_model_name,
        metadata={
            "sequence_length": SEQUENCE_LENGTH,
            "tss_index": {strand: gene_span(strand)[0] for strand in "+-"},
            "tissues": local.tissues,
        },
        packages=_SERVING_PACKAGES,
    )
