"""The seventeenth unseen-data check's kernel rows (published_fresh17_kc.csv): flash-attention backward kernels on H200,
GB200 and GB300 and forward kernels on GB300, from cuDNN's committed training-suite results, each cited with its file
and commit, values checked by hand against the source's printed times, and every row held out but the fit rows
fresh17_kc_scores.md names."""

from __future__ import annotations

import re

import pytest

from fabless.validate import comm, kernel
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh17_kc.csv"
ROWS, BY_ID = rows_of(FILE)

# NVIDIA/cudnn-frontend benchmark/sdpa_benchmark_training/results/llama3.1/gb200/llama3.1_20260424_100750.csv at
# fb682ce7, bfloat16, batch 2, 64 query / 8 KV heads, head 128, seq 32768, non-deterministic backward:
# mask -> (bwd time_ms, printed tflops)
GB200_BWD = {"true": (71.756, 1226.0), "false": (139.364, 1262.0)}
# .../h200_919_only_cudnn/llama3.1_20260227_034703.csv, bfloat16, batch 1, seq 32768 (profile_pass both):
# mask -> (bwd_time_ms, bwd_tflops)
H200_BWD = {"true": (75.688, 581.0), "false": (153.841, 572.0)}

#: rows a fit took, by the rule fresh17_kc_scores.md fixed before fitting: each family's 16-bit backward rows of its one
#: product with rows, every other from the first (H200 -> nvidia-hopper, GB200 -> nvidia-blackwell
#: attention_bwd_time_ratio)
BWD_FIT = {f"kernel-fresh17-{i:03d}" for i in (155, 162, 167, 172, 177, 2, 9, 14, 19, 24, 70, 78, 86, 94, 102)}
#: and by its second rule (stop 53): GB300's 8-bit forward rows (its only softmax-bound rows), every other from the
#: first -> GB300's own attention_softmax_cycles (data/chips/gb300.yaml)
GB300_FIT = {f"kernel-fresh17-{i:03d}" for i in (33, 41, 49, 57, 65, 113, 121, 129, 137, 145)}
FIT = BWD_FIT | GB300_FIT


def _row(hardware: str, batch: int, causal: str) -> dict:
    return next(r for r in ROWS if r["hardware"].startswith(hardware) and "backward" in r["model_or_kernel"]
                and r["precision"] == "BF16" and parse_config(r["config"])["seq"] == "32768"
                and parse_config(r["config"])["batch"] == str(batch) and parse_config(r["config"])["causal"] == causal)


def test_the_file_holds_the_collected_rows():
    assert len(ROWS) == 181 and [r["id"] for r in ROWS] == [f"kernel-fresh17-{i:03d}" for i in range(1, 182)]
    for r in ROWS:
        assert r["category"] == "kernel" and int(r["n_chips"]) == 1, r["id"]
        assert "attention" in r["model_or_kernel"] and r["metric"] == "achieved TFLOP/s", r["id"]
        assert re.search(r"@ [0-9a-f]{40}", r["source"]) and "sdpa_benchmark_training/results/" in r["source"], r["id"]
        assert parse_config(r["config"])["timing"] == "device_trace", r["id"]
    passes = [("backward" in r["model_or_kernel"]) for r in ROWS]
    assert sum(passes) == 100  # 16-bit and FP8 backward rows: 20 + 20 of each Blackwell file's Llama and DSv3, 20 on H200


@pytest.mark.parametrize("causal", ["true", "false"])
def test_gb200_backward_rows_match_the_source_and_the_five_product_count(causal):
    ms, printed = GB200_BWD[causal]
    r = _row("NVIDIA GB200", 2, causal)
    # by hand: 2 x batch 2 x 64 heads x scores x (3 x 128 + 2 x 128) over the time; the script counts S(S+1)/2 causal
    scores_script = 32768 * 32769 / 2 if causal == "true" else 32768 ** 2
    assert 2 * 2 * 64 * scores_script * 640 / (ms * 1e-3) / 1e12 == pytest.approx(printed, rel=1e-3)
    scores = 32768 ** 2 / 2 if causal == "true" else 32768 ** 2
    assert float(r["value"]) == pytest.approx(2 * 2 * 64 * scores * 640 / (ms * 1e-3) / 1e12, abs=0.06)


