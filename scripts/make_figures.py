"""Draw the pictures in README.md and docs/user-guide.md from the code: one PNG of each kind of
report (docs/figures/<kind>.png), each the main figure of the command below, as `--plot` writes it.

    python scripts/make_figures.py [KIND ...]

Needs the report extra (plotly, kaleido) and Chromium. Takes a minute or two (the validate
picture runs every measurement row; the explore picture searches 8,192 designs). Each PNG is
checked to stay under MAX_BYTES, so the repository stays small.
"""

from __future__ import annotations

import contextlib
import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "figures"
MAX_BYTES = 150_000
SCN = "examples/scenarios/llama-70b-serving-dgx-h100.yaml"
SLO = "ttft_p99=2s,tpot_p99=50ms"

#: kind -> the command line whose main figure is the picture (as the docs show it)
COMMANDS = {
    "estimate": ["estimate", SCN],
    "serve": ["serve", SCN, "--max-throughput", "--slo", SLO, "--duration", "120s"],
    "fleet": ["fleet", SCN, "--demand", "20000/min", "--slo", SLO, "--chips", "h100-sxm,b200,tpu-v6e", "--max-layouts", "2",
              "--duration", "30s"],
    "cost": ["cost", "h100-sxm"],
    "tco": ["tco", SCN, "--compare", "h100-sxm,b200,tpu-v5p,trainium2"],
    "breakeven": ["breakeven", SCN, "--custom", "examples/scenarios/hardware/my-chip-system.yaml", "--against", "h100-sxm",
                  "--fleet", "20000"],
    "explore": ["explore", "examples/openai-xpu/space.yaml", "--samples", "8192", "--no-progress", "--no-plot"],
    # the accelerator categories (the picture's panels; `fabless validate` alone adds the CPU rows)
    "validate": ["validate", *(a for c in ("comm", "infer", "kernel", "serve", "train") for a in ("--category", c))],
    "compare": ["chips", "compare", "h100-sxm", "b200", "tpu-v6e", "trainium2"],
}


def draw(kind: str, scratch: Path) -> Path:
    from fabless.cli import main

    png = OUT / f"{kind}.png"
    args = [*COMMANDS[kind], "--plot", str(png.relative_to(ROOT))]  # relative: the footer line shows the command
    if kind == "explore":
        args += ["--out", str(scratch / "xpu")]
    with contextlib.redirect_stdout(io.StringIO()):
        code = main(args + ["--json"])
    if code != 0:
        raise SystemExit(f"fabless {' '.join(args)} failed with exit status {code}")
    size = png.stat().st_size
    if size > MAX_BYTES:
        raise SystemExit(f"{png}: {size:,} bytes, over {MAX_BYTES:,}")
    return png


def main(kinds: list[str]) -> None:
    import os

    os.chdir(ROOT)  # the command lines name files relative to the repository
    OUT.mkdir(parents=True, exist_ok=True)
    unknown = [k for k in kinds if k not in COMMANDS]
    if unknown:
        raise SystemExit(f"unknown kind(s) {', '.join(unknown)}; choose from {', '.join(COMMANDS)}")
    with tempfile.TemporaryDirectory() as tmp:
        for kind in kinds or list(COMMANDS):
            png = draw(kind, Path(tmp))
            print(f"{png.relative_to(ROOT)}: {png.stat().st_size:,} bytes")


if __name__ == "__main__":
    main(sys.argv[1:])
