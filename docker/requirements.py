"""Print one image stage's pinned requirements, from pyproject.toml's one dependency list.

    python docker/requirements.py {python,torch,tensorflow,server} [--tensorflow NAME]
                                  [--pyproject PATH]

``python``: every runtime dependency but the deep-learning frameworks; ``torch``: the
torch pin and what needs torch (Lightning); ``tensorflow``: the TensorFlow pin, under the
flavour's package name (``tensorflow[and-cuda]`` for the GPU images, ``tensorflow-cpu`` for a CPU build);
``server``: the ``server`` extra (the tracking server's own packages).
Standard library only: it runs in the image before anything is installed.
"""

from __future__ import annotations

import argparse
import re
import sys
import tomllib
from collections.abc import Sequence
from pathlib import Path

STAGES = ("python", "torch", "tensorflow", "server")
#: Packages that install torch: pinned in the torch stage, never in the python one.
_NEEDS_TORCH = ("torch", "lightning")
_NAME = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?(.*)$")


def _split(requirement: str) -> tuple[str, str]:
    """Return a requirement's bare name (lower case) and its version part."""
    match = _NAME.match(requirement.strip())
    if match is None:
        raise SystemExit(f"pyproject.toml: cannot read requirement {requirement!r}")
    return match.group(1).lower(), match.group(3)


def requirements(dependencies: Sequence[str], stage: str, tensorflow: str) -> list[str]:
    """The pinned requirements the ``stage`` layer installs."""
    chosen = []
    for requirement in dependencies:
        name, version = _split(requirement)
        framework = (
            "torch"
            if name in _NEEDS_TORCH
            else "tensorflow"
            if name.startswith("tensorflow")
            else None
        )
        if stage == "python" and framework is None:
            chosen.append(requirement)
        elif stage == framework:
            chosen.append(tensorflow + version if framework == "tensorflow" else requirement)
    if stage != "python" and not chosen:
        raise SystemExit(f"pyproject.toml: no {stage} dependency to pin the {stage} stage with")
    return chosen


def main(argv: Sequence[str] | None = None) -> None:
    """Command line: print the stage's requirements, one per line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("stage", choices=STAGES)
    parser.add_argument("--tensorflow", default="tensorflow[and-cuda]", help="TensorFlow package")
    parser.add_argument("--pyproject", type=Path, default=Path("pyproject.toml"))
    args = parser.parse_args(argv)
    project = tomllib.loads(args.pyproject.read_text())["project"]
    if args.stage == "server":
        lines = project["optional-dependencies"]["server"]
    else:
        lines = requirements(project["dependencies"], args.stage, args.tensorflow)
    sys.stdout.write("".join(f"{line}\n" for line in lines))


if __name__ == "__main__":
    main()
