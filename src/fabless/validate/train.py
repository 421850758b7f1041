"""Predictions of the published training measurements (category ``train``), and the
scenario-mapping machinery :mod:`fabless.validate.infer` shares.

Each row id is mapped in ``data/measurements/scenarios.yaml`` to a fabless scenario
(model, system, precision, parallel plan, training or inference shape) with a note on how
the row's config maps, optionally ``kernels`` (:class:`fabless.estimate.engine.Kernels`, what
the measured serving engine's kernels do), or to a ``skip`` with the reason. :func:`predict` runs
:func:`fabless.estimate.estimate` on that scenario and converts the estimate into the row's
metric (``convert`` in the entry):

* ``step_time_s``: MLPerf GPT-3 175B median step time.
* ``megatron_tflops_per_gpu``: Narayanan et al. (2021) Table 1 count their FLOPs with
  eq. 3, ``96 B s l h^2 (1 + s/6h + V/16lh)`` per step (full recompute); the prediction
  divides the same count by the predicted step time and the GPUs.
* ``korthikanti_mfu_pct``: Korthikanti et al. (2022) model FLOPs
  ``72 B s l h^2 (1 + s/6h + V/12lh)`` over predicted step time x GPUs x 312 TFLOP/s.
* ``tokens_per_s_per_chip``: MosaicML tokens/s/GPU.
* ``sequences_per_s``: sequences (global batch) per second, the whole system.
* ``maxtext_tflops_per_chip``: MaxText's own count (``maxtext_utils.calculate_tflops_training_per_device``
  from 2024, commit 04262f3c) ``6 N s b + 6 H L d_head s^2 b`` FLOPs per chip per step (N all
  parameters, b sequences per chip, causal attention counted at half) over the predicted step time.
* ``maxtext_tflops_per_chip_full_attention``: MaxText's 2023 count (``train.py``
  ``calculate_training_tflops``, commit 28816574b): ``6 N s b + 12 H L d_head s^2 b``, attention
  counted without the causal half.
* ``fsdp_bench_tflops_per_gpu``: the count of AMD's pytorch-training-benchmark (``llama.py`` /
  ``mistral.py`` ``estimate_flops_per_token``, github.com/AMD-AGI/pytorch-training-benchmark at
  commit d23d4a1): 3 x (2 x the matmul weights of every layer, plus the logits projection E x V once,
  input embedding not counted) plus 3 x 4 L H d s x min(window, s) for attention (no causal half; the
  window only where the model has one), per token, times the tokens each GPU runs per step, over the
  predicted step time.

Because FLOP-rate rows use the paper's own FLOP formula, their error is exactly the
step-time error.

``FIT_IDS``: the rows the engine's calibrated parameters (``data/estimate/engine.yaml``)
were fitted on; docs/validation.md says which row fits which parameter.
"""

from __future__ import annotations

import json
import tempfile
from functools import lru_cache
from importlib import resources
from pathlib import Path

from fabless.errors import FablessError
from fabless.estimate.engine import estimate, Kernels
from fabless.estimate.scenario import scenario_from_dict
from fabless.loading import read_yaml
from fabless.validate.core import Skip, load_rows, merged_mapping
from fabless.workload import load_model

SCENARIOS_PATH = Path(str(resources.files("fabless") / "data" / "measurements" / "scenarios.yaml"))


@lru_cache(maxsize=1)
def scenario_map() -> dict[str, dict]:
    """Row id -> mapping entry (``note``, ``convert``, ``scenario`` / ``model_config``, or ``skip``),
    from ``scenarios.yaml`` and every ``scenarios_*.yaml`` beside it (one file per family of
    sources); an id mapped twice is an error."""
    return merged_mapping([SCENARIOS_PATH, *sorted(SCENARIOS_PATH.parent.glob("scenarios_*.yaml"))], "scenarios file")


