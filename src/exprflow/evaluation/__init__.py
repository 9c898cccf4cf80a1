"""Evaluation: metrics comparing predictions with observed data, their plots and reports."""
