#!/usr/bin/env python
"""Regenerate src/fabless/data/estimate/error_bands.yaml from a fresh validation run.

Usage: PYTHONPATH=src python scripts/error_bands.py [--out FILE]

Runs every category of `fabless validate` (a few minutes), keeps the held-out rows, and writes
each regime's residuals and 80% band, and the leave-one-out coverage per category
(docs/validation.md, "Error bands"). Re-run it after any model change or new measurement row.
"""

from __future__ import annotations

import argparse

from fabless.validate.bands import build, coverage_text, markdown, write


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--out", default=None, help="where to write (default: the shipped data file)")
    ap.add_argument("--markdown", action="store_true", help="also print the regime and coverage tables for docs/validation.md")
    args = ap.parse_args()
    data = build()
    path = write(data, args.out)
    print(f"wrote {path}: {data['held_out_rows']} held-out rows, {len(data['regimes'])} regimes "
          f"(made at {data['made_at']['commit']})")
    for cat, c in sorted(data["loo_coverage"].items()):
        cov = coverage_text(c)
        print(f"  {cat:7s} leave-one-out coverage of the 80% bands: {cov} "
              f"({c['covered']}/{c['banded']} banded, {c['rows']} rows)")
    for cat, c in sorted(data["loso_coverage"].items()):
        cov = coverage_text(c)
        print(f"  {cat:7s} leave-one-source-out coverage: {cov} ({c['covered']}/{c['banded']} banded)")
    for marker, cats in data["batch_coverage"].items():
        for cat, c in sorted(cats.items()):
            cov = coverage_text(c)
            print(f"  {cat:7s} batch *{marker}* by the other rows' bands: {cov} ({c['covered']}/{c['banded']} banded)")
    for note in data["left_out"]:
        print(f"  left out: {note}")
    if args.markdown:
        print(markdown(data))


if __name__ == "__main__":
    main()
