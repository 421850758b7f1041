"""The validate framework and the kernel predictor."""

from __future__ import annotations

import json
import sys

import pytest
import typer

from fabless.errors import FablessError
from fabless.perf.params import families
from fabless.validate import kernel
from fabless.validate.core import Outcome, Skip, evaluate, load_rows, parse_config, summarise
from fabless.validate.hardware_map import Unmapped, chip_for_hardware, preset_for_hardware


def run(app_obj, *args, capsys):
    app = typer.Typer()
    app.add_typer(app_obj) if app_obj.registered_commands and len(app_obj.registered_commands) == 1 and \
        app_obj.registered_commands[0].name == "validate" else app.add_typer(app_obj, name="op")
    try:
        app(args=list(args), standalone_mode=False)
        code = 0
    except FablessError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = 2
    out = capsys.readouterr()
    return code, out.out, out.err


def test_parse_config():
    assert parse_config("M=1;N=2; flag ;torch=2.6.0+cu126") == {"m": "1", "n": "2", "flag": "", "torch": "2.6.0+cu126"}


def test_hardware_map_order_and_stand_ins():
    assert preset_for_hardware("NVIDIA GH200 SXM (900W, 141GiB HBM3e)")[0] == "h200-sxm"
    assert preset_for_hardware("NVIDIA A100 PCIe")[0] == "a100-sxm"
    assert preset_for_hardware("NVIDIA A100-SXM-80GB (330W cap)")[0] == "a100-sxm"
    assert preset_for_hardware("NVIDIA H100 (SXM assumed; PR does not state variant)")[0] == "h100-sxm"
    assert preset_for_hardware("NVIDIA GB200 SXM")[0] == "gb200"
    for text in ("AMD MI355X", "Intel Gaudi (first generation, HL-205)", "NVIDIA B300 SXM"):
        with pytest.raises(Unmapped, match="no chip preset"):
            preset_for_hardware(text)


def test_summary_is_per_chip_and_set():
    o = [Outcome("a", "kernel", "x", "m", 100.0, 110.0, "held_out"),   # +10 %
         Outcome("b", "kernel", "x", "m", 100.0, 80.0, "held_out"),    # -20 %
         Outcome("c", "kernel", "y", "m", 100.0, 95.0, "held_out"),    # -5 %
         Outcome("d", "kernel", "y", "m", 100.0, 101.0, "fit"),        # +1 %
         Outcome("e", "kernel", "y", "m", 100.0, None, "held_out", skipped="why")]
    s = {(r["chip"], r["set"]): r for r in summarise(o)}
    assert s[("x", "held_out")]["n"] == 2
    assert s[("x", "held_out")]["median_abs_err_pct"] == pytest.approx(15.0)
    assert s[("all", "held_out")]["median_abs_err_pct"] == pytest.approx(10.0)
    assert s[("all", "held_out")]["max_abs_err_pct"] == pytest.approx(20.0)
    assert s[("all", "fit")]["n"] == 1


def test_out_of_scope_rows_are_skipped_with_a_reason():
    by_id = {o.id: o for o in evaluate(["kernel"])}
    assert "interconnect" in by_id["kernel-292"].skipped
    assert by_id["kernel-260"].predicted is not None  # Gaudi 2 (chips/gaudi2.yaml)
    assert by_id["kernel-264"].predicted is not None


def test_unknown_category_is_a_one_line_error():
    with pytest.raises(FablessError, match="known: "):
        evaluate(["kernels"])


def _in_scope(rows):
    out = []
    for r in rows:
        try:
            preset_for_hardware(r["hardware"])
        except Unmapped:
            continue
        name = r["model_or_kernel"].lower()
        if "nvbandwidth" in name:
            continue
        out.append(r)
    return out


def test_fit_on_at_most_half_of_the_rows_in_scope():
    rows = [r for r in load_rows() if r["category"] == "kernel"]
    scope = _in_scope(rows)
    assert kernel.FIT_IDS <= {r["id"] for r in scope}
    assert len(kernel.FIT_IDS) <= len(scope) / 2


