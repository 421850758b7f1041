"""The sixteenth unseen-data check's kernel rows (published_fresh16_kc.csv): flash-attention forward kernels at head
dimensions 64, 128 and 256 on A100, H100, H200, B200, GB200 and MI355X, each cited with its repository, commit or pull
request and date, values hand-copied below from the sources, rows of an unnamed or unshipped part mapped to no preset,
and every row held out but the fit rows fresh16_kc_scores.md names."""

from __future__ import annotations

import re

import pytest

from fabless.perf.params import ChipParams
from fabless.validate import comm, kernel
from fabless.validate.core import parse_config
from fabless.validate.hardware_map import Unmapped, preset_for_hardware
from tests.conftest import assert_unseen_rows_held_out, rows_of

FILE = "published_fresh16_kc.csv"
ROWS, BY_ID = rows_of(FILE)

# NVIDIA/cudnn-frontend benchmark/attention_inference/results/prefill_sweep/b200/prefill_sweep_20260918_221024.csv at
# 0501eca2, backend cudnn, llama3.1 (64 query heads, 8 KV heads, head 128, causal, batch 1): seq -> (time_ms, tflops)
B200_CUDNN = {2048: (0.075104, 914.991), 4096: (0.228771, 1201.542), 8192: (0.78467, 1401.241),
              16384: (2.955586, 1488.046)}
# .../sdpa_benchmark_training/results/h200_919_only_cudnn/llama3.1_20260227_034703.csv, fp8, no_mask: seq ->
# (fwd_time_ms, fwd_tflops)
H200_FP8 = {16384: (8.335, 1055.0), 8192: (2.149, 1023.0), 4096: (0.565, 973.0), 2048: (0.158, 870.0)}

#: the second Blackwell rule's fit rows (fresh16_kc_scores.md, written after the first rule's fit ran to the peak)
BLACKWELL_RULE2 = {"kernel-fresh16-095", "kernel-fresh16-097", "kernel-fresh16-099", "kernel-fresh16-102",
                   "kernel-fresh16-105", "kernel-fresh16-108"}

#: Hopper's ratio and overhead rows since stop 54: the second Blackwell rule applied to Hopper, written after the
#: held-out scores (fresh16_kc_scores.md): H200's cuDNN 9.19 training-suite 16-bit forward rows, every other from the first
HOPPER_RULE = {"kernel-fresh16-111", "kernel-fresh16-114", "kernel-fresh16-117", "kernel-fresh16-120"}

#: the third rule's fit rows: each attention library's rows on a shipped preset, every other from the first (Triton's
#: tutorial kernel, Colfax's CUTLASS FMHA, both on H100)
LIBRARY_RULE3 = {"kernel-fresh16-164", "kernel-fresh16-169", "kernel-fresh16-175", "kernel-fresh16-181",
                 "kernel-fresh16-170", "kernel-fresh16-176", "kernel-fresh16-182"}

#: rows a fit took, by the rules fresh16_kc_scores.md fixed before fitting: the native-kernel rows at head dimension 64
#: or with 8-bit operands, every other from the first (H200 cuDNN -> nvidia-hopper, GB200 cuDNN FP8 -> nvidia-blackwell
#: attention_softmax_cycles); the first rule's B200 ratio fit was not landed, so its rows stay held out; the second
#: Blackwell rule's GB200 training-suite 16-bit rows, every other from the first (its ratio and overhead)
FIT = {"kernel-fresh16-089", "kernel-fresh16-091", "kernel-fresh16-093", "kernel-fresh16-113", "kernel-fresh16-119",
       "kernel-fresh16-101", "kernel-fresh16-107", *BLACKWELL_RULE2, *LIBRARY_RULE3, *HOPPER_RULE}


def test_the_file_holds_the_collected_rows():
    assert len(ROWS) == 216 and [r["id"] for r in ROWS] == [f"kernel-fresh16-{i:03d}" for i in range(1, 217)]
    for r in ROWS:
        assert r["category"] == "kernel" and int(r["n_chips"]) == 1, r["id"]
        assert "flashattention" in r["model_or_kernel"].lower() and r["metric"] == "achieved TFLOP/s", r["id"]
        # every source names a repository's file at a commit, or a pull request or issue with its date
        src = r["source"]
        assert re.search(r"@ [0-9a-f]{8}", src) or re.search(r"(pull request|PR|issue) #\d+", src), r["id"]
        assert re.search(r"[0-9a-f]{40}|20\d\d", src), r["id"]


