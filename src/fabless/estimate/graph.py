"""An imported PyTorch graph that is not a recognised decoder, estimated operator by operator.

:mod:`fabless.workload.imported` traces ``FILE.py:FACTORY`` into a forward graph. A graph it
recognises as a decoder transformer runs through the transformer engine like a catalog model;
any other graph runs here, on data parallelism only (the sharding rules of tensor, pipeline,
expert and context parallelism are written for transformer layers), each of ``dp`` chips
running the factory's example inputs (one micro-batch):

Inference (one forward pass of the example inputs per chip)::

    forward  = sum of the traced operators' times (estimate/optime.py graph_time)
    rate     = dp x items per forward / forward        items: tokens for token-id inputs, else samples

Training (``global_batch`` items per optimizer step, ``m = global_batch / (dp x batch)``)::

    micro    = forward + backward, the backward from workload.ops.backward_ops (every matmul
               and convolution twice: input and weight gradients, so 2x the forward's GEMM
               FLOPs, as the transformer engine counts it)
    step     = m x micro + exposed gradient all-reduce over dp (overlapped with the last
               micro-batch's backward matmuls when the software stack overlaps it)
               + Adam update (split over dp under ZeRO >= 1)

Memory per chip: weights, gradients (2 bytes) and Adam state (``ADAM_STATE_BYTES_PER_PARAM``)
of the traced parameters, each divided by dp at the ZeRO stage that shards it; activations:
every forward operator's output kept for the backward (no recomputation), or at inference the
largest single operator's inputs and outputs.
"""

from __future__ import annotations

from fabless.errors import FablessError
from fabless.estimate.optime import _sum, compute_dtype, engine_params, graph_time, supported_dtype
from fabless.estimate.parallel import ADAM_STATE_BYTES_PER_PARAM
from fabless.estimate.plan import Plan
from fabless.estimate.scenario import Scenario
from fabless.estimate.software import Software
from fabless.hardware.schema import System
from fabless.perf.collectives import group_collective_time_s
from fabless.perf.params import ChipParams
from fabless.workload.builder import Precision
from fabless.workload.graph import Block, Graph
from fabless.workload.imported import load_graph, with_precision
from fabless.workload.ops import MatMul, OptimizerStep, backward_ops, dtype_bytes

#: bytes of one gradient element (bf16 gradients, as the transformer step model reduces them)
GRAD_BYTES = 2.0


def graph_plan(scn: Scenario, chips: int, why: str) -> Plan:
    """The data-parallel plan of an imported graph; any other axis is a one-line error."""
    spec = scn.parallel
    if spec == "auto":
        return Plan(dp=chips)
    for axis in ("tp", "pp", "ep", "cp", "interleave"):
        if getattr(spec, axis) > 1:
            raise FablessError(f"parallel.{axis}: {scn.model} runs data-parallel only ({why}); "
                               f"give parallel: {{dp: {chips}}} or auto")
    dp = spec.dp or chips
    if dp != chips:
        raise FablessError(f"parallel.dp: {dp} is not the {chips} chips; an imported graph runs dp = chips")
    zero = spec.zero if spec.zero is not None else (scn.training.zero if scn.training else 0)
    return Plan(dp=dp, zero=zero)


def _split(graph: Graph) -> list:
    return [op for _, op in graph.items()]


def graph_parts(spec: str, prec: Precision, training: bool) -> dict:
    """The chip-independent parts of an imported graph's estimate (module docstring), shared by
    :func:`graph_estimate` and explore's evaluator (which times them over many designs):
    ``graph`` (the traced forward at ``prec``), ``batch``, ``items`` and ``unit`` (tokens or
    samples per forward), ``params``, ``w_bytes``, the inference ``memory`` (weights and the
    largest operator's activations) and, for training, the micro-batch graph ``micro`` (forward
    and backward), ``bwd_matmuls`` (the backward's matmuls, which hide the gradient reduction)
    and ``optimizer`` (the Adam update)."""
    g = with_precision(load_graph(spec), prec)
    meta = g.info()
    w_b = float(dtype_bytes(prec.weights))
    params = float(g.params)
    fwd_ops = _split(g)
    out = {"graph": g, "batch": int(meta.get("batch", 1)), "items": g.tokens,
           "unit": "tokens" if meta.get("token_ids") else "samples", "params": params, "w_bytes": w_b,
           "fwd_ops": fwd_ops}
    act = max((op.bytes - op.params * w_b for op in fwd_ops), default=0.0)
    out["memory"] = {"weights": params * w_b, "activations": act}
    if training:
        bwd_ops = [b for op in reversed(fwd_ops) for b in backward_ops(op)]
        out["micro"] = Graph(g.name, "train", (Block("fwd", tuple(fwd_ops)), Block("bwd", tuple(bwd_ops))), tokens=g.tokens)
        out["bwd_matmuls"] = Graph(g.name, "train", (Block("bwd", tuple(op for op in bwd_ops if isinstance(op, MatMul))),))
        out["optimizer"] = Graph(g.name, "train", (Block("optimizer", (OptimizerStep("adam", n_params=params,
                                                                                    weight_dtype=prec.weights, pass_="opt"),)),))
    return out


