"""Progress bars: on stderr when it is a terminal, nothing otherwise; the hooks that feed them."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

import fabless.report.console as rc
from fabless.report.console import progress
from fabless.serve import ConstantStepCost, Fixed, Lengths, SchedulerConfig, SLO, max_throughput
from fabless.serve.fleet import FleetOptions, fleet_rows
from fabless.loading import read_yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def terminal(monkeypatch):
    """stderr as a terminal whose output the test can read."""
    buf = io.StringIO()
    monkeypatch.setattr(rc, "err_console", Console(file=buf, force_terminal=True, width=100))
    return buf


def test_bar_shows_label_count_and_text_on_a_terminal(terminal):
    with progress("fleet", total=3) as bar:
        bar.update(1, 3, "b200: tp1 aggregated")
    out = terminal.getvalue()
    assert "fleet" in out and "1/3" in out and "b200: tp1 aggregated" in out


def test_nothing_when_disabled_or_not_a_terminal(terminal, monkeypatch, capsys):
    with progress("fleet", total=3, enabled=False) as bar:  # --json
        bar.update(1, 3, "x")
    assert terminal.getvalue() == ""
    monkeypatch.setattr(rc, "err_console", Console(file=io.StringIO()))  # a pipe or a file
    with progress("fleet", total=3) as bar:
        bar.update(1, 3, "x")
    assert rc.err_console.file.getvalue() == ""
    assert capsys.readouterr() == ("", "")


def test_max_throughput_reports_every_run():
    # a 100 ms step for one request at a time: the same M/D/1 set-up as tests/serve/test_metrics_search.py
    seen = []
    found = max_throughput(ConstantStepCost(0.1, kv_capacity_tokens=1000), Lengths(Fixed(1), Fixed(1)),
                           SLO.parse("ttft_mean=200ms"), SchedulerConfig(max_num_batched_tokens=16, max_num_seqs=1),
                           seed=0, duration_s=600, rel_tol=0.05, on_run=lambda rate, met: seen.append((rate, met)))
    assert seen == list(found.tried) and len(seen) >= 3


def test_fleet_reports_each_chip_and_layout():
    base = dict(read_yaml(str(ROOT / "examples/scenarios/llama-70b-serving-dgx-h100.yaml")))
    calls = []
    opts = FleetOptions(SLO.parse("ttft_p99=2s,tpot_p99=50ms"), SchedulerConfig(), duration_s=10.0, max_layouts=1)
    rows = fleet_rows(base, ["h100-sxm", "no-such-chip"], 5.0, Lengths(Fixed(2048), Fixed(256)), opts,
                      on_progress=lambda done, total, text: calls.append((done, total, text)))
    assert len(rows) == 2 and "error" in rows[1]
    assert calls[0] == (0, 2, "h100-sxm: ")
    layouts = [t["layout"] for t in rows[0]["layouts"]]
    assert [c[2] for c in calls if c[0] == 0][1:] == [f"h100-sxm: {lab}" for lab in layouts]  # one call per layout searched
    assert (1, 2, "no-such-chip: ") in calls
    assert calls[-1] == (2, 2, "")
