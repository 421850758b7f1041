"""The eighth unseen-data check's serving and static-batch rows (published_fresh8_serve.csv; serve_scenarios_fresh8.yaml
for the vLLM rows, scenarios_fresh8.yaml for the Gaudi 2 rows): they load, each is cited with its source's URL, commit and
a date, none is a fit row, each maps to the run its source describes (vLLM's benchmark_latency harness as a burst of the
batch on the engine's V0 defaults, or optimum-habana's run_generation as a static batch), and the figures hand-copied
from the source agree with one another by hand arithmetic (the file's 'Throughput' column is batch x (input + output) /
'Latency'). Nothing here runs the simulator: the rows' first scores are recorded once in the two files' headers."""

from __future__ import annotations

import re

import pytest

from fabless.validate import serve, train
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh8_serve.csv"
ROWS, BY_ID = rows_of(FILE)
URL = "https://github.com/argonne-lcf/LLM-Inference-Bench/blob/ae7e7a41173badc99f7b59da1657a0172813e5e5/Plots/All_results.csv"
HEAD = "4211f5d4e9bc0145ed541b6d372d5d8223b44235"
HARNESS = "4664215bcbc287453251a068994c9161ad1047cd"

# argonne-lcf/LLM-Inference-Bench Plots/All_results.csv at ae7e7a41 (2024-09-27), copied by hand:
# group -> (first id number, hardware column, device count, framework, model, [(batch, length, 'Latency' s, 'Throughput')])
GROUPS = {
    "mi300x70": (1, "AMD MI300X GPU", 8, "vLLM", "meta-llama/Meta-Llama-3-70B", [
        (1, 128, 3.251521440994111, 78.7323733352751),
        (16, 128, 3.9518721560016274, 1036.4707759534904),
        (32, 128, 5.474311388999922, 1496.4439210493213),
        (64, 128, 7.746414558991091, 2115.0430144464003),
        (128, 128, 14.383683223000844, 2278.136934189494),
        (256, 128, 26.94121997100592, 2432.555024253901),
        (1, 2048, 44.86659887600399, 91.29285710557089),
        (16, 2048, 66.85799195499567, 980.2268671801339),
        (32, 2048, 95.05125662499631, 1378.9612536856357),
        (64, 2048, 150.02776706698933, 1747.3032167635297),
        (128, 2048, 403.1659149220068, 1300.4273937726718),
        (256, 2048, 745.1998343449959, 1407.107129756223),
    ]),
    "mi300x8": (13, "AMD MI300X GPU", 1, "vLLM", "meta-llama/Meta-Llama-3-8B", [
        (1, 128, 2.1699159779964248, 117.97691827513783),
        (16, 128, 1.550575431996549, 2641.5999605552347),
        (32, 128, 2.3598924109974178, 3471.344694285287),
        (64, 128, 3.914598791001481, 4185.358672684933),
        (128, 128, 7.369618593002087, 4446.363076525461),
        (256, 128, 14.629990248999093, 4479.56552838329),
        (1, 2048, 19.970198171999073, 205.10562612959683),
        (16, 2048, 35.66083337600139, 1837.7585097072815),
        (32, 2048, 110.49891284100158, 1186.1836160198366),
        (64, 2048, 191.53525192400411, 1368.6462276093775),
        (128, 2048, 372.54772966699966, 1407.3042411736956),
        (256, 2048, 729.368565509998, 1437.6490153051795),
    ]),
    "h10070": (25, "Nvidia H100 GPU", 4, "vLLM", "meta-llama/Meta-Llama-3-70B", [
        (1, 128, 2.4624011069999843, 103.96356599753658),
        (16, 128, 2.7512880410000435, 1488.7572435022753),
        (32, 128, 3.2808148599666915, 2496.9406533604792),
        (64, 128, 3.750785323233322, 4368.151890355686),
        (1, 2048, 39.29973592019998, 104.22461892154),
        (16, 2048, 50.37927148396678, 1300.8524750274892),
        (32, 2048, 64.33879160716697, 2037.2157562468012),
        (64, 2048, 80.21554280686638, 3267.995089569608),
    ]),
    "h1008": (33, "Nvidia H100 GPU", 1, "vLLM", "meta-llama/Meta-Llama-3-8B", [
        (1, 128, 0.9939330658666686, 257.5626154229798),
        (16, 128, 1.1650919041333434, 3515.602490643706),
        (32, 128, 1.3065569956999903, 6269.914000660278),
        (64, 128, 1.6882608920667432, 9704.661214975464),
        (1, 2048, 16.3022289824, 251.2539852324532),
        (16, 2048, 25.529886069100016, 2567.030648809718),
        (32, 2048, 31.67442193350007, 4138.102355117436),
        (64, 2048, 48.215153490166664, 5436.96288457245),
    ]),
    "g28": (41, "Habana Gaudi2", 1, "Deepspeed", "meta-llama/Meta-Llama-3-8B", [
        (1, 128, 0.957582639006432, 267.3398509664088),
        (16, 128, 1.180127037980128, 3470.812775386112),
        (32, 128, 1.3946061419555915, 5874.0598894199165),
        (64, 128, 1.845794152992312, 8876.39608860991),
        (1, 2048, 16.56315507303225, 247.29587943477108),
        (16, 2048, 31.78949856798863, 2061.561300183369),
    ]),
    "g270": (47, "Habana Gaudi2", 8, "Deepspeed", "meta-llama/Meta-Llama-3-70B", [
        (1, 128, 1.9617090619867668, 130.49845410854655),
        (16, 128, 2.3396886760019697, 1750.660266048384),
        (32, 128, 2.7063557489891537, 3026.9486940361703),
        (64, 128, 3.4881671970360912, 4697.022554974299),
        (1, 2048, 32.39820735901594, 126.42674807932372),
    ]),
}
# group -> (chip preset, system preset, catalog model, software stack)
MAP = {
    "mi300x70": ("mi300x", "mi300x-8", "llama-3.1-70b", "vllm-rocm"),
    "mi300x8": ("mi300x", "mi300x-8", "llama-3.1-8b", "vllm-rocm"),
    "h10070": ("h100-sxm", "dgx-h100", "llama-3.1-70b", "vllm-cuda-0.5"),
    "h1008": ("h100-sxm", "dgx-h100", "llama-3.1-8b", "vllm-cuda-0.5"),
    "g28": ("gaudi2", "gaudi2-8", "llama-3.1-8b", "optimum-habana-run-generation-no-reuse-cache"),
    "g270": ("gaudi2", "gaudi2-8", "llama-3.1-70b", "optimum-habana-run-generation-no-reuse-cache"),
}
VLLM = ("mi300x70", "mi300x8", "h10070", "h1008")


