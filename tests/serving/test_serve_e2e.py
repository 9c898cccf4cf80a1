"""``mlflow models serve`` answers the registered ExPecto champion over HTTP on loopback.

One server (module fixture) serves every case: the registry's example request gives the
in-process pyfunc's predictions, and each kind of malformed request gets a 4xx whose
message names the problem.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient
from tests._live import end_group, free_port, start, wait_until_up

from exprflow.models.expecto.pyfunc import MAX_ROWS, SEQUENCE_LENGTH, log_expecto_model

pytestmark = pytest.mark.integration

PROJECT_ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = PROJECT_ROOT / "registry" / "examples" / "expecto.json"
BIN = Path(sys.executable).parent
CHAMPION = "models:/expecto@champion"
N = "N" * SEQUENCE_LENGTH


@pytest.fixture(scope="module")
def champion(module_tracking: Path, tiny_expecto) -> str:
    """The tiny ExPecto model registered as ``expecto``, version 1 aliased ``champion``."""
    mlflow.set_experiment("serving")
    with mlflow.start_run():
        info = log_expecto_model(
            tiny_expecto.checkpoint, tiny_expecto.tissue_models, registered_model_name="expecto"
        )
    MlflowClient().set_registered_model_alias("expecto", "champion", info.registered_model_version)
    return CHAMPION


@pytest.fixture(scope="module")
def server(champion: str, module_tracking: Path) -> Iterator[str]:
    """``mlflow models serve -m models:/expecto@champion`` on a free loopback port; its URL."""
    port = free_port()
    env = {**os.environ, "PATH": os.pathsep.join([str(BIN), os.environ["PATH"]])}
    assert env["MLFLOW_TRACKING_URI"].startswith("sqlite:///")  # the module's store
    log = module_tracking / "serve.log"
    command = [str(BIN / "mlflow"), "models", "serve", "-m", champion, "--env-manager", "local"]
    command += ["--host", "127.0.0.1", "--port", str(port)]
    # Own session: the CLI and the uvicorn it starts are one process group to end.
    process = start(command, env=env, cwd=module_tracking, log=log)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/ping", process, log, seconds=90)
        yield url
    finally:
        end_group(process)


def _post(url: str, body: bytes, content_type: str | None = "application/json") -> tuple[int, str]:
    """POST to /invocations; return the status and the error message (or the body)."""
    host, port = url.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    headers = {} if content_type is None else {"Content-Type": content_type}
    try:
        connection.request("POST", "/invocations", body=body, headers=headers)
        answer = connection.getresponse()
        text = answer.read().decode()
    finally:
        connection.close()
    if answer.status != 200 and answer.getheader("Content-Type") == "application/json":
        text = json.loads(text)["message"]
    return answer.status, text


def test_champion_answers_the_registry_example(server: str) -> None:
    status, text = _post(server, EXAMPLE.read_bytes())
    assert status == 200, text
    split = json.loads(EXAMPLE.read_text())["dataframe_split"]
    frame = pd.DataFrame(split["data"], columns=split["columns"], index=split["index"])
    expected = mlflow.pyfunc.load_model(CHAMPION).predict(frame)
    got = pd.DataFrame(json.loads(text)["predictions"])
    assert list(got.columns) == list(expected.columns) == ["E116", "E123", "E118"]
    assert len(got) == len(frame) == 2
    np.testing.assert_allclose(got.to_numpy(), expected.to_numpy(), rtol=1e-5, atol=1e-6)


def _split(rows: list[list[object]], columns: tuple[str, ...] = ("sequence", "strand")) -> bytes:
    return json.dumps({"dataframe_split": {"columns": list(columns), "data": rows}}).encode()


BAD_REQUESTS = {
    "wrong alphabet": (
        _split([[N, "+"], [N[:100] + "X" + N[101:], "-"]]),
        "application/json",
        400,
        r"^Failed to predict .*Error: ExPecto model input: row 1 \(index 1\): "
        r"sequence has 'X' at index 100, expected only A, C, G, T, N",
    ),
    "wrong length": (
        _split([[N[1:], "-"]]),
        "application/json",
        400,
        r"row 0 \(index 0\): sequence has 41799 bases, expected 41800 \(20799 before the TSS",
    ),
    "sequence not a string": (
        _split([[None, "+"]]),
        "application/json",
        400,
        r"row 0 \(index 0\): sequence is NoneType None, expected a string",
    ),
    "bad strand": (
        _split([[N, "forward"]]),
        "application/json",
        400,
        r"row 0 \(index 0\): strand is 'forward', expected '\+' or '-'",
    ),
    "missing strand": (
        _split([[N]], ("sequence",)),
        "application/json",
        400,
        r"Failed to enforce schema .*Model is missing inputs \['strand'\]",
    ),
    "missing sequence": (
        _split([["+"]], ("strand",)),
        "application/json",
        400,
        r"Model is missing inputs \['sequence'\]",
    ),
    "too many rows": (
        _split([[N, "+"]] * (MAX_ROWS + 1)),
        "application/json",
        400,
        r"has 257 rows, more than the limit of 256 rows per request. "
        r"Fix: send at most 256 rows per request",
    ),
    "ragged rows": (
        _split([[N, "+", "extra"]]),
        "application/json",
        400,
        r"not a valid dataframe representation.*2 columns passed, passed data had 3 columns",
    ),
    "no input field": (
        json.dumps({"sequences": [N]}).encode(),
        "application/json",
        400,
        r"^The input must be a JSON dictionary with exactly one of the input fields",
    ),
    "not JSON": (
        b"sequence,strand\nACGT",
        "application/json",
        400,
        r"Ensure that input is a valid JSON formatted string",
    ),
    "wrong content type": (
        _split([[N, "+"]]),
        "text/plain",
        415,
        r"only supports the following content types.*Got 'text/plain'",
    ),
    "not UTF-8": (
        _split([[N, "+"]]),
        "application/json; charset=latin-1",
        415,
        r"only supports UTF-8",
    ),
}


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    list(BAD_REQUESTS.values()),
    ids=list(BAD_REQUESTS),
)
def test_malformed_requests_get_a_4xx_naming_the_problem(
    server: str, body: bytes, content_type: str, status: int, message: str
) -> None:
    got, text = _post(server, body, content_type)
    assert got == status, text[-2000:]
    assert re.search(message, text, re.DOTALL), text[-2000:]


@pytest.mark.xfail(
    strict=True,
    reason="MLflow 3.17's scoring server calls None.split() on a missing Content-Type: 500",
)
def test_a_request_without_content_type_gets_a_4xx(server: str) -> None:
    status, _ = _post(server, EXAMPLE.read_bytes(), content_type=None)
    assert 400 <= status < 500
