"""Model training: data preparation from the real file formats, plain readable loops.

Modules (import them by full path; nothing is re-exported here):

* :mod:`~exprflow.training.chromatin_data` — DeepSEA/Beluga-style binary chromatin labels
  from bigWig tracks, window sampling and one-hot windows;
* :mod:`~exprflow.training.chromatin` — training a Beluga chromatin model on them, with
  held-out-chromosome validation (loss and mean AUROC);
* :mod:`~exprflow.training.tissue` — ExPecto tissue models on reference-genome features,
  one per cell type, with held-out-chromosome Spearman and Pearson.
"""