def _id(i: int) -> str:
    return f"infer-fresh8-{i:03d}"


def _cases():
    for g, (first, hw, n, fw, model, vals) in GROUPS.items():
        for k, (b, length, lat, thr) in enumerate(vals):
            yield g, _id(first + k), hw, n, fw, model, b, length, lat, thr


def test_the_file_loads_with_unique_ids_and_every_row_is_one_of_the_source_rows():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 51 == len(list(_cases()))
    assert ids == [_id(i) for i in range(1, 52)]
    for g, rid, hw, n, fw, model, b, length, lat, _ in _cases():
        r = BY_ID[rid]
        assert r["category"] == "infer" and float(r["value"]) == lat, rid
        assert int(r["n_chips"]) == n and model.split("/")[1] in r["model_or_kernel"], rid
        assert f"row '{hw},{n},{fw},{model},{length},{b},...'" in r["source"], rid
        cfg = parse_config(r["config"])
        assert (int(cfg["tp"]), int(cfg["batch"]), int(cfg["input_len"]), int(cfg["output_len"])) == (n, b, length, length), rid


def test_every_row_is_cited_with_a_url_a_commit_and_a_date():
    for r in ROWS:
        assert URL in r["source"] and HEAD in r["source"] and HARNESS in r["source"], r["id"]
        assert "2024-09-27" in r["source"] and "arXiv:2411.00136" in r["source"], r["id"]
        assert "copied as printed" in r["notes"] and "Taken by rule" in r["notes"], r["id"]


