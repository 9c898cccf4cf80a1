"""ExPecto: spatial chromatin features, linear tissue models and variant expression effects.

Modules: ``features`` (window geometry, spatial decay transform, feature layouts),
``legacy`` (reader of the released xgboost 0.7 binary models and their text dumps),
``tissue`` (linear tissue models: prediction, model lists, training, exprflow JSON),
``effects`` (variant effects from Beluga chromatin differences, weighted by distance to
the closest TSS), ``variant_diffs`` (those differences computed from a VCF: alt − ref
windows at ExPecto's shifts), ``diff_files`` (ExPecto's ``.diff.h5`` and ``.closestgene``
files, read and written; closest genes without bedtools), ``plugins`` (the chromatin
model, spatial transform and tissue models as plug-ins of :mod:`exprflow.scoring`) and
``pyfunc`` (the whole model as an MLflow pyfunc: sequence in, per-tissue expression out).
"""
