"""Matrix multiply C[b] = A[b] (m x k) @ B[b] (k x n), tiled onto the chip's matrix units.

Two mappings, chosen by the chip's matrix-unit kind (designs of both kinds may be mixed):

* **GPU tensor cores** (and CPU SIMD units): the output is cut into thread-block tiles
  ``BM x BN``; tiles run in *waves* of one tile per core. Time of the main loop is
  ``waves x 2·BM·BN·k_pad / core_rate``, so partial edge tiles (tile quantisation) and a
  last, partly-filled wave (wave quantisation) cost full price; each wave also pays the
  family's (or library's) ``tile_overhead_s``, the time a core spends on a tile outside its main
  loop where the kernel does not hide it behind the next tile (prologue: the first K step's
  operand loads; epilogue: converting and writing the output tile). ``core_rate`` is the core's
  share of the dense peak at the sustained clock, times ``mma_efficiency`` (and, for 8-bit and 4-bit
  operands, the family's ``mma_8bit_ratio``), times an
  operand-feed factor ``min(1, operand_bytes_per_cycle / (MACs/cycle x (BM+BN)/(BM·BN) x
  bytes))`` that penalises small tiles. Tiles whose double-buffered operands do not fit in
  the core's scratchpad are not used (a K step loads at least one 128-byte line of each operand
  row: 64 bf16 or 128 fp8 elements).
* **Systolic arrays** (TPU MXU, Trainium/Gaudi/MTIA arrays), weight-stationary: B is cut
  into ``R x C`` blocks loaded into an array, and a chunk of A's rows streams through.
  One pass costs ``max(m_chunk, R)`` cycles (weight loading hides behind streaming only when
  the chunk has at least R rows); passes are spread over the arrays in rounds and one
  fill-and-drain of ``R + C`` cycles is paid at the end. Utilisation is the useful MACs over
  ``cycles x R x C x arrays``: a dimension of 129 on a 128-wide array takes two passes.
  The arrays go through K in panels of ``PANEL_K``, and the family's ``gemm_exposed_steps``
  panels' worth of the lesser of the math and the traffic is not overlapped (the first panel's
  loads, the last panel's math and the stores), as a GPU tile's unoverlapped K steps are.
  A reconfigurable array (the chip file's ``reshape_factor`` f, e.g. Gaudi's MME) also runs as
  ``(R/f) x (C·f)`` and ``(R·f) x (C/f)``, the same MACs, and each GEMM takes the fastest of the
  three shapes: for a few rows of A (decode) the wide shape takes ``C·f`` weight columns per
  cycle instead of ``C``, so the weights stream f times as fast. An array made of ``s``
  physical arrays (the chip file's ``physical_split``, Gaudi 2's MMEs) runs the independent
  products of a batched matmul (``batch > 1``) also on ``count x s`` arrays of ``(R/s) x C`` or
  ``R x (C/s)``, one product each: a product of one row of A with a narrow B (decode attention's
  ``P V``, 128 output columns) then fills the narrower array's columns.

HBM traffic: the compulsory A + B + C when they fit in the chip's shared on-chip memory
(L2 / SRAM); otherwise A is re-read once per group of ``g`` column tiles and B once per group
of ``g`` row tiles (GPU: ``g = floor(sqrt(cores))``, the square wave a swizzled raster keeps
in L2; systolic: the largest output block ``T`` whose double-buffered ``T x 512`` operand
panels fit in the chip's SRAM, every core's scratchpad plus the shared SRAM: the cores work on
sub-blocks of one output block and share its panels over the on-chip network, as a GPU's wave
shares them in L2. A per-core block in a core's scratchpad plus its share of the shared SRAM is
never larger, and it would make a chip with more cores of the same SRAM each re-read more).
Memory time is traffic / (HBM bandwidth x ``hbm_efficiency``).

The candidate tilings are evaluated for every design at once and the fastest is kept
(what an autotuned library does). ``time_s = launch_overhead_s + max(compute_s, memory_s)``, plus
the exposed part (``exposed_s``) where the family has one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from fabless import bounds
from fabless.errors import FablessError
from fabless.hardware.schema import DTYPE_BYTES
from fabless.perf.params import SCALAR, SYSTOLIC, ChipParams, OneDesign, argmin
from fabless.perf.result import OpTime, combine, constant, one_element_arrays
from fabless.perf.roofline import roofline

#: GPU thread-block tile candidates (BM, BN), the shapes cuBLAS/CUTLASS kernels use (Hopper's
#: wgmma takes any N that is a multiple of 8 up to 256, hence the 192-wide tiles).
GPU_TILES: tuple[tuple[int, int], ...] = ((64, 64), (64, 128), (128, 64), (128, 128), (128, 192), (192, 128),
                                          (128, 256), (256, 128))
_TILE_BM = np.array([t[0] for t in GPU_TILES], float)[:, None]
_TILE_BN = np.array([t[1] for t in GPU_TILES], float)[:, None]


def _not_pow2(cand) -> np.ndarray:
    """Per tile candidate (BM, BN): whether a side is not a power of two (the 192-wide tiles,
    which a family with ``pow2_tiles_only`` does not use)."""
    return np.array([any(int(x) & (int(x) - 1) for x in t) for t in cand], bool)


_TILE_NOT_POW2 = _not_pow2(GPU_TILES)


def _odd_tiles(cand) -> np.ndarray:
    """:func:`_not_pow2` of a candidate list, precomputed for the shipped GPU_TILES."""
    return _TILE_NOT_POW2 if cand is GPU_TILES else _not_pow2(cand)
#: K step of a tile (elements): one 128-byte line of bf16; pipeline stages kept in flight. The
#: K loop runs in whole steps (a partial last step is zero-filled and costs a full one), so k is
#: padded up to a multiple; with split-K the slices then stay whole steps, and more K never
#: takes less time.
TILE_K, TILE_STAGES = 64, 2
#: Bytes of one operand row a K step loads at least (one 128-byte cache line; global loads move
#: whole lines): an 8-bit tile's K step is 128 elements deep, so its double-buffered operands
#: take the scratchpad of a 16-bit tile of the same shape (what limits FP8 tiles on CDNA 3's
#: 64 KiB LDS to those of BF16).
LINE_BYTES = 128
#: The ``mapping`` names of a tiling, by ``kind_code == SYSTOLIC`` (an object array: indexing it
#: is far cheaper than converting strings).
_MAPPING = np.array(["tiles", "systolic"], dtype=object)
#: Splits of m across arrays that the systolic mapping considers.
SYSTOLIC_M_SPLITS: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
_SPLITS = np.array(SYSTOLIC_M_SPLITS, float)[:, None]
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
        if v > bounds.MAX_DIM:
            raise FablessError(f"gemm: {name} must be at most {bounds.MAX_DIM:,}, got {v:,}")
    if dtype not in DTYPE_BYTES:
        raise FablessError(f"gemm: unknown dtype '{dtype}'; known: {', '.join(DTYPE_BYTES)}")


def gemm_time(m: int, n: int, k: int, chip: ChipParams, dtype: str = "bf16", *, batch: int = 1,
              b_shared: bool = False, out_dtype: str | None = None, model: str = "detailed",
              tiles: Sequence[tuple[int, int]] | None = None,
              m_tiles: Callable[[float], float] | None = None) -> OpTime:
    """Time of a (batched) GEMM on every design of ``chip``.

    ``b_shared``: B is a weight shared by the batch (the batch folds into m, as real stacks do).
    ``tiles``: restrict the GPU tile search to these (BM, BN) (e.g. for a hand check).
    ``m_tiles``: for a grouped GEMM whose batch entries have different row counts (a mixture of
    experts' per-expert tokens), the mean number of BM-row tiles per batch entry as a function
    of BM (:func:`fabless.perf.ops.expected_row_tiles`), in place of ``ceil(m / BM)`` for the
    mean ``m``: each entry's last tile is padded to BM on its own. GPU tile mapping only; the
    systolic mapping times the mean ``m``."""
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
        m_tiles = None
    ib, ob = DTYPE_BYTES[dtype], DTYPE_BYTES[out_dtype]
    cand = list(tiles) if tiles else GPU_TILES
    one = chip.single
    if one is not None:
        try:
            return _gemm_one(m, n, k, batch, ib, ob, flops, one.peak(dtype), one, cand, m_tiles)
        except (ArithmeticError, ValueError):
            pass  # a zero or negative parameter: the array path's inf/NaN is the answer
    return _gemm_designs(m, n, k, batch, ib, ob, flops, dtype, chip, cand, m_tiles)


# The model is written once, in the functions below that take ``xp``: numpy with arrays
# (candidates down, designs across) in the array path, or SCALAR with Python floats for one
# candidate on one design in the scalar path (numpy's per-call cost dominates one design;
# see params.OneDesign). The two paths differ only in how they pick the best candidate.

def _gpu_tile(xp, bm, bn, m, n, k_pad, batch, ib, a_bytes, b_bytes, c_bytes, fits, cores, g, macs_per_cycle_core,
              operand_bytes, core_rate, sram_cap, bw, tile_overhead, tm=None, exposed=0.0):
    """GPU tile candidate (BM, BN): compute time, HBM traffic, memory time, whether its operands
    fit the scratchpad, waves, tiles and operand-feed factor (``k_pad``: k padded to whole TILE_K steps;
    ``g``: the group of tiles sharing an operand in L2, see :func:`_l2_group`; ``tile_overhead``:
    the time per wave outside the main loop, ``tile_overhead_s``; ``tm``: row tiles per batch
    entry where they are not ``ceil(m / BM)``, see :func:`gemm_time`'s ``m_tiles``)."""
    tm, tn = (xp.ceil(m / bm) if tm is None else tm), xp.ceil(n / bn)
    n_tiles = tm * tn * batch
    need = macs_per_cycle_core * (bm + bn) / (bm * bn) * ib
    feed = xp.minimum(1.0, operand_bytes / need)
    ok = TILE_STAGES * (bm + bn) * xp.maximum(TILE_K * ib, LINE_BYTES) <= sram_cap
    reread = a_bytes * xp.ceil(tn / g) + b_bytes * xp.ceil(tm / g) + c_bytes
    traffic = xp.where(fits, a_bytes + b_bytes + c_bytes, reread)
    # Split-K: with fewer output tiles than cores, each tile's K loop can be cut into s slices run
    # on s cores (at most floor(cores / tiles), at least one TILE_K step each); the fp32 partial
    # outputs are written and summed after (2 x 4 bytes per output element per slice). A library
    # picks the split factor, not just the largest: more slices cut the math (a / s, a: one tile's
    # whole K loop, in one wave) but add partial traffic (memory b0 + p·s, b0: unsplit, p: one
    # slice's partials), so the best s is where they meet, p·s² + b0·s - a = 0: the floor or the
    # ceil of its root, within [1, s_max]. s = 1 is the unsplit kernel (one wave when s_max > 1,
    # its waves otherwise), never better than the best s, since the math falls and the memory
    # time rises with s. Each wave of (slices of) tiles also pays ``tile_overhead`` once; a split runs
    # in one wave, so the overhead sits on the math side of that balance and moves the root (below).
    s_max = xp.maximum(1.0, xp.minimum(xp.floor(cores / n_tiles), xp.floor(k_pad / TILE_K)))
    t_tile = 2 * bm * bn * k_pad / (core_rate * feed)
    if xp is SCALAR and s_max == 1.0:  # no split possible: the unsplit kernel, waves of tiles (what the below gives, sooner)
        t_c, traffic_1, waves, e = _split_k(xp, 1.0, n_tiles, cores, t_tile, tile_overhead, traffic, m, n, batch, bw,
                                            k_pad, exposed)
        return t_c, traffic_1, traffic_1 / bw, ok, waves, n_tiles, feed, e
    if xp is not SCALAR and not np.any(exposed):
        exposed = 0.0  # no design exposes any: skip its terms (a search of many designs of one's own, mostly)
    # the split runs in one wave (s <= cores / tiles), which pays tile_overhead once whatever s is: the math
    # a / s + overhead meets the memory b0 + p s at the root of p s^2 + (b0 - overhead) s - a = 0
    p = 8.0 * m * n * batch / bw
    c0 = traffic / bw - tile_overhead
    root = 2 * t_tile / (c0 + xp.sqrt(c0 * c0 + 4 * p * t_tile))
    if isinstance(exposed, float) and exposed == 0.0:
        s_lo, s_hi = xp.minimum(s_max, xp.maximum(1.0, xp.floor(root))), xp.minimum(s_max, xp.floor(root) + 1)
        splits = (s_lo,) if xp is SCALAR and s_lo == s_hi else (s_lo, s_hi)
    else:
        # with part of a K step exposed per slice (``exposed``), more slices also expose more, and the best s
        # can lie below that root (see :func:`_best_split`); s = 1 (no partial outputs) is compared on its own
        splits = (1.0, _best_split(xp, s_max, root, n_tiles, cores, t_tile, tile_overhead, traffic, m, n, batch,
                                   bw, k_pad, exposed))
    best = None
    for s in splits:
        t_s, traffic_s, waves_s, e_s = _split_k(xp, s, n_tiles, cores, t_tile, tile_overhead, traffic, m, n, batch,
                                                bw, k_pad, exposed)
        if best is None:
            best = (t_s, traffic_s, waves_s, e_s)
            continue
        use = xp.maximum(t_s, traffic_s / bw) + e_s < xp.maximum(best[0], best[1] / bw) + best[3]
        best = tuple(xp.where(use, new, old) for new, old in zip((t_s, traffic_s, waves_s, e_s), best))
    t_compute, traffic, waves, e = best
    return t_compute, traffic, traffic / bw, ok, waves, n_tiles, feed, e


def _split_k(xp, s, n_tiles, cores, t_tile, tile_overhead, traffic, m, n, batch, bw, k_pad, exposed):
    """Split-K factor ``s`` of a tile candidate (see :func:`_gpu_tile`): compute time, HBM traffic, waves
    (fractional: of whole-K tile work) and the exposed time. ``exposed`` (the family's ``gemm_exposed_steps``)
    is the part of one K step's work that a slice's pipeline does not overlap: a double-buffered main loop of
    ``n_k`` steps loads the first step before any math and runs the last step's math after the last load, so
    it takes ``max(c, m) + min(c, m) / n_k`` (c, m: its math and its loads); a kernel that starts the next
    tile's loads under the current tile's math hides part of that (``exposed`` < 1)."""
    waves_s = xp.ceil(n_tiles * s / cores) / s
    traffic_s = traffic + xp.where(s > 1, 8.0 * s * m * n * batch, 0.0)
    t_s = waves_s * t_tile + xp.ceil(n_tiles * s / cores) * tile_overhead
    if isinstance(exposed, float) and exposed == 0.0:
        return t_s, traffic_s, waves_s, 0.0
    steps = k_pad / TILE_K * xp.minimum(1.0, waves_s)  # K steps of one slice's main loop
    return t_s, traffic_s, waves_s, exposed * xp.minimum(t_s, traffic_s / bw) / steps


def _best_split(xp, s_max, root, n_tiles, cores, t_tile, tile_overhead, traffic, m, n, batch, bw, k_pad, exposed):
    """The split factor in [2, s_max] of least time with its exposed steps (1 where s_max < 2): the least s
    with t(s + 1) >= t(s), the same steps in the scalar and the array path.

    Over 2 <= s <= s_max the time falls, then rises (math-bound: a / s plus exposed memory growing with s,
    convex; memory-bound: every term grows with s). Beyond the balance ``root`` (see :func:`_gpu_tile`) it is
    memory-bound, so the answer is at most floor(root) + 1: where t still falls at u = floor(root) (clipped to
    [2, s_max]) it is u or u + 1, two comparisons; elsewhere a bisection on the sign of t(s + 1) - t(s) over
    [2, u - 1]. Why not always the bisection: one design's decode GEMMs (serving simulations) call this for
    every tile candidate."""
    def total(s):
        t_s, traffic_s, _, e_s = _split_k(xp, s, n_tiles, cores, t_tile, tile_overhead, traffic, m, n, batch, bw,
                                          k_pad, exposed)
        return xp.maximum(t_s, traffic_s / bw) + e_s

    lo = xp.minimum(2.0, s_max)
    if xp is SCALAR and s_max <= 2.0:
        return lo
    u = xp.minimum(s_max, xp.maximum(2.0, xp.floor(root)))
    t_u = total(u)
    if xp is SCALAR:
        if u == 2.0 or t_u < total(u - 1):
            return u + 1 if u < s_max and total(u + 1) < t_u else u
        hi = u - 1
    else:
        falls = (u <= 2.0) | (t_u < total(xp.maximum(1.0, u - 1)))
        fast = xp.where((u < s_max) & (total(u + 1) < t_u), u + 1, u)
        hi = xp.where(falls, lo, xp.maximum(lo, u - 1))
    # enough halvings for the widest range left (a design with a NaN parameter has a NaN hi: its time is NaN anyway)
    top = float(hi) if xp is SCALAR else float(np.nanmax(hi, initial=2.0))
    for _ in range(max(1, math.ceil(math.log2(max(top, 2.0))))):
        mid = xp.floor((lo + hi) / 2)
        right = (mid < hi) & (total(mid + 1) < total(mid))
        lo, hi = xp.where(right, mid + 1, lo), xp.where(right, hi, mid)
    return lo if xp is SCALAR else xp.where(falls, fast, lo)


def _l2_group(xp, cores):
    """Tiles of a swizzled raster that share an operand in L2: the square wave's side."""
    return xp.maximum(1.0, xp.floor(xp.sqrt(cores)))


def _systolic_split(xp, s, m, n, k, batch, flops, r, c, u, rate):
    """Systolic mapping with m cut into ``s`` chunks: compute time, rounds, passes, utilisation."""
    m_chunk = xp.ceil(m / s)
    passes = xp.ceil(k / r) * xp.ceil(n / c) * s * batch
    rounds = xp.ceil(passes / u)
    cycles = rounds * xp.maximum(m_chunk, r) + (r + c)
    util = (m * n * k * batch) / (cycles * r * c * u)
    return flops / (rate * util), rounds, passes, util


def _systolic_sram(xp, per_core, shared, cores):
    """SRAM of the systolic mapping: a core's own plus its share of the chip's, and the chip's total."""
    return per_core + shared / cores, per_core * cores + shared


def _systolic_panel(xp, rows, sram_total, fraction, ib):
    """Side ``T`` of the largest output block whose double-buffered ``T x PANEL_K`` operand panels
    fit in ``fraction`` of the chip's SRAM (``sram_total``, :func:`_systolic_sram`; at least the
    array's rows)."""
    return xp.maximum(rows, sram_total * fraction / (4 * PANEL_K * ib))


def _systolic_traffic(xp, m, n, a_bytes, b_bytes, c_bytes, panel_t, sram_total):
    """HBM traffic of the systolic mapping (``panel_t``: :func:`_systolic_panel`; ``sram_total``:
    the chip's SRAM, :func:`_systolic_sram`)."""
    reread = a_bytes * xp.ceil(n / panel_t) + b_bytes * xp.ceil(m / panel_t) + c_bytes
    return xp.where((a_bytes + b_bytes + c_bytes) <= sram_total, a_bytes + b_bytes + c_bytes, reread)


def _systolic_exposed(xp, steps, compute, memory, k):
    """Time of a systolic mapping that its pipeline does not overlap: ``steps`` (the family's
    ``gemm_exposed_steps``) K panels' worth of the lesser of its math and its HBM traffic. The arrays work
    through K in panels of PANEL_K (the panels :func:`_systolic_panel` sizes); the first panel's operands
    are loaded before any math and the last panel's math and the output's store run after the last load, so
    where K is a few panels deep that start and end show, as a GPU tile's first and last K step do
    (:func:`_split_k`)."""
    if xp is SCALAR and not steps:
        return 0.0
    return steps * xp.minimum(compute, memory) / max(1.0, math.ceil(k / PANEL_K))


def _gemm_one(m, n, k, batch, ib, ob, flops, peak, d: OneDesign, cand, m_tiles=None) -> OpTime:
    """Scalar path: one design (Python floats)."""
    xp = SCALAR
    a_bytes, b_bytes, c_bytes = m * k * batch * ib, k * n * batch * ib, m * n * batch * ob
    rate = peak * (d.sustained_clock_hz / d.boost_clock_hz) * d.mma_efficiency * (d.mma_8bit_ratio if ib <= 1 else 1.0)
    bw = d.hbm_bytes_per_s * d.hbm_efficiency
    nan = math.nan
    if d.kind_code != SYSTOLIC:
        fits = (a_bytes + b_bytes + c_bytes) <= d.sram_shared_bytes
        cores = d.cores
        mpc = peak / (2 * d.boost_clock_hz * cores)
        k_pad = xp.ceil(k / TILE_K) * TILE_K  # whole K steps
        args = (m, n, k_pad, batch, ib, a_bytes, b_bytes, c_bytes, fits, cores, _l2_group(xp, cores), mpc,
                d.operand_bytes_per_cycle_per_core, rate / cores, d.sram_per_core_bytes * d.tile_sram_fraction, bw,
                d.tile_overhead_s)
        evals = [_gpu_tile(xp, float(bm), float(bn), *args, tm=None if m_tiles is None else m_tiles(float(bm)),
                           exposed=d.gemm_exposed_steps)
                 for bm, bn in cand]
        odd = _odd_tiles(cand)
        usable = [bool(e[3]) and not (d.pow2_tiles_only > 0 and odd[i]) for i, e in enumerate(evals)]
        totals = [xp.maximum(e[0], e[2]) + e[7] if u else math.inf for e, u in zip(evals, usable)]
        if not any(usable):  # a scratchpad too small for any: the smallest tile runs
            totals[0] = xp.maximum(evals[0][0], evals[0][2]) + evals[0][7]
        best = argmin(totals)
        compute, traffic, _, _, waves, n_tiles, feed, exposed = evals[best]
        bm, bn = float(cand[best][0]), float(cand[best][1])
        mapping, tile, chunks = "tiles", (bm, bn), nan
        util = flops / (waves * cores * 2 * bm * bn * k_pad)
    else:
        r0 = d.array_rows
        geometries = d.product_geometries if batch > 1 else tuple((r, c, d.mu_count) for r, c in d.array_geometries)
        evals = [(_systolic_split(xp, float(s), m, n, k, batch, flops, r, c, u, rate), (r, c), s)
                 for r, c, u in geometries for s in SYSTOLIC_M_SPLITS]
        best = argmin([e[0][0] for e in evals])
        (compute, waves, n_tiles, util), tile, split = evals[best]
        _, sram_total = _systolic_sram(xp, d.sram_per_core_bytes, d.sram_shared_bytes, d.cores)
        traffic = _systolic_traffic(xp, m, n, a_bytes, b_bytes, c_bytes,
                                    _systolic_panel(xp, r0, sram_total, d.tile_sram_fraction, ib), sram_total)
        mapping, chunks, feed = "systolic", float(split), 1.0
        exposed = _systolic_exposed(xp, d.gemm_exposed_steps, compute, traffic / bw, k)
    tiling = {"mapping": np.array([mapping], dtype=object)}
    tiling.update(zip(("tile_m", "tile_n", "m_chunks", "waves", "tiles", "tiling_utilisation",
                       "operand_feed_efficiency", "exposed_s", "hbm_traffic_bytes"),
                      one_element_arrays(*tile, chunks, waves, n_tiles, util, feed, exposed, traffic)))
    return combine("gemm", compute, traffic / bw, d.launch_overhead_s, flops, traffic, peak,
                   d.hbm_bytes_per_s, tiling, exposed_s=exposed)


def _systolic_designs(s, m, n, k, batch, flops, chip: ChipParams, idx, rate, rate_ok, geometry):
    """The systolic mapping of designs ``idx`` of ``chip`` (``rate``: their FLOP/s of a perfect
    tiling) with their arrays in one of their shapes (``geometry``: an entry of
    :attr:`ChipParams.array_geometries`), the split of m taken per design: compute time, chosen
    split (index into ``s``), rounds, passes and utilisation, each an array over the designs.

    The split with the least compute time ``flops / (rate x util)`` is the one of highest
    utilisation, which depends only on the array shape and count: it is found once per distinct
    shape (the geometry's distinct shapes) and the time computed per design with the same
    expression, so the result is that of searching every design. Where that equivalence could
    fail in the last bit (a rate not finite and positive, a non-finite utilisation, or two
    splits within 1e-12 of the best utilisation) those designs are searched one by one
    (``rate_ok``: whether each design's rate is finite and positive)."""
    rows_all, cols_all, shapes, inverse = geometry
    inv = inverse[idx]
    _, rounds_g, passes_g, util_g = _systolic_split(np, s, m, n, k, batch, flops, shapes[0][None, :],
                                                    shapes[1][None, :], shapes[2][None, :], 1.0)
    cols_g = np.arange(util_g.shape[1])
    pick_g = np.argmax(util_g, axis=0)
    best_g = util_g[pick_g, cols_g]
    near = (util_g != best_g) & (util_g >= best_g * (1 - 1e-12))
    clean_g = np.isfinite(util_g).all(axis=0) & ~near.any(axis=0)
    util = best_g[inv]
    t_compute = flops / (rate * util)  # a zero rate divides by zero here, as a search of every design does
    pick = pick_g[inv]
    rounds = rounds_g[pick_g, cols_g][inv]
    passes = (passes_g if passes_g.shape == util_g.shape else np.broadcast_to(passes_g, util_g.shape))[pick_g, cols_g][inv]
    ok = rate_ok  # the rate finite and positive (computed once per chip and datatype)
    if not clean_g.all():
        ok = ok & clean_g[inv]
    if not ok.all():
        redo = np.nonzero(~ok)[0]
        sel = redo if isinstance(idx, slice) else idx[redo]
        t_all, rounds_all, passes_all, util_all = _systolic_split(
            np, s, m, n, k, batch, flops, rows_all[sel][None, :], cols_all[sel][None, :],
            shapes[2][inverse[sel]][None, :], rate[redo][None, :])
        p = np.argmin(t_all, axis=0)
        cols = np.arange(redo.size)
        pick[redo] = p
        t_compute[redo] = t_all[p, cols]
        rounds[redo] = rounds_all[p, cols]
        passes[redo] = np.broadcast_to(passes_all, t_all.shape)[p, cols]
        util[redo] = util_all[p, cols]
    return t_compute, pick, rounds, passes, util


def _read_only(a: np.ndarray) -> np.ndarray:
    """A read-only view: results share the chip's arrays (or one array per chip) without copying."""
    v = a.view()
    v.flags.writeable = False
    return v


def _gemm_designs(m, n, k, batch, ib, ob, flops, dtype, chip: ChipParams, cand, m_tiles=None) -> OpTime:
    """Array path: every design at once (the reference). What depends on the chip alone (its
    kinds, clock ratio, HBM rate, SRAM sums and panels) is computed once per ChipParams."""
    n_designs = len(chip)
    is_sys = chip.is_systolic
    n_sys = chip.derived("n_systolic", lambda c: int(np.count_nonzero(c.is_systolic)))
    a_bytes, b_bytes, c_bytes = m * k * batch * ib, k * n * batch * ib, m * n * batch * ob
    peak = chip.peak(dtype)
    # whole-chip FLOP/s of a perfect tiling (8- and 4-bit operands: times the family's mma_8bit_ratio)
    rate = chip.derived(("gemm_rate", dtype), lambda c: peak * c.clock_ratio * c.mma_efficiency * (
        c.mma_8bit_ratio if ib <= 1 else 1.0))
    parts = []  # (designs, compute, traffic, tiling) per matrix-unit kind

    if n_sys < n_designs:
        # a slice (a view) when every design is of this kind: far cheaper than an index array
        idx = slice(None) if n_sys == 0 else np.nonzero(~is_sys)[0]
        bm, bn = (_TILE_BM, _TILE_BN) if cand is GPU_TILES else (np.array([t[0] for t in cand], float)[:, None],
                                                                 np.array([t[1] for t in cand], float)[:, None])
        fits_on_chip = (a_bytes + b_bytes + c_bytes) <= chip.sram_shared_bytes[idx]
        cores = chip.cores[idx][None, :]
        mpc = (peak[idx] / (2 * chip.boost_clock_hz[idx] * chip.cores[idx]))[None, :]
        k_pad = np.ceil(k / TILE_K) * TILE_K
        t_compute, t_traffic, t_memory, ok, waves, n_tiles, feed, t_exposed = _gpu_tile(
            np, bm, bn, m, n, k_pad, batch, ib, a_bytes, b_bytes, c_bytes, fits_on_chip[None, :], cores,
            _l2_group(np, cores), mpc,
            chip.operand_bytes_per_cycle_per_core[idx][None, :], rate[idx][None, :] / cores,
            chip.sram_per_core_bytes[idx] * chip.tile_sram_fraction[idx],
            chip.hbm_rate_bytes_per_s[idx][None, :], chip.tile_overhead_s[idx][None, :],
            tm=None if m_tiles is None else np.array([m_tiles(float(b)) for b in bm[:, 0]])[:, None],
            exposed=chip.gemm_exposed_steps[idx][None, :])
        # a family whose libraries tile only in power-of-two sides skips the 192-wide candidates
        odd = _odd_tiles(cand)
        ok = ok & ~(odd[:, None] & (chip.pow2_tiles_only[idx] > 0)[None, :])
        # a scratchpad too small for any candidate still runs the smallest tile
        ok = ok | (~ok.any(axis=0)[None, :] & (np.arange(len(cand)) == 0)[:, None])
        busy = np.maximum(t_compute, t_memory)
        total = np.where(ok, busy if isinstance(t_exposed, float) else busy + t_exposed, np.inf)
        best = np.argmin(total, axis=0)
        cols = np.arange(total.shape[1])
        parts.append((idx, t_compute[best, cols], (t_traffic + np.zeros_like(total))[best, cols], {
            "tile_m": bm[best, 0], "tile_n": bn[best, 0], "m_chunks": np.full(cols.size, np.nan),
            "waves": waves[best, cols], "tiles": (n_tiles + np.zeros_like(total))[best, cols],
            "tiling_utilisation": flops / (waves * cores * 2 * bm * bn * k_pad)[best, cols],
            "operand_feed_efficiency": (feed + np.zeros_like(total))[best, cols],
            "exposed_s": constant(0.0, cols.size) if isinstance(t_exposed, float) else t_exposed[best, cols]}))

    if n_sys:
        idx = slice(None) if n_sys == n_designs else np.nonzero(is_sys)[0]
        r = chip.array_rows[idx]
        s = _SPLITS
        rate_ok = chip.derived(("gemm_rate_ok", dtype), lambda c: (rate > 0) & (rate < np.inf))
        # a batched matmul's independent products may each take a physical array (ChipParams.mu_split)
        geometries = chip.product_geometries if batch > 1 else chip.array_geometries
        runs = [_systolic_designs(s, m, n, k, batch, flops, chip, idx, rate[idx], rate_ok[idx], g) for g in geometries]
        if len(runs) == 1:
            t_compute, pick, rounds, passes, util = runs[0]
            tile_m, tile_n = _read_only(r), _read_only(chip.array_cols[idx])
        else:  # a reconfigurable array: per design, the shape of least compute time (the first of equals)
            stacked = [np.stack(parts) for parts in zip(*runs)]
            g = np.argmin(stacked[0], axis=0)
            cols = np.arange(g.size)
            t_compute, pick, rounds, passes, util = (a[g, cols] for a in stacked)
            tile_m = np.stack([geo[0][idx] for geo in geometries])[g, cols]
            tile_n = np.stack([geo[1][idx] for geo in geometries])[g, cols]
        _, sram_total = chip.derived("systolic_sram", lambda c: _systolic_sram(
            np, c.sram_per_core_bytes, c.sram_shared_bytes, c.cores))
        panel_t = chip.derived(("systolic_panel", ib), lambda c: _systolic_panel(
            np, c.array_rows, sram_total, c.tile_sram_fraction, ib))
        traffic = _systolic_traffic(np, m, n, a_bytes, b_bytes, c_bytes, panel_t[idx], sram_total[idx])
        steps = chip.gemm_exposed_steps[idx]
        if np.any(steps):
            with np.errstate(invalid="ignore"):  # a design of no exposed panels is 0, whatever its other terms
                exposed = np.where(steps > 0, _systolic_exposed(
                    np, steps, t_compute, traffic / chip.hbm_rate_bytes_per_s[idx], k), 0.0)
        else:
            exposed = constant(0.0, t_compute.size)
        parts.append((idx, t_compute, traffic, {
            "tile_m": tile_m, "tile_n": tile_n, "m_chunks": s[pick, 0], "waves": rounds,
            "tiles": passes, "tiling_utilisation": util,
            "operand_feed_efficiency": constant(1.0, t_compute.size), "exposed_s": exposed}))

    if len(parts) == 1:  # every design of one kind: the arrays are the designs'
        _, compute, traffic, tiling = parts[0]
    else:
        compute, traffic = np.full(n_designs, np.inf), np.full(n_designs, np.inf)
        tiling = {k: np.full(n_designs, np.nan) for k in parts[0][3]}
        for idx, c, t, til in parts:
            compute[idx] = c
            traffic[idx] = t
            for k, v in til.items():
                tiling[k][idx] = v
    tiling = {"mapping": chip.derived("tiling_mapping", lambda c: _read_only(_MAPPING[c.is_systolic.astype(np.intp)])),
              **tiling}
    memory = traffic / chip.hbm_rate_bytes_per_s
    tiling["hbm_traffic_bytes"] = traffic
    return combine("gemm", compute, memory, chip.launch_overhead_s, flops, traffic, peak,
                   chip.hbm_bytes_per_s, tiling, exposed_s=tiling["exposed_s"])
