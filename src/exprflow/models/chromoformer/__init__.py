"""Chromoformer (``dohlee/chromoformer``): promoter and pCRE histone marks → expression.

Modules (import them by full path; nothing is re-exported here):

* :mod:`~exprflow.models.chromoformer.config` — :class:`ChromoformerConfig` (published
  and tiny sizes, JSON round trip);
* :mod:`~exprflow.models.chromoformer.modules` — the transformer blocks (gated
  self-attention with a score bias, promoter × pCRE cross-attention, feed-forward);
* :mod:`~exprflow.models.chromoformer.model` — :class:`Chromoformer`: the batch dict of
  :mod:`exprflow.data.chromatin_torch` in, logits or a value out; pad masks derived from
  the pCRE lengths;
* :mod:`~exprflow.models.chromoformer.checkpoint` — loads a published ``.pt`` checkpoint
  (``{"net": state_dict}``) strictly;
* :mod:`~exprflow.models.chromoformer.saved` — the saved-model folder (``config.json`` +
  ``weights.pt``).
"""
