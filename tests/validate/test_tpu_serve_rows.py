"""TPU serving rows (published_tpu_serve.csv, serve_scenarios_tpu.yaml): every row sourced with a
repository commit, mapped to the request simulator or skipped with a reason, the mapped settings equal
to the values copied by hand from the sglang-jax cookbook, and the fit / held-out rule applied."""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path

import pytest

from fabless.validate import serve, train
from fabless.validate.core import evaluate, parse_config
from fabless.validate.hardware_map import preset_for_hardware

MEAS = Path(str(resources.files("fabless") / "data" / "measurements"))
ROWS = list(csv.DictReader(open(MEAS / "published_tpu_serve.csv", encoding="utf-8")))
BY_ID = {r["id"]: r for r in ROWS}

# Copied by hand from docs/cookbook/autoregressive/Qwen/Qwen3.md at sglang-jax commit 943a4710 (Qwen3-32B
# table: ISL, batch, ITL SGL_JAX, ITL vLLM, out tok/s SGL_JAX, out tok/s vLLM).
QWEN32_TABLE = [
    (1024, 64, 29.48, 42.45, 1977.45, 1391.29),
    (1024, 256, 34.27, 68.14, 2122.98, 1652.79),
    (4096, 64, 35.32, 73.64, 785.30, 422.50),
    (8192, 64, 33.43, 142.77, 435.25, 199.05),
]
# Same file and commit, the Qwen3-8B table.
QWEN8_TABLE = [
    (1024, 64, 11.11, 18.34, 5296.60, 3043.58),
    (1024, 256, 30.00, 56.81, 7571.84, 4051.08),
    (4096, 64, 21.13, 42.20, 2528.79, 1304.04),
    (8192, 64, 31.98, 58.86, 1458.77, 873.82),
]


def _expected_qwen_rows() -> dict[str, tuple]:
    """id -> (model, engine, isl, concurrency, metric kind, value): Qwen3-32B from 001, Qwen3-8B from 023,
    each sgl-jax then vLLM, each cell ITL then output tokens/s."""
    out: dict[str, tuple] = {}
    for model, table, first in (("qwen3-32b", QWEN32_TABLE, 1), ("qwen3-8b", QWEN8_TABLE, 23)):
        n = first - 1
        for engine in ("sgl", "vllm"):
            for isl, c, sgl_itl, vllm_itl, sgl_out, vllm_out in table:
                itl, rate = (sgl_itl, sgl_out) if engine == "sgl" else (vllm_itl, vllm_out)
                n += 1
                out[f"infer-tpusrv-{n:03d}"] = (model, engine, isl, c, "tpot_ms", itl)
                n += 1
                out[f"infer-tpusrv-{n:03d}"] = (model, engine, isl, c, "output_tokens_per_s", rate)
    return out


def test_ids_unique_and_sources_name_a_repository_commit():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) and len(ids) >= 20
    for r in ROWS:
        assert re.fullmatch(r"infer-tpusrv-\d{3}", r["id"]), r["id"]
        assert r["category"] == "infer"
        assert re.search(r"github\.com/(sgl-project/sglang-jax|vllm-project/vllm)", r["source"]), r["id"]
        assert re.search(r"\b20\d\d-\d\d-\d\d\b", r["source"]), r["id"]
        if "sglang-jax" in r["source"]:  # cookbook rows name the commit they were read at
            assert re.search(r"\bcommit [0-9a-f]{40}\b", r["source"]), r["id"]
        else:  # a pull request's description
            assert re.search(r"/pull/\d+", r["source"]), r["id"]
        assert r["notes"].strip() and float(r["value"]) > 0


def test_every_row_is_mapped_or_skipped_in_both_categories():
    smap, imap = serve.serve_map(), train.scenario_map()
    for r in ROWS:
        assert "skip" in imap[r["id"]], r["id"]  # the static-batch engine leaves serving rows to serve
        e = smap[r["id"]]
        if "skip" in e:
            assert len(e["skip"]) > 40, r["id"]
        else:
            assert e["note"] and e["scenario"] and e["load"] and e["convert"], r["id"]


