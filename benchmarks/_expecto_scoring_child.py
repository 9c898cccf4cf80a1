"""One measurement of the ExPecto scoring benchmark, run in its own fresh Python process.

``python benchmarks/_expecto_scoring_child.py SPEC RESULT`` reads the JSON ``SPEC``
written by ``expecto_scoring.py`` and writes what it measured to the JSON ``RESULT``
(atomically). A fresh process per measurement makes the peak resident memory
(``RUSAGE_SELF``) that of one approach alone. Modes (``spec["mode"]``):

* ``"score"``: score genes with ``spec["approach"]`` — ``"naive"``
  (:func:`~exprflow.scoring.naive.score_genes_naive`, raw float64 chromatin written) or
  ``"exprflow"`` (:func:`~exprflow.scoring.engine.score_genes`) — counting the windows
  given to Beluga;
* ``"throughput"``: :func:`beluga_throughput` of a randomly initialised Beluga.
"""

from __future__ import annotations

import json
import resource
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from exprflow.atomic import atomic_path
from exprflow.genome.annotation import read_genes
from exprflow.genome.fasta import Genome
from exprflow.genome.vcf import PhasedVCF
from exprflow.models.beluga.config import BelugaConfig
from exprflow.models.beluga.model import Beluga
from exprflow.models.beluga.predict import rc_average
from exprflow.models.expecto.plugins import expecto_plugins
from exprflow.scoring.engine import score_genes
from exprflow.scoring.naive import score_genes_naive

__all__ = ["beluga_flops", "beluga_throughput", "main", "max_rss"]


def max_rss() -> int:
    """Peak resident memory of this process in bytes (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


class _Counting:
    """Chromatin plug-in wrapper that counts the windows it is given."""

    def __init__(self, chromatin: Callable[[np.ndarray], np.ndarray]) -> None:
        self.chromatin = chromatin
        self.windows = 0

    def __call__(self, onehot: np.ndarray) -> np.ndarray:
        self.windows += len(onehot)
        return self.chromatin(onehot)


def _score(spec: dict[str, Any]) -> dict[str, Any]:
    """Score ``spec["gene_ids"]`` × (reference + haplotypes) the ``spec["approach"]`` way."""
    plugins = expecto_plugins(
        spec["checkpoint"], spec["tissue_models"], batch_size=spec["batch_size"],
        device=spec["device"],
    )  # fmt: skip
    chromatin = _Counting(plugins.chromatin)
    genes = read_genes(spec["gene_list"])
    naive = spec["approach"] == "naive"
    with Genome(spec["fasta"]) as genome, PhasedVCF(spec["vcf"]) as vcf:
        args = (genes, genome, vcf, spec["samples"], chromatin, plugins.reduce, plugins.heads)
        setup_rss, started = max_rss(), time.perf_counter()
        if naive:
            result = score_genes_naive(
                *args, spec["out_dir"], gene_ids=spec["gene_ids"], save_chromatin=True,
                progress=False,
            )  # fmt: skip
        else:
            result = score_genes(
                *args, spec["out_dir"], gene_ids=spec["gene_ids"], batch_size=spec["batch_size"],
                progress=False,
            )  # fmt: skip
        wall = time.perf_counter() - started
    return {
        "windows": chromatin.windows,
        "windows_requested": result.requested,
        "windows_reported": result.evaluations,
        "genes_scored": len(result.scored),
        "wall_s": wall,
        "setup_rss_bytes": setup_rss,
        "peak_rss_bytes": max_rss(),
    }


def beluga_flops(config: BelugaConfig) -> float:
    """FLOPs (2 × multiply-adds) of one Beluga forward pass over one window, one strand.

    Parameters
    ----------
    config : BelugaConfig
        Network sizes.

    Returns
    -------
    float
        About 7.8e9 for the published model.
    """
    flops, length, c_in = 0, config.seq_len, 4
    for i, c_out in enumerate(config.conv_channels):
        length -= config.kernel_size - 1
        flops += 2 * length * c_in * c_out * config.kernel_size
        c_in = c_out
        if i in (1, 3):
            length //= config.pool_size
    flops += 2 * config.flat_features * config.hidden + 2 * config.hidden * config.n_outputs
    return float(flops)


def _synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def beluga_throughput(
    config: BelugaConfig,
    *,
    batch_size: int = 1024,
    device: str | torch.device = "cuda",
    steps: int = 20,
    warmup: int = 3,
    peak_tflops: float = 989.0,
) -> dict[str, Any]:
    """Windows per second of a random Beluga, forward + reverse complement, bf16 on CUDA.

    Parameters
    ----------
    config : BelugaConfig
        Network sizes (the published ones for the GPU figure).
    batch_size : int, default 1024
        Windows per call (the network sees twice as many: both strands).
    device : str or torch.device, default "cuda"
        Where to run: bf16 autocast on CUDA, float32 elsewhere.
    steps, warmup : int, default 20 and 3
        Timed and untimed calls.
    peak_tflops : float, default 989.0
        The device's dense bf16 peak (H100 SXM), for the fraction reached.

    Returns
    -------
    dict
        ``windows_per_s``, ``strand_passes_per_s``, ``achieved_tflops`` (at
        :func:`beluga_flops` per strand pass), ``fraction_of_peak`` and the settings.
    """
    device = torch.device(device)
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    model = Beluga(config).to(device).eval()
    bases = torch.randint(0, 4, (batch_size, config.seq_len), device=device)
    onehot = torch.nn.functional.one_hot(bases, 4).transpose(1, 2).float().contiguous()
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    with torch.inference_mode(), autocast:
        for _ in range(warmup):
            rc_average(model, onehot)
        _synchronize(device)
        started = time.perf_counter()
        for _ in range(steps):
            rc_average(model, onehot)
        _synchronize(device)
        seconds = time.perf_counter() - started
    windows_per_s = steps * batch_size / seconds
    achieved = 2 * windows_per_s * beluga_flops(config) / 1e12
    return {
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": "bf16" if device.type == "cuda" else "fp32",
        "batch_size": batch_size,
        "flops_per_window_strand": beluga_flops(config),
        "windows_per_s": windows_per_s,
        "strand_passes_per_s": 2 * windows_per_s,
        "achieved_tflops": achieved,
        "peak_tflops": peak_tflops,
        "fraction_of_peak": achieved / peak_tflops,
    }


def _throughput(spec: dict[str, Any]) -> dict[str, Any]:
    config = BelugaConfig.from_json(spec["config"])
    measured = beluga_throughput(
        config, batch_size=spec["batch_size"], device=spec["device"] or "cuda",
        peak_tflops=spec["peak_tflops"],
    )  # fmt: skip
    return {**measured, "peak_rss_bytes": max_rss()}


def main(argv: Sequence[str] | None = None) -> None:
    """Run the measurement of a spec file and write its result file.

    Parameters
    ----------
    argv : sequence of str, optional
        ``[SPEC, RESULT]``. Default None: ``sys.argv[1:]``.
    """
    spec_path, result_path = map(Path, sys.argv[1:] if argv is None else argv)
    spec = json.loads(spec_path.read_text())
    if spec.get("threads"):
        torch.set_num_threads(spec["threads"])
    measured = _score(spec) if spec["mode"] == "score" else _throughput(spec)
    with atomic_path(result_path) as tmp:
        tmp.write_text(json.dumps(measured))


if __name__ == "__main__":
    main()
