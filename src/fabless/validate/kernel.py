"""Predictions of the published single-chip kernel measurements (category ``kernel``).

Rows and how they are predicted (``data/measurements/published.csv``):

* ``achieved TFLOP/s (max achievable matmul, MAMF)``: the best torch.matmul shape of a
  brute-force search (stas00/ml-engineering mamf-finder), config ``M;N;K`` (A is M x K, B is
  K x N): :func:`fabless.perf.gemm.gemm_time` at that shape, bf16.
* ``achieved TFLOP/s`` of FlashAttention-3 forward (tritonbench): ``batch;heads;seq;head_dim``,
  non-causal (tritonbench's default; the rows say "not stated"), FLOPs counted as
  ``4·batch·heads·seq²·head_dim``: :func:`fabless.perf.attention.attention_time`. Optional keys
  ``kv_heads`` (grouped-query K/V heads), ``v_head_dim`` (V's head dimension where it differs from
  Q/K's: FLOPs ``2·batch·heads·seq²·(head_dim + v_head_dim)``) and ``causal`` (half the pairs).
* ``effective memory bandwidth (GB/s)`` of a gpt-fast batch-1 decode: weights streamed from
  HBM once (:func:`fabless.perf.memory.hbm_read_time` on 14 GB, a 7B bf16 model).
* ``HBM bandwidth per device`` of a copy within one device's HBM (accelerator-microbenchmarks'
  single_device_hbm_copy on TPU7x), config ``bytes`` (the array): :func:`fabless.perf.memory.memcpy_time`,
  read + write over the time, as the benchmark counts it.
* nvbandwidth copies between two GPUs or from the host: interconnect, not a single chip:
  skipped (see category ``comm``).

What a row's time includes: its config's ``timing`` key (perf.params.TIMING_METHODS), read from
the benchmark's source. ``device_trace``: the op's device duration from a profiler trace
(accelerator-microbenchmarks' ``multiple_iteration_timeit_from_trace`` reads each op's
``device_duration_ps``: the TPU7x rows kernel-v7-*), predicted with the family's ``device_fixed_s``
in place of ``launch_overhead_s``. ``stream``: a timer around back-to-back launches, divided by
their count (mamf-finder's torch/HPU events, tritonbench's do_bench, superbench cublaslt_gemm's and
hipblaslt-bench's warm-up then timed iterations), and ``wall_sync``: a host clock with a
synchronise (gpt-fast's tokens/s, the Pallas guide's jax.block_until_ready loop); both hold the
whole ``launch_overhead_s``, as every row did before the key existed. A row without it is skipped.

Fitting (:func:`calibrate`): the first rule, fixed before looking at the errors, was to fit each
family's ``mma_efficiency`` on the MAMF row of the family's first product (A100 SXM, H100
SXM, B200, MI300X; all since moved to GEMM tables, below) and hold out its siblings (A100 PCIe, GH200, GB200, MI325X) and
every chip of a family without a fit row (Gaudi 3, which uses the cross-family default); and to
fit Hopper's two attention parameters on every other FlashAttention-3 row (seq 512, 2048,
8192) and hold out the other three. 7 of the 16 rows in scope were fit rows; 3 are now (the three FlashAttention-3
rows, which since stop 54 fit FlashAttention-3's own library values, below, not the family's). MI300X's MAMF row
kernel-271 left the fit at stop 46: its source (stas00/ml-engineering) is reserved for independent checks
(shared/RESERVED.md); AMD's tritonBLAS GEMMs on MI300X (published_cdna3_gemm.csv, torch.matmul at
square 1024-16384, each call timed alone after a synchronise) fit ``mma_efficiency`` and the host's fixed cost per call,
``sync_round_trip_s``, together in its place.

Rows added later follow their own file's rule: NVIDIA's GEMM tables (published_gemm_sweeps.csv) fit the
Blackwell, Hopper and (since, in place of its MAMF row kernel-261) Ampere ``mma_efficiency`` on their large shapes
(m, n, k each 4096-16384) and, with it, the families' ``tile_overhead_s`` on every other small-K shape (k 128-1024)
in id order from the first, and ``gemm_exposed_steps`` on the same small-K rows (:func:`calibrate_exposed_steps`);
the Azure GEMM harness (data/perf/libraries.yaml)
fits its library's ``mma_8bit_ratio`` on the large shapes (every dimension >= 4096) and its
``tile_overhead_s`` on the others, each time every other row in id order from the first, on the
family's first product (H100, MI300X; GB200 for Blackwell's ratio); every other row is held out.
Each of NVIDIA's two GEMM tables is also a library of its own (``aiconfigurator-*``), whose
``mma_efficiency`` and ``tile_overhead_s`` :func:`calibrate_library` fits on that table's fit rows by
the families' rule; the families' values stay fitted on both tables together.
The TPU7x GEMM table (published_tpu_v7_kernel.csv, XLA matmuls at m = n = k = 128-32768) takes the same rule for
google-tpu, a systolic family with no GPU tiles: its large shapes (4096-32768) fit ``mma_efficiency`` and every other
smaller one from the first (128, 512, 2048) ``gemm_exposed_steps``, the K panels its pipeline does not overlap, in
place of a tile overhead; 256 and 1024 and the table's HBM copies are held out. Gaudi 2's torch.mm GEMMs of the
gaudi-perf matmul benchmark (published_fresh9_kc.csv) fit intel-gaudi2 by the same rule (since stop 47; before, its
``mma_efficiency`` was a step-level value fitted on training and decode rows by a script now removed). CDNA 4
(MI355X) takes CDNA 3's rule on HipKittens' MI355X torch.matmul GEMMs (published_fresh15_kc.csv, all five of that
series: ``mma_efficiency`` and ``sync_round_trip_s`` together, since stop 50; before, default-gpu's assumption).
The sixteenth batch's flash-attention rows (published_fresh16_kc.csv) fit each family's ``attention_softmax_cycles``
on its native kernels' rows (cuDNN, FlashAttention-3/4) at head dimension 64 or with 8-bit operands, every other one
from the first (Hopper on H200, Blackwell on GB200 FP8); Blackwell's ratio and overhead are fitted by the batch's second
rule, on GB200's cuDNN training-suite 16-bit rows (the first, on B200's paged rows, ran to the peak:
fresh16_kc_scores.md). FlashAttention-2's sm80 kernels are skipped on Hopper and Blackwell (SM80_ATTENTION_KERNELS).
An attention backward row (published_fresh17_kc.csv) is timed as the training engine times an attention op's backward
(perf.ops.op_time, pass ``bwd``: ``attention_bwd_time_ratio`` forward times), against the rows' five-product FLOP count
(:func:`attention_backward_flops`); the 16-bit rows of H200 and GB200, every other one from the first, fit that ratio
for Hopper and Blackwell (BWD_FIT_IDS); 8-bit backward rows are skipped (the engine runs attention in 16 bits).
Since stop 54 Hopper's ratio and overhead are fitted as Blackwell's are, by the sixteenth batch's second rule applied to
Hopper: the family's cuDNN training-suite forward rows in 16 bits on its one product with them (H200, cuDNN 9.19), every
other one in id order from the first (HOPPER_CUDNN_FIT_IDS). The rule was written after the held-out scores, which
showed those rows 7-11% slow at FlashAttention-3's values (fresh16_kc_scores.md says so); FlashAttention-3's 2024
tritonbench rows, which fitted the family before, fit its library's ratio and overhead instead
(data/perf/libraries.yaml), so a FlashAttention-3 row is predicted as before. An attention library fits both its ratio
and its overhead (:func:`calibrate_library`), the family's softmax bound in place. CDNA 4 (MI355X), which took
default-gpu's attention values (FlashAttention-3's on H100) until stop 54, fits its own by the same rule on AMD's
native kernel, aiter's FMHA fwd v3 (CDNA4_AITER_FIT_IDS), also written after the held-out scores.
A fused norm row (published_fresh19_kc.csv: RMSNorm and LayerNorm, forward and backward) is timed as the training
engine times a Norm op (perf.ops.op_time), its bandwidth the source's byte count over that time; each family's backward
rows of its first product at hidden 2048 or more, every other one from the first, fit its
``norm_bwd_partials_per_core`` (NORM_BWD_FIT_IDS; the nineteenth batch's second rule, written after its first scores).
A chip's own value (data/chips/<chip>.yaml), where the value derived from its family's is a bound its rows do not
reach, is fitted by :func:`calibrate_chips` on its CHIP_FIT_IDS rows: GB300's 8-bit forward rows, every other one from
the first, its ``attention_softmax_cycles`` (the seventeenth batch's second rule).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from fabless.perf.attention import attention_time
from fabless.perf.gemm import gemm_time
from fabless.perf.libraries import libraries, library, library_for_source, with_library
from fabless.perf.memory import hbm_read_time, memcpy_time
from fabless.perf.ops import op_time
from fabless.perf.params import TIMING_METHODS, ChipParams
from fabless.validate.core import Skip, load_rows, parse_config
from fabless.validate.hardware_map import Unmapped, chip_for_hardware
from fabless.workload.ops import Attention, Norm

#: The seventeenth batch's backward fit rows (published_fresh17_kc.csv): the 16-bit backward rows of H200 and of GB200,
#: every other one in id order from the first (fresh17_kc_scores.md).
BWD_FIT_IDS: tuple[str, ...] = tuple(f"kernel-fresh17-{i:03d}" for i in (
    155, 162, 167, 172, 177,  # H200, cuDNN 9.19, Llama-3.1's shapes -> nvidia-hopper
    2, 9, 14, 19, 24, 70, 78, 86, 94, 102))  # GB200, cuDNN 9.22, Llama-3.1's and DeepSeek-V3's -> nvidia-blackwell

#: Hopper's attention ratio and overhead fit rows (since stop 54): the sixteenth batch's second Blackwell rule applied
#: to Hopper, written after the held-out scores (fresh16_kc_scores.md): H200's cuDNN 9.19 training-suite forward rows in
#: 16 bits (published_fresh16_kc.csv, sdpa_benchmark_training), every other one in id order from the first.
HOPPER_CUDNN_FIT_IDS: tuple[str, ...] = tuple(f"kernel-fresh16-{i:03d}" for i in (111, 114, 117, 120))

#: CDNA 4's attention ratio and overhead fit rows (since stop 54): the same rule on AMD's native kernel, written after the
#: held-out scores (fresh15_kc_scores.md): aiter's FMHA fwd v3 (the gfx950 assembly kernel ROCm's serving stacks call)
#: 16-bit forward rows on MI355X (published_fresh15_kc.csv), every other one in id order from the first.
CDNA4_AITER_FIT_IDS: tuple[str, ...] = tuple(f"kernel-fresh15-{i:03d}" for i in (31, 33, 35, 37))
#: Norm backward rows of the nineteenth batch's second fit rule (fresh19_kc_scores.md, written after its first scores and
#: before any fit): each family's backward rows of its first product in that file at hidden 2048 or more, every other
#: one from the first (GB200 -> nvidia-blackwell, H200 -> nvidia-hopper) -> its norm_bwd_partials_per_core
NORM_BWD_FIT_IDS: tuple[str, ...] = tuple(f"kernel-fresh19-{i:03d}" for i in (2, 6, 10, 14, 18, 26, 62, 66, 70, 74, 78, 86))

#: Chip-level fit rows: a chip whose own value of a family parameter is fitted on its own rows, where the chip file
#: held a value derived from the family's that its rows say is a bound (data/chips/<chip>.yaml). GB300's 8-bit forward
#: rows of the seventeenth batch (published_fresh17_kc.csv), its only softmax-bound rows, every other in id order from
#: the first -> its attention_softmax_cycles (fresh17_kc_scores.md, rule 2; the sixteenth batch's first rule for a chip).
CHIP_FIT_IDS: dict[str, tuple[str, ...]] = {
    "gb300": tuple(f"kernel-fresh17-{i:03d}" for i in (33, 41, 49, 57, 65, 113, 121, 129, 137, 145)),
}
_CHIP_FIT_ROWS: frozenset[str] = frozenset(i for ids in CHIP_FIT_IDS.values() for i in ids)

#: Rows the parameters in data/perf/families.yaml were fitted on (see the module docstring).
FIT_IDS: frozenset[str] = frozenset({
    # MI300X torch.matmul (hipBLASLt, ROCm 7.2) of AMD's tritonBLAS results, square 1024-16384, timed one call
    # at a time after a synchronise -> amd-cdna3 mma_efficiency and sync_round_trip_s, fitted together; in place
    # of the MAMF row kernel-271, whose source shared/RESERVED.md keeps for independent checks
    "kernel-cdna3-021", "kernel-cdna3-022", "kernel-cdna3-023", "kernel-cdna3-024", "kernel-cdna3-025",
    "kernel-cdna3-026",
    "kernel-280", "kernel-282", "kernel-284",  # FA3 fwd seq 512/2048/8192 -> hopper attention
    # the Azure harness's FP8 GEMMs -> its library's mma_8bit_ratio (data/perf/libraries.yaml)
    "kernel-bw-003", "kernel-bw-005", "kernel-bw-008",
    "kernel-h100az-003", "kernel-h100az-005", "kernel-h100az-008",
    "kernel-amd-003", "kernel-amd-005", "kernel-amd-008",
    # ... and its per-wave tile overhead on Hopper and CDNA 3 (scripts/fit_tile_overhead.py)
    "kernel-h100az-001", "kernel-h100az-007", "kernel-amd-001", "kernel-amd-007",
    # TPU7x (one Ironwood chiplet) XLA matmuls of AI-Hypercomputer's accelerator-microbenchmarks table, the NVIDIA
    # GEMM tables' rule: every shape with m, n and k each 4096 or more (4096, 16384, 32768) -> google-tpu
    # mma_efficiency; the smaller ones (128-2048), every other one from the first -> its gemm_exposed_steps
    "kernel-v7-006", "kernel-v7-007", "kernel-v7-008", "kernel-v7-001", "kernel-v7-003", "kernel-v7-005",
    # Gaudi 2 torch.mm GEMMs of the gaudi-perf matmul benchmark (published_fresh9_kc.csv), the same rule -> intel-gaudi2
    # mma_efficiency (m, n, k each 4096 or more) and gemm_exposed_steps (the others, every other one from the first),
    # in place of a fit on training steps: kernel-fresh9-036 and the MAMF row kernel-260 (a reserved source) held out
    "kernel-fresh9-039", "kernel-fresh9-045", "kernel-fresh9-048", "kernel-fresh9-051", "kernel-fresh9-033",
    "kernel-fresh9-042",
    # MI355X torch.matmul of HipKittens' MI355X benchmark file (published_fresh15_kc.csv), square 1024-16384, each call
    # timed alone between synchronises -> amd-cdna4 mma_efficiency and sync_round_trip_s, fitted together: every torch
    # row of the family's first product in that source, amd-cdna3's rule on tritonBLAS (the batch scored blind first)
    "kernel-fresh15-001", "kernel-fresh15-004", "kernel-fresh15-007", "kernel-fresh15-010", "kernel-fresh15-013",
    # flash-attention forward kernels of the sixteenth batch (published_fresh16_kc.csv), by the rule its scores file
    # fixed before fitting: each family's native-kernel rows (cuDNN, FlashAttention-3/4) at head dimension 64 or with
    # 8-bit operands, every other from the first -> its attention_softmax_cycles: H200 cuDNN (nvidia-hopper), GB200
    # cuDNN FP8 (nvidia-blackwell). The rule's Blackwell ratio and overhead fit (B200 cuDNN 16-bit rows) ran to the peak
    # (fresh16_kc_scores.md) and those rows stay held out; the second rule, written before its fit, takes GB200's
    # training-suite 16-bit rows, every other from the first -> nvidia-blackwell's ratio and overhead
    "kernel-fresh16-089", "kernel-fresh16-091", "kernel-fresh16-093", "kernel-fresh16-113", "kernel-fresh16-119",
    "kernel-fresh16-101", "kernel-fresh16-107",
    "kernel-fresh16-095", "kernel-fresh16-097", "kernel-fresh16-099", "kernel-fresh16-102", "kernel-fresh16-105",
    "kernel-fresh16-108",
    # Hopper's ratio and overhead by the second Blackwell rule applied to Hopper (stop 54): HOPPER_CUDNN_FIT_IDS
    *HOPPER_CUDNN_FIT_IDS,
    # CDNA 4's by the same rule on aiter's FMHA fwd v3 (stop 54): CDNA4_AITER_FIT_IDS
    *CDNA4_AITER_FIT_IDS,
    # fused norm backward kernels of the nineteenth batch (published_fresh19_kc.csv) -> norm_bwd_partials_per_core
    *NORM_BWD_FIT_IDS,
    # flash-attention backward kernels of the seventeenth batch (published_fresh17_kc.csv), by the rule its scores file
    # fixed before fitting: each family's 16-bit backward rows of its one product with rows, every other from the
    # first -> its attention_bwd_time_ratio: H200 (nvidia-hopper), GB200 (nvidia-blackwell)
    *BWD_FIT_IDS,
    # attention kernels other than the chip's own (data/perf/libraries.yaml), by the sixteenth batch's third rule: each
    # library's rows on a shipped preset, every other from the first -> its attention_mma_ratio for the family
    "kernel-fresh16-164", "kernel-fresh16-169", "kernel-fresh16-175", "kernel-fresh16-181",  # Triton tutorial, H100
    "kernel-fresh16-170", "kernel-fresh16-176", "kernel-fresh16-182",  # Colfax CUTLASS FMHA, H100
}) | frozenset(
    # B200 and H100 BF16 GEMMs of two framework tables (published_gemm_sweeps.csv) -> nvidia-blackwell and
    # nvidia-hopper mma_efficiency: 54 shapes per chip of the cuBLAS GEMMs the serving stacks run, in place of each
    # family's single max-achievable (best-of-search) row, kernel-266 and kernel-264, which lie above the tables
    # (B200 16-20%, H100 10%)
    f"kernel-aic-{i:03d}" for i in range(1, 109)) | frozenset(
    # and the small-K shapes of the TensorRT-LLM tables (k 128-1024), every other one from the first -> the same
    # families' tile_overhead_s, fitted together with mma_efficiency (scripts/gemm_table_rows.py --small-k)
    f"kernel-aic-{i:03d}" for first in (109, 145) for i in range(first, first + 36, 2)) | frozenset(
    # the same two rules on A100 SXM (TensorRT-LLM 1.0.0 and SGLang 0.5.9 tables, m up to 8192: 36 large shapes, 24
    # small-K) -> nvidia-ampere, in place of its max-achievable row kernel-261
    f"kernel-aic-{i:03d}" for i in [*range(181, 217), *range(217, 241, 2)]) | (
    # a chip's own values (CHIP_FIT_IDS, data/chips), fitted by calibrate_chips, not by its family's fit
    _CHIP_FIT_ROWS)

#: Kernel-name texts of FlashAttention-2's CUDA kernels (the flash_attn package's entry points, and PyTorch SDPA's flash
#: backend, which builds the same code): compiled for sm80's mma.sync, they run on newer NVIDIA chips without those
#: chips' matrix instructions (Hopper's wgmma, Blackwell's tcgen05) at a fraction of the chips' own kernels' rate
#: (published_fresh16_kc.csv: 300-380 TFLOP/s on H100 and B200, against 620-660 for FlashAttention-3 on H100 and
#: 1200-1500 for cuDNN on B200). The families describe the chips' own kernels; these rows are skipped on them.
SM80_ATTENTION_KERNELS = ("flash_attn_func", "flash_attn_qkvpacked_func", "sdpa flash backend")
#: Families newer than sm80, whose matrix instructions FlashAttention-2's kernels do not use.
NEWER_THAN_SM80 = ("nvidia-hopper", "nvidia-blackwell")

#: Kernel-text prefixes of a fused norm row (published_fresh19_kc.csv), timed as the engine's Norm op.
NORM_KERNELS = ("rmsnorm", "layernorm")

#: attention_overhead_blocks grid of :func:`calibrate` (0 to 6 KV-block iterations, step 0.05).
OVERHEAD_BLOCKS_GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(121))

#: attention_softmax_cycles grid of :func:`calibrate` (0 to 0.25 cycles per score, step 0.001).
SOFTMAX_CYCLES_GRID: tuple[float, ...] = tuple(round(0.001 * i, 3) for i in range(251))

#: Smallest dimension of a GEMM fit row that sets a family's mma_efficiency; a 16-bit fit row with a smaller
#: dimension sets its tile_overhead_s instead (a tile's main loop there is short enough for the rest to show).
LARGE_GEMM_DIM = 4096

#: norm_bwd_partials_per_core grid of :func:`calibrate` (0 to 32 partial rows a core, step 0.25).
NORM_PARTIALS_GRID: tuple[float, ...] = tuple(0.25 * i for i in range(129))

#: sync_round_trip_s grid of :func:`calibrate` (0 to 60 us, step 0.25 us).
SYNC_ROUND_TRIP_GRID_S: tuple[float, ...] = tuple(round(0.25e-6 * i, 10) for i in range(241))

#: tile_overhead_s grid of :func:`calibrate` (0 to 3 us, step 0.05 us).
TILE_OVERHEAD_GRID_S: tuple[float, ...] = tuple(round(0.05e-6 * i, 10) for i in range(61))

#: gemm_exposed_steps grid of :func:`calibrate_exposed_steps` and :func:`calibrate` (0 to 4 K steps, step 0.05: up
#: to the prologue of a multistage pipeline that loads several K steps ahead before its first math, as Ampere's
#: kernels do; for a systolic family, K panels of fabless.perf.gemm.PANEL_K).
EXPOSED_STEPS_GRID: tuple[float, ...] = tuple(round(0.05 * i, 2) for i in range(81))

#: Bytes a gpt-fast batch-1 decode step streams (Llama-2-7B in bf16: 6.74e9 params x 2).
GPT_FAST_WEIGHT_BYTES = 6.74e9 * 2

#: 8-bit operand types: their GEMMs run at the family's mma_8bit_ratio of the 16-bit fraction.
_NARROW = ("fp8",)

_DTYPES = {"bf16": "bf16", "fp16": "fp16", "bf16/fp16": "bf16", "fp8": "fp8", "fp32": "fp32", "tf32": "tf32"}


def _dtype(row: dict) -> str:
    p = str(row.get("precision", "")).strip().lower()
    if p not in _DTYPES:
        raise Skip(f"precision '{row.get('precision')}' not modelled")
    return _DTYPES[p]


def _int(cfg: dict, key: str) -> int:
    try:
        return int(cfg[key])
    except (KeyError, ValueError):
        raise Skip(f"config lacks a whole-number '{key}'") from None


def _timing(cfg: dict) -> str:
    t = cfg.get("timing", "").strip().lower()
    if t not in TIMING_METHODS:
        raise Skip(f"config states no timing method (timing={t or '?'}; one of {', '.join(TIMING_METHODS)})")
    return t


def _row_chip(row: dict) -> ChipParams:
    """The parameters of the chip preset a row's hardware text means (hardware_map.Unmapped where none)."""
    return ChipParams.from_chip(chip_for_hardware(row["hardware"]))


