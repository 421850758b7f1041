"""Matrix multiply C[b] = A[b] (m x k) @ B[b] (k x n), tiled onto the chip's matrix units.

Two mappings, chosen by the chip's matrix-unit kind (designs of both kinds may be mixed):

* **GPU tensor cores** (and CPU SIMD units): the output is cut into thread-block tiles
  ``BM x BN``; tiles run in *waves* of one tile per core. Time of the main loop is
  ``waves x 2·BM·BN·k_pad / core_rate``, so partial edge tiles (tile quantisation) and a
  last, partly-filled wave (wave quantisation) cost full price. ``core_rate`` is the core's
  share of the dense peak at the sustained clock, times ``mma_efficiency``, times an
  operand-feed factor ``min(1, operand_bytes_per_cycle / (MACs/cycle x (BM+BN)/(BM·BN) x
  bytes))`` that penalises small tiles. Tiles whose double-buffered operands do not fit in
  the core's scratchpad are not used.
* **Systolic arrays** (TPU MXU, Trainium/Gaudi/MTIA arrays), weight-stationary: B is cut
  into ``R x C`` blocks loaded into an array, and a chunk of A's rows streams through.
  One pass costs ``max(m_chunk, R)`` cycles (weight loading hides behind streaming only when
  the chunk has at least R rows); passes are spread over the arrays in rounds and one
  fill-and-drain of ``R + C`` cycles is paid at the end. Utilisation is the useful MACs over
  ``cycles x R x C x arrays``: a dimension of 129 on a 128-wide array takes two passes.

HBM traffic: the compulsory A + B + C when they fit in the chip's shared on-chip memory
(L2 / SRAM); otherwise A is re-read once per group of ``g`` column tiles and B once per group
of ``g`` row tiles (GPU: ``g = floor(sqrt(cores))``, the square wave a swizzled raster keeps
in L2; systolic: the largest output block ``T`` whose double-buffered ``T x 512`` operand
panels fit in a core's scratchpad plus its share of the chip's shared SRAM).
Memory time is traffic / (HBM bandwidth x ``hbm_efficiency``).

The candidate tilings are evaluated for every design at once and the fastest is kept
(what an autotuned library does). ``time_s = launch_overhead_s + max(compute_s, memory_s)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fabless.errors import FablessError
from fabless.hardware.schema import DTYPE_BYTES
from fabless.perf.params import SYSTOLIC, ChipParams
from fabless.perf.result import OpTime, combine
from fabless.perf.roofline import roofline

#: GPU thread-block tile candidates (BM, BN), the shapes cuBLAS/CUTLASS kernels use (Hopper's
#: wgmma takes any N that is a multiple of 8 up to 256, hence the 192-wide tiles).
GPU_TILES: tuple[tuple[int, int], ...] = ((64, 64), (64, 128), (128, 64), (128, 128), (128, 192), (192, 128),
                                          (128, 256), (256, 128))
_TILE_BM = np.array([t[0] for t in GPU_TILES], float)[:, None]
_TILE_BN = np.array([t[1] for t in GPU_TILES], float)[:, None]
#: K step of a tile (elements): one 128-byte line of bf16; pipeline stages kept in flight.
TILE_K, TILE_STAGES = 64, 2
#: MMA instruction K granularity (elements); k is padded up to a multiple.
MMA_K = 16
#: Splits of m across arrays that the systolic mapping considers.
SYSTOLIC_M_SPLITS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
#: K block (elements) of the operand panels a systolic core keeps in its scratchpad.
PANEL_K = 512


def _out_dtype(dtype: str) -> str:
    return dtype if DTYPE_BYTES[dtype] >= 2 else "bf16"


def gemm_flops(m: float, n: float, k: float, batch: float = 1) -> float:
    return 2.0 * m * n * k * batch


def gemm_compulsory_bytes(m: float, n: float, k: float, batch: float = 1, dtype: str = "bf16",
                          out_dtype: str | None = None, b_shared: bool = False) -> float:
    ib, ob = DTYPE_BYTES[dtype], DTYPE_BYTES[out_dtype or _out_dtype(dtype)]
    return (m * k * batch + k * n * (1 if b_shared else batch)) * ib + m * n * batch * ob


def _check(m, n, k, batch, dtype) -> None:
    for name, v in (("m", m), ("n", n), ("k", k), ("batch", batch)):
        if not (v >= 1) or int(v) != v:
            raise FablessError(f"gemm: {name} must be a positive whole number, got {v}")
    if dtype not in DTYPE_BYTES:
        raise FablessError(f"gemm: unknown dtype '{dtype}'; known: {', '.join(DTYPE_BYTES)}")


def gemm_time(m: int, n: int, k: int, chip: ChipParams, dtype: str = "bf16", *, batch: int = 1,
              b_shared: bool = False, out_dtype: str | None = None, model: str = "detailed",
              tiles: Sequence[tuple[int, int]] | None = None) -> OpTime:
    """Time of a (batched) GEMM on every design of ``chip``.

    ``b_shared``: B is a weight shared by the batch (the batch folds into m, as real stacks do).
    ``tiles``: restrict the GPU tile search to these (BM, BN) (e.g. for a hand check)."""
    _check(m, n, k, batch, dtype)
    out_dtype = out_dtype or _out_dtype(dtype)
    flops = gemm_flops(m, n, k, batch)
    compulsory = gemm_compulsory_bytes(m, n, k, batch, dtype, out_dtype, b_shared)
    if model == "roofline":
        return roofline("gemm", flops, compulsory, chip, dtype)
    if model != "detailed":
        raise FablessError(f"unknown model '{model}'; use detailed or roofline")
    if b_shared and batch > 1:
        m, batch = m * batch, 1
    peak = chip.peak(dtype)
    ib, ob = DTYPE_BYTES[dtype], DTYPE_BYTES[out_dtype]
    n_designs = len(chip)
    is_sys = chip.kind_code == SYSTOLIC

    compute = np.full(n_designs, np.inf)
    traffic = np.full(n_designs, np.inf)
    n_sys = int(np.count_nonzero(is_sys))
    tiling: dict[str, np.ndarray] = {
        "mapping": np.where(is_sys, "systolic", "tiles").astype(object),
        "tile_m": np.full(n_designs, np.nan), "tile_n": np.full(n_designs, np.nan),
        "m_chunks": np.full(n_designs, np.nan), "waves": np.full(n_designs, np.nan),
        "tiles": np.full(n_designs, np.nan), "tiling_utilisation": np.full(n_designs, np.nan),
        "operand_feed_efficiency": np.full(n_designs, np.nan),
    }
    a_bytes, b_bytes, c_bytes = m * k * batch * ib, k * n * batch * ib, m * n * batch * ob
    fits_on_chip = (a_bytes + b_bytes + c_bytes) <= chip.sram_shared_bytes
    clock_ratio = chip.sustained_clock_hz / chip.boost_clock_hz
    rate = peak * clock_ratio * chip.mma_efficiency  # whole-chip FLOP/s of a perfect tiling

    if n_sys < n_designs:
        # a slice (a view) when every design is of this kind: far cheaper than an index array
        idx = slice(None) if n_sys == 0 else np.nonzero(~is_sys)[0]
        cand = list(tiles) if tiles else list(GPU_TILES)
        bm, bn = (_TILE_BM, _TILE_BN) if not tiles else (np.array([t[0] for t in cand], float)[:, None],
                                                         np.array([t[1] for t in cand], float)[:, None])
        cores = chip.cores[idx][None, :]
        tm, tn = np.ceil(m / bm), np.ceil(n / bn)
        n_tiles = tm * tn * batch
        waves = np.ceil(n_tiles / cores)
        k_pad = np.ceil(k / MMA_K) * MMA_K
        macs_per_cycle_core = peak[idx] / (2 * chip.boost_clock_hz[idx] * chip.cores[idx])
        need = macs_per_cycle_core[None, :] * (bm + bn) / (bm * bn) * ib
        feed = np.minimum(1.0, chip.operand_bytes_per_cycle_per_core[idx][None, :] / need)
        t_compute = waves * 2 * bm * bn * k_pad / (rate[idx][None, :] / cores * feed)
        sram_need = TILE_STAGES * (bm + bn) * TILE_K * ib
        ok = sram_need <= chip.sram_per_core_bytes[idx] * chip.tile_sram_fraction[idx]
        g = np.maximum(1.0, np.floor(np.sqrt(cores)))
        reread = a_bytes * np.ceil(tn / g) + b_bytes * np.ceil(tm / g) + c_bytes
        t_traffic = np.where(fits_on_chip[idx][None, :], a_bytes + b_bytes + c_bytes, reread)
        t_memory = t_traffic / (chip.hbm_bytes_per_s[idx] * chip.hbm_efficiency[idx])[None, :]
        # a scratchpad too small for any candidate still runs the smallest tile
        ok = ok | (~ok.any(axis=0)[None, :] & (np.arange(len(cand)) == 0)[:, None])
        total = np.where(ok, np.maximum(t_compute, t_memory), np.inf)
        best = np.argmin(total, axis=0)
        cols = np.arange(total.shape[1])
        compute[idx] = t_compute[best, cols]
        t_traffic = t_traffic + np.zeros_like(total)
        traffic[idx] = t_traffic[best, cols]
        tiling["tile_m"][idx] = bm[best, 0]
        tiling["tile_n"][idx] = bn[best, 0]
        tiling["waves"][idx] = waves[best, cols]
        tiling["tiles"][idx] = (n_tiles + np.zeros_like(total))[best, cols]
        tiling["tiling_utilisation"][idx] = flops / (waves * cores * 2 * bm * bn * k_pad)[best, cols]
        tiling["operand_feed_efficiency"][idx] = (feed + np.zeros_like(total))[best, cols]

    if n_sys:
        idx = slice(None) if n_sys == n_designs else np.nonzero(is_sys)[0]
        r = chip.array_rows[idx][None, :]
        c = chip.array_cols[idx][None, :]
        u = chip.mu_count[idx][None, :]
        s = np.array(SYSTOLIC_M_SPLITS, float)[:, None]
        m_chunk = np.ceil(m / s)
        passes = np.ceil(k / r) * np.ceil(n / c) * s * batch
        rounds = np.ceil(passes / u)
        cycles = rounds * np.maximum(m_chunk, r) + (r + c)
        util = (m * n * k * batch) / (cycles * r * c * u)
        t_compute = flops / (rate[idx][None, :] * util)
        best = np.argmin(t_compute, axis=0)
        cols = np.arange(t_compute.shape[1])
        compute[idx] = t_compute[best, cols]
        sram_core = chip.sram_per_core_bytes[idx] + chip.sram_shared_bytes[idx] / chip.cores[idx]
        panel_t = np.maximum(r[0], sram_core * chip.tile_sram_fraction[idx] / (4 * PANEL_K * ib))
        sram_total = chip.sram_per_core_bytes[idx] * chip.cores[idx] + chip.sram_shared_bytes[idx]
        reread = a_bytes * np.ceil(n / panel_t) + b_bytes * np.ceil(m / panel_t) + c_bytes
        traffic[idx] = np.where((a_bytes + b_bytes + c_bytes) <= sram_total, a_bytes + b_bytes + c_bytes, reread)
        tiling["tile_m"][idx] = r[0]
        tiling["tile_n"][idx] = c[0]
        tiling["m_chunks"][idx] = s[best, 0]
        tiling["waves"][idx] = rounds[best, cols]
        tiling["tiles"][idx] = (passes + np.zeros_like(t_compute))[best, cols]
        tiling["tiling_utilisation"][idx] = util[best, cols]
        tiling["operand_feed_efficiency"][idx] = 1.0

    memory = traffic / (chip.hbm_bytes_per_s * chip.hbm_efficiency)
    tiling["hbm_traffic_bytes"] = traffic
    return combine("gemm", compute, memory, chip.launch_overhead_s, flops, traffic, peak,
                   chip.hbm_bytes_per_s, tiling)
