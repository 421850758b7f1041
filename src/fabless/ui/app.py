"""`fabless ui`: a local web page over the estimate, its error bands, a comparison across chips
and $/Mtoken, served by FastAPI on this machine.

The page (``static/index.html``, ``app.js``, ``app.css``) is the package's own; plotly.js comes from
the installed plotly package, so it works offline. The JSON API takes the options of `fabless
estimate` under the same names (``model``, ``chip``, ``system``, ``chips``, ``precision``,
``parallel``, ``batch``, ``input_tokens`` ...), builds the scenario with the same function as the
CLI (:func:`fabless.estimate.options.scenario_dict`), so a wrong value gives the CLI's line:

    GET  /                       the page
    GET  /api/options            models, chips, systems, precisions, defaults, version
    POST /api/estimate           the estimate: headline figures with their 80% bands, $/Mtoken,
                                 memory, where the time goes, the `fabless estimate --json` dict
    POST /api/compare            the scenario on each chip of ``compare`` (tokens/s, $/Mtoken)
    POST /api/chip               an uploaded chip YAML (``{"filename", "text"}``), checked; its
                                 ``ref`` (``upload:NAME``) then works wherever a chip name does
    GET  /report.html?...        the HTML report of the estimate (the form's fields as query)

An input error answers 400 with ``{"error": one line, "kind": its class}``; nothing answers a
traceback. Only preset names and uploaded chips are accepted as chips and systems: the page
never reads a path on the server.
"""

from __future__ import annotations

import re
import shlex
import socket
import tempfile
import threading
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, ValidationError

from fabless import __version__
from fabless.bands import band_text, bands_for
from fabless.economics.params import default_params
from fabless.economics.tco import price_work, tco_rows
from fabless.errors import FablessError, InvalidInput, unknown_name_error
from fabless.estimate.engine import resolve_system
from fabless.estimate.options import MODES, PRECISIONS, estimate_fitting, estimate_json, headline, scenario_dict
from fabless.estimate.plan import Plan
from fabless.estimate.scenario import scenario_from_dict
from fabless.hardware.presets import all_chips, all_systems, chip_names, forget_file, load_chip, system_names
from fabless.report.format import num, pct
from fabless.report.format import plan as plan_text
from fabless.report.html import render_html
from fabless.workload.catalog import model_names

STATIC = Path(str(resources.files("fabless") / "ui" / "static"))
#: plotly.js as the plotly package ships it (served from here: no CDN, works offline).
PLOTLY_JS = Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))
#: Largest chip YAML the page accepts (a chip file is a few kB).
MAX_UPLOAD_BYTES = 1_000_000
#: What the form starts with, and the chips it compares by default.
DEFAULTS = {"model": "llama-3.1-70b", "chip": "h100-sxm", "system": "", "chips": None, "precision": "fp8",
            "parallel": "auto", "phase": "inference", "batch": "64", "input_tokens": 2048, "output_tokens": 256,
            "global_batch": 256, "seq_len": 8192, "mode": "pretrain"}
COMPARE = ["h100-sxm", "h200-sxm", "b200", "mi300x", "tpu-v5p", "trainium2"]
#: A form field -> the `fabless estimate` flag it is (error lines name the flag, as the CLI's do).
FLAGS = {"input_tokens": "--input-tokens", "output_tokens": "--output-tokens", "global_batch": "--global-batch",
         "seq_len": "--seq-len", "chips": "--chips", "batch": "--batch", "model": "--model", "chip": "--chip",
         "system": "--system", "precision": "--precision", "parallel": "--parallel", "mode": "--mode",
         "phase": "phase", "compare": "compare"}


class Inputs(BaseModel):
    """The form: `fabless estimate`'s options under their own names, plus the phase and the
    chips to compare. Empty strings mean "not given"."""

    model_config = ConfigDict(extra="forbid")
    model: str | None = None
    chip: str | None = None
    system: str | None = None
    chips: int | None = None
    precision: str | None = None
    parallel: str | None = None
    phase: Literal["inference", "training"] = "inference"
    batch: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    global_batch: int | None = None
    seq_len: int | None = None
    mode: str | None = None
    compare: list[str] = []