def _params(row: dict, overrides: dict[str, Any] | None, cfg: dict) -> ChipParams:
    # a row measured with a named kernel library (data/perf/libraries.yaml) is predicted with it
    p = with_library(_row_chip(row), _row_library(row))
    p = p.replace(**overrides) if overrides else p
    # the fixed cost per kernel that the row's timing method sees (ChipParams.timed)
    return p.timed(_timing(cfg))


def predict(row: dict, *, overrides: dict[str, Any] | None = None) -> float | None:
    """The model's value for one kernel row in the row's metric unit. Raises Skip (or
    hardware_map.Unmapped) for rows outside the model. ``overrides`` replaces ChipParams
    fields (used by :func:`calibrate`)."""
    if row.get("category") != "kernel":
        return None
    name = str(row.get("model_or_kernel", "")).lower()
    metric = str(row.get("metric", "")).lower()
    cfg = parse_config(row.get("config", ""))
    if "nvbandwidth" in name or "copy bandwidth" in metric:
        raise Skip("copy between chips or from the host: an interconnect measurement, not a single-chip kernel")
    if name.startswith("gemm") and "tflop" in metric:
        p = _params(row, overrides, cfg)
        r = gemm_time(_int(cfg, "m"), _int(cfg, "n"), _int(cfg, "k"), p, _dtype(row))
        return float(r.achieved_flops_per_s[0] / 1e12)
    if "attention" in name and "tflop" in metric:
        if "flashattention" not in name:
            raise Skip("only flash-style attention kernels are modelled")
        if any(t in name for t in SM80_ATTENTION_KERNELS) and (fam := _row_chip(row).family[0]) in NEWER_THAN_SM80:
            raise Skip(f"FlashAttention-2's CUDA kernels are built for sm80: on {fam} they run without the chip's "
                       "own matrix instructions (wgmma, tcgen05), which no family parameter describes")
        causal = cfg.get("causal", "").lower().startswith(("true", "1", "yes"))
        b, h, s, d = (_int(cfg, k) for k in ("batch", "heads", "seq", "head_dim"))
        # grouped-query K/V heads and a V head dimension other than Q/K's, where the row states them
        kvh, dv = (_int(cfg, k) if k in cfg else None for k in ("kv_heads", "v_head_dim"))
        p = _params(row, overrides, cfg)
        if _is_backward(row):
            if _dtype(row) in _NARROW:
                raise Skip("an 8-bit attention backward: the training engine runs attention in its activations' 16 bits, "
                           "and cuDNN's 8-bit backward keeps no one relation to the 16-bit one (below it on H200, 1.4x "
                           "above on GB200), which no family parameter describes")
            return _attention_backward_tflops(b, s, h, d, kvh, dv, causal, _dtype(row), p)
        r = attention_time(b, s, s, h, d, p, _dtype(row), kv_heads=kvh, v_head_dim=dv, causal=causal, phase="prefill")
        return float(r.achieved_flops_per_s[0] / 1e12)
    if name.startswith(NORM_KERNELS) and "gb/s" in metric:
        # a fused norm kernel, forward or backward, as the training engine times it (perf.ops.op_time on a Norm op:
        # perf.memory.norm_time forward, norm_backward_time backward); the row's bandwidth counts the bytes its source
        # counts (config `bytes`), so the model's is those bytes over its time
        p = _params(row, overrides, cfg)
        pass_ = cfg.get("pass", "").strip().lower()
        if pass_ not in ("fwd", "bwd"):
            raise Skip(f"a norm row states its pass as fwd or bwd (pass={pass_ or '?'})")
        op = Norm("norm", rows=_int(cfg, "rows"), hidden=_int(cfg, "hidden"),
                  norm="layer" if name.startswith("layernorm") else "rms", dtype=_dtype(row), pass_=pass_)
        return float(_int(cfg, "bytes") / op_time(op, p).time_s[0] / 1e9)
    if name.startswith("hbm copy") and "hbm bandwidth" in metric:
        p = _params(row, overrides, cfg)
        r = memcpy_time(float(_int(cfg, "bytes")), p)
        return float(r.achieved_bytes_per_s[0] / 1e9)
    if "memory bandwidth" in metric and "decode" in name:
        p = _params(row, overrides, cfg)
        r = hbm_read_time(GPT_FAST_WEIGHT_BYTES, p)
        return float(r.achieved_bytes_per_s[0] / 1e9)
    raise Skip("kernel not modelled")


