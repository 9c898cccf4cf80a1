"""MLflow glue: the tracking store, step runs, fingerprints and URIs."""
