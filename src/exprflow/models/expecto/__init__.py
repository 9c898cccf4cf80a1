"""ExPecto: spatial chromatin features, linear tissue models and variant expression effects.

Modules: ``features`` (window geometry, spatial decay transform, feature layouts),
``legacy`` (reader of the released xgboost 0.7 binary models and their text dumps),
``tissue`` (linear tissue models: prediction, model lists, training, exprflow JSON) and
``effects`` (variant effects from precomputed Beluga chromatin differences).
"""
