"""`fabless estimate`: a training step or an inference request of a model on a system."""

from __future__ import annotations

from pathlib import Path

import typer
from typing import TYPE_CHECKING

from fabless import bounds
from fabless.bands import band_text, bands_for, json_fields
from fabless.bounds import whole_number
from fabless.errors import FablessError, InfeasibleDesign
from fabless.loading import read_yaml
from fabless.report import output_cli
from fabless.report.console import console, print_json, print_table
from fabless.report.format import num, pct, seconds
from fabless.report.format import plan as plan_text

if TYPE_CHECKING:
    from fabless.estimate.engine import Estimate

estimate_app = typer.Typer()


def _parse_parallel(text: str | None):
    if text is None:
        return None
    if text == "auto":
        return "auto"
    out = {}
    for part in text.split(","):
        key, _, value = part.partition("=")
        key, value = key.strip(), value.strip()
        if key in ("recompute", "order") and value and not (value.isascii() and value.isdigit()):
            out[key] = value
            continue
        if key in ("sp", "attn_dp"):
            if value.lower() not in ("0", "1", "true", "false"):
                raise FablessError(f"--parallel: {key} takes 0/1 or true/false, got '{value}'")
            out[key] = value.lower() in ("1", "true")
            continue
        if not (value.isascii() and value.isdigit()):
            raise FablessError(f"--parallel: cannot read '{part}'; write e.g. tp=8,pp=2,zero=3,recompute=full or auto")
        out[key] = int(value)
    return out


