"""`fabless serve`: simulate one serving replica of a scenario under a request load."""

from __future__ import annotations

import typer

from fabless.errors import FablessError
from fabless.loading import read_yaml
from fabless.report.console import console, print_json, print_table

serve_app = typer.Typer()


@serve_app.command("serve")
def serve_cmd(
    scenario: str = typer.Argument(..., help="A scenario YAML with an inference section (its input/output tokens are the request lengths)."),
    rate: str = typer.Option(None, "--rate", help="Poisson arrivals, e.g. 20/s or 1200/min."),
    trace: str = typer.Option(None, "--trace", help="Replay a trace CSV of arrival times and lengths instead."),
    duration: str = typer.Option("600s", "--duration", help="Simulated time for --rate, e.g. 600s, 1h."),
    slo: str = typer.Option(None, "--slo", help="Latency limits, e.g. ttft_p99=2s,tpot_p99=50ms (adds goodput)."),
    max_throughput: bool = typer.Option(False, "--max-throughput", help="Find the highest rate one replica sustains within --slo."),
    length_cv: float = typer.Option(0.0, "--length-cv", help="Draw lengths lognormal with this coefficient of variation around the scenario's means (0 = fixed)."),
    max_batched_tokens: int = typer.Option(8192, "--max-batched-tokens", help="Token budget of one step (vLLM max_num_batched_tokens)."),
    max_seqs: int = typer.Option(256, "--max-seqs", help="Most sequences in one step (vLLM max_num_seqs)."),
    prefix_caching: bool = typer.Option(False, "--prefix-caching", help="Reuse KV of shared prefixes."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same run."),
    json: bool = typer.Option(False, "--json", help="Print machine-readable JSON (the summary)."),
) -> None:
    """Simulate serving with continuous batching, chunked prefill and a paged KV cache; step
    times come from the performance engine for each step's exact batch.

    Prints TTFT, TPOT and end-to-end latency percentiles, throughput and, with --slo, goodput.

    Example: fabless serve examples/scenarios/llama-70b-serving-dgx-h100.yaml --rate 5/s --duration 300s --slo ttft_p99=2s,tpot_p99=50ms

    Example: fabless serve examples/scenarios/llama-70b-serving-dgx-h100.yaml --slo ttft_p99=2s,tpot_p99=50ms --max-throughput
    """
    from fabless.estimate.scenario import scenario_from_dict
    from fabless.estimate.stepcost import EngineStepCost
    from fabless.serve.metrics import SLO
    from fabless.serve.scheduler import SchedulerConfig
    from fabless.serve.search import max_throughput as search_max
    from fabless.serve.sim import run
    from fabless.serve.workload import Fixed, Lengths, LogNormal, Poisson, Trace
    from fabless.units import parse_seconds

    raw = read_yaml(scenario)
    scn = scenario_from_dict(raw if isinstance(raw, dict) else {}, scenario)
    if scn.inference is None:
        raise FablessError(f"{scenario}: serve needs an inference section (input_tokens, output_tokens)")
    if max_throughput and not slo:
        raise FablessError("--max-throughput needs --slo, e.g. --slo ttft_p99=2s,tpot_p99=50ms")
    if not max_throughput and (rate is None) == (trace is None):
        raise FablessError("give exactly one of --rate (e.g. 20/s) or --trace FILE")
    if length_cv < 0:
        raise FablessError(f"--length-cv must be >= 0, got {length_cv}")
    slo_obj = SLO.parse(slo) if slo else None
    inf = scn.inference

    def dist(mean: int):
        return Fixed(mean) if length_cv == 0 else LogNormal(mean, mean * length_cv)

    lengths = Lengths(dist(inf.input_tokens), dist(inf.output_tokens))
    cfg = SchedulerConfig(max_num_batched_tokens=max_batched_tokens, max_num_seqs=max_seqs, prefix_caching=prefix_caching)
    model = EngineStepCost.from_scenario(scn)
    duration_s = parse_seconds(duration, "--duration")
    if max_throughput:
        found = search_max(model, lengths, slo_obj, cfg, seed, duration_s=duration_s)
        summary = dict(found.result.summary) if found.result is not None else {}
        summary["max_rate_per_s"] = found.rate_per_s
        summary["rates_tried"] = [{"rate_per_s": r, "slo_met": m} for r, m in found.tried]
    else:
        arrivals = Poisson(rate) if rate else Trace(trace)
        res = run(model, arrivals, None if trace else lengths, cfg, seed, duration_s=None if trace else duration_s, slo=slo_obj)
        summary = dict(res.summary)
    summary["replica_chips"] = model.plan.tp * model.plan.pp
    summary["kv_capacity_tokens"] = model.kv_capacity_tokens
    if json:
        print_json(summary)
        return
    title = f"{scn.model} on {model.plan.tp * model.plan.pp} x {model.system.chip.name} (tp={model.plan.tp}, pp={model.plan.pp})"
    if max_throughput:
        console.print(f"highest rate within {slo}: [bold]{summary['max_rate_per_s']:.3g} requests/s[/bold] per replica")
    rows = []
    for m in ("ttft", "tpot", "e2e"):
        rows.append([m.upper(), *(summary.get(f"{m}_{s}_s", float("nan")) * 1e3 for s in ("p50", "p90", "p99"))])
    print_table(["latency (ms)", "p50", "p90", "p99"], rows, title=title)
    out = [["requests", summary.get("requests")], ["requests/s", summary.get("throughput_req_per_s")],
           ["output tokens/s", summary.get("output_tokens_per_s")], ["preemptions", summary.get("preemptions")]]
    if "goodput_fraction" in summary:
        out += [["goodput (share within SLO)", summary["goodput_fraction"]], ["SLO met", summary.get("slo_met")]]
    print_table(["", "value"], out)
