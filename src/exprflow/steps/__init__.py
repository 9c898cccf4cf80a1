"""Pipeline steps: one module per MLflow entry point, each with its parameter dataclass."""