def kernel_rows() -> list[dict]:
    return [r for r in load_rows() if r["category"] == "kernel"]


def _log_err(rows: list[dict], overrides: dict) -> np.ndarray:
    return np.array([math.log(predict(r, overrides=overrides) / float(r["value"])) for r in rows])


def _library_values(row: dict, family: str) -> dict[str, float]:
    """The values the kernel library a row was measured with sets for ``family`` (none: {})."""
    lib = _row_library(row)
    return lib.values_for(family) if lib is not None else {}


def _row_library(row: dict):
    """The kernel library (data/perf/libraries.yaml) a row's source or kernel names, if any."""
    return library_for_source(row.get("source", ""), row.get("model_or_kernel", ""))


def _match(rows: list[dict], base: dict[str, Any], key: str = "mma_efficiency", start: float = 0.8,
           steps: int = 4, cap: float = 1.0, time: bool = False) -> float:
    """The value of rate parameter ``key`` (with ``base`` in place) whose predictions of ``rows`` match them
    in geometric mean: ``steps`` multiplicative updates from ``start``, capped at ``cap`` (the model is
    nearly proportional to a rate, so a few suffice). ``time``: ``key`` is a time factor instead (the
    predicted throughput is inversely proportional to it), so each update scales it the other way."""
    sign = 1.0 if time else -1.0
    value = start
    for _ in range(steps):
        value = min(cap, value * math.exp(sign * float(np.mean(_log_err(rows, {**base, key: value})))))
    return value


