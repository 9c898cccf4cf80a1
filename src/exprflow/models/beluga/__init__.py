"""Beluga (DeepSEA, ExPecto's chromatin model): 2000 bp of DNA → 2002 chromatin probabilities.

Modules (import them by full path; nothing is re-exported here):

* :mod:`~exprflow.models.beluga.config` — :class:`BelugaConfig`, the published sizes and a
  tiny one, with a JSON round-trip;
* :mod:`~exprflow.models.beluga.model` — the :class:`Beluga` network, nested exactly as
  the released ``deepsea.beluga.pth`` state dict;
* :mod:`~exprflow.models.beluga.predict` — batched forward + reverse-complement averaging;
* :mod:`~exprflow.models.beluga.convert` — strict, checked loading of a plain state dict;
* :mod:`~exprflow.models.beluga.load` — :func:`from_pretrained` and self-describing
  exprflow checkpoints.
"""
