"""The Markdown report of the Basenji2 embedding benchmark (``embed_basenji2.py``).

:func:`markdown` renders the results dict that ``embed_basenji2.py`` writes as JSON:
the comparison table (published approach vs exprflow), the codecs alone, the full-size
model on the CPU with the extrapolation to the 38,171 published regions, and the GPU
part (or why it was skipped). Kept apart from the script so that each file stays short;
it imports nothing but the standard library.
"""

from __future__ import annotations

from typing import Any

__all__ = ["markdown"]


def _size(n: float) -> str:
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:,.0f} {unit}" if unit == "B" else f"{n:,.1f} {unit}"
        n /= 1000
    raise AssertionError


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:,.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:,.1f} min"
    return f"{seconds / 3600:,.1f} h"


def _runs(p: dict[str, Any], e: dict[str, Any], fresh: str) -> str:
    def listed(m: dict[str, Any]) -> str:
        return ", ".join(f"{t:.1f}" for t in m["wall_s_runs"])

    return (f"Times are of the fastest of {len(p['wall_s_runs'])} alternating runs{fresh} "
            f"(wall times: published {listed(p)} s; exprflow {listed(e)} s).")  # fmt: skip


def _on(flag: bool) -> str:
    return "on" if flag else "off"


def _row(name: str, pub: str, ours: str, ratio: float | None = None) -> str:
    return f"| {name} | {pub} | {ours} | {'' if ratio is None else f'{ratio:,.2f}×'} |"


def _codec_table(codecs: dict[str, Any], extrapolated: dict[str, Any] | None) -> list[str]:
    head = "| codec | threads | cores used | raw MB/s | compression ratio |"
    lines = [head + (" 38,171 regions: time | file |" if extrapolated else ""),
             "|---|---:|---:|---:|---:|" + ("---:|---:|" if extrapolated else "")]  # fmt: skip
    for i, row in enumerate(codecs["rows"]):
        line = (f"| {row['codec']} | {row['threads']} | "
                f"{row['cpu_seconds'] / row['seconds']:.2f} | {row['mb_per_s']:,.1f} | "
                f"{row['compression_ratio']:.3f} |")  # fmt: skip
        if extrapolated:
            x = extrapolated["codecs"][i]
            line += f" {_duration(3600 * x['hours'])} | {_size(x['file_bytes'])} |"
        lines.append(line)
    return lines


def _comparison_lines(r: dict[str, Any]) -> list[str]:
    p, e, q, a = r["published"], r["exprflow"], r["ratios"], r["agreement"]
    s = _duration
    return [
        "| measure | published approach | exprflow | ratio |", "|---|---:|---:|---:|",
        _row("wall time", s(p["wall_s"]), s(e["wall_s"]), p["wall_s"] / e["wall_s"]),
        _row("regions/s", f"{p['regions_per_s']:,.2f}", f"{e['regions_per_s']:,.2f}",
             q["regions_per_s"]),
        _row("… in the model", s(p["model_s"]), s(e["model_s"])),
        _row("… reading + one-hot (main thread)", s(p["read_s"]), "reader thread"),
        _row("… h5py write with gzip-9 (main thread)", s(p["write_s"]), "writer threads"),
        _row("… merge of the blocks", "—", s(e["merge_s"])),
        _row("CPU time, every thread", s(p["cpu_s"]), s(e["cpu_s"]), q["cpu"]),
        _row("bytes per region (file)", _size(p["bytes_per_region"]),
             _size(e["bytes_per_region"]), q["bytes_per_region"]),
        _row("compression ratio vs raw float16", f"{p['compression_ratio']:.3f}",
             f"{e['compression_ratio']:.3f}"),
        _row("peak RSS (exprflow / published)", _size(p["peak_rss_bytes"]),
             _size(e["peak_rss_bytes"]), q["peak_rss"]),
        _row("model build + first call (not in the wall time)", s(p["setup_s"]), s(e["setup_s"])),
        "", _runs(p, e, ", each in a fresh process"),
        f"Embeddings identical: {a['identical']} (max |Δ| = {a['max_abs_diff']:g} over "
        f"{a['values_compared']:,} values).", "",
    ]  # fmt: skip