def _attention_ratio_cap(rows: list[dict], base: dict[str, float]) -> float:
    """The largest ``attention_mma_ratio`` for ``rows``' family: where the loop reaches the peak, relative to the GEMM
    efficiency the rows are predicted with (``base``'s fitted value, else the family's)."""
    return 1.0 / float(base.get("mma_efficiency", _row_chip(rows[0]).mma_efficiency[0]))


def _is_small(row: dict) -> bool:
    return min(_int(parse_config(row["config"]), d) for d in "mnk") < LARGE_GEMM_DIM


def _fit_rate_and_overhead(wide: list[dict], rows: list[dict], base: dict | None = None,
                           key: str = "tile_overhead_s",
                           grid: tuple[float, ...] = TILE_OVERHEAD_GRID_S) -> dict[str, float]:
    """``mma_efficiency`` (and, when ``wide`` holds both large and small GEMMs, ``key``: ``tile_overhead_s``
    on TILE_OVERHEAD_GRID_S, or a systolic family's ``gemm_exposed_steps`` on EXPOSED_STEPS_GRID) fitted on
    ``rows``: the large 16-bit rows set the efficiency; the small ones (a dimension below LARGE_GEMM_DIM) set
    the other on ``grid``, the efficiency refitted on the large rows at each point, the value of least mean
    |log error| on the small rows. Without both kinds: the efficiency matched on all ``rows``.
    ``base``: other parameters held at these values throughout (the exposed-steps grid, below)."""
    base = base or {}
    small = [r for r in wide if _is_small(r)]
    large = [r for r in wide if r not in small]
    if not (small and large):
        return {"mma_efficiency": _match(rows, base)}
    points = []
    for q in grid:
        eff = _match(large, {**base, key: q})
        loss = float(np.mean(np.abs(_log_err(small, {**base, "mma_efficiency": eff, key: q}))))
        points.append((loss, q, eff))
    _, q, eff = min(points)
    return {"mma_efficiency": eff, key: q}


