"""Dataset builders and readers of published tables, reading only the real formats."""