def _full_lines(f: dict[str, Any], x: dict[str, Any] | None) -> list[str]:
    if "skipped" in f or x is None:
        return [f"Full-size model on the CPU: {f['skipped']}.", ""]
    c = f["codecs"]
    return [
        f"Full-size model on the CPU (published params, 896 × 1536; float32, batch 1, "
        f"exprflow, {f['regions']} regions): {f['seconds_per_region']:.2f} s per region end "
        f"to end, {f['model_seconds_per_region']:.2f} s in the model = "
        f"{f['achieved_gflops']:.1f} GFLOP/s at {f['gflop_per_region']:.1f} GFLOP per region "
        f"(trunk convolutions); {_size(f['bytes_per_region'])} per region "
        f"(compression ratio {f['compression_ratio']:.3f}); peak RSS "
        f"{_size(f['peak_rss_bytes'])}. The 38,171 published regions at this rate: "
        f"{f['published_regions_hours']:,.0f} h.", "",
        *_write_path_lines(c, x),
    ]  # fmt: skip


def _write_path_lines(c: dict[str, Any], x: dict[str, Any]) -> list[str]:
    """The codecs on full-size embeddings, extrapolated to the 38,171 published regions."""
    return [
        f"Compression alone on full-size embeddings ({c['regions']} × {c['shape'][0]} × "
        f"{c['shape'][1]} float16, {_size(x['raw_bytes'] / x['regions'])} per region raw), "
        f"extrapolated to the 38,171 published regions ({_size(x['raw_bytes'])} raw):", "",
        *_codec_table(c, x), "",
        f"The write path alone, at these speeds: the published approach's one gzip-9 "
        f"thread needs {_duration(3600 * x['codecs'][0]['hours'])} for the 38,171 regions, "
        f"{x['codecs'][0]['hours'] * 3600 / x['goal_s']:.1f}× the {x['goal_s'] / 60:.0f}-minute "
        f"goal, whatever the GPU; exprflow's shuffle + deflate-1 needs "
        f"{x['threads_for_goal']} thread(s) at the measured one-thread speed to write them "
        "within the goal.", "",
    ]  # fmt: skip


def _ceiling_lines(c: dict[str, Any]) -> list[str]:
    if "skipped" in c:
        return [f"Write path with a model that takes no time: {c['skipped']}.", ""]
    p, e, s = c["published"], c["exprflow"], _duration
    return [
        f"Write path alone, at full size: the model replaced by a stub that returns the "
        f"full-size embeddings above at once (as if the GPU took no time), {c['regions']} "
        f"regions, batch {c['batch_size']}:", "",
        "| measure | published approach | exprflow | ratio |", "|---|---:|---:|---:|",
        _row("wall time", s(p["wall_s"]), s(e["wall_s"]), p["wall_s"] / e["wall_s"]),
        _row("regions/s", f"{p['regions_per_s']:,.2f}", f"{e['regions_per_s']:,.2f}",
             c["ratio"]),
        _row("… reading + one-hot (main thread)", s(p["read_s"]), "reader thread"),
        _row("… h5py write with gzip-9 (main thread)", s(p["write_s"]), "writer threads"),
        _row("… merge of the blocks", "—",
             f"{s(e['merge_s'])} ({e['merge_mb_per_s']:,.0f} MB/s)"),
        _row("CPU time, every thread", s(p["cpu_s"]), s(e["cpu_s"]), p["cpu_s"] / e["cpu_s"]),
        _row("38,171 regions at this rate", s(p["published_regions_s"]),
             s(e["published_regions_s"])),
        "", _runs(p, e, ""), f"Files identical: {c['agreement']['identical']}.", "",
    ]  # fmt: skip


