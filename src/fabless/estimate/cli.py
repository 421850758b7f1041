"""`fabless estimate`: a training step or an inference request of a model on a system."""

from __future__ import annotations


import typer
from typing import TYPE_CHECKING

from fabless.bands import band_text, bands_for
from fabless.estimate.options import estimate_fitting, estimate_json, headline, scenario_dict
from fabless.report import output_cli
from fabless.report.console import console, print_json, print_table
from fabless.report.format import num, pct, seconds
from fabless.report.format import plan as plan_text

from fabless.estimate.scenario import scenario_from_dict

if TYPE_CHECKING:
    from fabless.estimate.engine import Estimate

estimate_app = typer.Typer()


@estimate_app.command("estimate")
def estimate_cmd(
    scenario: str = typer.Argument(None, help="A scenario YAML file (model, system, precision, parallel, inference|training)."),
    model: str = typer.Option(None, "--model", help="Override or give the model (catalog name or config.json)."),
    graph: str = typer.Option(None, "--graph", help="Or a PyTorch model: FILE.py:FACTORY or FILE.py:FACTORY(name=value,...), "
                              "FACTORY() returning (module, example_inputs); FILE.py is run as Python: trust it. A Llama-style "
                              "decoder is recognised and runs like a catalog model; any other graph runs its example inputs, "
                              "data-parallel only (with --global-batch: training). Needs the torch extra."),
    system: str = typer.Option(None, "--system", help="A system preset or file (e.g. dgx-h100)."),
    chip: str = typer.Option(None, "--chip", help="Or a chip; the smallest system preset built from it gives the topology (with --system: the chip in that system)."),
    chips: int = typer.Option(None, "--chips", help="Total chips (default: the system's own count)."),
    precision: str = typer.Option(None, "--precision", help="bf16, fp8, int8, int4 (weights; activations stay bf16), fp4; on a CPU system q4_0 or q8_0 (llama.cpp)."),
    parallel: str = typer.Option(None, "--parallel", help="tp=8,pp=2[,dp=..,ep=..,cp=..,interleave=..,zero=0-3,shard=..,"
                                 "recompute=none|selective|full|N,micro_batch=..,sp=0|1,attn_dp=0|1,order=tp-cp-dp-pp] or auto "
                                 "(searches every plan; training axes set in the scenario's training section stay fixed)."),
    batch: str = typer.Option(None, "--batch", help="Inference: concurrent sequences per replica, or auto."),
    input_tokens: int = typer.Option(None, "--input-tokens", help="Inference: prompt length."),
    output_tokens: int = typer.Option(None, "--output-tokens", help="Inference: generated tokens."),
    global_batch: int = typer.Option(None, "--global-batch", help="Training: sequences per optimizer step."),
    seq_len: int = typer.Option(None, "--seq-len", help="Training: tokens per sequence."),
    mode: str = typer.Option(None, "--mode", help="Training: pretrain, full (fine-tuning), lora or qlora."),
    lora_rank: int = typer.Option(None, "--lora-rank", help="Training: LoRA adapter rank (lora, qlora)."),
    software: str = typer.Option(None, "--software", help="Software stack (data/estimate/software.yaml, e.g. nemo-24.09, "
                                 "megatron-lm-2021, maxtext, trt-llm-0.6); default: the newest for the chip and phase."),
    json: bool = typer.Option(False, "--json", help="Print machine-readable JSON."),
    html: str = output_cli.HTML,
    plot: str = output_cli.PLOT,
) -> None:
    """Estimate a training step or an inference request of a model on a system, and where the time goes.

    Training: step time, tokens/s, MFU/HFU, memory per chip. Inference: TTFT, TPOT,
    end-to-end latency, output tokens/s, memory per chip. --json gives the same fields.

    Example: fabless estimate examples/scenarios/llama-70b-serving-dgx-h100.yaml

    Example: fabless estimate --model llama-3.1-70b --system tpu-v6e-256 --parallel tp=1,zero=3,recompute=full --global-batch 256 --seq-len 8192

    Example: fabless estimate --model llama-3.1-70b --system dgx-h100 --precision fp8 --parallel tp=8 --batch 64 --input-tokens 2048 --output-tokens 256

    Example: fabless estimate --model llama-3.1-8b --system c8g-24xlarge --precision q4_0 --parallel tp=1 --batch 1 --input-tokens 512 --output-tokens 256

    A recommendation model (DLRM family, `fabless models list`): samples/s, latency (or step
    time), perf/W and what bounds each part; tables placed by the scenario's recsys section.

    Example: fabless estimate --model dlrm-v2 --system mtia-v2-chassis --batch 4096

    Example: fabless estimate --graph examples/models/mlp.py:build --system dgx-h100 --global-batch 64

    --html FILE writes the roofline (each operator placed), where the time goes, memory against
    capacity and the plans as one page that opens offline; --plot FILE.png the roofline as a PNG.

    Example: fabless estimate examples/scenarios/llama-70b-serving-dgx-h100.yaml --html llama-70b.html
    """
    output_cli.check(html, plot)
    raw = scenario_dict(scenario, model=model, graph=graph, system=system, chip=chip, chips=chips, precision=precision,
                        parallel=parallel, batch=batch, input_tokens=input_tokens, output_tokens=output_tokens,
                        global_batch=global_batch, seq_len=seq_len, mode=mode, lora_rank=lora_rank, software=software)
    scn = scenario_from_dict(raw, scenario or "scenario")
    est = estimate_fitting(scn, scenario)
    payload = estimate_json(est, scn)
    output_cli.emit("estimate", payload, html, plot, inputs={"scenario": scenario, "model": model, "graph": graph, "system": system,
                                                             "chip": chip, "precision": precision, "parallel": parallel})
    if json:
        print_json(payload)
        return
    show(est)


