"""The pipeline: step specifications, the MLproject files, the cache and the runner."""
