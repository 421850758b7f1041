"""Split the fixed cost of a collective on TPU ICI between the collective (``launch_latency_s``)
and each of its ring steps (``simple_step_overhead_s``), on the TPU fit rows of other categories.

The comm fit row that pins ICI's fixed cost (comm-x-033, a 1 MiB ppermute on v6e) is one transfer:
it fixes the sum launch + step (data/perf/collectives.yaml, ``generations.ici``), not how a
collective of many steps pays it. The TPU serving fit rows run tensor-parallel all-reduces of a few
steps each (tp 4 on a 2x2 v6e slice) at every layer, and the TPU training fit rows run data- and
tensor-parallel collectives; they tell the two apart. For each split on the grid the serving stacks'
own fitted parameters are refitted on their fit rows first (sglang-jax ``host_step_floor_s``, as
scripts/fit_sgljax_floor.py; vllm-tpu ``host_step_overhead_s`` with ``decode_score_cost_s``, as
scripts/fit_host_step.py), so that a split is not judged with host costs fitted under another one.
The objective is the mean |log(predicted / measured)| over the TPU serving and training fit rows;
held-out rows are never read. Usage: python scripts/fit_ici_split.py
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from fabless.estimate import step as step_model
from fabless.perf import collectives as C
from fabless.validate import serve, train
from fabless.validate.core import load_rows

STEP_SHARES = [0.0, 0.25, 0.5, 0.75, 1.0]  # share of the fixed cost paid per ring step
SGL_FLOOR_S = [round(0.00025 * i, 6) for i in range(20, 49)]  # 5-12 ms (fit_sgljax_floor.py: 8.75 ms)
VLLM_GRID = [(round(0.001 * h, 6), round(0.25e-9 * s, 15)) for h in range(0, 13) for s in range(0, 17)]


def _get(text: str, key: str) -> float:
    return C.generation_value_in_text(text, "ici", key)


def _set(text: str, key: str, value: float) -> str:
    return C.with_generation_value_in_text(text, "ici", key, value)


def _clear() -> None:
    C._load_params_cached.cache_clear()
    step_model._COLL.clear()  # collective times cached under the old parameters
    train._estimate_cached.cache_clear()
    serve._simulate_cached.cache_clear()


def main() -> None:
    rows = load_rows()
    by_id = {r["id"]: r for r in rows}
    sgl, vllm = ([by_id[i] for i in serve.stack_fit_ids(stack)] for stack in ("sglang-jax", "vllm-tpu"))
    trn_rows = [by_id[i] for i in sorted(train.fit_ids_from_map("train"))
                if i in by_id and "TPU" in by_id[i].get("hardware", "")]
    base = Path(C._PARAMS_PATH).read_text()
    fixed = _get(base, "launch_latency_s") + _get(base, "simple_step_overhead_s")
    print(f"fixed cost launch + step {fixed * 1e6:.3f} us (comm-x-033); fit rows: sglang-jax {len(sgl)}, "
          f"vllm-tpu {len(vllm)}, train {len(trn_rows)}")
    tmp = Path(tempfile.mkdtemp()) / "collectives.yaml"
    orig = C._PARAMS_PATH
    results = []
    try:
        for share in STEP_SHARES:
            step, launch = share * fixed, (1 - share) * fixed
            text = _set(_set(_set(base, "launch_latency_s", launch), "simple_step_overhead_s", step), "ll_step_overhead_s", step)
            tmp.write_text(text)
            C._PARAMS_PATH = tmp
            _clear()
            e_sgl, floor = min(serve.stack_grid_scores("sglang-jax", "host_step_floor_s", SGL_FLOOR_S, sgl))
            e_vllm, (host, score) = min(serve.stack_grid_scores("vllm-tpu", ("host_step_overhead_s", "decode_score_cost_s"),
                                                                VLLM_GRID, vllm))
            e_trn = [abs(math.log(train.predict(r) / float(r["value"]))) for r in trn_rows]
            total = (e_sgl * len(sgl) + e_vllm * len(vllm) + sum(e_trn)) / (len(sgl) + len(vllm) + len(e_trn))
            results.append((total, share, launch, step, floor, host, score, e_sgl, e_vllm, sum(e_trn) / max(len(e_trn), 1)))
            print(f"step share {share:4.2f} (launch {launch * 1e6:5.2f} us, step {step * 1e6:5.2f} us): "
                  f"mean |log err| {total:.4f}  [sglang-jax {e_sgl:.4f} at floor {floor * 1e3:.2f} ms; "
                  f"vllm-tpu {e_vllm:.4f} at host {host * 1e3:.0f} ms, score {score * 1e9:.2f} ns; "
                  f"train {results[-1][-1]:.4f}]", flush=True)
    finally:
        C._PARAMS_PATH = orig
        _clear()
    best = min(results)
    print(f"best: step share {best[1]:.2f}: launch_latency_s {best[2]:.4e}, simple_step_overhead_s {best[3]:.4e}; "
          f"sglang-jax host_step_floor_s {best[4]:.3e}; vllm-tpu host_step_overhead_s {best[5]:.3e}, "
          f"decode_score_cost_s {best[6]:.3e} (mean |log err| {best[0]:.4f})")


if __name__ == "__main__":
    main()
