"""`fabless op gemm|attention|memcpy`: one operator on one or more chips, and why it takes
that long."""

from __future__ import annotations

from typing import Any

import numpy as np
import typer

from fabless.bands import band_text, json_fields, kernel_bound, op_band
from fabless.perf.libraries import library as get_library
from fabless.perf.libraries import with_library
from fabless import bounds
from fabless.bounds import whole_number
from fabless.errors import FablessError
from fabless.hardware.presets import load_chip
from fabless.perf.attention import attention_time
from fabless.perf.cpu import CpuParams
from fabless.perf.cpu import gemm_time as cpu_gemm_time
from fabless.perf.gemm import gemm_time
from fabless.perf.memory import memcpy_time
from fabless.perf.params import FAMILY_FIELDS, ChipParams
from fabless.perf.result import OpTime
from rich.markup import escape

from fabless.report.console import console, print_json, print_table
from fabless.report.format import num, pct, seconds
from fabless.units import parse_bytes

op_app = typer.Typer(
    help="One operator on a chip: time, achieved TFLOPS or GB/s, utilisation, what bounds it (--explain: the tiling).",
    no_args_is_help=True,
)

CHIP = typer.Option(..., "--chip", help="A chip preset (see `fabless chips list`) or a chip YAML file; repeat to compare.")
DTYPE = typer.Option("bf16", "--dtype", help="Input datatype: bf16, fp16, fp8, tf32, int8 ...")
MODEL = typer.Option("detailed", "--model", help="detailed (tiling, efficiencies, overheads) or roofline (the bare bound, for reference).")
EXPLAIN = typer.Option(False, "--explain", help="Also show the tiling chosen, the time split and the parameters used, with their sources.")
JSON = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")


def _check_model(model: str) -> None:
    if model not in ("detailed", "roofline"):
        raise FablessError(f"--model must be detailed or roofline, got '{model}'")


def _report(chips: list[str], p: ChipParams, res: OpTime, ref: OpTime, headline: str, explain: bool,
            as_json: bool, extra: dict[str, Any]) -> None:
    out = []
    for i, name in enumerate(p.name):
        row = res.row(i)
        d: dict[str, Any] = {"chip": name, "model": res.model, **extra, "time_s": row["time_s"], "bound": row["bound"]}
        if headline == "tflops":
            d.update(tflops=row["tflops"], utilisation=row["flops_utilisation"])
        else:
            d.update(gbps=row["gbps"], utilisation=row["bandwidth_utilisation"])
        d.update(compute_s=row["compute_s"], memory_s=row["memory_s"], overhead_s=row["overhead_s"],
                 flops=row["flops"], hbm_bytes=row["bytes"], roofline_time_s=float(ref.time_s[i]))
        if res.model == "detailed":  # bands measure the detailed model; the roofline is a reference
            bound = kernel_bound(d["bound"], extra.get("dtype"))
            d.update(json_fields({"time_s": op_band(d["time_s"], "time", "kernel", name, bound),
                                  headline: op_band(d[headline], "rate", "kernel", name, bound)}))
        if explain:
            d["tiling"] = row["tiling"]
            d["parameters"] = {k: {"value": float(getattr(p, k)[i]), **p.sources[i].get(k, {})}
                               for k in FAMILY_FIELDS if hasattr(p, k) and k not in ("scratchpad_bytes_if_unknown",)}
            d["family"] = p.family[i]
        out.append(d)
    if as_json:
        print_json(out[0] if len(out) == 1 else out)
        return
    unit = "achieved TFLOPS" if headline == "tflops" else "achieved GB/s"
    cols = ["chip", "time", unit, "utilisation", "bound", "roofline time", "x roofline", f"80% band of {unit}"]
    rows = [[d["chip"], seconds(d["time_s"]), d[headline], pct(d["utilisation"]), d["bound"],
             seconds(d["roofline_time_s"]), d["time_s"] / d["roofline_time_s"], _band_cell(d, headline)] for d in out]
    print_table(cols, rows, title=f"{res.op} ({res.model} model)",
                caption="utilisation = achieved / dense datasheet peak" if headline == "tflops"
                else "GB/s counts bytes read and written; utilisation = achieved / peak HBM bandwidth")
    if explain:
        for d in out:
            # a GEMM's time is overhead + max(compute, memory) + the exposed part of a K step (perf.gemm._split_k)
            exposed = float(d["tiling"].get("exposed_s", 0.0) or 0.0)
            shown = f", exposed part of a K step {seconds(exposed)}" if exposed > 0 else ""
            console.print(f"[bold]{d['chip']}[/bold] (family {d.get('family')}): compute {seconds(d['compute_s'])}, "
                          f"memory {seconds(d['memory_s'])}, overhead {seconds(d['overhead_s'])}{shown}; "
                          f"HBM traffic {num(d['hbm_bytes'] / 1e9)} GB")
            for k, v in d["tiling"].items():
                if k == "exposed_s":
                    continue  # on the line above
                console.print(escape(f"  {k}: {num(float(v)) if isinstance(v, (int, float, np.floating)) else v}"))
            for k, v in d["parameters"].items():
                src = v.get("source") or ""
                console.print(escape(f"  {k} = {num(v['value'])} ({v.get('confidence', '?')}"
                                     f"{'; ' + v['note'] if v.get('note') else ''}){'; source: ' + src if src else ''}"))


