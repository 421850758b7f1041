"""How a serving benchmark loads a replica, as library functions: the modes of ``fabless serve``.

* :func:`offline`: ``n`` requests handed over at once (MLPerf Offline, ``trtllm-bench``, vLLM's
  throughput script): the replica's saturated output rate;
* :func:`closed_loop`: ``c`` clients, each sending its next request when the last one finishes
  (vLLM ``benchmark_serving --max-concurrency``, genai-perf, AIPerf);
* :func:`burst`: ``n`` requests at once, timed to the last finish;
* :func:`highest_stable_rate`: the highest Poisson rate whose backlog does not grow (the
  capacity, with no latency limit);
* :func:`mlperf_benchmark`: an MLPerf Inference LLM benchmark's Server / Interactive latency
  limits and dataset for a catalog model (``data/serve/mlperf.yaml``);
* :func:`named_lengths`: request lengths by name (a dataset's length table), from a CSV of
  measured (input, output) lengths, or fixed.

Every function takes a step-cost model (:class:`fabless.serve.stepcost.StepCostModel`) and a
scheduler configuration, and is deterministic for a given seed.
"""

from __future__ import annotations

import csv
import math
from importlib import resources
from pathlib import Path

import numpy as np

from fabless.errors import FablessError
from fabless.loading import read_yaml
from fabless.params import load_param_file
from fabless.serve.metrics import SLO
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.search import max_throughput as search_max
from fabless.serve.sim import run, simulate
from fabless.serve.stepcost import StepCostModel
from fabless.serve.workload import Empirical, Fixed, Lengths, LogNormal, Requests, Trace, empirical_lengths

DATA = Path(str(resources.files("fabless") / "data"))
LENGTH_TABLE = DATA / "measurements" / "mlperf_llm_lengths.yaml"
MLPERF_PATH = DATA / "serve" / "mlperf.yaml"

#: Requests an offline run hands one replica when the caller gives no count, at least: several
#: times a usual batch, so the steady window dominates (MLPerf Offline runs >= 10 minutes).
OFFLINE_REQUESTS = 6000
#: ... and at least this many batches of ``max_num_seqs`` (:func:`offline_requests`). The steady
#: window opens after the first fifth of the requests has finished; with few batches it still
#: holds the first batch's decodes, whose prompts were computed before it opened, and
#: over-counts the rate by about 1/batches (llama2-70b on 8x H100 at 896 sequences: +4.5% with
#: 6,000 requests, +0.5% with 20 batches; Mixtral at 3,072 sequences: +37% with 6,000).
OFFLINE_BATCHES = 20
#: Quantiles a CSV of measured lengths is summarised by (0, 0.5, ..., 100 %), as the shipped tables.
CSV_QUANTILES = 201


def fixed_requests(arrival_s, inp: int, out: int) -> Requests:
    """Requests of ``inp`` prompt and ``out`` answer tokens arriving at ``arrival_s`` (seconds)."""
    n = len(arrival_s)
    return Requests(np.asarray(arrival_s, dtype=float), np.full(n, inp, dtype=np.int64), np.full(n, out, dtype=np.int64))


def drawn_requests(lengths: Lengths, n: int, seed: int = 0, arrival_s=None) -> Requests:
    """``n`` requests with lengths drawn from ``lengths`` (fixed seed), all at t = 0 unless
    ``arrival_s`` is given."""
    r_in, r_out = np.random.default_rng(seed).spawn(2)
    arr = np.zeros(n) if arrival_s is None else np.asarray(arrival_s, dtype=float)
    return Requests(arr, np.asarray(lengths.input.sample(n, r_in), dtype=np.int64),
                    np.asarray(lengths.output.sample(n, r_out), dtype=np.int64))


def offline_requests(sched: SchedulerConfig) -> int:
    """Requests an offline run hands one replica by default: ``OFFLINE_REQUESTS``, or
    ``OFFLINE_BATCHES`` batches of ``max_num_seqs`` where that is more."""
    return max(OFFLINE_REQUESTS, OFFLINE_BATCHES * int(sched.max_num_seqs))


