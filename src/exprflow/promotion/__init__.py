"""Promotion through the MLflow Model Registry by a policy: aliases, never stages.

``policy`` reads and validates ``registry/policy.yaml``; ``decide`` turns a candidate's
and the champion's values into a decision (pure, no MLflow); ``registry_ops`` reads
versions' metrics, runs the checks that need the model, and moves aliases and tags. The
entry point is :mod:`exprflow.steps.promote`.
"""