class Upload(BaseModel):
    """A chip file from the page: its name on the user's disk, and its text."""

    model_config = ConfigDict(extra="forbid")
    filename: str = "chip.yaml"
    text: str


class Uploads:
    """Chip files uploaded from the page, kept in a private temporary folder for the server's
    life: ``upload:NAME`` -> the file, and the file name the user gave (for the CLI line)."""

    def __init__(self) -> None:
        self._dir = tempfile.TemporaryDirectory(prefix="fabless-ui-")
        self.paths: dict[str, Path] = {}
        self.names: dict[str, str] = {}

    def add(self, filename: str, text: str) -> tuple[str, Any]:
        if len(text.encode()) > MAX_UPLOAD_BYTES:
            raise InvalidInput(f"chip file {filename}: larger than {MAX_UPLOAD_BYTES:,} bytes; a chip file is a few kB")
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", Path(filename or "chip").stem).strip(".-") or "chip"
        path = Path(self._dir.name) / f"{stem}.yaml"
        path.write_text(text, encoding="utf-8")
        forget_file(path)
        try:
            chip = load_chip(str(path))
        except FablessError as exc:
            path.unlink(missing_ok=True)
            raise type(exc)(str(exc).replace(str(path), filename or path.name)) from None
        ref = f"upload:{stem}"
        self.paths[ref], self.names[ref] = path, filename or path.name
        return ref, chip

    def close(self) -> None:
        self._dir.cleanup()


def _ref(value: str | None, kind: str, uploads: Uploads) -> str | None:
    """A chip or system as the form gives it -> what the engine reads: a preset name, or an
    uploaded file's path. A path typed into the form is refused (the page reads no server file)."""
    if not value:
        return None
    if value.startswith("upload:"):
        if kind == "chip" and value in uploads.paths:
            return str(uploads.paths[value])
        raise InvalidInput(f"--{kind}: '{value}' was not uploaded to this server; upload the chip file again")
    names = chip_names() if kind == "chip" else system_names()
    if value not in names:
        if "/" in value or value.endswith((".yaml", ".yml")):
            raise InvalidInput(f"--{kind}: the page takes a preset name or an uploaded chip file, not a path ('{value}')")
        raise unknown_name_error(kind, value, names)
    return value


def _raw(inp: Inputs, uploads: Uploads) -> dict:
    """The scenario the form describes, through the CLI's own option handling."""
    training = inp.phase == "training"
    return scenario_dict(
        model=inp.model or None, system=_ref(inp.system, "system", uploads), chip=_ref(inp.chip, "chip", uploads),
        chips=inp.chips, precision=inp.precision or None, parallel=inp.parallel or None,
        batch=None if training else (inp.batch or None),
        input_tokens=None if training else inp.input_tokens, output_tokens=None if training else inp.output_tokens,
        global_batch=inp.global_batch if training else None, seq_len=inp.seq_len if training else None,
        mode=(inp.mode or None) if training else None)


def cli_line(inp: Inputs, uploads: Uploads) -> str:
    """The `fabless estimate` command that gives the same estimate (shown on the page)."""
    training = inp.phase == "training"
    parts = ["fabless estimate"]
    for field, flag in (("model", "--model"), ("system", "--system"), ("chip", "--chip"), ("chips", "--chips"),
                        ("precision", "--precision"), ("parallel", "--parallel")):
        value = getattr(inp, field)
        if value not in (None, ""):
            parts.append(f"{flag} {shlex.quote(str(uploads.names.get(value, value)))}")
    phase_fields = (("global_batch", "--global-batch"), ("seq_len", "--seq-len"), ("mode", "--mode")) if training else \
        (("batch", "--batch"), ("input_tokens", "--input-tokens"), ("output_tokens", "--output-tokens"))
    for field, flag in phase_fields:
        value = getattr(inp, field)
        if value not in (None, ""):
            parts.append(f"{flag} {shlex.quote(str(value))}")
    return " ".join(parts)


