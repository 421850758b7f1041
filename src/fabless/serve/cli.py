"""`fabless serve`: simulate one serving replica of a scenario under a request load."""

from __future__ import annotations

import typer

from fabless.bands import band_text, json_fields, serve_bands
from fabless.bounds import MAX_BATCH, MAX_CONCURRENCY, MAX_SEQ_TOKENS, MAX_SIM_REQUESTS, finite_number, whole_number
from fabless.errors import FablessError
from fabless.loading import read_yaml
from fabless.report import output_cli
from fabless.report.console import console, print_json, print_table, progress
from fabless.report.format import Num, num, pct
from fabless.report.format import plan as plan_text

serve_app = typer.Typer()


@serve_app.command("serve")
def serve_cmd(
    scenario: str = typer.Argument(..., help="A scenario YAML with an inference section (its input/output tokens are the request lengths)."),
    rate: str = typer.Option(None, "--rate", help="Open loop: Poisson arrivals, e.g. 20/s or 1200/min."),
    trace: str = typer.Option(None, "--trace", help="Replay a trace CSV of arrival times and lengths instead."),
    offline: int = typer.Option(None, "--offline", help="Offline: hand N requests over at once and report the saturated throughput (MLPerf Offline, trtllm-bench, vLLM's throughput script)."),
    concurrency: int = typer.Option(None, "--concurrency", help="Closed loop: C clients, each sending its next request when the last one finishes (benchmark_serving --max-concurrency, genai-perf)."),
    max_throughput: bool = typer.Option(False, "--max-throughput", help="Find the highest rate one replica sustains: within --slo, or without it the highest rate whose backlog does not grow."),
    mlperf: str = typer.Option(None, "--mlperf", help="Run the MLPerf Inference LLM benchmark of the scenario's model: server, interactive (highest rate within its p99 TTFT/TPOT limits) or offline; lengths from the benchmark's dataset where fabless ships it."),
    lengths_spec: str = typer.Option(None, "--lengths", help="Request lengths: fixed (the scenario's), a dataset (llama2-70b-99, mixtral-8x7b) or a CSV of input_tokens,output_tokens."),
    duration: str = typer.Option("600s", "--duration", help="Simulated time for --rate and the rate searches, e.g. 600s, 1h."),
    slo: str = typer.Option(None, "--slo", help="Latency limits, e.g. ttft_p99=2s,tpot_p99=50ms (adds goodput)."),
    length_cv: float = typer.Option(0.0, "--length-cv", help="With fixed lengths: draw them lognormal with this coefficient of variation around the scenario's means (0 = fixed)."),
    max_batched_tokens: int = typer.Option(8192, "--max-batched-tokens", help="Token budget of one step (vLLM max_num_batched_tokens)."),
    max_seqs: int = typer.Option(256, "--max-seqs", help="Most sequences in one step (vLLM max_num_seqs)."),
    prefix_caching: bool = typer.Option(False, "--prefix-caching", help="Reuse KV of shared prefixes."),
    mixed_chunks: bool = typer.Option(True, "--mixed-chunks/--no-mixed-chunks", help="Steps carry prefill chunks and decodes together (vLLM); --no-mixed-chunks runs waiting prompts in steps of their own first (SGLang's default)."),
    reserve_output: float = typer.Option(0.0, "--reserve-output", help="Admit a prompt only if every running request and it can still grow by this fraction (0-1) of their answers' remaining tokens, earlier finishers freeing theirs (SGLang: 1 for ignore_eos requests with the radix cache off); 0 admits greedily and preempts when decodes run out (vLLM)."),
    memory_fraction: float = typer.Option(None, "--memory-fraction", help="Share of each chip's HBM the engine takes for weights, activations and KV cache (vLLM --gpu-memory-utilization, SGLang --mem-fraction-static); default the engine-wide 0.9."),
    seed: int = typer.Option(0, "--seed", help="Random seed; the same seed gives the same run."),
    json: bool = typer.Option(False, "--json", help="Print machine-readable JSON (the summary)."),
    html: str = output_cli.HTML,
    plot: str = output_cli.PLOT,
) -> None:
    """Simulate serving with continuous batching, chunked prefill and a paged KV cache; step
    times come from the performance engine for each step's exact batch.

    Loads: open loop (--rate, --trace), closed loop (--concurrency), offline (--offline), the
    highest sustainable rate (--max-throughput, with or without --slo) and MLPerf's LLM
    scenarios (--mlperf). Prints TTFT, TPOT and end-to-end latency, throughput and, with an
    SLO, goodput.

    Example: fabless serve examples/scenarios/llama-70b-serving-dgx-h100.yaml --rate 5/s --duration 300s --slo ttft_p99=2s,tpot_p99=50ms

    Example: fabless serve examples/scenarios/llama-70b-serving-dgx-h100.yaml --concurrency 32

    Example: fabless serve examples/scenarios/llama-70b-serving-dgx-h100.yaml --offline 2000 --lengths llama2-70b-99
    """
    from fabless.estimate.scenario import require_servable, scenario_from_dict
    from fabless.estimate.stepcost import EngineStepCost
    from fabless.serve import modes
    from fabless.serve.metrics import SLO, latency_quantiles
    from fabless.serve.scheduler import SchedulerConfig
    from fabless.serve.workload import Poisson, Trace
    from fabless.units import parse_seconds

    output_cli.check(html, plot)
    raw = read_yaml(scenario)
    scn = scenario_from_dict(raw if isinstance(raw, dict) else {}, scenario)
    require_servable(scn, "fabless serve")
    chosen = [f for f, on in (("--rate", rate is not None), ("--trace", trace is not None), ("--offline", offline is not None),
                              ("--concurrency", concurrency is not None), ("--max-throughput", max_throughput),
                              ("--mlperf", mlperf is not None)) if on]
    if mlperf == "offline" and offline is not None:
        chosen.remove("--offline")  # --mlperf offline --offline N: the benchmark with N requests
    if len(chosen) != 1:
        raise FablessError("give exactly one load: --rate (e.g. 20/s), --trace FILE, --offline N, --concurrency C, "
                           "--max-throughput or --mlperf server|interactive|offline"
                           + (f" (got {', '.join(chosen)})" if chosen else ""))
    finite_number(length_cv, "--length-cv", lo=0, hi=100, unit="(coefficient of variation)")
    finite_number(reserve_output, "--reserve-output", lo=0, hi=1, unit="(fraction of the answers still to come)")
    if memory_fraction is not None:
        finite_number(memory_fraction, "--memory-fraction", lo=0, hi=1, lo_open=True, unit="(share of HBM)")
    _check_scheduler_flags(max_batched_tokens, max_seqs, seed)
    if length_cv and lengths_spec not in (None, "fixed"):
        raise FablessError("--length-cv draws around the scenario's fixed lengths; it does not combine with --lengths "
                           f"{lengths_spec}")
    if offline is not None:
        whole_number(offline, "--offline", hi=MAX_SIM_REQUESTS, unit="requests")
    if concurrency is not None:
        whole_number(concurrency, "--concurrency", hi=MAX_CONCURRENCY, unit="clients")
    slo_obj = SLO.parse(slo) if slo else None
    inf = scn.inference
    bench = None
    if mlperf is not None:
        bench, entry = modes.mlperf_benchmark(scn.model, mlperf)
        if mlperf != "offline":
            if slo_obj is not None:
                raise FablessError(f"--mlperf {mlperf} sets its own limits (MLPerf {bench}); leave out --slo")
            slo_obj = modes.mlperf_slo(entry, mlperf)
        if lengths_spec is None and entry.get("dataset"):
            lengths_spec = entry["dataset"]
    lengths = modes.named_lengths(lengths_spec, inf.input_tokens, inf.output_tokens, length_cv)
    cfg = SchedulerConfig(max_num_batched_tokens=max_batched_tokens, max_num_seqs=max_seqs, prefix_caching=prefix_caching,
                          mixed_chunks=mixed_chunks, reserve_output_fraction=reserve_output)
    model = EngineStepCost.from_scenario(scn, memory_fraction)
    duration_s = parse_seconds(duration, "--duration")
    # the load's label and a line for its progress bar (max-throughput reports each run)
    if offline is not None or mlperf == "offline":
        label, text = "offline", f"{offline or modes.offline_requests(cfg)} requests at once"
    elif concurrency is not None:
        label, text = "closed loop", f"{concurrency} clients: searching the steady rate"
    elif max_throughput or mlperf is not None:
        label, text = "max-throughput", ""
    else:
        label, text = "", ""
    with progress(label, enabled=not json and bool(label)) as bar:
        bar.update(done=0, text=text)
        runs: list[bool] = []

        def on_run(rate_per_s: float, met: bool) -> None:
            runs.append(met)
            bar.update(done=len(runs), text=f"{num(rate_per_s, 3)} requests/s {'met' if met else 'missed'} the "
                                            f"{'SLO' if slo_obj is not None else 'stability test'}")

        mode, summary, requests = modes.run_load(
            model, cfg, lengths, seed=seed, duration_s=duration_s, slo=slo_obj, on_run=on_run,
            offline_requests=(offline or modes.offline_requests(cfg)) if (offline is not None or mlperf == "offline") else None,
            concurrency=concurrency, max_throughput=max_throughput or mlperf in ("server", "interactive"),
            arrivals=(Poisson(rate) if rate else Trace(trace)) if (rate or trace) else None,
            no_requests=(f"{trace}: the trace holds no requests" if trace else
                         f"no request arrived in --duration {duration} at --rate {rate}; lengthen --duration"))
    summary.pop("window_s", None)
    summary["mode"] = mode
    if bench is not None:
        summary["mlperf"] = {"benchmark": bench, "scenario": mlperf,
                             "limits_s": dict(slo_obj.limits_s) if slo_obj is not None and mlperf != "offline" else None}
    summary["lengths"] = lengths_spec or "fixed"
    summary["replica_chips"] = model.plan.tp * model.plan.pp
    summary["kv_capacity_tokens"] = model.kv_capacity_tokens
    if requests is not None and len(requests):
        summary["latency_quantiles"] = latency_quantiles(requests)
    if slo_obj is not None:
        summary["slo_limits_s"] = dict(slo_obj.limits_s)
    bands = serve_bands(summary, model.system.chip.name, mode)
    sw = model.software
    payload = {"scenario": scenario, "model": scn.model, "chip": model.system.chip.name, "plan": model.plan.as_dict(),
               "software": sw.name if sw is not None else None, **summary, **json_fields(bands)}
    output_cli.emit("serve", payload, html, plot, inputs={"rate": rate, "trace": trace, "offline": offline, "concurrency": concurrency,
                                                          "max_throughput": max_throughput or None, "mlperf": mlperf,
                                                          "duration": duration, "slo": slo, "seed": seed},
                    title=f"fabless serve: {scn.model} on {model.plan.tp * model.plan.pp} x {model.system.chip.name}")
    if json:
        print_json(payload)
        return
    title = f"{scn.model} on {model.plan.tp * model.plan.pp} x {model.system.chip.name} ({plan_text(model.plan)})"
    _print_serve(mode, summary, bands, slo_obj, bench, mlperf, title)
    if sw is not None:
        console.print(f"note: {sw.describe()}")