def graph_train_memory(parts: dict, dp: int, zero: int) -> dict[str, float]:
    """Training memory per chip of an imported graph (module docstring): weights, gradients and
    Adam state each divided by dp at the ZeRO stage that shards it, every forward output kept."""
    params, w_b = parts["params"], parts["w_bytes"]
    mem = {"weights": params * w_b / (dp if zero == 3 else 1),
           "gradients": params * GRAD_BYTES / (dp if zero >= 2 else 1),
           "optimizer": params * ADAM_STATE_BYTES_PER_PARAM / (dp if zero >= 1 else 1),
           "activations": sum(op.bytes_written for op in parts["fwd_ops"])}
    mem["total"] = sum(mem.values())
    return mem


def graph_estimate(scn: Scenario, system: System, chip: ChipParams, prec: Precision, sw: Software | None,
                   why: str) -> tuple:
    """An imported graph's estimate (module docstring) as the fields of
    :class:`~fabless.estimate.engine.Estimate`: (phase, model, chips, plan, metrics, memory,
    breakdown, notes)."""
    plan = graph_plan(scn, system.chips, why)
    parts = graph_parts(scn.model, prec, scn.training is not None)
    g = parts["graph"]
    batch, items, unit = parts["batch"], parts["items"], parts["unit"]
    eff = sw.framework_kernel_efficiency if sw is not None else None
    params = parts["params"]
    usable = float(system.chip.memory.hbm.capacity_bytes) * engine_params()["usable_memory_fraction"]
    notes = [f"imported graph, estimated operator by operator, data-parallel only: {why}"]
    peak_dtype = supported_dtype(compute_dtype(prec.activations, prec.weights), chip)
    peak = float(chip.peak_flops_per_s.get(peak_dtype)[0])
    dp = plan.dp
    if scn.training is None:
        times = graph_time(g, chip, eff=eff)
        fwd_s = _sum(times)
        mem = dict(parts["memory"])
        mem["total"] = sum(mem.values())
        fits = mem["total"] <= usable
        metrics = {"forward_time_s": fwd_s, "batch": batch, f"{unit}_per_s": dp * items / fwd_s,
                   f"{unit}_per_s_per_chip": items / fwd_s, "flops_per_forward": g.flops,
                   "mfu": g.flops / (fwd_s * peak), "fits": fits, "peak_dtype": peak_dtype,
                   "software": sw.name if sw else None, "imported_graph": True}
        if not fits:
            notes.insert(0, f"does not fit: needs {mem['total'] / 1e9:.1f} GB per chip, {usable / 1e9:.1f} GB usable")
        return ("inference", g.name, dp, plan, metrics, mem, {k: v for k, v in times.items() if v > 0}, tuple(notes))

    tr = scn.training
    if tr.global_batch % (dp * batch):
        raise FablessError(f"training.global_batch: {tr.global_batch} is not a multiple of dp x the traced batch "
                           f"({dp} x {batch}); the factory's example inputs are one micro-batch")
    m = tr.global_batch // (dp * batch)
    micro = parts["micro"]
    times = graph_time(micro, chip, eff=eff)
    bwd_mm_s = _sum(graph_time(parts["bwd_matmuls"], chip, eff=eff))
    zero = plan.zero
    opt_s = _sum(graph_time(parts["optimizer"], chip, eff=eff)) / (dp if zero >= 1 else 1)
    w_b = parts["w_bytes"]
    within = dp <= system.scale_up.size
    if zero == 3:  # reduce-scatter of gradients; weights all-gathered for the forward and the backward
        sync_s = group_collective_time_s("reduce_scatter", params * GRAD_BYTES, dp, system, within_domain=within)
        ag_s = group_collective_time_s("all_gather", params * w_b, dp, system, within_domain=within)
        sync_s += m * max(0.0, 2 * ag_s - _sum(times))
    else:
        sync_s = group_collective_time_s("all_reduce", params * GRAD_BYTES, dp, system, within_domain=within)
    sync_s = float(sync_s) if dp > 1 else 0.0
    overlap = sw.overlap_grad_reduce if sw is not None else True
    exposed = max(0.0, sync_s - bwd_mm_s) if overlap else sync_s
    step_s = m * _sum(times) + exposed + opt_s
    mem = graph_train_memory(parts, dp, zero)
    fits = mem["total"] <= usable
    model_flops = micro.flops * m * dp
    step_items = tr.global_batch * items // batch
    breakdown = {k: v * m for k, v in times.items()}
    breakdown.update({"dp_comm_exposed": exposed, "optimizer": opt_s})
    metrics = {"step_time_s": step_s, f"{unit}_per_s": step_items / step_s, f"{unit}_per_s_per_chip": step_items / step_s / dp,
               "mfu": model_flops / (step_s * dp * peak), "model_flops_per_step": model_flops, "micro_batches": m,
               "fits": fits, "peak_dtype": peak_dtype, "software": sw.name if sw else None, "imported_graph": True}
    if tr.tokens:
        metrics["training_time_s"] = tr.tokens / step_items * step_s
    if "recompute" in tr.model_fields_set and tr.recompute != "none":
        notes.append(f"training.recompute: {tr.recompute} is not modelled for an imported graph; every forward output is kept")
    if not fits:
        notes.insert(0, f"does not fit: needs {mem['total'] / 1e9:.1f} GB per chip, {usable / 1e9:.1f} GB usable")
    return ("training", g.name, dp, plan, metrics, mem, {k: v for k, v in breakdown.items() if v > 0}, tuple(notes))


__all__ = ["GRAD_BYTES", "graph_estimate", "graph_parts", "graph_plan", "graph_train_memory"]
