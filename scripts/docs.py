"""Rewrite every number the docs quote from the code (issue #18, item 5).

A number in README.md, docs/*.md or examples/*/README.md that fabless computes is not typed by
hand: it sits between two markers ::

    <!-- fabless:begin NAME -->...<!-- fabless:end NAME -->

and the function registered here as NAME (``@block("NAME")``) writes what stands between them,
by running the real command or model. Two files are generated whole by their own scripts, run
from here too: docs/validation.md (scripts/docs_validation.py, every validation row) and
examples/openai-xpu/README.md (examples/openai-xpu/make_readme.py, the design-space search).
Three sections have scripts of their own, rerun from here as well (``SECTION_SCRIPTS``): the
energy-per-token table of docs/economics.md (scripts/docs_energy.py) and the CPU and DLRM
examples of docs/user-guide.md (scripts/docs_cpu.py, scripts/docs_recsys.py).

Usage: python scripts/docs.py [FILE...]  rewrite the files (all, or the ones named, e.g. docs/economics.md)
       python scripts/docs.py --check     write nothing; exit 1 naming each file a rerun would change
       python scripts/docs.py --list      the block names and the files that use them

The validation rows take about ten minutes; their outcomes are kept in a cache keyed by the
content of src/fabless (``$FABLESS_DOCS_CACHE``, default ~/.cache/fabless/docs), so a rerun on
unchanged code (tests/test_docs_current.py) reuses them. The search of the openai-xpu example
is cached the same way.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import io
import json
import math
import os
import pickle
import re
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "fabless"
BLOCK = re.compile(r"<!-- fabless:begin ([\w.-]+) -->(.*?)<!-- fabless:end \1 -->", re.S)
CACHE = Path(os.environ.get("FABLESS_DOCS_CACHE") or Path.home() / ".cache" / "fabless" / "docs")

BLOCKS: dict[str, Callable[[], str]] = {}


def block(name: str):
    """Register the function that writes the block ``name`` (its text is cached per run)."""

    def register(fn: Callable[[], str]) -> Callable[[], str]:
        BLOCKS[name] = functools.cache(fn)
        return fn

    return register


def marked_files() -> list[Path]:
    """The markdown files whose marked blocks this script writes."""
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "examples").glob("*/README.md"))]
    return [f for f in files if str(f.relative_to(ROOT)) not in WHOLE]


# ----------------------------------------------------------------------------- helpers

def _load(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def fabless_json(*args: str):
    """``fabless ARGS --json`` run in this process: its parsed output (one error line on failure)."""
    from fabless.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*args, "--json"])
    if code != 0:
        raise SystemExit(f"docs: fabless {' '.join(args)} failed: {err.getvalue().strip()[-300:]}")
    return json.loads(out.getvalue())


def code_key(*extra: Path) -> str:
    """A digest of every file of src/fabless (and ``extra``): equal exactly while the code and
    data the generated numbers come from are unchanged."""
    h = hashlib.sha256()
    paths = sorted(p for p in SRC.rglob("*") if p.is_file() and "__pycache__" not in p.parts)
    for p in [*paths, *extra]:
        h.update(str(p.relative_to(ROOT)).encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:24]


def cached(kind: str, key: str, compute: Callable[[], object]):
    """``compute()``, kept in the cache under (kind, key)."""
    path = CACHE / f"{kind}-{key}.pickle"
    if path.is_file():
        with contextlib.suppress(Exception):
            return pickle.loads(path.read_bytes())
    value = compute()
    with contextlib.suppress(OSError):
        CACHE.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(pickle.dumps(value))
        tmp.replace(path)
    return value


def _ms(s: float) -> str:
    return f"{s * 1e3:.2f} ms"


def _pct(x: float, d: int = 1) -> str:
    return f"{x * 100:+.{d}f}%".replace("-", "−")


# ----------------------------------------------------------------------------- whole files

def validation_text(writing: bool = False) -> str:
    mod = _load(ROOT / "scripts" / "docs_validation.py", "docs_validation")
    with contextlib.redirect_stdout(io.StringIO()):
        return mod.regenerate(validation_outcomes())


def xpu_text(writing: bool = False) -> str:
    """The example's README; when ``writing``, a fresh search that also copies its front plot."""
    here = ROOT / "examples" / "openai-xpu"
    key = code_key(*sorted(p for p in here.glob("*.py")), here / "space.yaml")
    sys.path.insert(0, str(here))
    try:
        mod = _load(here / "make_readme.py", "make_readme")
        if writing:
            return mod.readme_text(here / "front.png")
        return cached("openai-xpu", key, mod.readme_text)
    finally:
        sys.path.remove(str(here))


def _validation_stale(current: str, fresh: str) -> str | None:
    return _load(ROOT / "scripts" / "docs_validation.py", "docs_validation").stale_line(current, fresh)


def _exact_stale(current: str, fresh: str) -> str | None:
    for i, (a, b) in enumerate(zip(current.splitlines(), fresh.splitlines()), 1):
        if a != b:
            return f"line {i} now: {a[:160]}\nrerun: {b[:160]}"
    n, m = len(current.splitlines()), len(fresh.splitlines())
    return None if n == m else f"{n} lines now, {m} on a rerun"


#: Files generated whole: path -> (generator, how a difference is found).
WHOLE: dict[str, tuple[Callable[[bool], str], Callable[[str, str], str | None]]] = {
    "docs/validation.md": (validation_text, _validation_stale),
    "examples/openai-xpu/README.md": (xpu_text, _exact_stale),
}


# ----------------------------------------------------------------------------- the blocks

@block("gemm-tile-formula")
def _gemm_tile_formula() -> str:
    from fabless.perf.gemm import TILE_K

    return f"""
```
tiles   = ceil(m/BM) · ceil(n/BN) · b
waves   = ceil(tiles / cores)
rate    = peak · (sustained clock / boost clock) · mma_efficiency [· mma_8bit_ratio for 8- and 4-bit operands] / cores · feed
compute = waves · (2·BM·BN·k_pad / rate + tile_overhead_s),   k_pad = ceil(k/{TILE_K})·{TILE_K}   (whole K steps of TILE_K = {TILE_K})
feed    = min(1, operand_bytes_per_cycle_per_core / (MACs/cycle/core · (BM+BN)/(BM·BN) · bytes))
exposed = gemm_exposed_steps · min(compute, memory) / n_k,   n_k = k_pad/{TILE_K} · min(1, waves)   (K steps of one tile's or slice's loop)
time    = launch_overhead_s + max(compute, memory) + exposed
```
"""


@block("gemm-tile-stages")
def _gemm_tile_stages() -> str:
    from fabless.perf.gemm import TILE_K, TILE_STAGES

    return f"{TILE_STAGES} pipeline stages of `(BM+BN) x {TILE_K}`"


@block("gemm-split-k-formula")
def _gemm_split_k_formula() -> str:
    from fabless.perf.gemm import TILE_K

    return f"""
```
s_max   = max(1, min(floor(cores / tiles), floor(k_pad / {TILE_K})))    # slices of at least one K step
waves   = ceil(tiles · s / cores) / s                              # whole-K tile work per core (1/s)
traffic = (unsplit traffic) + 8 · s · m · n · b                    # fp32 partials written and read back
```
"""


#: What each parameter of data/perf/families.yaml means (the table's middle column; prose, no numbers).
FAMILY_PARAMS = (
    ("mma_efficiency", "fraction of the dense peak a well-tiled GEMM main loop sustains (clock droop, issue gaps)"),
    ("mma_8bit_ratio", "an 8-bit (fp8/int8) GEMM's fraction of its own peak / a 16-bit GEMM's (the 8-bit rate is "
                       "`peak · mma_efficiency · mma_8bit_ratio`); 4-bit (fp4/int4) GEMMs take the same ratio"),
    ("sustained_clock_fraction", "sustained / boost clock where the chip file gives no `clock.sustained_mhz`"),
    ("hbm_efficiency", "achievable fraction of HBM bandwidth"),
    ("launch_overhead_s", "fixed cost per kernel, as a timer around back-to-back launches sees it"),
    ("device_fixed_s", "the part of `launch_overhead_s` inside the kernel's own device span (what a per-op device "
                       "trace holds of it; a kernel row's `timing=device_trace`)"),
    ("compiled_step", "1: a framework step runs as one compiled program (XLA on TPU), each operator paying "
                      "`device_fixed_s` instead of `launch_overhead_s`; 0: kernels launched one by one"),
    ("sync_round_trip_s", "what a host clock with a synchronise after every call adds per call beyond `launch_overhead_s` "
                          "(the call's dispatch and the completion's way back; a kernel row's `timing=wall_sync`)"),
    ("operand_bytes_per_cycle_per_core", "operand bandwidth into one core's tiles"),
    ("attention_mma_ratio", "flash inner-loop throughput / GEMM main-loop throughput"),
    ("attention_overhead_blocks", "per query block: Q load, pipeline fill, normalise, O write, in times of a head-128 KV block"),
    ("attention_block", "query/KV block"),
    ("attention_softmax_cycles", "cycles of one core per attention score for the softmax work the matrix products cannot "
                                 "hide (a block takes at least block² x this / clock; binds at head dimension 64 and "
                                 "with 8-bit operands)"),
    ("attention_bwd_time_ratio", "a flash-attention backward's time over its forward's at the same shape (five matrix "
                                 "products against two, the scores and softmax recomputed, dS converted, dQ accumulated)"),
    ("norm_bwd_partials_per_core", "rows of fp32 partial sums of the gain's gradient a fused norm backward writes per "
                                   "core, read and summed by a second kernel (0: one kernel, no partials)"),
    ("tile_sram_fraction", "part of a core's scratchpad usable for tiles"),
    ("pow2_tiles_only", "1: the family's GEMM libraries tile the output only in power-of-two sides (no 192-wide "
                        "tile); 0: every GPU tile candidate"),
    ("vector_efficiency", "fraction of the vector peak elementwise kernels reach"),
    ("scratchpad_bytes_if_unknown", "per-core scratchpad when the chip file has none"),
    ("tile_overhead_s", "GEMM time per wave of tiles outside the main loop that the kernel does not hide (prologue loads, "
                        "epilogue stores); a library may set its own (data/perf/libraries.yaml)"),
    ("gemm_exposed_steps", "the part of one K step of a GEMM tile's main loop its pipeline does not overlap (1: the first "
                           "step's loads and the last step's math of a double-buffered loop; 0: the plain max of math "
                           "and memory)"),
)