def _figures(est) -> list[dict]:
    """The headline figures as shown: label, value in its unit (and its text), the 80% band."""
    bands = bands_for(est)
    out = []
    for label, key, scale, unit in headline(est):
        value = est.metrics.get(key)
        if value is None:
            continue
        percent = unit.startswith("%")
        shown_unit = unit[1:].strip() if percent else unit
        text = str(pct(value)).rstrip("%") if percent else num(value * scale if scale != 1.0 else value)
        b = bands.get(key)
        item = {"label": label, "key": key, "value": float(value) * scale, "text": text, "unit": "%" if percent else unit,
                "unit_note": shown_unit if percent else "", "band": band_text(b, scale, unit.split(" ")[0]) if b else None}
        if isinstance(b, dict):
            item.update(lo=b["lo"] * scale, hi=b["hi"] * scale, lo_text=num(b["lo"] * scale, 3), hi_text=num(b["hi"] * scale, 3),
                        regime=b["regime"], rows=b["n"], sources=b.get("sources", 0))
        out.append(item)
    return out


def _costs(row: dict, phase: str) -> list[dict]:
    """$/Mtoken, bought and rented, with the price each used."""
    keys = ([("input", "usd_per_mtoken_input"), ("output", "usd_per_mtoken_output")] if phase == "inference"
            else [("training", "usd_per_mtoken")])
    out = []
    for how in ("buy", "rent"):
        basis = row[f"{how}_price_basis"]
        for what, key in keys:
            value = row.get(f"{how}_{key}")
            out.append({"label": f"{how}: $ per million {what} tokens", "how": how, "what": what, "value": value,
                        "text": num(value, 3) if value is not None else "-", "unit": "$/Mtoken", "basis": basis})
        hour = row[f"{how}_chip_hour_usd"]
        out.append({"label": f"{how}: $ per chip-hour", "how": how, "what": "chip-hour", "value": hour,
                    "text": num(hour, 3) if hour is not None else "-", "unit": "$/h", "basis": basis})
    return out


def estimate_view(inp: Inputs, uploads: Uploads) -> dict:
    """Everything the page shows for one estimate (POST /api/estimate)."""
    scn = scenario_from_dict(_raw(inp, uploads))
    est = estimate_fitting(scn)
    chip = resolve_system(scn).chip
    is_file = bool(inp.chip and inp.chip.startswith("upload:"))
    row = price_work(est, scn, chip, default_params(), unit_cost_fallback=is_file)
    total = sum(est.breakdown_s.values())
    breakdown = [{"part": k, "seconds": v, "share": v / total if total else None}
                 for k, v in sorted(est.breakdown_s.items(), key=lambda kv: -kv[1])]
    memory = [{"part": k, "gb": v / 1e9} for k, v in est.memory_bytes.items()]
    training = est.phase == "training"
    return {"title": f"{est.model} {est.phase} on {est.chips} x {est.chip} ({est.system})",
            "plan": plan_text(est.plan, training=training), "figures": _figures(est), "costs": _costs(row, est.phase),
            "power_w": row["power_w"], "memory": memory, "memory_per_chip_gb": est.memory_bytes["total"] / 1e9,
            "breakdown": breakdown, "notes": list(est.notes), "cli": cli_line(inp, uploads),
            "estimate": estimate_json(est, scn)}


def _plan_label(plan: dict, phase: str) -> str:
    """A plan given as ``Plan.as_dict()`` as the estimate shows it (training: with ZeRO, recompute, micro-batch)."""
    if phase != "training":
        return plan_text(plan)
    return Plan(**{**plan, "mesh": tuple((axis, tuple(shape)) for axis, shape in plan.get("mesh", {}).items())}).label()


