"""Fit the CPU model's two calibrated parameters (data/perf/cpu.yaml: dram_efficiency,
gemv_efficiency) on the fit rows of data/measurements/published_cpu.csv
(fabless.validate.cpu.FIT_IDS), and print the values to enter in the file with the error on the
fit rows and on the held-out rows at those values.

    PYTHONPATH=src python scripts/fit_cpu.py
"""

from __future__ import annotations

import statistics

from fabless.validate.cpu import FIT_IDS, _predict_with, cpu_rows, fit


def main() -> None:
    values, rms = fit()
    print("fitted on", ", ".join(sorted(FIT_IDS)), f"(rms log error {rms:.3f}):")
    for k, v in values.items():
        print(f"  {k}: {v:.3f}")
    for label, keep in (("fit", True), ("held_out", False)):
        errs = []
        for r in cpu_rows():
            if (r["id"] in FIT_IDS) != keep:
                continue
            pred = _predict_with(r, values)
            errs.append(abs(pred / float(r["value"]) - 1) * 100)
            print(f"  {label:8s} {r['id']}: measured {float(r['value']):7.2f}  predicted {pred:7.2f}  "
                  f"error {pred / float(r['value']) - 1:+.1%}")
        print(f"  {label}: n {len(errs)}, median |err| {statistics.median(errs):.1f}%")


if __name__ == "__main__":
    main()
