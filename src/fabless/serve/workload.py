"""What arrives at the server: when requests come, and how long their prompts and answers are.

Arrival processes give arrival times in seconds from 0; length distributions give token
counts. Both draw from a ``numpy.random.Generator`` handed in, so one seed fixes a run.
A trace (CSV) gives both at once.

Trace format (CSV with a header row; extra columns are ignored)::

    arrival_s,input_tokens,output_tokens[,prefix_id,prefix_tokens]
    0.000,512,128
    0.013,2048,64,system-a,1024

``arrival_s`` is non-decreasing and >= 0; token counts are integers >= 1 (``prefix_tokens``
<= ``input_tokens``). A bad row is a one-line error naming the file and line.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from fabless import bounds
from fabless.errors import FablessError
from fabless.loading import read_yaml
from fabless.units import parse_rate_per_s


# ---------------------------------------------------------------- arrival processes
class ArrivalProcess(Protocol):
    def times_s(self, duration_s: float, rng: np.random.Generator) -> np.ndarray:
        """Sorted arrival times in [0, duration_s)."""
        ...


def _renewal(draw, rate_per_s: float, duration_s: float) -> np.ndarray:
    """Arrival times of a renewal process with inter-arrival draws ``draw(n)``, cut at duration_s."""
    out = []
    t0 = 0.0
    block = max(16, int(rate_per_s * duration_s * 1.1) + 16)
    while True:
        times = t0 + np.cumsum(draw(block))
        out.append(times[times < duration_s])
        if times[-1] >= duration_s:
            break
        t0 = float(times[-1])
    return np.concatenate(out)


def _arrival_rate(value) -> float:
    """A process's mean arrival rate in requests/s (a number or e.g. "20/s"), which must be > 0."""
    rate = parse_rate_per_s(value, "arrival rate")
    if not rate > 0:
        raise FablessError(f"arrival rate must be > 0, got {rate}/s")
    return rate


@dataclass(frozen=True)
class Poisson:
    """Poisson arrivals: exponential inter-arrival times with mean 1/rate."""

    rate_per_s: float

    def __post_init__(self):
        object.__setattr__(self, "rate_per_s", _arrival_rate(self.rate_per_s))

    def times_s(self, duration_s: float, rng: np.random.Generator) -> np.ndarray:
        return _renewal(lambda n: rng.exponential(1.0 / self.rate_per_s, n), self.rate_per_s, duration_s)


@dataclass(frozen=True)
class Bursty:
    """Gamma inter-arrival times with the given mean rate and coefficient of variation.

    ``cv`` = 1 is Poisson; ``cv`` > 1 bunches requests into bursts (shape k = 1/cv**2,
    scale = 1/(rate*k)).
    """

    rate_per_s: float
    cv: float

    def __post_init__(self):
        object.__setattr__(self, "rate_per_s", _arrival_rate(self.rate_per_s))
        if not self.cv > 0:
            raise FablessError(f"burstiness cv must be > 0, got {self.cv}")

    def times_s(self, duration_s: float, rng: np.random.Generator) -> np.ndarray:
        k = 1.0 / self.cv**2
        scale = 1.0 / (self.rate_per_s * k)
        return _renewal(lambda n: rng.gamma(k, scale, n), self.rate_per_s, duration_s)


@dataclass(frozen=True)
class Batched:
    """Poisson arrivals handed to the engine in groups: a request that arrives in a window of
    ``window_s`` is released at the window's end, with the others of that window (a batcher in
    the benchmark harness between the load generator and the engine, e.g. AMD's MLPerf
    Inference v4.1 Server harness). The simulator's TTFT counts from the release, so it leaves
    out the time a request waited in the batcher (at most ``window_s``)."""

    rate_per_s: float
    window_s: float

    def __post_init__(self):
        object.__setattr__(self, "rate_per_s", _arrival_rate(self.rate_per_s))
        if not self.window_s > 0:
            raise FablessError(f"batching window must be > 0 s, got {self.window_s}")

    def times_s(self, duration_s: float, rng: np.random.Generator) -> np.ndarray:
        t = Poisson(self.rate_per_s).times_s(duration_s, rng)
        return np.ceil(t / self.window_s) * self.window_s


