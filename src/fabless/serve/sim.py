"""The discrete-event loop: arrivals, steps and KV transfers on one replica or a fleet.

Events are arrivals (from the sorted arrival times), step ends (one per busy replica) and
KV-transfer ends (disaggregated serving). A replica that is idle and has work starts a step
at once; requests arriving during a step join its queue and are considered at the next step
(as in vLLM, which schedules between forward passes). Equal times: step ends and transfers
are applied before arrivals, and both before any idle replica starts a step.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from fabless import bounds
from fabless.errors import FablessError
from fabless.serve.metrics import SLO, request_frame, summarize
from fabless.serve.replica import Replica
from fabless.serve.request import Request
from fabless.serve.router import Router
from fabless.serve.scheduler import SchedulerConfig
from fabless.serve.stepcost import StepCostModel, StepTimeCache
from fabless.serve.workload import Lengths, Requests, SharedPrefix, make_requests


@dataclass(frozen=True)
class Fleet:
    """``replicas`` identical replicas, each prefilling and decoding, behind one router."""

    replicas: int = 1
    router: str = "round_robin"

    def __post_init__(self):
        if self.replicas < 1:
            raise FablessError(f"a fleet needs >= 1 replica, got {self.replicas}")


@dataclass(frozen=True)
class Disaggregated:
    """Separate prefill and decode replicas; each prompt's KV crosses a link between them.

    A transfer of ``t`` tokens takes ``link_latency_s + t * kv_bytes_per_token / link_bytes_per_s``;
    transfers out of one prefill replica share its link one after another (first come, first
    served), and the prefill replica keeps the KV until the transfer ends. The first token is
    produced by the prefill replica (TTFT ends there). A request preempted on a decode replica is
    recomputed there. ``decode_step_model`` defaults to the prefill replicas' model.
    """

    prefill_replicas: int
    decode_replicas: int
    link_bytes_per_s: float
    link_latency_s: float = 0.0
    router: str = "least_loaded"
    decode_step_model: StepCostModel | None = None

    def __post_init__(self):
        if self.prefill_replicas < 1 or self.decode_replicas < 1:
            raise FablessError("disaggregated serving needs >= 1 prefill and >= 1 decode replica")
        if not self.link_bytes_per_s > 0 or self.link_latency_s < 0:
            raise FablessError("the KV link needs link_bytes_per_s > 0 and link_latency_s >= 0")


@dataclass
class SimResult:
    """What one run produced.

    ``requests``: one row per request (see :func:`fabless.serve.metrics.request_frame`).
    ``summary``: percentiles, throughput, goodput, queue/batch/KV averages, step-cache stats.
    ``timeseries``: per replica, sampled at step starts at most once per interval: waiting and
    running requests, the step's prefill tokens and decode sequences, KV-cache use (0..1).
    """

    requests: pd.DataFrame
    summary: dict
    timeseries: pd.DataFrame = field(repr=False)


_STEP_END, _TRANSFER_END = 0, 1


#: A run is unstable when the backlog (requests in the system) grows over the second half of
#: the arrival window by more than this share of the requests that arrived in that half.
UNSTABLE_BACKLOG_GROWTH = 0.10
#: ... and by more than this many standard deviations of Poisson noise (sqrt of those arrivals).
UNSTABLE_NOISE_SIGMAS = 4.0
#: A stable run whose backlog still grew by more than this share of the second half's arrivals
#: and beyond ``NEAR_CAPACITY_NOISE_SIGMAS`` of noise is flagged ``near_capacity``: the rate is
#: at (or a few percent over) what the replica completes, and its latency percentiles grow with
#: the run's length.
NEAR_CAPACITY_BACKLOG_GROWTH = 0.005
NEAR_CAPACITY_NOISE_SIGMAS = 1.0


def itl_stats(gaps: list[tuple[float, float, int]], warmup_s: float = 0.0) -> dict:
    """Inter-token latency as benchmark clients report it (vLLM's and SGLang's bench_serving:
    every gap between consecutive output tokens of a request, over all tokens): median, p99 and
    mean of the gaps, each gap weighted by the tokens that had it, from steps ending after
    ``warmup_s``. NaN when no sequence decoded."""
    g = [(gap, w) for t, gap, w in gaps if t >= warmup_s and w > 0]
    if not g:
        return {"itl_p50_s": float("nan"), "itl_p99_s": float("nan"), "itl_mean_s": float("nan")}
    v = np.array([x for x, _ in g])
    w = np.array([x for _, x in g], dtype=float)
    order = np.argsort(v)
    v, w = v[order], w[order]
    cum = np.cumsum(w) / w.sum()
    return {"itl_p50_s": float(v[np.searchsorted(cum, 0.5)]), "itl_p99_s": float(v[np.searchsorted(cum, 0.99)]),
            "itl_mean_s": float((v * w).sum() / w.sum())}


def stability(df: pd.DataFrame, horizon_s: float) -> dict:
    """``stable``: False when the number of requests in the system grew over the second half
    of the arrival window by more than ``UNSTABLE_BACKLOG_GROWTH`` of the arrivals in that
    half (and by more than Poisson noise), i.e. the offered rate exceeds what the system completes; ``backlog_growth``: that
    growth in requests; ``near_capacity``: stable, but the backlog still grew beyond
    ``NEAR_CAPACITY_BACKLOG_GROWTH`` of the arrivals and noise (latency then depends on the run's length)."""
    if horizon_s <= 0 or len(df) == 0:
        return {"stable": True, "backlog_growth": 0.0, "near_capacity": False}
    arr = df["arrival_s"].to_numpy()
    fin = df["finish_s"].to_numpy()

    def in_system(t: float) -> int:
        return int((arr <= t).sum() - (fin <= t).sum())

    half = horizon_s / 2
    growth = in_system(horizon_s) - in_system(half)
    arrived = int(((arr > half) & (arr <= horizon_s)).sum())
    # The count in system fluctuates by about the square root of the arrivals even when the
    # system keeps up; a short run must not read that noise as a growing backlog.
    noise = UNSTABLE_NOISE_SIGMAS * math.sqrt(arrived)
    unstable = arrived > 0 and growth > max(UNSTABLE_BACKLOG_GROWTH * arrived, noise)
    near = (not unstable and arrived > 0
            and growth > max(NEAR_CAPACITY_BACKLOG_GROWTH * arrived, NEAR_CAPACITY_NOISE_SIGMAS * math.sqrt(arrived)))
    return {"stable": not unstable, "backlog_growth": float(growth), "near_capacity": bool(near)}


def _check_steps(reqs: Requests, sched: SchedulerConfig, fleet) -> None:
    """Refuse, before simulating, a run that needs more than MAX_SIM_STEPS steps: at least the
    output tokens over the sequences one step decodes plus the prompt tokens over one step's
    token budget, shared by the replicas (the simulator's time grows with its steps)."""
    n = len(reqs.input_tokens)
    if not n:
        return
    replicas = (fleet.prefill_replicas + fleet.decode_replicas) if isinstance(fleet, Disaggregated) else fleet.replicas
    steps = (float(np.sum(reqs.output_tokens, dtype=float)) / min(sched.max_num_seqs, n)
             + float(np.sum(reqs.input_tokens, dtype=float)) / sched.max_num_batched_tokens) / max(1, replicas)
    if steps > bounds.MAX_SIM_STEPS:
        raise FablessError(f"{n:,} requests of these lengths need at least {steps:,.0f} scheduler steps, more than one "
                           f"simulation runs ({bounds.MAX_SIM_STEPS:,}); use fewer requests or shorter ones")


def simulate(reqs: Requests, step_model: StepCostModel, sched: SchedulerConfig | None = None,
             fleet: Fleet | Disaggregated | None = None, *, slo: SLO | None = None, warmup_s: float = 0.0,
             horizon_s: float | None = None, cache_rel_bits: int | None = 6,
             sample_interval_s: float = 1.0, step_memos: dict | None = None,
             clients: int | None = None) -> SimResult:
    """Run every request in ``reqs`` to completion and measure it.

    ``clients``: a closed loop of that many clients. The first ``clients`` requests arrive at
    their ``arrival_s``; each later one (in order) arrives the moment an earlier one finishes,
    as a client sends its next request when its answer is in (no think time). Its arrival time
    is then set by the run and reported as such; the horizon is the last arrival.

    ``horizon_s`` (default: the last arrival) is the window over which ``mean_in_system`` is
    averaged, for Little's law. ``cache_rel_bits`` sets the step-time cache's context bucketing
    (None: exact). ``step_memos``: step times already costed, kept across runs of the same step
    models (a search passes one dict to all its runs; the models must outlive it), else none.
    """
    def cache_of(model):
        memo = None if step_memos is None else step_memos.setdefault((id(model), cache_rel_bits), {})
        return StepTimeCache(model, cache_rel_bits, memo)

    sched = sched or SchedulerConfig()
    fleet = fleet or Fleet()
    _check_steps(reqs, sched, fleet)
    if isinstance(fleet, Disaggregated):
        pcache = cache_of(step_model)
        dmodel = fleet.decode_step_model or step_model
        dcache = pcache if dmodel is step_model else cache_of(dmodel)
        prefill = [Replica(i, step_model, sched, "prefill", pcache, sample_interval_s) for i in range(fleet.prefill_replicas)]
        decode = [Replica(fleet.prefill_replicas + i, dmodel, sched, "decode", dcache, sample_interval_s)
                  for i in range(fleet.decode_replicas)]
        replicas = prefill + decode
        router = Router(fleet.router, prefill)
        drouter = Router(fleet.router, decode)
        caches = [pcache] if dcache is pcache else [pcache, dcache]
        capacity = min(m.kv_capacity_tokens for m in (step_model, dmodel))
    else:
        cache = cache_of(step_model)
        replicas = [Replica(i, step_model, sched, "mixed", cache, sample_interval_s) for i in range(fleet.replicas)]
        router = Router(fleet.router, replicas)
        drouter = None
        caches = [cache]
        capacity = step_model.kv_capacity_tokens
    _check_fits(reqs, sched, capacity)

    n = len(reqs)
    arr = np.asarray(reqs.arrival_s, dtype=float)
    objs = [Request(i, float(arr[i]), int(reqs.input_tokens[i]), int(reqs.output_tokens[i]),
                    reqs.prefix_id[i], int(reqs.prefix_tokens[i])) for i in range(n)]
    arr_list = arr.tolist()
    released = n
    if clients is not None:
        if int(clients) < 1:
            raise FablessError(f"a closed loop needs at least 1 client, got {clients}")
        released = min(int(clients), n)
        arr_list[released:] = [math.inf] * (n - released)  # each sent when an answer comes back
    horizon = float(horizon_s) if horizon_s is not None else (arr_list[-1] if n else 0.0)

    heap: list = []
    seq = 0
    link_free = [0.0] * len(replicas)
    n_transit = 0
    area = 0.0
    area_h = None
    t_last = 0.0
    i = 0
    done = 0
    inf = math.inf
    single = len(replicas) == 1

    def in_system():
        if single:
            return replicas[0].sched.in_system()
        return sum(r.sched.in_system() for r in replicas) + n_transit

    while True:
        ta = arr_list[i] if i < n else inf
        if heap and heap[0][0] <= ta:
            t = heap[0][0]
        elif ta < inf:
            t = ta
        else:
            break
        # time-integral of the number of requests in the system (for Little's law)
        if t > t_last:
            n_now = in_system()
            if area_h is None and t >= horizon:
                area_h = area + n_now * (horizon - t_last)
            area += n_now * (t - t_last)
            t_last = t
        touched = []
        while heap and heap[0][0] <= t:
            _, _, kind, obj = heapq.heappop(heap)
            if kind == _STEP_END:
                rep = obj
                finished, handoff = rep.end_step(t)
                done += len(finished)
                for _ in range(min(len(finished), n - released)):
                    arr_list[released] = t
                    objs[released].arrival_s = t
                    released += 1
                for req in handoff:
                    dst = drouter.pick()
                    req.decode_replica = dst.index
                    start = max(t, link_free[rep.index])
                    xfer = req.computed * dst.step_model.kv_bytes_per_token / fleet.link_bytes_per_s
                    link_free[rep.index] = start + xfer
                    req.transfer_start_s = t  # waiting for the link counts
                    req.transfer_end_s = start + xfer + fleet.link_latency_s
                    n_transit += 1
                    seq += 1
                    heapq.heappush(heap, (req.transfer_end_s, seq, _TRANSFER_END, (rep, dst, req)))
                touched.append(rep)
            else:
                src, dst, req = obj
                src.sched.release(req)
                n_transit -= 1
                dst.sched.add(req)
                touched.append(src)
                touched.append(dst)
        while i < n and arr_list[i] <= t:
            rep = router.pick()
            req = objs[i]
            req.replica = rep.index
            rep.sched.add(req)
            touched.append(rep)
            i += 1
        for rep in touched:
            if not rep.busy:
                d = rep.start_step(t)
                if d is not None:
                    seq += 1
                    heapq.heappush(heap, (t + d, seq, _STEP_END, rep))
    if done != n:
        raise AssertionError(f"simulation ended with {n - done} of {n} requests unfinished")
    if area_h is None:
        area_h = area
    span = horizon  # the window of mean_in_system
    if clients is not None and horizon_s is None:
        horizon = arr_list[-1] if n else 0.0
        span = t_last  # arrivals follow finishes: the mean in system is over the whole run

    df = request_frame(objs)
    summary = summarize(df, slo, warmup_s)
    summary.update(itl_stats([g for rep in replicas for g in rep.itl], warmup_s))
    end_s = t_last
    summary["horizon_s"] = horizon
    summary["arrival_rate_per_s"] = n / horizon if horizon > 0 else float("nan")
    summary["mean_in_system"] = area_h / span if span > 0 else float("nan")
    summary.update(stability(df, horizon))
    if not summary["stable"]:
        # Above capacity the backlog grows with the run's length: latency percentiles then
        # measure the run, not the system, so none is reported.
        for key in [k for k in summary if k.startswith(("ttft_", "tpot_", "e2e_"))]:
            summary[key] = None
        if slo is not None:
            summary["slo_met"] = False
    busy = sum(r.busy_s for r in replicas)
    summary["busy_fraction"] = busy / (end_s * len(replicas)) if end_s > 0 else float("nan")
    summary["steps"] = sum(r.steps for r in replicas)
    summary["mean_batch_seqs"] = sum(r.sum_seqs_s for r in replicas) / busy if busy else float("nan")
    summary["mean_kv_used_fraction"] = (sum(r.sum_kv_blocks_s / r.sched.alloc.num_blocks for r in replicas) / busy
                                        if busy else float("nan"))
    summary["max_kv_used_fraction"] = max(r.max_kv_blocks / r.sched.alloc.num_blocks for r in replicas)
    lookups = sum(r.sched.prefix_lookups for r in replicas)
    summary["prefix_cache_hit_rate"] = sum(r.sched.prefix_hits for r in replicas) / lookups if lookups else float("nan")
    hits = sum(c.hits for c in caches)
    misses = sum(c.misses for c in caches)
    summary["step_cache_hit_rate"] = hits / (hits + misses) if hits + misses else float("nan")
    summary["step_model_calls"] = misses
    ts = pd.DataFrame([s for r in replicas for s in r.samples],
                      columns=["time_s", "replica", "role", "waiting", "running", "prefill_tokens", "decode_seqs",
                               "kv_used_fraction"])
    ts = ts.sort_values(["time_s", "replica"], kind="stable").reset_index(drop=True)
    return SimResult(df, summary, ts)


def _check_fits(reqs: Requests, sched: SchedulerConfig, capacity_tokens: int) -> None:
    if not len(reqs):
        return
    need = np.asarray(reqs.input_tokens) + np.asarray(reqs.output_tokens) - 1
    cap = (int(capacity_tokens) // sched.block_size_tokens) * sched.block_size_tokens
    worst = int(np.argmax(need))
    if need[worst] > cap:
        raise FablessError(f"request {worst} needs KV for {int(need[worst])} tokens but a replica holds {cap}; "
                           "give the replica more memory or cap the lengths")
    if not sched.chunked_prefill and need[worst] > sched.max_num_batched_tokens:
        raise FablessError(f"request {worst} has {int(need[worst])} tokens, more than max_num_batched_tokens "
                           f"({sched.max_num_batched_tokens}); with chunked_prefill off a (recomputed) prompt must fit one step")


def run(step_model: StepCostModel, arrivals, lengths: Lengths | None = None, sched_cfg: SchedulerConfig | None = None,
        seed: int = 0, *, duration_s: float | None = None, fleet: Fleet | Disaggregated | None = None,
        prefix: SharedPrefix | None = None, slo: SLO | None = None, warmup_s: float = 0.0,
        cache_rel_bits: int | None = 6, sample_interval_s: float = 1.0) -> SimResult:
    """Simulate serving: draw the requests (or replay a trace), run them, measure them.

    ``arrivals``: :class:`~fabless.serve.workload.Poisson`, :class:`~fabless.serve.workload.Bursty`
    (with ``lengths`` and ``duration_s``), or a :class:`~fabless.serve.workload.Trace`.
    Same arguments and seed give the same result, row for row.
    """
    rng = np.random.default_rng(seed)
    reqs = make_requests(arrivals, lengths, duration_s, rng, prefix)
    horizon = duration_s if duration_s is not None else None
    return simulate(reqs, step_model, sched_cfg, fleet, slo=slo, warmup_s=warmup_s, horizon_s=horizon,
                    cache_rel_bits=cache_rel_bits, sample_interval_s=sample_interval_s)
