"""Generated docs cannot drift (#18): docs/validation.md's generated sections equal a fresh run
(scripts/docs_validation.py --check; about a minute, every validation row runs). The study README
has its own check (tests/explore/test_example.py) and the error bands theirs
(tests/estimate/test_error_bands.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "docs_validation.py"


def test_validation_doc_is_what_a_rerun_writes():
    spec = importlib.util.spec_from_file_location("docs_validation", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    diff = mod.stale_line(mod.DOC.read_text(), mod.regenerate())
    assert diff is None, f"docs/validation.md is out of date: run python scripts/docs_validation.py\n{diff}"


def test_the_check_sees_a_changed_number():
    spec = importlib.util.spec_from_file_location("docs_validation", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = "Generated at commit abc123 (the code\n| train | all | held_out | 117 | 8.1 |\n"
    assert mod.stale_line(text, text.replace("abc123", "def456")) is None
    assert mod.stale_line(text, text.replace("8.1", "8.2")) is not None
