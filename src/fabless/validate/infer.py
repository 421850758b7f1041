"""Predictions of the published inference measurements (category ``infer``).

Rows map to scenarios in ``data/measurements/scenarios.yaml`` exactly as training rows do
(:mod:`fabless.validate.train` holds the shared machinery). Conversions: per-chip or
system output tokens/s of a static batch (``batch x output / e2e``), first-token latency
(TTFT, ms), inter-token latency (TPOT, ms) and batch-1 decode tokens/s per user (1/TPOT).

``FIT_IDS``: the inference rows the engine's parameters were fitted on (see docs/validation.md).
"""

from __future__ import annotations

from fabless.validate.train import convert, entry_for, fit_ids_from_map, run_entry

#: Inference rows the engine's parameters were fitted on (see docs/validation.md).
FIT_IDS: frozenset[str] = frozenset({  # all fit framework_kernel_efficiency; infer-201/-255 also custom_allreduce_latency_s
    "infer-188",  # TRT-LLM Llama-2-70B 2x H100 FP8 static batch 1024
    "infer-197",  # TRT-LLM GPT-J A100 fp16 batch 512
    "infer-201",  # TRT-LLM Llama-2-70B 4x A100 TTFT 128
    "infer-250",  # gpt-fast Llama-2-7B bf16 batch 1
    "infer-255",  # gpt-fast Llama-2-70B tp 8 batch 1
}) | fit_ids_from_map("infer")


def predict(row: dict) -> float | None:
    entry = entry_for(row)
    scn, est = run_entry(row)
    return convert(row, entry, scn, est)


__all__ = ["FIT_IDS", "predict"]
