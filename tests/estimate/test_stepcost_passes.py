"""An engine that runs at most ``max_seqs_per_forward`` sequences in one pass of the model (vLLM on
TPU: a pass's block table must fit half of the chip's 1 MiB SMEM) runs a larger step as several
passes, each reading the weights again: EngineStepCost.from_scenario(max_seqs_per_forward)."""

from __future__ import annotations

import pytest

from fabless.errors import InvalidInput
from fabless.estimate.scenario import scenario_from_dict
from fabless.estimate.stepcost import EngineStepCost

_Q8 = {"model": "qwen3-8b", "system": {"name": "tpu-v6e-256", "count": 4}, "precision": "bf16",
       "parallel": {"tp": 4, "mesh": {"tp": [2, 2]}}, "inference": {"batch": 1, "input_tokens": 1024, "output_tokens": 1024}}


def _model(cap=None, software=None):
    raw = dict(_Q8, **({"software": software} if software else {}))
    return EngineStepCost.from_scenario(scenario_from_dict(raw, "test"), None, cap)


def test_vllms_smem_limit_for_the_sweeps_model_length():
    # vllm/v1/attention/backends/pallas.py get_max_num_seqs: 512 KiB of SMEM / (pages per request x 4 bytes);
    # max_model_len 9216 in 16-token pages is 576 pages: 524288 // 576 = 910, // 4 = 227 sequences per pass,
    # the value serve_scenarios_tpu.yaml gives the vLLM sweep rows.
    from fabless.validate import serve

    assert 1024 * 1024 // 2 // -(-9216 // 16) // 4 == 227
    from fabless.validate.bands import in_unseen_batch

    # the sweep's rows (serve_scenarios_tpu.yaml), not the unseen batches' runs of other TPU backends
    vllm_rows = {k: v for k, v in serve.serve_map().items()
                 if isinstance(v, dict) and not in_unseen_batch(k)
                 and (v.get("scenario") or {}).get("software") == "vllm-tpu"
                 and (v.get("scenario") or {}).get("model", "").startswith("qwen3")}
    assert len(vllm_rows) == 16 and all(v.get("max_seqs_per_forward") == 227 for v in vllm_rows.values())


def test_a_step_within_the_limit_is_one_pass():
    free, capped = _model(), _model(227)
    for step in ((0, 0, 227, 227 * 1500), (1024, 1024, 100, 100 * 1500), (512, 512, 226, 226 * 900)):
        assert capped.step_time_s(*step) == free.step_time_s(*step), step


def test_a_step_over_the_limit_reads_the_weights_once_more():
    # 256 decoders at a 227-sequence limit run as passes of 227 and 29. Each pass reads every weight of the
    # chip. Qwen3-8B (hidden 4096, 32 heads and 8 KV heads of 128, MLP 12288, 36 layers, vocab 151936):
    # a layer has 4096 x (4096 + 2 x 1024 + 4096) + 3 x 4096 x 12288 = 192.9e6 weights, 36 layers 6.95e9, with
    # the LM head (4096 x 151936 = 0.62e9) 7.57e9 bf16 weights, 3.78e9 bytes on each of 4 chips; a v6e streams
    # at most 1.64e12 B/s, so the second pass adds at least 3.7e9 / 1.64e12 = 2.3 ms to the one-pass step.
    free, capped = _model(), _model(227)
    one = free.step_time_s(0, 0, 256, 256 * 1500)
    two = capped.step_time_s(0, 0, 256, 256 * 1500)
    assert two - one >= 3.7e9 / 1.64e12
    # and it is the two passes of the one-pass model, the context split with the sequences
    assert two == pytest.approx(free.step_time_s(0, 0, 227, 227 * 1500) + free.step_time_s(0, 0, 29, 29 * 1500), rel=1e-9)


def test_the_host_time_is_paid_once_per_step_not_per_pass():
    free, capped = _model(software="vllm-tpu"), _model(227, software="vllm-tpu")
    host = capped.host_step_s
    assert host > 0
    two = capped.step_time_s(0, 0, 300, 300 * 1000)
    parts = free.step_time_s(0, 0, 227, 227 * 1000) + free.step_time_s(0, 0, 73, 73 * 1000)
    assert two == pytest.approx(parts - host, rel=1e-9)


def test_the_prefill_chunk_takes_a_place_in_the_first_pass():
    # a chunk and 227 decoders at a limit of 227: the first pass holds the chunk and 226 decoders
    free, capped = _model(), _model(227)
    got = capped.step_time_s(512, 512, 227, 227 * 1000)
    assert got == pytest.approx(free.step_time_s(512, 512, 226, 226 * 1000) + free.step_time_s(0, 0, 1, 1000), rel=1e-9)


@pytest.mark.parametrize("cap", [0, -3, 2.5, True])
def test_a_limit_that_is_not_a_count_is_refused(cap):
    with pytest.raises(InvalidInput, match="max_seqs_per_forward"):
        _model(cap)