def test_the_rows_follow_the_stated_rule():
    # every row of each group at Input Output Length 128 and 2048, every batch size the file holds
    for g, (_, _, _, _, _, vals) in GROUPS.items():
        assert {length for _, length, _, _ in vals} == {128, 2048}, g
    assert [b for b, _, _, _ in GROUPS["mi300x70"][5]] == [1, 16, 32, 64, 128, 256] * 2
    assert [b for b, _, _, _ in GROUPS["h10070"][5]] == [1, 16, 32, 64] * 2
    # the Gaudi 2 file holds no 8B rows at 2048 beyond batch 16 and no 70B rows at 2048 beyond batch 1
    assert [b for b, _, _, _ in GROUPS["g28"][5]] == [1, 16, 32, 64, 1, 16]
    assert [b for b, _, _, _ in GROUPS["g270"][5]] == [1, 16, 32, 64, 1]


def test_every_row_is_held_out():
    assert_unseen_rows_held_out(set(BY_ID), "-fresh8-")
    m = serve.serve_map()
    assert all("set" not in m[i] for i in BY_ID if i in m)
    smap = train.scenario_map()
    assert all("set" not in smap[i] for i in BY_ID)


def test_the_vllm_rows_map_as_a_burst_of_the_batch_on_the_v0_defaults():
    m, smap = serve.serve_map(), train.scenario_map()
    for g, rid, hw, n, fw, model, b, length, lat, _ in _cases():
        if g not in VLLM:
            continue
        r, e = BY_ID[rid], m[rid]
        chip, system, cat_model, stack = MAP[g]
        assert "serve_scenarios_fresh8.yaml" in smap[rid]["skip"], rid
        assert preset_for_hardware(r["hardware"])[0] == chip, rid
        scn = e["scenario"]
        assert scn["software"] == stack and scn["model"] == cat_model, rid
        assert scn["system"] == {"name": system, "count": n} and scn["parallel"] == {"tp": n}, rid
        assert scn["precision"] == "fp16" and "--dtype=float16" in r["config"], rid
        assert scn["inference"] == {"batch": 1, "input_tokens": length, "output_tokens": length}, rid
        assert e["load"] == {"kind": "burst", "requests": b} and e["convert"] == "e2e_s", rid
        assert e["scheduler"] == {"max_num_seqs": 256, "max_num_batched_tokens": 8192, "chunked_prefill": False,
                                  "mixed_chunks": False}, rid
        assert e["memory_fraction"] == 0.9 and "gpu_memory_utilization=0.9" in r["config"], rid
        assert "ignore_eos=True" in r["config"] and len(e["note"]) > 40, rid


def test_the_gaudi2_rows_map_as_a_static_batch_of_run_generation():
    smap = train.scenario_map()
    for g, rid, hw, n, fw, model, b, length, lat, _ in _cases():
        if g in VLLM:
            continue
        r, e = BY_ID[rid], smap[rid]
        chip, system, cat_model, stack = MAP[g]
        assert preset_for_hardware(r["hardware"])[0] == chip and rid not in serve.serve_map(), rid
        scn = e["scenario"]
        assert scn["model"] == cat_model and scn["system"] == {"name": system, "count": n}, rid
        assert scn["parallel"] == {"tp": n} and scn["precision"] == "bf16", rid
        assert scn["inference"] == {"batch": b, "input_tokens": length, "output_tokens": length}, rid
        assert e["convert"] == "e2e_s", rid
        assert "reuse_cache=no" in r["config"] and "assumed" in r["precision"], rid
    gaudi = [_id(i) for i in range(41, 52)]
    text = open(train.SCENARIOS_PATH.parent / "scenarios_fresh8.yaml").read()
    assert "optimum-habana-run-generation-no-reuse-cache: [" + ", ".join(gaudi) + "]" in text


def test_the_copied_figures_agree_by_hand_arithmetic():
    # the harnesses print Throughput = batch x (input + output) / Latency (vLLM benchmark_throughput.py and the modified
    # run_generation.py alike); e.g. the first MI300X row: 1 x 256 / 3.2515 = 78.73 tokens/s
    for _, rid, _, _, _, _, b, length, lat, thr in _cases():
        assert b * 2 * length / lat == pytest.approx(thr, rel=1e-9), rid
    assert 256 / GROUPS["mi300x70"][5][0][2] == pytest.approx(78.73, rel=1e-4)
    # the notes repeat the Throughput column as printed
    for _, rid, _, _, _, _, _, _, _, thr in _cases():
        assert re.search(r"prints " + re.escape(repr(thr)), BY_ID[rid]["notes"]), rid