def _table_fit_rows(family: str, rows: list[dict] | None = None) -> dict[str, list[dict]]:
    """The 16-bit GEMM fit rows of each aiconfigurator table (library name -> rows) on ``family``'s chips."""
    rows = rows if rows is not None else kernel_rows()
    out: dict[str, list[dict]] = {}
    for name in sorted(n for n in libraries() if n.startswith("aiconfigurator-")):
        rs = _library_fit_rows(library(name), rows).get(family)
        if rs:
            out[name] = rs
    return out


def exposed_steps_loss(family: str, value: float, rows: list[dict] | None = None) -> float:
    """Mean |log(predicted / measured)| of ``family``'s small-K table fit rows (a dimension below
    LARGE_GEMM_DIM) with ``gemm_exposed_steps`` at ``value`` and each table's efficiency and tile overhead
    refitted there by the families' rule (:func:`_fit_rate_and_overhead`); inf when the family has none."""
    base = {"gemm_exposed_steps": value}
    errs: list[float] = []
    for rs in _table_fit_rows(family, rows).values():
        small = [r for r in rs if _is_small(r)]
        if small:
            fitted = _fit_rate_and_overhead(rs, rs, base)
            errs += list(np.abs(_log_err(small, {**base, **fitted})))
    return float(np.mean(errs)) if errs else math.inf