def _band_cell(d: dict, key: str) -> str:
    if "bands" not in d:
        return ""
    b = d["bands"][key]
    if not isinstance(b, dict):
        return b
    return band_text({**b, "lo": d[f"{key}_lo"], "hi": d[f"{key}_hi"]})


@op_app.command("gemm")
def gemm(chip: list[str] = CHIP, m: int = typer.Option(..., "-m", help="Rows of A and C."),
         n: int = typer.Option(..., "-n", help="Columns of B and C."), k: int = typer.Option(..., "-k", help="The contracted dimension."),
         batch: int = typer.Option(1, "--batch", help="Independent GEMMs in one batched call."),
         dtype: str = DTYPE, model: str = MODEL, explain: bool = EXPLAIN, json: bool = JSON,
         library: str = typer.Option(None, "--library", help="A kernel library or GEMM table whose own efficiencies apply "
                                     "(data/perf/libraries.yaml: azure-benchmarking-guide, "
                                     "aiconfigurator-trtllm-1.3.0rc10, aiconfigurator-sglang-0.5.9); default: "
                                     "the framework stacks' kernels.")) -> None:
    """A matrix multiply C (m x n) = A (m x k) @ B (k x n); on a CPU chip (kind: cpu) the CPU model times it.

    Example: fabless op gemm --chip h100-sxm -m 8192 -n 8192 -k 8192 --dtype bf16 --explain

    Example: fabless op gemm --chip h100-sxm -m 8192 -n 8192 -k 8192 --dtype fp8 --library azure-benchmarking-guide

    Example: fabless op gemm --chip graviton4 -m 4096 -n 4096 -k 4096 --dtype bf16
    """
    _check_model(model)
    for flag, v in (("-m", m), ("-n", n), ("-k", k), ("--batch", batch)):
        whole_number(v, flag, hi=bounds.MAX_DIM)
    chips = [load_chip(c) for c in chip]
    if any(c.kind == "cpu" for c in chips):
        _cpu_gemm(chips, m, n, k, batch, dtype, model, library, json)
        return
    p = ChipParams.from_chips(chip)
    if library:
        p = with_library(p, get_library(library))
    res = gemm_time(m, n, k, p, dtype, batch=batch, model=model)
    ref = gemm_time(m, n, k, p, dtype, batch=batch, model="roofline")
    _report(chip, p, res, ref, "tflops", explain, json, {"m": m, "n": n, "k": k, "batch": batch, "dtype": dtype})


def _cpu_gemm(chips: list, m: int, n: int, k: int, batch: int, dtype: str, model: str, library: str | None,
              as_json: bool) -> None:
    """``fabless op gemm`` on CPUs: the CPU model's GEMM (fabless/perf/cpu.py), all cores of one socket."""
    gpus = [c.name for c in chips if c.kind != "cpu"]
    if gpus:
        raise FablessError(f"--chip: {gpus[0]} is an accelerator and {next(c.name for c in chips if c.kind == 'cpu')} a CPU; "
                           "their GEMM models differ: compare them in separate calls")
    if model != "detailed" or library or batch != 1:
        raise FablessError("--model roofline, --library and --batch are accelerator options; a CPU GEMM takes -m, -n, -k "
                           "and --dtype")
    out = []
    for c in chips:
        cpu = CpuParams.from_chip(c)
        r = cpu_gemm_time(m, n, k, cpu, dtype)
        peak = 2 * cpu.peak_macs_per_s(dtype)
        out.append({"chip": c.name, "model": "cpu", "m": m, "n": n, "k": k, "dtype": dtype, "time_s": r.time_s,
                    "bound": r.bound, "tflops": r.flops / r.time_s / 1e12, "utilisation": r.flops / r.time_s / peak,
                    "compute_s": r.compute_s, "memory_s": r.memory_s, "flops": r.flops, "dram_bytes": r.dram_bytes,
                    "cores": cpu.cores, "gemm_efficiency": cpu.gemm_efficiency, "dram_efficiency": cpu.dram_efficiency})
    if as_json:
        print_json(out[0] if len(out) == 1 else out)
        return
    print_table(["chip", "time", "achieved TFLOPS", "utilisation", "bound", "DRAM traffic GB"],
                [[d["chip"], seconds(d["time_s"]), d["tflops"], pct(d["utilisation"]), d["bound"], d["dram_bytes"] / 1e9]
                 for d in out], title="gemm (CPU model: cores x SIMD/matrix MACs x clock; DRAM x dram_efficiency)",
                caption="utilisation = achieved / the cores' dense SIMD/matrix peak at the all-core clock")


