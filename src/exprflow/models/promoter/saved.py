"""A trained promoter model on disk: one folder with ``config.json`` and ``weights.pt``.

Layout of the folder (:func:`save_promoter_model` writes it, :func:`load_promoter_model`
reads it; see :mod:`exprflow.models.model_folder`)::

    config.json   PromoterModelConfig.to_json(): {"model_type": "promoter", "backbone": …,
                  "size": …, "seq_length": …, "n_motifs": …, "heads": {task: logits},
                  "head_style": …, "norm": …}
    weights.pt    plain state dict of the PromoterModel (backbone.* and heads.<task>.*)

Both files are written atomically. Weights are read with ``torch.load(weights_only=True)``;
every key and shape is checked against the model built from the config before a strict
load, and a mismatch names the file, the keys and the fix.
"""

from __future__ import annotations

from os import PathLike
from pathlib import Path

from exprflow.models.model_folder import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    read_model_folder,
    write_model_folder,
)
from exprflow.models.promoter.config import PromoterModelConfig
from exprflow.models.promoter.model import PromoterModel, build_promoter_model

__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "check_config_matches",
    "load_promoter_model",
    "save_promoter_model",
]

_FIX = "write the folder with exprflow.models.promoter.save_promoter_model."


def check_config_matches(model: PromoterModel, config: PromoterModelConfig) -> None:
    """ValueError unless ``config`` describes ``model``'s backbone width, heads and styles.

    Parameters
    ----------
    model : PromoterModel
        The model.
    config : PromoterModelConfig
        Its claimed config.
    """
    if model.head_sizes != config.heads:
        raise ValueError(
            f"config heads {config.heads} differ from the model's heads {model.head_sizes}"
        )
    styles = set(model.head_styles.values())
    if styles - {config.head_style}:
        raise ValueError(
            f"config head_style {config.head_style!r} but the model has heads of styles "
            f"{model.head_styles}; one style per saved model"
        )
    expected = build_promoter_model(config).state_dict()
    got = model.state_dict()
    wrong = sorted(
        key
        for key in expected.keys() | got.keys()
        if key not in expected or key not in got or expected[key].shape != got[key].shape
    )
    if wrong:
        raise ValueError(
            f"the model is not a {config.backbone} ({config.size}) as the config says; "
            f"{len(wrong)} weights differ in name or shape, e.g. {wrong[:3]}"
        )


def save_promoter_model(
    model: PromoterModel, config: PromoterModelConfig, folder: str | PathLike[str]
) -> Path:
    """Write ``model`` and ``config`` to ``folder`` (created); return ``folder``.

    Parameters
    ----------
    model : PromoterModel
        The model (any device; weights are saved from the CPU).
    config : PromoterModelConfig
        Its config; checked against the model first.
    folder : str or PathLike
        Destination folder.

    Returns
    -------
    Path

    Raises
    ------
    ValueError
        When ``config`` does not describe ``model`` (heads, head style, weight shapes).
    """
    check_config_matches(model, config)
    return write_model_folder(model, config.to_json(), folder)


def load_promoter_model(folder: str | PathLike[str]) -> tuple[PromoterModel, PromoterModelConfig]:
    """Read a folder written by :func:`save_promoter_model` (eval mode, CPU).

    Parameters
    ----------
    folder : str or PathLike
        The folder.

    Returns
    -------
    tuple of (PromoterModel, PromoterModelConfig)

    Raises
    ------
    InputError
        A file is missing or unreadable, the config is malformed, or a weight is missing,
        unexpected or of the wrong shape for the config.
    """
    configs: list[PromoterModelConfig] = []

    def parse(text: str, source: str) -> PromoterModelConfig:
        configs.append(PromoterModelConfig.from_json(text, source))
        return configs[-1]

    model = read_model_folder(folder, parse, build_promoter_model, _FIX)
    return model, configs[-1]
