"""The tracking-server deployment's builders: argv, environment, auth settings, CLI, errors."""

from __future__ import annotations

import json
import logging
import stat
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from mlflow.server.auth.config import read_auth_config

from exprflow.deploy import server as server_module
from exprflow.deploy.server import TrackingServer, main
from exprflow.errors import InputError

SECRETS = {
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "aws-secret-value",
    "MLFLOW_AUTH_ADMIN_PASSWORD": "admin-password-value",
    "MLFLOW_FLASK_SERVER_SECRET_KEY": "flask-secret-value",
}
BASE = {"PATH": "/usr/bin", **SECRETS}
LOOPBACK = "localhost,localhost:*,127.0.0.1,127.0.0.1:*"


@pytest.fixture
def deployment(tmp_path: Path) -> TrackingServer:
    return TrackingServer(
        backend_store_uri=f"sqlite:///{tmp_path}/mlflow.db",
        artifacts_destination="s3://exprflow/mlartifacts",
        auth_config=tmp_path / "basic_auth.ini",
        s3_endpoint_url="http://minio:9000",
        allowed_hosts=("mlflow", "mlflow.exprflow.svc"),
        host="0.0.0.0",
        port=5000,
        workers=2,
    )


def test_command_is_the_documented_mlflow_server(deployment: TrackingServer) -> None:
    assert deployment.command(python="python") == [
        "python", "-m", "mlflow", "server",
        "--backend-store-uri", deployment.backend_store_uri,
        "--serve-artifacts", "--artifacts-destination", "s3://exprflow/mlartifacts",
        "--app-name", "basic-auth",
        "--host", "0.0.0.0", "--port", "5000", "--workers", "2",
        "--allowed-hosts", f"mlflow,mlflow:*,mlflow.exprflow.svc,mlflow.exprflow.svc:*,{LOOPBACK}",
    ]  # fmt: skip


def test_allowed_hosts_keep_given_ports_and_default_to_mlflows_own(
    deployment: TrackingServer,
) -> None:
    ported = replace(deployment, allowed_hosts=("mlflow:5000", "*.exprflow.svc"))
    assert ported.allowed_host_patterns == (
        "mlflow:5000", "*.exprflow.svc", "*.exprflow.svc:*", *LOOPBACK.split(","),
    )  # fmt: skip
    default = replace(deployment, allowed_hosts=())
    assert default.allowed_host_patterns == ()
    assert "--allowed-hosts" not in default.command()


def test_settings_for_an_s3_compatible_endpoint(deployment: TrackingServer) -> None:
    assert deployment.settings() == {
        "MLFLOW_AUTH_CONFIG_PATH": str(deployment.auth_config),
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"ContentEncoding": "identity"}',
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_S3_ENDPOINT_URL": "http://minio:9000",
        "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE": "path",
        "AWS_REQUEST_CHECKSUM_CALCULATION": "when_required",
        "AWS_RESPONSE_CHECKSUM_VALIDATION": "when_required",
    }
    on_aws = replace(deployment, s3_endpoint_url="").settings()
    assert set(on_aws) == {
        "MLFLOW_AUTH_CONFIG_PATH",
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION",
    }


def test_environment_passes_the_servers_own_secrets_through(deployment: TrackingServer) -> None:
    env = deployment.environment(BASE)
    assert env == {**BASE, **deployment.settings()}
    own = {**BASE, "MLFLOW_S3_UPLOAD_EXTRA_ARGS": '{"ServerSideEncryption": "aws:kms"}'}
    merged = json.loads(deployment.environment(own)["MLFLOW_S3_UPLOAD_EXTRA_ARGS"])
    assert merged == {"ContentEncoding": "identity", "ServerSideEncryption": "aws:kms"}


def test_no_secret_reaches_the_command_or_the_settings_file(deployment: TrackingServer) -> None:
    deployment.environment(BASE)
    shown = " ".join(deployment.command()) + deployment.auth_config_text()
    shown += json.dumps(deployment.settings())
    assert not [value for value in SECRETS.values() if value in shown]


def _without(*names: str, **extra: str) -> dict[str, str]:
    return {**{k: v for k, v in BASE.items() if k not in names}, **extra}


