"""The probe heads by name: config class, module class, target dataset and loss of each.

:data:`HEADS` maps ``"linear_probe"``, ``"conv_perceptron"``, ``"maxpool_perceptron"`` and
``"transformer"`` to a :class:`HeadSpec`. Every head takes embeddings ``(batch, channels,
bins)``; a spec says which labels dataset it is trained on and turns that dataset's
``(regions, bins, tracks)`` or ``(regions, 1, tracks)`` rows into the head's output layout:

=====================  ==============  =====================  ================================
head                   target          output                 loss
=====================  ==============  =====================  ================================
linear_probe           ``128bp_bins``  (batch, tracks, bins)  Poisson NLL on rates
conv_perceptron        ``single_bin``  (batch, tracks)        MSE
maxpool_perceptron     ``single_bin``  (batch, tracks)        MSE
transformer            ``single_bin``  (batch, tracks)        MSE
=====================  ==============  =====================  ================================

Configs carry their head name as ``model_type``, so :func:`config_from_json` reads back
any of them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from os import PathLike
from typing import Any, Literal

import torch
from torch import nn

from exprflow.errors import InputError
from exprflow.models.probes import (
    conv_perceptron,
    linear_probe,
    maxpool_perceptron,
    transformer_head,
)
from exprflow.models.probes.base import ProbeConfig

__all__ = ["HEADS", "HeadSpec", "LossName", "TargetKind", "config_from_json"]

#: Labels dataset a head is trained on (see :mod:`exprflow.data.label_file`).
TargetKind = Literal["128bp_bins", "single_bin"]
#: Training loss of a head.
LossName = Literal["poisson_nll", "mse"]


@dataclass(frozen=True)
class HeadSpec:
    """One probe head: how to configure, build, train and (where published) load it.

    Parameters
    ----------
    name : str
        Head name, also its configs' ``model_type``.
    config_cls : type of ProbeConfig
        Its config dataclass (``published()``, ``tiny(...)``).
    module_cls : type of torch.nn.Module
        Its module, built from a config.
    target : {"128bp_bins", "single_bin"}
        Labels dataset it predicts.
    loss : {"poisson_nll", "mse"}
        Training loss.
    load_published : callable or None
        ``path → module`` for a released state dict; None where nothing was released.
    """

    name: str
    config_cls: type[ProbeConfig]
    module_cls: type[nn.Module]
    target: TargetKind
    loss: LossName
    load_published: Callable[[str | PathLike[str]], nn.Module] | None

    def build(self, config: ProbeConfig | None = None) -> nn.Module:
        """Build a freshly initialised head.

        Parameters
        ----------
        config : ProbeConfig, optional
            An instance of :attr:`config_cls`. Default None: the published sizes.

        Returns
        -------
        torch.nn.Module

        Raises
        ------
        TypeError
            When ``config`` belongs to another head.
        """
        config = config if config is not None else self.config_cls.published()
        if type(config) is not self.config_cls:
            raise TypeError(
                f"head {self.name!r} needs a {self.config_cls.__name__}, "
                f"got {type(config).__name__}"
            )
        return self.module_cls(config)

    def loss_fn(self) -> nn.Module:
        """The training loss: ``PoissonNLLLoss(log_input=False)`` on rates, or ``MSELoss``."""
        if self.loss == "poisson_nll":
            return nn.PoissonNLLLoss(log_input=False)
        return nn.MSELoss()

    def labels_as_output(self, labels: torch.Tensor) -> torch.Tensor:
        """Turn a batch of label rows into the head's output layout.

        Parameters
        ----------
        labels : torch.Tensor
            Rows of the :attr:`target` dataset: ``(batch, bins, tracks)`` for
            ``128bp_bins``, ``(batch, 1, tracks)`` for ``single_bin``.

        Returns
        -------
        torch.Tensor
            ``(batch, tracks, bins)`` or ``(batch, tracks)``.

        Raises
        ------
        ValueError
            When ``labels`` is not 3-D, or a ``single_bin`` batch has more than one bin.
        """
        if labels.ndim != 3 or (self.target == "single_bin" and labels.shape[1] != 1):
            wanted = (
                "(batch, 1, tracks)" if self.target == "single_bin" else "(batch, bins, tracks)"
            )
            raise ValueError(f"{self.target} labels must be {wanted}, got {tuple(labels.shape)}")
        if self.target == "single_bin":
            return labels[:, 0, :]
        return labels.transpose(1, 2)


HEADS: dict[str, HeadSpec] = {
    "linear_probe": HeadSpec(
        "linear_probe",
        linear_probe.LinearProbeConfig,
        linear_probe.LinearProbe,
        "128bp_bins",
        "poisson_nll",
        linear_probe.load_published,
    ),
    "conv_perceptron": HeadSpec(
        "conv_perceptron",
        conv_perceptron.ConvPerceptronConfig,
        conv_perceptron.ConvPerceptron,
        "single_bin",
        "mse",
        None,
    ),
    "maxpool_perceptron": HeadSpec(
        "maxpool_perceptron",
        maxpool_perceptron.MaxPoolPerceptronConfig,
        maxpool_perceptron.MaxPoolPerceptron,
        "single_bin",
        "mse",
        maxpool_perceptron.load_published,
    ),
    "transformer": HeadSpec(
        "transformer",
        transformer_head.TransformerHeadConfig,
        transformer_head.TransformerHead,
        "single_bin",
        "mse",
        None,
    ),
}


def config_from_json(text: str | Mapping[str, Any], source: str = "config") -> ProbeConfig:
    """Read any head's config written by ``to_json()``, by its ``model_type``.

    Parameters
    ----------
    text : str or mapping
        The JSON document or its parsed mapping.
    source : str, optional
        File or record named in errors. Default ``"config"``.

    Returns
    -------
    ProbeConfig
        An instance of the named head's config class.

    Raises
    ------
    InputError
        When the document is not a JSON object, names no known head, or has bad fields.
    """
    fix = f"write the config with its to_json(); model_type is one of {sorted(HEADS)}."
    try:
        doc = dict(json.loads(text)) if isinstance(text, str) else dict(text)
    except (ValueError, TypeError) as exc:
        raise InputError(source, f"config is not a JSON object ({exc}).", fix=fix) from None
    spec = HEADS.get(str(doc.get("model_type")))
    if spec is None:
        raise InputError(source, f"model_type {doc.get('model_type')!r} is no probe head.", fix=fix)
    return spec.config_cls.from_json(doc, source)
