"""A trained promoter model as an MLflow pyfunc: promoter sequences in, activity per cell out.

The logged model holds two artifacts:

- ``promoter_model``: the saved model folder (``config.json`` + ``weights.pt``,
  :mod:`exprflow.models.promoter.saved`);
- ``promoter_serving``: ``serving.json`` — the task whose head is served (a
  :class:`~exprflow.data.promoter_tasks.TaskSpec`, e.g. ``FluorescenceData`` with outputs
  ``JURKAT, K562, THP1``) and, for the MotifBasedFCN backbones, the motif scanner's
  settings and motifs (exact probabilities, so the counts at serving time are those of
  training) — and, for those backbones, ``motifs.meme``, the same motifs in MEME format
  for people and other tools.

Input: a DataFrame with a ``sequence`` column — DNA strings of exactly the model's length
(``seq_length``, 250 bp for the fluorescence promoters), letters A, C, G, T, N in either
case. Output: one float column per task output (cell): the predicted log2 activity
(regression task) or the probability that the activity is above the cell's median
(``FluorescenceData_classification``). MotifBasedFCN models count motif sites in each
sequence first (:class:`~exprflow.models.promoter.motif_counts.MotifScanner`).

A missing column, a sequence of the wrong length or with other letters, or more than
``max_rows`` rows raises :class:`~exprflow.serving.validation.RequestError` (HTTP 400
when served). Weights are read with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd
import torch
from mlflow.models import ModelSignature
from mlflow.models.model import ModelInfo
from mlflow.pyfunc import PythonModel, PythonModelContext
from mlflow.types import ColSpec, Schema

from exprflow.atomic import atomic_path
from exprflow.data.promoter_codes import encode_codes
from exprflow.data.promoter_tasks import TaskSpec
from exprflow.errors import InputError
from exprflow.genome.meme import write_meme
from exprflow.genome.pwm import PWM
from exprflow.models.promoter import PromoterModel, PromoterModelConfig, load_promoter_model
from exprflow.models.promoter.motif_counts import MotifScanner, backbone_input
from exprflow.serving.log_model import log_pyfunc_model
from exprflow.serving.validation import (
    RequestError,
    check_frame,
    configured_max_rows,
    sequence_problem,
)

__all__ = [
    "BATCH_SIZE",
    "COLUMN",
    "MAX_ROWS",
    "MODEL_ARTIFACT",
    "REGISTERED_NAME",
    "SERVING_ARTIFACT",
    "PromoterPyfuncModel",
    "log_promoter_model",
    "write_serving_folder",
]

#: Artifact key of the saved model folder.
MODEL_ARTIFACT: Final = "promoter_model"
#: Artifact key of the folder with ``serving.json`` (and ``motifs.meme``).
SERVING_ARTIFACT: Final = "promoter_serving"
#: Name the best fluorescence model is registered under.
REGISTERED_NAME: Final = "promoter-fluorescence"
#: Input column.
COLUMN: Final = "sequence"
#: Default cap on rows per request.
MAX_ROWS: Final = 1024
#: Sequences run through the model at once.
BATCH_SIZE: Final = 128
_SERVING_FILE = "serving.json"
_MEME_FILE = "motifs.meme"
_SOURCE = "promoter model input"
_SERVED_KINDS = ("regression", "binary")


def _scanner_json(scanner: MotifScanner) -> dict[str, Any]:
    """The scanner's settings and motifs (exact floats) as JSON-ready values."""
    motifs = [
        {
            "name": p.name,
            "alt_name": p.alt_name,
            "nsites": p.nsites,
            "evalue": p.evalue,
            "probs": p.probs.tolist(),
        }
        for p in scanner.pwms
    ]
    return {
        "pvalue": scanner.pvalue,
        "background": scanner.background.tolist(),
        "pseudocount": scanner.pseudocount,
        "resolution": scanner.resolution,
        "motifs": motifs,
    }


def _scanner_from_json(values: dict[str, Any]) -> MotifScanner:
    pwms = [
        PWM(m["name"], m["alt_name"], np.asarray(m["probs"]), m["nsites"], m["evalue"])
        for m in values["motifs"]
    ]
    return MotifScanner(
        pwms,
        pvalue=values["pvalue"],
        background=values["background"],
        pseudocount=values["pseudocount"],
        resolution=values["resolution"],
    )


def _same_scanner(a: MotifScanner, b: MotifScanner | None) -> bool:
    """True when ``b`` scores and thresholds every motif exactly as ``a``."""
    return (
        b is not None
        and a.names == b.names
        and np.array_equal(a.thresholds, b.thresholds)
        and all(np.array_equal(x, y) for x, y in zip(a.scores, b.scores, strict=True))
    )


