"""The Intel Gaudi 2 preset and rows (chips/gaudi2.yaml, systems/gaudi2-8.yaml, published_gaudi.csv,
scenarios_gaudi.yaml): the preset's derived numbers checked by hand, every row sourced and mapped,
fit / held-out fixed by id, and the plans consistent with the chip counts the sources give."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fabless.estimate.software import engine_params, software_stacks
from fabless.hardware import load_chip, load_system
from fabless.hardware.checks import consistency_issues
from fabless.perf.params import families
from fabless.validate import serve, train
from fabless.validate.core import load_rows
from fabless.validate.hardware_map import preset_for_hardware

DATA = Path(__file__).resolve().parents[2] / "src" / "fabless" / "data"
ROWS = [r for r in load_rows() if r["_file"] == "published_gaudi.csv"]


def test_chip_file_passes_fabless_chips_validate(cli):
    res = cli("chips", "validate", str(DATA / "chips" / "gaudi2.yaml"))
    assert res.code == 0, res.out
    assert consistency_issues(load_chip("gaudi2")) == []


def test_gaudi2_derived_numbers_by_hand():
    # Intel Gaudi 3 white paper, Table 1 (Gaudi 2 column): 432 TFLOPS bf16 and 865 fp8 (MME), 2 MMEs,
    # 24 TPCs, 48 MB SRAM, 96 GB HBM2e at 2.46 TB/s, 24 x 100 GbE, 600 W.
    c = load_chip("gaudi2")
    assert c.compute.peak_tflops.bf16 == pytest.approx(432)
    assert c.compute.peak_tflops.fp8 == pytest.approx(865)
    # 2 MMEs x 256 x 256 MACs x 2 FLOPs x 1.648 GHz = 432.0 TFLOPS (the clock is backed out of the peak)
    assert 2 * 256 * 256 * 2 * 1.648e9 / 1e12 == pytest.approx(432, rel=0.001)
    assert c.derived_peak_tflops("bf16") == pytest.approx(432, rel=0.001)
    # fp8: twice the MACs per cycle -> 864 TFLOPS, the published 865 within rounding
    assert c.derived_peak_tflops("fp8") == pytest.approx(865, rel=0.002)
    assert c.memory.hbm.capacity_bytes == pytest.approx(96e9)
    assert c.memory.hbm.stacks * c.memory.hbm.per_stack_gb_s == pytest.approx(2460)
    assert c.memory.on_chip_bytes == pytest.approx(48 * 2**20)
    # 21 scale-up ports of 100 Gb/s: 21 x 12.5 GB/s x 2 directions = 525 GB/s; 3 per peer = 37.5 GB/s each way
    assert c.links.scale_up.bidir_gb_s == pytest.approx(21 * 100 / 8 * 2)
    assert c.links.scale_up.bidir_gb_s / 7 / 2 == pytest.approx(3 * 100 / 8)
    assert c.links.scale_out.bandwidth_gbit_s == pytest.approx(3 * 100)
    assert c.physical.tdp_w == 600


def test_gaudi2_server():
    s = load_system("gaudi2-8")
    assert s.chip.name == "gaudi2" and s.chips == 8 and s.scale_up.size == 8
    assert s.scale_up.topology == "fully_connected" and s.scale_up.in_network_reduction is False


def test_hardware_texts_map_to_gaudi2_and_gaudi3_apart():
    assert preset_for_hardware("Intel Gaudi2 (HLS-Gaudi2)")[0] == "gaudi2"
    assert preset_for_hardware("Intel Gaudi 2")[0] == "gaudi2"
    assert preset_for_hardware("Intel Gaudi 3")[0] == "gaudi3"


GAUDI3_IDS = {f"infer-gaudi-{n:03d}" for n in range(15, 22)}


def test_rows_are_sourced_with_a_commit_and_have_unique_ids():
    assert len(ROWS) == 21
    ids = [r["id"] for r in ROWS]
    assert len(set(ids)) == len(ids)
    for n, r in enumerate(ROWS, start=1):
        assert re.fullmatch(rf"(train|infer)-gaudi-{n:03d}", r["id"]), r["id"]
        assert preset_for_hardware(r["hardware"])[0] == ("gaudi3" if r["id"] in GAUDI3_IDS else "gaudi2"), r["id"]
        assert re.search(r"github\.com/[\w.-]+/[\w.-]+", r["source"]), r["id"]
        assert re.search(r"\b[0-9a-f]{40}\b", r["source"]), r["id"]
        assert r["notes"].strip() and float(r["value"]) > 0


def test_every_row_is_mapped_and_the_fit_rows_are_the_ids_one_mod_three():
    smap = train.scenario_map()
    fit = set()
    for r in ROWS:
        entry = smap[r["id"]]
        assert entry.get("note") and entry.get("convert") and entry.get("scenario"), r["id"]
        if entry.get("set") == "fit":
            fit.add(r["id"])
    assert fit == {r["id"] for r in ROWS if int(r["id"][-3:]) % 3 == 1}
    assert fit == {"train-gaudi-001", "train-gaudi-004", "infer-gaudi-007", "infer-gaudi-010", "infer-gaudi-013",
                   "infer-gaudi-016", "infer-gaudi-019"}
    # each stack lists its own fit rows (the Gaudi 2 matrix units' efficiency is fitted on GEMMs since stop 47:
    # test_the_gaudi2_efficiency_is_a_gemm_level_fit)
    assert not set(families()["intel-gaudi2"].sources["mma_efficiency"]["fitted_on"]) & fit
    stacks = software_stacks()
    assert (set(stacks["megatron-deepspeed-gaudi"].fit_rows) | set(stacks["megatron-deepspeed-gaudi-v3.0"].fit_rows)
            | set(stacks["optimum-habana-run-generation"].fit_rows)
            | set(stacks["optimum-habana-run-generation-no-reuse-cache"].fit_rows)
            | set(stacks["optimum-habana-deepspeed-lora"].fit_rows)) == fit


def _cfg(r: dict) -> dict:
    return dict(p.split("=", 1) for p in r["config"].split(";") if "=" in p)


def test_training_plans_multiply_to_the_chips_and_the_batch_by_hand():
    smap = train.scenario_map()
    for r in (r for r in ROWS if r["category"] == "train"):
        c, scn = _cfg(r), smap[r["id"]]["scenario"]
        dp, tp, pp, mbs, gbs = (int(c[k]) for k in ("dp", "tp", "pp", "mbs", "gbs"))
        assert dp * tp * pp == int(r["n_chips"]) == scn["system"]["count"], r["id"]
        assert (scn["parallel"]["tp"], scn["parallel"]["pp"]) == (tp, pp)
        assert (scn["training"]["global_batch"], scn["training"]["micro_batch"]) == (gbs, mbs)
        # the logged gradient accumulation (in the notes) is gbs / (dp x mbs)
        accum = int(re.search(r"Gradient accumulation (\d+)", r["notes"]).group(1))
        assert accum == gbs // (dp * mbs), r["id"]
        assert scn["precision"] == ("fp8" if "FP8" in r["precision"] else "bf16")


def test_serving_rows_answer_means_are_tokens_over_samples():
    # infer-185: 8034.85 tokens/s at 27.56 samples/s -> 291.5; infer-186: 6287.47 / 21.60 -> 291.1
    m = serve.serve_map()
    assert m["infer-185"]["lengths"]["output_mean_tokens"] == round(8034.85 / 27.56)
    assert m["infer-186"]["lengths"]["output_mean_tokens"] == round(6287.47 / 21.60)
    assert m["infer-185"]["scenario"]["system"]["name"] == "gaudi2-8"
    assert "set" not in m["infer-185"] and "set" not in m["infer-186"]


def test_batch1_decode_streams_the_weights_at_the_hbm_rate():
    # infer-gaudi-006 (Meta-Llama-3-8B as llama-3.1-8b, batch 1, 8 + 100 tokens): each decode step reads
    # every linear weight once. Per layer q 4096^2 + k, v 2 x 4096 x 1024 + o 4096^2 + gate, up, down
    # 3 x 4096 x 14336 = 218,103,808; x 32 layers + lm_head 4096 x 128256 = 7,504,658,432 bf16 weights,
    # 15.009 GB. The MMEs' wide shape takes 3.3 TB/s, so the HBM sets the pace: 2.46 TB/s x 0.9
    # (default-systolic hbm_efficiency) -> 6.779 ms, plus 5 us a GEMM for the 4 x 32 + 1 = 129 GEMMs
    # (fused QKV and gate-up; default-systolic launch_overhead_s) -> 7.424 ms a step, 99 steps after
    # the prefill's first token.
    weights = (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336) * 32 + 4096 * 128256
    per_step = weights * 2 / (2.46e12 * 0.9) + 129 * 5e-6
    _, est = train._estimate_cached("infer-gaudi-006")
    assert est.breakdown_s["decode.matmul"] == pytest.approx(99 * per_step, rel=0.01)


def test_the_v30_rows_run_unfused_attention_and_the_later_ones_flash():
    # MLPerf Training v3.0's Gaudi GPT-3 code has only Megatron's baddbmm / softmax / dropout / bmm
    # attention; v3.1 and v4.0 pass --use-fused-sdpa true (software.yaml megatron-deepspeed-gaudi-v3.0)
    stacks, by_row = software_stacks(), train.software_by_row()
    for r in (r for r in ROWS if r["category"] == "train" and "GPT-3" in r["model_or_kernel"]):
        v30 = "training_results_v3.0" in r["source"]
        assert by_row[r["id"]] == ("megatron-deepspeed-gaudi-v3.0" if v30 else "megatron-deepspeed-gaudi"), r["id"]
        assert stacks[by_row[r["id"]]].fused_attention is not v30
    # train-gaudi-001's attention moves its score matrices through HBM: E = 1 x 96/8 heads x 2048^2
    # = 50,331,648 scores per layer and micro-batch; forward bf16 S written (2E), softmax read + write
    # (4E), dropout read + write + a one-byte mask (5E), bmm read (2E): 13E bytes; backward dP' written
    # (2E), dropout backward reads it and the mask and writes dP (5E), softmax backward reads dP and P
    # and writes dS (6E), dQ, dK and dV read dS, dS and P' (6E): 19E. 32E = 1.611 GB at 2.46 TB/s x 0.9
    # = 0.7275 ms, x 12 layers x 384 micro-batches = 3.352 s of score traffic alone (flash: none).
    _, est = train._estimate_cached("train-gaudi-001")
    scores_s = 32 * 50_331_648 / (2.46e12 * 0.9) * 12 * 384
    assert scores_s == pytest.approx(3.352, rel=0.001)
    assert est.breakdown_s["attention"] >= scores_s


def test_gaudi3_rows_repeat_the_gaudi2_tests_on_gaudi3():
    # each Gaudi 3 row is the same optimum-habana test as a Gaudi 2 row (006-013 less 010, whose Gaudi 3
    # baseline is the Gaudi 2 value copied), on the gaudi3 preset, with the same scenario but the system
    smap = train.scenario_map()
    by_test = {_cfg(r)["test"]: r["id"] for r in ROWS if r["category"] == "infer" and r["id"] not in GAUDI3_IDS}
    pairs = {by_test[_cfg(r)["test"]]: r["id"] for r in ROWS if r["id"] in GAUDI3_IDS}
    assert sorted(pairs) == ["infer-gaudi-006", "infer-gaudi-007", "infer-gaudi-008", "infer-gaudi-009",
                             "infer-gaudi-011", "infer-gaudi-012", "infer-gaudi-013"]
    for g2, g3 in pairs.items():
        a, b = smap[g2]["scenario"], smap[g3]["scenario"]
        assert b["system"] == {"name": "gaudi3-8", "count": a["system"]["count"]}, g3
        assert {k: v for k, v in a.items() if k != "system"} == {k: v for k, v in b.items() if k != "system"}, g3
        assert "key 'gaudi3'" in next(r for r in ROWS if r["id"] == g3)["source"]


def test_gaudi3_batch1_decode_streams_the_weights_at_the_hbm_rate():
    # infer-gaudi-015 (Meta-Llama-3-8B as llama-3.1-8b on one Gaudi 3): 7,504,658,432 bf16 weights a step
    # (test above). 8 MMEs x 256 columns x 2 bytes x 1.75 GHz = 7.17 TB/s > 3.67 TB/s of HBM2e, so the HBM
    # sets the pace: 15.009 GB / (3.67 TB/s x 0.9) = 4.544 ms, plus 129 GEMMs x 5 us, a step; 99 steps.
    assert 8 * 256 * 2 * 1.75e9 > 3.67e12
    weights = (2 * 4096 * 4096 + 2 * 4096 * 1024 + 3 * 4096 * 14336) * 32 + 4096 * 128256
    per_step = weights * 2 / (3.67e12 * 0.9) + 129 * 5e-6
    _, est = train._estimate_cached("infer-gaudi-015")
    assert est.breakdown_s["decode.matmul"] == pytest.approx(99 * per_step, rel=0.01)


def test_lora_row_plan_and_step_by_hand():
    # train-gaudi-014 (MLPerf Training v4.0 Llama 2 70B LoRA, 8 Gaudi 2): dp 8 x ZeRO-3, micro-batch 1, global
    # batch 8, seq 8192, LoRA rank 16, FP8. The measured median step (10.197 s) against a floor by hand:
    # frozen-base training with full recompute runs the forward twice and the backward's input gradients
    # once: 3 x 2 x 68.98e9 params x 8192 tokens = 3.39e15 FLOP per chip per step, at 865 TFLOPS = 3.92 s,
    # so the row's step is at most 2.6 x the matmul floor (the model must sit between the floor and it).
    r = next(r for r in ROWS if r["id"] == "train-gaudi-014")
    scn = train.scenario_map()["train-gaudi-014"]["scenario"]
    assert scn["training"]["mode"] == "lora" and scn["training"]["lora_rank"] == 16 and scn["training"]["zero"] == 3
    floor_s = 3 * 2 * 68.98e9 * 8192 / 865e12
    assert floor_s == pytest.approx(3.92, rel=0.01)
    _, est = train._estimate_cached("train-gaudi-014")
    assert floor_s < est.metrics["step_time_s"] < float(r["value"]) * 1.5
    assert train.software_by_row()["train-gaudi-014"] == "optimum-habana-deepspeed-lora"


def test_run_generation_decode_attends_the_whole_static_cache():
    # run_generation without --bucket_size keeps one KV buffer of prompt + 100 new tokens per sequence and
    # attends all of it every step (software.yaml optimum-habana-run-generation, decode_full_cache): at
    # batch 512 of Llama 2 7B (10 + 100 tokens) a step reads 512 x 110 positions x 2 x 32 layers x 4096 x 2
    # bytes = 29.5 GB of KV, against 512 x 60 positions (15.0 GB) with the tokens-so-far mean.
    from fabless.estimate.engine import decode_context

    sw = software_stacks()["optimum-habana-run-generation"]
    assert sw.decode_full_cache and sw.named_only
    assert decode_context(10, 100, sw) == 110 and decode_context(10, 100, None) == 60
    kv_step = 512 * 110 * 2 * 32 * 4096 * 2
    assert kv_step / 1e9 == pytest.approx(29.5, abs=0.05)
    assert software_stacks()["optimum-habana-run-generation-no-reuse-cache"].decode_full_cache
    # serving on Gaudi (TGI-gaudi, infer-185/-186) keeps the default stack, which attends the tokens so far
    assert not software_stacks()["optimum-habana"].decode_full_cache


def test_the_gaudi2_efficiency_is_a_gemm_level_fit():
    # Since stop 47 intel-gaudi2's mma_efficiency is fitted on Gaudi 2 GEMMs (gaudi-perf's torch.mm table) by the
    # GEMM tables' rule, not on training steps: the step's losses are its software stack's. Checked against the
    # held-out GEMMs: the gaudi-perf shape left out and the MAMF row of a reserved source, both within 5%
    # (8-11% slow when the value was the step-level 0.88)
    from fabless.validate import kernel

    fam = families()["intel-gaudi2"]
    assert set(fam.sources["mma_efficiency"]["fitted_on"]) <= kernel.FIT_IDS
    assert fam.values["mma_efficiency"] == pytest.approx(0.951, abs=1e-9)
    rows = {r["id"]: r for r in load_rows()}
    for rid in ("kernel-fresh9-036", "kernel-260"):
        assert rid not in kernel.FIT_IDS
        assert kernel.predict(rows[rid]) == pytest.approx(float(rows[rid]["value"]), rel=0.05), rid
    # the training stacks have one fit row each, fewer than a stack's own efficiency needs: the engine-wide value
    stacks = software_stacks()
    for name in ("megatron-deepspeed-gaudi", "megatron-deepspeed-gaudi-v3.0"):
        assert not stacks[name].calibrated
        assert stacks[name].framework_kernel_efficiency == pytest.approx(engine_params()["framework_kernel_efficiency"])


def test_runs_without_reuse_cache_prefill_the_padded_inputs():
    # optimum-habana pads the prompt by max_new_tokens under static shapes and cuts the first step back
    # to the prompt only with --reuse_cache (or bucket_internal): the rows' config says which they ran
    # (reuse_cache=yes/no; the deepspeed tests default to no, the torch.compile ones pass it).
    from fabless.estimate.engine import prefill_tokens

    by_row = train.software_by_row()
    for r in ROWS:
        if r["category"] != "infer" or "test=" not in r["config"]:
            continue
        c = _cfg(r)
        reuse = c.get("reuse_cache") == "yes" or c.get("torch_compile", "").startswith("yes")
        want = "optimum-habana-run-generation" if reuse else "optimum-habana-run-generation-no-reuse-cache"
        assert by_row[r["id"]] == want, r["id"]
    stacks = software_stacks()
    full, cut = stacks["optimum-habana-run-generation-no-reuse-cache"], stacks["optimum-habana-run-generation"]
    assert full.prefill_full_length and not cut.prefill_full_length
    assert full.efficiency_from == "optimum-habana-run-generation"
    # Llama 2 7B at batch 512, 10 + 100 tokens: 512 x 110 = 56,320 prompt tokens instead of 5,120
    assert 512 * prefill_tokens(10, 100, full) == 56320 and 512 * prefill_tokens(10, 100, cut) == 5120
    assert prefill_tokens(10, 100, None) == 10


def test_padded_prefill_costs_the_linear_flops_of_the_padding_by_hand():
    # infer-gaudi-012 vs -009 (same scenario, Gaudi 2): the padding adds 512 x 100 = 51,200 prompt tokens
    # of 2 x 6.74e9 parameters each, 6.90e14 FLOPs: 1.60 s at the 432 TFLOPS bf16 peak, 3.2 s at half of it
    # (the attention scores add 4 x 32 layers x 4096 x 110^2 x 512 = 3.2e12, under 0.5%).
    full = train.run_entry(next(r for r in ROWS if r["id"] == "infer-gaudi-012"))[1].metrics
    cut = train.run_entry(next(r for r in ROWS if r["id"] == "infer-gaudi-009"))[1].metrics
    extra_flop = 2 * 6.74e9 * 512 * 100
    assert extra_flop / 432e12 == pytest.approx(1.60, abs=0.01)
    assert 1.60 < full["ttft_s"] - cut["ttft_s"] < 3.2
    # the decode steps are the same: the static buffer is 110 positions either way
    assert full["tpot_s"] == pytest.approx(cut["tpot_s"], rel=1e-9)