@pytest.mark.parametrize("seq", sorted(B200_CUDNN))
def test_b200_cudnn_rows_match_the_source_and_its_flops(seq):
    ms, tflops = B200_CUDNN[seq]
    r = BY_ID[f"kernel-fresh16-{41 + sorted(B200_CUDNN).index(seq):03d}"]
    cfg = parse_config(r["config"])
    assert (cfg["batch"], cfg["heads"], cfg["kv_heads"], cfg["seq"], cfg["head_dim"], cfg["causal"]) == \
        ("1", "64", "8", str(seq), "128", "true")
    assert float(r["value"]) == pytest.approx(tflops, abs=5e-4)
    # the dataset's convention, derived by hand: 2 x 64 heads x seq^2 x (128 + 128), halved for causal, over the time
    assert 2 * 64 * seq * seq * 256 / 2 / (ms * 1e-3) / 1e12 == pytest.approx(tflops, rel=2e-4)


@pytest.mark.parametrize("seq", sorted(H200_FP8))
def test_h200_fp8_rows_match_the_source(seq):
    ms, tflops = H200_FP8[seq]
    r = next(x for x in ROWS if x["precision"] == "FP8" and "H200" in x["hardware"]
             and parse_config(x["config"])["seq"] == str(seq))
    assert parse_config(r["config"])["causal"] == "false" and float(r["value"]) == pytest.approx(tflops)
    assert 2 * 64 * seq * seq * 256 / (ms * 1e-3) / 1e12 == pytest.approx(tflops, rel=0.01)  # the times are rounded


def test_unnamed_and_unshipped_parts_map_to_no_preset():
    unnamed = [r for r in ROWS if "model not stated" in r["hardware"]]
    assert len(unnamed) == 29
    pcie = [r for r in ROWS if r["hardware"] == "NVIDIA H100 PCIe"]
    assert len(pcie) == 18
    for r in unnamed:
        with pytest.raises(Unmapped, match="no chip preset"):
            preset_for_hardware(r["hardware"])
    assert preset_for_hardware("NVIDIA H100 PCIe")[0] == "h100-pcie"  # not shipped: chip_for_hardware says so
    assert preset_for_hardware("NVIDIA H100 (SXM assumed; not stated)")[0] == "h100-sxm"


def test_every_row_is_held_out_but_the_fit_rows():
    ids = set(BY_ID)
    assert ids & (kernel.FIT_IDS | comm.FIT_IDS) == FIT
    assert_unseen_rows_held_out(ids - FIT, "-fresh16-")


def test_the_fit_rows_follow_the_rule():
    # the family's rows of cuDNN or FlashAttention-3/4 with head_dim 64 or FP8, in id order, every other from the first
    for preset, fit in (("h200-sxm", ["089", "091", "093", "113", "119"]), ("gb200", ["101", "107"])):
        cands = [r["id"] for r in ROWS if "model not stated" not in r["hardware"]
                 and preset_for_hardware(r["hardware"])[0] == preset
                 and re.search(r"cuDNN|FlashAttention-[34]", r["model_or_kernel"])
                 and "open-source" not in r["model_or_kernel"]
                 and (parse_config(r["config"])["head_dim"] == "64" or r["precision"] == "FP8")]
        assert cands[0::2] == [f"kernel-fresh16-{i}" for i in fit], preset


def test_the_second_blackwell_rule_takes_every_other_gb200_training_suite_row():
    cands = [r["id"] for r in ROWS if r["hardware"] == "NVIDIA GB200" and "sdpa_benchmark_training" in r["source"]
             and r["precision"] == "BF16"]
    assert set(cands[0::2]) == BLACKWELL_RULE2


def test_the_hopper_rule_takes_every_other_h200_training_suite_row():
    cands = [r["id"] for r in ROWS if r["hardware"].startswith("NVIDIA H200") and "sdpa_benchmark_training" in r["source"]
             and r["precision"] == "BF16"]
    assert len(cands) == 8 and set(cands[0::2]) == HOPPER_RULE == set(kernel.HOPPER_CUDNN_FIT_IDS)