def test_held_out_attention_rows_within_goal():
    # FlashAttention-3 on H100: fit on seq 512/2048/8192, held out seq 1024/4096/16384.
    rows = {r["id"]: r for r in load_rows()}
    for rid in ("kernel-281", "kernel-283", "kernel-285"):
        pred = kernel.predict(rows[rid])
        assert abs(pred / float(rows[rid]["value"]) - 1) < 0.10, rid


def test_shipped_parameters_are_what_calibration_gives():
    """families.yaml must hold the values calibrate() fits on the FIT_IDS rows (2 % slack for
    the rounding in the file), for every family whose fit rows have presets in this build."""
    fitted = kernel.calibrate()
    fams = families()
    assert fitted, "no fit row has a preset"
    for fam, params in fitted.items():
        for key, value in params.items():
            assert fams[fam].values[key] == pytest.approx(value, rel=0.02, abs=0.05), (fam, key)


def test_validate_cli_json_and_csv(tmp_path, capsys):
    from fabless.validate.cli import validate_app

    csv_path = tmp_path / "rows.csv"
    code, out, err = run(validate_app, "validate", "--category", "kernel", "--json", "--csv", str(csv_path), capsys=capsys)
    assert code == 0, err
    data = json.loads(out)
    assert {r["set"] for r in data["summary"]} <= {"fit", "held_out"}
    assert any(r["id"] == "kernel-285" and r["predicted"] for r in data["rows"])
    assert csv_path.read_text().startswith("id,category,chip,metric,measured,predicted,error,set,skipped")


def test_validate_cli_table(capsys):
    from fabless.validate.cli import validate_app

    code, out, _ = run(validate_app, "validate", "--category", "kernel", capsys=capsys)
    assert code == 0
    assert "held_out" in out and "skipped" in out


def test_skip_is_an_exception_with_a_reason():
    assert str(Skip("because")) == "because"
    with pytest.raises(Unmapped):
        chip_for_hardware("AMD MI355X")


def test_attention_row_reads_grouped_kv_heads_and_a_v_head_dim():
    # A row's config may state kv_heads and v_head_dim (MLA-style 192/128 heads). Hand check of the FLOPs the
    # mapping implies: predicted TFLOP/s x time = 2 * batch * heads * seq^2 * (d_qk + d_v), halved (seq(seq+1)/2
    # pairs) when causal: batch 1, 16 heads, seq 16384, 192/128, non-causal -> 2 * 16 * 16384^2 * 320 FLOPs.
    from fabless.perf.attention import attention_time
    from fabless.perf.params import ChipParams
    row = {"category": "kernel", "hardware": "AMD Instinct MI355X", "precision": "BF16",
           "model_or_kernel": "FlashAttention-style attention forward (test row)", "metric": "achieved TFLOP/s",
           "config": "batch=1;heads=16;kv_heads=16;seq=16384;head_dim=192;v_head_dim=128;causal=false;timing=stream",
           "source": ""}
    tflops = kernel.predict(row)
    chip = ChipParams.from_chip(chip_for_hardware(row["hardware"])).timed("stream")
    t = attention_time(1, 16384, 16384, 16, 192, chip, "bf16", v_head_dim=128, phase="prefill")
    assert tflops * 1e12 * float(t.time_s[0]) == pytest.approx(2 * 16 * 16384 ** 2 * 320, rel=1e-9)
    # a grouped-query row (8 K/V heads for 64 query heads) reads less K/V than the same row with 64: never slower
    gqa = dict(row, config="batch=4;heads=64;kv_heads=8;seq=8192;head_dim=128;causal=true;timing=stream")
    mha = dict(row, config="batch=4;heads=64;seq=8192;head_dim=128;causal=true;timing=stream")
    assert kernel.predict(gqa) >= kernel.predict(mha)
    causal_pairs = 8192 * 8193 / 2
    t_c = attention_time(4, 8192, 8192, 64, 128, chip, "bf16", kv_heads=8, causal=True, phase="prefill")
    assert kernel.predict(gqa) * 1e12 * float(t_c.time_s[0]) == pytest.approx(2 * 4 * 64 * causal_pairs * 256, rel=1e-9)