def test_qwen_sweep_rows_match_the_cookbook_table():
    smap = serve.serve_map()
    expected = _expected_qwen_rows()
    assert len(expected) == 32
    for rid, (model, engine, isl, c, conv, value) in expected.items():
        r, e = BY_ID[rid], smap[rid]
        assert float(r["value"]) == value, rid
        cfg = parse_config(r["config"])
        assert (int(cfg["isl"]), int(cfg["osl"]), int(cfg["max_concurrency"])) == (isl, 1024, c), rid
        assert int(cfg["num_prompts"]) == 3 * c  # the driver's num_prompts_per_concurrency = 3
        inf = e["scenario"]["inference"]
        assert (inf["input_tokens"], inf["output_tokens"]) == (isl, 1024), rid
        assert e["load"] == {"kind": "burst", "requests": c}, rid
        assert e["convert"] == conv, rid
        assert e["scenario"]["model"] == model and e["scenario"]["parallel"]["tp"] == 4
        assert r["model_or_kernel"].lower() == model
        assert e["scenario"]["system"]["count"] == 4 and int(r["n_chips"]) == 4
        # sglang-jax: --max-running-requests 256, --chunked-prefill-size 2048, and with bench_serving's ignore_eos
        # and --disable-radix-cache the full answer reserve at admission; vLLM: its TPU v6e server defaults,
        # greedy admission
        want = {"max_num_seqs": 256, "max_num_batched_tokens": 2048 if engine == "sgl" else 1024}
        if engine == "sgl":
            assert "disable_radix_cache" in cfg and cfg["page_size"] == "128", rid
            want["reserve_output_fraction"] = 1.0
            want["block_size_tokens"] = 128  # --page-size 128
        assert e["scheduler"] == want, rid
        # the HBM share the engine took: sglang-jax --mem-fraction-static as the row states; vLLM sets none
        # (its default 0.9, the engine-wide value)
        if engine == "sgl":
            assert e["memory_fraction"] == float(cfg["mem_fraction_static"]) == 0.8, rid
        else:
            assert "memory_fraction" not in e and "gpu_memory_utilization" not in cfg, rid


@pytest.mark.parametrize("rid, model, chips, total_in, total_out, value", [
    # Llama3.1.md (commit cddbf6f1): 100 prompts, 26497 input / 25820 generated tokens, median TPOT 9.84
    ("infer-tpusrv-017", "llama-3.1-8b", 4, 26497, 25820, 9.84),
    ("infer-tpusrv-018", "llama-3.1-8b", 4, 26497, 25820, 1448.91),
    # Llama3.3-70B.md (commit 047fbd76): 100 prompts, 50561 input / 52444 generated, median TPOT 16.47
    ("infer-tpusrv-019", "llama-3.1-70b", 16, 50561, 52444, 16.47),
    ("infer-tpusrv-020", "llama-3.1-70b", 16, 50561, 52444, 882.17),
])
def test_closed_loop_rows_use_the_runs_mean_lengths(rid, model, chips, total_in, total_out, value):
    r, e = BY_ID[rid], serve.serve_map()[rid]
    assert float(r["value"]) == value
    cfg = parse_config(r["config"])
    assert (int(cfg["total_input_tokens"]), int(cfg["total_generated_tokens"])) == (total_in, total_out)
    inf = e["scenario"]["inference"]
    # mean lengths over the 100 requests, rounded: 264.97 -> 265, 258.2 -> 258, 505.61 -> 506, 524.44 -> 524
    assert (inf["input_tokens"], inf["output_tokens"]) == (round(total_in / 100), round(total_out / 100))
    assert e["load"] == {"kind": "closed_loop", "concurrency": 16}
    assert e["scenario"]["model"] == model and e["scenario"]["parallel"]["tp"] == chips == int(r["n_chips"])
    # the HBM share and KV page where the row states them (Llama-3.3-70B: --mem-fraction-static 0.85,
    # --page-size 128), else the defaults
    assert e["scheduler"].get("block_size_tokens", 16) == int(cfg.get("page_size", 16))
    assert e.get("memory_fraction") == (float(cfg["mem_fraction_static"]) if "mem_fraction_static" in cfg else None)


