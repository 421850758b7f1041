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
  another finishes: :func:`fabless.serve.modes.closed_loop` (Little's law, bisection to 0.5%).
* ``load: {kind: burst, requests: n}``: vLLM ``benchmark_throughput``: ``n`` prompts handed to
  the engine at once; throughput over the time to finish them all.
* ``load: {kind: single}``: one request on an idle server.
* ``load: {kind: offline, samples: n}``: MLPerf Offline: all ``n`` samples of the run (the
  summary's ``samples_per_query``) issued at once, split evenly over the row's ``instances``
  (independent engines); output tokens/s = instances x one instance's
  :func:`fabless.serve.modes.mlperf_offline` (every token over the time to the last
  completion, loadgen's ``result_tokens_per_second``: start and tail included). Without
  ``samples``, the steady rate of :func:`fabless.serve.modes.offline` (start and tail left out).
* ``load: {kind: server, ttft_p99_ms: a, tpot_p99_ms: b}``: MLPerf Server: the highest
  Poisson arrival rate at which p99 TTFT <= a and p99 TPOT <= b (both as loadgen defines
  them: per sample, TPOT = (latency - first-token latency) / (tokens - 1), the p99 over every
  sample of the run), found by :func:`fabless.serve.search.max_throughput` on one instance
  (a random split of a Poisson stream over the instances is Poisson at 1/instances of the
  rate); output tokens/s = instances x rate x the row's mean output tokens. With
  ``harness_batch_s: w`` the harness gathers requests for ``w`` seconds and hands each group to
  the next instance in turn (AMD's v4.1 harness): the simulated instance gets its requests in
  groups every ``instances x w`` (:class:`fabless.serve.workload.Batched`). A run lasts
  ``SERVER_DURATION_S``, the rules' shortest Server run, from an empty engine, and every
  request counts (``SERVER_WARMUP_S`` = 0), as in loadgen.

Rows with ``lengths: {dataset: d, output_mean_tokens: m, max_output_tokens: c}`` draw request
lengths (fixed seed) from the dataset's quantile table in ``data/measurements/``
``mlperf_llm_lengths.yaml``: prompts as measured, answers with the table's output shape
rescaled to the row's measured mean ``m`` and capped at ``c``; otherwise every request has the
scenario's ``input_tokens`` / ``output_tokens``.

``scheduler`` sets the engine's batching knobs (``max_num_seqs``, ``max_num_batched_tokens``,
``mixed_chunks``, ``reserve_output_fraction``, ``max_prefills_per_step``, ``chunked_prefill``,
``prefill_min_free_kv_fraction``: :class:`fabless.serve.scheduler.SchedulerConfig`) and, for a
stack that compiles fixed shapes (Neuron), ``max_model_len``: the compiled sequence length (with
``max_num_seqs`` the compiled batch, :meth:`fabless.estimate.stepcost.EngineStepCost.from_scenario`);
``memory_fraction`` the share of HBM the engine took (vLLM ``--gpu-memory-utilization``, SGLang
``--mem-fraction-static``; default the engine-wide ``usable_memory_fraction``);
``max_seqs_per_forward`` the most sequences the engine runs in one pass of the model (vLLM on
TPU: :class:`fabless.estimate.stepcost.EngineStepCost`; default no limit).

``length_range_ratio: r`` (closed_loop loads): request lengths uniform on [int(r x length), length]
instead of fixed, as benchmark_serving's random dataset draws them (InferenceX runs r = 0.8).

``convert``: ``output_tokens_per_s`` (X x output tokens), ``output_tokens_per_s_per_chip`` (the
simulated output tokens/s over the scenario's chip count, as InferenceX's per-GPU figures),
``total_tokens_per_s`` ((input +
output) tokens / makespan), ``tpot_ms`` (median over requests of each request's mean gap),
``itl_ms`` (median gap between consecutive tokens over all tokens, as bench_serving's ITL),
``e2e_s``.

``FIT_IDS``: the entries marked ``set: fit`` (chosen by a rule fixed before any prediction, written
in their file's header); the software stacks' serving parameters are fitted on them (software.yaml
``fitted_on``, the scripts/fit_*.py that fit them). Every other mapped row is held out.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace as dataclass_replace
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fabless.errors import FablessError
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.software import software_stacks
from fabless.estimate.stepcost import EngineStepCost
from fabless.serve.metrics import SLO
from fabless.serve.modes import burst, closed_loop as loop, drawn_requests, mlperf_offline, offline as _offline
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.search import max_throughput
from fabless.serve.sim import simulate
from fabless.serve.workload import Batched, empirical_lengths, Fixed, Lengths, Uniform
from fabless.validate.core import evaluate, load_rows, merged_mapping, Skip, summarise

SERVE_SCENARIOS_PATH = Path(str(resources.files("fabless") / "data" / "measurements" / "serve_scenarios.yaml"))
LENGTH_TABLES_DIR = Path(str(resources.files("fabless") / "data" / "measurements"))
DEFAULT_LENGTH_TABLE = "mlperf_llm_lengths.yaml"

#: Seed of every drawn workload (lengths, Poisson arrivals): the validation is deterministic.
SEED = 0
#: Length of one MLPerf Server simulation: the rules' shortest Server run (mlperf.conf
#: ``*.Server.min_duration = 600000`` ms, MLPerf Inference v4.1), from an empty engine, every
#: request in the percentiles (loadgen leaves none out: ``SERVER_WARMUP_S`` = 0). Near its
#: capacity an engine's batch settles over minutes (tens of seconds per answer, and a step time
#: that grows with the batch): a 180 s run with 45 s left out (the earlier setting) saw smaller
#: batches and shorter steps than MLPerf's runs (infer-mlp41-016: p50 / p99 TPOT 122 / 143 ms
#: at 180 s, 141 / 181 ms at 600 s; the run measured 169 / 184 ms).
SERVER_DURATION_S = 600.0
SERVER_WARMUP_S = 0.0
#: Requests of the short burst that gives the Server search its first rate.
SERVER_PILOT_REQUESTS = 2000



@lru_cache(maxsize=1)
def serve_map() -> dict[str, dict]:
    """Row id -> serving mapping entry, from ``serve_scenarios.yaml`` and every ``serve_scenarios_*.yaml``
    beside it; an id mapped twice is an error."""
    return merged_mapping([SERVE_SCENARIOS_PATH, *sorted(SERVE_SCENARIOS_PATH.parent.glob("serve_scenarios_*.yaml"))],
                          "serve_scenarios file")


#: Serving rows reserved for fitting (``set: fit`` in a serve_scenarios file); all others are held out.
FIT_IDS: frozenset[str] = frozenset(k for k, v in serve_map().items() if isinstance(v, dict) and v.get("set") == "fit")


def rows(all_rows: list[dict] | None = None) -> list[dict]:
    """The published rows that serve_scenarios.yaml lists, as category ``serve``."""
    m = serve_map()
    return [{**r, "category": "serve"} for r in (all_rows if all_rows is not None else load_rows()) if r["id"] in m]


def _model(scn_raw: dict, memory_fraction: float | None = None, max_seqs_per_forward: int | None = None,
           sched: dict | None = None):
    s = sched or {}
    return EngineStepCost.from_scenario(scenario_from_dict(dict(scn_raw), "serve row"), memory_fraction,
                                        max_seqs_per_forward, max_num_seqs=s.get("max_num_seqs"),
                                        max_model_len=s.get("max_model_len"))


def _sched(entry: dict):
    s = entry.get("scheduler") or {}
    seqs = int(s.get("max_num_seqs", 256))
    return SchedulerConfig(max_num_batched_tokens=max(int(s.get("max_num_batched_tokens", 8192)), seqs), max_num_seqs=seqs,
                           mixed_chunks=bool(s.get("mixed_chunks", True)),
                           reserve_output_fraction=float(s.get("reserve_output_fraction", 0.0)),
                           block_size_tokens=int(s.get("block_size_tokens", 16)),
                           chunked_prefill=bool(s.get("chunked_prefill", True)),
                           max_prefills_per_step=None if s.get("max_prefills_per_step") is None
                           else int(s["max_prefills_per_step"]),
                           prefill_min_free_kv_fraction=float(s.get("prefill_min_free_kv_fraction", 0.0)))


def closed_loop(model, sched, inp: int, out: int, concurrency: int, range_ratio: float | None = None) -> dict:
    """:func:`fabless.serve.modes.closed_loop` with every request of the row's fixed lengths, or,
    with ``range_ratio`` r, lengths drawn uniform on [int(r x length), length] as the random dataset
    of vLLM's / InferenceX's benchmark_serving draws them (``--random-range-ratio``)."""
    if range_ratio is None:
        return loop(model, sched, Lengths(Fixed(inp), Fixed(out)), concurrency, SEED)
    r = float(range_ratio)
    if not 0.0 < r <= 1.0:
        raise Skip(f"length_range_ratio must be in (0, 1], got {range_ratio}")
    lengths = Lengths(Uniform(max(int(inp * r), 1), inp), Uniform(max(int(out * r), 1), out))
    return loop(model, sched, lengths, concurrency, SEED)


def lengths_of(entry: dict):
    """The entry's drawn length distributions (``lengths`` key), or None for fixed lengths."""
    spec = entry.get("lengths")
    if spec is None:
        return None
    table = LENGTH_TABLES_DIR / spec.get("table", DEFAULT_LENGTH_TABLE)
    ds = spec["dataset"]
    cap_in = spec.get("max_input_tokens")
    cap_out = spec.get("max_output_tokens")
    return Lengths(empirical_lengths(table, ds, "input", max_tokens=cap_in),
                   empirical_lengths(table, ds, "output", mean_tokens=spec.get("output_mean_tokens"), max_tokens=cap_out))


def offline(model, sched, lengths, n: int | None = None, seed: int = SEED, samples: int | None = None) -> dict:
    """:func:`fabless.serve.modes.mlperf_offline` for a run of ``samples`` on this instance, else
    :func:`fabless.serve.modes.offline` with ``n`` requests (default
    :func:`fabless.serve.modes.offline_requests`); a run too short for a steady window is a
    skipped row."""
    try:
        if samples is not None:
            return mlperf_offline(model, sched, lengths, samples, seed)
        return _offline(model, sched, lengths, n, seed)
    except FablessError as exc:
        raise Skip(str(exc)) from None


def server(model, sched, lengths, ttft_p99_s: float, tpot_p99_s: float, seed: int = SEED,
           duration_s: float = SERVER_DURATION_S, warmup_s: float = SERVER_WARMUP_S,
           batch_window_s: float | None = None) -> dict:
    """The highest Poisson rate of one replica within the p99 TTFT and TPOT limits.

    The search starts at the rate of a short burst (``SERVER_PILOT_REQUESTS`` at once, to the
    last finish: below the replica's capacity, a first guess) and grows by 1.25 until a run
    fails, then bisects to 2 %. ``batch_window_s``: the replica gets its requests in groups,
    one per window (:class:`fabless.serve.workload.Batched`), not one by one.
    """
    pilot = simulate(drawn_requests(lengths, SERVER_PILOT_REQUESTS, seed), model, sched)
    start = SERVER_PILOT_REQUESTS / float(pilot.requests["finish_s"].max())
    slo = SLO({"ttft_p99": ttft_p99_s, "tpot_p99": tpot_p99_s})
    kw = {} if batch_window_s is None else {"arrivals": lambda rate: Batched(rate, batch_window_s)}
    found = max_throughput(model, lengths, slo, sched, seed, duration_s=duration_s, warmup_s=warmup_s,
                           start_rate_per_s=start, growth=1.25, rel_tol=0.02, **kw)
    out = {"rate_per_s": found.rate_per_s, "runs": len(found.tried)}
    if found.result is not None:
        s = found.result.summary
        out.update({k: s[k] for k in ("ttft_p50_s", "ttft_p99_s", "tpot_p50_s", "tpot_p99_s", "mean_batch_seqs")})
    return out


def simulate_entry(entry: dict) -> dict:
    """The simulation an entry asks for; entries with the same scenario, scheduler, lengths and
    load (e.g. 1 and 8 instances of one engine) share one run. An Offline run's ``samples`` are
    split evenly over the instances: the simulated instance gets its share."""
    key = {k: entry.get(k) for k in ("scenario", "scheduler", "lengths", "load", "memory_fraction",
                                     "max_seqs_per_forward", "length_range_ratio")}
    load = entry.get("load") or {}
    if load.get("kind") == "offline" and load.get("samples") is not None:
        key["load"] = {**load, "samples": max(1, round(int(load["samples"]) / int(entry.get("instances", 1))))}
    if load.get("kind") == "server" and load.get("harness_batch_s") is not None:
        # the harness sends each window's requests to the next engine in turn: an engine gets one
        # window's worth of the whole stream every instances x window
        key["load"] = {**load, "harness_batch_s": float(load["harness_batch_s"]) * int(entry.get("instances", 1))}
    return dict(_simulate_cached(json.dumps(key, sort_keys=True)))


@lru_cache(maxsize=64)
def _simulate_cached(key: str) -> dict:
    return _simulate(json.loads(key))


def _simulate(entry: dict) -> dict:
    scn = entry["scenario"]
    inf = scn["inference"]
    inp, out = int(inf["input_tokens"]), int(inf["output_tokens"])
    mf = entry.get("memory_fraction")
    model = _model(scn, None if mf is None else float(mf), entry.get("max_seqs_per_forward"), entry.get("scheduler"))
    sched = _sched(entry)
    load = entry["load"]
    kind = load["kind"]
    if kind in ("offline", "server"):
        lengths = lengths_of(entry)
        if lengths is None:
            raise Skip(f"load kind {kind} needs a lengths entry")
        if kind == "offline":
            samples = load.get("samples")  # per instance (simulate_entry)
            return offline(model, sched, lengths, samples=None if samples is None else int(samples))
        window = load.get("harness_batch_s")  # per instance (simulate_entry)
        return server(model, sched, lengths, float(load["ttft_p99_ms"]) / 1e3, float(load["tpot_p99_ms"]) / 1e3,
                      batch_window_s=None if window is None else float(window))
    if kind == "closed_loop":
        return closed_loop(model, sched, inp, out, int(load["concurrency"]), entry.get("length_range_ratio"))
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
    kind = entry["load"]["kind"]
    instances = int(entry.get("instances", 1))
    if kind == "offline" and conv == "output_tokens_per_s":
        return instances * sim.get("run_output_tokens_per_s", sim["output_tokens_per_s"])
    if kind == "server" and conv == "output_tokens_per_s":
        return instances * sim["rate_per_s"] * float(entry["lengths"]["output_mean_tokens"])
    if conv == "output_tokens_per_s":
        if "rate_per_s" in sim:
            return sim["rate_per_s"] * int(inf["output_tokens"])
        return sim["output_tokens_per_s"]
    if conv == "output_tokens_per_s_per_chip":
        return sim["output_tokens_per_s"] / int(entry["scenario"]["system"]["count"])
    if conv == "total_tokens_per_s":
        return sim["total_tokens_per_s"]
    if conv == "tpot_ms":
        return sim["tpot_s"] * 1e3
    if conv == "itl_ms":
        return sim["itl_s"] * 1e3
    if conv == "e2e_s":
        return sim["e2e_s"]
    if conv == "ttft_ms":
        if "ttft_s" not in sim:
            raise Skip(f"load kind {kind!r} gives no TTFT; ttft_ms needs a closed_loop or burst load")
        return sim["ttft_s"] * 1e3
    raise Skip(f"unknown conversion {conv!r}")


def stack_fit_ids(stack: str) -> list[str]:
    """The serve rows marked ``set: fit`` in the serve_scenarios files whose scenario names the
    software ``stack``, sorted by id: the rows the stack's own parameters are fitted on."""
    return sorted(k for k, v in serve_map().items()
                  if isinstance(v, dict) and v.get("set") == "fit" and (v.get("scenario") or {}).get("software") == stack)


def stack_grid_scores(stack: str, field: str | tuple[str, ...], grid, rows: list[dict],
                      predictions: dict | None = None) -> list[tuple[float, float | tuple[float, ...]]]:
    """(mean |log(predicted / measured)| over ``rows``, value) for each value of ``grid`` given to
    the software stack's ``field`` in turn, every row simulated afresh; the stack is restored after.
    ``field`` may be a tuple of fields fitted jointly, each grid value then a tuple of as many values.
    ``predictions``, if given, receives each value's predictions by row id.
    The grid search of the fit scripts (scripts/fit_host_step.py, scripts/fit_serve_efficiency.py)."""
    stacks = software_stacks()
    original = stacks[stack]
    fields = (field,) if isinstance(field, str) else tuple(field)
    scores = []
    try:
        for value in grid:
            values = (value,) if isinstance(field, str) else tuple(value)
            stacks[stack] = dataclass_replace(original, **{f: float(v) for f, v in zip(fields, values, strict=True)})
            _simulate_cached.cache_clear()
            pred = {r["id"]: predict(r) for r in rows}
            err = sum(abs(math.log(pred[r["id"]] / float(r["value"]))) for r in rows) / len(rows)
            key = float(value) if isinstance(field, str) else tuple(float(v) for v in values)
            if predictions is not None:
                predictions[key] = pred
            scores.append((err, key))
    finally:
        stacks[stack] = original
        _simulate_cached.cache_clear()
    return scores


def evaluate_serve():
    """(outcomes, summary) of the serve category."""
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


__all__ = ["FIT_IDS", "burst", "closed_loop", "lengths_of", "offline", "predict", "rows", "serve_map", "server", "stack_grid_scores"]