def calibrate_exposed_steps(family: str, rows: list[dict] | None = None,
                            grid: tuple[float, ...] = EXPOSED_STEPS_GRID) -> tuple[float, float]:
    """``gemm_exposed_steps`` of ``family`` fitted on its small-K table fit rows: the grid value of least
    :func:`exposed_steps_loss` (the first of equals), and that loss."""
    losses = [(exposed_steps_loss(family, q, rows), q) for q in grid]
    loss, q = min(losses, key=lambda t: t[0])
    return q, loss


def _library_fit_rows(lib, rows: list[dict] | None = None, attention: bool = False) -> dict[str, list[dict]]:
    """The FIT_IDS rows measured with kernel library ``lib`` (:func:`library_for_source`), by chip family, in row
    order: its 16-bit GEMMs, or with ``attention`` its attention forward kernels."""
    def kind(r: dict) -> bool:
        name = str(r["model_or_kernel"]).lower()
        if attention:
            return "attention" in name and not _is_backward(r)
        return name.startswith("gemm") and _dtype(r) not in _NARROW

    by_family: dict[str, list[dict]] = {}
    for r in (rows if rows is not None else kernel_rows()):
        if r["id"] in FIT_IDS and _row_library(r) == lib and kind(r):
            by_family.setdefault(_row_chip(r).family[0], []).append(r)
    return by_family


def calibrate_library(name: str, rows: list[dict] | None = None) -> dict[str, dict[str, float]]:
    """Refit a library's values (data/perf/libraries.yaml) on the FIT_IDS rows predicted with it
    (:func:`library_for_source`), per chip family, by the rule the families' own values follow (:func:`calibrate`):
    a GEMM table's 16-bit efficiency and tile overhead; an attention kernel's ``attention_mma_ratio`` and
    ``attention_overhead_blocks``, fitted as a family's are (:func:`_fit_attention`) on all its forward rows, the
    family's softmax bound in place (a library sets no softmax value). {family: {param: value}}.
    The rows are predicted with the library in place, each fitted value overriding it."""
    lib = library(name)
    out = {fam: _fit_rate_and_overhead(rs, rs) for fam, rs in sorted(_library_fit_rows(lib, rows).items())}
    for fam, rs in sorted(_library_fit_rows(lib, rows, attention=True).items()):
        out.setdefault(fam, {}).update(_fit_attention(rs, {}, softmax=False))
    return out