@lru_cache(maxsize=1)
def software_by_row() -> dict[str, str]:
    """Row id -> software stack, from the ``_software`` lists of every scenarios file."""
    out: dict[str, str] = {}
    for path in [SCENARIOS_PATH, *sorted(SCENARIOS_PATH.parent.glob("scenarios_*.yaml"))]:
        for stack, ids in ((read_yaml(path) or {}).get("_software") or {}).items():
            for i in ids:
                out[str(i)] = str(stack)
    return out


def fit_ids_from_map(category: str | None = None) -> frozenset[str]:
    """Ids whose mapping entry says ``set: fit``: rows chosen for fitting before any fit was made
    (new rows are held out unless their entry says so); with ``category``, only the rows of that
    category (a train row marked fit is not an infer fit row)."""
    ids = frozenset(k for k, v in scenario_map().items() if isinstance(v, dict) and v.get("set") == "fit")
    if category is None:
        return ids
    return frozenset(r["id"] for r in load_rows() if r["id"] in ids and r["category"] == category)


#: Training rows the engine's parameters were fitted on (see docs/validation.md).
FIT_IDS: frozenset[str] = frozenset({  # all fit framework_kernel_efficiency; infer-201/-255 also custom_allreduce_latency_s
    "train-006",  # MLPerf GPT-3 175B, 512 H100, FP8, no interleave
    "train-058",  # Megatron 1.7B, 32 A100, tp 1 (no TP comm)
    "train-061",  # Megatron 18.4B, 256 A100, tp 8, pp 1
    "train-065",  # Megatron 310B, 1920 A100, pp 16
    "train-083",  # MPT-13B, 8 H100, zero 3
    "train-090",  # MPT-70B, 64 A100, zero 3, recompute
}) | fit_ids_from_map("train")


_CONFIG_DIR: Path | None = None


def _config_file(row_id: str, config: dict) -> str:
    """Write an entry's inline ``model_config`` to a config.json the catalog loader reads."""
    global _CONFIG_DIR
    if _CONFIG_DIR is None:
        _CONFIG_DIR = Path(tempfile.mkdtemp(prefix="fabless-validate-"))
    path = _CONFIG_DIR / f"{row_id}.json"
    if not path.exists():
        path.write_text(json.dumps(config))
    return str(path)


def entry_for(row: dict) -> dict:
    """The mapping entry of a row; Skip when there is none or it is marked skip."""
    entry = scenario_map().get(row["id"])
    if entry is None:
        raise Skip("no scenario mapped in data/measurements/scenarios.yaml")
    if "skip" in entry:
        raise Skip(str(entry["skip"]))
    return entry


@lru_cache(maxsize=512)
def _estimate_cached(row_id: str):
    entry = scenario_map()[row_id]
    raw = dict(entry["scenario"])
    if "model_config" in entry:
        raw["model"] = _config_file(row_id, entry["model_config"])
    if row_id in software_by_row() and "software" not in raw:
        raw["software"] = software_by_row()[row_id]
    scn = scenario_from_dict(raw, origin=f"scenarios.yaml:{row_id}")
    kernels = Kernels(**entry.get("kernels", {}))
    return scn, estimate(scn, kernels)


def run_entry(row: dict):
    """(scenario, estimate) of a mapped row; Skip with the engine's message if it cannot run."""
    entry_for(row)
    try:
        return _estimate_cached(row["id"])
    except FablessError as exc:
        raise Skip(f"engine cannot run the mapped scenario: {exc}") from None


def _gpt_dims(scn) -> tuple[int, int, int, int]:
    cfg = load_model(scn.model)
    return cfg.num_layers, cfg.hidden_size, cfg.vocab_size, cfg.num_heads


