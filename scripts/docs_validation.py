"""Rewrite the generated sections of docs/validation.md from one run of `fabless validate`:
"Summary" (per category x vendor family, and per chip), "Rows predicted", "Rows skipped", and the
error-band regime and coverage tables from the shipped error_bands.yaml (run scripts/error_bands.py first).
Every number there comes from this script; prose sections are left as they are.

Usage: python scripts/docs_validation.py [--csv FILE]   (about a minute: every row runs)
       python scripts/docs_validation.py --check          (exit 1 if a rerun would change the file)
scripts/docs.py runs it with every other docs generator (tests/test_docs_current.py runs its --check).
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from fabless.bands import load_bands
from fabless.validate.bands import UNSEEN_BATCHES, in_unseen_batch, markdown
from fabless.validate.core import evaluate, summarise, write_csv
from fabless.validate.train import scenario_map

DOC = Path(__file__).resolve().parents[1] / "docs" / "validation.md"


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def _summary(rows: list[dict], label: str) -> str:
    out = [f"| category | {label} | set | n | median abs err % | p90 abs err % | max abs err % |", "|---|---|---|---|---|---|---|"]
    for s in rows:
        out.append(f"| {s['category']} | {s['chip']} | {s['set']} | {s['n']} | {s['median_abs_err_pct']:.1f} | "
                   f"{s['p90_abs_err_pct']:.1f} | {s['max_abs_err_pct']:.1f} |")
    return "\n".join(out)


def _replace_section(text: str, heading: str, body: str) -> str:
    pat = re.compile(rf"(^## {re.escape(heading)}[^\n]*\n)(.*?)(?=^## |\Z)", re.S | re.M)
    if not pat.search(text):
        raise SystemExit(f"docs/validation.md has no section '## {heading}'")
    return pat.sub(lambda m: m.group(1) + "\n" + body.strip() + "\n\n", text, count=1)


_COMMIT = re.compile(r"at commit \S+ \(the code")


def stale_line(current: str, fresh: str) -> str | None:
    """The first line where ``fresh`` (a regenerated file) differs from ``current``, the
    generating commit's hash aside; None when they agree."""
    a = _COMMIT.sub("at commit - (the code", current).splitlines()
    b = _COMMIT.sub("at commit - (the code", fresh).splitlines()
    for x, y in zip(a, b):
        if x != y:
            return f"now: {x[:160]}\nrerun: {y[:160]}"
    return None if len(a) == len(b) else f"{len(a)} lines now, {len(b)} on a rerun"


def main() -> None:
    text = regenerate()
    if "--check" in sys.argv:
        diff = stale_line(DOC.read_text(), text)
        if diff:
            print(f"docs/validation.md is out of date (run python scripts/docs_validation.py):\n{diff}")
            raise SystemExit(1)
        print("docs/validation.md is current")
        return
    DOC.write_text(text)


