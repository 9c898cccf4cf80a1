"""Haplotype masked language model (lm-eqtl's DSS-ResNet with a per-gene embedding).

Modules (import them by full path; nothing is re-exported here):

* :mod:`~exprflow.models.mlm.config` — :class:`MlmConfig`, the named sizes
  :data:`MLM_SIZES` (published, small, tiny);
* :mod:`~exprflow.models.mlm.dss` — the bidirectional diagonal state space layer
  (softmax DSS kernel, FFT convolution);
* :mod:`~exprflow.models.mlm.model` — :class:`HaplotypeMLM`: one-hot haplotype tokens and
  a gene index in, token logits and backbone embeddings out;
* :mod:`~exprflow.models.mlm.saved` — the saved-model folder (``mlm.json`` +
  ``weights.pt``).
"""