def _print_serve(mode: str, summary: dict, bands: dict, slo_obj, bench, mlperf, title: str) -> None:
    """The tables of one ``fabless serve`` run, for people (``--json`` prints the payload instead)."""
    band_head = "error band (docs/validation.md)"
    if mode == "offline":
        print_table(["offline: " + f"{summary['requests']} requests at once", "value", band_head], [
            ["output tokens/s (steady)", summary["output_tokens_per_s"], band_text(bands.get("output_tokens_per_s"), unit="tokens/s")],
            ["requests/s (steady)", summary["rate_per_s"], band_text(bands.get("rate_per_s"), unit="requests/s")],
            ["output tokens/s over the whole run", summary["output_tokens_per_s_makespan"],
             band_text(bands.get("output_tokens_per_s_makespan"), unit="tokens/s")],
            ["time to finish all (s)", summary["makespan_s"], band_text(bands.get("makespan_s"), unit="s")],
            ["mean sequences per step", summary["mean_batch_seqs"], ""],
            ["preemptions", summary["preemptions"], ""]], title=title)
        return
    if mode == "closed_loop":
        print_table([f"closed loop: {summary['concurrency']} clients", "value", band_head], [
            ["requests/s", summary["rate_per_s"], band_text(bands.get("rate_per_s"), unit="requests/s")],
            ["output tokens/s", summary["output_tokens_per_s"], band_text(bands.get("output_tokens_per_s"), unit="tokens/s")],
            ["TTFT mean (ms)", summary["ttft_s"] * 1e3, band_text(bands.get("ttft_s"), 1e3, "ms")],
            ["TPOT median (ms)", summary["tpot_s"] * 1e3, band_text(bands.get("tpot_s"), 1e3, "ms")],
            ["E2E mean (s)", summary["e2e_s"], band_text(bands.get("e2e_s"), unit="s")]], title=title)
        return
    if summary.get("stable") is False:
        console.print(
            f"[bold red]unstable[/bold red]: the offered {num(summary.get('arrival_rate_per_s'), 3)} requests/s exceed "
            f"what one replica completes (the backlog grew by {num(round(summary['backlog_growth']))} requests over the second half "
            f"of the run); latency has no steady value. Lower --rate or use fabless fleet."
        )
        return
    if summary.get("near_capacity"):
        console.print(
            f"[bold yellow]near capacity[/bold yellow]: the backlog still grew by {num(round(summary['backlog_growth']))} requests over the "
            f"second half of the run; the rate is at what one replica completes, so the latencies below grow with --duration."
        )
    if mode == "max_throughput":
        limits = ", ".join(f"{k}={v * 1e3:g} ms" for k, v in slo_obj.limits_s.items()) if slo_obj is not None else ""
        within = (f"MLPerf {bench} {mlperf} ({limits})" if bench else limits or "a backlog that does not grow")
        console.print(f"highest rate within {within}: [bold]{num(summary['max_rate_per_s'], 3)} requests/s[/bold] per replica "
                      f"({band_text(bands.get('max_rate_per_s'), unit='requests/s')})")
    rows = []
    for m in ("ttft", "tpot", "e2e"):
        rows.append([m.upper(), *(summary.get(f"{m}_{s}_s", float("nan")) * 1e3 for s in ("p50", "p90", "p99"))])
        rows[-1].append(band_text(bands.get(f"{m}_p50_s"), 1e3, "ms"))
    print_table(["latency (ms)", "p50", "p90", "p99", "p50 error band (docs/validation.md)"], rows, title=title)
    out = [["requests", summary.get("requests"), ""],
           ["requests/s", summary.get("throughput_req_per_s"), ""],
           ["output tokens/s", summary.get("output_tokens_per_s"),
            band_text(bands.get("output_tokens_per_s")) if mode == "max_throughput" else ""],
           ["preemptions", summary.get("preemptions"), ""]]
    if "goodput_fraction" in summary:
        out += [["goodput (share within SLO)", pct(summary["goodput_fraction"]), ""], ["SLO met", summary.get("slo_met"), ""]]
    print_table(["", "value", "error band"], out)