def compare_view(inp: Inputs, uploads: Uploads) -> dict:
    """The scenario on each chip of ``inp.compare`` at its chip count (`fabless tco --compare`)."""
    raw = _raw(inp, uploads)
    refs = [_ref(c, "chip", uploads) for c in inp.compare if c]
    if not refs:
        raise InvalidInput("compare: tick at least one chip to compare")
    if len(refs) > 40:
        raise InvalidInput(f"compare: at most 40 chips at once, got {len(refs)}")
    rows = tco_rows(raw, refs, default_params())
    phase = "training" if "training" in raw else "inference"
    out = []
    for given, row in zip([c for c in inp.compare if c], rows):
        name = uploads.names.get(given, given)
        if "error" in row:
            out.append({"chip": name, "error": row["error"]})
            continue
        item = {"chip": name, "system": row["system"], "chips": row["chips"], "plan": _plan_label(row["plan"], phase),
                "tokens_per_s_per_chip": row["tokens_per_s_per_chip"], "power_w": row["power_w"],
                "tokens_per_joule": row["tokens_per_joule"], "buy_price_basis": row["buy_price_basis"],
                "rent_price_basis": row["rent_price_basis"]}
        for how in ("buy", "rent"):
            item[f"{how}_usd_per_mtoken"] = row.get(f"{how}_usd_per_mtoken_output", row.get(f"{how}_usd_per_mtoken"))
        if row.get("system_note"):
            item["note"] = row["system_note"]
        out.append(item)
    return {"phase": phase, "rows": out,
            "tokens_label": "output tokens/s per chip" if phase == "inference" else "training tokens/s per chip",
            "cost_label": "$ per million output tokens" if phase == "inference" else "$ per million training tokens"}


def options_view() -> dict:
    chips = [{"name": c.name, "vendor": c.vendor} for c in all_chips()]
    systems = [{"name": s.name, "chip": s.chip.name, "chips": s.chips} for s in all_systems()]
    return {"version": __version__, "models": model_names(), "chips": chips, "systems": systems,
            "precisions": list(PRECISIONS), "modes": list(MODES), "defaults": DEFAULTS, "compare": COMPARE}


def _error(exc: Exception, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": str(exc), "kind": type(exc).__name__}, status_code=status)


def _validation_line(errors: list[dict]) -> str:
    """The first of pydantic's complaints about the form as one line naming the flag."""
    e = errors[0]
    loc = [str(x) for x in e.get("loc", ()) if x not in ("body", "query")]
    field = loc[0] if loc else "input"
    what = FLAGS.get(field, field)
    got = e.get("input")
    if e.get("type", "").startswith("int"):
        return f"{what} must be a whole number, got {got!r}"
    if e.get("type") == "extra_forbidden":
        return f"{what}: not a field of the form (fields: {', '.join(Inputs.model_fields)})"
    return f"{what}: {e.get('msg', 'invalid')}" + (f", got {got!r}" if got is not None and not isinstance(got, dict) else "")


def create_app(allowed_hosts: list[str] | None = None) -> FastAPI:
    """The application. ``allowed_hosts``: the Host headers it answers (None: any); serving on
    127.0.0.1 it answers only localhost names, which a page from elsewhere cannot take over."""
    uploads = Uploads()

    async def lifespan(_app):
        yield
        uploads.close()

    app = FastAPI(title="fabless ui", version=__version__, docs_url=None, redoc_url=None, openapi_url=None,
                  lifespan=lifespan)
    app.state.uploads = uploads
    if allowed_hosts:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts)

    @app.exception_handler(FablessError)
    async def _fabless_error(_request: Request, exc: FablessError):
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def _bad_request(_request: Request, exc: RequestValidationError):
        return JSONResponse({"error": _validation_line(exc.errors()), "kind": "InvalidInput"}, status_code=400)

    @app.exception_handler(Exception)
    async def _bug(_request: Request, exc: Exception):
        # a bug, not an input error: the page gets one line; the server's stderr keeps the traceback
        line = " ".join(f"internal error ({type(exc).__name__}): {exc}; please report it".split())
        return JSONResponse({"error": line, "kind": "InternalError"}, status_code=500)

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse((STATIC / "index.html").read_text(encoding="utf-8"))

    @app.get("/static/{name}")
    def static(name: str) -> Response:
        if name == "plotly.min.js":
            return FileResponse(PLOTLY_JS, media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
        files = {p.name: p for p in STATIC.iterdir() if p.suffix in (".js", ".css")}
        if name not in files:
            return PlainTextResponse(f"no file {name}", status_code=404)
        media = "text/javascript" if name.endswith(".js") else "text/css"
        return FileResponse(files[name], media_type=media)

    @app.get("/api/options")
    def options() -> dict:
        return options_view()

    @app.post("/api/estimate")
    def post_estimate(inp: Inputs) -> dict:
        return estimate_view(inp, uploads)

    @app.post("/api/compare")
    def post_compare(inp: Inputs) -> dict:
        return compare_view(inp, uploads)

    @app.post("/api/chip")
    def post_chip(up: Upload) -> dict:
        ref, chip = uploads.add(up.filename, up.text)
        return {"ref": ref, "name": chip.name, "vendor": chip.vendor, "filename": uploads.names[ref]}

    @app.get("/report.html")
    def report(request: Request) -> Response:
        query = dict(request.query_params)
        if "compare" in query:
            query["compare"] = [c for c in query["compare"].split(",") if c]
        try:
            inp = Inputs.model_validate(query)
        except ValidationError as exc:
            return JSONResponse({"error": _validation_line(exc.errors()), "kind": "InvalidInput"}, status_code=400)
        scn = scenario_from_dict(_raw(inp, uploads))
        est = estimate_fitting(scn)
        title = f"{est.model} {est.phase} on {est.chips} x {est.chip}"
        html = render_html("estimate", estimate_json(est, scn), title=title)  # with the roofline's operators
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"fabless-{est.model}-{est.chip}-{est.phase}") + ".html"
        return HTMLResponse(html, headers={"Content-Disposition": f'attachment; filename="{name}"'})

    return app


