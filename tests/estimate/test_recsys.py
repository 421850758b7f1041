"""Recommendation models (DLRM family): embedding operator, sharding exchanges, catalog, errors."""

from __future__ import annotations

import dataclasses
import json

import pytest

from fabless.errors import FablessError
from fabless.estimate.engine import estimate
from fabless.estimate.recsys import backward_exchange_bytes, exchange_bytes, plan_sharding
from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware.presets import load_chip, load_system
from fabless.perf.embedding import embedding_time
from fabless.perf.params import ChipParams
from fabless.workload.catalog import load_model, load_recsys
from fabless.workload.ops import EmbeddingBag
from fabless.workload.recsys import Table, parse_recsys

from tests.conftest import assert_one_line_error


def _bw(chip: str) -> tuple[float, float, float]:
    """(HBM bytes/s at its streaming efficiency, on-chip SRAM bytes/s or 0, launch overhead s)."""
    p = ChipParams.from_chip(load_chip(chip))
    return float(p.hbm_bytes_per_s[0] * p.hbm_efficiency[0]), 0.0, float(p.launch_overhead_s[0])


def test_embedding_bag_bytes_by_hand():
    # 1024 samples x 26 tables x pooling 3 x dim 128 fp32: 512 bytes per lookup
    op = EmbeddingBag("e", batch=1024, tables=26, pooling=3, rows=10**6, dim=128, dtype="fp32")
    lookups = 1024 * 26 * 3
    assert op.bytes_per_lookup == 128 * 4
    assert op.bytes_read == lookups * 512 + lookups * 8          # rows + int64 ids
    assert op.bytes_written == 1024 * 26 * 512                   # one pooled row per sample and table
    assert op.flops == 1024 * 26 * 2 * 128                       # (pooling - 1) sums of dim elements


def test_embedding_time_is_bytes_over_bandwidth_and_cache_hits_leave_dram():
    rate, _, launch = _bw("h100-sxm")
    op = EmbeddingBag("e", batch=4096, tables=8, pooling=50, rows=10**7, dim=128, dtype="fp16")
    lookups = 4096 * 8 * 50
    dram = lookups * 256 + lookups * 8 + 4096 * 8 * 256
    t = embedding_time(op, ChipParams.from_chip(load_chip("h100-sxm")))
    assert float(t.time_s[0]) == pytest.approx(launch + dram / rate, rel=1e-9)
    # half the rows from SRAM: H100's preset lists no on-chip bandwidth, so only DRAM counts
    half = embedding_time(op, ChipParams.from_chip(load_chip("h100-sxm")), hit_rate=0.5)
    assert float(half.time_s[0]) == pytest.approx(launch + (dram - 0.5 * lookups * 256) / rate, rel=1e-9)
    # MTIA v2 lists 2.7 TB/s of SRAM: a full hit is bounded by it
    mtia = ChipParams.from_chip(load_chip("mtia-v2"))
    full = embedding_time(op, mtia, hit_rate=1.0, sram_bytes_per_s=2700e9)
    lo = float(mtia.launch_overhead_s[0])
    assert float(full.time_s[0]) == pytest.approx(
        lo + max((dram - lookups * 256) / float(mtia.hbm_bytes_per_s[0] * mtia.hbm_efficiency[0]), lookups * 256 / 2700e9), rel=1e-9)


def test_embedding_bound_step_equals_hand_bytes_over_bandwidth():
    # 4 tables of pooling 500, dim 256 fp32, one tiny MLP: on one H100 the lookups are the step
    cfg = parse_recsys({"model_type": "dlrm", "dense_features": 1, "embedding_dim": 256,
                        "num_embeddings_per_feature": [10**6] * 4, "multi_hot_sizes": [500] * 4,
                        "bottom_mlp": [256], "top_mlp": [1]}, name="emb-bound")
    from fabless.estimate.recsys import recsys_step

    system = load_system("dgx-h100").resized(1)
    step = recsys_step(cfg, system, ChipParams.from_chip(system.chip), batch=8192, training=False,
                       sharding="table_wise")
    rate, _, launch = _bw("h100-sxm")
    lookups = 8192 * 4 * 500
    hand = launch + (lookups * 1024 + lookups * 8 + 8192 * 4 * 1024) / rate  # 8.4 GB of rows
    assert step.parts_s["embedding_lookup"] == pytest.approx(hand, rel=1e-9)
    assert step.time_s == pytest.approx(hand, rel=0.05)  # the dense part is under 5%
    assert step.bounds["embedding_lookup"] == "memory"