def _check_scheduler_flags(max_batched_tokens: int, max_seqs: int, seed: int) -> None:
    whole_number(max_batched_tokens, "--max-batched-tokens", hi=MAX_SEQ_TOKENS, unit="tokens")
    whole_number(max_seqs, "--max-seqs", hi=MAX_BATCH, unit="sequences")
    whole_number(seed, "--seed", lo=0, hi=2**63 - 1)


@serve_app.command("fleet")
def fleet_cmd(
    scenario: str = typer.Argument(..., help="A scenario YAML with an inference section (model, precision, request lengths)."),
    demand: str = typer.Option(..., "--demand", help="Requests to serve, e.g. 20000/min or 300/s."),
    slo: str = typer.Option(..., "--slo", help="Latency limits, e.g. ttft_p99=2s,tpot_p99=50ms."),
    chips: str = typer.Option(None, "--chips", help="Comma-separated chips (presets or chip YAMLs) or system YAMLs; default: the scenario's chip."),
    length_cv: float = typer.Option(0.0, "--length-cv", help="Lognormal lengths with this coefficient of variation (0 = fixed)."),
    duration: str = typer.Option("60s", "--duration", help="Simulated time of each run of the rate search."),
    max_layouts: int = typer.Option(4, "--max-layouts", help="Aggregated layouts simulated per chip (smallest replicas first)."),
    max_batched_tokens: int = typer.Option(8192, "--max-batched-tokens", help="Token budget of one step."),
    max_seqs: int = typer.Option(256, "--max-seqs", help="Most sequences in one step."),
    params: str = typer.Option(None, "--params", help="YAML overriding economics defaults."),
    site_mw: float = typer.Option(None, "--site-mw", help="The site's power (IT and cooling, MW): how many chips it can power, and whether each fleet fits."),
    rack_kw: float = typer.Option(None, "--rack-kw", help="One rack's power (kW): chips per rack and racks needed."),
    seed: int = typer.Option(0, "--seed", help="Random seed (the same seed gives the same answer)."),
    json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    html: str = output_cli.HTML,
    plot: str = output_cli.PLOT,
) -> None:
    """For each chip: the replica layout (tp, pp, aggregated or 1P:nD disaggregated) that serves
    --demand within --slo with the fewest chips, the chips needed, $/month and $/Mtoken.

    Each layout's highest rate per replica (or per prefill+decode group) within the SLO comes
    from the simulator; chips = ceil(demand / rate) x chips per unit; $/month = chips x $/h x 730.

    Example: fabless fleet examples/scenarios/llama-70b-serving-dgx-h100.yaml --demand 20000/min --slo ttft_p99=2s,tpot_p99=50ms --chips h100-sxm,b200,tpu-v6e,trainium2,examples/scenarios/hardware/my-chip.yaml
    """
    from fabless.economics import load_params
    from fabless.estimate.scenario import require_servable, scenario_from_dict
    from fabless.serve.fleet import FleetOptions, fleet_rows
    from fabless.serve.metrics import SLO
    from fabless.serve.scheduler import SchedulerConfig
    from fabless.serve.modes import named_lengths
    from fabless.units import parse_rate_per_s, parse_seconds

    output_cli.check(html, plot)
    raw = read_yaml(scenario)
    if not isinstance(raw, dict):
        raise FablessError(f"{scenario}: a scenario is a mapping (model, system, precision, inference)")
    scn = scenario_from_dict(raw, scenario)
    require_servable(scn, "fabless fleet")
    finite_number(length_cv, "--length-cv", lo=0, hi=100, unit="(coefficient of variation)")
    _check_scheduler_flags(max_batched_tokens, max_seqs, seed)
    whole_number(max_layouts, "--max-layouts", hi=1000)
    demand_s = parse_rate_per_s(demand, "--demand")
    if not demand_s > 0:
        raise FablessError(f"--demand must be > 0, got {demand}")
    slo_obj = SLO.parse(slo)
    duration_s = parse_seconds(duration, "--duration")
    if chips:
        refs = [r.strip() for r in chips.split(",") if r.strip()]
    else:
        from fabless.estimate.engine import resolve_system

        refs = [resolve_system(scn).chip.name]
    if not refs:
        raise FablessError("--chips: give at least one chip, e.g. --chips h100-sxm,b200")
    from fabless.economics.tco import check_refs

    check_refs(refs)  # a misspelt chip is an error (exit 2), not a row of the fleet table
    inf = scn.inference
    for flag, v in (("--site-mw", site_mw), ("--rack-kw", rack_kw)):
        if v is not None:
            finite_number(v, flag, lo=1e-6, hi=1e6, unit="MW" if flag == "--site-mw" else "kW")
    opts = FleetOptions(slo_obj, SchedulerConfig(max_num_batched_tokens=max_batched_tokens, max_num_seqs=max_seqs),
                        seed=seed, duration_s=duration_s, max_layouts=max_layouts, site_mw=site_mw, rack_kw=rack_kw)
    with progress("fleet", total=len(refs), enabled=not json) as bar:
        rows = fleet_rows(raw, refs, demand_s, named_lengths(None, inf.input_tokens, inf.output_tokens, length_cv), opts,
                          load_params(params), on_progress=lambda done, total, text: bar.update(done, total, text))
    payload = {"scenario": scenario, "demand_per_s": demand_s, "slo": slo, "rows": rows}
    output_cli.emit("fleet", {**payload, "model": scn.model}, html, plot,
                    inputs={"demand": demand, "chips": chips, "duration": duration, "seed": seed})
    if json:
        print_json(payload)
        return

    table = []
    for r in rows:
        if "error" in r:
            table.append([r["chip"], "-", *[None] * 6])
            continue
        table.append([r["chip"], r["best"], Num(num(r["rate_per_s"], 3)), r["units"], r["chips"],
                      r["buy_usd_per_month"], r["buy_usd_per_mtoken_output"], r["rent_usd_per_month"]])
    print_table(["chip", "best layout", "req/s per unit", "units", "chips", "buy $/month", "buy $/M out tok", "rent $/month"],
                table, title=f"{scn.model}: {num(demand_s)} requests/s within {slo}")
    power = [[r["chip"], r["facility_mw"], r.get("site_powerable_chips"),
              None if "fits_site" not in r else ("yes" if r["fits_site"] else "no"), r.get("chips_per_rack"), r.get("racks")]
             for r in rows if "error" not in r]
    if power:
        print_table(["chip", "fleet MW at the wall (server x PUE)", "chips the site powers", "fits the site",
                     "chips per rack", "racks"], power, title="power" + (f": site {num(site_mw)} MW" if site_mw else "")
                    + (f", racks of {num(rack_kw)} kW" if rack_kw else ""))
    for r in rows:
        if "error" in r:
            console.print(f"{r['chip']}: {r['error']}")
        else:
            tried = "; ".join(f"{t['layout']} {num(t['rate_per_s'], 3)}/s" + (f" -> {num(t['chips'])} chips" if "chips" in t else "")
                              for t in r["layouts"])
            console.print(f"{r['chip']} ({r['price_basis']}): {tried}")
            if r.get("system_note"):
                console.print(f"  {r['system_note']}")
