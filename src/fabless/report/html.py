"""HTML reports and PNG figures of every command that computes (``--html FILE``, ``--plot FILE.png``).

:func:`render_html` turns the dict a command prints with ``--json`` into one self-contained page
(plotly's JavaScript embedded once, so it opens offline): the command's interactive figures
(:mod:`fabless.report.figures`, one module per kind), a summary of the headline figures, and a
footer listing the inputs, the data sources the result used and the fabless version.
:func:`write_png` draws the command's main figure as a PNG with kaleido and the system's
Chromium. Both need the ``report`` extra (``pip install 'fabless[report]'``); without it they
raise one line saying so (exit status 2 from the CLI).
"""

from __future__ import annotations

import datetime as _dt
import html as _html
import json as _json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from fabless import __version__
from fabless.errors import FablessError, InvalidInput, require

try:  # the report extra; without it every entry point below raises one line naming it
    import plotly
    import plotly.graph_objects as go
    import plotly.io as pio
    from plotly.offline import get_plotlyjs

    from fabless.report.figures import BUILDERS
    from fabless.report.figures.common import HEIGHT_PX, WIDTH_PX
    from fabless.report.figures.explore import PARETO_DIV, yaml_of
except ImportError as _exc:  # pragma: no cover - exercised by the missing-extra test in a subprocess
    if not (_exc.name or "").startswith("plotly"):
        raise
    plotly = None

#: The kinds of report, one per command that computes.
KINDS = ("estimate", "serve", "fleet", "cost", "tco", "breakeven", "explore", "validate", "compare")

#: The data files behind each kind of result (besides the sources its payload names itself).
DATA_FILES = {
    "estimate": ["fabless/data/chips/*.yaml, systems/*.yaml (the chip and system, each figure with its source)",
                 "fabless/data/models/*.json (the model's configuration)",
                 "fabless/data/estimate/software.yaml (the software stack's efficiency and its fit rows)",
                 "fabless/data/estimate/error_bands.yaml (80% error bands from held-out rows, docs/validation.md)"],
    "serve": ["fabless/data/chips, systems, models (as estimate)", "fabless/data/serve/*.yaml (request lengths, MLPerf limits)",
              "fabless/data/estimate/error_bands.yaml (serving error bands)"],
    "fleet": ["fabless/data/chips, systems, models (as estimate)", "fabless/data/economics/prices.yaml (each price's provider and date)",
              "fabless/data/economics/ownership.yaml (life, cost of capital, operations, PUE)"],
    "cost": ["fabless/data/economics/*.yaml (silicon, package, partner, power, nre, ownership, prices): each line's source is listed"],
    "tco": ["fabless/data/economics/prices.yaml and ownership.yaml", "fabless/data/chips, systems, models (the estimate of each chip)"],
    "breakeven": ["fabless/data/economics/*.yaml (prices, NRE, partner margin, ownership)",
                  "the Monte Carlo inputs' distributions and reasons (listed below)"],
    "explore": ["the design-space YAML and its base chip and system", "fabless/data/economics/*.yaml (area, yield, power, cost models)",
                "fabless/data/chips/*.yaml (the shipped chips it is compared with)"],
    "validate": ["fabless/data/measurements/*.csv (published measurements, each row with its source)",
                 "fabless/data/estimate/error_bands.yaml (the bands drawn)"],
    "compare": ["fabless/data/chips/*.yaml (each figure with its source: fabless chips show NAME)"],
}


def _need_plotly() -> None:
    if plotly is None:
        raise FablessError("HTML reports and plots need plotly: pip install 'fabless[report]'")


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InvalidInput(f"report kind '{kind}' is not one of {', '.join(KINDS)}")


def figures(kind: str, data: dict) -> list:
    """The figures of a ``kind`` report of ``data`` (the command's ``--json`` dict), main one first."""
    _check_kind(kind)
    _need_plotly()
    return BUILDERS[kind].figures(data)