def test_sharding_exchange_bytes_by_hand():
    cfg = load_recsys("dlrm-mlperf-v1")  # 26 one-hot tables, dim 128
    B, n = 65536, 8
    tw = plan_sharding(cfg, n, "table_wise", 80e9, "fp32", 0.0)
    # 26 tables over 8 chips: the greedy placement leaves 4 on the busiest chip
    assert max(tw.owner.count(c) for c in range(n)) == 4
    ex = exchange_bytes(cfg, tw, B, "bf16")
    assert ex["pooled_tw_all_to_all"] == ("all_to_all", B * 4 * 128 * 2)           # 67,108,864
    assert ex["ids_all_to_all"] == ("all_to_all", B / n * 26 * 8)                  # 1,703,936
    # row-wise needs a row per chip: the same model with its 3-row table padded to 8 rows
    big = dataclasses.replace(cfg, tables=tuple(Table(max(t.rows, n), t.pooling) for t in cfg.tables))
    rw = exchange_bytes(big, plan_sharding(big, n, "row_wise", 80e9, "fp32", 0.0), B, "bf16")
    assert rw["pooled_rw_reduce_scatter"] == ("reduce_scatter", B * 26 * 128 * 2)  # 436,207,616
    cw = exchange_bytes(cfg, plan_sharding(cfg, n, "column_wise", 80e9, "fp32", 0.0), B, "bf16")
    assert cw["pooled_cw_all_to_all"] == ("all_to_all", B * 26 * (128 / 8) * 2)
    assert cw["ids_all_gather"] == ("all_gather", B * 26 * 8)
    back = backward_exchange_bytes(cfg, tw, B, "bf16")
    assert back["grad_pooled_tw_all_to_all"] == ("all_to_all", B * 4 * 128 * 2)
    # dense gradients in fp32: bottom 13-512-256-128 and top 479-1024-1024-512-256-1, weights and biases
    dense = (13 * 512 + 512 + 512 * 256 + 256 + 256 * 128 + 128
             + 479 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 512 + 512 + 512 * 256 + 256 + 256 + 1)
    assert back["dense_grad_all_reduce"] == ("all_reduce", dense * 4.0)
    assert exchange_bytes(cfg, plan_sharding(cfg, n, "data_parallel", 200e9, "fp32", 0.0), B, "bf16") == {}


def test_catalog_against_published_figures():
    # DLRM paper (arXiv:1906.00091): the Criteo Kaggle model has about 540M parameters
    assert load_recsys("dlrm-criteo-kaggle").params_total / 1e9 == pytest.approx(0.540, rel=0.005)
    # facebookresearch/dlrm tools/visualize.py: the top MLP's input width (ln_top[0]) is the dot
    # interaction's output: 367 (Kaggle, dim 16), 415 (Terabyte, dim 64), 479 (MLPerf, dim 128)
    assert [load_recsys(n).interaction_width for n in ("dlrm-criteo-kaggle", "dlrm-criteo-terabyte", "dlrm-mlperf-v1")] \
        == [367, 415, 479]
    v2 = load_recsys("dlrm-v2")
    # the MLPerf DLRM-DCNv2 reference: 26 tables, 204,184,588 rows of 128, 214 ids per sample
    assert (v2.num_tables, v2.embedding_rows, v2.lookups_per_sample) == (26, 204_184_588, 214)
    # DCN-v2 low-rank cross: 3 layers of U, V (3456 x 512 each) and a bias of 3456
    assert v2.params_by_part()["interaction"] == 3 * (2 * 3456 * 512 + 3456)
    # NVIDIA DeepLearningExamples: the 'large' variant's tables are 82 GB in fp32
    assert load_recsys("dlrm-dle-criteo-large").table_bytes("fp32") == pytest.approx(82e9, rel=1e-4)


