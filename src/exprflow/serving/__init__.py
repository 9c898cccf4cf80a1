"""Serving exprflow's pyfunc models over HTTP (``mlflow models serve``): shared request checks."""
