"""`fabless ui` in a real browser: the page loads without a console error, choosing another chip
moves TPOT to what `fabless estimate --json` says for that chip, a bad input shows the CLI's
one-line error, an uploaded chip file runs, the report downloads, and Ctrl-C stops the server.

The server runs as `fabless ui --port 0` in a subprocess on 127.0.0.1, as a user starts it."""

from __future__ import annotations

import importlib.util
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("uvicorn")

ROOT = Path(__file__).resolve().parents[2]
H100_FILE = ROOT / "src" / "fabless" / "data" / "chips" / "h100-sxm.yaml"
# the form's starting point (fabless.ui.app.DEFAULTS) as `fabless estimate` flags, less the chip
DEFAULT_FLAGS = ["--model", "llama-3.1-70b", "--precision", "fp8", "--parallel", "auto", "--batch", "64",
                 "--input-tokens", "2048", "--output-tokens", "256"]
READY = "document.body.dataset.state === 'ready'"


def _start() -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen([sys.executable, "-m", "fabless.cli", "ui", "--host", "127.0.0.1", "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()  # printed once the server listens
    m = re.search(r"serving on (http://127\.0\.0\.1:\d+/)", line)
    if not m:
        proc.kill()
        pytest.fail(f"fabless ui did not start: {line!r} {proc.stderr.read()!r}")
    return proc, m.group(1)


def _stop(proc: subprocess.Popen) -> tuple[int, str, str]:
    proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
    return proc.returncode, out, err


@pytest.fixture(scope="module")
def server():
    proc, url = _start()
    yield url
    if proc.poll() is None:
        _stop(proc)


def _open(page, url: str) -> None:
    page.goto(url)
    page.wait_for_function(READY, timeout=30_000)


def _shown(page, key: str) -> str:
    return page.inner_text(f'.fig[data-key="{key}"] .num')


def _close_to(text: str, value: float) -> bool:
    """Whether the number shown as ``text`` (e.g. "23.94", "1,418") is ``value`` to its last digit."""
    digits = len(text.split(".")[1]) if "." in text else 0
    return abs(float(text.replace(",", "")) - value) <= 0.5 * 10 ** -digits + 1e-9


def test_page_loads_without_console_error(page, server):
    _open(page, server)
    assert page.console_errors == []
    assert "on 8 x h100-sxm" in page.inner_text("#title")
    # each headline figure has its unit; TPOT and TTFT have a band
    for key, unit in (("ttft_s", "ms"), ("tpot_s", "ms"), ("e2e_latency_s", "s"), ("output_tokens_per_s", "tokens/s")):
        fig = page.locator(f'.fig[data-key="{key}"]')
        assert fig.locator(".unit").first.inner_text() == unit
    assert "80% band" in page.inner_text('.fig[data-key="tpot_s"] .band')
    assert "$/Mtoken" in page.inner_text("#costs")
    page.wait_for_selector("#chart .main-svg")  # the plotly chart of the chips compared
    assert page.locator("#chart g.trace.bars").count() >= 1
    assert page.locator("#compare-table tr[data-chip]").count() == 6
    assert page.inner_text("#version").strip()


def test_choosing_another_chip_moves_tpot_to_the_cli_figure(page, server, cli):
    _open(page, server)
    before = _shown(page, "tpot_s")
    page.select_option("#chip", "b300")  # not ticked for the comparison: it joins it
    page.wait_for_function(READY + " && document.getElementById('title').textContent.includes('x b300')", timeout=30_000)
    after = _shown(page, "tpot_s")
    assert page.locator('#compare-table tr.current[data-chip="b300"]').count() == 1
    res = cli("estimate", *DEFAULT_FLAGS, "--chip", "b300", "--json")
    assert res.code == 0, res.err
    tpot_ms = res.json()["tpot_s"] * 1e3
    assert _close_to(after, tpot_ms), (after, tpot_ms)
    assert after != before
    assert page.console_errors == []


def test_bad_input_shows_the_cli_line(page, server, cli):
    _open(page, server)
    page.fill("#output_tokens", "0")
    page.wait_for_function("document.body.dataset.state === 'error'", timeout=30_000)
    res = cli("estimate", *DEFAULT_FLAGS, "--chip", "h100-sxm", "--output-tokens", "0")
    assert res.code == 2
    assert page.inner_text("#error").strip() == res.err.strip()
    # the browser logs the 400 answers themselves; nothing else went wrong on the page
    assert all("status of 400" in e for e in page.console_errors), page.console_errors
    page.fill("#output_tokens", "256")
    page.wait_for_function(READY, timeout=30_000)
    assert page.locator("#error").is_hidden()


def test_uploaded_chip_file_runs(page, server, tmp_path):
    mine = tmp_path / "my-h100.yaml"
    mine.write_text(H100_FILE.read_text())
    _open(page, server)
    shown = _shown(page, "tpot_s")
    page.set_input_files("#upload", str(mine))
    page.wait_for_function(READY + " && document.getElementById('chip').value === 'upload:my-h100'", timeout=30_000)
    assert page.input_value("#system") == "dgx-h100"  # placed where the last estimate ran
    assert "--chip my-h100.yaml" in page.inner_text("#cli")
    assert _shown(page, "tpot_s") == shown  # the same chip, from a file
    assert page.locator('#compare-table tr[data-chip="my-h100.yaml"]').count() == 1
    assert page.console_errors == []


def test_report_downloads(page, server):
    if importlib.util.find_spec("fabless.report.html") is None:
        pytest.skip("fabless.report.html (branch html) is not in this tree")
    _open(page, server)
    with page.expect_download() as dl:
        page.click("#report")
    text = Path(dl.value.path()).read_text()
    assert "<html" in text.lower() and "llama-3.1-70b" in text
    assert page.console_errors == []


def test_ctrl_c_stops_the_server_cleanly():
    proc, url = _start()
    code, out, err = _stop(proc)
    assert code == 0, err
    assert out.strip() == "fabless ui: stopped"
    assert err == ""