def test_invalid_sharding_is_one_line_naming_the_rule(cli):
    r = cli("estimate", "--model", "dlrm-v2", "--system", "mtia-v1-server", "--chips", "12", "--batch", "1200", "--json")
    assert r.code == 0, r.err
    bad = {"model": "dlrm-v2", "system": {"name": "dgx-h100", "count": 6}, "inference": {"batch": 600},
           "recsys": {"sharding": "column_wise"}}
    with pytest.raises(FablessError, match=r"column_wise splits embedding_dim 128 over 6 chips.*rule: chips divide"):
        estimate(scenario_from_dict(bad))


def test_invalid_sharding_from_the_cli(cli, tmp_path):
    scn = tmp_path / "dlrm.yaml"
    scn.write_text(json.dumps({"model": "dlrm-v2", "system": {"name": "dgx-h100", "count": 1},
                               "inference": {"batch": 64}, "recsys": {"sharding": "data_parallel"}}))
    assert_one_line_error(cli("estimate", str(scn)), "rule: a replicated table fits one chip")


def test_recsys_model_refused_by_language_model_paths_and_vice_versa():
    with pytest.raises(FablessError, match="recommendation model"):
        load_model("dlrm-v2")
    with pytest.raises(FablessError, match="inference.input_tokens"):
        scenario_from_dict({"model": "llama-3.1-8b", "system": "dgx-h100", "inference": {"batch": 8}})


def test_estimate_dlrm_v2_on_mtia_and_h100():
    base = {"model": "dlrm-v2", "precision": "fp16", "recsys": {"embedding_dtype": "fp16"}, "inference": {"batch": 4096}}
    mtia = estimate(scenario_from_dict({**base, "system": {"name": "mtia-v2-chassis"}}))
    h100 = estimate(scenario_from_dict({**base, "system": {"name": "dgx-h100"}}))
    for e, tdp in ((mtia, 90.0), (h100, 700.0)):
        m = e.metrics
        assert m["fits"] and m["latency_s"] > 0
        assert m["samples_per_s"] == pytest.approx(4096 / m["latency_s"])
        assert m["samples_per_s_per_w"] == pytest.approx(m["samples_per_s"] / (tdp * e.chips))
        assert sum(e.breakdown_s.values()) == pytest.approx(m["latency_s"])
    # 52 GB of fp16 tables fit in half of MTIA v2's 128 GB: replicated, no exchange
    assert mtia.metrics["sharding"] == {"data_parallel": 26}
    assert not any("all_to_all" in k for k in mtia.breakdown_s)
    train = estimate(scenario_from_dict({**{k: v for k, v in base.items() if k != "inference"},
                                         "system": {"name": "dgx-h100"}, "training": {"global_batch": 65536}}))
    assert {"embedding_backward", "dense_backward", "dense_grad_all_reduce"} <= set(train.breakdown_s)