class _Server(uvicorn.Server):
    """uvicorn's server, telling ``on_ready`` once it is listening."""

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_ready()


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on host:port (port 0: a free port the system picks); a port in use or
    a host that is not this machine's is one line naming the option."""
    try:
        info = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror:
        raise InvalidInput(f"--host: cannot resolve '{host}'; give an address of this machine, e.g. 127.0.0.1") from None
    sock = socket.socket(info[0], socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(info[4])
    except OSError as exc:
        sock.close()
        raise InvalidInput(f"--port {port}: cannot listen on {host}:{port} ({exc.strerror or exc}); "
                           "choose another port, or --port 0 for a free one") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}/"


def make_server(sock: socket.socket, on_ready: Callable[[], None]) -> _Server:
    """A uvicorn server for the app on an already bound socket, quiet but for warnings."""
    host = sock.getsockname()[0]
    local = host in ("127.0.0.1", "::1")
    app = create_app(["127.0.0.1", "localhost", "[::1]", "::1"] if local else None)
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    return _Server(config, on_ready)


def serve(sock: socket.socket, on_ready: Callable[[], None]) -> None:
    """Serve on ``sock`` until Ctrl-C (or SIGTERM), then return (KeyboardInterrupt is caught)."""
    server = make_server(sock, on_ready)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass  # uvicorn re-raises the signal it shut down on, once it has shut down
    finally:
        sock.close()


def serve_in_thread(sock: socket.socket) -> tuple[_Server, threading.Thread]:
    """Start serving on ``sock`` in a thread; returns once it listens (``server.should_exit =
    True`` and ``thread.join()`` stop it)."""
    ready = threading.Event()
    server = make_server(sock, ready.set)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not ready.wait(0.05):
        if not thread.is_alive():
            raise FablessError("fabless ui: the server did not start")
    return server, thread


__all__ = ["COMPARE", "DEFAULTS", "Inputs", "bind", "cli_line", "compare_view", "create_app", "estimate_view",
           "options_view", "serve", "serve_in_thread", "url_of"]
