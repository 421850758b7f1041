"""What to estimate: a model on a system, with a plan and a phase.

A scenario is a YAML file (or the same given as CLI flags)::

    model: llama-3.1-70b                  # catalog name or path to a config.json
    system: {name: dgx-h100, count: 16}   # or {chip: h100-sxm, count: 16}; count = chips
    precision: fp8                        # or {weights: fp8, activations: bf16, kv_cache: fp8}; q4_0/q8_0 on CPUs
    parallel: {tp: 8, pp: 2}              # or: auto
    inference: {batch: 64, input_tokens: 2048, output_tokens: 256}
    # or
    training: {global_batch: 1024, micro_batch: 1, seq_len: 8192, recompute: selective, zero: 1}

:func:`load_scenario` validates it into a frozen :class:`Scenario`; every
mistake is a one-line error naming the file and the field.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from typing import Annotated

from pydantic import Field, NonNegativeInt, model_validator

from fabless import bounds

from fabless.errors import FablessError
from fabless.hardware.schema import Frozen
from fabless.loading import read_yaml, validate
from fabless.workload.catalog import load_model
from fabless.workload.imported import graph_spec, is_graph_spec
from fabless.workload.catalog import is_recsys_model

#: Chips (and parallel degrees over them), sequences and tokens, each within fabless.bounds.
Chips = Annotated[int, Field(gt=0, le=bounds.MAX_CHIPS)]
Seqs = Annotated[int, Field(gt=0, le=bounds.MAX_BATCH)]
Tokens = Annotated[int, Field(gt=0, le=bounds.MAX_SEQ_TOKENS)]

Precision = Literal["fp32", "bf16", "fp16", "fp8", "int8", "int4", "fp4", "q4_0", "q8_0"]


class PrecisionSpec(Frozen):
    """Datatypes of weights, activations (and the matmuls' inputs) and the KV cache."""

    weights: Precision = "bf16"
    activations: Precision = "bf16"
    kv_cache: Precision = "bf16"
    attention_weights: Precision | None = Field(None, description="the attention projections' weights when a checkpoint "
                                                "quantises only the other linear layers (e.g. Meta's FP8 Llama 3.1 405B keeps "
                                                "them in bf16); default: weights")

    @property
    def compute(self) -> str:
        """The datatype the matrix units run at: the wider of weights and activations,
        since a weight-only quantised model (int4 weights, bf16 activations) still
        multiplies in bf16."""
        order = ["fp4", "int4", "q4_0", "fp8", "int8", "q8_0", "bf16", "fp16", "fp32"]
        w, a = self.weights, self.activations
        return w if order.index(w) >= order.index(a) else a


class SystemSpec(Frozen):
    """Which hardware: a system preset (or file), or a bare chip, and how many chips."""

    name: str | None = Field(None, description="a system preset or system YAML path")
    chip: str | None = Field(None, description="a chip preset or chip YAML path: alone, the smallest system preset "
                             "built from it; with name, this chip in place of the system's own (its topology, "
                             "latencies and node size, the chip's own compute, memory and link bandwidth)")
    count: Chips | None = Field(None, description="total chips; defaults to the system's own count")

    @model_validator(mode="after")
    def _one(self) -> SystemSpec:
        if self.name is None and self.chip is None:
            raise ValueError("give name (a system), chip, or both (the chip placed in that system)")
        return self


class ParallelSpec(Frozen):
    """Degrees of parallelism. Their product tp x pp x dp (x cp) must equal the chips used;
    ep shards the experts across the dp x tp ranks."""

    tp: Chips = 1
    pp: Chips = 1
    dp: Chips | None = Field(None, description="default: chips / (tp x pp x cp)")
    ep: Chips = 1
    cp: Chips = Field(1, description="context parallelism (sequence split across chips, ring attention)")
    sp: bool = Field(True, description="sequence parallelism in the tp group (Megatron-style)")
    interleave: Chips = Field(1, description="virtual pipeline stages per chip (interleaved 1F1B)")
    zero: Literal[0, 1, 2, 3] | None = Field(None, description="ZeRO stage (3 = FSDP); default: training.zero")
    shard: int = Field(0, ge=0, le=bounds.MAX_CHIPS, description="chips a ZeRO shard group spans (divides dp; 0 = all of dp); "
                       "shard < dp with zero 3 is hybrid sharding (HSDP)")
    recompute: Literal["none", "selective", "full"] | NonNegativeInt | None = Field(
        None, description="none, selective, full, or N layers per stage; default: training.recompute")
    micro_batch: Seqs | None = Field(None, description="sequences per micro-batch; default: training.micro_batch")
    attn_dp: bool = Field(False, description="inference: attention data-parallel with expert-parallel MoE")
    order: str = Field("tp-cp-dp-pp", description="placement: axes innermost first (tp-cp-dp-pp or tp-cp-pp-dp)")
    mesh: dict[Literal["tp", "cp", "dp", "ep"], list[Chips]] | None = Field(
        None, description="on a torus: the shape each axis's groups take, one extent per torus dimension, "
        "e.g. {tp: [4, 1], dp: [4, 16]} on a 16x16 slice")


class InferenceSpec(Frozen):
    """Required for a language model (catalog, config.json or a recognised imported decoder); an
    imported graph that is not a decoder runs its factory's example inputs and takes none of them."""

    batch: Seqs | Literal["auto"] | None = Field(None, description="concurrent sequences per replica; auto = largest that fits "
                                                 "(a recommendation model: samples per batch over the whole system)")
    input_tokens: Tokens | None = Field(None, description="prompt length (language models: required)")
    output_tokens: Tokens | None = Field(None, description="generated tokens (language models: required)")
    threads: Chips | None = Field(None, description="CPU systems: threads of each model copy (llama.cpp's -t); "
                                  "default: the count with the least time, at most the cores each socket gives")


class TrainingSpec(Frozen):
    global_batch: Seqs = Field(description="sequences per optimizer step (a recommendation model: samples)")
    micro_batch: Seqs = 1
    seq_len: Tokens | None = Field(None, description="tokens per sequence (language models: required; an imported model: the traced length by default)")
    recompute: Literal["none", "selective", "full"] | NonNegativeInt = Field(
        "selective", description="none, selective (attention core), full, or N layers per pipeline stage fully recomputed")
    zero: Literal[0, 1, 2, 3] = Field(1, description="ZeRO stage: 1 distributed optimizer, 2 + gradients, 3 + weights (FSDP)")
    tokens: float | None = Field(None, gt=0, description="total training tokens, for the time and cost of a run")
    mode: Literal["pretrain", "full", "lora", "qlora"] = Field(
        "pretrain", description="pretrain or full fine-tuning (every weight trained), lora (frozen base, rank-r "
        "adapters), qlora (lora on a 4-bit base)")
    lora_rank: int = Field(16, gt=0, le=2**16, description="rank of the LoRA adapters (lora, qlora)")


class RecsysSpec(Frozen):
    """How a recommendation model (DLRM family) runs: where its embedding tables live and how
    often a lookup hits on-chip memory (fabless.estimate.recsys, docs/perf-model.md)."""

    sharding: Literal["auto", "table_wise", "row_wise", "column_wise", "data_parallel"] = Field(
        "auto", description="embedding tables across the chips: auto (small tables replicated, the rest table-wise, "
        "a table over half a chip row-wise) or one rule for every table")
    cache_hit_rate: float = Field(0.0, ge=0.0, le=1.0, description="fraction of embedding rows gathered from on-chip "
                                  "SRAM (hot rows) instead of DRAM/HBM; 0 = every row from DRAM")
    embedding_dtype: Precision = Field("fp32", description="datatype of the embedding tables")
    replicate_below_mb: float = Field(1.0, ge=0.0, le=bounds.MAX_CAPACITY_GB * 1e3, description="auto: tables of at "
                                      "most this many MB (1e6 bytes) are replicated on every chip (data-parallel)")
    fused_epilogue: bool = Field(False, description="the dense GEMMs' bias and ReLU run in the GEMM's epilogue and the "
                                 "lookups write the interaction's input in place (an inference engine such as "
                                 "TensorRT); false: each is a kernel of its own with a trip to memory (eager PyTorch)")


class Scenario(Frozen):
    model: str
    system: SystemSpec
    precision: PrecisionSpec = PrecisionSpec()
    parallel: ParallelSpec | Literal["auto"] = "auto"
    inference: InferenceSpec | None = None
    training: TrainingSpec | None = None
    recsys: RecsysSpec | None = Field(None, description="recommendation models only: embedding sharding and cache hits")
    software: str | None = Field(None, description="software stack (data/estimate/software.yaml, e.g. nemo-24.09, "
                                 "trt-llm-0.6); default: the newest stack for the chip's vendor and the phase")

    @model_validator(mode="before")
    @classmethod
    def _shorthands(cls, data):
        if isinstance(data, dict):
            data = dict(data)
            p = data.get("precision")
            if isinstance(p, str) and p in ("q4_0", "q8_0"):  # llama.cpp formats: 8-bit activations in the kernels, f16 cache
                data["precision"] = {"weights": p, "activations": "bf16", "kv_cache": "bf16"}
            elif isinstance(p, str):
                data["precision"] = {"weights": p, "activations": p if p not in ("int4", "fp4", "int8") else "bf16", "kv_cache": p}
            s = data.get("system")
            if isinstance(s, str):
                data["system"] = {"name": s}
            m = data.get("model")
            if isinstance(m, dict):
                extra = set(m) - {"graph", "args"}
                if "graph" not in m or extra:
                    raise ValueError("model: a mapping takes graph: FILE.py:FACTORY and args: {...}"
                                     + (f", not {', '.join(sorted(map(str, extra)))}" if extra else ""))
                data["model"] = graph_spec(m["graph"], m.get("args"))
        return data

    @model_validator(mode="after")
    def _phase(self) -> Scenario:
        if (self.inference is None) == (self.training is None):
            raise ValueError("give exactly one of inference or training")
        if self.is_recsys:
            if self.inference is not None and self.inference.batch in (None, "auto"):
                raise ValueError("inference.batch: a recommendation model needs a number of samples")
            return self
        if self.recsys is not None:
            raise ValueError(f"recsys: is for recommendation models (DLRM family); {self.model} is a language model")
        if not is_graph_spec(self.model):  # an imported model's lengths may come from its trace
            need = (("inference", ("batch", "input_tokens", "output_tokens")) if self.inference is not None
                    else ("training", ("seq_len",)))
            for f in need[1]:
                if getattr(getattr(self, need[0]), f) is None:
                    raise ValueError(f"{need[0]}.{f}: field required for a language model")
        return self

    @property
    def is_recsys(self) -> bool:
        """Whether the model is a recommendation model (DLRM family: fabless.estimate.recsys)."""
        return is_recsys_model(self.model)

    @property
    def phase(self) -> str:
        return "training" if self.training is not None else "inference"


def require_servable(scn: Scenario, command: str, training_ok: bool = False) -> None:
    """One line refusing a scenario that a language-model command (``command``: serve, fleet,
    tco) cannot run: a recommendation model, an imported model that does not trace to a
    recognised decoder, or an inference section missing (unless ``training_ok``: tco also prices
    a training run) or without its lengths. The system's part
    (a CPU, a llama.cpp format on an accelerator) is :func:`fabless.estimate.stepcost.check_servable`."""
    require_language_model(scn.model, command)
    if is_graph_spec(scn.model):
        load_model(scn.model)  # NotADecoder: one line
    if scn.inference is None and not (training_ok and scn.training is not None):
        raise FablessError(f"inference: {command} needs an inference section (input_tokens, output_tokens)")
    for f in ("input_tokens", "output_tokens"):
        if scn.inference is not None and getattr(scn.inference, f) is None:
            raise FablessError(f"inference.{f}: {command} needs input_tokens and output_tokens")


def require_language_model(model: object, command: str) -> None:
    """One line refusing a recommendation model (DLRM family) in a command that simulates or
    prices language-model serving (serve, fleet, tco, breakeven): only estimate takes it."""
    if isinstance(model, str) and is_recsys_model(model):
        raise FablessError(f"model: {model} is a recommendation model (DLRM family): {command} takes language models only; "
                           f"use fabless estimate (samples/s, latency, perf/W)")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file."""
    return validate(Scenario, read_yaml(path), str(path), sourced=False)


def scenario_from_dict(raw: dict, origin: str = "scenario") -> Scenario:
    """Validate a scenario given as a dict (the CLI's flags, a notebook)."""
    if not isinstance(raw, dict):
        raise FablessError(f"{origin}: expected a mapping")
    return validate(Scenario, raw, origin, sourced=False)
