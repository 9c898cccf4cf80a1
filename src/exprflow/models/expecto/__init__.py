"""ExPecto: spatial chromatin features, linear tissue models and variant expression effects.

Modules: ``features`` (window geometry, spatial decay transform, feature layouts),
``legacy`` (reader of the released xgboost 0.7 binary models and their text dumps),
``tissue`` (linear tissue models: prediction, model lists, training, exprflow JSON),
``effects`` (variant effects from precomputed Beluga chromatin differences) and
``plugins`` (the chromatin model, spatial transform and tissue models as plug-ins of
:mod:`exprflow.scoring`).
"""