@op_app.command("attention")
def attention(chip: list[str] = CHIP, batch: int = typer.Option(1, "--batch", help="Sequences."),
              heads: int = typer.Option(..., "--heads", help="Query heads."),
              seq: int = typer.Option(..., "--seq", help="Keys per sequence (the KV length); also the query length in prefill."),
              head_dim: int = typer.Option(128, "--head-dim", help="Query/key head dimension."),
              kv_heads: int = typer.Option(None, "--kv-heads", help="Key/value heads (grouped-query attention); default = heads."),
              v_head_dim: int = typer.Option(None, "--v-head-dim", help="Value head dimension; default = head-dim."),
              q_len: int = typer.Option(None, "--q-len", help="Queries per sequence; default = seq in prefill, 1 in decode."),
              phase: str = typer.Option("prefill", "--phase", help="prefill (flash kernel) or decode (reads the KV cache)."),
              causal: bool = typer.Option(False, "--causal", help="Causal mask (about half the work)."),
              mla: bool = typer.Option(False, "--mla", help="DeepSeek MLA: one latent KV head (head-dim 576, v-head-dim 512 unless given), read once."),
              dtype: str = DTYPE, model: str = MODEL, explain: bool = EXPLAIN, json: bool = JSON,
              library: str = typer.Option(None, "--library", help="An attention kernel other than the chip's own, with its "
                                          "own inner-loop rate (data/perf/libraries.yaml: triton-tutorial-attention, "
                                          "colfax-cutlass-fmha); default: the chip's own kernels (FlashAttention-3, "
                                          "cuDNN).")) -> None:
    """Fused (flash-style) attention, prefill or decode.

    Example: fabless op attention --chip h100-sxm --batch 8 --heads 16 --seq 2048 --head-dim 128 --causal

    Example: fabless op attention --chip h100-sxm --batch 8 --heads 16 --seq 8192 --causal --library triton-tutorial-attention
    """
    _check_model(model)
    if phase not in ("prefill", "decode"):
        raise FablessError(f"--phase must be prefill or decode, got '{phase}'")
    for flag, v, hi in (("--batch", batch, bounds.MAX_BATCH), ("--heads", heads, bounds.MAX_DIM),
                        ("--seq", seq, bounds.MAX_SEQ_TOKENS), ("--head-dim", head_dim, bounds.MAX_DIM),
                        ("--kv-heads", kv_heads, bounds.MAX_DIM), ("--v-head-dim", v_head_dim, bounds.MAX_DIM),
                        ("--q-len", q_len, bounds.MAX_SEQ_TOKENS)):
        if v is not None:
            whole_number(v, flag, hi=hi)
    if mla:
        kv_heads = 1
        if head_dim == 128:
            head_dim = 576
        v_head_dim = v_head_dim or 512
    q = q_len or (seq if phase == "prefill" else 1)
    p = ChipParams.from_chips(chip)
    if library:
        p = with_library(p, get_library(library))
    kw = dict(kv_heads=kv_heads, v_head_dim=v_head_dim, causal=causal, phase=phase, latent_kv=mla)
    res = attention_time(batch, q, seq, heads, head_dim, p, dtype, model=model, **kw)
    ref = attention_time(batch, q, seq, heads, head_dim, p, dtype, model="roofline", **kw)
    _report(chip, p, res, ref, "tflops" if phase == "prefill" else "gbps", explain, json,
            {"batch": batch, "heads": heads, "kv_heads": kv_heads or heads, "q_len": q, "kv_len": seq,
             "head_dim": head_dim, "v_head_dim": v_head_dim or head_dim, "causal": causal, "phase": phase, "dtype": dtype})


@op_app.command("memcpy")
def memcpy(chip: list[str] = CHIP, nbytes: str = typer.Option("1GiB", "--bytes", help="Bytes to copy: 1GiB, 512MB, 4096."),
           model: str = MODEL, explain: bool = EXPLAIN, json: bool = JSON) -> None:
    """Copy a buffer within HBM (reads and writes it once).

    Example: fabless op memcpy --chip h100-sxm --bytes 1GiB
    """
    _check_model(model)
    size = parse_bytes(nbytes, "--bytes")
    p = ChipParams.from_chips(chip)
    res = memcpy_time(size, p, model=model)
    ref = memcpy_time(size, p, model="roofline")
    _report(chip, p, res, ref, "gbps", explain, json, {"bytes": size})


# The collectives (allreduce, allgather, ...) sit beside gemm, attention and memcpy under `fabless op`.
from fabless.perf.collectives_cli import collectives_app  # noqa: E402

op_app.add_typer(collectives_app)