def offline(model: StepCostModel, sched: SchedulerConfig, lengths: Lengths, n: int | None = None, seed: int = 0) -> dict:
    """Steady throughput of one replica handed ``n`` requests (drawn lengths) at once.

    Measured while requests still wait (the batch is refilled as requests finish) and after
    the first fifth of them has finished (past the start, when every request is in its
    prompt): output tokens made in that window over its length; a token of a request counts
    at its first-token time or evenly over its decode. A long MLPerf Offline run (>= 600 s)
    is this steady state with a short start and tail. Also returns the makespan of the ``n``
    requests (what a run of exactly these requests takes, start and tail included).
    """
    n = offline_requests(sched) if n is None else int(n)
    if n < 1:
        raise FablessError(f"offline: give at least 1 request, got {n}")
    res = simulate(drawn_requests(lengths, n, seed), model, sched)
    df = res.requests
    first = df["first_token_s"].to_numpy()
    fin = df["finish_s"].to_numpy()
    out = df["output_tokens"].to_numpy()
    makespan = float(fin.max())
    t0 = float(np.sort(fin)[n // 5])
    t1 = float(df["first_scheduled_s"].max())
    base = {"requests": n, "makespan_s": makespan, "output_tokens_per_s_makespan": float(out.sum()) / makespan,
            "mean_batch_seqs": res.summary["mean_batch_seqs"], "preemptions": res.summary["preemptions"]}
    if not t1 > t0:
        raise FablessError(f"offline: {n} requests do not keep the replica's queue busy past the start "
                           f"(the last starts before a fifth have finished); give more requests")
    with np.errstate(invalid="ignore", divide="ignore"):
        span = fin - first
        share = np.where(span > 0, (np.minimum(fin, t1) - np.maximum(first, t0)).clip(0) / span, 0.0)
    tokens = float((share * (out - 1)).sum() + ((first >= t0) & (first < t1)).sum())
    rate = tokens / (t1 - t0)
    return {**base, "window_s": (t0, t1), "output_tokens_per_s": rate, "rate_per_s": rate / float(out.mean())}


def mlperf_offline(model: StepCostModel, sched: SchedulerConfig, lengths: Lengths, samples: int, seed: int = 0) -> dict:
    """Output tokens/s of one replica in an MLPerf Offline run of ``samples`` requests, as loadgen
    reports it: every output token over the time to the last completion (``result_tokens_per_second``
    = token_count / max_latency), so the start (every slot in its prompt) and the tail (the last
    batch draining) count.

    Up to :func:`offline_requests` requests are simulated whole. A longer run is that many
    requests' steady rate (:func:`offline`) for all its tokens, plus the start and tail's extra
    time measured on the simulated run (its makespan less its tokens at the steady rate), which
    does not grow with the run once it is many batches long:
    ``T(N) = tokens(N) / steady + (makespan(n) - tokens(n) / steady)``, ``tokens(N) = tokens(n) x N / n``.
    """
    samples = int(samples)
    if samples < 1:
        raise FablessError(f"offline: an MLPerf run needs at least 1 sample, got {samples}")
    n = min(samples, offline_requests(sched))
    res = offline(model, sched, lengths, n, seed)
    tokens_n = res["output_tokens_per_s_makespan"] * res["makespan_s"]
    if n == samples:
        return {**res, "samples": samples, "run_s": res["makespan_s"], "run_output_tokens_per_s": res["output_tokens_per_s_makespan"]}
    steady = res["output_tokens_per_s"]
    extra_s = res["makespan_s"] - tokens_n / steady
    tokens = tokens_n * samples / n
    run_s = tokens / steady + extra_s
    return {**res, "samples": samples, "start_tail_extra_s": extra_s, "run_s": run_s, "run_output_tokens_per_s": tokens / run_s}


def closed_loop(model: StepCostModel, sched: SchedulerConfig, lengths: Lengths, concurrency: int, seed: int = 0,
                rel_tol: float = 0.005) -> dict:
    """Steady state of ``concurrency`` clients in a closed loop: request rate, mean E2E and TTFT,
    median TPOT, output tokens/s. Statistics are over the requests after the first third of
    ``max(6 c, 30)`` (past the ramp from an empty server), the rate by Little's law, ``c / mean E2E``.

    Clients the replica can all hold at once (``c`` up to ``max_num_seqs``, and their mean
    request's KV for ``c`` sequences within the cache) never queue, and settle into evenly
    staggered phases; the loop is then found on open arrivals evenly spaced at rate ``X`` with
    ``X x mean E2E(X) = c``: geometric bisection of [c / E2E of one request alone / 1024, c / E2E
    alone] (no rate above the latter fits ``c`` clients) until a run below the root is in hand
    (and the upper end run if none above is), then the Illinois variant of regula falsi on
    ``log(X E2E / c)`` against ``log X``, to a bracket ``rel_tol`` wide, the rate its lower end.
    Each rate is simulated once (X E2E climbs steeply at the capacity knee, where bisection alone
    takes a dozen runs).

    More clients than that queue for the replica, and an open stream overstates the loop: its
    backlog grows through a finite run, so ``X x mean E2E = c`` holds above the capacity. They
    are simulated closed (:func:`~fabless.serve.sim.simulate` ``clients``): all send at once,
    and each sends its next request as its answer comes back.
    """
    c = int(concurrency)
    if c < 1:
        raise FablessError(f"--concurrency must be >= 1, got {concurrency}")
    n = max(6 * c, 30)
    reqs = drawn_requests(lengths, n, seed)

    def summary(res, rate: float | None, loop: str) -> dict:
        """The loop's figures from a run; ``rate`` None: Little's law, c / mean E2E."""
        df = res.requests.iloc[n // 3:]
        e2e = float(df["e2e_s"].mean())
        rate = c / e2e if rate is None else rate
        return {"concurrency": c, "loop": loop, "rate_per_s": rate, "e2e_s": e2e, "ttft_s": float(df["ttft_s"].mean()),
                "tpot_s": float(df["tpot_s"].median()), "itl_s": res.summary["itl_p50_s"],
                "output_tokens_per_s": rate * float(df["output_tokens"].mean())}

    mean_tokens = float(np.mean(reqs.input_tokens) + np.mean(reqs.output_tokens))
    if c > sched.max_num_seqs or c * mean_tokens > model.kv_capacity_tokens:
        res = simulate(Requests(np.zeros(n), reqs.input_tokens, reqs.output_tokens), model, sched, clients=c)
        return summary(res, None, "closed")

    runs: dict[float, object] = {}
    memos: dict = {}  # step times, shared by the runs: most steps recur from one rate to the next

    def run_at(rate: float):
        if rate not in runs:
            runs[rate] = simulate(Requests(np.arange(n) / rate, reqs.input_tokens, reqs.output_tokens), model, sched,
                                  step_memos=memos)
        return runs[rate]

    def excess(rate: float) -> float:
        """log(X x mean E2E / c): negative while the ``c`` clients are not all kept in flight."""
        return math.log(rate * float(run_at(rate).requests["e2e_s"].iloc[n // 3:].mean()) / c)

    one = Requests(np.zeros(1), reqs.input_tokens[:1], reqs.output_tokens[:1])
    e2e0 = float(simulate(one, model, sched).requests["e2e_s"].iloc[0])
    hi = c / e2e0  # one request alone is the fastest any goes: this rate overshoots
    lo = hi / 1024
    g_lo = g_hi = None  # excess at lo / hi once simulated
    side = 0  # which end the last Illinois step kept (-1 lo, +1 hi), to halve its weight if kept twice
    for _ in range(60):
        if hi - lo <= rel_tol * lo:
            break
        if g_lo is None:
            mid = math.sqrt(lo * hi)
        elif g_hi is None:
            mid = hi  # the upper end's excess, to interpolate from: a quick run (it overloads)
        else:
            x_lo, x_hi = math.log(lo), math.log(hi)
            mid = math.exp(x_lo - g_lo * (x_hi - x_lo) / (g_hi - g_lo))
            # Stay strictly inside, off the ends by a hundredth of the bracket, so it shrinks.
            mid = min(max(mid, lo + 0.01 * (hi - lo)), hi - 0.01 * (hi - lo))
        g = excess(mid)
        if g < 0:
            lo, g_lo = mid, g
            if side == -1 and g_hi is not None:
                g_hi /= 2
            side = -1
        else:
            hi, g_hi = mid, g
            if side == 1 and g_lo is not None:
                g_lo /= 2
            side = 1
    return summary(run_at(lo), lo, "open")


def burst(model: StepCostModel, sched: SchedulerConfig, inp: int, out: int, n: int) -> dict:
    """``n`` requests of fixed lengths at once, timed to the last finish (``ttft_s``: the mean over
    the requests, as benchmark clients report a wave's mean TTFT)."""
    res = simulate(fixed_requests(np.zeros(n), inp, out), model, sched)
    makespan = float(res.requests["finish_s"].max())
    return {"makespan_s": makespan, "total_tokens_per_s": n * (inp + out) / makespan,
            "output_tokens_per_s": n * out / makespan, "e2e_s": float(res.requests["e2e_s"].mean()),
            "ttft_s": float(res.requests["ttft_s"].mean()),
            "tpot_s": float(res.requests["tpot_s"].median()), "itl_s": res.summary["itl_p50_s"]}


def _stable(summary: dict) -> bool:
    """A run whose backlog does not grow: stable and not at capacity (:mod:`fabless.serve.sim`)."""
    return summary.get("stable", True) is not False and not summary.get("near_capacity", False)


def highest_stable_rate(model: StepCostModel, lengths: Lengths, sched: SchedulerConfig, seed: int = 0, *,
                        duration_s: float = 600.0, on_run=None):
    """The highest Poisson rate at which one replica's backlog does not grow (its capacity,
    with no latency limit): :func:`fabless.serve.search.max_throughput` with stability as the
    only condition, starting from the offline rate."""
    start = offline(model, sched, lengths, n=max(200, 8 * sched.max_num_seqs), seed=seed)["rate_per_s"]
    return search_max(model, lengths, None, sched, seed, duration_s=duration_s, accept=_stable,
                          start_rate_per_s=0.8 * start, growth=1.25, rel_tol=0.02, on_run=on_run)


def run_load(model: StepCostModel, sched: SchedulerConfig, lengths: Lengths, *, offline_requests: int | None = None,
             concurrency: int | None = None, max_throughput: bool = False, slo: SLO | None = None, arrivals=None,
             duration_s: float = 600.0, seed: int = 0, on_run=None,
             no_requests: str = "no request arrived in the run; lengthen its duration") -> tuple[str, dict, object]:
    """One replica under the one load given (``fabless serve`` and :func:`fabless.api.serve`):
    ``offline_requests`` at once, ``concurrency`` clients in a closed loop, ``max_throughput``
    (within ``slo``, else the highest stable rate; ``on_run(rate, met)`` after each run), or
    ``arrivals`` (a Poisson rate over ``duration_s``, or a Trace of its own requests). Returns
    (mode, summary, the requests DataFrame or None); an open-loop run in which no request
    arrives is the one-line error ``no_requests``."""
    if offline_requests is not None:
        return "offline", offline(model, sched, lengths, offline_requests, seed), None
    if concurrency is not None:
        return "closed_loop", closed_loop(model, sched, lengths, concurrency, seed), None
    if max_throughput:
        found = (search_max(model, lengths, slo, sched, seed, duration_s=duration_s, on_run=on_run) if slo is not None
                 else highest_stable_rate(model, lengths, sched, seed, duration_s=duration_s, on_run=on_run))
        summary = dict(found.result.summary) if found.result is not None else {}
        summary["max_rate_per_s"] = found.rate_per_s
        summary["rates_tried"] = [{"rate_per_s": r, "slo_met": m, **run} for (r, m), run in zip(found.tried, found.runs)]
        return "max_throughput", summary, found.result.requests if found.result is not None else None
    if arrivals is None:
        raise FablessError("give a load: offline, concurrency, max_throughput or arrivals")
    trace = isinstance(arrivals, Trace)
    res = run(model, arrivals, None if trace else lengths, sched, seed, duration_s=None if trace else duration_s, slo=slo)
    if not res.summary.get("requests"):
        # No request, no latency or throughput to report (they would all be null).
        raise FablessError(no_requests)
    return "rate", dict(res.summary), res.requests


def mlperf_benchmarks() -> dict:
    """The MLPerf LLM benchmarks of ``data/serve/mlperf.yaml`` (name -> entry)."""
    return dict(load_param_file(MLPERF_PATH).plain)


def mlperf_benchmark(model: str, scenario: str) -> tuple[str, dict]:
    """(benchmark name, entry) of the MLPerf LLM benchmark that runs catalog ``model``, checked
    to define ``scenario`` (server, interactive or offline)."""
    if scenario not in ("server", "interactive", "offline"):
        raise FablessError(f"--mlperf: '{scenario}' is not an MLPerf scenario; use server, interactive or offline")
    for name, entry in mlperf_benchmarks().items():
        if model in entry.get("models", []):
            if scenario != "offline" and scenario not in entry:
                have = ", ".join(s for s in ("server", "interactive") if s in entry)
                raise FablessError(f"--mlperf {scenario}: MLPerf's {name} benchmark has no {scenario} scenario (has: {have}, offline)")
            return name, entry
    models = sorted(m for e in mlperf_benchmarks().values() for m in e.get("models", []))
    raise FablessError(f"--mlperf: no MLPerf LLM benchmark runs {model} (benchmarks run: {', '.join(models)})")


def mlperf_slo(entry: dict, scenario: str) -> SLO:
    """The p99 TTFT and TPOT limits of an MLPerf benchmark's Server or Interactive scenario."""
    lim = entry[scenario]
    return SLO({"ttft_p99": float(lim["ttft_p99_ms"]) / 1e3, "tpot_p99": float(lim["tpot_p99_ms"]) / 1e3})


def length_names() -> list[str]:
    """Named length distributions: the datasets of the shipped length table."""
    return [k for k in (read_yaml(LENGTH_TABLE) or {}) if not str(k).startswith("_")]


def _csv_lengths(path: Path) -> Lengths:
    try:
        with path.open(newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            cols = reader.fieldnames or []
            if "input_tokens" not in cols or "output_tokens" not in cols:
                raise FablessError(f"{path}: a length CSV needs columns input_tokens and output_tokens (has: {', '.join(cols) or 'none'})")
            pairs = []
            for line, row in enumerate(reader, start=2):
                try:
                    i, o = int(row["input_tokens"]), int(row["output_tokens"])
                except (TypeError, ValueError):
                    raise FablessError(f"{path}:{line}: input_tokens and output_tokens must be whole numbers") from None
                if i < 1 or o < 1:
                    raise FablessError(f"{path}:{line}: lengths must be >= 1 token, got {i}, {o}")
                pairs.append((i, o))
    except UnicodeDecodeError:
        raise FablessError(f"{path}: not a UTF-8 text file") from None
    if len(pairs) < 2:
        raise FablessError(f"{path}: needs at least 2 rows of lengths, got {len(pairs)}")
    a = np.asarray(pairs, dtype=float)
    q = np.linspace(0, 100, CSV_QUANTILES)
    return Lengths(Empirical(tuple(np.percentile(a[:, 0], q))), Empirical(tuple(np.percentile(a[:, 1], q))))


def named_lengths(spec: str | None, input_tokens: int, output_tokens: int, length_cv: float = 0.0) -> Lengths:
    """Request lengths for ``fabless serve --lengths``: None or ``fixed`` = the scenario's
    ``input_tokens`` / ``output_tokens`` (lognormal around them when ``length_cv`` > 0); a
    dataset of the shipped length table (``llama2-70b-99``, ``mixtral-8x7b``: measured prompt
    and answer distributions); or a CSV file with columns ``input_tokens, output_tokens``
    (one row per request you measured), summarised by its quantiles. Prompt and answer are
    drawn independently."""
    if spec is None or spec == "fixed":
        def dist(mean: int):
            return Fixed(mean) if length_cv == 0 else LogNormal(mean, mean * length_cv)
        return Lengths(dist(input_tokens), dist(output_tokens))
    if spec in length_names():
        return Lengths(empirical_lengths(LENGTH_TABLE, spec, "input"), empirical_lengths(LENGTH_TABLE, spec, "output"))
    path = Path(spec)
    if path.suffix.lower() == ".csv" or path.is_file():
        if not path.is_file():
            raise FablessError(f"--lengths: {path}: no such file")
        return _csv_lengths(path)
    raise FablessError(f"--lengths: '{spec}' is neither a named distribution ({', '.join(['fixed', *length_names()])}) "
                       f"nor a CSV file of input_tokens,output_tokens")


__all__ = ["OFFLINE_BATCHES", "OFFLINE_REQUESTS", "burst", "closed_loop", "drawn_requests", "fixed_requests", "highest_stable_rate", "run_load",
           "length_names", "mlperf_benchmark", "mlperf_benchmarks", "mlperf_offline", "mlperf_slo", "named_lengths", "offline",
           "offline_requests"]
