"""A compiled framework's full rematerialisation (XLA: JAX, PyTorch/XLA, Neuron) recomputes only the forward
operators some gradient reads: the MLP's down projection and the residual add after it, which make the layer's
output, are dead code there, while an eager framework's checkpoint reruns them (fabless.estimate.step,
DEAD_UNDER_REMAT; software.yaml remat_drops_dead_ops)."""

from __future__ import annotations

import pytest

from fabless.estimate.software import software_stacks
from fabless.estimate.step import DEAD_UNDER_REMAT, shape_terms
from fabless.workload import Precision
from fabless.workload.catalog import load_model
from fabless.workload.ops import ExpertMatMul, MatMul

XLA = ("maxtext", "maxtext-gpu", "axlearn", "paxml", "torchprime", "pytorch-xla-hf", "neuronx-distributed",
       "neuron-nemo-megatron")
EAGER = ("megatron-bridge", "megatron-lm-2021", "nemo-24.09", "llm-foundry", "torchtitan", "fms-fsdp", "nemo-automodel")


def _names(terms: dict, part: str) -> set[str]:
    return {op.name.removesuffix(".recompute") for op, _ in terms[part]}


def _flops(terms: dict, part: str) -> float:
    return sum(2.0 * op.batch * op.m * op.n * op.k * c for op, c in terms[part] if isinstance(op, MatMul))


@pytest.mark.parametrize("model, down", [("llama-3.1-8b", {"mlp.down"}), ("gpt3-175b", {"mlp.fc2", "mlp.down_bias"})])
def test_a_dense_layer_drops_its_down_projection_and_last_residual(model, down):
    cfg = load_model(model)
    tokens, tp = 4096, 2
    eager = shape_terms(cfg, Precision(), tp, 1, 1, 1, tokens)
    xla = shape_terms(cfg, Precision(), tp, 1, 1, 1, tokens, remat_drops_dead_ops=True)
    assert _names(eager, "rec_full") - _names(xla, "rec_full") == down | {"mlp_residual"}
    assert {"o_proj", "attn_residual", "qkv_proj", "attention"} <= _names(xla, "rec_full")  # read by gradients
    # the dropped matmul by hand: tokens x ffn / tp -> hidden, every layer
    dropped = 2.0 * tokens * (cfg.intermediate_size / tp) * cfg.hidden_size * cfg.num_layers
    assert _flops(eager, "rec_full") - _flops(xla, "rec_full") == pytest.approx(dropped, rel=1e-9)
    # nothing else moves: the selective recompute and the forward / backward are the same ops
    for part in [k for k in eager if k != "rec_full"]:
        assert [(o.name, c) for o, c in eager[part]] == [(o.name, c) for o, c in xla[part]], part


def test_a_mixture_of_experts_layer_keeps_its_expert_down_projection():
    # the router's gradient reads every expert's output (the combine weights multiply them)
    cfg = load_model("qwen3-30b-a3b")
    xla = shape_terms(cfg, Precision(), 1, 1, 1, 1, 2048, remat_drops_dead_ops=True)
    names = _names(xla, "rec_full")
    assert "experts.down" in names and "mlp_residual" not in names
    assert any(isinstance(op, ExpertMatMul) and op.name.startswith("experts.down") for op, _ in xla["rec_full"])


def test_the_dead_set_names_only_a_layers_output_path():
    assert DEAD_UNDER_REMAT == {"mlp.down", "mlp.fc2", "mlp.down_bias", "mlp_residual"}


@pytest.mark.parametrize("name", XLA)
def test_compiled_stacks_drop_dead_recompute(name):
    assert software_stacks()[name].remat_drops_dead_ops


@pytest.mark.parametrize("name", EAGER)
def test_eager_stacks_rerun_the_whole_forward(name):
    assert not software_stacks()[name].remat_drops_dead_ops


def test_a_dropped_matmul_takes_its_nvfp4_quantisation_with_it():
    # under NVFP4 every activation-side GEMM input is quantised (step.nvfp4_quantize_op): the dropped down
    # projection's quantisation leaves the recompute too, and only it
    cfg = load_model("llama-3.1-8b")
    prec = Precision(weights="fp4", activations="fp4")
    eager = shape_terms(cfg, prec, 1, 1, 1, 1, 2048)
    xla = shape_terms(cfg, prec, 1, 1, 1, 1, 2048, remat_drops_dead_ops=True)
    assert "mlp.down.recompute.nvfp4_quantize" in {op.name for op, _ in eager["rec_full"]}
    gone = {op.name for op, _ in eager["rec_full"]} - {op.name for op, _ in xla["rec_full"]}
    assert gone == {"mlp.down.recompute", "mlp.down.recompute.nvfp4_quantize", "mlp_residual.recompute"}
