"""Speed of the single-chip operator model (a benchmark, not a test).

Goals (issue "Single-chip performance model"): one operator on one chip in under 50 us;
the same operator on 10,000 chip variants in one vectorised call in under 50 ms.

One chip takes the models' scalar path (Python floats); 10,000 designs take the array path
(numpy). The last column checks that the scalar path's time equals the array path's for the
same chip (design 0 of a two-design call), bit for bit.

Run: python bench/bench_op.py
"""

from __future__ import annotations

import time

import numpy as np

from fabless.perf.attention import attention_time
from fabless.perf.gemm import gemm_time
from fabless.perf.memory import memcpy_time
from fabless.perf.params import ChipParams, concat


def best_of(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    one = ChipParams.from_chip("h100-sxm")
    rng = np.random.default_rng(0)
    n = 10_000
    gpus = ChipParams.from_arrays(
        peak_flops_per_s={"bf16": rng.uniform(2e14, 3e15, n)}, cores=rng.integers(32, 256, n),
        hbm_bytes_per_s=rng.uniform(1e12, 1e13, n), boost_clock_hz=rng.uniform(1e9, 2.5e9, n),
        sram_shared_bytes=rng.uniform(1e7, 2e8, n), family="nvidia-hopper")
    arrays = ChipParams.from_arrays(
        kind="systolic_array", peak_flops_per_s={"bf16": rng.uniform(2e14, 3e15, n)}, cores=rng.integers(1, 8, n),
        mu_count=rng.integers(2, 32, n), mu_rows=rng.choice([128, 256], n), mu_cols=rng.choice([128, 256], n),
        hbm_bytes_per_s=rng.uniform(1e12, 1e13, n), boost_clock_hz=rng.uniform(1e9, 2e9, n),
        sram_per_core_bytes=rng.uniform(8e6, 1.3e8, n), family="default-systolic")
    cases = {
        "gemm 8192^3": lambda p: gemm_time(8192, 8192, 8192, p),
        "attention prefill b8 h16 s2048 causal": lambda p: attention_time(8, 2048, 2048, 16, 128, p, causal=True),
        "attention decode b64 kv8192 gqa": lambda p: attention_time(64, 1, 8192, 32, 128, p, kv_heads=8),
        "memcpy 1GiB": lambda p: memcpy_time(2**30, p),
    }
    two = concat([one, one])  # the array path on the same chip
    print(f"{'operator':42s} {'1 chip (us)':>12s} {'10k GPUs (ms)':>14s} {'10k arrays (ms)':>16s} "
          f"{'1 chip = array path':>20s}")
    worst_one, worst_many = 0.0, 0.0
    for name, fn in cases.items():
        t1 = best_of(lambda: fn(one), 200) * 1e6
        tg = best_of(lambda: fn(gpus), 10) * 1e3
        ta = best_of(lambda: fn(arrays), 10) * 1e3
        same = fn(one).time_s[0] == fn(two).time_s[0]
        worst_one, worst_many = max(worst_one, t1), max(worst_many, tg, ta)
        print(f"{name:42s} {t1:12.1f} {tg:14.2f} {ta:16.2f} {'yes' if same else 'NO':>20s}")
    print(f"goals: 1 chip < 50 us ({'met' if worst_one < 50 else 'NOT met'}, worst {worst_one:.1f} us); "
          f"10,000 variants < 50 ms ({'met' if worst_many < 50 else 'NOT met'}, worst {worst_many:.2f} ms)")


if __name__ == "__main__":
    main()