def _plan_text(est: Estimate) -> str:
    return plan_text(est.plan, training=est.phase == "training")


def _time_and_memory(est: Estimate, bound_by: dict[str, str] | None = None) -> None:
    """The two tables every estimate prints: where the time goes (largest first; given what bounds
    each part, in the step's order with that column) and memory per chip."""
    total = sum(est.breakdown_s.values())
    if bound_by is None:
        parts = sorted(est.breakdown_s.items(), key=lambda kv: -kv[1])
        print_table(["where the time goes", "time", "share"], [[k, seconds(v), pct(v / total if total else None)] for k, v in parts])
    else:
        print_table(["where the time goes", "time", "share", "bound by"],
                    [[k, seconds(v), pct(v / total if total else None), bound_by.get(k, "")] for k, v in est.breakdown_s.items()])
    print_table(["memory per chip", "GB"], [[k, v / 1e9] for k, v in est.memory_bytes.items() if k != "total"])


def show_recsys(est: Estimate) -> None:
    """Print a recommendation model's estimate: samples/s, latency or step time, perf/W, what
    bounds each part of the step, memory per chip."""
    m = est.metrics
    timed = ("step time", "step_time_s") if est.phase == "training" else ("latency (one batch)", "latency_s")
    rows = [["batch", m["batch"], "samples", ""], [timed[0], m[timed[1]] * 1e3, "ms", ""],
            ["samples/s (whole system)", m["samples_per_s"], "samples/s", ""],
            ["samples/s per chip", m["samples_per_s_per_chip"], "samples/s", ""],
            ["samples/s per W (chips' TDP)", m["samples_per_s_per_w"], "samples/s/W", f"{num(m['watts'])} W" if m["watts"] else "no TDP"],
            ["embedding bytes per sample", m["embedding_bytes_per_sample"], "B", ""],
            ["memory per chip", est.memory_bytes["total"] / 1e9, "GB" + ("" if est.fits else "  DOES NOT FIT"), ""]]
    print_table(["", "value", "unit", ""], rows, title=f"{est.model} {est.phase} on {est.chips} x {est.chip} ({est.system}), "
                f"dense data-parallel, tables: " + ", ".join(f"{v} {k}" for k, v in m["sharding"].items()))
    _time_and_memory(est, bound_by=m["bounds"])
    for note in est.notes:
        console.print(f"note: {note}")


