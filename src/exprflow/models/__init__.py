"""Model architectures: one folder per architecture with its config, model and weight loader."""