def _check_served(
    config: PromoterModelConfig, spec: TaskSpec, scanner: MotifScanner | None
) -> None:
    """ValueError unless ``spec`` is a served kind with a head of its width, scanner as needed."""
    if spec.kind not in _SERVED_KINDS:
        raise ValueError(f"task {spec.name} is {spec.kind}; served kinds: {_SERVED_KINDS}")
    if config.heads.get(spec.name) != spec.n_logits:
        raise ValueError(
            f"the model has no {spec.n_logits}-logit head for {spec.name}; heads {config.heads}"
        )
    if (scanner is None) != (config.n_motifs == 0):
        raise ValueError(
            f"{config.backbone} takes {config.n_motifs} motif counts; give a MotifScanner "
            "exactly for the MotifBasedFCN backbones"
        )
    if scanner is not None and scanner.n_motifs != config.n_motifs:
        raise ValueError(f"the scanner has {scanner.n_motifs} motifs, the model {config.n_motifs}")


def write_serving_folder(
    folder: str | os.PathLike[str], task_spec: TaskSpec, scanner: MotifScanner | None = None
) -> Path:
    """Write ``serving.json`` (and ``motifs.meme`` with a scanner) into ``folder``.

    Parameters
    ----------
    folder : str or PathLike
        Created if needed.
    task_spec : TaskSpec
        The served task (its head's outputs become the output columns).
    scanner : MotifScanner, optional
        The MotifBasedFCN backbone's motif scanner (default None: a sequence model).

    Returns
    -------
    Path
        ``folder``.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    values = {
        "task_spec": json.loads(task_spec.to_json()),
        "scanner": None if scanner is None else _scanner_json(scanner),
    }
    with atomic_path(folder / _SERVING_FILE) as tmp:
        tmp.write_text(json.dumps(values, indent=1))
    if scanner is not None:
        write_meme(scanner.pwms, folder / _MEME_FILE, background=scanner.background.tolist())
    return folder


def _read_serving_folder(folder: Path) -> tuple[TaskSpec, MotifScanner | None]:
    path = folder / _SERVING_FILE
    try:
        values = json.loads(path.read_text())
        spec = TaskSpec.from_json(json.dumps(values["task_spec"]))
        scanner = None if values["scanner"] is None else _scanner_from_json(values["scanner"])
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise InputError(
            path, f"is not a promoter serving description ({error}).", fix="log the model again."
        ) from error
    return spec, scanner


class PromoterPyfuncModel(PythonModel):
    """Pyfunc wrapper of a saved promoter model and its served task (module docstring).

    Parameters
    ----------
    max_rows : int or None, optional
        Rows per request when the model configuration sets none. Default :data:`MAX_ROWS`.
    batch_size : int, optional
        Sequences per forward pass. Default :data:`BATCH_SIZE`.
    """

    def __init__(self, max_rows: int | None = MAX_ROWS, batch_size: int = BATCH_SIZE) -> None:
        self.default_max_rows = max_rows
        self.max_rows = max_rows
        self.batch_size = batch_size
        self.model: PromoterModel | None = None
        self.config: PromoterModelConfig | None = None
        self.spec: TaskSpec | None = None
        self.scanner: MotifScanner | None = None

    def load(
        self, model_folder: str | os.PathLike[str], serving_folder: str | os.PathLike[str]
    ) -> PromoterPyfuncModel:
        """Load the model and its serving description (also used before logging).

        Parameters
        ----------
        model_folder : str or PathLike
            Written by :func:`~exprflow.models.promoter.save_promoter_model`.
        serving_folder : str or PathLike
            Written by :func:`write_serving_folder`.

        Returns
        -------
        PromoterPyfuncModel
            ``self``.

        Raises
        ------
        InputError
            A broken folder.
        ValueError
            The task, head and scanner do not fit together.
        """
        model, config = load_promoter_model(model_folder)
        spec, scanner = _read_serving_folder(Path(serving_folder))
        _check_served(config, spec, scanner)
        self.model, self.config, self.spec, self.scanner = model.eval(), config, spec, scanner
        return self

    def load_context(self, context: PythonModelContext) -> None:
        """Load from the logged artifacts; read ``max_rows``."""
        self.max_rows = configured_max_rows(context, self.default_max_rows)
        self.load(context.artifacts[MODEL_ARTIFACT], context.artifacts[SERVING_ARTIFACT])

    def _codes(self, frame: pd.DataFrame) -> np.ndarray:
        """Check every sequence; return their int8 codes (n, L)."""
        assert self.config is not None
        length = self.config.seq_length
        for row, value in enumerate(frame[COLUMN]):
            problem = sequence_problem(value, length=length, length_note="(the model's length)")
            if problem is not None:
                raise RequestError(
                    _SOURCE,
                    problem,
                    record=f"row {row}",
                    fix=f"send promoters of exactly {length} bases of A, C, G, T, N.",
                )
        return encode_codes(list(frame[COLUMN]), length)

    @torch.no_grad()
    def predict(
        self,
        context: PythonModelContext | None,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        """Predict each sequence's activity per cell (module docstring)."""
        if self.model is None or self.spec is None:
            raise RuntimeError("PromoterPyfuncModel.predict before load_context")
        frame = check_frame(model_input, (COLUMN,), source=_SOURCE, max_rows=self.max_rows)
        codes = self._codes(frame)
        out = np.zeros((len(codes), len(self.spec.outputs)), dtype=np.float64)
        for start in range(0, len(codes), self.batch_size):
            logits = self.model(
                backbone_input(codes[start : start + self.batch_size], self.scanner),
                self.spec.name,
            )
            if self.spec.kind == "binary":
                logits = torch.sigmoid(logits)
            out[start : start + len(logits)] = logits.double().numpy()
        return pd.DataFrame(out, columns=list(self.spec.outputs))


