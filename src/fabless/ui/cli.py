"""`fabless ui`: serve the estimate page on this machine until Ctrl-C."""

from __future__ import annotations

import typer

from fabless.errors import require

ui_app = typer.Typer()


def _need_extra() -> None:
    for module in ("fastapi", "uvicorn", "plotly"):
        require(module, "ui", "fabless ui")


def _check(host: str) -> str:
    """Serve on a free port in a thread, fetch the page, plotly.js and one estimate, stop."""
    import json
    import urllib.request

    from fabless.ui.app import DEFAULTS, bind, serve_in_thread, url_of

    sock = bind(host, 0)
    url = url_of(sock)
    server, thread = serve_in_thread(sock)
    try:
        page = urllib.request.urlopen(url, timeout=30).read().decode()
        plotly = urllib.request.urlopen(url + "static/plotly.min.js", timeout=30).read()
        body = json.dumps({**DEFAULTS, "chips": None}).encode()
        req = urllib.request.Request(url + "api/estimate", data=body, headers={"Content-Type": "application/json"})
        est = json.load(urllib.request.urlopen(req, timeout=60))
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()
    tpot = next(f for f in est["figures"] if f["key"] == "tpot_s")
    return (f"ok: {url} served the page ({len(page):,} bytes), plotly.js ({len(plotly):,} bytes) and an estimate "
            f"({est['title']}: TPOT {tpot['text']} ms); stopped")


@ui_app.command("ui")
def ui_cmd(
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on; 127.0.0.1 keeps the page on this machine."),
    port: int = typer.Option(8765, "--port", help="Port to listen on; 0 picks a free one (the address is printed)."),
    check: bool = typer.Option(False, "--check", help="Start on a free port, load the page and one estimate, print ok and stop "
                               "(checks an install without leaving a server running)."),
) -> None:
    """A local web page: choose the model, chip (or upload your own chip YAML), system, precision,
    plan and lengths, and watch TTFT, TPOT, tokens/s (or step time and MFU), their error bands,
    $/Mtoken and a comparison across chips change. Download the HTML report of an estimate.

    Prints the page's address; Ctrl-C stops it. Needs the ui extra (FastAPI, uvicorn, plotly).

    Example: fabless ui --port 8765

    Example: fabless ui --check
    """
    from fabless.bounds import whole_number

    whole_number(port, "--port", lo=0, hi=65535)
    _need_extra()
    if check:
        print(_check(host))
        return
    from fabless.ui.app import bind, serve, url_of

    sock = bind(host, port)
    url = url_of(sock)
    note = "" if host in ("127.0.0.1", "localhost", "::1") else " (reachable from other machines: --host 127.0.0.1 keeps it local)"
    serve(sock, lambda: print(f"fabless ui: serving on {url}{note}; Ctrl-C stops it", flush=True))
    print("fabless ui: stopped", flush=True)


__all__ = ["ui_app"]