def _maxtext_flops_per_chip(scn, chips: int, causal: bool) -> float:
    """FLOPs per chip per step as MaxText counts them (see the module docstring): 6 N s b for
    the weights (forward + backward, every parameter including embeddings) plus the attention
    scores and values, 12 H L d s^2 b, halved when ``causal`` (MaxText's count from 2024)."""
    cfg = load_model(scn.model)
    tr = scn.training
    b = tr.global_batch / chips  # MaxText's per_device_batch_size
    s = tr.seq_len
    attention = 12 * cfg.num_heads * cfg.num_layers * cfg.head_dim * s * s * b
    return 6 * cfg.params_total * s * b + (attention / 2 if causal else attention)


def _fsdp_bench_flops_per_token(scn) -> float:
    """FLOPs per token as AMD's pytorch-training-benchmark counts them (module docstring): dense
    gated-MLP (SwiGLU) GQA models only, which are the ones that script trains."""
    cfg = load_model(scn.model)
    e, k, d, s = cfg.hidden_size, cfg.intermediate_size, cfg.head_dim, scn.training.seq_len
    h, j = cfg.num_heads, cfg.num_kv_heads
    per_layer = 2 * 3 * e * k + 2 * e * (h + 2 * j) * d + 2 * e * h * d  # MLP, QKV, output projection
    keys = min(cfg.sliding_window, s) if cfg.sliding_window else s
    attention = 4 * s * keys * h * d / s  # scores and values, per token, no causal half
    return 3 * (per_layer * cfg.num_layers + 2 * e * cfg.vocab_size) + 3 * attention * cfg.num_layers


def convert(row: dict, entry: dict, scn, est) -> float:
    """The estimate in the unit of the row's metric."""
    kind = entry.get("convert")
    m = est.metrics
    if kind == "step_time_s":
        return float(m["step_time_s"])
    if kind == "tokens_per_s_per_chip":
        return float(m["tokens_per_s_per_chip"] if "tokens_per_s_per_chip" in m else m["output_tokens_per_s_per_chip"])
    if kind in ("megatron_tflops_per_gpu", "korthikanti_mfu_pct"):
        tr = scn.training
        layers, h, vocab, _ = _gpt_dims(scn)
        b, s = tr.global_batch, tr.seq_len
        if kind == "megatron_tflops_per_gpu":
            flops = 96 * b * s * layers * h * h * (1 + s / (6 * h) + vocab / (16 * layers * h))
            return flops / (m["step_time_s"] * est.chips) / 1e12
        flops = 72 * b * s * layers * h * h * (1 + s / (6 * h) + vocab / (12 * layers * h))
        return flops / (m["step_time_s"] * est.chips * 312e12) * 100.0
    if kind == "sequences_per_s":
        return scn.training.global_batch / float(m["step_time_s"])
    if kind in ("maxtext_tflops_per_chip", "maxtext_tflops_per_chip_full_attention"):
        return _maxtext_flops_per_chip(scn, est.chips, kind == "maxtext_tflops_per_chip") / float(m["step_time_s"]) / 1e12
    if kind == "fsdp_bench_tflops_per_gpu":
        tokens_per_chip = scn.training.global_batch * scn.training.seq_len / est.chips
        return _fsdp_bench_flops_per_token(scn) * tokens_per_chip / float(m["step_time_s"]) / 1e12
    if kind == "output_tokens_per_s":
        return float(m["output_tokens_per_s"])
    if kind == "ttft_ms":
        return float(m["ttft_s"]) * 1e3
    if kind == "ttft_s":
        return float(m["ttft_s"])
    if kind == "tpot_ms":
        return float(m["tpot_s"]) * 1e3
    if kind == "e2e_s":
        return float(m["e2e_latency_s"])
    if kind == "decode_tokens_per_s_per_user":
        return 1.0 / float(m["tpot_s"])
    raise Skip(f"scenarios.yaml: unknown convert '{kind}'")


def predict(row: dict) -> float | None:
    entry = entry_for(row)
    scn, est = run_entry(row)
    return convert(row, entry, scn, est)


__all__ = ["FIT_IDS", "predict", "scenario_map", "entry_for", "run_entry", "convert", "SCENARIOS_PATH"]
