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
