"""Predictions of the published CPU inference measurements (category ``cpu``: rows of
``data/measurements/published_cpu.csv``), and the fit of the CPU model's two calibrated
parameters.

Each row's ``config`` names the system preset (an EC2 instance), the model, the weight format
and the request (``system=r8g-4xlarge;model=llama-3.1-8b;format=q4_0;batch=1;input=128;output=128``);
``threads`` is what the run used (llama.cpp's default -t is every core of the instance);
the prediction is :func:`fabless.estimate.estimate` of that scenario, the same path as
``fabless estimate``, so the rows check what the CLI prints. Metric ``decode tokens/s`` is the
generation rate of one sequence, ``1 / TPOT``; ``prompt tokens/s`` is the prompt processing
rate, ``batch x input / TTFT``.

``FIT_IDS``: the rows ``dram_efficiency``, ``gemv_efficiency`` and ``gemm_efficiency``
(data/perf/cpu.yaml) are fitted on, under a third of the rows. Decode, chosen before fitting: a
third of the decode rows (one of 16 Graviton4 cores at Q4_0, one at Q8_0 on 32 cores, one 70B
model on a whole Graviton3). Prompt: the two 4-thread rows (cpu-11 and cpu-14, llama.cpp pull
request #21916 before and after its SVE kernel), where the GEMMs' efficiency alone sets the time
(the weights' one stream is 1% of it, the barriers 0.4%); held out are the same runs on 8 and 16
threads, where barriers and threads are tested, and the 64-thread, 16-token row of pull request
#5780 (March 2024). :func:`fit` refits them (``python scripts/fit_cpu.py``).
"""

from __future__ import annotations

import math

from fabless.estimate import engine
from fabless.estimate.cpu import cpu_of, format_for
from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware.presets import load_system
from fabless.measurements import load_rows
from fabless.perf import cpu as cpu_model
from fabless.validate.core import Skip, parse_config
from fabless.validate.fit import coordinate_descent
from fabless.workload import load_model

#: Rows the CPU model's calibrated parameters were fitted on (chosen before fitting).
FIT_IDS: frozenset[str] = frozenset({"cpu-03", "cpu-06", "cpu-07", "cpu-11", "cpu-14"})

#: The parameters :func:`fit` fits, and the range each may take.
FIT_BOUNDS = {"dram_efficiency": (0.3, 1.0), "gemv_efficiency": (0.01, 1.0), "gemm_efficiency": (0.01, 1.0)}


def scenario_of(row: dict):
    """The scenario a row's config describes."""
    cfg = parse_config(row.get("config", ""))
    missing = [k for k in ("system", "model", "format", "input", "output") if k not in cfg]
    if missing:
        raise Skip(f"config lacks {missing[0]}")
    return scenario_from_dict({
        "model": cfg["model"], "system": {"name": cfg["system"]}, "precision": cfg["format"],
        "parallel": {"tp": 1},
        "inference": {"batch": int(cfg.get("batch", 1)), "input_tokens": int(cfg["input"]),
                      "output_tokens": int(cfg["output"]),
                      **({"threads": int(cfg["threads"])} if "threads" in cfg else {})}}, f"row {row.get('id')}")


def _is_prompt(row: dict) -> bool:
    """True for a prompt-processing row, False for a decode row; Skip for any other metric."""
    metric = str(row.get("metric", "")).lower()
    if metric == "prompt tokens/s":
        return True
    if metric == "decode tokens/s":
        return False
    raise Skip(f"metric '{row.get('metric')}' is neither decode tokens/s nor prompt tokens/s")


def predict(row: dict) -> float:
    prompt = _is_prompt(row)
    scn = scenario_of(row)
    est = engine.estimate(scn)
    if prompt:
        return scn.inference.batch * scn.inference.input_tokens / float(est.metrics["ttft_s"])
    return 1.0 / float(est.metrics["tpot_s"])


def _predict_with(row: dict, params: dict[str, float]) -> float:
    """The row's prediction with the CPU model's parameters ``params`` (a fit's trial values)."""
    prompt = _is_prompt(row)
    scn = scenario_of(row)
    cpu = cpu_of(load_system(scn.system.name), **params)
    inf, cfg, fmt, kv = scn.inference, load_model(scn.model), format_for(scn), cpu_model.KV_BYTES[scn.precision.kv_cache]
    if prompt:
        step = cpu_model.prefill(cfg, cpu, fmt, batch=inf.batch, tokens=inf.input_tokens, kv_bytes=kv, threads=inf.threads)
        return inf.batch * inf.input_tokens / step.time_s
    step = cpu_model.decode_step(cfg, cpu, fmt, batch=inf.batch, context=inf.input_tokens + max(1, inf.output_tokens // 2),
                                 kv_bytes=kv, threads=inf.threads)
    return 1.0 / step.time_s


def cpu_rows() -> list[dict]:
    return [r for r in load_rows() if r["category"] == "cpu"]


def fit(rows: list[dict] | None = None) -> tuple[dict[str, float], float]:
    """Fit ``dram_efficiency``, ``gemv_efficiency`` and ``gemm_efficiency`` on the FIT_IDS rows:
    least squares of ln(predicted / measured). Returns the values and the RMS log error on those
    rows."""
    fit_rows = [r for r in (rows or cpu_rows()) if r["id"] in FIT_IDS]
    start, _ = cpu_model.cpu_params_file()

    def loss(p: dict[str, float]) -> float:
        return sum(math.log(_predict_with(r, p) / float(r["value"])) ** 2 for r in fit_rows) / len(fit_rows)

    values, best = coordinate_descent(loss, {k: start[k] for k in FIT_BOUNDS}, FIT_BOUNDS, sweeps=60, min_step=1e-4)
    return values, math.sqrt(best)


__all__ = ["FIT_BOUNDS", "FIT_IDS", "cpu_rows", "fit", "predict", "scenario_of"]
