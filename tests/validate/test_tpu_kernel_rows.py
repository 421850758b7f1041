"""TPU kernel rows (published_tpu_kernel.csv): sourced with a commit, held out, the value the
printed time gives, and predicted (not skipped) by the kernel model on the tpu-v5e preset."""

from __future__ import annotations

import csv
import re
from importlib import resources
from pathlib import Path

import pytest

from fabless.validate import kernel
from fabless.validate.core import load_rows, parse_config

MEAS = Path(str(resources.files("fabless") / "data" / "measurements"))
ROWS = list(csv.DictReader(open(MEAS / "published_tpu_kernel.csv", encoding="utf-8")))
#: the notebook's printed times (seconds) for the rows' shapes
TIMES_S = {"kernel-tpu-001": 0.0008272899803705514, "kernel-tpu-002": 0.006047147869830951}


def test_rows_are_sourced_held_out_and_unique():
    ids = [r["id"] for r in ROWS]
    assert len(ids) == len(set(ids)) == 2
    others = {r["id"] for r in load_rows() if r["id"] not in ids}
    assert not (set(ids) & others)
    for r in ROWS:
        assert re.search(r"commit [0-9a-f]{40}", r["source"]) and r["id"] not in kernel.FIT_IDS


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["id"])
def test_value_is_2mnk_over_the_printed_time(row):
    cfg = parse_config(row["config"])
    m, n, k = (int(cfg[x]) for x in ("m", "n", "k"))
    assert float(row["value"]) == pytest.approx(2 * m * n * k / TIMES_S[row["id"]] / 1e12, abs=0.01)


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r["id"])
def test_the_kernel_model_predicts_them(row):
    pred = kernel.predict(row)
    # below the v5e's 197 TFLOP/s bf16 peak, and within the kernel band's reach of the measurement
    assert 0 < pred < 197 and abs(pred / float(row["value"]) - 1) < 0.2