#: What each unseen batch is, for its table's heading.
BATCH_TEXT = {
    "-fresh-": ("The unseen-data check alone (ids `*-fresh-*`: collected after the model was built, all held "
                "out, never fitted on; included in the tables above)"),
    "-fresh2-": ("The second unseen-data batch alone (ids `*-fresh2-*`: collected after every change the first batch "
                 "led to, each mapped from its source alone and scored once, all held out, never fitted on; their "
                 "first scores are in the headers of the `*_fresh2_*` mapping files; included in the tables above)"),
    "-fresh3-": ("The third unseen-data batch alone (ids `*-fresh3-*`: collected after every change the second batch "
                 "led to, each mapped from its source alone and scored once, all held out, never fitted on; their "
                 "first scores are in the `*_fresh3_*` mapping files and fresh3_kc_scores.md; included in the tables above)"),
    "-fresh4-": ("The fourth unseen-data batch alone (ids `*-fresh4-*`: collected in a separate checkout while the changes "
                 "the third batch led to were made, each mapped from its source alone and scored once, all held out, never "
                 "fitted on; their first scores are in the `*_fresh4_*` mapping files and fresh4_kc_scores.md; included in "
                 "the tables above)"),
    "-fresh5-": ("The fifth unseen-data batch alone (ids `*-fresh5-*`: collected in a separate checkout while the changes "
                 "the fourth batch led to were made, each mapped from its source alone and scored once, all held out, never "
                 "fitted on; their first scores are in the `*_fresh5_*` mapping files, fresh5_kc_scores.md and "
                 "fresh5_mtia_scores.md; included in the tables above)"),
    "-fresh6-": ("The sixth unseen-data batch alone (ids `*-fresh6-*`: collected in a separate checkout of the commit that "
                 "carried the fourth batch's change and the fifth batch, each mapped from its source alone and scored once, "
                 "all held out, never fitted on; their first scores are in the `*_fresh6_*` mapping files and "
                 "fresh6_kc_scores.md; included in the tables above)"),
    "-fresh7-": ("The seventh unseen-data batch alone (ids `*-fresh7-*`: collected in a separate checkout of the commit that "
                 "fitted Blackwell's matrix efficiency on B200 GEMM tables, each mapped from its source alone and scored "
                 "once, all held out, never fitted on; their first scores are in the `*_fresh7_*` mapping files and "
                 "fresh7_kc_scores.md; included in the tables above)"),
    "-fresh8-": ("The eighth unseen-data batch alone (ids `*-fresh8-*`: collected in a separate checkout of the commit that "
                 "followed the fit of Hopper's matrix efficiency on GEMM tables, each mapped from its source "
                 "alone and scored once, all held out, never fitted on; their first scores are in the `*_fresh8_*` mapping "
                 "files; included in the tables above)"),
    "-fresh9-": ("The ninth unseen-data batch alone (ids `*-fresh9-*`: collected in a separate checkout of the commit that "
                 "regenerated the docs with the eighth batch, each mapped from its source alone and scored once, all held "
                 "out, never fitted on; their first scores are in the `*_fresh9_*` mapping files and fresh9_kc_scores.md; "
                 "included in the tables above)"),
    "-fresh10-": ("The tenth unseen-data batch alone (ids `*-fresh10-*`: collected in a separate checkout of the commit that "
                  "gave the tests one rows_of helper, each mapped from its source alone and scored once, all held out, never "
                  "fitted on; their first scores are in serve_scenarios_fresh10.yaml's rows and fresh10_serve_scores.md; "
                  "included in the tables above)"),
    "-fresh11-": ("The eleventh unseen-data batch alone (ids `*-fresh11-*`: collected in a separate checkout of the commit that "
                  "documented the nccom-test figures, GB300 and TPU v4 rows, each mapped from its source alone and scored "
                  "once, all held out, never fitted on; their first scores are in fresh11_scores.md, with a later "
                  "change its TPU v4 rows had argued for (its 'Later' section); included in the tables above)"),
    "-fresh12-": ("The twelfth unseen-data batch alone (ids `*-fresh12-*`: AWS p5.48xlarge nccl-tests rows of a second "
                  "source, written by rule before one scoring run at the commit that gave all-to-alls a cost per peer "
                  "message, all held out, never fitted on; their first scores are in fresh12_comm_scores.md; included in "
                  "the tables above)"),
    "-fresh13-": ("The thirteenth unseen-data batch alone (ids `*-fresh13-*`: nccl-tests all-reduce on one host of 8 A100 "
                  "and on one and two hosts of 8 H100, from four public logs new to the project, collected to replace the "
                  "collective fit's reserved-source rows; all held out, never fitted on; their first scores are in "
                  "fresh13_comm_scores.md; included in the tables above)"),
    "-fresh14-": ("The fourteenth unseen-data batch alone (ids `*-fresh14-*`: nccl-tests all-reduce from NVIDIA's DGX Cloud "
                  "benchmarking recipe (one H100 host), an Oracle Cloud tutorial (one A100 host) and a SkyPilot example (two "
                  "H200 hosts); all held out, never fitted on; their first scores are in fresh14_comm_scores.md; included in "
                  "the tables above)"),
    "-fresh15-": ("The fifteenth unseen-data batch alone (ids `*-fresh15-*`: MI355X BF16 and FP8 GEMMs of HipKittens' MI355X "
                  "benchmark files and aiter's MI355X attention table, scored once before any change; their first scores "
                  "are in fresh15_kc_scores.md; rows a later fit took are named there; included in the tables above)"),
    "-fresh16-": ("The sixteenth unseen-data batch alone (ids `*-fresh16-*`: flash-attention forward kernels at head "
                  "dimensions 64-256 on A100, H100, H200, B200, GB200 and MI355X from cuDNN's committed benchmark results and "
                  "flash-attention, Triton, tritonbench and FlyDSL threads, scored once before any change; their first "
                  "scores are in fresh16_kc_scores.md; rows a later fit took are named there; included in the tables above)"),
    "-fresh17-": ("The seventeenth unseen-data batch alone (ids `*-fresh17-*`: flash-attention backward kernels on H200, GB200 "
                  "and GB300, and forward kernels on GB300, from cuDNN's committed training-suite benchmark results, scored "
                  "once before any change; their first scores are in fresh17_kc_scores.md; rows a later fit took are named "
                  "there; included in the tables above)"),
    "-fresh18-": ("The eighteenth unseen-data batch alone (ids `*-fresh18-*`: H100 torch.mm GEMMs of a community benchmark's "
                  "issue and HBM streams on A100 and MI300X of RRZE-HPC's gpu-benches, scored once before any change; their "
                  "first scores are in fresh18_kc_scores.md; all held out; included in the tables above)"),
    "-fresh19-": ("The nineteenth unseen-data batch alone (ids `*-fresh19-*`: cuDNN's fused RMSNorm and LayerNorm kernels, "
                  "forward and backward, on GB200, GB300 and H200 from cuDNN's committed norm benchmark results, scored "
                  "once before any change; their first scores are in fresh19_kc_scores.md; rows a later fit took are named "
                  "there; included in the tables above)"),
}