def _family_value(name: str, v: float | str) -> str:
    v = float(v)  # PyYAML reads 1.0e9 (no exponent sign) as text; the families loader converts it too
    if name.endswith("_s"):
        return f"{v * 1e6:g} µs"
    if name.endswith("_bytes_if_unknown"):
        return f"{v / 2**20:g} MiB" if v >= 2**20 else f"{v / 2**10:g} KiB"
    if name == "operand_bytes_per_cycle_per_core":
        return "unlimited" if v >= 1e9 else f"{v:g} B/cycle"
    return f"{v:g}"


@block("perf-family-parameters")
def _perf_family_parameters() -> str:
    """Every value data/perf/families.yaml sets, family by family, with its confidence and rows."""
    from fabless.params import load_param_file
    from fabless.perf.params import _FAMILIES_PATH

    pf = load_param_file(_FAMILIES_PATH)
    rows = ["| parameter | meaning | value set by each family (confidence; fitted on) |", "|---|---|---|"]
    for name, meaning in FAMILY_PARAMS:
        cells = []
        for fam in pf.plain["families"]:
            q = pf.params.get(f"families.{fam}.{name}")
            if q is None:
                continue
            fit = f"; {', '.join(q.fitted_on)}" if q.fitted_on else ""
            cells.append(f"{fam} {_family_value(name, q.value)} ({q.confidence}{fit})")
        rows.append(f"| `{name}` | {meaning} | {'; '.join(cells)} |")
    return "\n" + "\n".join(rows) + "\n"


@block("perf-fused-moe-shares")
def _perf_fused_moe_shares() -> str:
    """The Triton fused-MoE kernel's sweeps, the shares read from each and how well the pair of its
    release fits all its batches (scripts/derive_fused_moe_share.py)."""
    import statistics

    mod = _load(ROOT / "scripts" / "derive_fused_moe_share.py", "derive_fused_moe_share")
    sw = mod.sweeps()
    pts = mod.points(sw)
    fit = mod.derived(pts)
    errs = {r["sweep"]: r for r in mod.sweep_errors(sw, fit)}
    rows = ["| sweep | release | GPU | dtype | batches | compute share (largest 2) | stream share (2-8 rows an expert) "
            "| mean abs log error, shares 1 / derived |", "|---|---|---|---|---|---|---|---|"]
    for name, s in sw.items():
        v = {w: [p["value"] for p in pts if p["sweep"] == name and p["which"] == w] for w in ("share", "stream")}
        e = errs[name]
        rows.append(f"| {name} | {s['release']} | {s['chip']} | {s['dtype']} | {len(s['times_s'])} | "
                    f"{statistics.median(v['share']):.3f} | {statistics.median(v['stream']):.3f} | "
                    f"{e['error_at_1']:.3f} / {e['error']:.3f} |")
    rows.append("")
    rows += [f"Release {r}, {k}: compute share {f['share']:.2f}, stream share {f['stream']:.2f} (medians over the release's "
             f"points, as software.yaml carries them)." for (r, k), f in fit.items()]
    return "\n" + "\n".join(rows) + "\n"


@block("guide-compare-ratio")
def _guide_compare_ratio() -> str:
    from fabless.hardware.presets import load_chip

    v5p, h100 = load_chip("tpu-v5p").peak_flops("bf16"), load_chip("h100-sxm").peak_flops("bf16")
    return (f"TPU v5p's {v5p / 1e12:g} bf16 TFLOPS over H100's {h100 / 1e12:g} is {v5p / h100:.2f}, "
            f"the ratio in the table")


@block("guide-training-bubble")
def _guide_training_bubble() -> str:
    from fabless.loading import read_yaml

    scn = read_yaml(ROOT / "examples" / "scenarios" / "gpt3-175b-training-512-h100.yaml")
    r = fabless_json("estimate", str(ROOT / "examples" / "scenarios" / "gpt3-175b-training-512-h100.yaml"))
    pp, v, m = scn["parallel"]["pp"], scn["parallel"]["interleave"], r["micro_batches"]
    bubble = (pp - 1) / (v * m + pp - 1)
    if abs(bubble - r["pipeline_bubble_fraction"]) > 1e-9:
        raise SystemExit(f"docs: the bubble by hand ({bubble}) differs from fabless' ({r['pipeline_bubble_fraction']})")
    return f"(p-1)/(v m + p - 1) = {pp - 1}/({v} x {m} + {pp - 1}) = {bubble:.1%} here"


@block("guide-gemm-h100-8192")
def _guide_gemm() -> str:
    r = fabless_json("op", "gemm", "--chip", "h100-sxm", "-m", "8192", "-n", "8192", "-k", "8192", "--dtype", "bf16")
    return (f"A square 8192 GEMM is 2 x 8192^3 = {r['flops'] / 1e12:.1f} TFLOP. At H100's dense "
            f"{r['flops'] / r['roofline_time_s'] / 1e12:.1f} TFLOPS that is {_ms(r['roofline_time_s'])} (the roofline "
            f"column); the detailed model adds the sustained clock under load, tile and wave quantisation on 132 SMs "
            f"and the achievable MMA efficiency, and predicts about {_ms(r['time_s'])} (~{r['tflops']:.0f} TFLOPS")


@block("guide-allreduce-h200-1gib")
def _guide_allreduce() -> str:
    r = fabless_json("op", "allreduce", "--system", "dgx-h200", "--chips", "8", "--bytes", "1GiB")
    return f"~{r['busbw_gbps']:.0f} GB/s"


@block("guide-alltoall-p5")
def _guide_alltoall_p5() -> str:
    p5 = fabless_json("op", "alltoall", "--system", "p5-48xlarge", "--chips", "16", "--bytes", "1GiB")
    ib = fabless_json("op", "alltoall", "--system", "dgx-h100", "--chips", "16", "--bytes", "1GiB")
    return f"~{p5['busbw_gbps']:.0f} GB/s on p5-48xlarge, ~{ib['busbw_gbps']:.0f} GB/s on dgx-h100"


def _serving_estimate() -> dict:
    return fabless_json("estimate", str(ROOT / "examples" / "scenarios" / "llama-70b-serving-dgx-h100.yaml"))


@block("guide-serving-memory")
def _guide_serving_memory() -> str:
    from fabless.workload import load_model

    cfg = load_model("llama-3.1-70b")
    est = _serving_estimate()
    mem = est["memory"]
    kv_per_token = cfg.kv_cache_bytes_per_token("bf16")
    return (f"{cfg.params_total / 1e9:.2f} B parameters in fp8 over 8 GPUs is {mem['weights'] / 1e9:.1f} GB of weights "
            f"per GPU; the KV cache is 64 sequences x 2304 tokens x {kv_per_token:,.0f} B/token "
            f"({cfg.num_layers} layers x {cfg.num_kv_heads} KV heads x {cfg.head_dim} x 2 x 2 bytes in bf16, halved "
            f"for fp8) / 8 GPUs = {mem['kv_cache'] / 1e9:.1f} GB")


