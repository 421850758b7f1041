"""Generated docs cannot drift (#18): every number README.md, docs/*.md and examples/*/README.md
quote from the code stands between `<!-- fabless:begin NAME -->` markers that scripts/docs.py
rewrites, and docs/validation.md and examples/openai-xpu/README.md are generated whole. Here
`scripts/docs.py --check` must find nothing to change. The validation rows (about ten minutes) and the
example's search are cached by the content of src/fabless, so a run on unchanged code reuses
them; tests/validate/test_serve_rows.py's held-out check reads the same cached validation, and
both run on one worker (tests/conftest.py SHARED_VALIDATION), so a suite runs the validation once.
The error bands have their own check (tests/estimate/test_error_bands.py)."""

from __future__ import annotations

import pytest

from tests.conftest import SHARED_VALIDATION, load_script


@SHARED_VALIDATION
def test_every_generated_doc_is_what_a_rerun_writes():
    stale = load_script("docs").stale_files()
    assert not stale, "generated docs are out of date: run python scripts/docs.py\n" + "\n".join(stale)


def test_every_marker_has_a_generator_and_every_generator_is_used():
    docs = load_script("docs")
    used = {m.group(1) for f in docs.marked_files() for m in docs.BLOCK.finditer(f.read_text())}
    assert used, "no generated block found"
    assert used <= set(docs.BLOCKS), f"markers without a generator: {sorted(used - set(docs.BLOCKS))}"
    assert set(docs.BLOCKS) <= used, f"generators no doc uses: {sorted(set(docs.BLOCKS) - used)}"


def test_a_hand_edited_block_is_seen_and_rewritten():
    docs = load_script("docs")
    from fabless.perf.gemm import TILE_K

    text = "pads <!-- fabless:begin gemm-tile-stages -->2 stages of 16<!-- fabless:end gemm-tile-stages --> here"
    fresh = docs.rewrite_blocks(text, "t.md")
    assert f"x {TILE_K}`<!-- fabless:end" in fresh and docs._exact_stale(text, fresh) is not None
    assert docs._exact_stale(fresh, docs.rewrite_blocks(fresh, "t.md")) is None


def test_an_unknown_block_is_one_line():
    docs = load_script("docs")
    with pytest.raises(SystemExit, match="t.md: no generator for block 'nope'"):
        docs.rewrite_blocks("<!-- fabless:begin nope -->1<!-- fabless:end nope -->", "t.md")


def test_the_validation_check_sees_a_changed_number():
    mod = load_script("docs_validation")
    text = "Generated at commit abc123 (the code\n| train | all | held_out | 117 | 8.1 |\n"
    assert mod.stale_line(text, text.replace("abc123", "def456")) is None
    assert mod.stale_line(text, text.replace("8.1", "8.2")) is not None
