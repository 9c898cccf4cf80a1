"""The documented tracking-server deployment as code: one definition for the docs and the tests.

``mlflow server`` (MLflow 3.17) with a SQL backend store (``sqlite:///…`` on one machine,
``postgresql://…`` in production), artifacts proxied to ``s3://bucket/prefix``
(``--artifacts-destination``: clients log to ``mlflow-artifacts:/`` and never hold S3
credentials), MLflow's basic-auth app (``--app-name basic-auth``) and ``--allowed-hosts`` for
the names containers and pods use to reach it. ``docker/tracking-server.md`` documents it;
``tests/deploy/test_server_e2e.py`` runs it against an S3-protocol server.

Secrets come only from the server's own environment, never from arguments (which show in
``ps`` and logs) or files we write: ``AWS_ACCESS_KEY_ID`` / ``AWS_SECRET_ACCESS_KEY``,
``MLFLOW_AUTH_ADMIN_PASSWORD`` (MLflow reads it to create the admin user on first start),
``MLFLOW_FLASK_SERVER_SECRET_KEY`` (the auth app's CSRF key, required) and, for PostgreSQL,
``PGPASSWORD``; database URIs carrying a password are refused. The basic-auth settings file
(``MLFLOW_AUTH_CONFIG_PATH``) therefore holds no secret.

Command line: ``python -m exprflow.deploy.server --backend-store-uri … --artifacts-destination
s3://… [--s3-endpoint-url …] [--allowed-hosts mlflow,mlflow.exprflow.svc] …`` writes the auth
settings and replaces itself with ``mlflow server``; ``--print`` shows the command instead.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from exprflow.atomic import atomic_path
from exprflow.deploy import _server_checks as checks
from exprflow.errors import InputError

__all__ = [
    "ADMIN_PASSWORD_ENV",
    "SECRET_KEY_ENV",
    "SECRET_VARIABLES",
    "TrackingServer",
    "main",
]

log = logging.getLogger(__name__)

#: MLflow creates the admin user with this password the first time it starts.
ADMIN_PASSWORD_ENV = "MLFLOW_AUTH_ADMIN_PASSWORD"
#: The basic-auth app's CSRF key; the same value on every replica.
SECRET_KEY_ENV = "MLFLOW_FLASK_SERVER_SECRET_KEY"
#: Variables whose values are secrets: shown as ``<set>``, never printed or logged.
SECRET_VARIABLES = (
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    ADMIN_PASSWORD_ENV,
    SECRET_KEY_ENV,
    "PGPASSWORD",
)
_KEYS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
#: Where boto3 finds credentials other than the two key variables (profile, role).
_CREDENTIAL_SOURCES = (
    "AWS_PROFILE",
    "AWS_SHARED_CREDENTIALS_FILE",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
    "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
)
_LOOPBACK_HOSTS = ("localhost", "localhost:*", "127.0.0.1", "127.0.0.1:*")
_UPLOAD_ARGS = "MLFLOW_S3_UPLOAD_EXTRA_ARGS"
#: boto3 upload arguments: store no Content-Encoding (see :meth:`TrackingServer.settings`).
_NO_ENCODING = {"ContentEncoding": "identity"}


@dataclass(frozen=True)
class TrackingServer:
    """The settings of one MLflow tracking server deployment (validated on creation).

    Parameters
    ----------
    backend_store_uri : str
        SQL database of runs and the model registry: ``sqlite:////abs/mlflow.db`` (one
        machine) or ``postgresql://user@host:5432/mlflow`` (production; password in
        ``PGPASSWORD``, never in the URI).
    artifacts_destination : str
        ``s3://bucket/prefix`` the server proxies every artifact to.
    auth_config : Path
        Where the basic-auth settings file is written (``MLFLOW_AUTH_CONFIG_PATH``).
    auth_database_uri : str, default ""
        SQL database of users and permissions; empty: ``basic_auth.db`` beside a sqlite
        backend store (required for other backends).
    s3_endpoint_url : str, default ""
        An S3-compatible endpoint (MinIO, Ceph, moto…); empty: AWS S3. With an endpoint the
        server uses path-style addressing and boto3's ``when_required`` checksums.
    allowed_hosts : tuple of str, default ()
        Host names clients use to reach the server (``mlflow``, ``mlflow.exprflow.svc``);
        each is allowed with any port, beside localhost. Empty: MLflow's default
        (localhost and private IP addresses only).
    host : str, default "127.0.0.1"
        Interface to bind; ``0.0.0.0`` inside a container.
    port : int, default 5000
        Port to listen on.
    workers : int, default 4
        uvicorn worker processes.
    default_permission : str, default "READ"
        What a signed-in user may do with experiments and models nobody granted them:
        ``READ``, ``USE`` or ``NO_PERMISSIONS`` (``EDIT``/``MANAGE`` are refused).
    admin_username : str, default "admin"
        The admin user MLflow creates on first start (password: ``MLFLOW_AUTH_ADMIN_PASSWORD``).
    auth_cache_seconds : int, default 0
        How long a worker caches a verified password (MLflow's ``auth_cache_ttl_seconds``);
        0 checks the scrypt hash on every request (~0.1 s of CPU each).
    """

    backend_store_uri: str
    artifacts_destination: str
    auth_config: Path
    auth_database_uri: str = ""
    s3_endpoint_url: str = ""
    allowed_hosts: tuple[str, ...] = ()
    host: str = "127.0.0.1"
    port: int = 5000
    workers: int = 4
    default_permission: str = "READ"
    admin_username: str = "admin"
    auth_cache_seconds: int = 0

    def __post_init__(self) -> None:
        checks.check_database("--backend-store-uri", self.backend_store_uri)
        checks.check_auth_database(self.auth_database_uri, self.backend_store_uri)
        checks.check_artifacts(self.artifacts_destination)
        if self.s3_endpoint_url:
            checks.check_endpoint(self.s3_endpoint_url)
        for name in self.allowed_hosts:
            checks.check_host_name(name)
        checks.check_range("--port", self.port, 1, 65535)
        checks.check_range("--workers", self.workers, 1, 64)
        checks.check_range("--auth-cache-seconds", self.auth_cache_seconds, 0, 3600)
        checks.check_names(self.host, self.default_permission, self.admin_username)

    @property
    def auth_database(self) -> str:
        """The users-and-permissions database (given, or ``basic_auth.db`` beside sqlite)."""
        if self.auth_database_uri:
            return self.auth_database_uri
        folder = Path(self.backend_store_uri.removeprefix("sqlite:///")).parent
        return f"sqlite:///{folder / 'basic_auth.db'}"

    @property
    def allowed_host_patterns(self) -> tuple[str, ...]:
        """``--allowed-hosts`` patterns: each name with and without a port, plus localhost."""
        patterns = []
        for name in self.allowed_hosts:
            patterns += [name] if ":" in name else [name, f"{name}:*"]
        return (*patterns, *_LOOPBACK_HOSTS) if patterns else ()

    def command(self, python: str = sys.executable) -> list[str]:
        """The ``mlflow server`` argv (no secret in it).

        Parameters
        ----------
        python : str, default sys.executable
            Python interpreter with MLflow installed.
        """
        command = [python, "-m", "mlflow", "server"]
        command += ["--backend-store-uri", self.backend_store_uri]
        command += ["--serve-artifacts", "--artifacts-destination", self.artifacts_destination]
        command += ["--app-name", "basic-auth"]
        command += ["--host", self.host, "--port", str(self.port), "--workers", str(self.workers)]
        if patterns := self.allowed_host_patterns:
            command += ["--allowed-hosts", ",".join(patterns)]
        return command

    def settings(self) -> dict[str, str]:
        """The environment variables the server needs beside its own secrets (none secret)."""
        env = {
            "MLFLOW_AUTH_CONFIG_PATH": str(self.auth_config),
            # Store a `.gz` artifact as the gzip file it is: MLflow would tag it
            # Content-Encoding gzip, and clients downloading through presigned URLs (the
            # default against S3 since MLflow 3.17) would get it silently decompressed.
            _UPLOAD_ARGS: json.dumps(_NO_ENCODING),
            # The job runner (GenAI scorers, prompt optimisation) is unused here: seven
            # more processes, ~1.5 GB, and code execution we do not need.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        }
        if self.s3_endpoint_url:
            env["MLFLOW_S3_ENDPOINT_URL"] = self.s3_endpoint_url
            # MinIO-likes serve buckets as paths, not as host names.
            env["MLFLOW_BOTO_CLIENT_ADDRESSING_STYLE"] = "path"
            # boto3 >= 1.36 adds CRC checksums (aws-chunked bodies, trailing headers) that
            # several S3-compatible servers reject; send and check them only when required.
            env["AWS_REQUEST_CHECKSUM_CALCULATION"] = "when_required"
            env["AWS_RESPONSE_CHECKSUM_VALIDATION"] = "when_required"
        return env

    def environment(self, base: Mapping[str, str]) -> dict[str, str]:
        """The server process's environment: ``base`` (holding the secrets) plus :meth:`settings`.

        Parameters
        ----------
        base : Mapping of str to str
            The server's own environment (``os.environ``): its AWS credentials,
            ``MLFLOW_AUTH_ADMIN_PASSWORD`` and ``MLFLOW_FLASK_SERVER_SECRET_KEY``; its own
            ``MLFLOW_S3_UPLOAD_EXTRA_ARGS`` (e.g. encryption) are kept.

        Raises
        ------
        InputError
            A required secret is missing or malformed (names the variable and the fix).
        """
        checks.require(base, ADMIN_PASSWORD_ENV, "the admin's password, at least 12 characters")
        if len(base[ADMIN_PASSWORD_ENV]) < 12:
            raise InputError(
                checks.ENVIRONMENT,
                "the admin password is shorter than 12 characters (MLflow's minimum).",
                record=ADMIN_PASSWORD_ENV,
                fix="use a longer password, e.g. from `openssl rand -base64 24`.",
            )
        checks.require(base, SECRET_KEY_ENV, "a random key, the same on every replica")
        self._check_credentials(base)
        env = {**base, **self.settings()}
        if own := base.get(_UPLOAD_ARGS):
            env[_UPLOAD_ARGS] = json.dumps(
                {**_NO_ENCODING, **checks.json_object(_UPLOAD_ARGS, own)}
            )
        return env

    def _check_credentials(self, base: Mapping[str, str]) -> None:
        """Both S3 keys or neither; an S3-compatible endpoint needs some credential source."""
        given = [name for name in _KEYS if base.get(name)]
        if len(given) == 1:
            (missing,) = set(_KEYS) - set(given)
            raise InputError(
                checks.ENVIRONMENT,
                f"{given[0]} is set but {missing} is not.",
                record=missing,
                fix=f"export both {' and '.join(_KEYS)} in the server's environment.",
            )
        if given or any(base.get(name) for name in _CREDENTIAL_SOURCES):
            return
        if self.s3_endpoint_url:
            raise InputError(
                checks.ENVIRONMENT,
                f"no S3 credentials for {self.s3_endpoint_url}.",
                record="AWS_ACCESS_KEY_ID",
                fix=f"export {' and '.join(_KEYS)} in the server's environment (only there).",
            )
        log.warning("no AWS credentials in the environment: boto3 will look for an instance role")

    def auth_config_text(self) -> str:
        """The basic-auth settings file (MLflow's ``basic_auth.ini`` format; no secret in it)."""
        lines = [
            "# MLflow basic-auth settings, written by exprflow.deploy.server. No secrets: the",
            f"# admin password comes from {ADMIN_PASSWORD_ENV} in the server's environment.",
            "[mlflow]",
            f"default_permission = {self.default_permission}",
            # configparser interpolates '%' (MLflow reads the file with it on).
            f"database_uri = {self.auth_database.replace('%', '%%')}",
            f"admin_username = {self.admin_username}",
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
            "grant_default_workspace_access = false",
            f"auth_cache_ttl_seconds = {self.auth_cache_seconds}",
        ]
        return "\n".join(lines) + "\n"

    def write_auth_config(self) -> Path:
        """Write :meth:`auth_config_text` to ``auth_config`` (mode 0600); return the path."""
        with atomic_path(self.auth_config) as tmp:
            tmp.write_text(self.auth_config_text())
            tmp.chmod(0o600)
        return self.auth_config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exprflow.deploy.server",
        description="Start the MLflow tracking server (S3 artifacts, basic auth). Secrets come "
        f"from the environment only: {', '.join(_KEYS)}, {ADMIN_PASSWORD_ENV}, "
        f"{SECRET_KEY_ENV}, PGPASSWORD.",
    )
    add = parser.add_argument
    add("--backend-store-uri", required=True, help="sqlite:////abs/mlflow.db or postgresql://…")
    add("--artifacts-destination", required=True, help="s3://bucket/prefix")
    add("--auth-config", type=Path, default=Path("basic_auth.ini"), help="settings file to write")
    add("--auth-database-uri", default="", help="users database (default: beside sqlite)")
    add(
        "--s3-endpoint-url",
        default=os.environ.get("MLFLOW_S3_ENDPOINT_URL", ""),
        help="S3-compatible endpoint (default: $MLFLOW_S3_ENDPOINT_URL, else AWS)",
    )
    add("--allowed-hosts", default="", help="comma-separated host names clients use")
    add("--host", default="127.0.0.1", help="interface to bind (0.0.0.0 in a container)")
    add("--port", type=int, default=5000)
    add("--workers", type=int, default=4)
    add("--default-permission", default="READ", help="READ, USE or NO_PERMISSIONS")
    add("--admin-username", default="admin")
    add("--auth-cache-seconds", type=int, default=0, help="cache verified passwords (s)")
    add("--print", action="store_true", help="show the command and settings; start nothing")
    return parser


def _from_args(args: argparse.Namespace) -> TrackingServer:
    return TrackingServer(
        backend_store_uri=args.backend_store_uri,
        artifacts_destination=args.artifacts_destination,
        auth_config=args.auth_config.resolve(),
        auth_database_uri=args.auth_database_uri,
        s3_endpoint_url=args.s3_endpoint_url,
        allowed_hosts=tuple(h.strip() for h in args.allowed_hosts.split(",") if h.strip()),
        host=args.host,
        port=args.port,
        workers=args.workers,
        default_permission=args.default_permission,
        admin_username=args.admin_username,
        auth_cache_seconds=args.auth_cache_seconds,
    )


def _describe(server: TrackingServer, base: Mapping[str, str]) -> str:
    """The command and the environment the server gets, secrets shown only as set or not."""
    lines = [shlex.join(server.command()), ""]
    lines += [f"{name}={value}" for name, value in server.settings().items()]
    for name in ("AWS_ACCESS_KEY_ID", *SECRET_VARIABLES):
        lines.append(f"{name}: {'<set>' if base.get(name) else '<not set>'}")
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: write the auth settings and replace this process with ``mlflow server``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    args = _parser().parse_args(argv)
    server = _from_args(args)
    if args.print:
        sys.stdout.write(_describe(server, os.environ))
        return
    env = server.environment(os.environ)
    server.write_auth_config()
    command = server.command()
    log.info("starting: %s", shlex.join(command))
    os.execve(command[0], command, env)


if __name__ == "__main__":
    main()
