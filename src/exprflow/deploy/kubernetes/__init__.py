"""Kubernetes manifests of the steps: sharded Indexed Jobs, their merge, MLflow's backend."""