def _sources(obj: Any, out: dict[str, None], depth: int = 0) -> None:
    """Every text under a key named 'source', '*_source' or 'sources' in ``obj``, in order, once."""
    if depth > 6:
        return
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, str) and (k == "source" or k.endswith("_source")) and v.strip():
                out[v.strip()] = None
            elif k == "sources" and isinstance(v, list):
                out.update({str(s): None for s in v if s})
            else:
                _sources(v, out, depth + 1)
    elif isinstance(obj, list):
        for v in obj[:2000]:
            _sources(v, out, depth + 1)


def _linkify(text: str) -> str:
    parts = []
    for word in text.split(" "):
        w = _html.escape(word)
        parts.append(f'<a href="{w}">{w}</a>' if word.startswith(("http://", "https://")) else w)
    return " ".join(parts)


_INPUT_KEYS = ("scenario", "model", "system", "chip", "chips", "phase", "precision", "software", "mode", "lengths", "demand_per_s",
               "slo", "price_tier", "custom", "gpu", "partner", "space", "designs")


def _inputs(data: dict) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    given = data.get("inputs")
    if isinstance(given, dict):
        rows += [(str(k), str(v)) for k, v in given.items() if v is not None]
    seen = {k for k, _ in rows}
    for k in _INPUT_KEYS:
        v = data.get(k)
        if k not in seen and isinstance(v, (str, int, float, bool)):
            rows.append((k, str(v)))
    return rows


def _table(rows: list[tuple[str, str]], cls: str) -> str:
    if not rows:
        return ""
    body = "".join(f"<tr><th>{_html.escape(k)}</th><td>{_linkify(v)}</td></tr>" for k, v in rows)
    return f'<table class="{cls}">{body}</table>'