@estimate_app.command("estimate")
def estimate_cmd(
    scenario: str = typer.Argument(None, help="A scenario YAML file (model, system, precision, parallel, inference|training)."),
    model: str = typer.Option(None, "--model", help="Override or give the model (catalog name or config.json)."),
    system: str = typer.Option(None, "--system", help="A system preset or file (e.g. dgx-h100)."),
    chip: str = typer.Option(None, "--chip", help="Or a chip; the smallest system preset built from it gives the topology (with --system: the chip in that system)."),
    chips: int = typer.Option(None, "--chips", help="Total chips (default: the system's own count)."),
    precision: str = typer.Option(None, "--precision", help="bf16, fp8, int8, int4 (weights; activations stay bf16), fp4."),
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

    Example: fabless estimate examples/scenarios/llama-70b-serving-dgx-h100.yaml --html llama-70b.html

    --html FILE writes the roofline, time breakdown, memory and plans as one page that opens
    offline; --plot FILE.png the roofline as a PNG.
    """
    # Numeric flags are checked here so the error names the flag (0 is refused, not ignored).
    for flag, val, hi in (("--chips", chips, bounds.MAX_CHIPS), ("--input-tokens", input_tokens, bounds.MAX_SEQ_TOKENS),
                          ("--output-tokens", output_tokens, bounds.MAX_SEQ_TOKENS),
                          ("--global-batch", global_batch, bounds.MAX_BATCH), ("--seq-len", seq_len, bounds.MAX_SEQ_TOKENS),
                          ("--lora-rank", lora_rank, 2**16)):
        if val is not None:
            whole_number(val, flag, hi=hi)
    if batch is not None and batch != "auto":
        if not (batch.isascii() and batch.isdigit()):
            raise FablessError(f"--batch must be a whole number of sequences or auto, got '{batch}'")
        whole_number(int(batch), "--batch", hi=bounds.MAX_BATCH, unit="sequences")
    output_cli.check(html, plot)
    raw: dict = {}
    if scenario:
        raw = read_yaml(scenario)
        if not isinstance(raw, dict):
            raise FablessError(f"{scenario}: expected a mapping of fields at the top level")
        raw = dict(raw)
    if model:
        raw["model"] = model
    if system or chip:
        # both: the chip in place of the system's own (scenario system: {name, chip})
        raw["system"] = {k: v for k, v in (("name", system), ("chip", chip)) if v}
    if chips is not None:
        sys_spec = raw.get("system") or {}
        raw["system"] = {**(sys_spec if isinstance(sys_spec, dict) else {"name": sys_spec}), "count": chips}
    if precision:
        raw["precision"] = precision
    p = _parse_parallel(parallel)
    if p is not None:
        raw["parallel"] = p
    if batch is not None or input_tokens is not None or output_tokens is not None:
        inf = dict(raw.get("inference") or {})
        if batch is not None:
            inf["batch"] = batch if batch == "auto" else int(batch) if batch.isascii() and batch.isdigit() else batch
        if input_tokens is not None:
            inf["input_tokens"] = input_tokens
        if output_tokens is not None:
            inf["output_tokens"] = output_tokens
        raw["inference"] = inf
    if global_batch is not None or seq_len is not None or mode or lora_rank is not None:
        tr = dict(raw.get("training") or {})
        for key, val in (("global_batch", global_batch), ("seq_len", seq_len), ("mode", mode), ("lora_rank", lora_rank)):
            if val is not None:
                tr[key] = val
        raw["training"] = tr
    if software:
        raw["software"] = software
    if not raw:
        raise FablessError("estimate: give a scenario file or --model and --system; see fabless estimate --help")
    from fabless.estimate.engine import estimate, report_details
    from fabless.estimate.scenario import scenario_from_dict

    scn = scenario_from_dict(raw, scenario or "scenario")
    est = estimate(scn)
    if not est.fits:
        # A plan that does not fit is reported as such, never printed as if it ran.
        raise InfeasibleDesign(f"{scenario or 'scenario'}: {est.model} with {_plan_text(est)} on {est.chips} x {est.chip}: {est.notes[0]}")
    payload = {**est.to_dict(), **json_fields(bands_for(est)), **report_details(scn, est)}
    output_cli.emit("estimate", payload, html, plot, inputs={"scenario": scenario, "model": model, "system": system, "chip": chip,
                                                             "precision": precision, "parallel": parallel})
    if json:
        print_json(payload)
        return
    show(est)


def _plan_text(est: Estimate) -> str:
    return plan_text(est.plan, training=est.phase == "training")


def show(est: Estimate) -> None:
    """Print an estimate for people: headline, memory, and the time breakdown."""
    plan = _plan_text(est)
    m = est.metrics
    # (label, metric, scale to the printed unit, unit); banded metrics get their 80% interval;
    # a unit of "%" prints the fraction as a percentage
    if est.phase == "training":
        lines = [
            ("step time", "step_time_s", 1.0, "s"),
            ("tokens/s (whole system)", "tokens_per_s", 1.0, "tokens/s"),
            ("tokens/s per chip", "tokens_per_s_per_chip", 1.0, "tokens/s"),
            ("MFU", "mfu", 100.0, f"% of dense {m['peak_dtype']} peak"),
            ("HFU (with recompute)", "hfu", 100.0, "%"),
            ("pipeline bubble", "pipeline_bubble_fraction", 100.0, "% of the step"),
        ]
        if "training_time_s" in m:
            lines.append(("training run", "training_time_s", 1 / 86400, "days"))
    else:
        lines = [
            ("batch per replica", "batch", 1.0, "sequences"),
            ("TTFT", "ttft_s", 1e3, "ms"),
            ("TPOT", "tpot_s", 1e3, "ms"),
            ("end-to-end latency", "e2e_latency_s", 1.0, "s"),
            ("output tokens/s (whole system)", "output_tokens_per_s", 1.0, "tokens/s"),
            ("output tokens/s per chip", "output_tokens_per_s_per_chip", 1.0, "tokens/s"),
        ]
    bands = bands_for(est)
    rows = []
    for label, key, scale, unit in lines:
        percent = unit.startswith("%")
        value = pct(m[key]) if percent else m[key] if scale == 1.0 else m[key] * scale
        band = band_text(bands[key], scale, unit.split(" ")[0]) if key in bands else ""
        rows.append([label, value, unit[1:].strip() if percent else unit, band])
    rows.append(["memory per chip", est.memory_bytes["total"] / 1e9, "GB" + ("" if est.fits else "  DOES NOT FIT"), ""])
    print_table(["", "value", "unit", "error band (docs/validation.md)"], rows, title=f"{est.model} {est.phase} on {est.chips} x {est.chip} ({est.system}), {plan}")
    total = sum(est.breakdown_s.values())
    br = sorted(est.breakdown_s.items(), key=lambda kv: -kv[1])
    print_table(["where the time goes", "time", "share"], [[k, seconds(v), pct(v / total if total else None)] for k, v in br])
    mem = [[k, v / 1e9] for k, v in est.memory_bytes.items() if k != "total"]
    print_table(["memory per chip", "GB"], mem)
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


__all__ = ["estimate_app", "show"]