def _batch_medians(outcomes: list) -> str:
    """Per category: the held-out median |error| of the rows outside every unseen batch, and of each batch."""
    cols = [("built on", lambda o: not in_unseen_batch(o.id))]
    cols += [(f"`*{m}*`", lambda o, m=m: m in o.id) for m in UNSEEN_BATCHES]
    cols.append(("all", lambda o: True))
    held = {}  # (column, category) -> the summary's held-out 'all' entry
    for name, keep in cols:
        for s in summarise([o for o in outcomes if keep(o)]):
            if s["chip"] == "all" and s["set"] == "held_out":
                held[(name, s["category"])] = s
    lines = ["| category | " + " | ".join(c for c, _ in cols) + " |", "|---" * (len(cols) + 1) + "|"]
    for cat in sorted({c for _, c in held}):
        cells = [f"{s['median_abs_err_pct']:.1f}% ({s['n']})" if (s := held.get((name, cat))) else "-" for name, _ in cols]
        lines.append(f"| {cat} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def regenerate(outcomes: list | None = None) -> str:
    """docs/validation.md with its generated sections from a fresh run of every row (or from
    ``outcomes``, those of such a run: scripts/docs.py reuses them while the code is unchanged)."""
    outcomes = evaluate() if outcomes is None else outcomes
    if "--csv" in sys.argv:
        write_csv(outcomes, sys.argv[sys.argv.index("--csv") + 1])
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=DOC.parent).stdout.strip() or "unknown"
    mapping = scenario_map()
    fam = _summary(summarise(outcomes, by="family"), "family")
    chip = _summary(summarise(outcomes, by="chip"), "chip")
    # The unseen-data batches (fabless.validate.bands.UNSEEN_BATCHES): rows collected after the model
    # was built, each batch after every change the one before led to, scored before anything was
    # changed for them and never fitted on; their first scores are in their mapping files' headers.
    batches = ""
    for marker in UNSEEN_BATCHES:
        rows = [o for o in outcomes if marker in o.id]
        table = _summary(summarise(rows, by="family"), "family") if rows else "(none yet)"
        batches += f"\n\n{BATCH_TEXT[marker]}, per category and vendor family:\n\n{table}"
    summary = (f"Generated by `python scripts/docs_validation.py` at commit {commit} (the code the numbers "
               f"come from; this file is committed after it).\n\nPer category and vendor family:\n\n{fam}\n\n"
               f"Per category and chip:\n\n{chip}\n\n"
               f"Held-out median |error| per category: the rows collected while the model was built, and each "
               f"unseen batch (rows with a prediction; `n` in brackets):\n\n{_batch_medians(outcomes)}{batches}")
    pred = ["| id | chip | set | metric | measured | predicted | error % | mapping |", "|---|---|---|---|---|---|---|---|"]
    for o in sorted((o for o in outcomes if o.skipped is None and o.predicted is not None), key=lambda o: o.id):
        note = str((mapping.get(o.id) or {}).get("note", "")).replace("|", "/").replace("\n", " ")
        pred.append(f"| {o.id} | {o.chip} | {o.set} | {o.metric} | {_fmt(o.measured)} | {_fmt(o.predicted)} | "
                    f"{o.error * 100:+.1f} | {note} |")
    skipped = ["| id | reason |", "|---|---|"]
    for o in sorted((o for o in outcomes if o.skipped), key=lambda o: o.id):
        skipped.append(f"| {o.id} | {o.skipped.replace('|', '/')} |")
    text = DOC.read_text()
    text = _replace_section(text, "Summary", summary)
    text = _replace_section(text, "Rows predicted", "\n".join(pred))
    text = _replace_section(text, "Rows skipped", "\n".join(skipped))
    bands = load_bands()
    start = text.find("Regimes (generated by `scripts/error_bands.py")
    if start >= 0:
        end = text.find("\n\n", text.find("| category | held-out rows |", start))
        end = len(text) if end < 0 else end
        text = text[:start] + markdown(bands) + text[end:]
    print(f"regenerated {DOC.name}: {len(pred) - 2} rows predicted, {len(skipped) - 2} skipped")
    return text


if __name__ == "__main__":
    main()
