"""What fabless accepts: physical bounds on inputs and budgets on work, in one place.

Every entry point (the CLI's flags, chip/system/scenario/space YAML, the Python API through
the same pydantic models) checks its numbers against these limits, so a value that is
not finite, not positive, or far outside anything buildable is refused with one line that
names the field or flag, its unit and the range, instead of producing inf, NaN or a hang.

The bounds are deliberately wide (a wafer-scale chip, a million-chip fleet, a 16M-token
context all pass); they only keep out what no real input is: a 1e308 clock, 2**63 tokens.
The budgets cap inputs whose cost grows with their size (a simulation's arrivals, a search's
designs) so that a typing slip is refused at once rather than run for hours.
"""

from __future__ import annotations

import math
from typing import Any

from fabless.errors import InvalidInput

# --- YAML files (fabless.loading.read_yaml) ------------------------------------------------------
#: A data file larger than this is refused before it is read (the largest shipped one is ~100 KB).
MAX_YAML_BYTES = 16 * 2**20
#: Nesting deeper than this is refused (shipped files nest 5 levels).
MAX_YAML_DEPTH = 64
#: Nodes after expanding aliases (a YAML "billion laughs" expands a few lines into billions).
MAX_YAML_NODES = 1_000_000

# --- physical bounds ----------------------------------------------------------------------------
#: Any number anywhere in an input: beyond this nothing is physical and float sums lose meaning.
MAX_MAGNITUDE = 1e18
#: Any non-zero number's least magnitude: below it a division overflows to inf (1 / 1e-308), and
#: no quantity in fabless's units (seconds, years, joules, fractions) is that small.
MIN_MAGNITUDE = 1e-30
#: Clocks, MHz: 0.1 to 10 GHz.
CLOCK_MHZ = (100.0, 10_000.0)
#: Memory capacity of one chip, GB (1e9 bytes): up to a petabyte.
MAX_CAPACITY_GB = 1e6
#: Bandwidths of one chip (HBM, on-chip, links), GB/s: up to a petabyte per second.
MAX_BANDWIDTH_GB_S = 1e6
#: Dense peak of one chip, TFLOP/s: up to an exaflop.
MAX_PEAK_TFLOPS = 1e6
#: Cores or matrix units on one chip.
MAX_UNITS = 10_000_000
#: Chips in one system, scenario or collective: up to ten million.
MAX_CHIPS = 10_000_000
#: Tokens in one sequence (prompt, output, training sequence, KV length): 16M.
MAX_SEQ_TOKENS = 2**24
#: Sequences in one batch or step.
MAX_BATCH = 2**24
#: Matrix dimensions of one GEMM, and the work of one operator (FLOPs) a float still counts exactly enough.
MAX_DIM = 2**31
#: Layers of one model (the deepest published LLMs have a few hundred); the operator graph and
#: the pipeline search walk them one by one.
MAX_LAYERS = 10_000
#: Routed experts of one MoE layer (DeepSeek-V3 has 256).
MAX_EXPERTS = 65_536
#: Bytes in one buffer or message: an exabyte.
MAX_BYTES = 1e18

#: A time span (a duration, an SLO): up to about 30 years.
MAX_SECONDS = 1e9
#: An arrival rate, requests per second.
MAX_RATE_PER_S = 1e9

# --- work budgets ---------------------------------------------------------------------------------
#: Requests one `fabless serve` simulation may generate (rate x duration, or --offline): the
#: simulator runs about 50,000 requests a second, so this is about 10 s.
MAX_SIM_REQUESTS = 500_000
#: Scheduler steps of one simulation, counted from the requests before it runs (the simulator
#: runs about 100,000 steps a second; 256,000-token answers to 1,000 requests need a million).
MAX_SIM_STEPS = 500_000
#: Clients of one closed-loop `serve --concurrency` run: 6 x this many requests, simulated once
#: closed when the clients queue for the replica, or up to ~10 times in a rate search when the
#: replica holds them all at once (4,096 clients take a few seconds; 100,000 took minutes).
MAX_CONCURRENCY = 4096
#: Designs one `fabless explore` run may evaluate.
MAX_DESIGNS = 10_000_000
#: Chips a parallel plan search (`parallel: auto`) may consider; beyond it give the plan.
MAX_AUTO_CHIPS = 2**20


def finite_number(value: Any, what: str, *, lo: float | None = None, hi: float | None = None,
                  lo_open: bool = False, unit: str = "") -> float:
    """``value`` as a float if it is a finite number within [lo, hi] (lo excluded with
    ``lo_open``); otherwise a one-line FablessError naming ``what``, the unit and the range."""
    u = f" {unit}" if unit else ""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidInput(f"{what} must be a number{u}, got {value!r}") from None
    if not math.isfinite(x):
        raise InvalidInput(f"{what} must be a finite number{u}, got {value!r}")
    if lo is not None and (x < lo or (lo_open and x == lo)):
        raise InvalidInput(f"{what} must be {'above' if lo_open else 'at least'} {lo:g}{u}, got {value!r}")
    if hi is not None and x > hi:
        raise InvalidInput(f"{what} must be at most {hi:g}{u}, got {value!r}")
    return x


def whole_number(value: Any, what: str, *, lo: int = 1, hi: int | None = None, unit: str = "") -> int:
    """``value`` as an int within [lo, hi], or a one-line FablessError naming ``what``."""
    u = f" {unit}" if unit else ""
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"{what} must be a whole number{u}, got {value!r}")
    if value < lo:
        raise InvalidInput(f"{what} must be a whole number >= {lo}{u}, got {value}")
    if hi is not None and value > hi:
        raise InvalidInput(f"{what} must be a whole number <= {hi:,}{u}, got {value:,}")
    return value


def check_magnitudes(value: Any, field: str = "") -> Any:
    """Raise ValueError (for a pydantic validator) where a number in ``value`` (nested dicts and
    lists included) is not finite, exceeds :data:`MAX_MAGNITUDE` or is non-zero below
    :data:`MIN_MAGNITUDE`; return ``value``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError(f"must be a finite number, got {value}")
        if abs(value) > MAX_MAGNITUDE:
            raise ValueError(f"{value:.3g} is beyond any physical value (at most {MAX_MAGNITUDE:.0e})")
        if value and abs(value) < MIN_MAGNITUDE:
            raise ValueError(f"{value:.3g} is too small to be a physical value (0, or at least {MIN_MAGNITUDE:.0e})")
    elif isinstance(value, dict):
        for v in value.values():
            check_magnitudes(v, field)
    elif isinstance(value, (list, tuple)):
        for v in value:
            check_magnitudes(v, field)
    return value