BAD_ENVIRONMENTS = {
    "no admin password": (
        _without("MLFLOW_AUTH_ADMIN_PASSWORD"),
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        r"MLFLOW_AUTH_ADMIN_PASSWORD is not set\. Fix: export MLFLOW_AUTH_ADMIN_PASSWORD",
    ),
    "short admin password": (
        _without(MLFLOW_AUTH_ADMIN_PASSWORD="short"),
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        r"shorter than 12 characters .*Fix: use a longer password",
    ),
    "no flask secret key": (
        _without("MLFLOW_FLASK_SERVER_SECRET_KEY"),
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
        r"is not set\. Fix: export MLFLOW_FLASK_SERVER_SECRET_KEY \(a random key",
    ),
    "key id without secret": (
        _without("AWS_SECRET_ACCESS_KEY"),
        "AWS_SECRET_ACCESS_KEY",
        r"AWS_ACCESS_KEY_ID is set but AWS_SECRET_ACCESS_KEY is not\. Fix: export both",
    ),
    "secret without key id": (
        _without("AWS_ACCESS_KEY_ID"),
        "AWS_ACCESS_KEY_ID",
        r"AWS_SECRET_ACCESS_KEY is set but AWS_ACCESS_KEY_ID is not",
    ),
    "no credentials for an endpoint": (
        _without("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
        "AWS_ACCESS_KEY_ID",
        r"no S3 credentials for http://minio:9000\. Fix: export AWS_ACCESS_KEY_ID and",
    ),
    "upload arguments not an object": (
        _without(MLFLOW_S3_UPLOAD_EXTRA_ARGS="[1]"),
        "MLFLOW_S3_UPLOAD_EXTRA_ARGS",
        r"is not a JSON object: '\[1\]'",
    ),
}


@pytest.mark.parametrize(
    ("base", "record", "message"), list(BAD_ENVIRONMENTS.values()), ids=list(BAD_ENVIRONMENTS)
)
def test_a_missing_secret_names_the_variable_and_the_fix(
    deployment: TrackingServer, base: dict[str, str], record: str, message: str
) -> None:
    with pytest.raises(InputError, match=message) as error:
        deployment.environment(base)
    assert error.value.record == record
    assert error.value.path == "tracking server environment"


def test_credentials_from_a_profile_or_a_role(
    deployment: TrackingServer, caplog: pytest.LogCaptureFixture
) -> None:
    keyless = _without("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
    assert deployment.environment({**keyless, "AWS_PROFILE": "minio"})["AWS_PROFILE"] == "minio"
    on_aws = replace(deployment, s3_endpoint_url="")
    with caplog.at_level(logging.WARNING):
        on_aws.environment(keyless)
    assert "boto3 will look for an instance role" in caplog.text


def _settings(tmp_path: Path, **changes: Any) -> TrackingServer:
    fields = {
        "backend_store_uri": f"sqlite:///{tmp_path}/mlflow.db",
        "artifacts_destination": "s3://exprflow/mlartifacts",
        "auth_config": tmp_path / "basic_auth.ini",
        **changes,
    }
    return TrackingServer(**fields)


BAD_SETTINGS = {
    "file store": ({"backend_store_uri": "./mlruns"}, "--backend-store-uri", "not a SQL"),
    "memory sqlite": ({"backend_store_uri": "sqlite://"}, "--backend-store-uri", "not a SQL"),
    "password in the backend URI": (
        {"backend_store_uri": "postgresql://mlflow:hunter2@db/mlflow"},
        "--backend-store-uri",
        r"holds a password .*Fix: drop it from the URI and export PGPASSWORD",
    ),
    "password in the users URI": (
        {"auth_database_uri": "postgresql://mlflow:hunter2@db/auth"},
        "--auth-database-uri",
        "holds a password",
    ),
    "postgres backend without a users database": (
        {"backend_store_uri": "postgresql://mlflow@db/mlflow"},
        "--auth-database-uri",
        r"no database for users .*Fix: give a database of its own",
    ),
    "local artifacts": (
        {"artifacts_destination": "./mlartifacts"},
        "--artifacts-destination",
        r"is not s3://<bucket>\[/prefix\]",
    ),
    "bucket with capitals": (
        {"artifacts_destination": "s3://Exprflow/x"},
        "--artifacts-destination",
        "not s3://",
    ),
    "endpoint without scheme": (
        {"s3_endpoint_url": "minio:9000"},
        "--s3-endpoint-url",
        r"is not http\(s\)://host\[:port\]",
    ),
    "keys in the endpoint": (
        {"s3_endpoint_url": "http://key:secret@minio:9000"},
        "--s3-endpoint-url",
        "without credentials",
    ),
    "every host": ({"allowed_hosts": ("*",)}, "--allowed-hosts", r"never '\*'"),
    "a URL as host": ({"allowed_hosts": ("http://mlflow",)}, "--allowed-hosts", "host name"),
    "port 0": ({"port": 0}, "--port", r"--port is 0\. Fix: use 1 to 65535"),
    "no workers": ({"workers": 0}, "--workers", "use 1 to 64"),
    "negative cache": ({"auth_cache_seconds": -1}, "--auth-cache-seconds", "use 0 to 3600"),
    "empty host": ({"host": ""}, "--host", "interface address"),
    "writable default": (
        {"default_permission": "EDIT"},
        "--default-permission",
        r"would let every signed-in user change .*Fix: use one of READ, USE, NO_PERMISSIONS",
    ),
    "managing default": ({"default_permission": "MANAGE"}, "--default-permission", "EDIT per"),
    "admin name with a space": ({"admin_username": "ad min"}, "--admin-username", "letters"),
}


@pytest.mark.parametrize(
    ("changes", "record", "message"), list(BAD_SETTINGS.values()), ids=list(BAD_SETTINGS)
)
def test_bad_settings_name_the_flag_and_the_fix(
    tmp_path: Path, changes: dict[str, Any], record: str, message: str
) -> None:
    with pytest.raises(InputError, match=message) as error:
        _settings(tmp_path, **changes)
    assert error.value.record == record
    assert error.value.fix


def test_users_database_beside_a_sqlite_store_or_given(tmp_path: Path) -> None:
    assert _settings(tmp_path).auth_database == f"sqlite:///{tmp_path}/basic_auth.db"
    given = _settings(
        tmp_path,
        backend_store_uri="postgresql+psycopg2://mlflow@db:5432/mlflow",
        auth_database_uri="postgresql://mlflow@db:5432/mlflow_auth",
    )
    assert given.auth_database == "postgresql://mlflow@db:5432/mlflow_auth"


def test_mlflow_reads_the_auth_settings_we_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deployment = _settings(
        tmp_path,
        backend_store_uri="postgresql://mlflow@db/mlflow",
        auth_database_uri="postgresql://mlflow@db/mlflow%5Fauth",
        admin_username="root",
        auth_cache_seconds=60,
    )
    path = deployment.write_auth_config()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    monkeypatch.setenv("MLFLOW_AUTH_CONFIG_PATH", str(path))
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_AUTH_ADMIN_PASSWORD", raising=False)
    config = read_auth_config()
    assert config.default_permission == "READ"
    assert config.database_uri == "postgresql://mlflow@db/mlflow%5Fauth"
    assert config.admin_username == "root"
    assert config.admin_password is None  # only ever from the environment
    assert config.authorization_function == "mlflow.server.auth:authenticate_request_basic_auth"
    assert config.grant_default_workspace_access is False
    assert config.auth_cache_ttl_seconds == 60


ARGV = [
    "--backend-store-uri", "sqlite:////srv/mlflow/mlflow.db",
    "--artifacts-destination", "s3://exprflow/mlartifacts",
    "--s3-endpoint-url", "http://minio:9000",
    "--allowed-hosts", "mlflow, mlflow.exprflow.svc",
    "--host", "0.0.0.0",
]  # fmt: skip


def test_print_shows_the_command_and_hides_the_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("PGPASSWORD", raising=False)
    main([*ARGV, "--auth-config", str(tmp_path / "auth.ini"), "--print"])
    out = capsys.readouterr().out
    assert out.startswith(f"{sys.executable} -m mlflow server --backend-store-uri sqlite:////srv/")
    assert "--allowed-hosts 'mlflow,mlflow:*,mlflow.exprflow.svc,mlflow.exprflow.svc:*," in out
    assert "MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE=path\n" in out
    assert "AWS_SECRET_ACCESS_KEY: <set>\n" in out
    assert "PGPASSWORD: <not set>\n" in out
    assert not [value for value in SECRETS.values() if value in out]
    assert not (tmp_path / "auth.ini").exists()  # --print starts and writes nothing


def test_main_writes_the_settings_and_execs_mlflow_server(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    started: list[tuple[str, list[str], dict[str, str]]] = []
    monkeypatch.setattr(
        server_module.os, "execve", lambda *call: started.append(call), raising=True
    )
    main([*ARGV, "--auth-config", str(tmp_path / "auth.ini"), "--workers", "3"])
    ((program, argv, env),) = started
    assert program == sys.executable == argv[0]
    assert argv[argv.index("--workers") + 1] == "3"
    assert env["MLFLOW_AUTH_CONFIG_PATH"] == str(tmp_path / "auth.ini")
    assert env["AWS_SECRET_ACCESS_KEY"] == SECRETS["AWS_SECRET_ACCESS_KEY"]
    assert "default_permission = READ" in (tmp_path / "auth.ini").read_text()


def test_main_refuses_to_start_without_its_secrets(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(server_module.os, "execve", pytest.fail)
    with pytest.raises(InputError, match="MLFLOW_AUTH_ADMIN_PASSWORD is not set"):
        main([*ARGV, "--auth-config", str(tmp_path / "auth.ini")])
    assert not (tmp_path / "auth.ini").exists()