def _gpu_lines(g: dict[str, Any], x: dict[str, Any] | None) -> list[str]:
    if "skipped" in g:
        return [f"Full model on a GPU: {g['skipped']}.", ""]
    pl, pub = g["placement"], g["published"]
    lines = [
        f"Full model on {g['gpu_name'] or 'the CPU'} ({pl['precision']}, XLA {_on(pl['xla'])}; "
        f"{g['gflop_per_region']:.1f} GFLOP per region), exprflow end to end over "
        f"{g['sweep'][0]['regions']} regions (read, model, compress, write, merge):", "",
        "| batch | compile | model regions/s | model TFLOP/s | end-to-end regions/s | "
        "bytes/region | 38,171 regions | ≤ 10 min | vs 6 h 34 min |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]  # fmt: skip
    for r in g["sweep"]:
        lines.append(
            f"| {r['batch_size']} | {_duration(r['compile_s'])} | "
            f"{r['model_regions_per_s']:,.1f} | {r['model_tflops']:,.1f} | "
            f"{r['regions_per_s']:,.1f} | {_size(r['bytes_per_region'])} | "
            f"{_duration(r['published_regions_s'])} | {'met' if r['goal_met'] else 'NOT met'} | "
            f"{r['vs_published_run']:,.0f}× |"
        )
    lines += [
        "", f"Published approach on the same GPU (batch {pub['batch_size']}, {pub['regions']} "
        f"regions, gzip-9 on the main thread): {pub['regions_per_s']:,.2f} regions/s "
        f"({_duration(pub['write_s'])} of {_duration(pub['wall_s'])} in the h5py write), "
        f"{_size(pub['bytes_per_region'])} per region: 38,171 regions in "
        f"{_duration(pub['published_regions_s'])}.", "",
    ]  # fmt: skip
    return lines + (_write_path_lines(g["codecs"], x) if x else [])


def _header(r: dict[str, Any], title: str) -> list[str]:
    m, w = r["machine"], r["world"]
    return [
        f"# {title}", "",
        f"- date: {r['date']}; machine: {m['cpus']} CPU cores, {m['platform']}; "
        f"load average {m['load_average']:.2f} at the start; "
        f"TensorFlow {m['tensorflow']}, h5py {m['h5py']}, zlib {m['zlib']}",
        f"- command: `{r['command']}`",
        f"- world: {w['size']} (seed {w['seed']}); model: {r['model']['description']}", "",
    ]  # fmt: skip


def markdown(r: dict[str, Any]) -> str:
    """The Markdown report of a results dict of ``embed_basenji2.py``.

    Parameters
    ----------
    r : dict
        The results (``benchmark`` ``"embed_basenji2"`` or ``"embed_basenji2_gpu"``).

    Returns
    -------
    str
    """
    if r["benchmark"] == "embed_basenji2_gpu":
        return "\n".join([*_header(r, "Basenji2 embedding, full model on a GPU"),
                          *_gpu_lines(r["gpu"], r["extrapolation"])])  # fmt: skip
    c, pl = r["comparison"], r["comparison"]["exprflow"]["placement"]
    return "\n".join([
        *_header(r, "Basenji2 embedding extraction: published approach vs exprflow"),
        f"Comparison: {c['regions']} regions of 131,072 bp ({c['distinct_regions']} "
        f"distinct), {r['model']['shape']} embeddings; {pl['device']}, {pl['precision']}, "
        f"XLA {_on(pl['xla'])}; batch {r['batch_size']} for both; exprflow compresses on "
        f"{r['threads']} threads.", "",
        *_comparison_lines(c),
        f"Compression alone on the same embeddings ({c['codecs']['regions']} regions, "
        f"{c['codecs']['shape'][0]} × {c['codecs']['shape'][1]} float16):", "",
        *_codec_table(c["codecs"], None), "",
        *_full_lines(r["full_cpu"], r["extrapolation"]), *_ceiling_lines(r["ceiling"]),
        *_gpu_lines(r["gpu"], r["extrapolation"]),
    ])  # fmt: skip
