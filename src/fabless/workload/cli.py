"""`fabless models ...` (the model catalog and its graphs) and `fabless import FILE.py:FACTORY`."""

from __future__ import annotations

import typer

from fabless import bounds
from fabless.bounds import whole_number
from fabless.errors import FablessError
from fabless.report.console import console, print_json, print_table
from fabless.workload.builder import (
    RECOMPUTE,
    Precision,
    build_decode_graph,
    build_prefill_graph,
    build_training_graph,
)
from fabless.workload.catalog import is_recsys_model, load_model, load_recsys, model_names, model_source, recsys_names
from fabless.workload.graph import Graph

JSON = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")

models_app = typer.Typer(
    help="The model catalog: transformer configs with sources, parameter counts, KV-cache size and FLOPs per token.",
    no_args_is_help=True,
)
import_app = typer.Typer(help="Trace a PyTorch model into an operator graph (runs the given Python file: trust it).")


def _b(x: float) -> float:
    return round(x / 1e9, 3)


@models_app.command("list")
def models_list(json: bool = JSON) -> None:
    """List every shipped model config.

    Example: fabless models list --json
    """
    rows = []
    for name in model_names():
        c = load_model(name)
        rows.append({
            "name": name, "type": c.model_type, "params_b": _b(c.params_total), "active_b": _b(c.params_active),
            "layers": c.num_layers, "hidden": c.hidden_size, "heads": c.num_heads, "kv_heads": c.num_kv_heads,
            "attention": c.attention_kind, "experts": f"{c.top_k}/{c.num_experts}" if c.num_experts else "-",
            "context": c.max_position_embeddings,
        })
    rec = []
    for name in recsys_names():
        r = load_recsys(name)
        rec.append({"name": name, "type": r.model_type, "params_b": _b(r.params_total), "tables": r.num_tables,
                    "table_gb_fp32": _b(r.table_bytes("fp32")), "embedding_dim": r.embedding_dim,
                    "lookups_per_sample": r.lookups_per_sample, "interaction": r.interaction})
    if json:
        print_json(rows + rec)
        return
    print_table(["name", "type", "params (B)", "active (B)", "layers", "hidden", "heads", "KV heads", "attention",
                 "experts (k/E)", "context"], [list(r.values()) for r in rows], title="Models")
    print_table(["name", "type", "params (B)", "tables", "tables GB (fp32)", "embedding dim", "lookups/sample",
                 "interaction"], [list(r.values()) for r in rec], title="Recommendation models (fabless estimate)")


@models_app.command("show")
def models_show(name: str = typer.Argument(..., help="A model name (see `fabless models list`) or a config.json file."),
                json: bool = JSON) -> None:
    """One model: shape, parameters (total and active), KV cache, FLOPs per token, and its source.
    A recommendation model: its tables, bytes, lookups and FLOPs per sample.

    Example: fabless models show deepseek-v3

    Example: fabless models show dlrm-v2
    """
    c = load_recsys(name) if is_recsys_model(name) else load_model(name)
    summary = c.summary()
    src = model_source(c.name)
    if json:
        print_json({**summary, "params_by_part": c.params_by_part(), "source": src or {"source": c.source}})
        return
    rows = [[k, v] for k, v in summary.items() if k != "name"]
    rows += [[f"params: {k}", v] for k, v in c.params_by_part().items() if v]
    for key in ("published_params_total", "published_params_active", "published_table_bytes"):
        if key in src:
            rows.append([key.replace("_", " ") + " (B)", src[key]])
    print_table(["field", "value"], rows, title=f"{c.name}")
    console.print(f"source: {src.get('source', c.source)}" + (f" ({src['confidence']})" if "confidence" in src else ""))
    if src.get("notes"):
        console.print(f"note: {src['notes']}")
    console.print("FLOPs count a multiply-add as 2; decode FLOPs are per new token at the given KV-cache length.")


def _ops_rows(g: Graph) -> list[list]:
    rows = []
    for b, op in g.items():
        rows.append([b.name, op.name, op.kind, op.pass_, b.repeat, op.flops * b.repeat, op.bytes * b.repeat,
                     op.params * b.repeat])
    return rows