def _fit_with_sync_round_trip(rows: list[dict]) -> dict[str, float]:
    """``mma_efficiency`` and ``sync_round_trip_s`` fitted together on ``rows``, GEMMs timed with a synchronise
    around each call (the round trip is in every one of them, large or small): on SYNC_ROUND_TRIP_GRID_S, the
    efficiency matched on all the rows at each point (:func:`_match`), the pair of least mean
    |log(predicted / measured)| (the first of equals)."""
    best: tuple[float, dict[str, float]] = (math.inf, {})
    for t in SYNC_ROUND_TRIP_GRID_S:
        base = {"sync_round_trip_s": t}
        fitted = {"mma_efficiency": _match(rows, base), **base}
        loss = float(np.mean(np.abs(_log_err(rows, fitted))))
        if loss < best[0]:
            best = (loss, fitted)
    return best[1]


def calibrate(rows: list[dict] | None = None) -> dict[str, dict[str, float]]:
    """Refit the calibrated parameters on the FIT_IDS rows; returns {family: {param: value}}.

    ``mma_efficiency``: the value whose prediction matches the family's 16-bit fit row(s)
    (geometric mean of measured / predicted, iterated: the model is nearly proportional to it);
    ``tile_overhead_s``, for a family whose 16-bit fit rows include small GEMMs (a dimension below
    LARGE_GEMM_DIM): on a grid (TILE_OVERHEAD_GRID_S), with the efficiency refitted on the large rows
    at each point, the value of least mean |log error| on the small rows;
    ``gemm_exposed_steps`` instead of ``tile_overhead_s``, for a systolic family (TPU): the same grid fit on
    EXPOSED_STEPS_GRID (K panels its pipeline does not overlap; an array has no waves of tiles);
    ``sync_round_trip_s`` instead of ``tile_overhead_s``, for a family whose 16-bit fit rows are all timed
    ``wall_sync`` (a synchronise around each call): on a grid (SYNC_ROUND_TRIP_GRID_S), the efficiency matched
    on all of them at each point, the pair of least mean |log error|;
    ``mma_8bit_ratio``: then likewise on the family's 8-bit fit rows that no kernel library of
    theirs sets a ratio for (Blackwell's GB200 FP8 rows: data/perf/libraries.yaml has no Blackwell
    entry), with that efficiency in place.
    Attention, per family with attention fit rows (:func:`_fit_attention`): ``attention_overhead_blocks`` on a grid
    (0 to 6, step 0.05) with ``attention_mma_ratio`` the geometric-mean match at each, minimising the summed |log
    error| on the rows its matrix products bound, and ``attention_softmax_cycles`` on the rows the softmax may bound
    (head dimension 64, 8-bit operands), on its forward rows; then ``attention_bwd_time_ratio`` on its backward rows,
    the forward values in place (matched in geometric mean as a time factor, :func:`_match`).
    ``norm_bwd_partials_per_core``, per family with norm backward fit rows: the grid value (NORM_PARTIALS_GRID) of
    least mean |log error| on them."""
    rows = [r for r in (rows if rows is not None else kernel_rows()) if r["id"] in FIT_IDS]
    gemm = [r for r in rows if str(r["model_or_kernel"]).lower().startswith("gemm")]
    # a kernel library's attention rows (an attention kernel other than the chip's own) fit the library's values, and
    # a chip's own fit rows its own (calibrate_chips)
    attn = [r for r in rows if "attention" in str(r["model_or_kernel"]).lower() and _row_library(r) is None
            and r["id"] not in _CHIP_FIT_ROWS]
    out: dict[str, dict[str, float]] = {}
    by_family: dict[str, list[dict]] = {}
    systolic: dict[str, bool] = {}  # the family's matrix-unit kind
    for r in gemm:
        try:
            chip = _row_chip(r)
        except Unmapped:
            continue  # its preset is not in this build: nothing to fit
        fam = chip.family[0]
        by_family.setdefault(fam, []).append(r)
        systolic[fam] = bool(chip.is_systolic[0])
    for fam, rs in by_family.items():
        # the 16-bit rows set the efficiency (a family with none: all its rows); then the 8-bit rows
        # predicted with the family's own values (no kernel library of theirs) set its 8-bit ratio
        wide = [r for r in rs if _dtype(r) not in _NARROW]
        has_wide = bool(wide)
        wide = wide or rs
        if has_wide and all(_timing(parse_config(r["config"])) == "wall_sync" for r in wide):
            # GEMMs timed one call at a time after a synchronise: the host's fixed cost per call is in every
            # row, so it is fitted with the efficiency, not as a tile overhead of the small ones
            out[fam] = _fit_with_sync_round_trip(wide)
        elif systolic[fam]:
            # an array has no GPU tiles and so no time per wave: what its small GEMMs lose is the K panels
            # its pipeline does not overlap
            out[fam] = _fit_rate_and_overhead(wide if has_wide else [], wide, key="gemm_exposed_steps",
                                              grid=EXPOSED_STEPS_GRID)
        else:
            out[fam] = _fit_rate_and_overhead(wide if has_wide else [], wide)
        narrow = [r for r in rs if _dtype(r) in _NARROW and "mma_8bit_ratio" not in _library_values(r, fam)]
        if narrow and has_wide:
            out[fam]["mma_8bit_ratio"] = _match(narrow, out[fam], "mma_8bit_ratio", start=0.7, cap=math.inf)
    norms: dict[str, list[dict]] = {}
    for r in rows:
        if str(r["model_or_kernel"]).lower().startswith(NORM_KERNELS):
            norms.setdefault(_row_chip(r).family[0], []).append(r)
    for fam, rs in norms.items():
        # the partial rows a core of the norm backward writes: the grid value of least mean |log error|
        loss = [float(np.mean(np.abs(_log_err(rs, {"norm_bwd_partials_per_core": v})))) for v in NORM_PARTIALS_GRID]
        out.setdefault(fam, {})["norm_bwd_partials_per_core"] = NORM_PARTIALS_GRID[int(np.argmin(loss))]
    by_fam: dict[str, list[dict]] = {}
    for r in attn:
        by_fam.setdefault(_row_chip(r).family[0], []).append(r)
    for fam, rs in by_fam.items():
        base = {k: v for k, v in out.get(fam, {}).items() if k in ("mma_efficiency", "tile_overhead_s")}
        fitted = out.setdefault(fam, {})
        fwd = [r for r in rs if not _is_backward(r)]
        if fwd:
            fitted.update(_fit_attention(fwd, base))
        bwd = [r for r in rs if _is_backward(r)]
        if bwd:
            # a compute-bound backward's time is proportional to its ratio: matched in geometric mean, the family's
            # forward values in place
            fitted["attention_bwd_time_ratio"] = _match(bwd, {**base, **fitted}, "attention_bwd_time_ratio",
                                                        start=2.0, steps=6, cap=math.inf, time=True)
    return out