# ---------------------------------------------------------------- length distributions
class LengthDist(Protocol):
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` token counts, integers >= 1."""
        ...


@dataclass(frozen=True)
class Fixed:
    tokens: int

    def __post_init__(self):
        if int(self.tokens) != self.tokens or self.tokens < 1:
            raise FablessError(f"a fixed length must be an integer >= 1 token, got {self.tokens}")

    def sample(self, n, rng):
        return np.full(n, int(self.tokens), dtype=np.int64)


@dataclass(frozen=True)
class Uniform:
    """Integers uniform on [low_tokens, high_tokens], both included."""

    low_tokens: int
    high_tokens: int

    def __post_init__(self):
        if not 1 <= self.low_tokens <= self.high_tokens:
            raise FablessError(f"uniform lengths need 1 <= low <= high, got {self.low_tokens}..{self.high_tokens}")

    def sample(self, n, rng):
        return rng.integers(int(self.low_tokens), int(self.high_tokens) + 1, n, dtype=np.int64)


@dataclass(frozen=True)
class LogNormal:
    """Lognormal lengths with the given mean and standard deviation (in tokens), rounded, clipped to [1, max_tokens]."""

    mean_tokens: float
    sd_tokens: float
    max_tokens: int | None = None

    def __post_init__(self):
        if not self.mean_tokens >= 1 or not self.sd_tokens > 0:
            raise FablessError(f"lognormal lengths need mean >= 1 and sd > 0, got mean {self.mean_tokens}, sd {self.sd_tokens}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise FablessError(f"max_tokens must be >= 1, got {self.max_tokens}")

    def sample(self, n, rng):
        sigma2 = math.log(1.0 + (self.sd_tokens / self.mean_tokens) ** 2)
        mu = math.log(self.mean_tokens) - sigma2 / 2
        x = np.rint(rng.lognormal(mu, math.sqrt(sigma2), n)).astype(np.int64)
        return np.clip(x, 1, self.max_tokens)  # None: no upper bound


@dataclass(frozen=True)
class Empirical:
    """Lengths from a measured distribution, given as a quantile table.

    ``quantiles`` are the token counts at evenly spaced probabilities 0, 1/(k-1), ..., 1
    (non-decreasing, >= 1); a draw is the inverse CDF at a uniform random number, linear
    between table points, times ``scale``, rounded and clipped to [1, max_tokens].
    :meth:`rescaled` keeps the shape and sets the mean. Tables live in YAML files, e.g.
    ``data/measurements/mlperf_llm_lengths.yaml``; :func:`empirical_lengths` reads one.
    """

    quantiles: tuple
    scale: float = 1.0
    max_tokens: int | None = None

    def __post_init__(self):
        try:
            q = np.asarray(self.quantiles, dtype=float)
        except (TypeError, ValueError):
            raise FablessError("an empirical length table must be a list of numbers (token counts)") from None
        if q.ndim != 1 or len(q) < 2:
            raise FablessError(f"an empirical length table needs >= 2 quantiles, got {q.size}")
        if not np.all(np.isfinite(q)) or q[0] < 1:
            raise FablessError(f"empirical quantiles must be finite token counts >= 1, got a first value of {q[0]}")
        if np.any(np.diff(q) < 0):
            k = int(np.argmax(np.diff(q) < 0))
            raise FablessError(f"empirical quantiles must be non-decreasing; value {k + 1} ({q[k + 1]:g}) is below the one before ({q[k]:g})")
        if not self.scale > 0:
            raise FablessError(f"an empirical length scale must be > 0, got {self.scale}")
        if self.max_tokens is not None and self.max_tokens < 1:
            raise FablessError(f"max_tokens must be >= 1, got {self.max_tokens}")
        object.__setattr__(self, "quantiles", tuple(float(v) for v in q))

    @property
    def table_mean_tokens(self) -> float:
        """Mean of the (unscaled) piecewise-linear distribution: the average of the segment midpoints."""
        q = np.asarray(self.quantiles)
        return float(((q[:-1] + q[1:]) / 2).mean())

    @property
    def mean_tokens(self) -> float:
        """Mean before rounding and the ``max_tokens`` cap."""
        return self.table_mean_tokens * self.scale

    def rescaled(self, mean_tokens: float) -> "Empirical":
        """The same shape with mean ``mean_tokens`` (before rounding; after the ``max_tokens`` cap,
        which the scale is raised to make up for)."""
        if not mean_tokens >= 1:
            raise FablessError(f"a rescaled length mean must be >= 1 token, got {mean_tokens}")
        scale = mean_tokens / self.table_mean_tokens
        if self.max_tokens is not None:
            if not mean_tokens < self.max_tokens:
                raise FablessError(f"a rescaled length mean ({mean_tokens}) must be below max_tokens ({self.max_tokens})")
            q = np.asarray(self.quantiles)
            u = (np.arange(4096) + 0.5) / 4096  # midpoint rule over the probabilities
            x = np.interp(u, np.linspace(0.0, 1.0, len(q)), q)
            lo, hi = scale, scale * self.max_tokens / mean_tokens + 1.0
            for _ in range(60):  # the capped mean grows with the scale
                mid = (lo + hi) / 2
                if np.minimum(x * mid, self.max_tokens).mean() < mean_tokens:
                    lo = mid
                else:
                    hi = mid
            scale = (lo + hi) / 2
        return Empirical(self.quantiles, scale, self.max_tokens)

    def sample(self, n, rng):
        q = np.asarray(self.quantiles)
        p = np.linspace(0.0, 1.0, len(q))
        x = np.rint(np.interp(rng.random(n), p, q) * self.scale).astype(np.int64)
        return np.clip(x, 1, self.max_tokens)  # None: no upper bound


def empirical_lengths(path: str | Path, dataset: str, which: str = "input", *, mean_tokens: float | None = None,
                      max_tokens: int | None = None) -> Empirical:
    """The ``which`` ("input" or "output") length distribution of ``dataset`` in a length-table YAML.

    The file maps dataset names to ``{input: {quantiles: [...]}, output: {quantiles: [...]}}``
    (other keys, e.g. ``mean``, ``source``, are ignored here). ``mean_tokens`` rescales the
    shape to that mean; ``max_tokens`` caps a draw.
    """
    path = Path(path)
    if not path.is_file():
        raise FablessError(f"{path}: no such length table")
    data = read_yaml(path) or {}
    if not isinstance(data, dict) or dataset not in data or str(dataset).startswith("_"):
        names = ", ".join(k for k in (data if isinstance(data, dict) else {}) if not str(k).startswith("_"))
        raise FablessError(f"{path}: no dataset '{dataset}' (has: {names or 'none'})")
    if which not in ("input", "output"):
        raise FablessError(f"length table: which must be 'input' or 'output', got '{which}'")
    entry = data[dataset].get(which) if isinstance(data[dataset], dict) else None
    if not isinstance(entry, dict) or "quantiles" not in entry:
        raise FablessError(f"{path}: dataset '{dataset}' has no {which}.quantiles list")
    try:
        dist = Empirical(tuple(entry["quantiles"]), max_tokens=max_tokens)
    except FablessError as e:
        raise FablessError(f"{path}: {dataset}.{which}: {e}") from None
    return dist.rescaled(mean_tokens) if mean_tokens is not None else dist


@dataclass(frozen=True)
class Lengths:
    """Prompt and answer lengths, drawn independently."""

    input: LengthDist
    output: LengthDist


@dataclass(frozen=True)
class SharedPrefix:
    """A fraction of requests begin with one of ``num_prefixes`` shared prefixes (e.g. system prompts).

    The prefix (``prefix_tokens``) is added in front of the drawn prompt; which prefix is
    uniform over the ``num_prefixes``. Only matters when prefix caching is on.
    """

    num_prefixes: int
    prefix_tokens: int
    fraction: float = 1.0

    def __post_init__(self):
        if self.num_prefixes < 1 or self.prefix_tokens < 1 or not 0 <= self.fraction <= 1:
            raise FablessError("shared prefix needs num_prefixes >= 1, prefix_tokens >= 1 and 0 <= fraction <= 1")


# ---------------------------------------------------------------- the requests of one run
@dataclass
class Requests:
    """The requests of one run, as parallel arrays sorted by arrival time."""

    arrival_s: np.ndarray
    input_tokens: np.ndarray
    output_tokens: np.ndarray
    prefix_id: list = field(default_factory=list)  # hashable or None per request
    prefix_tokens: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.arrival_s)
        if not self.prefix_id:
            self.prefix_id = [None] * n
        if self.prefix_tokens is None:
            self.prefix_tokens = np.zeros(n, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.arrival_s)


@dataclass(frozen=True)
class Trace:
    """Requests replayed from a CSV trace (see the module docstring for its columns)."""

    path: str

    def load(self) -> Requests:
        return read_trace(self.path)


def read_trace(path: str | Path) -> Requests:
    """The requests of a trace CSV (see the module docstring); a bad file or row is one line
    naming the file (and line)."""
    path = Path(path)
    if not path.is_file():
        raise FablessError(f"{path}: no such trace file")
    try:
        return _read_trace(path)
    except UnicodeDecodeError:
        raise FablessError(f"{path}: not a UTF-8 text file; a trace is a CSV of arrival_s,input_tokens,output_tokens") from None
    except csv.Error as exc:
        raise FablessError(f"{path}: not a readable CSV ({exc})") from None


def _read_trace(path: Path) -> Requests:
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        cols = reader.fieldnames or []
        for need in ("arrival_s", "input_tokens", "output_tokens"):
            if need not in cols:
                raise FablessError(f"{path}: trace has no '{need}' column; the header must name arrival_s,input_tokens,output_tokens")
        has_prefix = "prefix_id" in cols
        arr, inp, out, pid, ptok = [], [], [], [], []
        last = 0.0
        for row in reader:
            line = reader.line_num
            try:
                a = float(row["arrival_s"])
            except (TypeError, ValueError):
                raise FablessError(f"{path}:{line}: arrival_s '{row['arrival_s']}' is not a number of seconds") from None
            if not math.isfinite(a) or a < 0:
                raise FablessError(f"{path}:{line}: arrival_s must be a finite time >= 0, got {row['arrival_s']}")
            if a < last:
                raise FablessError(f"{path}:{line}: arrival_s {a} is earlier than the row before ({last}); sort the trace by arrival time")
            last = a
            vals = []
            for col in ("input_tokens", "output_tokens"):
                vals.append(_int_field(path, line, col, row[col], 1))
            p_id = (row.get("prefix_id") or None) if has_prefix else None
            p_tok = 0
            if p_id is not None:
                p_tok = _int_field(path, line, "prefix_tokens", row.get("prefix_tokens"), 0)
                if p_tok > vals[0]:
                    raise FablessError(f"{path}:{line}: prefix_tokens {p_tok} is more than input_tokens {vals[0]}")
            arr.append(a); inp.append(vals[0]); out.append(vals[1]); pid.append(p_id); ptok.append(p_tok)
    if not arr:
        raise FablessError(f"{path}: trace has no requests")
    return Requests(np.array(arr), np.array(inp, dtype=np.int64), np.array(out, dtype=np.int64),
                    pid, np.array(ptok, dtype=np.int64))


def _int_field(path, line, col, text, minimum) -> int:
    try:
        v = float(text)
    except (TypeError, ValueError):
        raise FablessError(f"{path}:{line}: {col} '{text}' is not a whole number of tokens") from None
    if not v.is_integer() or v < minimum:
        raise FablessError(f"{path}:{line}: {col} must be a whole number >= {minimum}, got {text}")
    return int(v)


def make_requests(arrivals, lengths: Lengths | None, duration_s: float | None, rng: np.random.Generator,
                  prefix: SharedPrefix | None = None) -> Requests:
    """Draw the requests of one run: arrival times from ``arrivals`` over ``duration_s``, lengths from ``lengths``.

    ``arrivals`` may be a :class:`Trace` (or :class:`Requests`): then lengths come from it
    and ``lengths``/``duration_s`` must be None (a trace already says both).
    """
    if isinstance(arrivals, (Trace, Requests)):
        if lengths is not None:
            raise FablessError("a trace gives the lengths of its requests; do not pass lengths with it")
        return arrivals.load() if isinstance(arrivals, Trace) else arrivals
    if lengths is None:
        raise FablessError("give the prompt and answer length distributions (lengths=Lengths(input=..., output=...))")
    if duration_s is None or not duration_s > 0:
        raise FablessError(f"duration_s must be > 0 for generated arrivals, got {duration_s}")
    rate = getattr(arrivals, "rate_per_s", None)
    if isinstance(rate, (int, float)) and rate * duration_s > bounds.MAX_SIM_REQUESTS:
        # Refused before drawing: the arrays and the simulation grow with the request count.
        raise FablessError(f"{rate:.3g} requests/s for {duration_s:.3g} s is {rate * duration_s:.3g} requests, more than "
                           f"one simulation runs ({bounds.MAX_SIM_REQUESTS:,}); lower the rate or shorten the duration")
    r_arr, r_in, r_out, r_pre = rng.spawn(4)
    times = arrivals.times_s(float(duration_s), r_arr)
    n = len(times)
    inp = np.asarray(lengths.input.sample(n, r_in), dtype=np.int64)
    out = np.asarray(lengths.output.sample(n, r_out), dtype=np.int64)
    pid: list = [None] * n
    ptok = np.zeros(n, dtype=np.int64)
    if prefix is not None and n:
        has = r_pre.random(n) < prefix.fraction
        which = r_pre.integers(0, prefix.num_prefixes, n)
        inp = inp + np.where(has, prefix.prefix_tokens, 0)
        ptok = np.where(has, prefix.prefix_tokens, 0).astype(np.int64)
        pid = [int(w) if h else None for w, h in zip(which, has)]
    return Requests(times, inp, out, pid, ptok)
