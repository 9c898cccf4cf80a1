"""Probe heads on frozen Basenji2 embeddings (the CS282A study): four PyTorch heads.

Every head takes embeddings ``(batch, channels, bins)`` float: the trunk's
``(bins, channels)`` output transposed, 1536 × 896 published, 64 × 896 for the demo's tiny
trunk. Modules (import them by full path; nothing is re-exported here):

* :mod:`~exprflow.models.probes.base` — the config base, the input check, checked
  state-dict loading;
* :mod:`~exprflow.models.probes.linear_probe` — 1×1 conv + softplus per 128 bp bin
  (Poisson NLL); loads the released ``cs282a_linear_probe.pth``;
* :mod:`~exprflow.models.probes.conv_perceptron` — 1×1 conv, GELU, flatten, linear
  (single bin, MSE);
* :mod:`~exprflow.models.probes.maxpool_perceptron` — 1×1 conv, GELU, max over bins, linear
  (single bin, MSE); loads the released ``cs282a_maxpool_perceptron.pt``;
* :mod:`~exprflow.models.probes.transformer_head` — self-attention over the bins (the
  published code attended across the batch; fixed), linear, mean (single bin, MSE);
* :mod:`~exprflow.models.probes.registry` — :data:`HEADS`, the heads by name with their
  target dataset and loss.
"""
