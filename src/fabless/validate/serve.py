"""Predictions of the published serving measurements (category ``serve``) by the serving
simulator (:mod:`fabless.serve`), its step times from the engine (``EngineStepCost``).

The serving rows live in ``published.csv`` under category ``infer`` (the engine's static-batch
model predicts some of them there); :func:`rows` gives the ones that
``data/measurements/serve_scenarios.yaml`` lists, as category ``serve`` rows, so the same
measurement is also scored against the simulator. Each entry has a ``note`` on how the row
maps, or ``skip`` with the reason. Entries name a ``scenario`` (model, system, precision, tp,
request lengths), a ``load`` and a ``convert``:

* ``load: {kind: closed_loop, concurrency: c}``: a benchmark client (AIPerf, vLLM
  benchmark_serving at fixed concurrency) that keeps ``c`` requests in flight, each sent when
  another finishes. The simulator has open arrivals, so the closed loop is found by Little's
  law: the arrival rate ``X`` with ``X x E2E(X) = c``, arrivals evenly spaced (``c`` clients of
  identical requests settle into evenly staggered phases), E2E measured on the requests after
  the first third (past the ramp from an empty server). Bisection on ``X`` to 0.5%.
* ``load: {kind: burst, requests: n}``: vLLM ``benchmark_throughput``: ``n`` prompts handed to
  the engine at once; throughput over the time to finish them all.
* ``load: {kind: single}``: one request on an idle server.

``convert``: ``output_tokens_per_s`` (X x output tokens), ``total_tokens_per_s`` ((input +
output) tokens / makespan), ``tpot_ms`` (median TPOT), ``e2e_s``.

``FIT_IDS`` is empty: nothing in the simulator or the engine was fitted on these rows, so
every mapped row is held out.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np

from fabless.loading import read_yaml
from fabless.validate.core import Skip, load_rows

SERVE_SCENARIOS_PATH = Path(str(resources.files("fabless") / "data" / "measurements" / "serve_scenarios.yaml"))

#: No parameter was fitted on a serving row; all mapped rows are held out.
FIT_IDS: frozenset[str] = frozenset()


@lru_cache(maxsize=1)
def serve_map() -> dict[str, dict]:
    raw = read_yaml(SERVE_SCENARIOS_PATH) or {}
    return {k: v for k, v in raw.items() if not str(k).startswith("_")}


def rows(all_rows: list[dict] | None = None) -> list[dict]:
    """The published rows that serve_scenarios.yaml lists, as category ``serve``."""
    m = serve_map()
    return [{**r, "category": "serve"} for r in (all_rows if all_rows is not None else load_rows()) if r["id"] in m]


def _model(scn_raw: dict):
    from fabless.estimate.scenario import scenario_from_dict
    from fabless.estimate.stepcost import EngineStepCost

    return EngineStepCost.from_scenario(scenario_from_dict(dict(scn_raw), "serve row"))


def _sched(entry: dict):
    from fabless.serve.scheduler import SchedulerConfig

    s = entry.get("scheduler", {})
    seqs = int(s.get("max_num_seqs", 256))
    return SchedulerConfig(max_num_batched_tokens=max(int(s.get("max_num_batched_tokens", 8192)), seqs), max_num_seqs=seqs)


def _requests(arrival_s, inp: int, out: int):
    from fabless.serve.workload import Requests

    n = len(arrival_s)
    return Requests(np.asarray(arrival_s, dtype=float), np.full(n, inp, dtype=np.int64), np.full(n, out, dtype=np.int64))


def closed_loop(model, sched, inp: int, out: int, concurrency: int, rel_tol: float = 0.005) -> dict:
    """Steady state of ``concurrency`` clients in a closed loop: rate, E2E, TTFT, TPOT."""
    from fabless.serve.sim import simulate

    n = max(6 * concurrency, 30)

    def at(rate: float):
        res = simulate(_requests(np.arange(n) / rate, inp, out), model, sched)
        df = res.requests.iloc[n // 3:]
        return df

    # One request alone is the fastest any request goes: X0 = c / E2E(idle) overshoots.
    e2e0 = float(simulate(_requests([0.0], inp, out), model, sched).requests["e2e_s"].iloc[0])
    hi = concurrency / e2e0
    lo = hi / 1024
    for _ in range(60):
        if hi - lo <= rel_tol * lo:
            break
        mid = math.sqrt(lo * hi)
        if mid * float(at(mid)["e2e_s"].mean()) < concurrency:
            lo = mid
        else:
            hi = mid
    df = at(lo)
    return {"rate_per_s": lo, "e2e_s": float(df["e2e_s"].mean()), "ttft_s": float(df["ttft_s"].mean()),
            "tpot_s": float(df["tpot_s"].median())}


def burst(model, sched, inp: int, out: int, n: int) -> dict:
    from fabless.serve.sim import simulate

    res = simulate(_requests(np.zeros(n), inp, out), model, sched)
    makespan = float(res.requests["finish_s"].max())
    return {"makespan_s": makespan, "total_tokens_per_s": n * (inp + out) / makespan,
            "output_tokens_per_s": n * out / makespan, "e2e_s": float(res.requests["e2e_s"].mean()),
            "tpot_s": float(res.requests["tpot_s"].median())}


def simulate_entry(entry: dict) -> dict:
    scn = entry["scenario"]
    inf = scn["inference"]
    inp, out = int(inf["input_tokens"]), int(inf["output_tokens"])
    model = _model(scn)
    sched = _sched(entry)
    load = entry["load"]
    kind = load["kind"]
    if kind == "closed_loop":
        return closed_loop(model, sched, inp, out, int(load["concurrency"]))
    if kind == "burst":
        return burst(model, sched, inp, out, int(load["requests"]))
    if kind == "single":
        return burst(model, sched, inp, out, 1)
    raise Skip(f"unknown load kind {kind!r}")


def predict(row: dict) -> float | None:
    entry = serve_map().get(row["id"])
    if entry is None:
        raise Skip("not in serve_scenarios.yaml")
    if "skip" in entry:
        raise Skip(entry["skip"])
    sim = simulate_entry(entry)
    inf = entry["scenario"]["inference"]
    conv = entry["convert"]
    if conv == "output_tokens_per_s":
        if "rate_per_s" in sim:
            return sim["rate_per_s"] * int(inf["output_tokens"])
        return sim["output_tokens_per_s"]
    if conv == "total_tokens_per_s":
        return sim["total_tokens_per_s"]
    if conv == "tpot_ms":
        return sim["tpot_s"] * 1e3
    if conv == "e2e_s":
        return sim["e2e_s"]
    raise Skip(f"unknown conversion {conv!r}")


def evaluate_serve():
    """(outcomes, summary) of the serve category."""
    from fabless.validate.core import evaluate, summarise

    out = evaluate(["serve"], rows=rows())
    return out, summarise(out)


if __name__ == "__main__":  # python -m fabless.validate.serve
    outcomes, summary = evaluate_serve()
    for o in outcomes:
        print(f"{o.id:10s} {o.set:8s} measured {o.measured:10.4g} predicted "
              f"{'-' if o.predicted is None else format(o.predicted, '10.4g')} "
              f"{'' if o.error is None else format(o.error * 100, '+.1f') + '%'} {o.skipped or ''}")
    for s in summary:
        print(s)


__all__ = ["FIT_IDS", "closed_loop", "burst", "predict", "rows", "serve_map"]