def show(est: Estimate) -> None:
    """Print an estimate for people: headline, memory, and the time breakdown (a recommendation
    model and an imported graph that is not a decoder have their own headline)."""
    if est.metrics.get("imported_graph"):
        show_graph(est)
        return
    if "samples_per_s" in est.metrics:
        show_recsys(est)
        return
    plan = _plan_text(est)
    m = est.metrics
    lines = headline(est)
    bands = bands_for(est)
    rows = []
    for label, key, scale, unit in lines:
        percent = unit.startswith("%")
        value = pct(m[key]) if percent else m[key] if scale == 1.0 else m[key] * scale
        band = band_text(bands[key], scale, unit.split(" ")[0]) if key in bands else ""
        rows.append([label, value, unit[1:].strip() if percent else unit, band])
    rows.append(["memory per chip", est.memory_bytes["total"] / 1e9, "GB" + ("" if est.fits else "  DOES NOT FIT"), ""])
    print_table(["", "value", "unit", "error band (docs/validation.md)"], rows, title=f"{est.model} {est.phase} on {est.chips} x {est.chip} ({est.system}), {plan}")
    _time_and_memory(est)
    if est.alternatives and "loses_on" in est.alternatives[0]:
        print_table(["next best plans", "step time", "slower by", "loses on (largest excess term)"],
                    [[plan_text(a, training=True), seconds(a["step_time_s"]), pct(a["slower_by"], signed=True),
                      f"{a['loses_on']} +{seconds(a['loses_by_s'])}"] for a in est.alternatives])
    elif est.alternatives:
        print_table(["next best plans", "output tokens/s", "TTFT", "TPOT"],
                    [[plan_text(a["plan"]), a.get("output_tokens_per_s"), seconds(a.get("ttft_s")), seconds(a.get("tpot_s"))]
                     for a in est.alternatives])
    for note in est.notes:
        console.print(f"note: {note}")


def show_graph(est: Estimate) -> None:
    """Print the estimate of an imported graph run operator by operator (no error band: the
    bands are measured on transformer models)."""
    m = est.metrics
    unit = "tokens" if "tokens_per_s" in m else "samples"
    if est.phase == "training":
        lines = [("step time", m["step_time_s"], "s"), ("micro-batches per chip", m["micro_batches"], ""),
                 (f"{unit}/s (whole system)", m[f"{unit}_per_s"], f"{unit}/s"),
                 (f"{unit}/s per chip", m[f"{unit}_per_s_per_chip"], f"{unit}/s"),
                 ("MFU", pct(m["mfu"]), f"of dense {m['peak_dtype']} peak"),
                 ("model FLOPs per step", m["model_flops_per_step"], "FLOP")]
    else:
        lines = [("forward pass", m["forward_time_s"] * 1e3, "ms"), ("batch", m["batch"], "as traced"),
                 (f"{unit}/s (whole system)", m[f"{unit}_per_s"], f"{unit}/s"),
                 (f"{unit}/s per chip", m[f"{unit}_per_s_per_chip"], f"{unit}/s"),
                 ("MFU", pct(m["mfu"]), f"of dense {m['peak_dtype']} peak"), ("FLOPs per forward", m["flops_per_forward"], "FLOP")]
    lines.append(("memory per chip", est.memory_bytes["total"] / 1e9, "GB"))
    print_table(["", "value", "unit"], [list(r) for r in lines],
                title=f"{est.model} {est.phase} on {est.chips} x {est.chip} ({est.system}), dp={est.plan.dp}")
    _time_and_memory(est)
    for note in est.notes:
        console.print(f"note: {note}")


__all__ = ["estimate_app", "show", "show_graph", "show_recsys"]
