"""Live processes for the deployment e2e tests: free ports, own sessions, waiting, ending."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest


def free_port() -> int:
    """A TCP port free on loopback now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(
    command: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path
) -> subprocess.Popen[bytes]:
    """Start ``command`` in its own session (one process group to end), output to ``log``."""
    cwd.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        return subprocess.Popen(
            list(command),
            env=dict(env),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def wait_until_up(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float) -> None:
    """Poll ``url`` until it answers 200; fail with the log if the process exits or times out."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{process.args!r} exited with {process.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:
                if answer.status == 200:
                    return
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.5)
    pytest.fail(f"{url} did not answer in {seconds:.0f} s:\n{log.read_text()[-4000:]}")


def end_group(process: subprocess.Popen[bytes]) -> None:
    """Terminate the process group (kill it after 15 s) and reap the leader."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:  # already gone
            break
        try:
            process.wait(timeout=15)
            break
        except subprocess.TimeoutExpired:
            continue
    process.wait()


def _group(process: subprocess.Popen[bytes]) -> list[Path]:
    """``/proc/<pid>`` of every live process in ``process``'s group."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):  # the process ended meanwhile
            continue
        if int(fields[2]) == process.pid:  # field 5 of /proc/<pid>/stat: the group
            found.append(stat.parent)
    return found


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:  # the process ended meanwhile
        return b""


def group_command_lines(process: subprocess.Popen[bytes]) -> list[str]:
    """The command lines of every process in ``process``'s group (what ``ps`` shows)."""
    return [_read(proc / "cmdline").replace(b"\0", b" ").decode() for proc in _group(process)]


def group_environments(process: subprocess.Popen[bytes]) -> list[dict[str, str]]:
    """The environment of every process in ``process``'s group."""
    environments = []
    for proc in _group(process):
        pairs = [item.partition(b"=") for item in _read(proc / "environ").split(b"\0") if item]
        environments.append({k.decode(): v.decode(errors="replace") for k, _, v in pairs})
    return environments