def _print_graph(g: Graph, json: bool, ops: bool) -> None:
    if json:
        out = {"summary": g.summary(), "by_kind": g.breakdown("kind"), "by_pass": g.breakdown("pass_")}
        if ops:
            out["ops"] = [dict(zip(["block", "op", "kind", "pass", "repeat", "flops", "bytes", "params"], r))
                          for r in _ops_rows(g)]
        print_json(out)
        return
    s = g.summary()
    print_table(["total", "value"], [[k, v] for k, v in s.items() if k != "name"], title=g.name)
    print_table(["kind", "FLOPs", "bytes", "ops executed"],
                [[k, v["flops"], v["bytes"], v["count"]] for k, v in g.breakdown("kind").items()], title="By kind")
    if ops:
        print_table(["block", "op", "kind", "pass", "repeat", "FLOPs", "bytes", "params"], _ops_rows(g), title="Operators (x repeat)")


@models_app.command("graph")
def models_graph(
    name: str = typer.Argument(..., help="A model name or a config.json file."),
    phase: str = typer.Option("decode", "--phase", help="train, prefill or decode."),
    batch: int = typer.Option(1, "--batch", help="Sequences per step."),
    seq: int = typer.Option(4096, "--seq", help="Tokens per sequence: training sequence, prompt, or KV-cache length for decode."),
    recompute: str = typer.Option("none", "--recompute", help=f"Training activation recomputation: {', '.join(RECOMPUTE)}."),
    weights: str = typer.Option("bf16", "--weights", help="Weight datatype (bf16, fp8, int8, int4, fp4)."),
    activations: str = typer.Option("bf16", "--activations", help="Activation datatype."),
    kv_cache: str = typer.Option("bf16", "--kv-cache", help="KV-cache datatype."),
    ops: bool = typer.Option(False, "--ops", help="List every operator."),
    json: bool = JSON,
) -> None:
    """The operator graph of one step: totals, a breakdown by kind, and optionally every operator.

    Example: fabless models graph llama-3.1-70b --phase decode --batch 32 --seq 8192 --kv-cache fp8
    """
    whole_number(batch, "--batch", hi=bounds.MAX_BATCH, unit="sequences")
    whole_number(seq, "--seq", hi=bounds.MAX_SEQ_TOKENS, unit="tokens")
    c = load_model(name)
    p = Precision(weights=weights, activations=activations, kv_cache=kv_cache)
    if phase == "train":
        g = build_training_graph(c, batch, seq, p, recompute=recompute)
    elif phase == "prefill":
        g = build_prefill_graph(c, batch, seq, p)
    elif phase == "decode":
        g = build_decode_graph(c, batch, seq, p)
    else:
        raise FablessError(f"unknown phase '{phase}'; use train, prefill or decode")
    _print_graph(g, json, ops)


@import_app.command("import")
def import_model(
    spec: str = typer.Argument(..., help="FILE.py:FACTORY, where FACTORY() returns (module, example_inputs). FILE.py is executed: trust it."),
    strict: bool = typer.Option(False, "--strict", help="Fail on operators fabless cannot map instead of costing them as opaque."),
    ops: bool = typer.Option(True, "--ops/--no-ops", help="List every operator."),
    json: bool = JSON,
) -> None:
    """Trace a PyTorch model with torch.export on meta tensors (no weights, no GPU) and print its graph.

    FILE.py is run as Python code with your permissions, the whole file, as `python FILE.py`
    would run it: import only files you trust. Only the FACTORY call runs under
    torch.device('meta') (no weights allocated); the file's top-level code runs as written.
    Needs the optional torch extra.

    Example: fabless import examples/models/mlp.py:build --json
    """
    import warnings

    from fabless.workload.torch_import import from_torch, load_factory

    module, inputs = load_factory(spec)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        g = from_torch(module, inputs, name=spec.rsplit(":", 1)[-1], on_unknown="error" if strict else "warn")
    _print_graph(g, json, ops)
    for w in caught:
        if "opaque" in str(w.message):
            print(f"warning: {w.message}", file=__import__("sys").stderr)