def test_user_guide_dlrm_numbers_are_what_the_script_writes():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "scripts" / "docs_recsys.py"
    spec = importlib.util.spec_from_file_location("docs_recsys", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    assert mod.block() in mod.DOC.read_text(), "run python scripts/docs_recsys.py"


@pytest.mark.parametrize("args", [("serve", "examples/scenarios/dlrm-v2-mtia-v2.yaml", "--rate", "10/s"),
                                  ("tco", "examples/scenarios/dlrm-v2-mtia-v2.yaml"),
                                  ("fleet", "examples/scenarios/dlrm-v2-mtia-v2.yaml", "--demand", "100/min",
                                   "--slo", "ttft_p99=2s")])
def test_language_model_commands_refuse_a_dlrm_in_one_line(cli, args):
    assert_one_line_error(cli(*args), "recommendation model", "use fabless estimate")


def test_fused_epilogue_bytes_of_a_dcn_v2_by_hand():
    # DLRM-v2 (DCN-v2: 27 vectors of 128 -> width 3456, rank 512, 3 layers) on 1000 samples, int8 (1 byte)
    from fabless.workload.recsys import dense_ops

    cfg, rows, w, r = load_recsys("dlrm-v2"), 1000, 27 * 128, 512
    plain = [op for ops in dense_ops(cfg, rows, "int8") for op in ops]
    fused = [op for ops in dense_ops(cfg, rows, "int8", fused_epilogue=True) for op in ops]
    # one fused cross layer: V reads x_l and V (w x r), writes r per sample; U reads that and U, writes
    # w per sample; the pointwise x0 * (.) + x_l reads three w-vectors and the bias, writes one
    layer = (rows * w + w * r + rows * r) + (rows * r + r * w + rows * w) + (3 * rows * w + w + rows * w)
    inter = [op for op in fused if op.name.startswith("dcn")]
    assert len(inter) == 9 and sum(op.bytes for op in inter) == 3 * layer
    # what the epilogues save: each ReLU's read, bias and write (bottom 512-256-128, top
    # 1024-1024-512-256-1) and the concatenation pass of x0 (read and write rows x w)
    relus = sum(2 * rows * n + n for n in (512, 256, 128, 1024, 1024, 512, 256, 1))
    assert sum(op.bytes for op in plain) - sum(op.bytes for op in fused) == relus + 2 * rows * w
    assert {op.name for op in plain} - {op.name for op in fused} == (
        {"interaction.concat"} | {f"bottom.act{i}" for i in range(3)} | {f"top.act{i}" for i in range(5)})
    assert sum(op.flops for op in [o for o in plain if o.name.startswith(("dcn", "bottom.fc", "top.fc"))]) == \
        sum(op.flops for op in [o for o in fused if o.name.startswith(("dcn", "bottom.fc", "top.fc"))])


def test_fused_epilogue_is_off_by_default_and_faster_when_on():
    base = {"model": "dlrm-v2", "precision": {"weights": "int8", "activations": "int8"},
            "system": {"name": "dgx-h100", "count": 1}, "inference": {"batch": 65536}}
    off = estimate(scenario_from_dict({**base, "recsys": {"embedding_dtype": "int8"}}))
    on = estimate(scenario_from_dict({**base, "recsys": {"embedding_dtype": "int8", "fused_epilogue": True}}))
    assert off.breakdown_s == estimate(scenario_from_dict({**base, "recsys": {"embedding_dtype": "int8",
                                                                             "fused_epilogue": False}})).breakdown_s
    assert on.breakdown_s["embedding_lookup"] == off.breakdown_s["embedding_lookup"]
    for part in ("bottom_mlp", "interaction", "top_mlp"):
        assert on.breakdown_s[part] < off.breakdown_s[part]


def test_replicated_int8_tables_make_eight_independent_gpus():
    # int8 DLRM-v2 tables (five 40M-row tables and 21 smaller: 204.2 M rows x 128 bytes = 26.1 GB) fit in half an H100: auto replicates them, no exchange, and
    # 8 GPUs with 8x the batch run 8 copies of the one-GPU batch
    one = {"model": "dlrm-v2", "precision": {"weights": "int8", "activations": "int8"},
           "recsys": {"embedding_dtype": "int8"}, "system": {"name": "dgx-h100", "count": 1}, "inference": {"batch": 600000}}
    e1 = estimate(scenario_from_dict(one))
    e8 = estimate(scenario_from_dict({**one, "system": {"name": "dgx-h100", "count": 8}, "inference": {"batch": 4800000}}))
    assert load_recsys("dlrm-v2").table_bytes("int8") == pytest.approx(204.18e6 * 128, rel=1e-4)
    assert 204.18e6 * 128 < 80e9 / 2
    assert e8.metrics["sharding"] == {"data_parallel": 26} and e8.metrics["fits"]
    assert e8.metrics["samples_per_s"] == pytest.approx(8 * e1.metrics["samples_per_s"], rel=1e-9)