def calibrate_chips(rows: list[dict] | None = None) -> dict[str, dict[str, float]]:
    """Refit each chip's own values (data/chips/<chip>.yaml) on its CHIP_FIT_IDS rows, every other value of the chip
    (its family's, or its file's) in place; returns {chip: {param: value}}. The rows are attention forward rows:
    :func:`_fit_attention` (with softmax-bound rows only, ``attention_softmax_cycles`` alone)."""
    rows = rows if rows is not None else kernel_rows()
    out: dict[str, dict[str, float]] = {}
    for chip, ids in CHIP_FIT_IDS.items():
        rs = [r for r in rows if r["id"] in ids]
        if rs:
            out[chip] = _fit_attention(rs, {})
    return out


def _is_backward(row: dict) -> bool:
    return "attention backward" in str(row["model_or_kernel"]).lower()


def attention_backward_flops(batch: int, seq: int, heads: int, head_dim: int, v_head_dim: int, causal: bool) -> float:
    """FLOPs of a flash-attention backward as the measurement rows count them: five matrix products per visible score
    (S = Q Kᵀ recomputed, dP = dO Vᵀ, dV = Pᵀ dO, dQ = dS K, dK = dSᵀ Q), 2 x (3 x head_dim + 2 x v_head_dim) FLOPs a
    score and head, seq² scores halved when causal."""
    pairs = seq * seq / 2 if causal else seq * seq
    return 2.0 * batch * heads * pairs * (3 * head_dim + 2 * v_head_dim)


def _attention_backward_tflops(b: int, s: int, h: int, d: int, kvh: int | None, dv: int | None, causal: bool,
                               dtype: str, p: ChipParams) -> float:
    """A flash-attention backward row's TFLOP/s: the time the training engine gives the backward of an attention op
    (perf.ops.op_time, pass bwd), against the rows' five-product count (:func:`attention_backward_flops`)."""
    op = Attention("attention", b, s, s, h, kvh or h, d, dv or d, causal=causal, phase="train", dtype=dtype,
                   kv_dtype=dtype, pass_="bwd")
    t = float(op_time(op, p).time_s[0])
    return attention_backward_flops(b, s, h, d, dv or d, causal) / t / 1e12


def _softmax_bound(row: dict) -> bool:
    """An attention row whose scores carry little matrix work (head dimension 64 or less, or 8-bit operands): where
    the softmax's own work per score may bound a block (perf.attention)."""
    return _int(parse_config(row["config"]), "head_dim") <= 64 or _dtype(row) in _NARROW


def _fit_attention(rows: list[dict], base: dict[str, float], softmax: bool = True) -> dict[str, float]:
    """A family's attention parameters fitted on its attention fit rows, with ``base`` (its GEMM values) in place.
    ``attention_overhead_blocks`` on OVERHEAD_BLOCKS_GRID with ``attention_mma_ratio`` the geometric-mean match at each
    point, the pair of least summed |log error| on the rows whose matrix work bounds them (16-bit, head dimension
    above 64); ``attention_softmax_cycles``, where the family has softmax-bound fit rows (:func:`_softmax_bound`), the
    SOFTMAX_CYCLES_GRID value of least mean |log error| on those, the pair in place; the two steps alternate until
    neither moves (the softmax bound can reach the other rows too). ``softmax=False``: every row fits the pair, the
    softmax value in place is not fitted (a kernel library's rows)."""
    main = [r for r in rows if not (softmax and _softmax_bound(r))]
    soft = [r for r in rows if softmax and _softmax_bound(r)]
    fitted: dict[str, float] = {"attention_softmax_cycles": 0.0} if soft else {}
    if main:
        cap = _attention_ratio_cap(main, base)
    for _ in range(5):
        before = dict(fitted)
        if main:
            best = (math.inf, 0.0, 0.0)
            for c in OVERHEAD_BLOCKS_GRID:
                pt = {**base, **fitted, "attention_overhead_blocks": c}
                ratio = _match(main, pt, "attention_mma_ratio", steps=3, cap=cap)
                loss = float(np.sum(np.abs(_log_err(main, {**pt, "attention_mma_ratio": ratio}))))
                if loss < best[0]:
                    best = (loss, c, ratio)
            fitted.update(attention_overhead_blocks=best[1], attention_mma_ratio=best[2])
        if soft:
            losses = [(float(np.mean(np.abs(_log_err(soft, {**base, **fitted, "attention_softmax_cycles": q})))), q)
                      for q in SOFTMAX_CYCLES_GRID]
            fitted["attention_softmax_cycles"] = min(losses)[1]
        if fitted == before or not (main and soft):
            break
    return fitted
