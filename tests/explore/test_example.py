"""The shipped study runs (on a small sample) and tells its story end to end."""

from pathlib import Path

from fabless.explore import load_space, run_search

ROOT = Path(__file__).resolve().parents[2]


def test_openai_xpu_study_runs(tmp_path, monkeypatch, capsys):
    import importlib.util

    monkeypatch.chdir(tmp_path)  # the space finds its system file beside itself
    space = load_space(ROOT / "examples" / "openai-xpu" / "space.yaml")
    raw = space.model_dump(mode="json")
    raw["search"].update(samples=1024, batch_size=512)
    from fabless.explore import space_from_dict

    small = space_from_dict(raw)
    run_search(small, tmp_path / "res", progress=False).close()
    spec = importlib.util.spec_from_file_location("study", ROOT / "examples" / "openai-xpu" / "study.py")
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    out = study.main(str(tmp_path / "res"))
    assert out["feasible"] > 0 and out["front"] >= 1
    assert out["chosen"]["unit_cost_usd"] <= 20000 and out["chosen"]["tdp_w"] <= 1200
    assert any(k.endswith("vs b200") for k in out["breakeven"])
    assert "break-even" in capsys.readouterr().out
    # against the bought B200: the break-even at lower B200 prices and its Monte Carlo
    b = next(v for k, v in out["breakeven"].items() if k.endswith("vs b200"))
    fleets = [b["breakeven_fleet_ref_chips"], *b["at_ref_price_usd"].values()]
    # $40,000 (record) -> $30,000 -> $25,000: a cheaper GPU needs a larger fleet to repay the NRE
    assert fleets == sorted(fleets)
    mc = b["monte_carlo"]
    assert list(mc["quantiles"].values()) == sorted(mc["quantiles"].values())
    p = mc["p_pays_back_at"]
    assert p["5000"] <= p["20000"] <= p["100000"]


def test_openai_xpu_readme_is_regenerated_from_the_code():
    # every number in the README comes from make_readme.py running the search and the study;
    # if this fails, run: python examples/openai-xpu/make_readme.py
    import subprocess
    import sys

    r = subprocess.run([sys.executable, str(ROOT / "examples" / "openai-xpu" / "make_readme.py"), "--check"],
                       capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]
