"""fabless validate's summary per vendor family, and errors.require for missing extras."""

from __future__ import annotations

import pytest

from fabless.errors import FablessError, require
from fabless.validate.core import Outcome, summarise


def _o(i, chip, err, set_="held_out", cat="train"):
    return Outcome(f"r{i}", cat, chip, "m", 1.0, 1.0 + err, set_)


def test_summary_groups_chips_into_vendor_families():
    outs = [_o(1, "h100-sxm", 0.10), _o(2, "a100-sxm", -0.30), _o(3, "tpu-v5e", 0.05), _o(4, "tpu-v5p", 0.15),
            _o(5, "NVIDIA L40S", 0.5)]
    rows = {(s["chip"], s["set"]): s for s in summarise(outs, by="family")}
    assert rows[("nvidia", "held_out")]["n"] == 2
    assert rows[("nvidia", "held_out")]["median_abs_err_pct"] == pytest.approx(20.0)  # median of 10 and 30
    assert rows[("google-tpu", "held_out")]["median_abs_err_pct"] == pytest.approx(10.0)
    assert rows[("other", "held_out")]["n"] == 1  # hardware with no preset
    assert rows[("all", "held_out")]["n"] == 5
    assert {s["chip"] for s in summarise(outs, by="chip")} >= {"h100-sxm", "tpu-v5e"}
    with pytest.raises(FablessError, match="--by"):
        summarise(outs, by="vendor")


def test_require_names_the_extra():
    with pytest.raises(FablessError, match=r"pip install 'fabless\[explore\]'") as exc:
        require("no_such_module_for_fabless", "explore", "this command")
    assert "\n" not in str(exc.value)
    assert require("math", "explore", "x").sqrt(4.0) == 2.0
