"""Deployments the pipeline runs on: the MLflow tracking server with S3 artifacts, Kubernetes."""