def test_hopper_describes_cudnn_and_flashattention3_keeps_its_values():
    # since stop 54 the family's ratio and overhead are cuDNN 9.19's, fitted on HOPPER_RULE, and FlashAttention-3's 2024
    # rows fit its library's values, by the rule that fitted the family before (kernel-280, -282, -284)
    from fabless.perf.libraries import library

    fitted = kernel.calibrate()["nvidia-hopper"]
    fam = ChipParams.from_chip("h100-sxm")
    for key in ("attention_mma_ratio", "attention_overhead_blocks", "attention_softmax_cycles"):
        assert fitted[key] == pytest.approx(float(getattr(fam, key)[0]), abs=0.003), key
    fa3 = kernel.calibrate_library("flash-attention-3-2024")["nvidia-hopper"]
    shipped = library("flash-attention-3-2024").values_for("nvidia-hopper")
    assert fa3["attention_mma_ratio"] == pytest.approx(shipped["attention_mma_ratio"], abs=0.003)
    assert fa3["attention_overhead_blocks"] == pytest.approx(shipped["attention_overhead_blocks"], abs=0.01)
    # cuDNN's inner loop is faster than FlashAttention-3's, and each held-out row at 16384 comes out within 5% of its
    # source: H200 cuDNN 9.19 non-causal 702 TFLOP/s (kernel-fresh16-112), FlashAttention-3 on H100 620.73 (kernel-285)
    assert fitted["attention_mma_ratio"] > fa3["attention_mma_ratio"]
    assert kernel.predict(BY_ID["kernel-fresh16-112"]) == pytest.approx(702.0, rel=0.05)
    fa3_row = next(r for r in kernel.kernel_rows() if r["id"] == "kernel-285")
    assert float(fa3_row["value"]) == 620.73 and kernel.predict(fa3_row) == pytest.approx(620.73, rel=0.05)


def test_the_third_rule_takes_every_other_row_of_each_attention_library():
    from fabless.perf.libraries import library_for_source

    for name in ("triton-tutorial-attention", "colfax-cutlass-fmha"):
        cands = []
        for r in ROWS:
            lib = library_for_source(r["source"], r["model_or_kernel"])
            if lib is not None and lib.name == name and "model not stated" not in r["hardware"]:
                try:
                    kernel.predict(r)
                except Unmapped:
                    continue  # an unshipped preset (H100 PCIe)
                cands.append(r["id"])
        assert set(cands[0::2]) <= LIBRARY_RULE3 and not set(cands[1::2]) & LIBRARY_RULE3, name
        assert len(cands) >= 6, name


def test_flashattention2_kernels_are_out_of_scope_on_hopper_and_blackwell_only():
    from fabless.validate.core import Skip

    sm80 = [r for r in ROWS if any(t in r["model_or_kernel"].lower() for t in kernel.SM80_ATTENTION_KERNELS)]
    named = [r for r in sm80 if "model not stated" not in r["hardware"]]
    on_new = [r for r in named if preset_for_hardware(r["hardware"])[0] in ("h100-sxm", "b200")]
    assert len(on_new) == 19
    for r in on_new:
        with pytest.raises(Skip, match="built for sm80"):
            kernel.predict(r)
    on_a100 = [r for r in named if preset_for_hardware(r["hardware"])[0] == "a100-sxm"]
    assert len(on_a100) == 8 and all(kernel.predict(r) > 0 for r in on_a100)  # sm80 is A100's own architecture


@pytest.mark.parametrize("name", ["triton-tutorial-attention", "colfax-cutlass-fmha"])
def test_attention_library_ratios_are_what_their_fit_gives(name):
    from fabless.perf.libraries import library

    shipped = library(name).values_for("nvidia-hopper")
    fitted = kernel.calibrate_library(name)["nvidia-hopper"]
    assert fitted["attention_mma_ratio"] == pytest.approx(shipped["attention_mma_ratio"], rel=0.01)
    assert fitted["attention_overhead_blocks"] == pytest.approx(shipped["attention_overhead_blocks"], abs=0.01)
