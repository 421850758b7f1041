"""The options of `fabless estimate` (its flags, or the fields of `fabless ui`'s form) turned
into a scenario, checked the one way both use, so a wrong value reads the same in either.

    raw = scenario_dict(model="llama-3.1-70b", system="dgx-h100", parallel="tp=8", batch="64",
                        input_tokens=2048, output_tokens=256)
    scn = scenario_from_dict(raw)
    est = estimate_fitting(scn)          # InfeasibleDesign where the plan does not fit
    estimate_json(est, scn)              # what `fabless estimate --json` prints
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fabless import bounds
from fabless.bands import bands_for, json_fields
from fabless.bounds import whole_number
from fabless.estimate.engine import estimate, report_details
from fabless.errors import FablessError, InfeasibleDesign
from fabless.loading import read_yaml
from fabless.report.format import plan as plan_text
from fabless.workload.imported import is_graph_spec

if TYPE_CHECKING:
    from fabless.estimate.engine import Estimate
    from fabless.estimate.scenario import Scenario

#: The precisions `--precision` names (weights; activations stay bf16 for the integer and fp4 ones).
PRECISIONS = ("bf16", "fp8", "int8", "int4", "fp4")
#: Training modes (`--mode`).
MODES = ("pretrain", "full", "lora", "qlora")


def parse_parallel(text: str | None):
    """``--parallel``: ``auto``, or ``tp=8,pp=2,...`` as a dict (None when not given)."""
    if text is None:
        return None
    if text == "auto":
        return "auto"
    out: dict[str, Any] = {}
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


def scenario_dict(scenario: str | None = None, *, model: str | None = None, graph: str | None = None, system: str | None = None,
                  chip: str | None = None, chips: int | None = None, precision: str | None = None,
                  parallel: str | None = None, batch: str | None = None, input_tokens: int | None = None,
                  output_tokens: int | None = None, global_batch: int | None = None, seq_len: int | None = None,
                  mode: str | None = None, lora_rank: int | None = None, software: str | None = None) -> dict:
    """The scenario (a raw dict, as in a scenario YAML) that `fabless estimate`'s options give:
    the file ``scenario`` if any, each option given overriding its field. Numbers are checked
    here, so the error names the flag (0 is refused, not ignored)."""
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
    raw: dict = {}
    if scenario:
        raw = read_yaml(scenario)
        if not isinstance(raw, dict):
            raise FablessError(f"{scenario}: expected a mapping of fields at the top level")
        raw = dict(raw)
    if model and graph:
        raise FablessError("--model and --graph: give one model")
    if model or graph:
        raw["model"] = model or graph
    if system or chip:
        # both: the chip in place of the system's own (scenario system: {name, chip})
        raw["system"] = {k: v for k, v in (("name", system), ("chip", chip)) if v}
    if chips is not None:
        sys_spec = raw.get("system") or {}
        raw["system"] = {**(sys_spec if isinstance(sys_spec, dict) else {"name": sys_spec}), "count": chips}
    if precision:
        raw["precision"] = precision
    p = parse_parallel(parallel)
    if p is not None:
        raw["parallel"] = p
    if batch is not None or input_tokens is not None or output_tokens is not None:
        inf = dict(raw.get("inference") or {})
        if batch is not None:
            inf["batch"] = batch if batch == "auto" else int(batch)
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
    graph_model = raw.get("model")
    if (isinstance(graph_model, dict) or is_graph_spec(graph_model)) and "inference" not in raw and "training" not in raw:
        raw["inference"] = {}  # an imported graph: one forward pass of its example inputs
    return raw


def estimate_fitting(scn: Scenario, origin: str | None = None) -> Estimate:
    """The estimate of the scenario ``scn`` (``origin``: where it came from, for the message); a
    plan that does not fit raises InfeasibleDesign (it is reported as such, never shown as if it ran)."""
    est = estimate(scn)
    if not est.fits:
        raise InfeasibleDesign(f"{origin or 'scenario'}: {est.model} with {plan_text(est.plan, training=est.phase == 'training')} "
                               f"on {est.chips} x {est.chip}: {est.notes[0]}")
    return est


def estimate_json(est: Estimate, scn: Scenario | None = None) -> dict:
    """What `fabless estimate --json` prints: the estimate's fields and each headline figure's
    80% error band (``<metric>_lo``, ``<metric>_hi``, ``bands``); given the scenario ``scn`` it
    was made from, also what its report draws (:func:`fabless.estimate.engine.report_details`:
    each operator, the chip's roofline, the memory one chip has)."""
    details = report_details(scn, est) if scn is not None else {}
    if est.metrics.get("imported_graph"):
        return {**est.to_dict(), **details}  # no band: the bands are measured on transformer models
    return {**est.to_dict(), **json_fields(bands_for(est)), **details}


def headline(est: Estimate) -> list[tuple[str, str, float, str]]:
    """The headline figures people are shown: (label, metric, scale to the unit, unit); a unit
    starting with "%" is a fraction shown as a percentage."""
    m = est.metrics
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
        return lines
    return [
        ("batch per replica", "batch", 1.0, "sequences"),
        ("TTFT", "ttft_s", 1e3, "ms"),
        ("TPOT", "tpot_s", 1e3, "ms"),
        ("end-to-end latency", "e2e_latency_s", 1.0, "s"),
        ("output tokens/s (whole system)", "output_tokens_per_s", 1.0, "tokens/s"),
        ("output tokens/s per chip", "output_tokens_per_s_per_chip", 1.0, "tokens/s"),
    ]


__all__ = ["MODES", "PRECISIONS", "estimate_fitting", "estimate_json", "headline", "parse_parallel", "scenario_dict"]
