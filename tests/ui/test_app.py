"""`fabless ui`'s JSON API (FastAPI's TestClient), its command's options and its missing-extra line.

The page's figures are checked against `fabless estimate --json` and `fabless tco --json` run
through the CLI with the same inputs; a bad input answers 400 with the CLI's own error line.
The real browser test is tests/browser/test_ui.py."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")  # TestClient's transport (the test extra)

from fastapi.testclient import TestClient  # noqa: E402

from fabless.ui.app import bind, create_app, url_of  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
H100_FILE = ROOT / "src" / "fabless" / "data" / "chips" / "h100-sxm.yaml"
# one inference scenario, as form fields and as the same `fabless estimate` flags
FORM = {"model": "llama-3.1-70b", "chip": "h100-sxm", "precision": "fp8", "parallel": "tp=8,pp=1,dp=1",
        "phase": "inference", "batch": "64", "input_tokens": 2048, "output_tokens": 256}
FLAGS = ["--model", "llama-3.1-70b", "--chip", "h100-sxm", "--precision", "fp8", "--parallel", "tp=8,pp=1,dp=1",
         "--batch", "64", "--input-tokens", "2048", "--output-tokens", "256"]


@pytest.fixture(scope="module")
def client():
    with TestClient(create_app()) as c:
        yield c


def _figure(view: dict, key: str) -> dict:
    return next(f for f in view["figures"] if f["key"] == key)


def test_options_list_the_catalogues(client):
    r = client.get("/api/options")
    assert r.status_code == 200
    d = r.json()
    assert "llama-3.1-70b" in d["models"] and {"h100-sxm", "tpu-v5p", "trainium2"} <= {c["name"] for c in d["chips"]}
    assert {"name": "dgx-h100", "chip": "h100-sxm", "chips": 8} in d["systems"]
    assert set(d["compare"]) <= {c["name"] for c in d["chips"]}
    assert d["version"]


def test_page_and_plotly_are_served_locally(client):
    page = client.get("/")
    assert page.status_code == 200
    # every script and stylesheet the page loads comes from this server (it works offline)
    refs = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert refs and all(r.startswith("/static/") or r.startswith("data:") for r in refs), refs
    js = client.get("/static/plotly.min.js")
    assert js.status_code == 200 and len(js.content) > 1_000_000 and b"plotly" in js.content[:2000].lower()
    for name in ("app.js", "app.css"):
        assert client.get(f"/static/{name}").status_code == 200
    assert client.get("/static/../app.py").status_code == 404


def test_estimate_is_what_the_cli_prints(client, cli):
    r = client.post("/api/estimate", json=FORM)
    assert r.status_code == 200, r.text
    view = r.json()
    res = cli("estimate", *FLAGS, "--json")
    assert res.code == 0, res.err
    ref = res.json()
    assert view["estimate"] == ref
    tpot = _figure(view, "tpot_s")
    assert tpot["unit"] == "ms" and tpot["value"] == pytest.approx(ref["tpot_s"] * 1e3, rel=1e-12)
    assert (tpot["lo"], tpot["hi"]) == pytest.approx((ref["tpot_s_lo"] * 1e3, ref["tpot_s_hi"] * 1e3), rel=1e-12)
    # the shown text is the number to 4 significant digits
    assert float(tpot["text"].replace(",", "")) == pytest.approx(ref["tpot_s"] * 1e3, rel=5e-4)
    assert view["cli"] == "fabless estimate " + " ".join(FLAGS)
    assert view["title"] == "llama-3.1-70b inference on 8 x h100-sxm (dgx-h100)"


def test_cost_per_mtoken_follows_from_the_chip_hour(client, cli):
    """$/Mtoken output = $/chip-hour x the decode share of the time / output tokens per chip-hour."""
    view = client.post("/api/estimate", json=FORM).json()
    ref = cli("estimate", *FLAGS, "--json").json()
    costs = {(c["how"], c["what"]): c["value"] for c in view["costs"]}
    for how in ("buy", "rent"):
        hour = costs[(how, "chip-hour")]
        assert hour is not None and 0.5 < hour < 20  # an H100 hour, bought or rented, in $
        decode_share = 1 - ref["ttft_s"] / ref["e2e_latency_s"]
        expect = hour * decode_share / (3600 * ref["output_tokens_per_s_per_chip"]) * 1e6
        assert costs[(how, "output")] == pytest.approx(expect, rel=1e-9)


def test_compare_is_what_tco_prints(client, cli, tmp_path):
    scenario = tmp_path / "scn.yaml"
    scenario.write_text(json.dumps({"model": "llama-3.1-70b", "system": {"chip": "h100-sxm"}, "precision": "fp8",
                                    "parallel": {"tp": 8, "pp": 1, "dp": 1},
                                    "inference": {"batch": 64, "input_tokens": 2048, "output_tokens": 256}}))
    res = cli("tco", str(scenario), "--compare", "h100-sxm,b200,mi300x", "--json")
    assert res.code == 0, res.err
    want = {r["chip"]: r for r in res.json()["rows"]}
    r = client.post("/api/compare", json={**FORM, "compare": ["h100-sxm", "b200", "mi300x"]})
    assert r.status_code == 200, r.text
    rows = r.json()["rows"]
    assert [x["chip"] for x in rows] == ["h100-sxm", "b200", "mi300x"]
    for row in rows:
        w = want[row["chip"]]
        assert row["tokens_per_s_per_chip"] == pytest.approx(w["tokens_per_s_per_chip"], rel=1e-12)
        assert row["buy_usd_per_mtoken"] == pytest.approx(w["buy_usd_per_mtoken_output"], rel=1e-12)
        assert row["rent_usd_per_mtoken"] == pytest.approx(w["rent_usd_per_mtoken_output"], rel=1e-12)


def test_training_form_gives_step_time_and_mfu(client, cli):
    form = {"model": "llama-3.1-8b", "chip": "h100-sxm", "precision": "bf16", "parallel": "tp=1,pp=1,dp=8",
            "phase": "training", "global_batch": 64, "seq_len": 4096, "mode": "pretrain",
            "batch": "999999999", "input_tokens": 0}  # inference fields are ignored in training
    view = client.post("/api/estimate", json=form).json()
    ref = cli("estimate", "--model", "llama-3.1-8b", "--chip", "h100-sxm", "--precision", "bf16", "--parallel",
              "tp=1,pp=1,dp=8", "--global-batch", "64", "--seq-len", "4096", "--mode", "pretrain", "--json").json()
    assert _figure(view, "step_time_s")["value"] == pytest.approx(ref["step_time_s"], rel=1e-12)
    mfu = _figure(view, "mfu")
    assert mfu["unit"] == "%" and mfu["value"] == pytest.approx(100 * ref["mfu"], rel=1e-12)


@pytest.mark.parametrize("change, flags", [
    ({"output_tokens": 0}, ["--output-tokens", "0"]),
    ({"batch": "lots"}, ["--batch", "lots"]),
    ({"chip": "h100x"}, ["--chip", "h100x"]),
    ({"model": "llama-9"}, ["--model", "llama-9"]),
    ({"parallel": "tp=eight"}, ["--parallel", "tp=eight"]),
    ({"model": "llama-3.1-405b", "chips": 1, "parallel": "tp=1,pp=1,dp=1", "batch": "1"},
     ["--model", "llama-3.1-405b", "--chips", "1", "--parallel", "tp=1,pp=1,dp=1", "--batch", "1"]),
])
def test_bad_input_answers_the_cli_line(client, cli, change, flags):
    r = client.post("/api/estimate", json={**FORM, **change})
    assert r.status_code == 400, r.text
    res = cli("estimate", *FLAGS, *flags)
    assert res.code == 2
    assert "error: " + r.json()["error"] == res.err.strip()
    assert "\n" not in r.json()["error"] and "Traceback" not in r.text


def test_infeasible_and_unknown_name_their_kind(client):
    r = client.post("/api/estimate", json={**FORM, "model": "llama-3.1-405b", "chips": 1, "parallel": "tp=1"})
    assert r.json()["kind"] == "InfeasibleDesign" and "does not fit" in r.json()["error"]
    r = client.post("/api/estimate", json={**FORM, "chip": "h100x"})
    assert r.json()["kind"] == "UnknownPreset"


def test_wrong_types_and_paths_are_one_line(client):
    r = client.post("/api/estimate", json={**FORM, "input_tokens": "2k"})
    assert r.status_code == 400 and r.json()["error"] == "--input-tokens must be a whole number, got '2k'"
    r = client.post("/api/estimate", json={**FORM, "colour": "red"})
    assert r.status_code == 400 and r.json()["error"].startswith("colour: not a field of the form")
    # the page never reads a file on the server
    r = client.post("/api/estimate", json={**FORM, "chip": str(H100_FILE)})
    assert r.status_code == 400 and "not a path" in r.json()["error"]
    r = client.post("/api/compare", json={**FORM, "compare": []})
    assert r.status_code == 400 and r.json()["error"].startswith("compare:")


def test_uploaded_chip_runs_like_the_preset_it_copies(client):
    """A copy of the H100 file, uploaded and placed in a DGX H100, is the H100."""
    up = client.post("/api/chip", json={"filename": "my chip.yaml", "text": H100_FILE.read_text()})
    assert up.status_code == 200, up.text
    ref = up.json()["ref"]
    assert ref == "upload:my-chip" and up.json()["name"] == "h100-sxm"
    mine = client.post("/api/estimate", json={**FORM, "chip": ref, "system": "dgx-h100"}).json()
    h100 = client.post("/api/estimate", json={**FORM, "system": "dgx-h100"}).json()
    assert _figure(mine, "tpot_s")["value"] == pytest.approx(_figure(h100, "tpot_s")["value"], rel=1e-12)
    assert "--chip 'my chip.yaml'" in mine["cli"]
    rows = client.post("/api/compare", json={**FORM, "system": "dgx-h100", "compare": [ref, "h100-sxm"]}).json()["rows"]
    assert rows[0]["chip"] == "my chip.yaml"
    assert rows[0]["tokens_per_s_per_chip"] == pytest.approx(rows[1]["tokens_per_s_per_chip"], rel=1e-12)


def test_a_bad_chip_file_is_one_line_naming_the_file(client):
    r = client.post("/api/chip", json={"filename": "broken.yaml", "text": "name: x\nmemory: [1, 2\n"})
    assert r.status_code == 400
    line = r.json()["error"]
    assert line.startswith("broken.yaml") and "fabless-ui-" not in line, line
    r = client.post("/api/estimate", json={**FORM, "chip": "upload:broken"})
    assert r.status_code == 400 and "was not uploaded" in r.json()["error"]


def test_report_is_the_html_of_the_estimate(client, cli):
    r = client.get("/report.html", params={k: v for k, v in FORM.items()})
    assert r.status_code == 200, r.text
    assert "attachment" in r.headers["content-disposition"] and "<html" in r.text.lower()
    assert "llama-3.1-70b" in r.text
    assert "Roofline" in r.text and "qkv_proj" in r.text  # the estimate's operators: the page got its scenario
    bad = client.get("/report.html", params={**FORM, "output_tokens": "0"})
    assert bad.status_code == 400 and bad.json()["error"] == "--output-tokens must be a whole number >= 1, got 0"


def test_only_local_host_names_are_answered_when_local():
    with TestClient(create_app(["127.0.0.1", "localhost"]), base_url="http://127.0.0.1") as c:
        assert c.get("/api/options").status_code == 200
        assert c.get("/api/options", headers={"Host": "attacker.example"}).status_code == 400


def test_port_0_is_a_free_port_and_a_used_port_is_one_line(cli):
    sock = bind("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        assert port > 0 and url_of(sock) == f"http://127.0.0.1:{port}/"
        res = cli("ui", "--port", str(port))  # taken by `sock`
        assert res.code == 2 and res.err.startswith(f"error: --port {port}: cannot listen on 127.0.0.1:{port}")
        assert len(res.err.strip().splitlines()) == 1
    finally:
        sock.close()
    res = cli("ui", "--port", "70000")
    assert res.code == 2 and res.err.strip() == "error: --port must be a whole number <= 65,535, got 70,000"


def test_check_serves_and_stops(cli):
    res = cli("ui", "--check")
    assert res.code == 0, res.err
    assert re.match(r"ok: http://127\.0\.0\.1:\d+/ served the page .* TPOT [\d.,]+ ms\); stopped$", res.out.strip())


def test_missing_extra_is_one_line(cli, monkeypatch):
    monkeypatch.setitem(sys.modules, "fastapi", None)  # `import fastapi` now raises ImportError
    res = cli("ui", "--check")
    assert res.code == 2 and res.out == ""
    assert res.err.strip() == "error: fabless ui needs fastapi: pip install 'fabless[ui]'"


def test_help_does_not_import_fastapi():
    code = ("import sys, contextlib, io\nfrom fabless.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()): main(['--help'])\n"
            "print(sorted(m for m in ('fastapi', 'uvicorn', 'plotly', 'fabless.ui.app') if m in sys.modules))")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_ctrl_c_stops_it_with_one_line():
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.Popen([sys.executable, "-m", "fabless.cli", "ui", "--port", "0"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        m = re.match(r"fabless ui: serving on http://127\.0\.0\.1:(\d+)/; Ctrl-C stops it$", line.strip())
        assert m, line
        with socket.create_connection(("127.0.0.1", int(m.group(1))), timeout=10):
            pass
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        proc.kill() if proc.poll() is None else None
    assert proc.returncode == 0, err
    assert out.strip() == "fabless ui: stopped" and err == ""


def test_guide_quotes_the_cli_error_line(client):
    guide = " ".join((ROOT / "docs" / "user-guide.md").read_text().split())
    r = client.post("/api/estimate", json={**FORM, "output_tokens": 0})
    assert f"`error: {r.json()['error']}`" in guide


def test_training_comparison_names_the_whole_plan(client):
    form = {"model": "llama-3.1-8b", "chip": "h100-sxm", "precision": "bf16", "parallel": "tp=1,pp=1,dp=8",
            "phase": "training", "global_batch": 64, "seq_len": 4096, "compare": ["h100-sxm"]}
    view = client.post("/api/estimate", json=form).json()
    row = client.post("/api/compare", json=form).json()["rows"][0]
    assert row["plan"] == view["plan"] and "zero" in row["plan"]  # e.g. tp1 dp8 zero1 selective mb1
