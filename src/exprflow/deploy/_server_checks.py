"""Checks of the tracking server's settings and environment, each naming the fix.

Internal to :mod:`exprflow.deploy.server`: every function raises
:class:`~exprflow.errors.InputError` naming the flag or the environment variable at fault.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from urllib.parse import urlsplit

from exprflow.errors import InputError

__all__ = [
    "ENVIRONMENT",
    "READ_ONLY_PERMISSIONS",
    "SETTINGS",
    "check_artifacts",
    "check_auth_database",
    "check_database",
    "check_endpoint",
    "check_host_name",
    "check_names",
    "check_range",
    "json_object",
    "require",
]

SETTINGS = "tracking server settings"
ENVIRONMENT = "tracking server environment"
#: Default permissions that let nobody change what they were not granted.
READ_ONLY_PERMISSIONS = ("READ", "USE", "NO_PERMISSIONS")
_SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "mssql")
_S3_URI = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/\S*)?$")
_HOST_NAME = re.compile(r"^[A-Za-z0-9*][A-Za-z0-9.\-*]*(:(\d+|\*))?$")
_USER_NAME = re.compile(r"^[A-Za-z0-9_.@\-]+$")


def require(base: Mapping[str, str], name: str, what: str) -> None:
    """Refuse an environment without ``name`` (a secret the server reads itself)."""
    if not base.get(name):
        raise InputError(
            ENVIRONMENT,
            f"{name} is not set.",
            record=name,
            fix=f"export {name} ({what}) in the server's environment, never as an argument.",
        )


def check_database(flag: str, uri: str) -> None:
    """A SQLAlchemy URI of a SQL database, without a password in it."""
    scheme = uri.split(":", 1)[0].split("+", 1)[0] if "://" in uri else ""
    if scheme not in _SQL_SCHEMES or uri.strip() != uri or " " in uri or uri == "sqlite://":
        raise InputError(
            SETTINGS,
            f"{uri!r} is not a SQL database URI.",
            record=flag,
            fix="give sqlite:////absolute/path.db (one machine) or "
            "postgresql://user@host:5432/db (production).",
        )
    if urlsplit(uri).password:
        raise InputError(
            SETTINGS,
            f"the URI given to {flag} holds a password (it would show in ps, logs and files).",
            record=flag,
            fix="drop it from the URI and export PGPASSWORD (or use ~/.pgpass) on the server.",
        )


def check_auth_database(auth_uri: str, backend_uri: str) -> None:
    """The users database: given, or derivable (beside a sqlite backend store)."""
    if auth_uri:
        check_database("--auth-database-uri", auth_uri)
    elif not backend_uri.startswith("sqlite:///"):
        raise InputError(
            SETTINGS,
            f"no database for users and permissions beside backend store {backend_uri}.",
            record="--auth-database-uri",
            fix="give a database of its own, e.g. postgresql://mlflow@db:5432/mlflow_auth.",
        )


def check_artifacts(uri: str) -> None:
    """``s3://<bucket>[/prefix]``."""
    if not _S3_URI.match(uri):
        raise InputError(
            SETTINGS,
            f"artifacts destination {uri!r} is not s3://<bucket>[/prefix].",
            record="--artifacts-destination",
            fix="give the bucket and prefix the server proxies artifacts to, "
            "e.g. s3://exprflow/mlartifacts.",
        )


def check_endpoint(url: str) -> None:
    """``http(s)://host[:port]`` without credentials in it."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.password:
        raise InputError(
            SETTINGS,
            f"S3 endpoint {url!r} is not http(s)://host[:port] without credentials.",
            record="--s3-endpoint-url",
            fix="give the endpoint's URL, e.g. https://minio.internal:9000, and the keys "
            "in AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.",
        )


def check_host_name(name: str) -> None:
    """A host name clients use (wildcards allowed), with an optional port; never ``*``."""
    if name.strip("*:") == "" or not _HOST_NAME.match(name):
        raise InputError(
            SETTINGS,
            f"allowed host {name!r} is not a host name (with an optional port).",
            record="--allowed-hosts",
            fix="list the names clients use, e.g. mlflow,mlflow.exprflow.svc; never '*'.",
        )


def check_range(flag: str, value: int, low: int, high: int) -> None:
    """``low <= value <= high``."""
    if not low <= value <= high:
        raise InputError(SETTINGS, f"{flag} is {value}.", record=flag, fix=f"use {low} to {high}.")


def check_names(host: str, default_permission: str, admin_username: str) -> None:
    """The bind address, a read-only default permission and a plain admin user name."""
    if not host or any(c.isspace() for c in host):
        raise InputError(
            SETTINGS,
            f"--host is {host!r}.",
            record="--host",
            fix="give an interface address: 127.0.0.1, or 0.0.0.0 in a container.",
        )
    if default_permission not in READ_ONLY_PERMISSIONS:
        raise InputError(
            SETTINGS,
            f"default permission {default_permission!r} would let every signed-in user "
            "change experiments and models nobody granted them.",
            record="--default-permission",
            fix=f"use one of {', '.join(READ_ONLY_PERMISSIONS)} and grant EDIT per user.",
        )
    if not _USER_NAME.match(admin_username):
        raise InputError(
            SETTINGS,
            f"admin user name {admin_username!r}.",
            record="--admin-username",
            fix="use letters, digits and _ . @ - only.",
        )


def json_object(name: str, text: str) -> dict[str, object]:
    """The JSON object in environment variable ``name`` (e.g. boto3 upload arguments)."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise InputError(
            ENVIRONMENT,
            f"{name} is not a JSON object: {text!r}.",
            record=name,
            fix='give boto3 upload arguments, e.g. {"ServerSideEncryption": "aws:kms"}.',
        )
    return value