def _units(spec: TaskSpec) -> str:
    if spec.kind == "binary":
        return "probability that the activity is above the cell's median"
    return "log2 activity (library-normalised P4/P7, mean of replicates)"


def log_promoter_model(
    model_folder: str | os.PathLike[str],
    name: str = "model",
    *,
    task_spec: TaskSpec,
    input_example: pd.DataFrame | Sequence[str],
    scanner: MotifScanner | None = None,
    registered_name: str | None = None,
    max_rows: int | None = MAX_ROWS,
    metadata: dict[str, Any] | None = None,
) -> ModelInfo:
    """Log a saved promoter model to the active run as a pyfunc with signature and example.

    The model is loaded and run on the example first, so a broken folder or a task it has
    no head for fails before anything is logged.

    Parameters
    ----------
    model_folder : str or PathLike
        Written by :func:`~exprflow.models.promoter.save_promoter_model`.
    name : str, optional
        Name of the logged model. Default "model".
    task_spec : TaskSpec
        The served task (regression or binary; e.g. ``FluorescenceData``); the model
        needs a head of that name and width.
    input_example : pandas.DataFrame or sequence of str
        A few promoters (a ``sequence`` column, or the strings themselves).
    scanner : MotifScanner, optional
        Required exactly for the MotifBasedFCN backbones: the scanner of training.
    registered_name : str, optional
        Also register the model under this name (:data:`REGISTERED_NAME` for the best
        fluorescence model). Default None.
    max_rows : int or None, optional
        Rows per request, logged as the model configuration. Default :data:`MAX_ROWS`.
    metadata : dict, optional
        More model metadata (e.g. test metrics, the run's configuration).

    Returns
    -------
    mlflow.models.model.ModelInfo

    Raises
    ------
    InputError
        A broken model folder, or a bad input example.
    ValueError
        The task is not served (multiclass), the model has no head for it, or a scanner
        is missing, unneeded or of another motif count.
    """
    example = (
        input_example.loc[:, [COLUMN]]
        if isinstance(input_example, pd.DataFrame)
        else pd.DataFrame({COLUMN: list(input_example)})
    )
    with tempfile.TemporaryDirectory(prefix="promoter-serving-") as tmp:
        serving = write_serving_folder(Path(tmp) / SERVING_ARTIFACT, task_spec, scanner)
        local = PromoterPyfuncModel(max_rows).load(model_folder, serving)
        local.predict(None, example)
        assert local.config is not None
        if scanner is not None and not _same_scanner(scanner, local.scanner):
            raise ValueError("the saved motifs do not reproduce the scanner's scores")
        signature = ModelSignature(
            inputs=Schema([ColSpec("string", COLUMN)]),
            outputs=Schema([ColSpec("double", c) for c in task_spec.outputs]),
        )
        return log_pyfunc_model(
            PromoterPyfuncModel(max_rows),
            name=name,
            artifacts={MODEL_ARTIFACT: str(model_folder), SERVING_ARTIFACT: str(serving)},
            signature=signature,
            input_example=example,
            max_rows=max_rows,
            registered_model_name=registered_name,
            metadata={
                "task": task_spec.name,
                "outputs": list(task_spec.outputs),
                "units": _units(task_spec),
                "backbone": local.config.backbone,
                "size": local.config.size,
                "seq_length": local.config.seq_length,
                "n_motifs": local.config.n_motifs,
                **(metadata or {}),
            },
        )
