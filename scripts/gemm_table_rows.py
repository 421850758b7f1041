"""Print the rows of published_gemm_sweeps.csv that come from NVIDIA's aiconfigurator GEMM tables for one GPU.

The rule, fixed before any fit: every BF16 shape of the table with m, n and k each 4096, 8192 or 16384, for the
TensorRT-LLM 1.3.0rc10 and SGLang 0.5.9 tables (27 shapes each); value = 2 m n k / latency. The tables are the
files ``aic-core/src/aiconfigurator_core/systems/data/<gpu>/gemm/<framework>/<version>/gemm_perf.parquet`` of
github.com/ai-dynamo/aiconfigurator at COMMIT, read with DuckDB from a local copy of the repository.

A second rule (``--small-k``, added with the families' tile_overhead_s, fixed before any of its shapes was
predicted): every BF16 shape of the TensorRT-LLM table with m and n each 4096, 8192 or 16384 and k 128, 256, 512 or
1024 (36 shapes per chip), where a tile's main loop is 1-8 K steps long and what a core does outside it (prologue,
epilogue) shows; in id order, every other row from the first is a fit row of the family's tile_overhead_s (fitted
together with mma_efficiency: fabless.validate.kernel.calibrate), the others are held out.

The same two rules were applied later to A100 SXM (nvidia-ampere, whose mma_efficiency had been fitted on one
best-of-search row): its TensorRT-LLM table at COMMIT is release 1.0.0 (TRTLLM_RELEASE), and both its tables stop at
m 8192, so the rules give 18 large shapes per table and 24 small-K shapes.

Usage: python scripts/gemm_table_rows.py REPO_DIR GPU_DIR "HARDWARE TEXT" FIRST_ID FAMILY [--small-k]
The shipped file is the CSV header followed by these six runs' output (B200, H100, then A100; cubes, then small K):
  python scripts/gemm_table_rows.py ~/aiconfigurator b200_sxm "NVIDIA B200" 1 nvidia-blackwell
  python scripts/gemm_table_rows.py ~/aiconfigurator h100_sxm "NVIDIA H100 80GB HBM3 (SXM)" 55 nvidia-hopper
  python scripts/gemm_table_rows.py ~/aiconfigurator b200_sxm "NVIDIA B200" 109 nvidia-blackwell --small-k
  python scripts/gemm_table_rows.py ~/aiconfigurator h100_sxm "NVIDIA H100 80GB HBM3 (SXM)" 145 nvidia-hopper --small-k
  python scripts/gemm_table_rows.py ~/aiconfigurator a100_sxm "NVIDIA A100 SXM4 80GB (aiconfigurator a100_sxm)" 181 nvidia-ampere
  python scripts/gemm_table_rows.py ~/aiconfigurator a100_sxm "NVIDIA A100 SXM4 80GB (aiconfigurator a100_sxm)" 217 nvidia-ampere --small-k
"""

from __future__ import annotations

import csv
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb

COMMIT = "095f58a51c4ca8e61b66ec108d86f223f8d559ce"
SIZES = (4096, 8192, 16384)
SMALL_K = (128, 256, 512, 1024)
#: The TensorRT-LLM release of each GPU's table at COMMIT (the newest with a GEMM table of its own).
TRTLLM_RELEASE = {"b200_sxm": "1.3.0rc10", "h100_sxm": "1.3.0rc10", "a100_sxm": "1.0.0"}
TABLES = (
    ("trtllm", "{release}", "TensorRT-LLM {release}",
     "NVIDIA's GEMM table for its TensorRT-LLM {release} model, measured by collector/trtllm/collect_gemm.py with "
     "TRT-LLM's Linear module (tensorrt_llm._torch.modules.linear, no quantisation: a torch matmul on cuBLAS; the "
     "table's kernel_source torch_flow)"),
    ("sglang", "0.5.9", "SGLang 0.5.9",
     "NVIDIA's GEMM table for its SGLang 0.5.9 model, measured by collector/sglang/collect_gemm.py with "
     "torch.nn.functional.linear on BF16 operands (cuBLAS; the table's kernel_source {source})"),
)
TIMING = ("a CUDA graph of the call replayed after 3 warm-ups, timed with CUDA events over 6 replays "
          "(collector/helper.py benchmark_with_power), distinct weight copies so that the calls together span more "
          "than the L2 cache (one copy where a weight alone does); 2 m n k / latency.")


def main(repo: str, gpu: str, hardware: str, first: int, family: str, small_k: bool = False) -> None:
    w = csv.writer(sys.stdout, lineterminator="\n")
    i = first
    ks = SMALL_K if small_k else SIZES
    for fw, ver, label, how in TABLES[:1] if small_k else TABLES:
        ver, label, how = (x.replace("{release}", TRTLLM_RELEASE[gpu]) for x in (ver, label, how))
        rel = f"aic-core/src/aiconfigurator_core/systems/data/{gpu}/gemm/{fw}/{ver}/gemm_perf.parquet"
        blob = subprocess.run(["git", "-C", repo, "show", f"{COMMIT}:{rel}"], check=True, capture_output=True).stdout
        with tempfile.NamedTemporaryFile(suffix=".parquet") as f:
            Path(f.name).write_bytes(blob)
            rows = duckdb.connect().execute(
                f"select m, n, k, latency, kernel_source from '{f.name}' where gemm_dtype = 'bfloat16' "
                f"and m in {SIZES} and n in {SIZES} and k in {ks} order by m, n, k").fetchall()
        m_sizes = len(SIZES) - (gpu == "a100_sxm")  # A100's tables stop at m 8192
        assert len(rows) == m_sizes * len(SIZES) * len(ks), (fw, len(rows))
        for m, n, k, lat_ms, source in rows:
            tf = 2 * m * n * k / (lat_ms * 1e-3) / 1e12
            w.writerow([
                f"kernel-aic-{i:03d}", "kernel", hardware, 1,
                f"GEMM (torch matmul -> cuBLAS in {label}'s {'linear layer; aiconfigurator collector' if fw == 'trtllm' else 'collector; aiconfigurator'})",
                "BF16", f"M={m};N={n};K={k};timing=stream", "achieved TFLOP/s", f"{tf:.1f}",
                f"ai-dynamo/aiconfigurator {rel} (github.com/ai-dynamo/aiconfigurator, snapshot commit {COMMIT} of "
                f"2026-08-21), row gemm_dtype=bfloat16 m={m} n={n} k={k}: latency {lat_ms:.6f} ms",
                f"{how.format(source=source)}: {TIMING} {_role(family, small_k, i - first)}"])
            i += 1


def _role(family: str, small_k: bool, index: int) -> str:
    """The row's part in the fit, by the rule of the module docstring."""
    if not small_k:
        return (f"Fit row of {family}.mma_efficiency (fabless.validate.kernel.FIT_IDS; the rule fixed before fitting: "
                "every BF16 shape of the table with m, n and k each 4096, 8192 or 16384, both tables)")
    rule = ("the rule fixed before fitting: every BF16 shape of the TensorRT-LLM table with m and n each 4096, 8192 or "
            "16384 and k 128, 256, 512 or 1024, every other one in id order from the first a fit row")
    if index % 2 == 0:
        return f"Fit row of {family}.tile_overhead_s (fabless.validate.kernel.FIT_IDS; {rule})"
    return f"Held out ({rule}; the others fit {family}.tile_overhead_s)"


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], "--small-k" in sys.argv[6:])