def test_vllm_pr_row_matches_its_benchmark_block():
    # vLLM PR #16458, 'Before': 987 requests, 1776600 input and 118669 generated tokens in 125.47 s,
    # total 15105.47 tok/s; served with --max-num-batched-tokens 512 --max_num_seqs 512, tp 1.
    r, e = BY_ID["infer-tpusrv-039"], serve.serve_map()["infer-tpusrv-039"]
    assert float(r["value"]) == 15105.47
    assert (1776600 + 118669) / 125.47 == pytest.approx(15105.47, rel=1e-3)
    assert e["load"] == {"kind": "burst", "requests": 987}
    inf = e["scenario"]["inference"]
    assert (inf["input_tokens"], inf["output_tokens"]) == (1776600 // 987, round(118669 / 987))  # 1800, 120
    assert e["scheduler"] == {"max_num_seqs": 512, "max_num_batched_tokens": 512}
    assert e["memory_fraction"] == float(parse_config(r["config"])["gpu_memory_utilization"]) == 0.95
    assert e["scenario"]["parallel"]["tp"] == 1 == int(r["n_chips"]) and e["convert"] == "total_tokens_per_s"


def test_output_rate_and_duration_agree_where_both_are_published():
    # 25820 tokens / 17.82 s = 1448.9 tok/s; 52444 / 59.45 s = 882.1 tok/s (the runs' own division)
    assert 25820 / 17.82 == pytest.approx(float(BY_ID["infer-tpusrv-018"]["value"]), rel=1e-3)
    assert 52444 / 59.45 == pytest.approx(float(BY_ID["infer-tpusrv-020"]["value"]), rel=1e-3)
    # Qwen-7B-Chat baseline: 100 x 128 = 12800 tokens / 15.30 s = 836.6 tok/s (the page: 836.41)
    assert 100 * 128 / 15.30 == pytest.approx(float(BY_ID["infer-tpusrv-041"]["value"]), rel=1e-3)


def test_fit_rule_id_number_one_mod_four_among_mapped_rows():
    # rows 001-039: id number 1 mod 4; rows 040-042 (the cookbook's low-concurrency sglang-jax
    # baselines, added to fit the stack's host floor): all fit, by the rule stated in the yaml
    smap = serve.serve_map()
    mapped = {r["id"] for r in ROWS if "skip" not in smap[r["id"]]}
    want_fit = {i for i in mapped if int(i.rsplit("-", 1)[1]) % 4 == 1 and int(i.rsplit("-", 1)[1]) < 40}
    want_fit |= {i for i in mapped if int(i.rsplit("-", 1)[1]) >= 40}
    assert want_fit == {f"infer-tpusrv-{i:03d}" for i in (1, 5, 9, 13, 17, 25, 29, 33, 37, 40, 41, 42)}
    assert {i for i in mapped if smap[i].get("set") == "fit"} == want_fit
    assert serve.FIT_IDS & set(BY_ID) == want_fit


def test_hardware_maps_to_tpu_presets():
    for r in ROWS:
        assert preset_for_hardware(r["hardware"])[0] in ("tpu-v6e", "tpu-v7"), r["id"]


def test_at_least_fifteen_tpu_serving_rows_are_scored():
    rows = [r for r in serve.rows() if r["id"] in BY_ID]
    scored = [o for o in evaluate(["serve"], rows=rows) if o.predicted is not None]
    assert len(scored) >= 37
    assert all(o.chip.startswith("tpu-") for o in scored)


def test_the_vllm_tpu_parameters_are_fitted_on_its_fit_rows_only():
    # software.yaml vllm-tpu: host_step_overhead_s and decode_score_cost_s carry fitted_on; both must name
    # exactly the rows that the 1-mod-4 rule marks fit among the rows naming the stack (009, 013, 033, 037)
    from fabless.loading import read_yaml

    stack = read_yaml(resources.files("fabless") / "data" / "estimate" / "software.yaml")["vllm-tpu"]
    smap = serve.serve_map()
    fit = sorted(i for i in BY_ID if "skip" not in smap[i] and smap[i].get("set") == "fit"
                 and smap[i]["scenario"].get("software") == "vllm-tpu")
    assert fit == [f"infer-tpusrv-{i:03d}" for i in (9, 13, 33, 37)]
    for field in ("host_step_overhead_s", "decode_score_cost_s"):
        assert sorted(stack[field]["fitted_on"]) == fit, field
    assert sorted(stack["fit_rows"]) == fit


# Copied by hand from sglang-jax docs/cookbook/autoregressive/Qwen/Qwen.md and Xiaomi/MiMo-7B.md section 4.2
# at commit cddbf6f1: (id, catalog model, memory fraction, metric, value)
SMALL_ROWS = [
    ("infer-tpusrv-040", "qwen-7b", 0.8, "tpot_ms", 8.53),
    ("infer-tpusrv-041", "qwen-7b", 0.8, "output_tokens_per_s", 836.41),
    ("infer-tpusrv-042", "mimo-7b", 0.88, "tpot_ms", 8.26),
]


@pytest.mark.parametrize("rid, model, mf, conv, value", SMALL_ROWS)
def test_small_model_baselines_match_the_cookbook(rid, model, mf, conv, value):
    r, e = BY_ID[rid], serve.serve_map()[rid]
    assert float(r["value"]) == value and "cddbf6f1cc33cbdd453bd8f36ff7051cf46ca176" in r["source"]
    scn = e["scenario"]
    assert scn["model"] == model and scn["software"] == "sglang-jax" and scn["parallel"]["tp"] == 4 == int(r["n_chips"])
    assert (scn["inference"]["input_tokens"], scn["inference"]["output_tokens"]) == (512, 128)
    assert e["load"] == {"kind": "closed_loop", "concurrency": 8} and e["memory_fraction"] == mf and e["convert"] == conv
    # sglang-jax 0.1.0 defaults: page size 1, chunked prefill 4096, prompt steps apart from decode steps
    assert e["scheduler"]["block_size_tokens"] == 1 and e["scheduler"]["max_num_batched_tokens"] == 4096
    assert e["scheduler"]["mixed_chunks"] is False


def test_every_sglang_jax_row_names_the_stack_and_its_floor_is_fitted_on_its_fit_rows():
    from fabless.loading import read_yaml

    smap = serve.serve_map()
    for r in ROWS:
        e = smap[r["id"]]
        if "skip" not in e:
            want = "sglang-jax" if "engine=sglang-jax" in r["config"] else "vllm-tpu"
            assert e["scenario"]["software"] == want, r["id"]
    stack = read_yaml(resources.files("fabless") / "data" / "estimate" / "software.yaml")["sglang-jax"]
    fit = sorted(i for i in BY_ID if "skip" not in smap[i] and smap[i].get("set") == "fit"
                 and smap[i]["scenario"].get("software") == "sglang-jax")
    assert fit == [f"infer-tpusrv-{i:03d}" for i in (1, 5, 17, 25, 29, 40, 41, 42)]
    assert sorted(stack["host_step_floor_s"]["fitted_on"]) == fit == sorted(stack["fit_rows"])


def test_small_model_rows_sit_above_the_weight_streaming_time():
    # Why these rows constrain a host floor: a decode step of 8 sequences streams each chip's share of
    # the weights once. Qwen-7B-Chat: 7.72e9 parameters x 2 B / 4 chips = 3.86 GB per chip, at v6e's
    # 1.64 TB/s HBM = 2.35 ms; MiMo-7B (7.62e9 without its MTP layer): 2.32 ms. Both measured TPOTs are
    # more than 3x that, which the device's KV reads (8 x 640 positions) and all-reduces do not explain.
    for rid, params in (("infer-tpusrv-040", 7.72e9), ("infer-tpusrv-042", 7.62e9)):
        stream_ms = params * 2 / 4 / 1.64e12 * 1e3
        assert float(BY_ID[rid]["value"]) > 3 * stream_ms, rid
