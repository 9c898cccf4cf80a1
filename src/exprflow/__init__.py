"""exprflow: one MLflow-tracked pipeline for gene-expression models."""

__version__ = "0.1.0"