@pytest.mark.parametrize("causal", ["true", "false"])
def test_h200_backward_rows_match_the_source(causal):
    ms, printed = H200_BWD[causal]
    r = _row("NVIDIA H200", 1, causal)
    scores = 32768 ** 2 / 2 if causal == "true" else 32768 ** 2
    assert float(r["value"]) == pytest.approx(printed, rel=0.002)
    assert float(r["value"]) == pytest.approx(2 * 64 * scores * 640 / (ms * 1e-3) / 1e12, abs=0.06)


def test_backward_flops_by_hand():
    # DeepSeek-V3's MLA training shape: Q.K head 192, V head 128 -> 2 x (3 x 192 + 2 x 128) = 1664 FLOPs a score and head
    assert kernel.attention_backward_flops(2, 4096, 128, 192, 128, causal=True) == 2 * 128 * 4096 ** 2 / 2 * 1664
    assert kernel.attention_backward_flops(1, 1024, 8, 128, 128, causal=False) == 8 * 1024 ** 2 * 1280


def test_the_parts_map_to_their_presets():
    for r in ROWS:
        assert preset_for_hardware(r["hardware"])[0] in ("gb200", "gb300", "h200-sxm"), r["id"]


def test_every_row_is_held_out_but_the_fit_rows():
    ids = set(BY_ID)
    assert ids & (kernel.FIT_IDS | comm.FIT_IDS) == FIT
    assert_unseen_rows_held_out(ids - FIT, "-fresh17-")


def test_the_fit_rows_follow_the_rule():
    assert set(kernel.BWD_FIT_IDS) == BWD_FIT
    for preset in ("h200-sxm", "gb200"):
        cands = [r["id"] for r in ROWS if preset_for_hardware(r["hardware"])[0] == preset
                 and "backward" in r["model_or_kernel"] and r["precision"] == "BF16"]
        assert set(cands[0::2]) <= FIT and not set(cands[1::2]) & FIT, preset


def test_eight_bit_backward_rows_are_outside_the_model():
    from fabless.validate.core import Skip

    fp8 = [r for r in ROWS if "backward" in r["model_or_kernel"] and r["precision"] == "FP8"]
    assert len(fp8) == 50
    for r in fp8:
        with pytest.raises(Skip, match="8-bit attention backward"):
            kernel.predict(r)


@pytest.mark.parametrize("chip,fwd_ms,bwd_ms", [
    # the source's own backward / forward times at one shape (Llama-3.1, 16-bit, causal, seq 32768): GB200 batch 2
    # (llama3.1_20260424_100750.csv: 21.692 and 71.756 ms), H200 batch 1 (llama3.1_20260227_034703.csv: 25.566 and
    # 75.688 ms)
    ("gb200", 21.692, 71.756), ("h200-sxm", 25.566, 75.688)])
def test_backward_takes_the_measured_share_of_the_forward(chip, fwd_ms, bwd_ms):
    from fabless.perf.ops import op_time
    from fabless.perf.params import ChipParams
    from fabless.workload.ops import Attention

    b = 2 if chip == "gb200" else 1
    p = ChipParams.from_chip(chip)
    fwd, bwd = (float(op_time(Attention("a", b, 32768, 32768, 64, 8, 128, 128, causal=True, phase="train",
                                        pass_=ps), p).time_s[0]) for ps in ("fwd", "bwd"))
    # the family's fitted ratio, from every other backward row, within 10% of this one shape's measured 3.31 and 2.96
    assert bwd / fwd == pytest.approx(bwd_ms / fwd_ms, rel=0.10)


def test_the_gb300_fit_rows_follow_the_second_rule():
    assert set(kernel.CHIP_FIT_IDS["gb300"]) == GB300_FIT
    cands = [r["id"] for r in ROWS if preset_for_hardware(r["hardware"])[0] == "gb300"
             and "forward" in r["model_or_kernel"] and r["precision"] == "FP8"]
    assert len(cands) == 20 and set(cands[0::2]) == GB300_FIT and not set(cands[1::2]) & GB300_FIT


def test_gb300_ships_the_softmax_cycles_its_rows_fit():
    from fabless.hardware.presets import load_chip
    from fabless.perf.params import families

    fitted = kernel.calibrate_chips()["gb300"]["attention_softmax_cycles"]
    assert load_chip("gb300").calibration.attention_softmax_cycles == pytest.approx(fitted, abs=0.0005)
    # between the bound (the family's cycles halved: twice the exponential unit's rate) and the family's own: the
    # doubled unit helps, but max, scale and sum stay
    fam = families()["nvidia-blackwell"].values["attention_softmax_cycles"]
    assert fam / 2 < fitted < fam