def _calibration() -> tuple[dict, str]:
    """``fabless calibrate`` on the guide's GEMM sweep: its --json output and the file it writes."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "my-h100.yaml"
        r = fabless_json("calibrate", str(ROOT / "examples" / "measurements" / "xla-sm90-bf16-gemm.csv"),
                         "--chip", "h100-sxm", "--out", str(out))
        return r, out.read_text()


@block("guide-calibrate-table")
def _guide_calibrate_table() -> str:
    r, _ = _calibration()
    fam = _load_family("h100-sxm")

    def fmt(name: str, v: float) -> str:
        return f"{v * 1e6:.2g} µs" if name.endswith("_s") else f"{v:.3g}"

    rows = [f"| parameter | before ({fam} family) | after | fitted |", "| --- | --- | --- | --- |"]
    for q in r["parameters"]:
        fitted = "yes" if q["fitted"] else "no: the rows do not pin it down"
        if q["parameter"] == "mma_8bit_ratio" and not any(" fp8" in row["what"] for row in r["rows"]):
            fitted += " (no fp8 rows)"
        rows.append(f"| `{q['parameter']}` | {fmt(q['parameter'], q['before'])} | {fmt(q['parameter'], q['after'])} | {fitted} |")
    sm = r["summary"]
    return ("\n" + "\n".join(rows) + "\n\nand `median |error| over "
            f"{sm['rows']} rows: {sm['median_abs_error_before'] * 100:.1f}% before, {sm['median_abs_error_after'] * 100:.1f}% after`")


def _load_family(chip: str) -> str:
    from fabless.hardware.presets import load_chip
    from fabless.perf.params import family_of

    return family_of(load_chip(chip)).name


def _calibrated_row(what: str) -> dict:
    r, _ = _calibration()
    return next(row for row in r["rows"] if row["what"] == what)


@block("guide-calibrate-small")
def _guide_calibrate_small() -> str:
    row = _calibrated_row("gemm 256x2048x256 bf16")
    return f"a 256x2048x256 GEMM takes {row['measured_s'] * 1e6:.1f} µs, the model said {row['before_s'] * 1e6:.1f} µs"


@block("guide-calibrate-large")
def _guide_calibrate_large() -> str:
    from fabless.hardware.presets import load_chip
    from fabless.perf.gemm import gemm_time
    from fabless.perf.params import ChipParams

    r, _ = _calibration()
    after = {q["parameter"]: q["after"] for q in r["parameters"]}
    row = _calibrated_row("gemm 4096x4096x4096 bf16")
    chip = load_chip("h100-sxm")
    params = ChipParams.from_chip(chip).replace(**after)
    tiling = gemm_time(4096, 4096, 4096, params, "bf16").tiling  # the tile the model picks, and its exposed time
    bm, bn = int(tiling["tile_m"][0]), int(tiling["tile_n"][0])
    peak, sms = chip.peak_flops("bf16"), chip.compute.cores
    flops = 2 * 4096 ** 3
    ideal = flops / (peak * after["mma_efficiency"])
    tiles = math.ceil(4096 / bm) * math.ceil(4096 / bn)
    waves = math.ceil(tiles / sms)
    loop = ideal * waves / (tiles / sms)
    tau = float(params.tile_overhead_s[0])
    exposed = float(tiling["exposed_s"][0])
    total = loop + waves * tau + after["launch_overhead_s"] + exposed
    return (f"4096³ is {flops / 1e9:.1f} GFLOP, {ideal * 1e6:.1f} µs at {peak / 1e12:.1f} TFLOP/s x "
            f"{after['mma_efficiency']:.3f}; its {tiles:.0f} tiles of {bm}x{bn} run in {waves} waves on {sms} SMs (the "
            f"last {tiles / sms - (waves - 1):.0%} full), so the main loop takes {waves}/{tiles / sms:.2f} of that, "
            f"{loop * 1e6:.1f} µs; with {waves} waves of the family's {tau * 1e6:.2f} µs outside the main loop, the "
            f"{after['launch_overhead_s'] * 1e6:.1f} µs launch cost and the exposed part of a K step "
            f"({after['gemm_exposed_steps']:.2f} of one of the loop's 64 steps of memory time, {exposed * 1e6:.1f} µs) "
            f"the model says {total * 1e6:.1f} µs (`fabless calibrate` prints {row['after_s'] * 1e6:.1f} µs); the "
            f"table measured {row['measured_s'] * 1e6:.1f} µs")


@block("guide-calibrate-yaml")
def _guide_calibrate_yaml() -> str:
    _, text = _calibration()
    lines = text.splitlines()
    i = lines.index("calibration:")
    j = next(k for k in range(i + 2, len(lines)) if not lines[k].startswith("    "))
    snippet = re.sub(r" at \d{4}-\d\d-\d\dT\d\d:\d\dZ", " at <the time of the run>", "\n".join(lines[i:j]))
    return f"\n```yaml\n{snippet}\n```\n"


SERVE_ROWS = (
    ('infer-244', 'NIM Llama-3.3-70B 2xH100 tp2 FP8, 5000/500, concurrency 1, output tok/s'),
    ('infer-245', 'same, concurrency 5'),
    ('infer-246', 'same, concurrency 25'),
    ('infer-247', 'same, concurrency 50'),
    ('infer-248', 'same, concurrency 100 (KV full, requests queue)'),
    ('infer-249', 'same, 500/2000, concurrency 1, ITL ms'),
    ('infer-229', 'vLLM Llama-3.1-70B 8xMI300X tp8 FP8, 3200 x 128/2048 burst, tok/s'),
    ('infer-230', 'same, 1500 x 128/4096'),
    ('infer-233', 'vLLM Llama-3.1-405B 8xMI300X, 1500 x 128/2048'),
    ('infer-234', 'same, 128/4096'),
    ('infer-237', 'vLLM Llama-3.1-70B 8xMI300X, one request 128/2048, E2E s'),
    ('infer-123', 'MLPerf Llama-2-70B Offline, 8xH100 (4 x tp2, batch 896), output tok/s'),
    ('infer-124', 'Offline, 8xH200 (8 x tp1, batch 806)'),
    ('infer-125', 'Offline, 1xB200 FP4 (batch KV-bound)'),
    ('infer-126', 'Offline, 1xMI300X (vLLM, 2048 seqs)'),
    ('infer-127', 'Offline, 8xMI300X (8 engines)'),
    ('infer-137', 'Offline, 1xGH200 (h200-sxm preset, batch 806)'),
    ('infer-138', 'Offline, 8xH200 CTS 1000 W (batch 784)'),
    ('infer-139', 'Offline, 32xH100 Juniper (16 x tp2, batch KV-bound)'),
    ('infer-130', 'Server, 8xH100 (4 x tp2, batch 1024)'),
    ('infer-131', 'Server, 8xH200 (8 x tp1, batch 896)'),
    ('infer-132', 'Server, 1xB200 FP4'),
    ('infer-133', 'Server, 1xMI300X (1024 seqs)'),
    ('infer-134', 'Server, 8xMI300X'),
    ('infer-128', 'MLPerf Mixtral-8x7B Offline, 8xH100 (8 x tp1, batch 896)'),
    ('infer-129', 'Mixtral Offline, 8xH200 (batch 3072)'),
    ('infer-135', 'Mixtral Server, 8xH100 (batch 896)'),
    ('infer-136', 'Mixtral Server, 8xH200 (batch 1200)'),
)


def validation_outcomes() -> list:
    """Every validation row's outcome (cached while src/fabless is unchanged; docs/validation.md
    is written from the same run)."""
    from fabless.validate.core import evaluate

    return cached("validation", code_key(ROOT / "scripts" / "docs_validation.py"), evaluate)


def _num(x: float) -> str:
    return f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.4g}"


@block("serving-mlperf-lengths")
def _serving_mlperf_lengths() -> str:
    """The MLPerf datasets' prompt and answer lengths, from data/measurements/mlperf_llm_lengths.yaml."""
    from fabless.loading import read_yaml
    from fabless.serve.modes import LENGTH_TABLE

    t = read_yaml(LENGTH_TABLE)
    rows = ["| dataset | samples | prompt mean | p50 | p90 | p99 | max | answer mean | p50 | p99 | max |",
            "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, d in t.items():
        i, o = d["input"], d["output"]
        rows.append(f"| {name} | {d['count']:,} | {i['mean']:.1f} | {i['p50']:g} | {i['p90']:g} | {i['p99']:g} | {i['max']:g} "
                    f"| {o['mean']:.1f} | {o['p50']:g} | {o['p99']:g} | {o['max']:g} |")
    return "\n" + "\n".join(rows) + "\n"


#: The MLPerf Server rows of SERVE_ROWS: their simulated and measured TPOT.
SERVE_SERVER_ROWS = ("infer-130", "infer-131", "infer-132", "infer-133", "infer-134", "infer-135", "infer-136")


def _server_simulations() -> dict[str, dict]:
    """The MLPerf Server rows' simulations (the rate search's last passing run: p50/p99 TPOT), cached
    with the validation outcomes' key (the validation run fills the same in-process cache)."""
    from fabless.validate.serve import serve_map, simulate_entry

    def compute() -> dict[str, dict]:
        return {rid: simulate_entry(serve_map()[rid]) for rid in SERVE_SERVER_ROWS}

    return cached("serve-server", code_key(ROOT / "scripts" / "docs_validation.py"), compute)


@block("serving-mlperf-server-tpot")
def _serving_mlperf_server_tpot() -> str:
    from fabless.validate.serve import rows as serve_rows

    what = dict(SERVE_ROWS)
    notes = {r["id"]: r.get("notes") or "" for r in serve_rows()}
    by = {o.id: o for o in validation_outcomes() if o.category == "serve"}
    sims = _server_simulations()
    out = ["| row | what | tok/s error | simulated p99 TPOT | simulated p50 TPOT | measured p50 TPOT |",
           "|---|---|---|---|---|---|"]
    for rid in SERVE_SERVER_ROWS:
        sim, o = sims[rid], by[rid]
        m = re.search(r"p50 TPOT ([0-9.]+) ms", notes[rid])
        measured = f"{float(m.group(1)):.0f} ms" if m else "-"
        err = "-" if o.error is None else f"{o.error * 100:+.1f}%"
        p99 = f"{sim['tpot_p99_s'] * 1e3:.0f} ms" if "tpot_p99_s" in sim else "-"
        p50 = f"{sim['tpot_p50_s'] * 1e3:.0f} ms" if "tpot_p50_s" in sim else "-"
        out.append(f"| {rid} | {what[rid]} | {err} | {p99} | {p50} | {measured} |")
    return "\n" + "\n".join(out) + "\n"


def _comm_table() -> list[tuple[dict, dict]]:
    """(published row, error-table entry) of every comm row, in the measurement files' order."""
    from fabless.validate.comm import comm_rows, error_table

    rows = comm_rows()
    return list(zip(rows, error_table(rows)))


def _collectives_row_counts() -> tuple[str, str]:
    from collections import Counter

    from fabless.validate.comm import FIT_IDS

    rows = [r for r, _ in _comm_table()]
    n = Counter(r.get("_file") for r in rows)
    fit = sum(r["id"] in FIT_IDS for r in rows)
    return (f"`published.csv` ({n['published.csv']} comm rows), `published_aws_p5_comm.csv` "
            f"({n['published_aws_p5_comm.csv']} rows, `comm-p5-*`: nccl-tests on 2-32 AWS p5.48xlarge over EFA), "
            f"`published_aws_p5_small_comm.csv` ({n['published_aws_p5_small_comm.csv']} rows, `comm-p5s-*`: small "
            f"all-reduces on two p5.48xlarge), `published_comm_nccl1455.csv` ({n['published_comm_nccl1455.csv']} rows, "
            f"`comm-nr-*`: ring and NVLS bus bandwidth on 2-8 H100, NVIDIA/nccl issue #1455), `published_moe_a2a.csv` "
            f"({n['published_moe_a2a.csv']} rows, `moe-a2a-*`: DeepEP and other expert-parallel all-to-all kernels run "
            f"by others than DeepEP's authors) and `published_comm.csv` "
            f"({n['published_comm.csv']} rows",
            f"{fit} of {len(rows)}")


@block("collectives-rows-files")
def _collectives_rows_files() -> str:
    return _collectives_row_counts()[0]


@block("collectives-rows-fit")
def _collectives_rows_fit() -> str:
    return _collectives_row_counts()[1]


@block("collectives-error-summary")
def _collectives_error_summary() -> str:
    import numpy as np

    held = [(r, e) for r, e in _comm_table() if e["set"] == "held_out" and e["error"] is not None]
    new = [(r, e) for r, e in held if r["id"].startswith("comm-x-")]

    def med(pairs) -> str:
        return f"{np.median([abs(e['error']) for _, e in pairs]) * 100:.1f}%" if pairs else "-"

    def vendor(pairs, word: str):
        return [(r, e) for r, e in pairs if word in r["hardware"]]

    groups = (("all comm rows", held), ("new rows (comm-x)", new), ("NVIDIA", vendor(held, "NVIDIA")),
              ("NVIDIA (comm-x)", vendor(new, "NVIDIA")), ("AMD MI300X (comm-x)", vendor(new, "AMD")),
              ("Google TPU (comm-x)", vendor(new, "Google")),
              ("AWS p5.48xlarge, EFA (comm-p5)", [(r, e) for r, e in held if r["id"].startswith("comm-p5-")]))
    rows = ["| held-out rows | n | median abs error |", "| --- | --- | --- |"]
    rows += [f"| {name} | {len(pairs)} | {med(pairs)} |" for name, pairs in groups]
    return "\n" + "\n".join(rows) + "\n"


@block("collectives-error-table")
def _collectives_error_table() -> str:
    rows = ["| id | set | hardware | metric | config | measured | predicted | error |",
            "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r, e in _comm_table():
        pred = "-" if e["predicted"] is None else f"{e['predicted']:.4g}"
        err = "-" if e["error"] is None else f"{e['error'] * 100:+.1f}%".replace("-0.0%", "+0.0%")
        rows.append(f"| {r['id']} | {e['set'].replace('_', ' ')} | {r['hardware']} | {r['metric']} | {r['config']} "
                    f"| {float(r['value']):g} | {pred} | {err} |")
    return "\n" + "\n".join(rows) + "\n"


@block("kernel-validation-summary")
def _kernel_validation_summary() -> str:
    import numpy as np

    rows = [o for o in validation_outcomes() if o.category == "kernel" and o.error is not None]
    held = [o for o in rows if o.set == "held_out"]
    fit = [o for o in rows if o.set == "fit"]
    worst = max(held, key=lambda o: abs(o.error))
    skipped = sum(1 for o in validation_outcomes() if o.category == "kernel" and o.error is None)
    return (f"held-out rows (n = {len(held)}) median |error| {np.median([abs(o.error) for o in held]) * 100:.1f}%, "
            f"max {abs(worst.error) * 100:.1f}% ({worst.id}, {worst.chip}); fit rows (n = {len(fit)}) median "
            f"{np.median([abs(o.error) for o in fit]) * 100:.1f}%, max {max(abs(o.error) for o in fit) * 100:.1f}%; "
            f"{skipped} kernel rows skipped (no preset or out of the model's scope)")


@block("serving-ep-steps")
def _serving_ep_steps() -> str:
    """Mixtral-8x7B step times on 8x H100 (tp 8), ep 1 against ep 8 (EngineStepCost)."""
    from fabless.estimate.scenario import scenario_from_dict
    from fabless.estimate.stepcost import EngineStepCost

    ctx = 1000

    def model(ep: int) -> EngineStepCost:
        return EngineStepCost.from_scenario(scenario_from_dict({
            "model": "mixtral-8x7b", "system": {"name": "dgx-h100", "count": 8}, "precision": "bf16",
            "parallel": {"tp": 8, "ep": ep}, "inference": {"batch": 1, "input_tokens": ctx, "output_tokens": 200}}))

    a, b = model(1), model(8)
    cases = ((f"decode of 1 sequence ({ctx:,} tokens of context)", (0, 0, 1, ctx)),
             ("256 sequences", (0, 0, 256, 256 * ctx)), ("a 4096-token prefill", (4096, 0, 0, 0)))
    parts = [f"{what} {a.step_time_s(*args) * 1e3:.2f} -> {b.step_time_s(*args) * 1e3:.2f} ms" for what, args in cases]
    return "Mixtral-8x7B bf16 on 8x H100 (tp 8), step times ep 1 -> ep 8: " + ", ".join(parts)


@block("serving-validation-table")
def _serving_validation_table() -> str:
    by = {o.id: o for o in validation_outcomes() if o.category == "serve"}
    rows = ["| row | what | set | measured | predicted | error |", "|---|---|---|---|---|---|"]
    for rid, what in SERVE_ROWS:
        o = by[rid]
        pred = "-" if o.predicted is None else _num(o.predicted)
        err = "-" if o.error is None else f"{o.error * 100:+.1f}%"
        rows.append(f"| {rid} | {what} | {o.set} | {_num(o.measured)} | {pred} | {err} |")
    return "\n" + "\n".join(rows) + "\n"


#: The vLLM and NIM rows of SERVE_ROWS (the others are MLPerf's).
SERVE_VLLM_NIM = ("infer-244", "infer-245", "infer-246", "infer-247", "infer-248", "infer-249", "infer-229", "infer-230",
                  "infer-233", "infer-234", "infer-237")


@block("serving-validation-summary")
def _serving_validation_summary() -> str:
    import numpy as np

    from fabless.validate.core import summarise

    by = {o.id: o for o in validation_outcomes() if o.category == "serve"}
    rows = [by[rid] for rid, _ in SERVE_ROWS if by[rid].error is not None]
    held = [o for o in rows if o.set == "held_out"]
    errs = np.array([abs(o.error) * 100 for o in held])
    chips = [s for s in summarise(held) if s["chip"] != "all"]
    per_chip = ", ".join(f"{s['chip']} {s['median_abs_err_pct']:.1f}% ({s['n']} rows)"
                         for s in sorted(chips, key=lambda s: -s["n"]))
    mlperf = [abs(o.error) * 100 for o in held if o.id not in SERVE_VLLM_NIM]
    vllm = [abs(o.error) * 100 for o in held if o.id in SERVE_VLLM_NIM]
    return (f"Held out, the {len(held)} rows of this table: the median |error| is **{np.median(errs):.1f}%** (goal 15%: "
            f"{'met' if np.median(errs) <= 15 else 'missed'}), p90 {np.percentile(errs, 90):.1f}%, max {errs.max():.1f}%. "
            f"By chip: {per_chip}. The {len(mlperf)} MLPerf rows alone: median {np.median(mlperf):.1f}%; "
            f"the {len(vllm)} vLLM/NIM rows: median {np.median(vllm):.1f}%")


def _stack_serve_table(stack: str) -> tuple[str, list]:
    """The serve rows that name ``stack`` (serve_scenarios files) as a markdown table, each with its
    error, and every scored serve outcome."""
    from fabless.validate import serve

    m = serve.serve_map()
    outs = [o for o in validation_outcomes() if o.category == "serve" and o.error is not None]
    rows = ["| row | model, prompt / answer, concurrency | metric | set | measured | predicted | error |",
            "|---|---|---|---|---|---|---|"]
    for o in sorted((o for o in outs if (m[o.id].get("scenario") or {}).get("software") == stack), key=lambda o: o.id):
        e = m[o.id]
        inf, load = e["scenario"]["inference"], e["load"]
        what = (f"{e['scenario']['model']}, {inf['input_tokens']} / {inf['output_tokens']}, "
                f"{load.get('requests', load.get('concurrency'))}")
        metric = {"tpot_ms": ("TPOT" if "TPOT" in o.metric else "ITL") + " ms",
                  "output_tokens_per_s": "output tok/s", "total_tokens_per_s": "total tok/s",
                  "ttft_ms": "TTFT ms", "e2e_s": "e2e s"}[e["convert"]]
        rows.append(f"| {o.id} | {what} | {metric} | {o.set} | {_num(o.measured)} | {_num(o.predicted)} | {o.error * 100:+.1f}% |")
    return "\n".join(rows), outs


def _tpu_serve_medians(outs: list) -> str:
    import numpy as np

    tpu = [o for o in outs if o.chip.startswith("tpu-")]
    med = {s: (np.median([abs(o.error) * 100 for o in tpu if o.set == s]), sum(o.set == s for o in tpu)) for s in ("held_out", "fit")}
    return (f"All google-tpu serve rows (vLLM and sglang-jax): held-out median |error| "
            f"{med['held_out'][0]:.1f}% over {med['held_out'][1]} rows, fit rows {med['fit'][0]:.1f}% over {med['fit'][1]}.")


@block("serving-vllm-tpu")
def _serving_vllm_tpu() -> str:
    """The serve rows that name the vllm-tpu stack (serve_scenarios_tpu.yaml), each with its error,
    and the google-tpu family's serve medians."""
    table, outs = _stack_serve_table("vllm-tpu")
    return "\n" + table + "\n\n" + _tpu_serve_medians(outs) + "\n"


@block("serving-sglang-jax")
def _serving_sglang_jax() -> str:
    """The serve rows that name the sglang-jax stack (serve_scenarios_tpu.yaml and
    serve_scenarios_newchips.yaml), each with its error, and the google-tpu family's serve medians."""
    table, outs = _stack_serve_table("sglang-jax")
    return "\n" + table + "\n\n" + _tpu_serve_medians(outs) + "\n"


@block("serving-fit-split")
def _serving_fit_split() -> str:
    serve = [o for o in validation_outcomes() if o.category == "serve" and o.skipped is None]
    fit = sum(o.set == "fit" for o in serve)
    return f"{fit} of the {len(serve)} serve rows predicted are fit rows, the other {len(serve) - fit} held out"


@block("serving-mlperf-v41")
def _serving_mlperf_v41() -> str:
    """The MLPerf v4.1 rows of every submitter (infer-mlp41-*) by GPU, model and scenario: the
    median signed error of the fit and of the held-out rows of each group."""
    import numpy as np

    from fabless.validate import serve

    groups: dict[tuple, dict[str, list[float]]] = {}
    for o in validation_outcomes():
        if o.category != "serve" or not o.id.startswith("infer-mlp41-") or o.error is None:
            continue
        e = serve.serve_map()[o.id]
        gpu = "GH200" if "GH200" in e["note"] else o.chip.split("-")[0].upper()
        key = (gpu, e["scenario"]["model"], e["load"]["kind"].capitalize(), e["scheduler"]["max_num_seqs"])
        groups.setdefault(key, {"fit": [], "held_out": []})[o.set].append(o.error * 100)

    def cell(v: list[float]) -> str:
        return f"{np.median(v):+.1f}% ({len(v)})" if v else "-"

    rows = ["| GPU | model | scenario | batch | fit: median error (rows) | held out: median error (rows) |",
            "|---|---|---|---|---|---|"]
    for key in sorted(groups):
        g = groups[key]
        rows.append(f"| {' | '.join(str(k) for k in key)} | {cell(g['fit'])} | {cell(g['held_out'])} |")
    return "\n" + "\n".join(rows) + "\n"


#: The Server row whose run length docs/serving.md shows, and the (duration, warm-up) runs compared.
SERVER_RUN_ROW = "infer-mlp41-016"
SERVER_RUNS_S = ((180.0, 45.0), (600.0, 0.0), (2400.0, 0.0))


@block("serving-server-run-length")
def _serving_server_run_length() -> str:
    """The MLPerf Server search of SERVER_RUN_ROW at each run length: the rate found and the p50 /
    p99 TPOT of its last passing run, against the run's log (the row's notes)."""
    from fabless.validate import serve

    e = serve.serve_map()[SERVER_RUN_ROW]
    load = e["load"]

    def compute() -> list[dict]:
        model, sched, lengths = serve._model(e["scenario"]), serve._sched(e), serve.lengths_of(e)
        return [serve.server(model, sched, lengths, load["ttft_p99_ms"] / 1e3, load["tpot_p99_ms"] / 1e3,
                             duration_s=d, warmup_s=w) for d, w in SERVER_RUNS_S]

    runs = cached("serve-run-length", code_key(), compute)
    note = next(r.get("notes") or "" for r in serve.rows() if r["id"] == SERVER_RUN_ROW)
    m = re.search(r"p50 / p99 TPOT ([0-9.]+) / ([0-9.]+) ms", note)
    out = [f"On {SERVER_RUN_ROW} ({e['note'].split(',')[0]}): "]
    parts = [f"{d:,.0f} s{f' ({w:,.0f} s left out)' if w else ''}: {r['rate_per_s']:.2f} requests/s per instance, "
             f"p50 / p99 TPOT {r['tpot_p50_s'] * 1e3:.0f} / {r['tpot_p99_s'] * 1e3:.0f} ms"
             for (d, w), r in zip(SERVER_RUNS_S, runs)]
    out.append("; ".join(parts))
    if m:
        out.append(f"; the run's log: {float(m.group(1)):.0f} / {float(m.group(2)):.0f} ms")
    return "".join(out)


@block("serving-mlperf-server-offline")
def _serving_mlperf_server_offline() -> str:
    """Server / Offline throughput of the MLPerf v4.1 systems that ran both with NVIDIA's harness
    (the same system and benchmark: one mlperf_log_summary.txt folder per scenario), measured and
    predicted, by GPU and model, with the Server runs' logged p99 TTFT and TPOT (their notes)."""
    import numpy as np

    from fabless.validate import serve

    notes = {r["id"]: r.get("notes") or "" for r in serve.rows()}
    srcs = {r["id"]: r.get("source") or "" for r in serve.rows()}
    by = {o.id: o for o in validation_outcomes() if o.category == "serve" and o.error is not None}
    pairs: dict[tuple, dict[str, object]] = {}
    for rid, o in by.items():
        e = serve.serve_map()[rid]
        if (e.get("scenario") or {}).get("software") != "trt-llm-mlperf-v4.1":
            continue
        m = re.search(r"results/([^/]+)/([^/]+)/(Offline|Server)/", srcs[rid])
        if m:
            pairs.setdefault((m.group(1), m.group(2)), {})[m.group(3)] = o
    groups: dict[tuple, list] = {}
    for (system, bench), v in pairs.items():
        if "Offline" in v and "Server" in v:
            off, srv = v["Offline"], v["Server"]
            gpu = "GH200" if "GH200" in system else srv.chip.split("-")[0].upper()
            lat = re.search(r"p99 TTFT [0-9]+ / ([0-9]+) ms, p50 / p99 TPOT [0-9.]+ / ([0-9.]+) ms", notes[srv.id])
            groups.setdefault((gpu, bench), []).append((srv.measured / off.measured, srv.predicted / off.predicted,
                                                        float(lat.group(1)) if lat else np.nan, float(lat.group(2)) if lat else np.nan))
    out = ["| GPU | benchmark | systems | measured Server / Offline | predicted | Server runs' p99 TTFT (limit 2000 ms) | p99 TPOT (limit 200 ms) |",
           "|---|---|---|---|---|---|---|"]
    allm, allp = [], []
    for key in sorted(groups):
        g = np.array(groups[key])
        allm += list(g[:, 0]); allp += list(g[:, 1])
        out.append(f"| {key[0]} | {key[1]} | {len(g)} | {g[:, 0].mean():.2f} ({g[:, 0].min():.2f}-{g[:, 0].max():.2f}) "
                   f"| {g[:, 1].mean():.2f} | {np.nanmin(g[:, 2]):.0f}-{np.nanmax(g[:, 2]):.0f} ms | {np.nanmin(g[:, 3]):.0f}-{np.nanmax(g[:, 3]):.0f} ms |")
    out.append(f"| all | | {len(allm)} | {np.mean(allm):.2f} | {np.mean(allp):.2f} | | |")
    return "\n" + "\n".join(out) + "\n"


#: (label, catalog name) of the models docs/workload.md checks against their published counts.
PARAM_CHECK_MODELS = (("Llama-2-70B", "llama-2-70b"), ("Llama-3.1-405B", "llama-3.1-405b"),
                      ("Mixtral-8x7B", "mixtral-8x7b"), ("DeepSeek-V3", "deepseek-v3"), ("GPT-3 175B", "gpt3-175b"),
                      ("Qwen3-235B-A22B", "qwen3-235b-a22b"))


@block("workload-param-counts")
def _workload_param_counts() -> str:
    from fabless.loading import read_yaml
    from fabless.workload import load_model

    published = read_yaml(SRC / "data" / "models" / "SOURCES.yaml")
    rows = ["| model | fabless total | published | fabless active | published |", "| --- | --- | --- | --- | --- |"]
    for label, name in PARAM_CHECK_MODELS:
        cfg, pub = load_model(name), published[name]
        moe = cfg.params_active < cfg.params_total
        act = f"{cfg.params_active / 1e9:.2f}B" if moe else ""
        pub_act = f"{pub['published_params_active']:g}B" if moe and "published_params_active" in pub else ""
        rows.append(f"| {label} | {cfg.params_total / 1e9:.2f}B | {pub['published_params_total']:g}B | {act} | {pub_act} |")
    return "\n" + "\n".join(rows) + "\n"


#: The collectives parameters docs/collectives.md lists, with what pins each (its rows).
COLLECTIVE_PARAMS = (
    ('launch_latency_s', "every row's latency term; the 1 KiB row comm-x-019 pins it against the step costs"),
    ('ll_bw_fraction', "NCCL's tuner value for LL on one node"),
    ('scale_up.bw_efficiency', 'ring on 8 H100 at 4 GiB, comm-nr-003 (NVLink 4 and the default)'),
    ('scale_up.simple_step_overhead_s', 'mid-size rows comm-fresh-003 (A100, 64 MiB), comm-x-015 (H200, 64 MiB)'),
    ('scale_up.ll_step_overhead_s', 'small-message row comm-x-019 (8 H100, 1 KiB) and the 1 MiB rows comm-fresh-001, comm-x-013'),
    ('scale_out.bw_efficiency', 'the 8 GiB two-host all-reduce over 400G InfiniBand that the NICs bound, comm-x-029 (B200)'),
    ('scale_out.simple_step_overhead_s', 'proxy + RDMA cost of a Simple network step: the 8 MiB two-host H100 InfiniBand rows comm-fresh13-012, -018, fitted alone'),
    ('scale_out.ll_step_overhead_s', 'proxy + RDMA cost of an LL network step: comm-x-025 (2 x 1 A100, 8 B)'),
    ('nvls.bw_efficiency', 'NVLS rows comm-x-017 (8 H200, 1 GiB), comm-nr-005 (6 H100, 4 GiB)'),
    ('nvls.latency_s', 'NVLS at 64 MiB, comm-x-015'),
    ('nvls.tree_bw_efficiency', 'NVLS inside an NVLS-tree: the 8 GiB two-host H100 rows that NVLS bounds, comm-x-030 (InfiniBand) and comm-p5-009 (EFA), fitted alone'),
    ('put.latency_s', 'fixed cost of a DeepEP kernel: the low-latency dispatch rows moe-a2a-020, -024'),
    ('put.bw_efficiency', 'RDMA rate of a DeepEP kernel (IBGDA writes): the low-latency dispatch rows moe-a2a-020, -024'),
    ('put.forward_bytes_per_s', 'NVLink forwarding rate of DeepEP\'s two-stage (normal) kernel: moe-a2a-001'),
    ('generations.nvlink3.bw_efficiency', 'A100 rows comm-fresh-001, -003, -004 (NVLink 3 runs ~5% below NVLink 4 at large sizes)'),
    ('generations.nvlink5.bw_efficiency', 'GB200 ring rows comm-x-002, -007'),
    ('generations.nvlink5.simple_step_overhead_s', 'GB200 ring at 8 MiB, comm-x-002'),
    ('generations.nvlink5.nvls_bw_efficiency', 'NVL72 72-GPU all-reduce at 4 GiB, comm-x-011'),
    ('generations.nvlink5.a2a_bw_efficiency', 'NVL72 all-to-alls at 4, 8 and 64 GPUs, comm-fresh5-005, -007, -009, fitted alone'),
    ('generations.roce.bw_efficiency', 'Gaudi RoCE ports: hccl_demo 32 MiB on 8 Gaudi 2, comm-g-001 (read off, not fitted)'),
    ('generations.ici.bw_efficiency', 'TPU ppermute rows comm-x-032 (v5p 64 MiB), -033 (v6e 1 MiB)'),
    ('generations.ici.simple_step_overhead_s', 'same rows: one collective step inside a compiled XLA program'),
    ('generations.ici.ll_step_overhead_s', 'XLA has no LL protocol; equal cost means LL never wins'),
    ('generations.ici.launch_latency_s', 'an XLA collective is not a separate launch'),
)


@block("collectives-params")
def _collectives_params() -> str:
    from fabless.params import load_param_file

    pf = load_param_file(SRC / "data" / "perf" / "collectives.yaml")
    rows = ["| parameter | value | confidence | fitted on (what it does) |", "| --- | --- | --- | --- |"]
    for name, what in COLLECTIVE_PARAMS:
        p = pf.params[name]
        value = f"{p.value * 1e6:.3g} us" if p.unit == "s" else f"{p.value:.2f}"
        rows.append(f"| `{name}` | {value} | {p.confidence} | {what} |")
    return "\n" + "\n".join(rows) + "\n"


FLEET_ARGS = ("fleet", str(ROOT / "examples" / "scenarios" / "llama-70b-serving-dgx-h100.yaml"), "--demand", "20000/min",
              "--slo", "ttft_p99=2s,tpot_p99=50ms", "--chips",
              "h100-sxm,b200,tpu-v6e,trainium2," + str(ROOT / "examples" / "scenarios" / "hardware" / "my-chip.yaml"))


@block("serving-fleet-table")
def _serving_fleet_table() -> str:
    r = cached("fleet", code_key(ROOT / "examples" / "scenarios" / "hardware" / "my-chip.yaml"),
               lambda: fabless_json(*FLEET_ARGS))
    rows = ["| chip | best layout | req/s per unit | chips | buy $/month | buy $/M output tokens |", "|---|---|---|---|---|---|"]
    for x in r["rows"]:
        chip = Path(x["chip"]).name
        if x.get("error") or x.get("best") is None:
            rows.append(f"| {chip} | {x.get('error', 'no layout')} | | | | |")
            continue
        rows.append(f"| {chip} | {x['best']} | {x['rate_per_s']:.2f} | {x['chips']} | {x['buy_usd_per_month']:,.0f} | "
                    f"{x['buy_usd_per_mtoken_output']:.2f} |")
    return "\n" + "\n".join(rows) + "\n"


@block("economics-h100-by-hand")
def _economics_h100_by_hand() -> str:
    from fabless.economics.params import default_params

    r = fabless_json("cost", "h100-sxm")
    line = {x["name"]: x["value"] for x in r["lines"]}
    how = {x["name"]: x["how"] for x in r["lines"]}
    sp = default_params().silicon
    area = line["die area"]
    side = math.sqrt(area) + sp.scribe_lane_mm
    site = side ** 2
    d = sp.wafer_diameter_mm - 2 * sp.edge_exclusion_mm
    gross, edge = math.pi * (d / 2) ** 2 / site, math.pi * d / math.sqrt(2 * site)
    d0 = default_params().silicon.defect_density_per_cm2["N4"]
    alpha = sp.yield_clustering_alpha
    y0 = (1 + area / 100 * d0 / alpha) ** -alpha
    dies, y = line["dies per wafer"], line["yield"]
    wafer = line["wafer price"]
    mem, pack, test = line["memory"], line["packaging"], line["test and assembly"]
    total = r["summary"]["package_usd"]
    published = 3320.0  # Raymond James' estimate of H100's manufacturing cost, as quoted below
    return f"""
1. Die {area:.0f} mm², S = ({math.sqrt(area):.2f} + {sp.scribe_lane_mm:g})² = {site:.1f} mm², d = {d:.0f} mm:
   π·{d / 2:.0f}²/{site:.1f} − π·{d:.0f}/√{2 * site:.1f} = {gross:.2f} − {edge:.2f} = **{dies:.1f} dies**.
2. Defect-free yield at D0 = {d0:g}, alpha {alpha:g}: (1 + {area / 100:.2f}·{d0:g}/{alpha:g})^−{alpha:g} = **{y0:.1%}**; with
   132 of 144 SMs needed and the SMs 65% of the die, **{y:.1%}** (the model's quadrature).
3. Good die: ${wafer:,.0f} / ({math.floor(dies)} x {y:.3f}) = **${line['good die cost']:,.0f}**.
4. Memory: {how['memory']} = **${mem:,.0f}**. Packaging: {how['packaging']} = **${pack:,.0f}**.
5. Test and assembly: {test / (line['good die cost'] + mem + pack):.3f} x ({line['good die cost']:,.0f} + {mem:,.0f} + {pack:,.0f}) = **${test:,.0f}**.
6. Total **${total:,.0f}**, vs the published estimate of ~${published:,.0f} (Raymond James): {_pct(total / published - 1)}.
"""


@block("economics-tco-by-hand")
def _economics_tco_by_hand() -> str:
    from fabless.economics.power import chip_power
    from fabless.hardware.presets import load_chip
    from fabless.workload import load_model

    scn = str(ROOT / "examples" / "scenarios" / "llama-70b-serving-dgx-h100.yaml")
    est = fabless_json("estimate", scn)
    row = next(x for x in fabless_json("tco", scn)["rows"] if x["chip"] == "h100-sxm")
    ttft, tpot, batch = est["ttft_s"], est["tpot_s"], est["batch"]
    e2e = ttft + 255 * tpot
    per_chip = row["tokens_per_s_per_chip"]
    rent, buy = row["rent_chip_hour_usd"], row["buy_chip_hour_usd"]
    s = row["prefill_share"]
    chip = load_chip("h100-sxm")
    pw = chip_power(chip, dtype="fp8", matrix_util=row["matrix_util"], enforce_budget=False).terms_w
    params = load_model("llama-3.1-70b").params_active
    return f"""TTFT {ttft:.3f} s, TPOT {tpot * 1e3:.2f} ms, so e2e = {ttft:.3f} + 255 x {tpot:.5f} = {e2e:.3f} s.

1. Output tok/s/chip = {batch} x 256 / {e2e:.3f} / 8 = **{per_chip:.1f}**; input = {per_chip:.1f} x 2048/256 = {row['input_tokens_per_s_per_chip']:,.0f}.
2. Chip-hour: owned **${buy:.3f}** (above), rented ${rent:.2f} ({row['rent_price_basis']}).
3. All-in: {rent:.2f} / (3600 x {per_chip:.1f}) x 1e6 = **${row['rent_usd_per_mtoken_output_all_in']:.2f} per M output tokens** rented (${row['buy_usd_per_mtoken_output_all_in']:.2f} owned).
4. Split: s = {ttft:.3f} / {e2e:.3f} = {s:.3f}; input {rent:.2f} x {s:.3f} / (3600 x {row['input_tokens_per_s_per_chip']:,.0f}) x 1e6 = **${row['rent_usd_per_mtoken_input']:.3f}/M**,
   output {rent:.2f} x {1 - s:.3f} / (3600 x {per_chip:.1f}) x 1e6 = **${row['rent_usd_per_mtoken_output']:.2f}/M** (2048 x {row['rent_usd_per_mtoken_input']:.3f} + 256 x {row['rent_usd_per_mtoken_output']:.2f} =
   256 x {row['rent_usd_per_mtoken_output_all_in']:.2f}: the split adds back to the whole).
5. Power: utilisation = 2 x {params / 1e9:.1f}e9 x ({per_chip:.1f} x 9) / {chip.peak_flops('fp8') / 1e12:,.0f}e12 (fp8 peak) = {row['matrix_util']:.3f}; matrix
   {pw['matrix']:.0f} W + {pw['static']:.1f} static + {pw['memory']:.1f} HBM + {pw['links']:.1f} links = **{pw['total']:.0f} W**; {per_chip:.1f} / {pw['total']:.0f} = **{row['tokens_per_joule']:.2f} tokens/J** at the chip.
"""


def _dist_text(dist: tuple, x: str) -> str:
    name = dist[0]
    if name == "uniform":
        return f"uniform {x}{dist[1]:g}-{dist[2]:g}"
    if name == "lognormal":
        return f"lognormal, median {x}{dist[1]:g}, sigma {dist[2]:g}"
    if name == "bernoulli":
        return f"Bernoulli, p = {dist[1]:g}"
    if name == "choice":
        return " or ".join(f"{v:g}" for v in dist[1]) + ", probabilities " + " / ".join(f"{q:g}" for q in dist[2])
    return f"fixed {x}{dist[1]:g}"


@block("economics-h100-chip-hour")
def _economics_h100_chip_hour() -> str:
    """The H100's owned chip-hour worked by hand from ownership.yaml, checked against the code's."""
    from fabless.economics.ownership import chip_hour
    from fabless.economics.params import default_params
    from fabless.hardware.presets import load_chip

    o = default_params().ownership
    chip = load_chip("h100-sxm")
    ch = chip_hour(chip, price_tier="street")
    price, r = ch.price_usd, o.cost_of_capital

    def crf(rate: float, n: float) -> float:
        return rate / (1 - (1 + rate) ** -n) if rate else 1 / n

    capex = price * o.server_cost_over_accelerator / (1 - o.network_fraction_of_hardware)
    kw = ch.power_w * o.server_power_over_tdp / 1000
    hw = capex * crf(r, o.depreciation_years) / o.hours_per_year
    ops = capex * o.operations_fraction_per_year / o.hours_per_year
    energy = kw * o.average_power_fraction * o.pue * o.electricity_usd_per_kwh
    dc = kw / 1000 * o.datacenter_usd_per_mw * crf(r, o.datacenter_life_years) / o.hours_per_year
    total = hw + ops + energy + dc
    if abs(total - ch.owned_usd) > 1e-9 * total:
        raise SystemExit(f"docs: the H100 chip-hour by hand ({total}) differs from fabless' ({ch.owned_usd})")
    flat = (capex * (1 / o.depreciation_years + o.operations_fraction_per_year) / o.hours_per_year + energy
            + kw / 1000 * o.datacenter_usd_per_mw / o.datacenter_life_years / o.hours_per_year)
    return (f"H100 at its ${price:,.0f} {ch.buy_record.tier} price, by hand: capex {price:,.0f} x "
            f"{o.server_cost_over_accelerator:g} / {1 - o.network_fraction_of_hardware:g} = ${capex:,.1f};\n"
            f"CRF({r:.0%}, {o.depreciation_years:g}) = {r:g} / (1 − {1 + r:g}^−{o.depreciation_years:g}) = "
            f"{crf(r, o.depreciation_years):.6f}; hardware {capex:,.1f} x {crf(r, o.depreciation_years):.6f} / "
            f"{o.hours_per_year:g} = **${hw:.3f}**;\n"
            f"operations {capex:,.1f} x {o.operations_fraction_per_year:g} / {o.hours_per_year:g} = ${ops:.3f}; "
            f"energy {kw:.3f} kW x {o.average_power_fraction:g} x {o.pue:g} x {o.electricity_usd_per_kwh:g} = ${energy:.3f};\n"
            f"data centre {kw / 1000:.3e} MW x ${o.datacenter_usd_per_mw / 1e6:g}M x CRF({r:.0%}, "
            f"{o.datacenter_life_years:g}) {crf(r, o.datacenter_life_years):.6f} / {o.hours_per_year:g} = ${dc:.3f}; total\n"
            f"**${total:.3f}/h** owned (straight-line, r = 0, it would be ${flat:.2f}), vs ${ch.rented_usd:.2f}/h rented "
            f"({ch.rent_record.provider}).")


@block("economics-breakeven-constants")
def _economics_breakeven_constants() -> str:
    from fabless.economics.breakeven import PARAMS

    tau, delay = PARAMS.params["maturity_tau_years"], PARAMS.params["respin_delay_months"]
    return (f"`tau` = {tau.value:g} {'year' if tau.value == 1 else 'years'} ({tau.note}) and `respin_delay_months` = {delay.value:g} ({delay.note}) "
            f"are set in `breakeven.yaml`, {tau.confidence}.")


@block("economics-breakeven-inputs")
def _economics_breakeven_inputs() -> str:
    """The table of the break-even's uncertain inputs, from data/economics/breakeven.yaml."""
    from fabless.economics.breakeven import INPUTS, BreakevenCase
    from fabless.economics.params import default_params

    base = BreakevenCase(0, 0, 0, 0, 1, 0, 0, 4, True, default_params()).base_inputs()
    rows = ["| input | base | tornado low / high | Monte Carlo | why (its note in `breakeven.yaml`) |",
            "|---|---|---|---|---|"]
    for name, s in INPUTS.items():
        x = "x" if s["kind"] == "factor" else ""
        rows.append(f"| `{name}` | {x}{base[name]:g} | {x}{s['low']:g} / {x}{s['high']:g} | {_dist_text(s['dist'], x)} "
                    f"| {s['why']} |")
    return "\n" + "\n".join(rows) + "\n"


@block("economics-breakeven-by-hand")
def _economics_breakeven_by_hand() -> str:
    from fabless.economics.params import default_params

    b = fabless_json("breakeven", str(ROOT / "examples" / "scenarios" / "llama-70b-serving-dgx-h100.yaml"), "--custom",
                     str(ROOT / "examples" / "scenarios" / "hardware" / "my-chip-system.yaml"), "--against", "h100-sxm",
                     "--fleet", "10000")
    o = default_params().ownership
    r = b["cost_of_capital"]

    def crf(n: float) -> float:
        return r / (1 - (1 + r) ** -n)

    unit, ratio, saving = b["custom_unit_usd"], b["throughput_ratio"], b["saving_per_gpu_hour_usd"]
    capex = unit * o.server_cost_over_accelerator / (1 - o.network_fraction_of_hardware)
    hw = capex * (crf(o.depreciation_years) + o.operations_fraction_per_year) / 8760
    years = {int(x["years"]): x for x in b["breakeven"]}
    base = b["tornado"][0]["base_result"]
    tor = {t["input"]: t for t in b["tornado"]}
    small = ("wafer_price", "defect_density", "electricity", "utilisation", "cost_of_capital")
    small_swing = max(abs(tor[k]["result_high"] - tor[k]["result_low"]) for k in small)
    mc, q = b["monte_carlo"], b["monte_carlo"]["quantiles"]
    growth = b["fleet_gpus"] * saving * 8760 / b["nre_usd"]

    def lh(k: str) -> str:
        return f"{tor[k]['result_low']:,.0f} / {tor[k]['result_high']:,.0f}"

    return f"""
1. Throughput: {b['custom_tokens_per_s_per_chip']:.1f} vs {b['gpu_tokens_per_s_per_chip']:.1f} tok/s/chip, ratio **{ratio:.4f}**.
2. my-chip bought from a design partner at **${unit:,.0f}**: capex {unit:,.0f} x {o.server_cost_over_accelerator:g} /
   {1 - o.network_fraction_of_hardware:g} = {capex:,.0f}; {capex:,.0f} x ({crf(o.depreciation_years):.6f} + {o.operations_fraction_per_year:g}) / 8760 = {hw:.4f}, plus
   energy and data centre {b['custom_chip_hour_usd'] - hw:.4f}: owned **${b['custom_chip_hour_usd']:.3f}/h**; H100 **${b['gpu_chip_hour_usd']:.3f}/h**
   ({b['gpu_price_basis']}, ${b['gpu_price_usd']:,.0f}, above).
3. Saving per H100 replaced: {b['gpu_chip_hour_usd']:.3f} − {b['custom_chip_hour_usd']:.3f} / {ratio:.4f} = **${saving:.3f}/h**.
4. NRE **${b['nre_usd'] / 1e6:,.0f}M**: repaid with {r:.0%} interest in 4 years by {b['nre_usd'] / 1e6:.0f}e6 x CRF({r:.0%}, 4) {crf(4):.6f} /
   ({saving:.3f} x 8760) = **{years[4]['breakeven_fleet_gpus']:,.0f} H100 equivalents** ({years[4]['breakeven_fleet_custom_chips']:,.0f} my-chips); in 1 year
   {years[1]['breakeven_fleet_gpus']:,.0f}, in 5 years {years[5]['breakeven_fleet_gpus']:,.0f}. A fleet of {b['fleet_gpus']:,.0f} H100s: CRF({r:.0%}, T) =
   {b['fleet_gpus']:,.0f} x {saving:.3f} x 8760 / {b['nre_usd'] / 1e6:.0f}e6 = {growth:.4f}, T = −ln(1 − {r:g} / {growth:.4f}) / ln {1 + r:g} =
   **{b['payback_years']:.1f} years**.
5. Tornado ({b['tornado_years']:g}-year fleet, base {base:,.0f}): GPU price x{tor['gpu_price']['low']:g} / x{tor['gpu_price']['high']:g} → **{tor['gpu_price']['result_low']:,.0f}** /
   {tor['gpu_price']['result_high']:,.0f}; two generations → {tor['generations']['result_high']:,.0f}; NRE x{tor['nre']['low']:g} / x{tor['nre']['high']:g} → {lh('nre')};
   partner margin {tor['partner_margin']['low']:.0%} / {tor['partner_margin']['high']:.0%} → {lh('partner_margin')}; software at
   {tor['software_maturity']['low']:.0%} → {tor['software_maturity']['result_low']:,.0f}; HBM price → {lh('memory_price')}; a respin → {tor['respin']['result_high']:,.0f};
   six months late → {tor['delay_months']['result_high']:,.0f}; wafer, defect density, power price, utilisation and cost of
   capital move it by at most {small_swing:,.0f} (the last three charge both chips alike). What the GPU
   really costs decides it.
6. Monte Carlo ({mc['samples']:,} draws, seed {mc['seed']}): median **{q['p50']:,.0f}** H100 equivalents, 5-95% {q['p05']:,.0f} to
   {q['p95']:,.0f}; {mc['p_never']:.1%} of draws never pay back in {mc['years']:g} years; P(pays back with {mc['fleet_gpus']:,.0f} H100s) =
   {mc['p_pays_back']:.1%}.
"""


@block("power-mi300x-by-hand")
def _power_mi300x_by_hand() -> str:
    """MI300X's power at its measured sustained clock, term by term from power.yaml, checked
    against fabless' own."""
    from fabless.economics.params import default_params, node_value
    from fabless.economics.power import (chip_power, macs_per_unit, memory_pj_per_bit, operand_reuse_energy_pj,
                                         sustained_references)
    from fabless.hardware.presets import load_chip

    pw = default_params().power
    chip = load_chip("mi300x")
    ref = sustained_references()["mi300x"]
    util, f = float(ref["matrix_util"]), float(chip.clock.sustained_mhz)
    f_peak, peak = chip.clock.boost_mhz, chip.peak_flops("bf16")
    m = macs_per_unit(chip, "bf16")
    e = float(operand_reuse_energy_pj(m))
    scale = node_value(pw.node_energy_scale, chip.physical.process_node, "node_energy_scale")
    clock_x = (f_peak / pw.reference_clock_mhz) ** pw.energy_clock_exponent
    matrix = peak * util * e * 1e-12 * scale * clock_x * (f / f_peak) ** (1 + pw.energy_clock_exponent)
    got = chip_power(chip, matrix_util=util, clock_mhz=f, enforce_budget=False).terms_w
    if abs(matrix - got["matrix"]) > 1e-6 * got["matrix"]:
        raise SystemExit(f"docs: MI300X matrix power by hand ({matrix}) differs from fabless' ({got['matrix']})")
    hbm = chip.memory.hbm
    pj = memory_pj_per_bit(hbm.generation, default_params())
    hbm_w = hbm.bandwidth_bytes_per_s * 8 * pj * 1e-12
    return (f"By hand, MI300X's matrix term at {f:.0f} MHz: e_flop({m:.0f}) = {pw.bf16_flop_energy_pj:g} + "
            f"{pw.operand_energy_pj:g} x (1/√{m:.0f} − 1/√{pw.reference_macs_per_unit:g}) =\n{e:.3f} pJ; "
            f"{peak / 1e12:.1f}e12 x {util:g} x {e:.3f} pJ x {scale:g} ({chip.physical.process_node}) x {clock_x:g} x "
            f"({f:.0f}/{f_peak:.0f})^{1 + pw.energy_clock_exponent:g} = {matrix:.0f} W; + {got['static']:.0f} static +\n"
            f"{got['memory']:.0f} memory ({hbm.generation}: {hbm.bandwidth_bytes_per_s / 1e12:.1f} TB/s x 8 x {pj:g} pJ = "
            f"{hbm_w:.0f} W, the rest die-to-die; an upper bound during a compute-bound GEMM) + {got['links']:.0f} links = "
            f"{got['total']:.0f} W.")


@block("power-mamf-clocks")
def _power_mamf_clocks() -> str:
    """The clocks derived from MAMF rows (power.mamf_clock_mhz), and the B200 cross-check."""
    from fabless.economics.params import default_params
    from fabless.economics.power import mamf_clock_mhz, sustained_references
    from fabless.hardware.presets import load_chip

    eff = default_params().power.gemm_efficiency_at_clock
    refs = sustained_references()
    derived = [(n, mamf_clock_mhz(load_chip(n), refs[n]["mamf_row"])) for n in ("h100-sxm", "gb200")]
    b200 = mamf_clock_mhz(load_chip("b200"), "kernel-266")
    measured = float(refs["b200"]["sustained_clock_mhz"])
    names = {"h100-sxm": "H100", "gb200": "GB200"}
    return (f"`gemm_efficiency_at_clock` = {eff:g} (AMD's measured efficiency at a known clock, above) of the clock's "
            f"peak, `f = f_peak x MAMF / (peak x {eff:g})`: "
            + ", ".join(f"{names[n]} {f:.0f} MHz" for n, f in derived)
            + f". Cross-check on B200, which has both: its MAMF (kernel-266) gives {b200:.0f} MHz against the measured "
            f"~{measured:.0f} ({abs(b200 / measured - 1):.0%} apart)")


@block("power-sustained-table")
def _power_sustained_table() -> str:
    from fabless.economics.power import chip_power, sustained_references
    from fabless.hardware.presets import load_chip
    from fabless.validate.power import sustained_errors

    refs = sustained_references()
    rows = ["| chip | measured clock | model W at it | TDP | error | model's clock for the TDP | error |",
            "|---|---|---|---|---|---|---|"]
    for r in sustained_errors():
        util = float(refs[r["name"]]["matrix_util"])
        rows.append(f"| {load_chip(r['name']).display_name} | {r['clock_mhz']:.0f} MHz ({util:.0%}) | {r['model_w_at_clock']:.0f} | "
                    f"{r['tdp_w']:.0f} | {_pct(r['power_error'])} | {r['model_clock_mhz']:.0f} MHz | {_pct(r['clock_error'])} |")
    h200 = load_chip("h200-sxm")  # observed near 1500 MHz under load, not fitted; 94% busy assumed as on MI300X
    pred = chip_power(h200, matrix_util=0.94, enforce_budget=False).sustained_clock_mhz
    rows.append(f"| {h200.display_name} (observed, not fitted) | ~1500 MHz (94% assumed) | — | {h200.physical.tdp_w:.0f} | — | "
                f"{pred:.0f} MHz | {_pct(pred / 1500 - 1)} |")
    return "\n" + "\n".join(rows) + "\n"


def _table(head: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    """A markdown table as a block's text (blank-line padded)."""
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]
    return "\n" + "\n".join(lines) + "\n"


def _e(x: float) -> str:
    return f"{x:.0e}".replace("e+0", "e").replace("e+", "e")


def _pow2(x: int) -> str:
    n = x.bit_length() - 1
    return f"2^{n}" if x == 2 ** n else f"{x:,}"


@block("reliability-bounds")
def _reliability_bounds() -> str:
    from fabless import bounds as b

    lo, hi = b.CLOCK_MHZ
    rows = [
        ("any number in a data file", f"finite, magnitude at most {_e(b.MAX_MAGNITUDE)} (inf, NaN, 1e308 refused)"),
        ("clocks (`*_mhz`)", f"{lo:,.0f} - {hi:,.0f} MHz ({lo / 1e3:g} - {hi / 1e3:g} GHz)"),
        ("HBM capacity", f"up to {_e(b.MAX_CAPACITY_GB)} GB per chip"),
        ("bandwidths (HBM, on-chip, links)", f"up to {_e(b.MAX_BANDWIDTH_GB_S)} GB/s per chip"),
        ("dense peak", f"up to {_e(b.MAX_PEAK_TFLOPS)} TFLOP/s per chip"),
        ("cores, matrix units", f"up to {b.MAX_UNITS:,}"),
        ("chips (system, scenario, parallel degrees, `--chips`)", f"1 - {b.MAX_CHIPS:,}"),
        ("tokens per sequence (prompt, output, training, `--seq`)",
         f"1 - {_pow2(b.MAX_SEQ_TOKENS)} ({b.MAX_SEQ_TOKENS:,}); for a model with learned absolute positions (GPT-3, GPT-J), "
         "at most its position table (rotary models run past their configured context)"),
        ("sequences per batch", f"1 - {_pow2(b.MAX_BATCH)}"),
        ("GEMM dimensions, heads, head size, model sizes in config.json", f"1 - {_pow2(b.MAX_DIM)}"),
        ("layers of a model (config.json)", f"1 - {b.MAX_LAYERS:,}"),
        ("routed experts of a model (config.json)", f"1 - {b.MAX_EXPERTS:,}"),
        ("bytes (`--bytes`)", f"above 0, up to {_e(b.MAX_BYTES)}"),
        ("times (`--duration`, SLOs)", f"above 0, up to {_e(b.MAX_SECONDS)} s"),
        ("rates (`--rate`, `--demand`)", f"above 0, up to {_e(b.MAX_RATE_PER_S)} per second"),
    ]
    return _table(("what", "accepted"), rows)


@block("reliability-budgets")
def _reliability_budgets() -> str:
    from fabless import bounds as b

    rows = [
        ("one `serve` simulation: rate x duration", f"{b.MAX_SIM_REQUESTS:,} requests (about 10 s)"),
        ("one `serve --offline` run", f"{b.MAX_SIM_REQUESTS:,} requests"),
        ("one simulation's scheduler steps (output tokens / sequences per step + prompt tokens / step budget)",
         f"{b.MAX_SIM_STEPS:,}"),
        ("one `serve --concurrency` run (6 x clients requests, one closed run or a rate search of ~10)", f"{b.MAX_CONCURRENCY:,} clients"),
        ("one `explore` run: designs", f"{b.MAX_DESIGNS:,}"),
        ("`parallel: auto` plan search", f"{_pow2(b.MAX_AUTO_CHIPS)} ({b.MAX_AUTO_CHIPS:,}) chips; above it give the plan"),
    ]
    return _table(("work", "budget"), rows)


@block("reliability-data-limits")
def _reliability_data_limits() -> str:
    from fabless import bounds as b

    return (f"at most {b.MAX_YAML_BYTES / 2 ** 20:.0f} MiB, nesting at most {b.MAX_YAML_DEPTH} levels, aliases "
            f"expanding to at most {b.MAX_YAML_NODES:,} values")


@block("area-table")
def _area_table() -> str:
    from fabless.economics.area import area_errors, chip_area
    from fabless.hardware.presets import load_chip

    rows = ["| die | role | node | model mm² | published mm² | error |", "|---|---|---|---|---|---|"]
    for r in area_errors():
        rows.append(f"| {r['name']} | {r['role']} | {r['node']} | {r['model_mm2']:.0f} | {r['published_mm2']:.0f} | "
                    f"{_pct(r['error'])} |")
    v4 = load_chip("tpu-v4")
    model = chip_area(v4).total_mm2 / v4.physical.dies
    rows.append(f"| TPU v4 (preset inventory) | — | {v4.physical.process_node} | {model:.0f} | <600 (Google, ISCA 2023) | "
                f"≥ {_pct(model / 600 - 1, 0)} |")
    return "\n" + "\n".join(rows) + "\n"


@block("area-coefficients")
def _area_coefficients() -> str:
    from fabless.economics.params import default_params

    s = default_params().silicon
    return (f"`bf16_mac_area_um2` = {s.bf16_mac_area_um2:.0f} µm² at N5 (a MAC with its share of its core) and "
            f"`sram_layout_factor` = {s.sram_layout_factor:.2f}")


@block("power-table")
def _power_table() -> str:
    from fabless.hardware.presets import load_chip
    from fabless.validate.power import power_errors

    rows = ["| chip | node | M (MACs/unit) | clock (MHz, basis) | model W | TDP W | error | role | TDP confidence |",
            "|---|---|---|---|---|---|---|---|---|"]
    for r in power_errors():
        chip = load_chip(r["name"])
        src = chip.provenance.get("physical.tdp_w")
        err = _pct(r["error"])
        rows.append(f"| {chip.display_name} | {r['node']} | {r['macs_per_unit']:,.0f} | {r['clock_mhz']:.0f} ({r['basis']}) | "
                    f"{r['model_w']:.0f} | {r['tdp_w']:.0f} | {f'**{err}**' if abs(r['error']) > 0.2 else err} | "
                    f"{r['role']} | {src.confidence if src else '-'} |")
    return "\n" + "\n".join(rows) + "\n"


def _within_20(gemm_efficiency_at_clock: float | None = None) -> tuple[int, int]:
    from fabless.economics.params import default_params
    from fabless.validate.power import power_errors

    p = default_params()
    if gemm_efficiency_at_clock is not None:
        p = p.model_copy(update={"power": p.power.model_copy(update={"gemm_efficiency_at_clock": gemm_efficiency_at_clock})})
    errs = power_errors(p)
    return sum(abs(r["error"]) <= 0.2 for r in errs), len(errs)


@block("power-within-20")
def _power_within() -> str:
    ok, n = _within_20()
    return f"{ok} of {n} are within 20%"


@block("power-robust")
def _power_robust() -> str:
    counts = {g: _within_20(g)[0] for g in (0.90, 0.94, 0.96)}
    return ", ".join(f"{n} at {g:.2f}" for g, n in counts.items())


# ----------------------------------------------------------------------------- running

def rewrite_blocks(text: str, origin: str) -> str:
    """``text`` with every marked block rewritten by its function."""

    def sub(m: re.Match) -> str:
        name = m.group(1)
        if name not in BLOCKS:
            raise SystemExit(f"{origin}: no generator for block '{name}' (scripts/docs.py --list names them)")
        return f"<!-- fabless:begin {name} -->{BLOCKS[name]()}<!-- fabless:end {name} -->"

    return BLOCK.sub(sub, text)


#: Sections written by scripts of their own (each also checked by its own test): docs.py reruns
#: them too, so one command rewrites and checks every generated number.
SECTION_SCRIPTS: dict[str, tuple[str, ...]] = {
    "docs/economics.md": ("docs_energy",),
    "docs/user-guide.md": ("docs_cpu", "docs_recsys"),
}


def rewrite_sections(text: str, rel: str) -> str:
    """``text`` with the sections of :data:`SECTION_SCRIPTS` rewritten by their scripts."""
    for name in SECTION_SCRIPTS.get(rel, ()):
        mod = _load(ROOT / "scripts" / f"{name}.py", name)
        if hasattr(mod, "regenerate"):
            text = mod.regenerate(text)
        else:  # docs_recsys: block() is the section with its markers
            i, j = text.index(mod.BEGIN), text.index(mod.END) + len(mod.END)
            text = text[:i] + mod.block() + text[j:]
    return text


def outputs(only: set[str] | None = None, writing: bool = False) -> list[tuple[Path, str, str, Callable[[str, str], str | None]]]:
    """(file, its text now, the text a rerun writes, how to compare) for every generated file;
    ``only``: the relative paths to regenerate (all by default)."""
    out = []
    for f in marked_files():
        rel = str(f.relative_to(ROOT))
        if only and rel not in only:
            continue
        text = f.read_text()
        if BLOCK.search(text) or rel in SECTION_SCRIPTS:
            out.append((f, text, rewrite_sections(rewrite_blocks(text, rel), rel), _exact_stale))
    for rel, (gen, stale) in WHOLE.items():
        if only and rel not in only:
            continue
        out.append((ROOT / rel, (ROOT / rel).read_text(), gen(writing), stale))
    return out


def stale_files(only: set[str] | None = None) -> list[str]:
    """One entry per file a rerun would change: its path and the first line that differs."""
    return [f"{f.relative_to(ROOT)}: {diff}" for f, now, fresh, stale in outputs(only)
            if (diff := stale(now, fresh)) is not None]


def main(argv: list[str]) -> int:
    only = {a for a in argv if not a.startswith("--")} or None
    if "--list" in argv:
        for f in marked_files():
            names = sorted({m.group(1) for m in BLOCK.finditer(f.read_text())})
            if names:
                print(f"{f.relative_to(ROOT)}: {', '.join(names)}")
        for rel in WHOLE:
            print(f"{rel}: the whole file")
        unused = sorted(set(BLOCKS) - {m.group(1) for f in marked_files() for m in BLOCK.finditer(f.read_text())})
        if unused:
            print(f"unused blocks: {', '.join(unused)}")
        return 0
    if "--check" in argv:
        stale = stale_files(only)
        for line in stale:
            print(f"out of date (run python scripts/docs.py): {line}")
        if not stale:
            print("docs are current")
        return 1 if stale else 0
    for f, now, fresh, _ in outputs(only, writing=True):
        if now != fresh:
            f.write_text(fresh)
            print(f"wrote {f.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