_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;max-width:1100px;padding:1.2em 1.5em;color:#222}
h1{font-size:1.5em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .4em}
table{border-collapse:collapse;font-size:13px;margin:.3em 0 1em}th,td{border-bottom:1px solid #e3e3e3;padding:3px 10px;text-align:left;vertical-align:top}
th{font-weight:600;white-space:nowrap;color:#444}.headline td{font-size:15px;font-weight:600}
.figure{margin:0 0 1.4em;border:1px solid #eee;border-radius:4px}
footer{margin-top:2em;border-top:2px solid #ddd;font-size:12px;color:#444}footer td{word-break:break-word}
#chip-yaml-panel{display:none;border:1px solid #ccc;border-radius:4px;padding:.6em;margin:0 0 1.4em;background:#fafafa}
#chip-yaml{max-height:420px;overflow:auto;font-size:12px;background:#fff;border:1px solid #eee;padding:.5em}
button{font-size:13px;padding:3px 10px;margin-right:.6em}
"""

_CLICK_JS = """
var gd = document.getElementById('{plot_id}');
var chipYaml = JSON.parse(document.getElementById('chip-yaml-data').textContent);
gd.on('plotly_click', function (ev) {
  var p = ev.points[0];
  var id = (p.data.ids && p.data.ids[p.pointNumber]) || null;
  var panel = document.getElementById('chip-yaml-panel');
  var pre = document.getElementById('chip-yaml');
  if (id === null || !(id in chipYaml)) {
    panel.style.display = 'block';
    document.getElementById('chip-yaml-title').textContent = (p.text || 'this design') + ': only front designs have a chip file (click a blue point)';
    pre.textContent = '';
    return;
  }
  document.getElementById('chip-yaml-title').textContent = 'design ' + id + ': chip file (save as design-' + id + '.yaml; fabless estimate --chip design-' + id + '.yaml)';
  pre.textContent = chipYaml[id];
  panel.style.display = 'block';
});
var wireCopy = function () { document.getElementById('chip-yaml-copy').addEventListener('click', function () {
  var text = document.getElementById('chip-yaml').textContent;
  var done = function () { document.getElementById('chip-yaml-copy').textContent = 'copied'; };
  var fallback = function () {
    var r = document.createRange(); r.selectNodeContents(document.getElementById('chip-yaml'));
    var s = window.getSelection(); s.removeAllRanges(); s.addRange(r);
    try { document.execCommand('copy'); done(); } catch (e) { /* selected for the reader to copy */ }
  };
  if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(text).then(done, fallback); } else { fallback(); }
}); };
// the panel follows the figure in the page: wire its button once the page is read
if (document.readyState === 'loading') { document.addEventListener('DOMContentLoaded', wireCopy); } else { wireCopy(); }
"""


def _version() -> str:
    return __version__


def render_html(kind: str, data: dict, *, title: str | None = None) -> str:
    """A complete, self-contained HTML document of a ``kind`` report of ``data`` (the dict the
    command prints with ``--json``; ``inputs``, if present, is a mapping of the inputs to list)."""
    _check_kind(kind)
    _need_plotly()
    if kind == "compare" and isinstance(data, list):
        data = {"rows": data}
    if not isinstance(data, dict):
        raise InvalidInput(f"a {kind} report needs the command's JSON object, got {type(data).__name__}")
    mod = BUILDERS[kind]
    figs = mod.figures(data)
    title = title or f"fabless {kind}" + (f": {data['model']}" if isinstance(data.get("model"), str) else "") \
        + (f" on {data['chips']} x {data['chip']}" if isinstance(data.get("chip"), str) and data.get("chips") else "")
    config = {"displaylogo": False, "responsive": True, "toImageButtonOptions": {"format": "png", "width": WIDTH_PX}}
    parts = [f"<h1>{_html.escape(title)}</h1>", _table([(k, v) for k, v in mod.headline(data)], "headline")]
    if not figs:
        parts.append("<p>No figure: the result holds nothing to draw.</p>")
    for i, fig in enumerate(figs):
        div_id = f"fabless-fig-{i}"
        post = None
        if kind == "explore" and i == 0:
            div_id = PARETO_DIV
            yaml_map = yaml_of(data)
            parts.append('<script type="application/json" id="chip-yaml-data">'
                         + _json.dumps(yaml_map).replace("</", "<\\/") + "</script>")
            post = _CLICK_JS
        parts.append('<div class="figure">' + pio.to_html(fig, include_plotlyjs=False, full_html=False, div_id=div_id,
                                                         config=config, post_script=post) + "</div>")
        if kind == "explore" and i == 0:
            parts.append('<div id="chip-yaml-panel"><div><button id="chip-yaml-copy">copy</button>'
                         '<span id="chip-yaml-title"></span></div><pre id="chip-yaml"></pre></div>')
    if kind == "breakeven":
        parts.append("<h2>Uncertain inputs of the Monte Carlo</h2>" + _table(BUILDERS[kind].inputs_table(data), "inputs"))
    srcs: dict[str, None] = {}
    _sources(data, srcs)
    foot = ["<h2>Inputs</h2>", _table(_inputs(data), "inputs") or "<p>-</p>",
            "<h2>Data sources</h2>", _table([("data", f) for f in DATA_FILES[kind]] + [("source", s) for s in srcs], "sources"),
            f"<p>fabless {_html.escape(_version())} · plotly {_html.escape(plotly.__version__)} · written "
            f"{_dt.datetime.now(_dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')} · the figures' numbers are the command's "
            f"<code>--json</code> output</p>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"generator\" content=\"fabless {_html.escape(_version())}\"><title>{_html.escape(title)}</title>"
            f"<style>{_STYLE}</style><script type=\"text/javascript\">{pio_js()}</script></head><body>"
            + "".join(parts) + "<footer>" + "".join(foot) + "</footer></body></html>\n")


def pio_js() -> str:
    """plotly.js itself (embedded once per page: the page needs no network)."""
    return get_plotlyjs()


def _atomic_write(path: str | Path, write) -> Path:
    """Write through a temporary file in the same folder, then rename: nothing half-written."""
    path = Path(path)
    if not path.parent.is_dir():
        raise InvalidInput(f"{path}: the folder {path.parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=".fabless-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # as an ordinary new file (mkstemp makes it private)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_html(path: str | Path, kind: str, data: dict, *, title: str | None = None) -> Path:
    """Write :func:`render_html` to ``path``."""
    text = render_html(kind, data, title=title)
    return _atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def chromium_path() -> str | None:
    """The Chromium kaleido drives: $BROWSER_PATH, else chromium on the PATH."""
    return os.environ.get("BROWSER_PATH") or shutil.which("chromium") or shutil.which("chromium-browser") \
        or shutil.which("google-chrome")


def check_targets(html: str | None = None, png: str | None = None) -> None:
    """Refuse, before any work, an output the run could not write: a wrong suffix, a missing
    folder, or the report extra (plotly; kaleido and Chromium for a PNG) not installed."""
    for flag, path, suffixes in (("--html", html, (".html", ".htm")), ("--plot", png, (".png",))):
        if path is None:
            continue
        p = Path(path)
        if p.suffix.lower() not in suffixes:
            raise InvalidInput(f"{flag} {path}: give a file ending in {' or '.join(suffixes)}")
        if not p.parent.is_dir():
            raise InvalidInput(f"{flag} {path}: the folder {p.parent} does not exist")
        _need_plotly()
    if png is not None:
        require("kaleido", "report", "--plot (PNG figures)")
        if chromium_path() is None:
            raise FablessError("--plot draws PNGs with Chromium, and none was found: install chromium (Debian: apt-get install "
                               "chromium) or set BROWSER_PATH to a Chrome or Chromium binary")


#: Pixels the PNG's footer line adds under the figure.
FOOTER_PX = 24


def _with_footer(fig, data: dict):
    """A copy of ``fig`` with one grey line under it: the fabless version and the command (or the
    inputs) it was drawn from, so that a picture pasted into a document still says where it came from."""
    out = go.Figure(fig)
    inputs = data.get("inputs") if isinstance(data.get("inputs"), dict) else {}
    what = inputs.get("command") or ", ".join(f"{k} {v}" for k, v in _inputs(data)[:4])
    text = f"fabless {_version()}" + (f" · {what}" if what else "")
    if len(text) > 170:
        text = text[:169] + "…"
    margin_b = int(out.layout.margin.b if out.layout.margin.b is not None else 60)
    out.update_layout(height=int(out.layout.height or HEIGHT_PX) + FOOTER_PX, margin={"b": margin_b + FOOTER_PX})
    out.add_annotation(text=_html.escape(text), xref="paper", yref="paper", x=0, y=0, xanchor="left", yanchor="top",
                       yshift=-(margin_b + FOOTER_PX - 18), showarrow=False, font={"size": 10, "color": "#777"})
    return out


def write_png(path: str | Path, kind: str, data: dict) -> Path:
    """The ``kind`` report's main figure as a PNG at ``path`` (kaleido with the system's Chromium)."""
    check_targets(png=str(path))
    if kind == "compare" and isinstance(data, list):
        data = {"rows": data}
    figs = figures(kind, data)
    if not figs:
        raise FablessError(f"--plot {path}: the {kind} result holds nothing to draw")
    fig = _with_footer(figs[0], data)
    os.environ.setdefault("BROWSER_PATH", chromium_path() or "")
    height = int(fig.layout.height or HEIGHT_PX)

    def write(tmp: str) -> None:
        try:
            fig.write_image(tmp, format="png", width=WIDTH_PX, height=height, scale=1)
        except Exception as exc:  # kaleido's and Chromium's failures, as one line
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise FablessError(f"--plot {path}: could not draw the PNG with kaleido and Chromium ({first[:200]})") from None

    return _atomic_write(path, write)


__all__ = ["KINDS", "check_targets", "figures", "render_html", "write_html", "write_png"]
