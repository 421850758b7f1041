"""The chips/systems commands print what they promise, as tables and as JSON."""

from __future__ import annotations

import pytest


def test_chips_list_json_has_the_summary_columns(cli):
    res = cli("chips", "list", "--json")
    assert res.code == 0
    rows = {r["name"]: r for r in res.json()}
    h = rows["h100-sxm"]
    # NVIDIA H100 SXM datasheet: 989 bf16 dense TFLOPS, 3.35 TB/s, 700 W; its "80 GB" is binary:
    # nvidia-smi's 81559 MiB = 85.52e9 bytes (h100-sxm.yaml's source).
    assert h["bf16_tflops"] == pytest.approx(989.4)
    assert h["hbm_gb"] == pytest.approx(81559 * 2**20 / 1e9, rel=1e-4)
    assert h["hbm_tb_s"] == pytest.approx(3.35)
    assert h["tdp_w"] == pytest.approx(700)


def test_chips_compare_ratios(cli):
    res = cli("chips", "compare", "h100-sxm", "h100-sxm", "--json")
    assert res.code == 0
    rows = {r["metric"]: r for r in res.json()}
    assert rows["bf16 TFLOPS (dense)"]["h100-sxm/h100-sxm"] == pytest.approx(1.0)
    # 989.4 TFLOPS / 700 W
    assert rows["bf16 TFLOPS per W"]["h100-sxm"] == pytest.approx(989.4 / 700)


def test_chips_show_lists_sources(cli):
    res = cli("chips", "show", "h100-sxm", "--json")
    assert res.code == 0
    prov = res.json()["chip"]["provenance"]
    assert "glennklockwood.com" in prov["memory.hbm.bandwidth_gb_s"]["source"]


def test_help_has_examples(cli):
    for cmd in (["chips", "compare", "--help"], ["chips", "list", "--help"], ["systems", "show", "--help"]):
        res = cli(*cmd)
        assert res.code == 0
        assert "Example:" in res.out
